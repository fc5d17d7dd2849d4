/*
 * layer.c: the rows of the layer ops table (layer.h): conv, lc, maxpool, apool, bn, gap; and
 * chains of layers.
 */
#include "layer.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "clones.h"
#include "conv.h"
#include "lc.h"
#include "winograd.h"
#include "work.h"

int layer_out_size(int n, int K, int stride) {
    int pad = (K - 1) / 2, span = n + 2 * pad - K;
    return span < 0 ? 0 : span / stride + 1;
}

size_t layer_out_floats(const Layer *l) { return (size_t)l->O * l->OH * l->OW; }

size_t layer_in_floats(const Layer *l) { return (size_t)l->C * l->H * l->W; }

static int alloc_out(Layer *l, int max_batch) {
    l->ny = max_batch;
    l->y = malloc((size_t)max_batch * layer_out_floats(l) * sizeof(float));
    return l->y ? 0 : -1;
}

void layer_free(Layer *l) {
    free(l->y), free(l->mean), free(l->invstd), free(l->arg), free(l->affine);
    memset(l, 0, sizeof *l);
}

void layer_backward_set(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    assert(dx);
    if (l->ops->backward_set) {
        l->ops->backward_set(l, x, dy, dx, B, scratch);
        return;
    }
    memset(dx, 0, (size_t)B * layer_in_floats(l) * sizeof(float));
    l->ops->backward(l, x, dy, dx, B, scratch);
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

/* Output side of a K x K window at stride s, padding pad, on n (0: none fits). */
static int out_side(int n, int K, int s, int pad) {
    int span = n + 2 * pad - K;
    return span < 0 || s < 1 ? 0 : span / s + 1;
}

Layer layer_conv_shape(const LayerOps *ops, int C, int H, int W, int O, int K, int stride, int pad) {
    Layer l = {.ops = ops, .C = C, .H = H, .W = W, .O = O, .K = K, .stride = stride, .pad = pad};
    l.OH = out_side(H, K, stride, pad), l.OW = out_side(W, K, stride, pad);
    return l;
}

int layer_conv_init_pad(Layer *l, const LayerOps *ops, int C, int H, int W, int O, int K, int stride, int pad,
                        int max_batch) {
    *l = layer_conv_shape(ops, C, H, W, O, K, stride, pad);
    if (l->OH < 1 || l->OW < 1 || C < 1 || O < 1 || pad < 0 || (ops == &LAYER_LC && (K % 2 == 0 || pad != (K - 1) / 2)))
        return -1;
    return alloc_out(l, max_batch);
}

int layer_conv_init(Layer *l, const LayerOps *ops, int C, int H, int W, int O, int K, int stride, int max_batch) {
    if (K % 2 == 0) return -1;
    return layer_conv_init_pad(l, ops, C, H, W, O, K, stride, (K - 1) / 2, max_batch);
}

/* ---- the bias and the fused ReLU of conv and lc ---- */

/* y <- max(y, 0) over n floats (the fused ReLU; NaN -> 0). */
MULTIVERSION static void out_relu(float *y, size_t n) {
    for (size_t j = 0; j < n; j++) y[j] = y[j] > 0.0f ? y[j] : 0.0f;
}

/* The output gradient through the fused ReLU: dy itself, or t <- dy where y > 0, else 0. */
MULTIVERSION static const float *relu_grad(const Layer *l, const float *dy, int B, float *t) {
    if (!l->relu) return dy;
    size_t n = (size_t)B * layer_out_floats(l);
    for (size_t j = 0; j < n; j++) t[j] = l->y[j] > 0.0f ? dy[j] : 0.0f;
    return t;
}

/* Floats relu_grad needs in front of a layer's scratch. */
static size_t relu_floats(const Layer *l, int B) { return l->relu ? (size_t)B * layer_out_floats(l) : 0; }

/* db (O) += the sum of each plane of dout (O, P), each sum in order p = 0, 1, ...: eight
 * planes' sums side by side (independent chains instead of one add's latency per element). */
static void bias_grad(float *db, const float *dout, int O, int P) {
    int n = 0;
    for (; n + 8 <= O; n += 8) {
        const float *d = dout + (size_t)n * P;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f;
        for (int p = 0; p < P; p++) {
            s0 += d[p], s1 += d[P + p], s2 += d[2 * P + p], s3 += d[3 * P + p];
            s4 += d[4 * P + p], s5 += d[5 * P + p], s6 += d[6 * P + p], s7 += d[7 * P + p];
        }
        db[n] += s0, db[n + 1] += s1, db[n + 2] += s2, db[n + 3] += s3;
        db[n + 4] += s4, db[n + 5] += s5, db[n + 6] += s6, db[n + 7] += s7;
    }
    for (; n < O; n++) {
        float s = 0.0f;
        for (int p = 0; p < P; p++) s += dout[(size_t)n * P + p];
        db[n] += s;
    }
}

/* Rows r of y (O rows of n at y + o * ld) <- b[o]: the bias a GEMM with beta 1 then adds to. */
static void fill_bias(float *y, size_t ld, size_t n, const float *b, int O) {
    for (int o = 0; o < O; o++)
        for (size_t j = 0; j < n; j++) y[(size_t)o * ld + j] = b[o];
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

int layer_conv_wino(const Layer *l) {
    return !l->chunk && (l->C >= LAYER_TAPS_MIN_C || l->wino) &&
           wino_applies(l->C, l->H, l->W, l->K, l->stride, l->pad);
}

int layer_conv_wino4(const Layer *l) {
    return l->wino && layer_conv_wino(l) && wino4_applies(l->C, l->H, l->W, l->K, l->stride, l->pad);
}

/* The Winograd form's entries: F(4x4, 3x3) or F(2x2, 3x3), the same contracts. */
typedef struct WinoForm {
    int m; /* output tile side */
    int (*chunk)(int C, int O, int H, int W, int B);
    size_t (*scratch)(int C, int O, int H, int W, int B);
    void (*forward)(const float *w, const float *b, int C, int O, int H, int W, const float *x, int B, float *y,
                    const WinoAffine *aff, float *scratch);
    void (*backward)(const float *fb, int C, int O, int H, int W, const float *x, const float *dy, int B, float *dw,
                     float *dx, int set, float *scratch);
} WinoForm;

static const WinoForm WINO2 = {2, wino_chunk, wino_scratch, wino_forward, wino_backward};
static const WinoForm WINO4 = {4, wino4_chunk, wino4_scratch, wino4_forward, wino4_backward};

static const WinoForm *wino_form(const Layer *l) { return layer_conv_wino4(l) ? &WINO4 : &WINO2; }

int layer_conv_taps(const Layer *l) {
    return !l->chunk && l->stride == 1 && l->C >= LAYER_TAPS_MIN_C && !layer_conv_wino(l);
}

int layer_conv_chunk(const Layer *l, int B) {
    if (l->chunk) return l->chunk < B ? l->chunk : B > 0 ? B : 1;
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
    if (layer_conv_wino(l)) return relu_floats(l, B) + wino_form(l)->scratch(l->C, l->O, l->H, l->W, B);
    if (layer_conv_taps(l)) {
        TapDims d = tap_dims(l);
        return relu_floats(l, B) + 2 * d.nt + 2 * d.np + (size_t)l->O * d.Ne;
    }
    size_t nb = (size_t)layer_conv_chunk(l, B), P = (size_t)l->OH * l->OW;
    return relu_floats(l, B) + nb * P * ((size_t)l->C * l->K * l->K + (nb > 1 ? (size_t)l->O : 0));
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
        if (l->b) fill_bias(ye, d.Ne, d.Ne, l->b, l->O);
        for (int t = 0; t < KK; t++) /* Ye (O, Ne) += W_t (O, C) * Xp window t (C, Ne) [+ b] */
            sgemm_ld(0, 0, l->O, d.Ne, l->C, 1.0f, wt + (size_t)t * OC, l->C, xp + (t / l->K) * d.Wp + t % l->K,
                     d.Np, t || l->b ? 1.0f : 0.0f, ye, d.Ne);
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
        if (l->db) bias_grad(l->db, dy + n * no, l->O, l->OH * l->OW);
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
    scratch += relu_floats(l, B);
    if (layer_conv_wino(l)) {
        wino_form(l)->forward(l->w, l->b, l->C, l->O, l->H, l->W, x, B, l->y, NULL, scratch);
    } else if (layer_conv_taps(l)) {
        conv_fwd_taps(l, x, B, scratch);
    } else {
        int CKK = l->C * l->K * l->K, P = l->OH * l->OW, chunk = layer_conv_chunk(l, B);
        size_t ni = (size_t)l->C * l->H * l->W, no = layer_out_floats(l);
        for (int n0 = 0; n0 < B; n0 += chunk) {
            int nb = B - n0 < chunk ? B - n0 : chunk;
            float *col = scratch, *yc = nb > 1 ? scratch + (size_t)CKK * nb * P : l->y + n0 * no;
            conv_patches(l, col, x + n0 * ni, nb);
            if (l->b) fill_bias(yc, (size_t)nb * P, (size_t)nb * P, l->b, l->O);
            /* Yc (O, nb*P) <- W (O, CKK) * col (CKK, nb*P) [+ b] */
            sgemm(0, 0, l->O, nb * P, CKK, 1.0f, l->w, col, l->b ? 1.0f : 0.0f, yc);
            if (nb > 1) /* y (nb, O, P) <- Yc */
                for (int n = 0; n < nb; n++)
                    for (int o = 0; o < l->O; o++)
                        memcpy(l->y + (n0 + n) * no + (size_t)o * P, yc + ((size_t)o * nb + n) * P,
                               P * sizeof(float));
        }
    }
    if (l->relu) out_relu(l->y, (size_t)B * layer_out_floats(l));
}

/* backward; set: dx <- the input gradient (Winograd writes it; the other forms zero dx first) */
static void conv_bwd_any(Layer *l, const float *x, const float *dy, float *dx, int B, int set, float *scratch) {
    dy = relu_grad(l, dy, B, scratch);
    scratch += relu_floats(l, B);
    if (layer_conv_wino(l)) {
        wino_form(l)->backward(l->fb, l->C, l->O, l->H, l->W, x, dy, B, l->dw, dx, set, scratch);
        for (int n = 0; l->db && n < B; n++) bias_grad(l->db, dy + n * layer_out_floats(l), l->O, l->OH * l->OW);
        return;
    }
    if (set && dx) memset(dx, 0, (size_t)B * layer_in_floats(l) * sizeof(float));
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
        for (int n = 0; l->db && n < nb; n++) bias_grad(l->db, dy + (n0 + n) * no, l->O, P);
        if (!dx) continue;
        /* dcol (CKK, nb*P) <- F^T * dYc, into col's place; then summed back to the pixels */
        sgemm(1, 0, CKK, nb * P, l->O, 1.0f, l->fb, dyc, 0.0f, col);
        for (int n = 0; n < nb; n++)
            col2im_strided(dx + (n0 + n) * ni, col + (size_t)n * P, (size_t)nb * P, l->C, l->H, l->W, l->K,
                           l->stride, l->pad, l->OH, l->OW);
    }
}

static void conv_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    conv_bwd_any(l, x, dy, dx, B, 0, scratch);
}

