/*
 * layer.c: the rows of the layer ops table (layer.h): conv, lc, bn, gap.
 */
#include "layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
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

/* Batch mean and biased variance of plane c; moves the running statistics. */
static void bn_batch_stats(Layer *l, const float *x, int B, int c) {
    size_t hw = (size_t)l->H * l->W, ni = (size_t)l->C * hw, N = (size_t)B * hw;
    double s = 0.0, ss = 0.0;
    for (int n = 0; n < B; n++)
        for (size_t i = 0; i < hw; i++) s += x[n * ni + c * hw + i];
    double mean = s / (double)N;
    for (int n = 0; n < B; n++)
        for (size_t i = 0; i < hw; i++) {
            double d = x[n * ni + c * hw + i] - mean;
            ss += d * d;
        }
    double var = ss / (double)N, m = l->momentum;
    l->mean[c] = mean, l->invstd[c] = 1.0 / sqrt(var + l->eps);
    l->run_mean[c] = (float)((1.0 - m) * l->run_mean[c] + m * mean);
    l->run_var[c] = (float)((1.0 - m) * l->run_var[c] + m * (N > 1 ? var * (double)N / (double)(N - 1) : var));
}

static void bn_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)scratch;
    size_t hw = (size_t)l->H * l->W, ni = (size_t)l->C * hw;
    for (int c = 0; c < l->C; c++) {
        if (train) bn_batch_stats(l, x, B, c);
        else l->mean[c] = l->run_mean[c], l->invstd[c] = 1.0 / sqrt((double)l->run_var[c] + l->eps);
        float a = (float)(l->invstd[c] * l->w[c]), m = (float)l->mean[c], b = l->b[c];
        for (int n = 0; n < B; n++) {
            const float *xi = x + n * ni + c * hw;
            float *yi = l->y + n * ni + c * hw;
            for (size_t i = 0; i < hw; i++) {
                float v = (xi[i] - m) * a + b;
                yi[i] = l->relu && !(v > 0.0f) ? 0.0f : v;
            }
        }
    }
}

/* The gradient at the BN output: dy, masked by the fused ReLU. */
static inline double bn_g(const Layer *l, const float *dy, size_t j) {
    return l->relu && !(l->y[j] > 0.0f) ? 0.0 : (double)dy[j];
}

static void bn_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    (void)scratch;
    size_t hw = (size_t)l->H * l->W, ni = (size_t)l->C * hw;
    double N = (double)B * (double)hw;
    for (int c = 0; c < l->C; c++) {
        double m = l->mean[c], is = l->invstd[c], sg = 0.0, sgx = 0.0;
        for (int n = 0; n < B; n++)
            for (size_t i = 0; i < hw; i++) {
                size_t j = n * ni + c * hw + i;
                double g = bn_g(l, dy, j);
                sg += g, sgx += g * (x[j] - m) * is;
            }
        l->dw[c] += (float)sgx, l->db[c] += (float)sg;
        if (!dx) continue;
        double k = l->w[c] * is / N;
        for (int n = 0; n < B; n++)
            for (size_t i = 0; i < hw; i++) {
                size_t j = n * ni + c * hw + i;
                dx[j] += (float)(k * (N * bn_g(l, dy, j) - sg - (x[j] - m) * is * sgx));
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
