/*
 * worker: runs one job on this process. Keeps the raw splits of recently used datasets
 * in memory so a rank that runs many jobs on one dataset reads it once. No MPI: the comm
 * module calls worker_run for each job it is handed.
 */
#ifndef SYNSWEEP_WORKER_H
#define SYNSWEEP_WORKER_H

#include <stddef.h>

#include "data.h"
#include "job.h"

/**
 * Runs spec as job job_id and fills r (job_result_init is done here). Data errors become
 * r->status = STATUS_FAILED with the message; never exits. Records seconds, rank and host.
 */
void worker_run(const JobSpec *spec, int job_id, int rank, JobResult *r);
/**
 * Loads both splits of dataset `name` under data_dir (through the cache) to check they
 * are readable and consistent. @return 0, or -1 with a message naming the file.
 */
int worker_data_check(const char *data_dir, const char *name, char *err, size_t errlen);
/** worker_data_check for every dataset spec reads (its dataset, usps for ood: usps, meta_tasks). */
int worker_spec_check(const JobSpec *s, char *err, size_t errlen);
/**
 * The cached train (split 0) or test (split 1) part of dataset name under data_dir, or NULL
 * if it is not in the cache (nothing is loaded).
 */
const RawSplit *worker_cached(const char *data_dir, const char *name, int split);
/**
 * Puts views of train and test into the cache for (data_dir, name), replacing any copy there;
 * the cache will not free their memory (e.g. a shared-memory window). @return 0 or -1 (full).
 */
int worker_cache_view(const char *data_dir, const char *name, const RawSplit *train,
                      const RawSplit *test);
/** Drops every cached dataset. */
void worker_cache_clear(void);

/** While *flag is non-zero, the running job stops after its current minibatch and returns
 * STATUS_CANCELLED (a signal handler's flag; NULL: never). Process-wide. */
void worker_set_cancel_flag(const volatile int *flag);

#endif
