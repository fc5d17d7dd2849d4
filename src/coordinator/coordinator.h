/*
 * coordinator: rank 0's sweep driver. Validates data and the output path, hands jobs out to
 * workers that ask (or runs them itself on one rank), records every result in the results
 * file, reports progress, and prints a summary table.
 */
#ifndef SYNSWEEP_COORDINATOR_H
#define SYNSWEEP_COORDINATOR_H

#include "sweep.h"

typedef struct RunOptions {
    const char *out_path;
    double progress_seconds; /* log-line period when stderr is not a terminal */
    long flush_every;        /* flush the file after this many results ... */
    double flush_seconds;    /* ... or this many seconds, whichever first */
    int quiet;
} RunOptions;

/**
 * Checks that every dataset the sweep uses is readable and that the output does not exist.
 * @return 0, or -1 with the reason in err.
 */
int coordinator_check(const Sweep *sw, const RunOptions *o, char *err, size_t errlen);
/** Runs the sweep (rank 0 of comm_size() ranks). @return 0 if every job has a result. */
int coordinator_run(const Sweep *sw, const RunOptions *o, char *err, size_t errlen);

#endif
