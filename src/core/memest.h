/*
 * memest: an estimate of the memory one job takes, from its parameters alone, so that a job
 * that would not fit is refused before anything is allocated (docs/RESILIENCE.md).
 * One row of MODEL_MEMORY per model kind (add a row with a new model).
 */
#ifndef SYNSWEEP_MEMEST_H
#define SYNSWEEP_MEMEST_H

#include <stddef.h>

#include "job.h"

/** Bytes job s is estimated to need with images C x H x W, n_train and n_test examples. */
size_t jobspec_memory_estimate(const JobSpec *s, int C, int H, int W, int n_train, int n_test);
/** Image shape of dataset name (as the worker serves it): 0, or -1 if unknown. */
int dataset_shape(const char *name, int *C, int *H, int *W);
/** Training and test examples job s uses (upper bounds when it takes "all"). */
void jobspec_example_counts(const JobSpec *s, int *n_train, int *n_test);
/** The default budget per job: half of this machine's physical memory (bytes). */
size_t memory_budget_default(void);

#endif
