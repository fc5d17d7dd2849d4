/*
 * layer.c: the rows of the layer ops table (layer.h): conv, lc, bn, gap.
 */
#include "layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "clones.h"
#include "conv.h"
#include "lc.h"

int layer_out_size(int n, int K, int stride) {
    int pad = (K - 1) / 2, span = n + 2 * pad - K;
    return span < 0 ? 0 : span / stride + 1;
}

size_t layer_out_floats(const Layer *l) { return (size_t)l->O * l->OH * l->OW; }

static int alloc_out(Layer *l, int max_batch) {
    l->y = malloc((size_t)max_batch * layer_out_floats(l) * sizeof(float));
    return l->y ? 0 : -1;
}

void layer_free(Layer *l) {
    free(l->y), free(l->mean), free(l->invstd);
    memset(l, 0, sizeof *l);
}

/* ---- strided patches ---- */

/* Output columns [*lo, *hi) of kernel column kx that read inside a row of W pixels. */
static void valid_cols(int W, int kx, int s, int pad, int OW, int *lo, int *hi) {
    int a = pad - kx, b = W - 1 + pad - kx; /* need a <= ox * s <= b */
    *lo = a > 0 ? (a + s - 1) / s : 0;
    *hi = b < 0 ? 0 : b / s + 1;
    if (*hi > OW) *hi = OW;
    if (*hi < *lo) *hi = *lo;
}

void im2col_strided(float *col, const float *x, int C, int H, int W, int K, int s, int pad, int OH, int OW) {
    if (s == 1 && OH == conv_out_size(H, K, pad) && OW == conv_out_size(W, K, pad)) {
        im2col(col, x, C, H, W, K, pad); /* conv.c's */
        return;
    }
    size_t P = (size_t)OH * OW;
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                float *row = col + ((size_t)(c * K + ky) * K + kx) * P;
                int lo, hi;
                valid_cols(W, kx, s, pad, OW, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * s - pad + ky;
                    float *d = row + (size_t)oy * OW;
                    if (iy < 0 || iy >= H) {
                        memset(d, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *src = x + ((size_t)c * H + iy) * W - pad + kx;
                    for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                    for (int ox = lo; ox < hi; ox++) d[ox] = src[ox * s];
                    for (int ox = hi; ox < OW; ox++) d[ox] = 0.0f;
                }
            }
}

void col2im_strided(float *dx, const float *dcol, int C, int H, int W, int K, int s, int pad, int OH, int OW) {
    if (s == 1 && OH == conv_out_size(H, K, pad) && OW == conv_out_size(W, K, pad)) {
        col2im(dx, dcol, C, H, W, K, pad); /* conv.c's */
        return;
    }
    size_t P = (size_t)OH * OW;
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                const float *row = dcol + ((size_t)(c * K + ky) * K + kx) * P;
                int lo, hi;
                valid_cols(W, kx, s, pad, OW, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * s - pad + ky;
                    if (iy < 0 || iy >= H) continue;
                    float *d = dx + ((size_t)c * H + iy) * W - pad + kx;
                    for (int ox = lo; ox < hi; ox++) d[ox * s] += row[(size_t)oy * OW + ox];
                }
            }
}

int layer_conv_init(Layer *l, const LayerOps *ops, int C, int H, int W, int O, int K, int stride, int max_batch) {
    memset(l, 0, sizeof *l);
    l->ops = ops, l->C = C, l->H = H, l->W = W, l->O = O, l->K = K, l->stride = stride, l->pad = (K - 1) / 2;
    l->OH = layer_out_size(H, K, stride), l->OW = layer_out_size(W, K, stride);
    if (l->OH < 1 || l->OW < 1 || K % 2 == 0) return -1;
    return alloc_out(l, max_batch);
}

/* ---- conv: per image, strided im2col and one GEMM ---- */

static size_t conv_n_params(const Layer *l) { return (size_t)l->O * l->C * l->K * l->K; }

static size_t conv_scratch(const Layer *l, int B) {
    (void)B;
    return 2 * (size_t)l->C * l->K * l->K * l->OH * l->OW;
}

static void conv_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)train;
    int CKK = l->C * l->K * l->K, P = l->OH * l->OW;
    size_t ni = (size_t)l->C * l->H * l->W, no = layer_out_floats(l);
    for (int n = 0; n < B; n++) {
        im2col_strided(scratch, x + n * ni, l->C, l->H, l->W, l->K, l->stride, l->pad, l->OH, l->OW);
        sgemm(0, 0, l->O, P, CKK, 1.0f, l->w, scratch, 0.0f, l->y + n * no);
    }
}

