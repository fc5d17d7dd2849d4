/*
 * synsweep_main: the whole command line (src/main.c) as a function, so that a program can
 * add model kinds (model_kind_register, model.h) and then hand over to it: src/main_entry.c
 * is synsweep's own main; tests/kind_logreg.c registers a kind first.
 */
#ifndef SYNSWEEP_MAIN_H
#define SYNSWEEP_MAIN_H

/** Runs the synsweep command in argv (argv[1]: run, expand, train, ...). @return the exit status. */
int synsweep_main(int argc, char **argv);

#endif
