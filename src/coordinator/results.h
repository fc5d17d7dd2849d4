/*
 * results: the one HDF5 results file of a sweep, written by the coordinator alone.
 * Layout: docs/FORMAT.md; checkpoints and resume: docs/RESILIENCE.md. The whole state is
 * held in memory and each checkpoint replaces the file atomically (write FILE.tmp, fsync,
 * rename); snapshots go to immutable part files linked from it until the sweep completes,
 * when they are copied in. An existing file is only ever replaced by a newer state of the
 * same sweep.
 */
#ifndef SYNSWEEP_RESULTS_H
#define SYNSWEEP_RESULTS_H

#include <stddef.h>

#include "job.h"
#include "sweep.h"

typedef struct ResultsFile ResultsFile;

/**
 * Provenance of this run for the files it writes (root attributes hosts and mpi_library):
 * every rank's host, comma-separated (NULL: this host), and the MPI library ("" without MPI).
 */
void results_set_run_info(const char *hosts, const char *mpi_library);

/**
 * Starts the results of sweep sw at path and writes the first checkpoint (every job
 * pending). @return the handle, or NULL with err if path exists or cannot be written;
 * on NULL nothing is left at path.
 */
ResultsFile *results_create(const char *path, const Sweep *sw, char *err, size_t errlen);
/**
 * Before MPI starts (an MPI process must not fork, and reading attributes of a possibly
 * damaged file forks: h5util.c): reads the root attributes results_resume will need from path,
 * if it exists. Nothing is reported here; results_resume reports what it finds.
 */
void results_preload(const char *path);
/** MPI has started: from now on attributes come only from results_preload, without forking. */
void results_no_fork(void);
/**
 * Reopens path, written by an earlier run of the same sweep (same expansion, data_dir aside),
 * keeping every finished job; with retry_failed, diverged, failed and timeout jobs are pending
 * again. A path that does not exist is created as by results_create. @return the handle, or
 * NULL with err (unreadable file, other sweep: err names the first difference).
 */
ResultsFile *results_resume(const char *path, const Sweep *sw, int retry_failed, char *err,
                            size_t errlen);
/**
 * Builds out from results files of the same sweep (e.g. the shards of a job array): each
 * job's result is taken from the file that finished it; a job finished in two files is an
 * error. Snapshots are copied in, each object checked first. out must not exist. The work is
 * done in a child process (results_merge_isolated): HDF5 can crash on damaged metadata no
 * check sees; then the input and object it was reading are named and nothing is left behind
 * (no out, out.tmp, out.parts, out.snap.h5). @return 0, or -1 with err.
 */
int results_merge(const char *out, const char *const *inputs, int n_inputs, char *err,
                  size_t errlen);
/** 1 (default): results_merge forks its work (merge is no MPI process); the fuzz target
 * sets 0, so that a crash inside HDF5 still reaches the fuzzer. */
extern int results_merge_isolated;

void results_free(ResultsFile *f);
/**
 * What `status` shows of results file path, read in blocks of rows (a finished file's
 * /results chunk by chunk, only the three columns: results_status.c, chunk_cols_read): its stored sweep into *sw
 * and each job's status, test accuracy and seconds (malloc'ed arrays of sw->n_jobs). Refused
 * unless the stored sweep's job count is the number of rows stored, so the work and memory are
 * bounded by the file's real rows. @return 0, or -1 with err (nothing to free).
 */
int results_read_summary(const char *path, Sweep *sw, int **status, double **acc, double **sec, char *err,
                         size_t errlen);
/** Whether job id already has a result (and is not to be rerun). */
int results_job_done(const ResultsFile *f, long id);
/** Jobs with a result. */
long results_n_done(const ResultsFile *f);
/**
 * Records result r of job r->job_id, whose spec is spec (in memory; snapshots are kept for
 * the next checkpoint's part file). @return 0, or -1 with err (job out of range or twice).
 */
int results_put(ResultsFile *f, const JobSpec *spec, const JobResult *r, char *err, size_t errlen);
/** Writes a checkpoint: a part file for new snapshots, then the atomic replacement. */
int results_checkpoint(ResultsFile *f, char *err, size_t errlen);
/**
 * Last checkpoint; if every job has a result, copies the snapshots in, marks the file
 * complete and removes the part files. Frees f. @return 0 or -1 with err.
 */
int results_close(ResultsFile *f, char *err, size_t errlen);

#endif