static void conv_bwd_set(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    conv_bwd_any(l, x, dy, dx, B, 1, scratch);
}

const LayerOps LAYER_CONV = {"conv", conv_fwd, conv_bwd, conv_n_params, conv_scratch, conv_bwd_set};

void layer_conv_work(const Layer *l, int B, int first, Work *fwd, Work *bwd) {
    double ckk = (double)l->C * l->K * l->K, P = (double)l->OH * l->OW, out = l->O * P;
    double in = (double)l->C * l->H * l->W;
    if (layer_conv_wino(l)) { /* (m + 2)^2 products per chunk, the transforms of its inputs and outputs */
        const WinoForm *wf = wino_form(l);
        double nb = wf->chunk(l->C, l->O, l->H, l->W, B), T = P / (wf->m * wf->m), nx = (wf->m + 2) * (wf->m + 2);
        work_gemm(fwd, nx / nb, l->O, nb * T, l->C);
        work_gemm(bwd, nx / nb, l->O, l->C, nb * T);
        if (!first) work_gemm(bwd, nx / nb, l->C, nb * T, l->O);
        /* the transformed tiles stay in cache, each written and read once by the transforms
         * (their arithmetic about a float's stream cost for F(2x2): 2 operations per transformed
         * float; F(4x4)'s 6-point transforms take about 4.7, counted twice); the images read and
         * written pass through main memory once a batch's outgrow it */
        double tw = wf->m == 4 ? 2.0 : 1.0, tiles = 2.0 * nx * T * (l->C + l->O), chunk_bytes = 4.0 * nb * tiles;
        double batch = 4.0 * B * (in + out);
        work_stream(fwd, tw * tiles, chunk_bytes), work_stream(fwd, in + out, batch);
        work_stream(bwd, tw * (tiles + (first ? 0.0 : 2.0 * nx * T * l->C)), chunk_bytes);
        work_stream(bwd, in + out + (first ? 0.0 : in), batch);
        return;
    }
    if (layer_conv_taps(l)) {
        double kk = (double)l->K * l->K, ne = l->OH * (double)(l->W + 2 * l->pad);
        work_gemm(fwd, kk, l->O, ne, l->C);
        work_gemm(bwd, kk, l->O, l->C, ne);
        if (!first) work_gemm(bwd, kk, l->C, ne, l->O);
        fwd->n[WK_GATHER] += in + out;
        bwd->n[WK_GATHER] += (first ? 1.0 : 2.0) * in + out;
        return;
    }
    double nb = layer_conv_chunk(l, B), tr = nb > 1 ? out : 0.0; /* (O, nb*P) <-> (nb, O, P) */
    work_gemm(fwd, 1.0 / nb, l->O, nb * P, ckk);
    work_gemm(bwd, 1.0 / nb, l->O, ckk, nb * P);
    if (!first) work_gemm(bwd, 1.0 / nb, ckk, nb * P, l->O);
    fwd->n[WK_GATHER] += P * ckk + tr;
    bwd->n[WK_GATHER] += P * (first ? 1.0 : 2.0) * ckk + tr;
}

