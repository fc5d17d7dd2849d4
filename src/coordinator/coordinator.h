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
    double progress_seconds;  /* log-line period when stderr is not a terminal */
    long checkpoint_every;    /* checkpoint after this many results ... */
    double checkpoint_seconds; /* ... or this many seconds, whichever first */
    int quiet;
    int resume, retry_failed; /* docs/RESILIENCE.md */
    int shard, n_shards;      /* run only jobs with id % n_shards == shard */
    int local_worker;         /* rank 0 trains too, in a second thread (default on) */
    size_t memory_budget;     /* bytes a job may be estimated to need; 0 = memory_budget_default() */
    size_t stage_cache;       /* bytes of shared-stage outputs each rank keeps (stage.h); 0 = off */
} RunOptions;

/* coordinator_run's results besides 0 (every job of the shard has a result) */
enum { RUN_ERROR = -1, RUN_INTERRUPTED = -3, RUN_ABANDONED = -4 };

/** Set by SIGTERM/SIGINT once coordinator_catch_signals ran: checkpoint and stop. */
extern volatile int coordinator_stop;
/**
 * SIGTERM, SIGINT and SIGUSR1 set coordinator_stop, which also cancels a running job at its next
 * minibatch (train_set_cancel_flag). coordinator_run installs it; workers call it too.
 */
void coordinator_catch_signals(void);

/**
 * Checks that every dataset the sweep uses is readable (loading each into the worker cache)
 * and that the output does not exist (unless resuming). keys (may be NULL) gets one
 * "data_dir<TAB>name" line per dataset read. @return 0, or -1 with the reason in err.
 */
int coordinator_check(const Sweep *sw, const RunOptions *o, char *keys, size_t keys_len, char *err,
                      size_t errlen);
/**
 * Runs the sweep (rank 0 of comm_size() ranks), checkpointing as it goes. @return 0 if every
 * job (of the shard) has a result; RUN_INTERRUPTED after a signal (checkpoint written, every
 * worker stopped); RUN_ABANDONED likewise but some workers did not stop within 8 s (the
 * caller must abort them); RUN_ERROR with err.
 */
int coordinator_run(const Sweep *sw, const RunOptions *o, char *err, size_t errlen);

/** Prints a summary of results file path (counts by status, the summary table). @return 0 or -1 with err. */
int coordinator_status(const char *path, char *err, size_t errlen);

#endif