static void conv_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    int CKK = l->C * l->K * l->K, P = l->OH * l->OW;
    size_t ni = (size_t)l->C * l->H * l->W, no = layer_out_floats(l);
    float *col = scratch, *dcol = scratch + (size_t)CKK * P;
    for (int n = 0; n < B; n++) {
        im2col_strided(col, x + n * ni, l->C, l->H, l->W, l->K, l->stride, l->pad, l->OH, l->OW);
        sgemm(0, 1, l->O, CKK, P, 1.0f, dy + n * no, col, 1.0f, l->dw);
        if (!dx) continue;
        sgemm(1, 0, CKK, P, l->O, 1.0f, l->fb, dy + n * no, 0.0f, dcol);
        col2im_strided(dx + n * ni, dcol, l->C, l->H, l->W, l->K, l->stride, l->pad, l->OH, l->OW);
    }
}

const LayerOps LAYER_CONV = {"conv", conv_fwd, conv_bwd, conv_n_params, conv_scratch};

/* ---- lc: stride 1 through lc.c; stride > 1 by one GEMM per position over the batch ---- */

static size_t lc_n_params(const Layer *l) { return (size_t)l->OH * l->OW * l->O * l->C * l->K * l->K; }

static size_t lc_layer_scratch(const Layer *l, int B) {
    if (l->stride == 1) return lc_scratch_floats(B, l->C, l->H, l->W, l->O, l->K);
    return (size_t)B * (2 * (size_t)l->C * l->K * l->K + l->O);
}

/* Output position (oy, ox)'s patches of the B images: gather (dx NULL): P (C*K*K, B) <- the
 * patches of x, zero outside; scatter: dx += P summed back to the pixels. */
static void lc_patches(float *P, float *dx, const Layer *l, const float *x, int B, int oy, int ox) {
    size_t ni = (size_t)l->C * l->H * l->W;
    int K = l->K;
    for (int c = 0; c < l->C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                int iy = oy * l->stride - l->pad + ky, ix = ox * l->stride - l->pad + kx;
                float *row = P + ((size_t)(c * K + ky) * K + kx) * B;
                int in = iy >= 0 && iy < l->H && ix >= 0 && ix < l->W;
                size_t at = in ? ((size_t)c * l->H + iy) * l->W + ix : 0;
                if (dx) {
                    if (in)
                        for (int n = 0; n < B; n++) dx[n * ni + at] += row[n];
                } else {
                    for (int n = 0; n < B; n++) row[n] = in ? x[n * ni + at] : 0.0f;
                }
            }
}

static void lc_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)train;
    if (l->stride == 1) {
        lc_forward(l->y, x, l->w, NULL, scratch, B, l->C, l->H, l->W, l->O, l->K);
        return;
    }
    int CKK = l->C * l->K * l->K, P = l->OH * l->OW;
    size_t no = layer_out_floats(l);
    float *Xp = scratch, *Yp = scratch + (size_t)CKK * B;
    for (int p = 0; p < P; p++) {
        lc_patches(Xp, NULL, l, x, B, p / l->OW, p % l->OW);
        sgemm(0, 0, l->O, B, CKK, 1.0f, l->w + (size_t)p * l->O * CKK, Xp, 0.0f, Yp);
        for (int o = 0; o < l->O; o++)
            for (int n = 0; n < B; n++) l->y[n * no + (size_t)o * P + p] = Yp[(size_t)o * B + n];
    }
}

static void lc_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    if (l->stride == 1) {
        lc_backward(dx, l->dw, NULL, dy, x, l->fb, scratch, B, l->C, l->H, l->W, l->O, l->K);
        return;
    }
    int CKK = l->C * l->K * l->K, P = l->OH * l->OW;
    size_t no = layer_out_floats(l), wp = (size_t)l->O * CKK;
    float *Xp = scratch, *dYp = scratch + (size_t)CKK * B, *dXp = dYp + (size_t)l->O * B;
    for (int p = 0; p < P; p++) {
        lc_patches(Xp, NULL, l, x, B, p / l->OW, p % l->OW);
        for (int o = 0; o < l->O; o++)
            for (int n = 0; n < B; n++) dYp[(size_t)o * B + n] = dy[n * no + (size_t)o * P + p];
        sgemm(0, 1, l->O, CKK, B, 1.0f, dYp, Xp, 1.0f, l->dw + p * wp);
        if (!dx) continue;
        sgemm(1, 0, CKK, B, l->O, 1.0f, l->fb + p * wp, dYp, 0.0f, dXp);
        lc_patches(dXp, dx, l, NULL, B, p / l->OW, p % l->OW);
    }
}

const LayerOps LAYER_LC = {"lc", lc_fwd, lc_bwd, lc_n_params, lc_layer_scratch};

