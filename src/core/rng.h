/*
 * rng: explicit, seedable random streams (xoshiro256** seeded via splitmix64).
 * Every random draw in synsweep goes through an Rng the caller owns, so a job's
 * numbers are a pure function of its seed and parameters. No global state, no rand().
 */
#ifndef SYNSWEEP_RNG_H
#define SYNSWEEP_RNG_H

#include <stdint.h>

typedef struct Rng {
    uint64_t s[4];
} Rng;

/* Named sub-streams of one job seed; each part of a job draws from its own. */
enum {
    RNG_STREAM_INIT = 1,
    RNG_STREAM_FEEDBACK = 2,
    RNG_STREAM_SUBSET = 3,
    RNG_STREAM_SHUFFLE = 4,
    RNG_STREAM_NOISE = 5,
    RNG_STREAM_CONV = 6,
    RNG_STREAM_AUGMENT = 7
};

/** Seeds r from (seed, stream); distinct streams are independent sequences. */
void rng_seed(Rng *r, uint64_t seed, uint64_t stream);
/**
 * Seeds r from (seed, stream, counter), counter-based: the state is a hash of the three,
 * so draw k of a job (e.g. counter = epoch << 32 | image) needs no draws before it.
 */
void rng_seed_counter(Rng *r, uint64_t seed, uint64_t stream, uint64_t counter);
/** Next 64 random bits. */
uint64_t rng_u64(Rng *r);
/** Uniform double in [0, 1) with 53 random bits. */
double rng_uniform(Rng *r);
/** Uniform integer in [0, n); n > 0. Unbiased (rejection). */
uint32_t rng_below(Rng *r, uint32_t n);
/** Standard normal draw (Box-Muller, no cached second value, so draws are order-independent). */
double rng_normal(Rng *r);

#endif