/* ---- lc: lc.c's kernels (any stride) ---- */

static size_t lc_n_params(const Layer *l) { return (size_t)l->OH * l->OW * l->O * l->C * l->K * l->K; }

static size_t lc_layer_scratch(const Layer *l, int B) {
    return relu_floats(l, B) + lc_scratch_floats(B, l->C, l->H, l->W, l->O, l->K);
}

static void lc_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)train;
    lc_forward_layout(l->y, x, l->w, l->b, scratch + relu_floats(l, B), B, l->C, l->H, l->W, l->O, l->K, l->stride,
                      l->bl);
    if (l->relu) out_relu(l->y, (size_t)B * layer_out_floats(l));
}

static void lc_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    dy = relu_grad(l, dy, B, scratch);
    lc_backward_layout(dx, l->dw, l->db, dy, x, l->fb, scratch + relu_floats(l, B), B, l->C, l->H, l->W, l->O, l->K,
                       l->stride, l->bl);
}

void layer_lc_file_order(const Layer *l, const float *pbase, const float *fbase, const float *psrc, const float *fsrc,
                         float *params, float *fixed) {
    size_t nk = (size_t)l->OH * l->OW * l->O;
    ptrdiff_t w = l->w - pbase;
    if (psrc) lc_kernels_convert(params + w, psrc + w, nk, l->C, l->K, 1);
    if (fsrc && l->fb != l->w) { /* fa: the feedback, in the fixed buffer */
        ptrdiff_t f = l->fb - fbase;
        lc_kernels_convert(fixed + f, fsrc + f, nk, l->C, l->K, 1);
    }
}