/* ---- bn: BatchNorm2d (+ ReLU) ---- */

int layer_bn_init(Layer *l, int C, int H, int W, int relu, int max_batch) {
    memset(l, 0, sizeof *l);
    l->ops = &LAYER_BN, l->C = l->O = C, l->H = l->OH = H, l->W = l->OW = W, l->relu = relu;
    l->momentum = 0.1, l->eps = 1e-5;
    l->mean = malloc((size_t)C * sizeof(double)), l->invstd = malloc((size_t)C * sizeof(double));
    if (!l->mean || !l->invstd) return -1;
    return alloc_out(l, max_batch);
}

static size_t bn_n_params(const Layer *l) { return 2 * (size_t)l->C; }

static size_t no_scratch(const Layer *l, int B) {
    (void)l, (void)B;
    return 0;
}

/* Rows of one plane of one image (hw floats) in BN_LANES float lanes, each lane's terms in
 * order, then the lanes and the rest in double: the sums the passes below add to a plane's. */
enum { BN_LANES = 16 };

/* *s1 += sum (x - k), *s2 += sum (x - k)^2 over a row of n. */
MULTIVERSION static void bn_row_moments(const float *x, size_t n, float k, double *s1, double *s2) {
    float a[BN_LANES] = {0}, q[BN_LANES] = {0};
    size_t i = 0;
    for (; i + BN_LANES <= n; i += BN_LANES)
        for (int j = 0; j < BN_LANES; j++) {
            float d = x[i + j] - k;
            a[j] += d, q[j] += d * d;
        }
    double t1 = 0.0, t2 = 0.0;
    for (; i < n; i++) {
        double d = (double)x[i] - k;
        t1 += d, t2 += d * d;
    }
    for (int j = 0; j < BN_LANES; j++) t1 += a[j], t2 += q[j];
    *s1 += t1, *s2 += t2;
}

/* y <- (x - m) a + b over a row of n, then max(., 0) if relu (NaN -> 0). */
MULTIVERSION static void bn_row_norm(float *y, const float *x, size_t n, float m, float a, float b, int relu) {
    if (relu)
        for (size_t i = 0; i < n; i++) {
            float v = (x[i] - m) * a + b;
            y[i] = v > 0.0f ? v : 0.0f;
        }
    else
        for (size_t i = 0; i < n; i++) y[i] = (x[i] - m) * a + b;
}

/* The batch's mean and biased variance of every plane in one pass over x (B, C, H, W): sums
 * shifted by each plane's first value (no cancellation while the mean is within a few
 * standard deviations of it); moves the running statistics. */
static void bn_batch_stats(Layer *l, const float *x, int B) {
    size_t hw = (size_t)l->H * l->W, ni = (size_t)l->C * hw, N = (size_t)B * hw;
    double *s1 = l->mean, *s2 = l->invstd; /* the sums, then the statistics */
    for (int c = 0; c < l->C; c++) s1[c] = s2[c] = 0.0;
    for (int n = 0; n < B; n++)
        for (int c = 0; c < l->C; c++) bn_row_moments(x + n * ni + c * hw, hw, x[c * hw], &s1[c], &s2[c]);
    for (int c = 0; c < l->C; c++) {
        double d = s1[c] / (double)N, var = s2[c] / (double)N - d * d, m = l->momentum;
        var = var > 0.0 ? var : 0.0;
        double mean = x[c * hw] + d;
        l->mean[c] = mean, l->invstd[c] = 1.0 / sqrt(var + l->eps);
        l->run_mean[c] = (float)((1.0 - m) * l->run_mean[c] + m * mean);
        l->run_var[c] = (float)((1.0 - m) * l->run_var[c] + m * (N > 1 ? var * (double)N / (double)(N - 1) : var));
    }
}

static void bn_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)scratch;
    size_t hw = (size_t)l->H * l->W, ni = (size_t)l->C * hw;
    if (train) bn_batch_stats(l, x, B);
    else
        for (int c = 0; c < l->C; c++)
            l->mean[c] = l->run_mean[c], l->invstd[c] = 1.0 / sqrt((double)l->run_var[c] + l->eps);
    for (int n = 0; n < B; n++)
        for (int c = 0; c < l->C; c++)
            bn_row_norm(l->y + n * ni + c * hw, x + n * ni + c * hw, hw, (float)l->mean[c],
                        (float)(l->invstd[c] * l->w[c]), l->b[c], l->relu);
}

/* Over a row of n, g the output gradient dy (0 where the fused ReLU's output y is not > 0):
 * *sg += sum g, *sgx += sum g (x - m). */
