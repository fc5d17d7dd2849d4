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

void im2col_strided(float *col, size_t ld, const float *x, int C, int H, int W, int K, int s, int pad, int OH,
                    int OW) {
    if (s == 1 && OH == conv_out_size(H, K, pad) && OW == conv_out_size(W, K, pad)) {
        im2col_ld(col, ld, x, C, H, W, K, pad); /* conv.c's */
        return;
    }
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                float *row = col + ((size_t)(c * K + ky) * K + kx) * ld;
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

void col2im_strided(float *dx, const float *dcol, size_t ld, int C, int H, int W, int K, int s, int pad, int OH,
                    int OW) {
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                const float *row = dcol + ((size_t)(c * K + ky) * K + kx) * ld;
                int lo, hi;
                valid_cols(W, kx, s, pad, OW, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * s - pad + ky;
                    if (iy < 0 || iy >= H) continue;
                    float *d = dx + ((size_t)c * H + iy) * W - pad + kx;
                    const float *r = row + (size_t)oy * OW;
                    if (s == 1)
                        for (int ox = lo; ox < hi; ox++) d[ox] += r[ox];
                    else
                        for (int ox = lo; ox < hi; ox++) d[ox * s] += r[ox];
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

/* ---- conv ----
 * Stride 1 with at least LAYER_TAPS_MIN_C input planes (layer_conv_taps): no patch matrix. The
 * image zero-padded to Xp (C, Hp, Wp) (Hp = H + 2 pad, Wp = W + 2 pad) holds every patch
 * at K*K shifts: with Ye (O, OH*Wp) the output whose rows run on over the Wp - OW padding
 * columns (discarded; their gradients are zero), tap t = (ky, kx) of the kernels W_t (O, C)
 * adds W_t * Xp[:, j + ky Wp + kx] (j < OH*Wp: a (C, OH*Wp) window of leading dimension
 * Hp*Wp) to Ye, one GEMM per tap and image; backward dW_t += dYe * window^T and
 * dXp[:, window] += W_t^T dYe. Otherwise (the first layer, strided layers): chunks of images,
 * their patches side by side and one GEMM per chunk forward, two backward. */

static size_t conv_n_params(const Layer *l) { return (size_t)l->O * l->C * l->K * l->K; }

int layer_conv_taps(const Layer *l) { return l->stride == 1 && l->C >= LAYER_TAPS_MIN_C; }

int layer_conv_chunk(const Layer *l, int B) {
    size_t per = (size_t)l->C * l->K * l->K * l->OH * l->OW, nb = LAYER_CHUNK_FLOATS / (per ? per : 1);
    return nb < 1 ? 1 : nb > (size_t)B ? (B > 0 ? B : 1) : (int)nb;
}

/* Sizes of the tap form: padded side Wp, padded image floats Np (C planes, plus K - 1 read
 * past the end by the last tap's window), extended output columns Ne = OH*Wp. */
typedef struct TapDims {
    int Wp, Np, Ne;
    size_t nt, np; /* floats of the tap-major kernels (K*K, O, C) and of Xp */
} TapDims;

static TapDims tap_dims(const Layer *l) {
    TapDims d;
    d.Wp = l->W + 2 * l->pad, d.Np = (l->H + 2 * l->pad) * d.Wp, d.Ne = l->OH * d.Wp;
    d.nt = (size_t)l->K * l->K * l->O * l->C, d.np = (size_t)l->C * d.Np + l->K;
    return d;
}

/* Forward: the kernels by tap, Xp, Ye. Backward: the feedback by tap, dW by tap, Xp, dXp,
 * dYe. Patches: the patch matrix of a chunk and, for nb > 1, its outputs or output gradients
 * as (O, nb*P); the patch matrix is reused for the patch gradients. */
static size_t conv_scratch(const Layer *l, int B) {
    if (layer_conv_taps(l)) {
        TapDims d = tap_dims(l);
        return 2 * d.nt + 2 * d.np + (size_t)l->O * d.Ne;
    }
    size_t nb = (size_t)layer_conv_chunk(l, B), P = (size_t)l->OH * l->OW;
    return nb * P * ((size_t)l->C * l->K * l->K + (nb > 1 ? (size_t)l->O : 0));
}

/* wt (K*K, O, C) <- w (O, C, K*K). */
static void tap_kernels(const Layer *l, const float *w, float *wt) {
    int KK = l->K * l->K;
    for (int t = 0; t < KK; t++)
        for (size_t oc = 0; oc < (size_t)l->O * l->C; oc++) wt[t * (size_t)l->O * l->C + oc] = w[oc * KK + t];
}

/* The interior of xp (C, Hp, Wp) <- x (C, H, W), or with dx: dx (C, H, W) += xp's interior. */
static void tap_pad(const Layer *l, const TapDims *d, float *xp, const float *x, float *dx) {
    for (int c = 0; c < l->C; c++)
        for (int iy = 0; iy < l->H; iy++) {
            float *p = xp + (size_t)c * d->Np + (size_t)(iy + l->pad) * d->Wp + l->pad;
            size_t r = ((size_t)c * l->H + iy) * l->W;
            if (dx)
                for (int ix = 0; ix < l->W; ix++) dx[r + ix] += p[ix];
            else
                memcpy(p, x + r, (size_t)l->W * sizeof(float));
        }
}

static void conv_fwd_taps(Layer *l, const float *x, int B, float *scratch) {
    TapDims d = tap_dims(l);
    int KK = l->K * l->K, OC = l->O * l->C;
    size_t ni = (size_t)l->C * l->H * l->W, no = layer_out_floats(l);
    float *wt = scratch, *xp = wt + d.nt, *ye = xp + d.np;
    tap_kernels(l, l->w, wt);
    memset(xp, 0, d.np * sizeof(float));
    for (int n = 0; n < B; n++) {
        tap_pad(l, &d, xp, x + n * ni, NULL);
        for (int t = 0; t < KK; t++) /* Ye (O, Ne) += W_t (O, C) * Xp window t (C, Ne) */
            sgemm_ld(0, 0, l->O, d.Ne, l->C, 1.0f, wt + (size_t)t * OC, l->C, xp + (t / l->K) * d.Wp + t % l->K,
                     d.Np, t ? 1.0f : 0.0f, ye, d.Ne);
        for (int o = 0; o < l->O; o++)
            for (int oy = 0; oy < l->OH; oy++)
                memcpy(l->y + n * no + ((size_t)o * l->OH + oy) * l->OW, ye + (size_t)o * d.Ne + (size_t)oy * d.Wp,
                       (size_t)l->OW * sizeof(float));
    }
}

static void conv_bwd_taps(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    TapDims d = tap_dims(l);
    int KK = l->K * l->K, OC = l->O * l->C;
    size_t ni = (size_t)l->C * l->H * l->W, no = layer_out_floats(l);
    float *ft = scratch, *dwt = ft + d.nt, *xp = dwt + d.nt, *dxp = xp + d.np, *dye = dxp + d.np;
    tap_kernels(l, l->fb, ft);
    memset(dwt, 0, d.nt * sizeof(float)), memset(xp, 0, d.np * sizeof(float));
    memset(dye, 0, (size_t)l->O * d.Ne * sizeof(float)); /* the padding columns stay zero */
    for (int n = 0; n < B; n++) {
        tap_pad(l, &d, xp, x + n * ni, NULL);
        for (int o = 0; o < l->O; o++)
            for (int oy = 0; oy < l->OH; oy++)
                memcpy(dye + (size_t)o * d.Ne + (size_t)oy * d.Wp, dy + n * no + ((size_t)o * l->OH + oy) * l->OW,
                       (size_t)l->OW * sizeof(float));
        for (int t = 0; t < KK; t++) /* dW_t (O, C) += dYe (O, Ne) * (Xp window t)^T */
            sgemm_ld(0, 1, l->O, l->C, d.Ne, 1.0f, dye, d.Ne, xp + (t / l->K) * d.Wp + t % l->K, d.Np, 1.0f,
                     dwt + (size_t)t * OC, l->C);
        if (!dx) continue;
        memset(dxp, 0, d.np * sizeof(float));
        for (int t = 0; t < KK; t++) /* dXp window t (C, Ne) += F_t^T (C, O) * dYe (O, Ne) */
            sgemm_ld(1, 0, l->C, d.Ne, l->O, 1.0f, ft + (size_t)t * OC, l->C, dye, d.Ne, 1.0f,
                     dxp + (t / l->K) * d.Wp + t % l->K, d.Np);
        tap_pad(l, &d, dxp, NULL, dx + n * ni);
    }
    for (int t = 0; t < KK; t++)
        for (size_t oc = 0; oc < (size_t)OC; oc++) l->dw[oc * KK + t] += dwt[t * (size_t)OC + oc];
}

/* col (C*K*K, nb*P) <- the patches of images x[0 .. nb), image n's in columns [n*P, (n+1)*P). */
static void conv_patches(const Layer *l, float *col, const float *x, int nb) {
    size_t ni = (size_t)l->C * l->H * l->W, P = (size_t)l->OH * l->OW, ld = (size_t)nb * P;
    for (int n = 0; n < nb; n++)
        im2col_strided(col + n * P, ld, x + n * ni, l->C, l->H, l->W, l->K, l->stride, l->pad, l->OH, l->OW);
}

static void conv_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)train;
    if (layer_conv_taps(l)) {
        conv_fwd_taps(l, x, B, scratch);
        return;
    }
    int CKK = l->C * l->K * l->K, P = l->OH * l->OW, chunk = layer_conv_chunk(l, B);
    size_t ni = (size_t)l->C * l->H * l->W, no = layer_out_floats(l);
    for (int n0 = 0; n0 < B; n0 += chunk) {
        int nb = B - n0 < chunk ? B - n0 : chunk;
        float *col = scratch, *yc = nb > 1 ? scratch + (size_t)CKK * nb * P : l->y + n0 * no;
        conv_patches(l, col, x + n0 * ni, nb);
        /* Yc (O, nb*P) <- W (O, CKK) * col (CKK, nb*P) */
        sgemm(0, 0, l->O, nb * P, CKK, 1.0f, l->w, col, 0.0f, yc);
        if (nb > 1) /* y (nb, O, P) <- Yc */
            for (int n = 0; n < nb; n++)
                for (int o = 0; o < l->O; o++)
                    memcpy(l->y + (n0 + n) * no + (size_t)o * P, yc + ((size_t)o * nb + n) * P, P * sizeof(float));
    }
}

static void conv_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    if (layer_conv_taps(l)) {
        conv_bwd_taps(l, x, dy, dx, B, scratch);
        return;
    }
    int CKK = l->C * l->K * l->K, P = l->OH * l->OW, chunk = layer_conv_chunk(l, B);
    size_t ni = (size_t)l->C * l->H * l->W, no = layer_out_floats(l);
    for (int n0 = 0; n0 < B; n0 += chunk) {
        int nb = B - n0 < chunk ? B - n0 : chunk;
        float *col = scratch, *g = scratch + (size_t)CKK * nb * P;
        const float *dyc = dy + n0 * no; /* one image: its (O, P) gradient as it is */
        if (nb > 1) { /* dYc (O, nb*P) <- dy (nb, O, P) */
            for (int n = 0; n < nb; n++)
                for (int o = 0; o < l->O; o++)
                    memcpy(g + ((size_t)o * nb + n) * P, dy + (n0 + n) * no + (size_t)o * P, P * sizeof(float));
            dyc = g;
        }
        conv_patches(l, col, x + n0 * ni, nb);
        /* dW += dYc (O, nb*P) * col^T */
        sgemm(0, 1, l->O, CKK, nb * P, 1.0f, dyc, col, 1.0f, l->dw);
        if (!dx) continue;
        /* dcol (CKK, nb*P) <- F^T * dYc, into col's place; then summed back to the pixels */
        sgemm(1, 0, CKK, nb * P, l->O, 1.0f, l->fb, dyc, 0.0f, col);
        for (int n = 0; n < nb; n++)
            col2im_strided(dx + (n0 + n) * ni, col + (size_t)n * P, (size_t)nb * P, l->C, l->H, l->W, l->K,
                           l->stride, l->pad, l->OH, l->OW);
    }
}

const LayerOps LAYER_CONV = {"conv", conv_fwd, conv_bwd, conv_n_params, conv_scratch};

/* ---- lc: lc.c's kernels (any stride) ---- */

static size_t lc_n_params(const Layer *l) { return (size_t)l->OH * l->OW * l->O * l->C * l->K * l->K; }

static size_t lc_layer_scratch(const Layer *l, int B) { return lc_scratch_floats(B, l->C, l->H, l->W, l->O, l->K); }

static void lc_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)train;
    lc_forward_strided(l->y, x, l->w, NULL, scratch, B, l->C, l->H, l->W, l->O, l->K, l->stride);
}

static void lc_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    lc_backward_strided(dx, l->dw, NULL, dy, x, l->fb, scratch, B, l->C, l->H, l->W, l->O, l->K, l->stride);
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