const LayerOps LAYER_LC = {"lc", lc_fwd, lc_bwd, lc_n_params, lc_layer_scratch, NULL};

/* ---- maxpool: 2x2, stride 2 (+ ReLU); apool: adaptive pools ---- */

static size_t no_params(const Layer *l) {
    (void)l;
    return 0;
}

static size_t no_scratch(const Layer *l, int B) {
    (void)l, (void)B;
    return 0;
}

/* Sets up a pool of (C, H, W) to (C, OH, OW) with room for its winners. */
static int pool_init(Layer *l, const LayerOps *ops, int C, int H, int W, int OH, int OW, int max_batch) {
    memset(l, 0, sizeof *l);
    l->ops = ops, l->C = l->O = C, l->H = H, l->W = W, l->OH = OH, l->OW = OW;
    if (C < 1 || OH < 1 || OW < 1) return -1;
    l->arg = malloc((size_t)max_batch * layer_out_floats(l) * sizeof(int));
    return l->arg ? alloc_out(l, max_batch) : -1;
}

int layer_maxpool_init(Layer *l, int C, int H, int W, int relu, int max_batch) {
    int r = pool_init(l, &LAYER_MAXPOOL, C, H, W, H / 2, W / 2, max_batch);
    l->relu = relu;
    return r;
}

int layer_apool_init(Layer *l, int C, int H, int W, int n, int amax, int max_batch) {
    if (n > H || n > W) return -1;
    int r = pool_init(l, &LAYER_APOOL, C, H, W, n, n, max_batch);
    l->K = n, l->amax = amax;
    return r;
}

/*
 * maxpool_fwd over a batch-last x (Layer.bl's LC_IN_BL): per chunk, output pixel and plane,
 * the four input rows of the chunk's images side by side, as maxpool2_relu_forward and
 * maxpool2_forward take them image by image (the same floats, the same first winner in
 * reading order). y batch-last (LC_OUT_BL), or made batch-last in scratch and transposed.
 * arg (batch-last): the winner's place in its window (0..3), plus 4 where the ReLU took the
 * output to 0 (no gradient passes).
 */
/* the maxima of four rows of n images into y (ReLU after + bv with relu), with the winners'
   codes where code is not NULL (one loop per case: each vectorises) */
MULTIVERSION static void pool4_rows(float *restrict y, int *restrict code, const float *restrict r00,
                                    const float *restrict r01, const float *restrict r10, const float *restrict r11,
                                    int n, int relu, float bv) {
#define POOL4_WINNER                                                                                                   \
    float best = isgreater(r00[i], -FLT_MAX) ? r00[i] : -FLT_MAX;                                                      \
    int k = 0, g;                                                                                                      \
    g = isgreater(r01[i], best), k = g ? 1 : k, best = g ? r01[i] : best;                                              \
    g = isgreater(r10[i], best), k = g ? 2 : k, best = g ? r10[i] : best;                                              \
    g = isgreater(r11[i], best), k = g ? 3 : k, best = g ? r11[i] : best;
    if (code && relu)
        for (int i = 0; i < n; i++) {
            POOL4_WINNER
            best += bv;
            y[i] = best > 0.0f ? best : 0.0f, code[i] = k | (best > 0.0f ? 0 : 4);
        }
    else if (code)
        for (int i = 0; i < n; i++) {
            POOL4_WINNER
            y[i] = best, code[i] = k;
        }
    else
        for (int i = 0; i < n; i++) {
            float u = r00[i] > r01[i] ? r00[i] : r01[i], v = r10[i] > r11[i] ? r10[i] : r11[i], m = u > v ? u : v;
            if (relu) m += bv, m = m > 0.0f ? m : 0.0f;
            y[i] = m;
        }
#undef POOL4_WINNER
}

