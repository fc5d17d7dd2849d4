/*
 * memest: an estimate of the memory one job takes, from its parameters alone, so that a job
 * that would not fit is refused before anything is allocated (docs/RESILIENCE.md). Each
 * model kind's row (ModelKind.memory, model.h) gives its estimate, in the kind's file; the
 * FC head's, which mlp and the others build on, is here.
 */
#ifndef SYNSWEEP_MEMEST_H
#define SYNSWEEP_MEMEST_H

#include <stddef.h>

#include "data.h"
#include "job.h"

/** Bytes job s is estimated to need with images C x H x W, n_train and n_test examples. */
size_t jobspec_memory_estimate(const JobSpec *s, int C, int H, int W, int n_train, int n_test);
/** The estimate of the mlp kind (bytes), and of any kind without its own (ModelKind.memory). */
size_t memest_mlp(const JobSpec *s, int C, int H, int W, int n_train, int n_test);
/** The FC head of s on F inputs (bytes): weights, feedback, gradients, moments, snapshots and
 * a minibatch's activations; for kinds that put a head after their own layers. */
size_t memest_head(const JobSpec *s, size_t F);
/** Training and test examples job s uses (upper bounds when it takes "all"). */
void jobspec_example_counts(const JobSpec *s, int *n_train, int *n_test);
/**
 * Whether job s fits in budget bytes, checked before anything is allocated for it: its
 * estimate with the examples it takes (at most its training split's, train, when loaded;
 * may be NULL). @return 0, or -1 with err ("(model m, hidden [h]) is estimated to need
 * 3.2 GB, over the memory budget of 100 kB ...").
 */
int jobspec_fits(const JobSpec *s, const RawSplit *train, size_t budget, char *err, size_t errlen);
/** Whether train_per_class fits the smallest class of train. @return 0, or -1 with err
 * ("train_per_class = 6000, but class 5 of mnist has only 5421 training examples"). */
int jobspec_subset_check(const JobSpec *s, const RawSplit *train, char *err, size_t errlen);
/** bytes as text with a unit a reader takes in at once: "512 B", "3.4 kB", "12.5 MB", "3.2 GB". */
void memest_format(size_t bytes, char *out, size_t n);
/** The default budget per job: half of this machine's physical memory (bytes). */
size_t memory_budget_default(void);

#endif
