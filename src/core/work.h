/*
 * work: what a job computes, counted by class of operation from its parameters alone (before
 * anything is built or read), and the seconds that takes at a machine's calibrated rates
 * (`synsweep calibrate`, `synsweep expand SWEEP --cost`; docs/PERFORMANCE.md). Each model kind
 * counts its own job next to its row (ModelKind.work, model.h) with the helpers here: the FC
 * head's passes, and the driver's schedule (train.c: noise phase, data epochs, evaluations,
 * stages), so a new kind declares one callback.
 *
 * A count is an estimate of the dominant loops, not of every instruction: per-call overheads,
 * allocation and the loading of the dataset (once per rank) come on top.
 */
#ifndef SYNSWEEP_WORK_H
#define SYNSWEEP_WORK_H

#include "job.h"

/* Classes of operation; each has its own rate (Calibration.rate). */
enum {
    WK_GEMM,       /* flops (2 M N K) of matrix products whose every side is >= WORK_SMALL_SIDE */
    WK_GEMM_SMALL, /* flops of products with a smaller side (per-position LC kernels, per-image
                      convolutions, 10-class readouts) */
    WK_GEMV,       /* flops of products with a side of 1 or 2 (matrix-vector: one image's RBM features) */
    WK_STREAM,     /* floats read or written by elementwise passes over data in cache
                      (activations, pooling, im2col, small optimiser updates) */
    WK_NORMAL,     /* normal random numbers drawn (noise images, initialisation, sleeps) */
    WK_UNIFORM,    /* uniform random numbers (Bernoulli units and binarisations) */
    WK_MASKED,     /* synapses visited by the RBSE's masked products (hash, compare, add) */
    WK_EXP,        /* exp and log calls (sigmoids, the RBSE's release tables) */
    WK_GATHER,     /* floats moved by strided copies: im2col, col2im, transposes, max-pools */
    WK_DRAM,       /* floats streamed through main memory: working sets over WORK_CACHE_BYTES
                      (optimiser updates of millions of parameters, LC weights, fresh feature
                      caches) */
    WK_N
};
#define WORK_SMALL_SIDE 32
#define WORK_CACHE_BYTES (8.0 * 1048576.0)

extern const char *const WORK_CLASS_NAMES[WK_N]; /* "gemm", "gemm_small", ... */

typedef struct Work {
    double n[WK_N];
} Work;

/** Operations per second of each class on one core. */
typedef struct Calibration {
    double rate[WK_N];
    char source[256]; /* where the rates come from: a file, or "built-in default" */
} Calibration;

/** Conservative built-in rates (a slow x86-64 core without AVX2), for when none is measured. */
void calibration_default(Calibration *c);

/** w += f * a. */
void work_add(Work *w, const Work *a, double f);
/** Counts count products of (M, K) x (K, N) into the gemm class their smallest side says. */
void work_gemm(Work *w, double count, double M, double N, double K);
/** Counts floats streamed over a working set of bytes: WK_STREAM, or WK_DRAM above the cache. */
void work_stream(Work *w, double floats, double bytes);
/** Seconds w takes at c's rates. */
double work_seconds(const Work *w, const Calibration *c);

/** The FC head of job s on F inputs per example (hidden layers of s, n_classes outputs). */
typedef struct HeadWork {
    Work fwd;          /* forward of one example (evaluation or training) */
    Work bwd;          /* backward of one example (weight and input gradients by the rule) */
    double params;     /* trainable floats (the optimiser streams them every step) */
} HeadWork;
/**
 * The head's per-example work; density in (0, 1]: the fraction of nonzero inputs when layer 0
 * runs on sparse rows (mlp on MNIST-like images), 1 for dense products; need_dinput: the input
 * gradient is computed (a trained front-end below the head).
 */
void work_head(const JobSpec *s, int F, int n_classes, double density, int need_dinput, HeadWork *h);

/** Flops of the head's geometry at one stage (an SVD per layer for its effective rank). */
double work_head_stage_flops(const JobSpec *s, int F);

/**
 * The driver's schedule around a kind's per-example work (train.c): preparing the splits of
 * d floats per image, the optional cached front-end (feat: per image, run once over the
 * training images and over the test images when cache_test), the init and after-noise
 * stages, the noise phase (images from scratch: noise_fwd + noise_bwd per example plus d
 * normal draws), the data epochs (fwd + bwd per example, step per optimiser step), the
 * evaluations eval_every epochs (eval_train included) and the final passes, the meta-loss.
 * fwd, bwd: per training example as the epochs see it (features when cached); eval_fwd per
 * test example. Adds to *w.
 */
typedef struct JobPasses {
    int d;                     /* floats per image */
    int n_train, n_test;
    const Work *feat;          /* NULL: no cached front-end */
    int feat_rows;             /* training rows per image (rbse: S samples) */
    double feat_floats;        /* floats cached per image (feat_rows x the feature width) */
    int cache_test;
    const Work *fwd, *bwd, *eval_fwd, *noise_fwd, *noise_bwd;
    double params;             /* floats the optimiser steps */
    double stage_flops;        /* the head's geometry at a stage (effective ranks, angles) */
} JobPasses;
void work_schedule(const JobSpec *s, const JobPasses *p, Work *w);

/** Training and test examples job s takes of its dataset's official splits (all, heldout and
 * test_size as the driver takes them; jobspec_example_counts' bounds for an unknown dataset). */
void work_example_counts(const JobSpec *s, int *n_train, int *n_test);
/**
 * The whole job s as the sweep runs it, from its kind's row (ModelKind.work) with the
 * dataset's image shape and the examples it takes (work_example_counts).
 * @return 0, or -1 if the dataset is unknown or the kind counts no work (w zero).
 */
int jobspec_work(const JobSpec *s, Work *w);
/**
 * The fraction of dataset's pixels above threshold x 255 (0: the nonzero ones, which sparse
 * rows keep; 0.5: those binarisation turns on), measured on the training images; 1 for a
 * dataset not in the table (dense: the larger count).
 */
double work_pixel_density(const char *dataset, double threshold);

#endif
