/*
 * sweep: loads a sweep YAML file (see docs/JOBSPEC.md), validates every value against the
 * parameter table, and expands the grid. Job i's spec is computed on demand (mixed radix,
 * last grid key fastest), so the expansion itself needs no memory per job.
 */
#ifndef SYNSWEEP_SWEEP_H
#define SYNSWEEP_SWEEP_H

#include <stddef.h>

#include "job.h"

#define SWEEP_MAX_AXES 32
#define SWEEP_MAX_JOBS 100000000L

typedef struct Axis {
    char key[32];
    int n;
    char **values;   /* canonical text of each value (jobspec_get form) */
} Axis;

typedef struct Sweep {
    char path[1024];
    char name[64];
    char *yaml;      /* the file's text, stored with the results */
    JobSpec base;    /* defaults + fixed: */
    int n_axes;
    Axis axes[SWEEP_MAX_AXES];
    long n_jobs;
    int max_epochs;  /* largest `epochs` of any job */
} Sweep;

/**
 * Reads and validates path. data_dir_override (may be NULL) beats the YAML's data_dir, which
 * beats $SYNSWEEP_DATA, which beats "data". Every expanded job passes jobspec_check.
 * @return 0; or -1 with "file:line:column: message" in err (sw left freed).
 */
int sweep_load(const char *path, const char *data_dir_override, Sweep *sw, char *err,
               size_t errlen);
/** As sweep_load, from YAML text in memory; label names it in messages (as the path would). */
int sweep_load_text(const char *text, size_t len, const char *label, const char *data_dir_override,
                    Sweep *sw, char *err, size_t errlen);
/**
 * Whether a and b expand to the same jobs: the same count and, job by job, the same value of
 * every parameter except data_dir. @return 1 if so; 0 with the first difference in diff.
 */
int sweep_same_jobs(const Sweep *a, const Sweep *b, char *diff, size_t n);
void sweep_free(Sweep *sw);
/** The spec of job id (0 <= id < n_jobs). */
void sweep_job(const Sweep *sw, long id, JobSpec *out);
/** Index of axis `key`, or -1. */
int sweep_axis(const Sweep *sw, const char *key);

#endif
