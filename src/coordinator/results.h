/*
 * results: the one HDF5 results file of a sweep, written by the coordinator alone.
 * Layout: docs/FORMAT.md. Rows, curves and per-layer metrics are kept in memory and written
 * whole at each flush; snapshots are written as they arrive. The file is created with
 * H5F_ACC_EXCL: an existing file is never overwritten.
 */
#ifndef SYNSWEEP_RESULTS_H
#define SYNSWEEP_RESULTS_H

#include <stddef.h>

#include "job.h"
#include "sweep.h"

typedef struct ResultsFile ResultsFile;

/**
 * Creates path for sweep sw with every job "pending". @return the handle, or NULL with err
 * (path exists, directory missing, HDF5 failure); on NULL nothing is left at path.
 */
ResultsFile *results_create(const char *path, const Sweep *sw, char *err, size_t errlen);
/**
 * Records result r of job r->job_id, whose spec is spec: stores the row, curves and layer
 * metrics in memory and writes its snapshots. @return 0, or -1 with err.
 */
int results_put(ResultsFile *f, const JobSpec *spec, const JobResult *r, char *err, size_t errlen);
/** Writes all rows, curves and layer metrics and flushes the file. @return 0 or -1 with err. */
int results_flush(ResultsFile *f, char *err, size_t errlen);
/** Flushes, marks the file complete if every job has a result, closes and frees f. */
int results_close(ResultsFile *f, char *err, size_t errlen);

#endif
