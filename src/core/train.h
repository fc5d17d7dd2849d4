/*
 * train: runs one job (a JobSpec) on loaded data and fills a JobResult.
 * Pure computation: no files, no MPI. The same spec and data give bit-identical results.
 */
#ifndef SYNSWEEP_TRAIN_H
#define SYNSWEEP_TRAIN_H

#include "data.h"
#include "job.h"
#include "mlp.h"
#include "optim.h"

typedef struct EvalStats {
    double loss, acc;
    double p_true_mean, p_true_std, p_max_mean;
} EvalStats;

/** Loss, accuracy and readout statistics of m on all rows of s. */
EvalStats evaluate(Mlp *m, const Split *s);

/**
 * One pass over s in a seeded random order, minibatches of m->max_batch (the last may be
 * smaller): forward, backward with m's rule, optimizer step. perm (s->n) and xbuf
 * (max_batch * s->d), ybuf (max_batch) are caller scratch. @return mean minibatch loss.
 */
double train_epoch(Mlp *m, Optim *o, const Split *s, Rng *shuffle, int *perm, float *xbuf,
                   uint8_t *ybuf);

/**
 * Random-noise pretraining (Cheon et al. 2024, Algorithm 1): n_examples fresh examples of
 * N(0, std) pixels with uniform random labels, in minibatches of m->max_batch.
 * @return mean minibatch loss.
 */
double noise_epoch(Mlp *m, Optim *o, long n_examples, double std, Rng *r, float *xbuf,
                   uint8_t *ybuf);

/**
 * Runs the job spec on train/test (whole raw splits; the subset is chosen here) into r,
 * which must be job_result_init'ed. Never aborts: failures set r->status and r->message.
 * @return r->status.
 */
int train_job(const JobSpec *spec, const RawSplit *train, const RawSplit *test, JobResult *r);

#endif