MULTIVERSION static void bn_row_grad_sums(const float *x, const float *y, const float *dy, size_t n, float m, int relu,
                                          double *sg, double *sgx) {
    float a[BN_LANES] = {0}, q[BN_LANES] = {0};
    size_t i = 0;
    for (; i + BN_LANES <= n; i += BN_LANES)
        for (int j = 0; j < BN_LANES; j++) {
            float g = relu && !(y[i + j] > 0.0f) ? 0.0f : dy[i + j];
            a[j] += g, q[j] += g * (x[i + j] - m);
        }
    double t1 = 0.0, t2 = 0.0;
    for (; i < n; i++) {
        float g = relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
        t1 += g, t2 += (double)g * (x[i] - m);
    }
    for (int j = 0; j < BN_LANES; j++) t1 += a[j], t2 += q[j];
    *sg += t1, *sgx += t2;
}

/* dx += ka g + kx (x - m) + k0 over a row of n, g as above. */
MULTIVERSION static void bn_row_dx(float *dx, const float *x, const float *y, const float *dy, size_t n, float m,
                                   int relu, float ka, float kx, float k0) {
    for (size_t i = 0; i < n; i++) {
        float g = relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
        dx[i] += ka * g + kx * (x[i] - m) + k0;
    }
}

/* With xh = (x - m) is, N = B H W: dw += sum g xh, db += sum g,
 * dx += w is / N (N g - sum g - xh sum g xh) (PyTorch's batch_norm_backward, training mode). */
static void bn_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    (void)scratch;
    enum { CMAX = 1024 };
    size_t hw = (size_t)l->H * l->W, ni = (size_t)l->C * hw;
    double N = (double)B * (double)hw, sg[CMAX], sgx[CMAX];
    for (int c0 = 0; c0 < l->C; c0 += CMAX) { /* planes in groups of CMAX (resnet_width 1024 x 4) */
        int nc = l->C - c0 < CMAX ? l->C - c0 : CMAX;
        for (int c = 0; c < nc; c++) sg[c] = sgx[c] = 0.0;
        for (int n = 0; n < B; n++)
            for (int c = c0; c < c0 + nc; c++) {
                size_t at = n * ni + c * hw;
                bn_row_grad_sums(x + at, l->y + at, dy + at, hw, (float)l->mean[c], l->relu, &sg[c - c0],
                                 &sgx[c - c0]);
            }
        for (int c = c0; c < c0 + nc; c++) {
            double is = l->invstd[c], sxh = sgx[c - c0] * is;
            l->dw[c] += (float)sxh, l->db[c] += (float)sg[c - c0];
        }
        if (!dx) continue;
        float ka[CMAX], kx[CMAX], k0[CMAX];
        for (int c = c0; c < c0 + nc; c++) {
            double is = l->invstd[c], k = l->w[c] * is / N;
            ka[c - c0] = (float)(k * N), kx[c - c0] = (float)(-k * is * is * sgx[c - c0]),
                     k0[c - c0] = (float)(-k * sg[c - c0]);
        }
        for (int n = 0; n < B; n++)
            for (int c = c0; c < c0 + nc; c++) {
                size_t at = n * ni + c * hw;
                bn_row_dx(dx + at, x + at, l->y + at, dy + at, hw, (float)l->mean[c], l->relu, ka[c - c0],
                          kx[c - c0], k0[c - c0]);
            }
    }
}

const LayerOps LAYER_BN = {"bn", bn_fwd, bn_bwd, bn_n_params, no_scratch};

/* ---- gap: global average pool ---- */

int layer_gap_init(Layer *l, int C, int H, int W, int max_batch) {
    memset(l, 0, sizeof *l);
    l->ops = &LAYER_GAP, l->C = l->O = C, l->H = H, l->W = W, l->OH = l->OW = 1;
    return alloc_out(l, max_batch);
}

static size_t gap_n_params(const Layer *l) {
    (void)l;
    return 0;
}

static void gap_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)train, (void)scratch;
    size_t hw = (size_t)l->H * l->W;
    for (size_t j = 0; j < (size_t)B * l->C; j++) {
        double s = 0.0;
        for (size_t i = 0; i < hw; i++) s += x[j * hw + i];
        l->y[j] = (float)(s / (double)hw);
    }
}

static void gap_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    (void)x, (void)scratch;
    size_t hw = (size_t)l->H * l->W;
    if (!dx) return;
    for (size_t j = 0; j < (size_t)B * l->C; j++) {
        float g = (float)(dy[j] / (double)hw);
        for (size_t i = 0; i < hw; i++) dx[j * hw + i] += g;
    }
}

const LayerOps LAYER_GAP = {"gap", gap_fwd, gap_bwd, gap_n_params, no_scratch};