/* the gradient dy of n images added to the winners among four rows (codes of pool4_rows) */
MULTIVERSION static void unpool4_rows(float *restrict r00, float *restrict r01, float *restrict r10,
                                      float *restrict r11, const int *restrict code, const float *restrict dy, int n) {
    for (int i = 0; i < n; i++) {
        int k = code[i];
        float v = k & 4 ? 0.0f : dy[i];
        k &= 3;
        r00[i] = k == 0 ? r00[i] + v : r00[i], r01[i] = k == 1 ? r01[i] + v : r01[i];
        r10[i] = k == 2 ? r10[i] + v : r10[i], r11[i] = k == 3 ? r11[i] + v : r11[i];
    }
}

static void maxpool_bl_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    int C = l->C, W = l->W, PW = l->OW, P = l->OH * PW, obl = l->bl & LC_OUT_BL, relu = l->relu;
    float *y = obl ? l->y : scratch;
    for (int n0 = 0, bc; n0 < B; n0 += bc) {
        bc = B - n0 < LC_BL_CHUNK ? B - n0 : LC_BL_CHUNK;
        size_t CB = (size_t)C * bc;
        const float *xc = x + (size_t)n0 * C * l->H * W;
        for (int p = 0; p < P; p++)
            for (int c = 0; c < C; c++) {
                const float *r00 = xc + ((size_t)(p / PW * 2) * W + p % PW * 2) * CB + (size_t)c * bc, *r01 = r00 + CB,
                            *r10 = r00 + W * CB, *r11 = r10 + CB;
                size_t at = (size_t)n0 * C * P + ((size_t)p * C + c) * bc;
                pool4_rows(y + at, train ? l->arg + at : NULL, r00, r01, r10, r11, bc, relu, l->b ? l->b[c] : 0.0f);
            }
    }
    if (!obl) lc_relayout(l->y, scratch, B, C, P, 1);
}

/* maxpool_bwd of maxpool_bl_fwd: dx (batch-last) += dy at the winners (where y > 0 with relu),
   dy made batch-last in scratch unless it is */
static void maxpool_bl_bwd(Layer *l, const float *dy, float *dx, int B, float *scratch) {
    int C = l->C, W = l->W, PW = l->OW, P = l->OH * PW;
    if (!(l->bl & LC_OUT_BL)) lc_relayout(scratch, dy, B, C, P, 0), dy = scratch;
    for (int n0 = 0, bc; n0 < B; n0 += bc) {
        bc = B - n0 < LC_BL_CHUNK ? B - n0 : LC_BL_CHUNK;
        size_t CB = (size_t)C * bc;
        float *xc = dx + (size_t)n0 * C * l->H * W;
        for (int p = 0; p < P; p++)
            for (int c = 0; c < C; c++) {
                float *r00 = xc + ((size_t)(p / PW * 2) * W + p % PW * 2) * CB + (size_t)c * bc, *r01 = r00 + CB,
                      *r10 = r00 + W * CB, *r11 = r10 + CB;
                size_t at = (size_t)n0 * C * P + ((size_t)p * C + c) * bc;
                unpool4_rows(r00, r01, r10, r11, l->arg + at, dy + at, bc);
            }
    }
}

/* maxpool: a batch-last input with a batch-first output stages it in scratch */
static size_t maxpool_scratch(const Layer *l, int B) {
    return (l->bl & LC_IN_BL) && !(l->bl & LC_OUT_BL) ? (size_t)B * layer_out_floats(l) : 0;
}

static void maxpool_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    size_t ni = layer_in_floats(l), no = layer_out_floats(l);
    assert(!l->b || (!train && l->relu));
    if (l->bl & LC_IN_BL) {
        maxpool_bl_fwd(l, x, B, train, scratch);
        return;
    }
    for (int n = 0; n < B; n++) {
        int *arg = train ? l->arg + n * no : NULL;
        if (l->relu) maxpool2_relu_forward(l->y + n * no, arg, x + n * ni, (size_t)l->H * l->W, l->b, l->C, l->H, l->W);
        else maxpool2_forward(l->y + n * no, arg, x + n * ni, l->C, l->H, l->W);
    }
}

static void maxpool_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    (void)x, (void)scratch;
    size_t ni = layer_in_floats(l), no = layer_out_floats(l);
    if (l->bl & LC_IN_BL) {
        if (dx) maxpool_bl_bwd(l, dy, dx, B, scratch);
        return;
    }
    for (int n = 0; dx && n < B; n++) {
        if (l->relu) maxpool2_relu_backward(dx + n * ni, dy + n * no, l->y + n * no, l->arg + n * no, l->C, l->H, l->W);
        else maxpool2_backward(dx + n * ni, dy + n * no, l->arg + n * no, l->C, l->H, l->W);
    }
}

