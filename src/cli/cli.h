/*
 * cli: the command line (src/cli/, one file per family of commands; synsweep_main in
 * src/main.c holds the table). A command takes the arguments after its name and returns the
 * exit status: 0 done, 1 bad input or I/O error, 2 bad command line, 3 interrupted (run).
 */
#ifndef SYNSWEEP_CLI_H
#define SYNSWEEP_CLI_H

#include <stddef.h>

/* cmd_run.c: `run` (the one command that starts MPI) */
int cmd_run(int argc, char **argv);
/* cmd_job.c: `train`, one job on this process, its result as JSON */
int cmd_train(int argc, char **argv);
/* cmd_sweep.c: `expand`, the job table of a sweep */
int cmd_expand(int argc, char **argv);
/* cmd_cost.c: `calibrate`; the calibration file; expand --cost */
int cmd_calibrate(int argc, char **argv);
struct Calibration;
struct Sweep;
/** The calibration file: given, else $XDG_CACHE_HOME (~/.cache)/synsweep/calibration-HOST.txt.
 * @return 0, or -1 if too long for out. */
int calibration_path(const char *given, char *out, size_t n);
/** Reads path's rates into c. @return 0, or -1 with err naming the file, line and field. */
int calibration_read(const char *path, struct Calibration *c, char *err, size_t errlen);
/** `expand --cost`: sw's predicted core-hours per model kind and in total, and its wall time
 * on cores workers, at the rates of cal_file (NULL: this host's calibration, else the
 * built-in default, said so). @return the exit status. */
int expand_cost(const struct Sweep *sw, const char *cal_file, int cores);
/* cmd_files.c: results files: `status`, `merge` */
int cmd_status(int argc, char **argv);
int cmd_merge(int argc, char **argv);
/* cmd_python.c: `report`, `export` (analysis/synsweep_report in Debian's python3) */
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
/* cli_blas.c: the OpenBLAS kernel, chosen before MPI and before any product.
 * @return 0 to go on with the kernel in use, -1 to stop (message printed). */
int blas_choose(char **argv);

/* cli_util.c */
/** "synsweep: " fmt (with arg) and a pointer to --help on stderr. @return 2. */
int usage_error(const char *fmt, const char *arg);
/** A finite real >= 0 from s. @return 0 or -1. */
int parse_double(const char *s, double *out);
/** Gigabytes x as bytes, at least 1 (0 would mean the default budget). */
unsigned long long gigabytes(double x);

#endif
