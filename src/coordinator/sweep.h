/*
 * sweep: loads a sweep YAML file (see docs/JOBSPEC.md), validates every value against the
 * parameter table, and expands the grid. `grid:` is one mapping of parameter: [values] or a
 * list of them (blocks); the jobs are the union of the blocks' Cartesian products, each job
 * exactly once. Job i's spec is computed on demand (blocks in order, within a block mixed
 * radix with the last key fastest), so neither loading nor expansion costs time or memory
 * per job: values, applicability and the jobspec_check combinations are checked per axis.
 */
#ifndef SYNSWEEP_SWEEP_H
#define SYNSWEEP_SWEEP_H

#include <stddef.h>

#include "job.h"

#define SWEEP_MAX_AXES 32
#define SWEEP_MAX_JOBS 100000000L
#define SWEEP_MAX_BLOCKS 1000
#define SWEEP_MAX_DEPTH 64  /* YAML nesting levels */

/* A grid key: the union of its values over the blocks that have it. */
typedef struct Axis {
    char key[32];
    int n;
    char **values;        /* canonical text of each distinct value (jobspec_get form), in
                             order of first appearance */
    char *fixed;          /* canonical text of the fixed/default value, which the jobs of
                             blocks without this key take */
    const ParamDef *def;
    unsigned char *raw;   /* the n values as JobSpec field bytes (def->size each) */
} Axis;

/* One mapping under grid:, its jobs first .. first + n_jobs - 1. */
typedef struct SweepBlock {
    long first, n_jobs;
    int n_keys;
    int axis[SWEEP_MAX_AXES];    /* its keys in written order, as indices into Sweep.axes */
    int n[SWEEP_MAX_AXES];       /* values per key */
    int *value[SWEEP_MAX_AXES];  /* per key, n indices into the axis' values */
    int line, column;            /* where the block starts in the file */
} SweepBlock;

typedef struct Sweep {
    char *path;            /* the sweep file (allocated) */
    char name[64];
    char paper[64];  /* the id of `paper:` (which paper it reproduces), or "" */
    char *yaml;      /* the file's text, stored with the results */
    JobSpec base;    /* defaults + fixed: */
    int n_axes;
    Axis axes[SWEEP_MAX_AXES]; /* union of the blocks' keys, in order of first appearance */
    int n_blocks;
    SweepBlock *blocks;        /* one for a single mapping (or none when there is no grid) */
    long n_jobs;
    int max_epochs;  /* largest `epochs` of any job */
} Sweep;

/**
 * Reads and validates path. data_dir_override (may be NULL) beats the YAML's data_dir, which
 * beats $SYNSWEEP_DATA, which beats "data". Every expanded job passes jobspec_check; no job
 * is produced twice (a repeated value in an axis, an axis of 2+ values that some of its
 * block's jobs ignore (param_applies), or two blocks producing the same job are refused).
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
/**
 * The canonical text of every axis' value in job id into vals[n_axes] (pointers into sw:
 * the block's value, or the axis' fixed value where the job's block lacks the key).
 */
void sweep_job_values(const Sweep *sw, long id, const char **vals);
/** The index into axes[a].values of job id's value of every axis a, or -1 where its block
 * lacks the axis (the job takes axes[a].fixed). */
void sweep_job_value_index(const Sweep *sw, long id, int *idx);
/** Characters that axis a's key and every value of it (and its fixed value) fit in. */
int sweep_axis_width(const Sweep *sw, int a);
/** Index of axis `key`, or -1. */
int sweep_axis(const Sweep *sw, const char *key);

#endif
