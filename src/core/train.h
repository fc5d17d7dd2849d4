/*
 * train: runs one job (a JobSpec) on loaded data and fills a JobResult.
 * Pure computation: no files, no MPI. The same spec and data give bit-identical results.
 */
#ifndef SYNSWEEP_TRAIN_H
#define SYNSWEEP_TRAIN_H

#include "augment.h"
#include "data.h"
#include "job.h"
#include "measure.h"
#include "model.h"

/**
 * While *flag is non-zero, a running train_job stops after its current minibatch and
 * returns STATUS_CANCELLED (for a signal handler; NULL = never). Process-wide.
 */
void train_set_cancel_flag(const volatile int *flag);

/**
 * Whether training must stop now (cancellation, then md->deadline); sets md->stop. For
 * phases of a kind's own (pretrain) to check after each of their minibatches.
 */
int train_should_stop(Model *md);

/**
 * One pass over s in a seeded random order, minibatches of max_batch (the last may be
 * smaller): forward, backward with the rule, optimizer steps. perm (s->n), xbuf
 * (max_batch * s->d) and ybuf (max_batch) are caller scratch. aug (NULL: none): each image
 * row is augmented as aug's epoch draws it by its row number in s (s holds images, dense).
 * Stops early, setting md->stop, past md->deadline or on cancellation. @return mean
 * minibatch loss.
 */
double train_epoch(Model *md, const Split *s, Rng *shuffle, int *perm, float *xbuf, uint8_t *ybuf,
                   const Augment *aug);

/*
 * Where the noise phase records its curve: after batch at[k] (counted over all noise epochs),
 * row k of out (NOISE_COLS floats: examples seen, mean loss since the last point, the angle
 * of each layer). Rows not reached stay as they are.
 */
typedef struct NoiseCurve {
    int n_points, next;
    long batches, examples;   /* done so far */
    double loss_sum;          /* since the last point */
    long loss_n;
    const long *at;           /* (n_points) batch counts, increasing */
    float *out;               /* (n_points, NOISE_COLS) */
} NoiseCurve;

/**
 * Random-noise pretraining (Cheon et al. 2024, Algorithm 1): n_examples fresh images of
 * N(0, std) pixels with uniform random labels, in minibatches. xbuf holds max_batch images.
 * nc (may be NULL) records the curve. @return mean minibatch loss.
 */
double noise_epoch(Model *md, long n_examples, double std, Rng *r, float *xbuf, uint8_t *ybuf, NoiseCurve *nc);

/**
 * Runs spec on train/test (whole raw splits; the subset is chosen here) into r, which must be
 * job_result_init'ed; tasks[0..n_tasks) are the meta_tasks' splits (NULL, 0 when there are
 * none). Never aborts: failures set r->status and r->message. @return r->status.
 */
int train_job(const JobSpec *spec, const RawSplit *train, const RawSplit *test,
              const TaskData *tasks, int n_tasks, JobResult *r);

#endif