const LayerOps LAYER_MAXPOOL = {"maxpool", maxpool_fwd, maxpool_bwd, no_params, maxpool_scratch, NULL};

static void apool_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)scratch;
    size_t ni = layer_in_floats(l), no = layer_out_floats(l);
    for (int n = 0; n < B; n++) {
        if (l->amax)
            adaptive_maxpool_forward(l->y + n * no, train ? l->arg + n * no : NULL, x + n * ni, l->C, l->H, l->W, l->K);
        else adaptive_avgpool_forward(l->y + n * no, x + n * ni, l->C, l->H, l->W, l->K);
    }
}

static void apool_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    (void)x, (void)scratch;
    size_t ni = layer_in_floats(l), no = layer_out_floats(l);
    for (int n = 0; dx && n < B; n++) {
        if (l->amax) adaptive_maxpool_backward(dx + n * ni, dy + n * no, l->arg + n * no, l->C, l->K);
        else adaptive_avgpool_backward(dx + n * ni, dy + n * no, l->C, l->H, l->W, l->K);
    }
}

const LayerOps LAYER_APOOL = {"apool", apool_fwd, apool_bwd, no_params, no_scratch, NULL};

/* ---- bn: BatchNorm2d (+ ReLU) ---- */

int layer_bn_init(Layer *l, int C, int H, int W, int relu, int max_batch) {
    memset(l, 0, sizeof *l);
    l->ops = &LAYER_BN, l->C = l->O = C, l->H = l->OH = H, l->W = l->OW = W, l->relu = relu;
    l->momentum = 0.1, l->eps = 1e-5;
    l->mean = malloc((size_t)C * sizeof(double)), l->invstd = malloc((size_t)C * sizeof(double));
    l->affine = malloc(3 * (size_t)C * sizeof(float));
    if (!l->mean || !l->invstd || !l->affine) return -1;
    return alloc_out(l, max_batch);
}

static size_t bn_n_params(const Layer *l) { return 2 * (size_t)l->C; }

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

/*
 * The rows of a bn layer's activations in memory order: at (offset), len, c (plane).
 * Batch-first (B, C, H, W): B C rows, a plane of one image (H W floats). Batch-last (bl; lc.h:
 * chunks of LC_BL_CHUNK images, each (H, W, C, Bc)): per chunk H W C rows, a pixel's plane
 * over the chunk's images (Bc floats). A plane's first float is at c times the first row's
 * length either way. Use: BnRows it = bn_rows_begin(l, B); do { ... } while (bn_rows_next(&it));
 */
typedef struct BnRows {
    size_t at, len, left, per;
    int c, C, n0, B, bl;
} BnRows;

static BnRows bn_rows_begin(const Layer *l, int B) { /* B >= 1 (bn_fwd, bn_bwd_any return on 0) */
    size_t hw = (size_t)l->H * l->W;
    BnRows it = {0, hw, 0, (size_t)B * l->C, 0, l->C, 0, B, l->bl != 0};
    if (it.bl) it.per = hw * l->C, it.len = (size_t)(B < LC_BL_CHUNK ? B : LC_BL_CHUNK);
    it.left = it.per;
    return it;
}

/* Moves it to the next row: 0 past the last. */
static inline int bn_rows_next(BnRows *it) {
    it->at += it->len;
    if (++it->c == it->C) it->c = 0;
    if (--it->left) return 1;
    if (!it->bl || (it->n0 += LC_BL_CHUNK) >= it->B) return 0;
    it->len = (size_t)(it->B - it->n0 < LC_BL_CHUNK ? it->B - it->n0 : LC_BL_CHUNK), it->left = it->per;
    return 1;
}

/* The batch's mean and biased variance of every plane in one pass over x (B, C, H, W): sums
 * shifted by each plane's first value (no cancellation while the mean is within a few
 * standard deviations of it); moves the running statistics. */
static void bn_batch_stats(Layer *l, const float *x, int B) {
    size_t N = (size_t)B * l->H * l->W;
    double *s1 = l->mean, *s2 = l->invstd; /* the sums, then the statistics */
    for (int c = 0; c < l->C; c++) s1[c] = s2[c] = 0.0;
    BnRows it = bn_rows_begin(l, B);
    size_t first = it.len; /* plane c's first float at c first */
    do bn_row_moments(x + it.at, it.len, x[it.c * first], &s1[it.c], &s2[it.c]);
    while (bn_rows_next(&it));
    for (int c = 0; c < l->C; c++) {
        double d = s1[c] / (double)N, var = s2[c] / (double)N - d * d, m = l->momentum;
        var = var > 0.0 ? var : 0.0;
        double mean = x[c * first] + d;
        l->mean[c] = mean, l->invstd[c] = 1.0 / sqrt(var + l->eps);
        l->run_mean[c] = (float)((1.0 - m) * l->run_mean[c] + m * mean);
        l->run_var[c] = (float)((1.0 - m) * l->run_var[c] + m * (N > 1 ? var * (double)N / (double)(N - 1) : var));
    }
}

