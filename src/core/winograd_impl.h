/*
 * winograd_impl.h: what winograd.c (F(2x2, 3x3)) and winograd4.c (F(4x4, 3x3)) share: the
 * geometry test, the chunk of images, the strides of the transformed tiles' streams, the edge
 * masks and the products per element of the transformed tile. Private to those two files.
 */
#ifndef SYNSWEEP_WINOGRAD_IMPL_H
#define SYNSWEEP_WINOGRAD_IMPL_H

#include <stddef.h>

#include "blas.h"
#include "winograd.h"

/* 3x3, stride 1, padding 1, sides that the output tile m divides. */
static inline int wino_fits(int m, int C, int H, int W, int K, int stride, int pad) {
    return C >= 1 && K == 3 && stride == 1 && pad == 1 && H >= m && W >= m && H % m == 0 && W % m == 0;
}

/* Images per chunk whose nx (C + O) T transformed floats each fill WINO_CHUNK_FLOATS (1 to B). */
static inline int wino_images(size_t per, int B) {
    size_t nb = WINO_CHUNK_FLOATS / (per ? per : 1);
    return nb < 1 ? 1 : nb > (size_t)B ? (B > 0 ? B : 1) : (int)nb;
}

static inline size_t wino_up16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Floats between the elements xi of a chunk's transformed tiles holding n floats each: n
 * rounded up to 4 KiB plus 64 bytes, so that the streams a transform reads or writes fall in
 * different cache sets (at a multiple of 4 KiB they would evict one another). */
static inline size_t wino_xi_stride(size_t n) { return ((n + 1023) & ~(size_t)1023) + 16; }

/* lm[f] <- 0 at tx = 0, else 1; rm[f] <- 0 at tx = TW - 1, else 1 (the tiles whose first, or
 * last, column is the zero border). */
static inline void wino_edge_masks(int T, int TW, float *lm, float *rm) {
    for (int f = 0; f < T; f++) lm[f] = f % TW ? 1.0f : 0.0f, rm[f] = f % TW != TW - 1 ? 1.0f : 0.0f;
}

/* A layer's sizes for the form with output tiles m x m (nx = (m + 2)^2 elements a tile) and
 * chunks of `chunk` images, and its scratch: two blocks of kernels (U, or the feedback F and
 * dU), the chunk's input-side tiles V (nx streams sv apart), its output-side tiles (M or D, nx
 * streams so apart), then the form's own buffer. */
typedef struct WinoDims {
    int nx, T, chunk;      /* elements a tile, tiles a plane, images a chunk */
    size_t HW, ni, no, oc; /* floats of a plane, an input image, an output image; O C */
    size_t sv, so;         /* floats between the streams of V and of M or D */
} WinoDims;

static inline WinoDims wino_dims(int m, int C, int O, int H, int W, int chunk) {
    WinoDims d;
    d.nx = (m + 2) * (m + 2), d.T = (H / m) * (W / m), d.chunk = chunk;
    d.HW = (size_t)H * W, d.ni = (size_t)C * d.HW, d.no = (size_t)O * d.HW, d.oc = (size_t)O * C;
    d.sv = wino_xi_stride((size_t)C * chunk * d.T), d.so = wino_xi_stride((size_t)O * chunk * d.T);
    return d;
}

/* Scratch floats before the form's own buffer. */
static inline size_t wino_parts_floats(const WinoDims *d) {
    return 2 * wino_up16((size_t)d->nx * d->oc) + (size_t)d->nx * (d->sv + d->so);
}

/* The scratch's parts: k0, k1 (kernels), v, o (tiles); returns the form's buffer. */
static inline float *wino_parts(float *scratch, const WinoDims *d, float **k0, float **k1, float **v, float **o) {
    *k0 = scratch, *k1 = *k0 + wino_up16((size_t)d->nx * d->oc), *v = *k1 + wino_up16((size_t)d->nx * d->oc);
    *o = *v + (size_t)d->nx * d->sv;
    return *o + (size_t)d->nx * d->so;
}

/* M_xi (O, nc) <- U_xi (O, C) * V_xi (C, nc) for the nx elements xi (U_xi at u + xi O C, V_xi at
 * v + xi sv, M_xi at m + xi sm). */
static inline void wino_products(int nx, int O, int C, int nc, const float *u, const float *v, size_t sv, float *m,
                                 size_t sm) {
    size_t oc = (size_t)O * C;
    for (int xi = 0; xi < nx; xi++)
        sgemm_ld(0, 0, O, nc, C, 1.0f, u + xi * oc, C, v + xi * sv, nc, 0.0f, m + xi * sm, nc);
}

/* dU_xi (O, C) += D_xi (O, nc) * V_xi^T; then, if f, dV_xi (C, nc) <- F_xi^T (C, O) * D_xi into
 * V's place. */
static inline void wino_grad_products(int nx, int O, int C, int nc, const float *d, size_t sd, float *v, size_t sv,
                                      float *du, const float *f) {
    size_t oc = (size_t)O * C;
    for (int xi = 0; xi < nx; xi++)
        sgemm_ld(0, 1, O, C, nc, 1.0f, d + xi * sd, nc, v + xi * sv, nc, 1.0f, du + xi * oc, C);
    for (int xi = 0; f && xi < nx; xi++)
        sgemm_ld(1, 0, C, nc, O, 1.0f, f + xi * oc, C, d + xi * sd, nc, 0.0f, v + xi * sv, nc);
}

#endif
