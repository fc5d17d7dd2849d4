/*
 * conv: the kernels under layer.h's conv and pool layers on (C, H, W) row-major planes:
 * im2col (several images' patches side by side with im2col_ld, so that one GEMM convolves
 * them all; each output element is still the dot product of one kernel with one patch),
 * col2im, 2x2 max-pools (with a fused ReLU) and adaptive pools; a naive conv for tests.
 */
#ifndef SYNSWEEP_CONV_H
#define SYNSWEEP_CONV_H

#include <stddef.h>

/** Output side of a stride-1 convolution: n + 2 pad - k + 1. */
int conv_out_size(int n, int k, int pad);

/** col (C*K*K, OH*OW) <- patches of x (C, H, W), zero outside. */
void im2col(float *col, const float *x, int C, int H, int W, int K, int pad);
/** As im2col, with row r of col at col + r * ld (ld >= OH*OW): images side by side. */
void im2col_ld(float *col, size_t ld, const float *x, int C, int H, int W, int K, int pad);
/** dx (C, H, W) += the patches in dcol (C*K*K, OH*OW) summed back to their pixels. */
void col2im(float *dx, const float *dcol, int C, int H, int W, int K, int pad);

/** out (N, OH*OW) <- W (N, C*K*K) conv x (C, H, W) + b (N), stride 1, zero padding pad, by direct
 * loops in double (no im2col, no BLAS). For tests (layer.h's conv is the one in use). */
void conv2d_forward_naive(float *out, const float *x, const float *Wt, const float *b, int C, int H,
                          int W, int N, int K, int pad);

/** out (C, H/2, W/2) <- 2x2 max, stride 2; arg (may be NULL) gets each winner's index in x: the
 * first maximum in reading order, the window's first pixel where all four are NaN or -inf. */
void maxpool2_forward(float *out, int *arg, const float *x, int C, int H, int W);
/** dx (C, H, W) += dout routed to the winners recorded in arg. */
void maxpool2_backward(float *dx, const float *dout, const int *arg, int C, int H, int W);
/**
 * Fused 2x2 max-pool, bias and ReLU: out (C, H/2, W/2) <- max(0, max-pool(x) + b), with
 * plane c of x at x + c * ldx (ldx >= H*W: one image of a batched conv output) and b (C)
 * or NULL (none). The same floats as maxpool2_forward then ReLU on x + b. arg (may be
 * NULL) gets each winner's index in a contiguous (C, H, W) image: the first maximum of x,
 * so pass b NULL (the bias already in x) where the winners must be those of x + b.
 */
void maxpool2_relu_forward(float *out, int *arg, const float *x, size_t ldx, const float *b, int C, int H,
                           int W);
/**
 * Backward of maxpool2_relu_forward (bias NULL) through the ReLU and the max-pool: dx (C, H, W)
 * += dout where out (its output) > 0, routed to the winners in arg; maxpool2_backward of the
 * masked dout in one pass.
 */
void maxpool2_relu_backward(float *dx, const float *dout, const float *out, const int *arg, int C, int H, int W);

/**
 * out (C, n, n) <- average over the cells of an n x n partition of each plane (PyTorch's
 * AdaptiveAvgPool2d: cell i spans [floor(i H/n), ceil((i+1) H/n))).
 */
void adaptive_avgpool_forward(float *out, const float *x, int C, int H, int W, int n);
/** dx (C, H, W) += dout spread evenly over each cell. */
void adaptive_avgpool_backward(float *dx, const float *dout, int C, int H, int W, int n);
/**
 * out (C, n, n) <- the maximum of each cell of x (C, H, W) (the cells of adaptive pooling);
 * arg (may be NULL) <- the index into x of each maximum (the first, if tied).
 */
void adaptive_maxpool_forward(float *out, int *arg, const float *x, int C, int H, int W, int n);
/** dx[arg[i]] += dout[i] for the C * n * n outputs of adaptive_maxpool_forward. */
void adaptive_maxpool_backward(float *dx, const float *dout, const int *arg, int C, int n);

#endif