/* Evaluation: the statistics are the running ones. */
static void bn_eval_stats(Layer *l) {
    for (int c = 0; c < l->C; c++) l->mean[c] = l->run_mean[c], l->invstd[c] = 1.0 / sqrt((double)l->run_var[c] + l->eps);
}

static void bn_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)scratch;
    if (B < 1) return; /* no rows (no driver calls it so; the statistics would be 0 / 0) */
    if (train) bn_batch_stats(l, x, B);
    else bn_eval_stats(l);
    BnRows it = bn_rows_begin(l, B);
    do bn_row_norm(l->y + it.at, x + it.at, it.len, (float)l->mean[it.c], (float)(l->invstd[it.c] * l->w[it.c]),
                   l->b[it.c], l->relu);
    while (bn_rows_next(&it));
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

/* dx += ka g + kx (x - m) + k0 over a row of n, g as above; set: dx <- 0 + that, dx not read. */
MULTIVERSION static void bn_row_dx(float *dx, const float *x, const float *y, const float *dy, size_t n, float m,
                                   int relu, float ka, float kx, float k0, int set) {
    if (set)
        for (size_t i = 0; i < n; i++) {
            float g = relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
            dx[i] = 0.0f + (ka * g + kx * (x[i] - m) + k0);
        }
    else
        for (size_t i = 0; i < n; i++) {
            float g = relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
            dx[i] += ka * g + kx * (x[i] - m) + k0;
        }
}

/* With xh = (x - m) is, N = B H W: dw += sum g xh, db += sum g,
 * dx += w is / N (N g - sum g - xh sum g xh) (PyTorch's batch_norm_backward, training mode);
 * set: dx <- that. g: dy, 0 where the fused ReLU's y (or the gate) is not > 0. */
static void bn_bwd_any(Layer *l, const float *x, const float *dy, float *dx, int B, int set) {
    enum { CMAX = 1024 };
    assert(!(l->gate && l->relu)); /* the gate replaces the fused ReLU's mask */
    if (B < 1) return;
    const float *gy = l->gate ? l->gate : l->y;
    int relu = l->relu || l->gate;
    double N = (double)B * l->H * l->W, sg[CMAX], sgx[CMAX];
    for (int c0 = 0; c0 < l->C; c0 += CMAX) { /* planes in groups of CMAX (resnet_width 1024 x 4) */
        int nc = l->C - c0 < CMAX ? l->C - c0 : CMAX;
        for (int c = 0; c < nc; c++) sg[c] = sgx[c] = 0.0;
        BnRows it = bn_rows_begin(l, B);
        do
            if (it.c >= c0 && it.c < c0 + nc)
                bn_row_grad_sums(x + it.at, gy + it.at, dy + it.at, it.len, (float)l->mean[it.c], relu, &sg[it.c - c0],
                                 &sgx[it.c - c0]);
        while (bn_rows_next(&it));
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
        it = bn_rows_begin(l, B);
        do {
            int c = it.c;
            if (c >= c0 && c < c0 + nc)
                bn_row_dx(dx + it.at, x + it.at, gy + it.at, dy + it.at, it.len, (float)l->mean[c], relu, ka[c - c0],
                          kx[c - c0], k0[c - c0], set);
        } while (bn_rows_next(&it));
    }
}

static void bn_bwd(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    (void)scratch;
    bn_bwd_any(l, x, dy, dx, B, 0);
}

static void bn_bwd_set(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch) {
    (void)scratch;
    bn_bwd_any(l, x, dy, dx, B, 1);
}

const LayerOps LAYER_BN = {"bn", bn_fwd, bn_bwd, bn_n_params, no_scratch, bn_bwd_set};

void layer_conv_bn_forward(Layer *c, Layer *bn, const float *x, int B, int train, float *scratch) {
    if (train || c->ops != &LAYER_CONV || c->relu || !layer_conv_wino(c)) {
        c->ops->forward(c, x, B, train, scratch);
        bn->ops->forward(bn, c->y, B, train, scratch);
        return;
    }
    bn_eval_stats(bn);
    float *m = bn->affine, *a = m + bn->C, *b = a + bn->C; /* bn_fwd's arguments to bn_row_norm */
    for (int o = 0; o < bn->C; o++) m[o] = (float)bn->mean[o], a[o] = (float)(bn->invstd[o] * bn->w[o]), b[o] = bn->b[o];
    WinoAffine aff = {m, a, b, bn->relu};
    wino_form(c)->forward(c->w, c->b, c->C, c->O, c->H, c->W, x, B, bn->y, &aff, scratch + relu_floats(c, B));
}

/* ---- gap: global average pool ---- */

int layer_gap_init(Layer *l, int C, int H, int W, int max_batch) {
    memset(l, 0, sizeof *l);
    l->ops = &LAYER_GAP, l->C = l->O = C, l->H = H, l->W = W, l->OH = l->OW = 1;
    return alloc_out(l, max_batch);
}

