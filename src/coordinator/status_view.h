/*
 * status_view: the summary table of a sweep's results, as `synsweep status` and the end of
 * `synsweep run` print it: counts by status, and per combination of the non-seed grid values
 * the jobs, the ok ones, test accuracy mean +- sample sd, and seconds per job.
 */
#ifndef SYNSWEEP_STATUS_VIEW_H
#define SYNSWEEP_STATUS_VIEW_H

#include "sweep.h"

/* Per job (n_jobs entries): its status, test accuracy and seconds. */
typedef struct Summary {
    int *status;
    double *acc, *sec;
} Summary;

/** Prints the table of s's jobs grouped by the non-seed axes of sw (the first 40 groups). */
void print_summary(const Sweep *sw, const Summary *s, const char *path);

#endif
