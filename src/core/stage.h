/*
 * stage: shared stages (docs/ARCHITECTURE.md, "Shared stages"). Many jobs of a sweep begin
 * with the same deterministic work: the contrastive divergence of an rbse/rbm job does not
 * read the readout's parameters (train_per_class, lr, epochs, ...), the noise pretraining of
 * a fa_noise job does not read the data phase's (train_size, dataset beyond its image shape,
 * lr, epochs, ...), a frozen conv front end's features do not read the head's. A stage's key
 * is the job's spec with the parameters the stage never reads set to their defaults, and the
 * image shape: two jobs with equal keys compute the
 * same stage output, bit for bit. Each process keeps the outputs of the stages it computed
 * in a cache bounded in bytes (least recently used out first); a job whose key is there
 * continues from the stored output instead of computing it, with identical results. The
 * coordinator hands the jobs of one key to the rank that computed it (stage_group).
 *
 * The cache is process-wide and used by one training thread at a time (a worker process
 * trains one job at a time); it is off (limit 0) until stage_cache_limit turns it on.
 */
#ifndef SYNSWEEP_STAGE_H
#define SYNSWEEP_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

/* the stages that can be shared, in the order a job runs them: a kind's unsupervised phase,
 * a frozen front end's features of the job's rows, the noise phase */
enum { SHARE_PRETRAIN = 1, SHARE_FEATURES = 2, SHARE_NOISE = 3, N_SHARE = 4 };

typedef struct StageKey {
    int32_t stage, c, h, w, n_classes;
    JobSpec spec; /* with the parameters the stage ignores at their defaults */
} StageKey;

/**
 * Whether job s has stage `stage` to share (SHARE_*: its kind and rule have it; a kind's
 * unsupervised phase only if the kind declares pretrain_state), and then its key for images
 * of C x H x W with n_classes classes into *k. Plain computation on the spec (no data read).
 */
int stage_key(const JobSpec *s, int stage, int C, int H, int W, int n_classes, StageKey *k);
/** A 64-bit hash of the key of job s's first shareable stage (0: none); the coordinator
 * hands the jobs of one hash to one rank, `expand --cost` counts them. (A cnn with a trained
 * conv has the features stage by its kind but no features to cache: it shares its noise
 * phase, grouped by the first.) */
uint64_t stage_group(const JobSpec *s, int C, int H, int W, int n_classes);
/** A 64-bit hash of a key (never 0): equal keys, equal hashes. */
uint64_t stage_key_hash(const StageKey *k);
/**
 * The job s without its stage `stage`, for counting that stage's work (`expand --cost`:
 * work(s) - work(*off)): the unsupervised phase with rbm_epochs 0, the noise phase with
 * noise_epochs 0. @return 1, or 0 where no spec expresses it (the features stage, whose
 * work is counted inside the kind's evaluations).
 */
int stage_off(const JobSpec *s, int stage, JobSpec *off);

/* ---- the process's cache of stage outputs ---- */

/** Sets the cache's bound in bytes (0: off, and empties it). */
void stage_cache_limit(size_t bytes);
/** Whether the cache is on. */
int stage_cache_on(void);
/** Bytes held now. */
size_t stage_cache_bytes(void);
/** Empties the cache. */
void stage_cache_clear(void);

/* A stored stage output: parts of floats (the model's buffers, curves), doubles of the
 * kind's own state, and the seconds its computation took. */
#define STAGE_MAX_PARTS 6
#define STAGE_MAX_STATE 16
typedef struct StageOut {
    int n_parts;
    size_t len[STAGE_MAX_PARTS];   /* floats of each part */
    float *part[STAGE_MAX_PARTS];  /* owned by the cache */
    int n_state;
    double state[STAGE_MAX_STATE];
    double seconds;
} StageOut;

/** The stored output of key k (kept until the next stage_cache_put or clear), or NULL. */
const StageOut *stage_cache_find(const StageKey *k);
/**
 * Stores a copy of out (its parts copied) under k, evicting the least recently used outputs
 * to stay under the bound; an output larger than the bound is not stored. @return 1 stored,
 * 0 not (off, too large, or out of memory: the job goes on either way).
 */
int stage_cache_put(const StageKey *k, const StageOut *out);
/**
 * Stores out under k with its parts themselves (no copy): on success the cache owns them
 * and keeps the output pinned (never evicted) until stage_cache_pin(part[0], 0). A job
 * whose output is large (the RBSE's test features, 200 MB) gives it away so and reads it
 * in place. @return 1 stored (the caller must not free the parts), 0 not (they stay the
 * caller's).
 */
int stage_cache_adopt(const StageKey *k, const StageOut *out);
/** Pins (on 1) or unpins the stored output whose first part is part0: a pinned output is
 * never evicted, so a job can read it in place (nothing happens if none is stored). */
void stage_cache_pin(const float *part0, int on);

#endif
