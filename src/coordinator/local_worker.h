/*
 * local_worker: rank 0's own worker, a thread that runs the jobs the coordinator loop hands
 * it (one at a time), so that rank 0's core trains too. It makes no MPI calls
 * (MPI_THREAD_FUNNELED).
 */
#ifndef SYNSWEEP_LOCAL_WORKER_H
#define SYNSWEEP_LOCAL_WORKER_H

#include <pthread.h>

#include "job.h"

typedef struct Local {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_res;
    int has_job, has_result, quit, busy;
    long job;
    JobSpec spec;
    JobResult res;
} Local;

/** Starts the thread. @return 0, or an error number of pthread_create. */
int local_start(Local *L);
/** Hands it job (spec); it must not be busy. */
void local_post(Local *L, long job, const JobSpec *spec);
/** The local result, waiting up to timeout seconds for it. @return 1 with *r, or 0. */
int local_take(Local *L, JobResult *r, double timeout);
/** Ends the thread after its current job (a cancelled or finished result is dropped). */
void local_stop(Local *L);

#endif