static void gap_fwd(Layer *l, const float *x, int B, int train, float *scratch) {
    (void)train, (void)scratch;
    size_t hw = (size_t)l->H * l->W;
    if (l->bl) { /* batch-last input (lc.h): each (n, c)'s pixels in order, as below */
        for (int n = 0; n < B; n++)
            for (int c = 0; c < l->C; c++) {
                double s = 0.0;
                for (size_t p = 0; p < hw; p++) s += x[lc_bl_index(B, l->C, (int)hw, n, c, (int)p)];
                l->y[(size_t)n * l->C + c] = (float)(s / (double)hw);
            }
        return;
    }
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
        if (l->bl)
            for (size_t p = 0; p < hw; p++) dx[lc_bl_index(B, l->C, (int)hw, (int)(j / l->C), (int)(j % l->C), (int)p)] += g;
        else
            for (size_t i = 0; i < hw; i++) dx[j * hw + i] += g;
    }
}

const LayerOps LAYER_GAP = {"gap", gap_fwd, gap_bwd, no_params, no_scratch, NULL};

/* ---- chains ---- */

/* Points every layer whose output holds the batch at images n0 on (off > 0), or back (off < 0). */
static void chain_shift(Layer *ls, int n, int B, int n0, int off) {
    for (int i = 0; i < n; i++) {
        if (ls[i].ny < B) continue; /* a group's output, written afresh per group */
        ptrdiff_t d = (ptrdiff_t)off * n0 * (ptrdiff_t)layer_out_floats(&ls[i]);
        ls[i].y += d;
        if (ls[i].arg) ls[i].arg += d;
    }
}

void layer_chain_forward(Layer *ls, int n, const float *x, int B, int train, float *scratch) {
    layer_chain_forward_groups(ls, n, x, B, B, train, scratch);
}

/* 1 if some layer of the chain keeps batch-last activations (whose chunks a group would cut) */
static int chain_has_bl(const Layer *ls, int n) {
    for (int i = 0; i < n; i++)
        if (ls[i].bl) return 1;
    return 0;
}

void layer_chain_forward_groups(Layer *ls, int n, const float *x, int B, int G, int train, float *scratch) {
    assert(G >= B || !chain_has_bl(ls, n));
    for (int n0 = 0; n0 < B; n0 += G) {
        int g = B - n0 < G ? B - n0 : G;
        if (n0) chain_shift(ls, n, B, n0, 1);
        for (int i = 0; i < n; i++)
            ls[i].ops->forward(&ls[i], i ? ls[i - 1].y : x + n0 * layer_in_floats(&ls[0]), g, train, scratch);
        if (n0) chain_shift(ls, n, B, n0, -1);
    }
}

void layer_chain_backward(Layer *ls, int n, const float *x, const float *dy, int B, float *g0, float *g1,
                          float *scratch) {
    layer_chain_backward_groups(ls, n, x, dy, B, B, g0, g1, scratch);
}

void layer_chain_backward_groups(Layer *ls, int n, const float *x, const float *dy, int B, int G, float *g0, float *g1,
                                 float *scratch) {
    assert(G >= B || !chain_has_bl(ls, n));
    for (int n0 = 0; n0 < B; n0 += G) {
        int g = B - n0 < G ? B - n0 : G;
        if (n0) chain_shift(ls, n, B, n0, 1);
        float *buf[2] = {g0, g1};
        const float *d = dy + n0 * layer_out_floats(&ls[n - 1]);
        for (int i = n - 1; i >= 0; i--) {
            /* a group's output is only the next layer's forward input: never read backward */
            assert(!i || ls[i - 1].ny >= B || (!ls[i - 1].relu && (ls[i].ops == &LAYER_MAXPOOL || ls[i].ops == &LAYER_APOOL)));
            float *dx = i ? buf[i & 1] : NULL; /* never the buffer d is in: d is buf[(i + 1) & 1] or dy */
            const float *xi = i ? ls[i - 1].y : x + n0 * layer_in_floats(&ls[0]);
            if (dx) layer_backward_set(&ls[i], xi, d, dx, g, scratch);
            else ls[i].ops->backward(&ls[i], xi, d, dx, g, scratch);
            d = dx;
        }
        if (n0) chain_shift(ls, n, B, n0, -1);
    }
}

size_t layer_chain_scratch(const Layer *ls, int n, int B) {
    size_t s = 0;
    for (int i = 0; i < n; i++) {
        size_t t = ls[i].ops->scratch(&ls[i], B);
        s = t > s ? t : s;
    }
    return s;
}

size_t layer_chain_act(const Layer *ls, int n) {
    size_t a = 0;
    for (int i = 0; i < n; i++) {
        size_t in = layer_in_floats(&ls[i]), out = layer_out_floats(&ls[i]);
        a = in > a ? in : a, a = out > a ? out : a;
    }
    return a;
}
