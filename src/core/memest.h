/*
 * memest: an estimate of the memory one job takes, from its parameters alone, so that a job
 * that would not fit is refused before anything is allocated (docs/RESILIENCE.md). Each
 * model kind's row (ModelKind.memory, model.h) gives its estimate; the functions for the
 * kinds are here.
 */
#ifndef SYNSWEEP_MEMEST_H
#define SYNSWEEP_MEMEST_H

#include <stddef.h>

#include "job.h"

/** Bytes job s is estimated to need with images C x H x W, n_train and n_test examples. */
size_t jobspec_memory_estimate(const JobSpec *s, int C, int H, int W, int n_train, int n_test);
/** The estimates of the mlp and cnn kinds (bytes). */
size_t memest_mlp(const JobSpec *s, int C, int H, int W, int n_train, int n_test);
size_t memest_cnn(const JobSpec *s, int C, int H, int W, int n_train, int n_test);
/** Image shape of dataset name (as the worker serves it): 0, or -1 if unknown. */
int dataset_shape(const char *name, int *C, int *H, int *W);
/** Training and test examples job s uses (upper bounds when it takes "all"). */
void jobspec_example_counts(const JobSpec *s, int *n_train, int *n_test);
/** The default budget per job: half of this machine's physical memory (bytes). */
size_t memory_budget_default(void);

#endif
