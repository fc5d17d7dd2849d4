/*
 * metrics: weight-geometry measures of docs/SCIENCE.md section 2.
 */
#ifndef SYNSWEEP_METRICS_H
#define SYNSWEEP_METRICS_H

#include <stddef.h>

/** Angle in degrees between vectors a and b (n): arccos(<a,b> / (|a||b|)); NaN if either is 0. */
double angle_deg(const float *a, const float *b, size_t n);
/** Per-row angles between W (O,I) and F (O,I): their mean and (population) std, in degrees. */
void row_angles(const float *W, const float *F, int O, int I, double *mean, double *std);
/**
 * Effective rank (Roy & Vetterli 2007) of W (O,I): p_i = s_i / sum s, erank = exp(-sum p_i ln p_i),
 * singular values from LAPACK dgesdd. @return erank, or NaN if the SVD fails or W is 0.
 */
double effective_rank(const float *W, int O, int I);

#endif
