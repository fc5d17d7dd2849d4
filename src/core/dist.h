/*
 * dist: named synaptic weight distributions (docs/SCIENCE.md section 1), used for conv kernels,
 * initial FC weights and FA feedback matrices. Every draw goes through the caller's Rng.
 */
#ifndef SYNSWEEP_DIST_H
#define SYNSWEEP_DIST_H

#include <stddef.h>

#include "rng.h"

/** Names accepted by dist_fill, '|'-separated (for validation and --help). */
#define DIST_NAMES "normal|lognormal|center_surround|truncated_normal|uniform|kaiming|xavier|pytorch"

enum { SIGN_POSITIVE = 0, SIGN_RANDOM = 1, SIGN_DALE = 2 };

typedef struct DistParams {
    char name[24];
    double scale;      /* see dist_fill */
    double mu, sigma2; /* lognormal: log w ~ N(mu, sigma2) */
    int sign;          /* lognormal: SIGN_POSITIVE, SIGN_RANDOM (p = 0.5), SIGN_DALE */
    double inh_frac;   /* SIGN_DALE: fraction of presynaptic units (columns) that are inhibitory */
    double cs_center, cs_surround; /* center_surround: s_c, s_s in pixels */
    int k;             /* center_surround: kernel side; rows are C blocks of k*k */
    double trunc;      /* truncated_normal: keep |x| <= trunc * scale */
} DistParams;

/** Sets the defaults of docs/SCIENCE.md (mu -0.702, sigma2 0.9355, positive, 0.2, 1, 2, trunc 2). */
void dist_defaults(DistParams *p, const char *name, double scale);

/**
 * Fills w (O, I) with draws from p (row o = one output unit / kernel):
 *   normal           N(0, scale)
 *   uniform          U(-scale, scale)
 *   pytorch          U(-scale/sqrt(I), scale/sqrt(I)): PyTorch's nn.Linear / nn.Conv2d default
 *   kaiming          N(0, scale * sqrt(2/I))        xavier  N(0, scale * sqrt(2/(I+O)))
 *   truncated_normal N(0, scale), redrawn until |x| <= trunc * scale
 *   lognormal        scale * exp(N(mu, sigma2)), then the sign rule
 *   center_surround  each k x k block of a row ~ N(0, scale * Sigma), Sigma_ij = c(d_ij),
 *                    c(d) = exp(-d^2/2s_c^2) - (s_c^2/s_s^2) exp(-d^2/2s_s^2), negative
 *                    eigenvalues clipped to 0 (needs I = C * k * k)
 * @return 0, or -1 for an unknown name or a shape the distribution cannot fill (w untouched
 * or partly filled).
 */
int dist_fill(const DistParams *p, float *w, int O, int I, Rng *r);

/**
 * The center_surround covariance for a k x k kernel: cov (k*k, k*k), row-major; with
 * clipped != 0 the eigen-clipped matrix that dist_fill samples from. @return 0 or -1.
 */
int center_surround_cov(int k, double s_c, double s_s, int clipped, double *cov);

#endif
