/* main_entry.c: synsweep's entry point; the command line is synsweep_main (src/main.c). */
#include "synsweep_main.h"

int main(int argc, char **argv) { return synsweep_main(argc, argv); }
