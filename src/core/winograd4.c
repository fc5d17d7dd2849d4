/*
 * winograd4.c: 3x3 stride-1 convolutions by F(4x4, 3x3) (winograd.h), on maps whose sides are
 * multiples of 4. Each 4x4 output tile is A^T [(G g G^T) . (B^T d B)] A of its 6x6 input tile
 * d (padded rows 4ty .. 4ty+5, columns 4tx .. 4tx+5): 36 products per 16 outputs where
 * F(2x2, 3x3) takes 64 and the direct sums 144. Lavin and Gray's matrices, points 0, 1, -1,
 * 2, -2 and infinity:
 *
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 *
 * Layout as in winograd.c: element xi = 6 i + k of every tile of a chunk in one stream
 * (V (36, C, cols)), tile f = ty * TW + tx of a plane in a flat loop. The input plane is split
 * into 16 arrays by padded row q mod 4 (q = x row + 1) and x column mod 4, (TH + 1) * TW floats
 * each at q / 4 and column / 4, so tile f's row i is array class i mod 4 at f + (i / 4) TW and
 * its columns 1 .. 4 are the 4 column classes at f; columns 0 and 5 are the neighbours' (class
 * 3 at f - 1, class 0 at f + 1), zero at the map's left and right edges.
 * Rounding: G's sixths and 24ths are inexact, and the transforms weigh inputs by up to 8 and
 * sum more terms, so outputs differ from the direct sums by more ulps than F(2x2)'s (test_resnet
 * bounds both against double sums).
 */
#include "winograd.h"

#include <string.h>

#include "clones.h"
#include "winograd_impl.h"

int wino4_applies(int C, int H, int W, int K, int stride, int pad) { return wino_fits(4, C, H, W, K, stride, pad); }

int wino4_chunk(int C, int O, int H, int W, int B) { return wino_images((size_t)36 * (C + O) * (H / 4) * (W / 4), B); }

/* Floats of one split array: (TH + 1) * TW, 16 either side (the array starts 16 in). */
static size_t split_floats(int H, int W) { return wino_up16((size_t)(H / 4 + 1) * (W / 4)) + 32; }

/* Buffer of the transforms: 16 split arrays, the edge masks, then 36 nc floats of tiles (nc:
 * a chunk's tiles; out_tiles, dy_tiles, dx_tiles). */
static size_t buf_floats(int H, int W, size_t nc) {
    size_t T = (size_t)(H / 4) * (W / 4);
    return 16 * split_floats(H, W) + 2 * wino_up16(T) + 36 * nc + 16;
}

static float *tile_buf(float *buf, int H, int W) {
    return buf + 16 * split_floats(H, W) + 2 * wino_up16((size_t)(H / 4) * (W / 4));
}

size_t wino4_scratch(int C, int O, int H, int W, int B) {
    WinoDims d = wino_dims(4, C, O, H, W, wino4_chunk(C, O, H, W, B));
    return wino_parts_floats(&d) + buf_floats(H, W, (size_t)d.chunk * d.T);
}

/* ---- the 1-D transforms (6 or 4 named floats in, named lvalues out) ---- */

/* t = B^T d */
#define BT6(d0, d1, d2, d3, d4, d5, t0, t1, t2, t3, t4, t5)                                             \
    do {                                                                                                  \
        float a_ = (d4) - 4.0f * (d2), b_ = (d3) - 4.0f * (d1), c_ = (d4) - (d2), e_ = 2.0f * ((d3) - (d1)); \
        t0 = 4.0f * (d0) - 5.0f * (d2) + (d4), t1 = a_ + b_, t2 = a_ - b_, t3 = c_ + e_, t4 = c_ - e_;   \
        t5 = 4.0f * (d1) - 5.0f * (d3) + (d5);                                                           \
    } while (0)

/* o = A^T m */
#define AT6(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)                                                     \
    do {                                                                                                  \
        float s12_ = (m1) + (m2), d12_ = (m1) - (m2), s34_ = (m3) + (m4), d34_ = (m3) - (m4);            \
        o0 = (m0) + s12_ + s34_, o1 = d12_ + 2.0f * d34_, o2 = s12_ + 4.0f * s34_;                       \
        o3 = d12_ + 8.0f * d34_ + (m5);                                                                  \
    } while (0)

/* D = A z (the adjoint of AT6) */
#define A6(z0, z1, z2, z3, D0, D1, D2, D3, D4, D5)                                                      \
    do {                                                                                                  \
        float s02_ = (z0) + (z2), s13_ = (z1) + (z3), q02_ = (z0) + 4.0f * (z2);                          \
        float q13_ = 2.0f * (z1) + 8.0f * (z3);                                                           \
        D0 = (z0), D1 = s02_ + s13_, D2 = s02_ - s13_, D3 = q02_ + q13_, D4 = q02_ - q13_, D5 = (z3);    \
    } while (0)

/* e = B w (the adjoint of BT6) */
#define B6(w0, w1, w2, w3, w4, w5, e0, e1, e2, e3, e4, e5)                                              \
    do {                                                                                                  \
        float s12_ = (w1) + (w2), d21_ = (w2) - (w1), s34_ = (w3) + (w4), d43_ = (w4) - (w3);            \
        e0 = 4.0f * (w0), e1 = 4.0f * d21_ + 2.0f * d43_ + 4.0f * (w5);                                   \
        e2 = -5.0f * (w0) - 4.0f * s12_ - s34_, e3 = -d21_ - 2.0f * d43_ - 5.0f * (w5);                   \
        e4 = (w0) + s12_ + s34_, e5 = (w5);                                                               \
    } while (0)

/* u = G g */
#define G3(g0, g1, g2, u0, u1, u2, u3, u4, u5)                                                          \
    do {                                                                                                  \
        float s_ = (g0) + (g2), a_ = (g0) * (1.0f / 24) + (g2) * (1.0f / 6), b_ = (g1) * (1.0f / 12);     \
        u0 = 0.25f * (g0), u1 = -(s_ + (g1)) * (1.0f / 6), u2 = -(s_ - (g1)) * (1.0f / 6);               \
        u3 = a_ + b_, u4 = a_ - b_, u5 = (g2);                                                           \
    } while (0)

/* g = G^T x (the adjoint of G3) */
#define GT6(x0, x1, x2, x3, x4, x5, g0, g1, g2)                                                         \
    do {                                                                                                  \
        float s12_ = (x1) + (x2), d12_ = (x1) - (x2), s34_ = (x3) + (x4), d34_ = (x3) - (x4);            \
        g0 = 0.25f * (x0) - s12_ * (1.0f / 6) + s34_ * (1.0f / 24);                                      \
        g1 = -d12_ * (1.0f / 6) + d34_ * (1.0f / 12);                                                    \
        g2 = (s34_ - s12_) * (1.0f / 6) + (x5);                                                          \
    } while (0)

/* ---- kernels ---- */

/* u (36, O*C) <- G g G^T of each kernel g of w (O*C, 3, 3). */
static void kernels_in(const float *w, size_t oc, float *u) {
    for (size_t k = 0; k < oc; k++) {
        const float *g = w + 9 * k;
        float q[6][3];
        for (int j = 0; j < 3; j++) G3(g[j], g[3 + j], g[6 + j], q[0][j], q[1][j], q[2][j], q[3][j], q[4][j], q[5][j]);
        for (int i = 0; i < 6; i++) {
            float *r = u + (size_t)6 * i * oc + k;
            G3(q[i][0], q[i][1], q[i][2], r[0], r[oc], r[2 * oc], r[3 * oc], r[4 * oc], r[5 * oc]);
        }
    }
}

/* dw (O*C, 3, 3) += G^T X G of each X of du (36, O*C): the adjoint of kernels_in. */
static void kernels_out(const float *du, size_t oc, float *dw) {
    for (size_t k = 0; k < oc; k++) {
        float r[3][6];
        for (int j = 0; j < 6; j++) {
            const float *x = du + (size_t)j * oc + k;
            GT6(x[0], x[6 * oc], x[12 * oc], x[18 * oc], x[24 * oc], x[30 * oc], r[0][j], r[1][j], r[2][j]);
        }
        float *g = dw + 9 * k;
        for (int i = 0; i < 3; i++) {
            float a, b, c;
            GT6(r[i][0], r[i][1], r[i][2], r[i][3], r[i][4], r[i][5], a, b, c);
            g[3 * i] += a, g[3 * i + 1] += b, g[3 * i + 2] += c;
        }
    }
}

/* ---- per-plane transforms (one image, one channel; vs: floats between streams xi) ---- */

/* s (16 arrays ss apart, array 4 p + j starting 16 in) <- plane x (H, W) split as above. */
MULTIVERSION static void split_plane(const float *restrict x, int H, int W, float *restrict s, size_t ss) {
    int TW = W / 4, TH = H / 4;
    for (int a = 0; a < 16; a++) {
        float *sa = s + a * ss;
        memset(sa, 0, 16 * sizeof(float)), memset(sa + 16 + (size_t)(TH + 1) * TW, 0, 16 * sizeof(float));
    }
    for (int j = 0; j < 4; j++) {
        memset(s + j * ss + 16, 0, (size_t)TW * sizeof(float));                             /* q 0: x row -1 */
        memset(s + (4 + j) * ss + 16 + (size_t)TH * TW, 0, (size_t)TW * sizeof(float));     /* q H+1: x row H */
        memset(s + (8 + j) * ss + 16 + (size_t)TH * TW, 0, (size_t)TW * sizeof(float));     /* read as the last */
        memset(s + (12 + j) * ss + 16 + (size_t)TH * TW, 0, (size_t)TW * sizeof(float));    /* tile's masked right */
    }
    for (int r = 0; r < H; r++) {
        const float *xr = x + (size_t)r * W;
        float *s0 = s + (size_t)(4 * ((r + 1) & 3)) * ss + 16 + (size_t)((r + 1) >> 2) * TW;
        float *s1 = s0 + ss, *s2 = s1 + ss, *s3 = s2 + ss;
        for (int c = 0; c < W; c += 16) /* the next plane (a chunk's planes are in a row) */
            __builtin_prefetch(xr + (size_t)H * W + c);
        for (int t = 0; t < TW; t++)
            s0[t] = xr[4 * t], s1[t] = xr[4 * t + 1], s2[t] = xr[4 * t + 2], s3[t] = xr[4 * t + 3];
    }
}

/* Row i of tile f: d[i][0 .. 5] from row class p = i mod 4 (arrays cp0 .. cp3) at offset
 * o = (i / 4) TW; the neighbours' columns are read always (within the arrays' 16 floats either
 * side) and replaced by zero at the edges. */
#define LOAD_ROW(i, p, o)                                                                                  \
    do {                                                                                                   \
        float l_ = c##p##3[f + (o)-1], r_ = c##p##0[f + (o) + 1];                                        \
        d[i][0] = l ? l_ : 0.0f, d[i][1] = c##p##0[f + (o)], d[i][2] = c##p##1[f + (o)];                   \
        d[i][3] = c##p##2[f + (o)], d[i][4] = c##p##3[f + (o)], d[i][5] = r ? r_ : 0.0f;                   \
    } while (0)
#define COL_BT(k)                                                                                          \
    BT6(d[0][k], d[1][k], d[2][k], d[3][k], d[4][k], d[5][k], e[0][k], e[1][k], e[2][k], e[3][k], e[4][k], e[5][k])
#define ROW_BT(i)                                                                                          \
    BT6(e[i][0], e[i][1], e[i][2], e[i][3], e[i][4], e[i][5], v[(6 * i) * vs + f], v[(6 * i + 1) * vs + f], \
        v[(6 * i + 2) * vs + f], v[(6 * i + 3) * vs + f], v[(6 * i + 4) * vs + f], v[(6 * i + 5) * vs + f])

/* v (36 streams vs apart) <- B^T d B of every tile d of the split plane s. */
MULTIVERSION static void in_flat(const float *restrict s, size_t ss, int T, int TW, const float *restrict lm,
                                 const float *restrict rm, float *restrict v, size_t vs) {
    const float *c00 = s + 16, *c01 = c00 + ss, *c02 = c01 + ss, *c03 = c02 + ss, *c10 = c03 + ss, *c11 = c10 + ss;
    const float *c12 = c11 + ss, *c13 = c12 + ss, *c20 = c13 + ss, *c21 = c20 + ss, *c22 = c21 + ss, *c23 = c22 + ss;
    const float *c30 = c23 + ss, *c31 = c30 + ss, *c32 = c31 + ss, *c33 = c32 + ss;
IVDEP
    for (int f = 0; f < T; f++) {
        int l = lm[f] != 0.0f, r = rm[f] != 0.0f;
        float d[6][6], e[6][6];
        LOAD_ROW(0, 0, 0); LOAD_ROW(1, 1, 0); LOAD_ROW(2, 2, 0); LOAD_ROW(3, 3, 0);
        LOAD_ROW(4, 0, TW); LOAD_ROW(5, 1, TW);
        COL_BT(0); COL_BT(1); COL_BT(2); COL_BT(3); COL_BT(4); COL_BT(5);
        ROW_BT(0); ROW_BT(1); ROW_BT(2); ROW_BT(3); ROW_BT(4); ROW_BT(5);
    }
}

#define COL_AT(k)                                                                                          \
    AT6(p[k * ms + t], p[(6 + k) * ms + t], p[(12 + k) * ms + t], p[(18 + k) * ms + t], p[(24 + k) * ms + t], \
        p[(30 + k) * ms + t], e[0][k], e[1][k], e[2][k], e[3][k])
#define ROW_AT(a)                                                                                          \
    AT6(e[a][0], e[a][1], e[a][2], e[a][3], e[a][4], e[a][5], o[4 * (a)], o[4 * (a) + 1], o[4 * (a) + 2], \
        o[4 * (a) + 3])

/* The planes (n, o) of images n < nb of an output channel o, for each n 16 tile streams of T
 * floats nt = nb T apart in buf: planes y + n no (H, W) <- A^T m A of their tiles (m[xi * ms +
 * n T + f]) + bias, then the affine (am, aa, ab, relu) if aff; buf: 16 nt floats. One loop over
 * the nb planes' tiles (maps of 8 x 8 have 4 tiles each). */
MULTIVERSION static void out_tiles(const float *restrict m, size_t ms, int nb, int H, int W, float bias, int aff,
                                   float am, float aa, float ab, int relu, float *restrict y, size_t no,
                                   float *restrict buf) {
    int TW = W / 4, T = TW * (H / 4), nt = nb * T;
    const float *p = m;
IVDEP
    for (int t = 0; t < nt; t++) {
        float e[4][6], o[16];
        COL_AT(0); COL_AT(1); COL_AT(2); COL_AT(3); COL_AT(4); COL_AT(5);
        ROW_AT(0); ROW_AT(1); ROW_AT(2); ROW_AT(3);
#pragma GCC unroll 16
        for (int q = 0; q < 16; q++) buf[q * nt + t] = o[q] + bias;
    }
    if (aff && relu)
        for (int t = 0; t < 16 * nt; t++) {
            float r = (buf[t] - am) * aa + ab;
            buf[t] = r > 0.0f ? r : 0.0f;
        }
    else if (aff)
        for (int t = 0; t < 16 * nt; t++) buf[t] = (buf[t] - am) * aa + ab;
    for (int n = 0; n < nb; n++)
        for (int ty = 0; ty < H / 4; ty++)
            for (int a = 0; a < 4; a++) {
                float *yr = y + n * no + (size_t)(4 * ty + a) * W;
                for (int c = 0; c < W && n + 1 < nb; c += 16) __builtin_prefetch(yr + no + c, 1); /* the next plane */
                const float *b0 = buf + (size_t)(4 * a) * nt + n * T + ty * TW, *b1 = b0 + nt, *b2 = b1 + nt;
                const float *b3 = b2 + nt;
                for (int t = 0; t < TW; t++)
                    yr[4 * t] = b0[t], yr[4 * t + 1] = b1[t], yr[4 * t + 2] = b2[t], yr[4 * t + 3] = b3[t];
            }
}

/* dd (36 streams ds apart, image n's tiles at n T) <- A g A^T of each 4x4 tile g of the output
 * gradient planes dy + n no (H, W), n < nb; buf: 16 nb T floats. */
MULTIVERSION static void dy_tiles(const float *restrict dy, size_t no, int nb, int H, int W, float *restrict dd,
                                  size_t ds, float *restrict buf) {
    int TW = W / 4, T = TW * (H / 4), nt = nb * T;
    for (int n = 0; n < nb; n++)
        for (int ty = 0; ty < H / 4; ty++)
            for (int a = 0; a < 4; a++) {
                const float *r = dy + n * no + (size_t)(4 * ty + a) * W;
                for (int c = 0; c < W && n + 1 < nb; c += 16) __builtin_prefetch(r + no + c);
                float *b0 = buf + (size_t)(4 * a) * nt + n * T + ty * TW, *b1 = b0 + nt, *b2 = b1 + nt, *b3 = b2 + nt;
                for (int t = 0; t < TW; t++)
                    b0[t] = r[4 * t], b1[t] = r[4 * t + 1], b2[t] = r[4 * t + 2], b3[t] = r[4 * t + 3];
            }
IVDEP
    for (int t = 0; t < nt; t++) {
        float h[6][4];
        const float *z = buf + t; /* row a, column b of the tile: z[(4 a + b) nt] */
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++)
            A6(z[b * nt], z[(4 + b) * nt], z[(8 + b) * nt], z[(12 + b) * nt], h[0][b], h[1][b], h[2][b], h[3][b],
               h[4][b], h[5][b]);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            float *q = dd + (size_t)(6 * i) * ds + t;
            A6(h[i][0], h[i][1], h[i][2], h[i][3], q[0], q[ds], q[2 * ds], q[3 * ds], q[4 * ds], q[5 * ds]);
        }
    }
}

/* g (36 streams of nt) <- B dV B^T of each of nt tiles (v[xi * vs + f]): the 6x6 input gradient
 * of each tile, overlaps not yet summed. */
MULTIVERSION static void dx_flat(const float *restrict v, size_t vs, int nt, float *restrict g) {
IVDEP
    for (int t = 0; t < nt; t++) {
        float h[6][6];
#pragma GCC unroll 6
        for (int k = 0; k < 6; k++) {
            const float *w = v + (size_t)k * vs + t;
            B6(w[0], w[6 * vs], w[12 * vs], w[18 * vs], w[24 * vs], w[30 * vs], h[0][k], h[1][k], h[2][k], h[3][k],
               h[4][k], h[5][k]);
        }
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            float *q = g + (size_t)(6 * i) * nt + t;
            B6(h[i][0], h[i][1], h[i][2], h[i][3], h[i][4], h[i][5], q[0], q[nt], q[2 * nt], q[3 * nt], q[4 * nt],
               q[5 * nt]);
        }
    }
}

/* Row r of dx += (set: <- 0.0f +) tile row i of the TW tiles at a, then (b not NULL) + tile row
 * i + 4 of those at b (36 streams gs apart each): x column 4t + j is tile column j + 1 at t,
 * plus column 5 at t - 1 (j 0) or column 0 at t + 1 (j 3). One pass, four adjacent floats a
 * tile. */
MULTIVERSION static void join_row(const float *restrict a, const float *restrict b, size_t gs, int TW, int i,
                                  float *restrict xr, int set) {
    const float *a0 = a + (size_t)(6 * i) * gs, *a1 = a0 + gs, *a2 = a1 + gs, *a3 = a2 + gs, *a4 = a3 + gs;
    const float *a5 = a4 + gs;
    const float *b0 = b ? b + (size_t)(6 * i + 24) * gs : a0, *b1 = b0 + gs, *b2 = b1 + gs, *b3 = b2 + gs;
    const float *b4 = b3 + gs, *b5 = b4 + gs;
    int two = b != NULL;
    for (int t = 0; t < TW; t++) {
        float *q = xr + 4 * t;
        float p0 = set ? 0.0f : q[0], p1 = set ? 0.0f : q[1], p2 = set ? 0.0f : q[2], p3 = set ? 0.0f : q[3];
        float u0 = t > 0 ? a1[t] + a5[t - 1] : a1[t], u3 = t + 1 < TW ? a4[t] + a0[t + 1] : a4[t];
        p0 += u0, p1 += a2[t], p2 += a3[t], p3 += u3;
        if (two) {
            float v0 = t > 0 ? b1[t] + b5[t - 1] : b1[t], v3 = t + 1 < TW ? b4[t] + b0[t + 1] : b4[t];
            p0 += v0, p1 += b2[t], p2 += b3[t], p3 += v3;
        }
        q[0] = p0, q[1] = p1, q[2] = p2, q[3] = p3;
    }
}

/* Planes dx + n ni (H, W), n < nb, += (set: <-, never reading dx) B dV B^T of their tiles (image
 * n's at n T), the overlaps summed: x row r is padded row q = r + 1, tile row i = q mod 4 of tile
 * row q / 4 and, for i < 2, tile row i + 4 of the tile row above; buf: 36 nb T floats. */
static void dx_tiles(const float *v, size_t vs, int nb, int H, int W, float *dx, size_t ni, int set, float *buf) {
    int TW = W / 4, TH = H / 4, T = TW * TH, nt = nb * T;
    dx_flat(v, vs, nt, buf);
    for (int n = 0; n < nb; n++)
        for (int r = 0; r < H; r++) {
            int q = r + 1, i = q & 3, ty = q >> 2;
            float *xr = dx + n * ni + (size_t)r * W;
            const float *g = buf + n * T, *above = i < 2 && ty >= 1 ? g + (ty - 1) * TW : NULL;
            for (int c = 0; c < W && n + 1 < nb; c += 16) __builtin_prefetch(xr + ni + c, 1);
            if (ty < TH)
                join_row(g + ty * TW, above, nt, TW, i, xr, set);
            else /* the last row: only the tile row above's row 4 */
                join_row(above, NULL, nt, TW, i + 4, xr, set);
        }
}

/* v (36 x vs) <- the transformed tiles of plane x (H, W); buf: the split arrays, then the edge
 * masks. */
static void in_plane(const float *x, int H, int W, float *v, size_t vs, float *buf) {
    size_t ss = split_floats(H, W), T = (size_t)(H / 4) * (W / 4);
    float *lm = buf + 16 * ss, *rm = lm + wino_up16(T);
    split_plane(x, H, W, buf, ss);
    in_flat(buf, ss, (int)T, W / 4, lm, rm, v, vs);
}

/* ---- the layer ---- */

void wino4_forward(const float *w, const float *b, int C, int O, int H, int W, const float *x, int B, float *y,
                   const WinoAffine *aff, float *scratch) {
    WinoDims dm = wino_dims(4, C, O, H, W, wino4_chunk(C, O, H, W, B));
    int T = dm.T, chunk = dm.chunk;
    size_t HW = dm.HW, ni = dm.ni, no = dm.no, oc = dm.oc, sv = dm.sv, sm = dm.so;
    float *u, *unused, *v, *m, *buf = wino_parts(scratch, &dm, &u, &unused, &v, &m);
    float *lm = buf + 16 * split_floats(H, W);
    wino_edge_masks(T, W / 4, lm, lm + wino_up16((size_t)T));
    kernels_in(w, oc, u);
    for (int n0 = 0; n0 < B; n0 += chunk) {
        int nb = B - n0 < chunk ? B - n0 : chunk, nc = nb * T;
        for (int n = 0; n < nb; n++)
            for (int c = 0; c < C; c++)
                in_plane(x + (n0 + n) * ni + c * HW, H, W, v + (size_t)c * nc + (size_t)n * T, sv, buf);
        wino_products(36, O, C, nc, u, v, sv, m, sm);
        for (int o = 0; o < O; o++)
            out_tiles(m + (size_t)o * nc, sm, nb, H, W, b ? b[o] : 0.0f, aff != NULL, aff ? aff->m[o] : 0.0f,
                      aff ? aff->a[o] : 0.0f, aff ? aff->b[o] : 0.0f, aff ? aff->relu : 0, y + n0 * no + o * HW, no,
                      tile_buf(buf, H, W));
    }
}

void wino4_backward(const float *fb, int C, int O, int H, int W, const float *x, const float *dy, int B, float *dw,
                    float *dx, int set, float *scratch) {
    WinoDims dm = wino_dims(4, C, O, H, W, wino4_chunk(C, O, H, W, B));
    int T = dm.T, chunk = dm.chunk;
    size_t HW = dm.HW, ni = dm.ni, no = dm.no, oc = dm.oc, sv = dm.sv, sd = dm.so;
    float *f, *du, *v, *d, *buf = wino_parts(scratch, &dm, &f, &du, &v, &d);
    float *lm = buf + 16 * split_floats(H, W);
    wino_edge_masks(T, W / 4, lm, lm + wino_up16((size_t)T));
    if (dx) kernels_in(fb, oc, f);
    memset(du, 0, 36 * oc * sizeof(float));
    for (int n0 = 0; n0 < B; n0 += chunk) {
        int nb = B - n0 < chunk ? B - n0 : chunk, nc = nb * T;
        for (int n = 0; n < nb; n++)
            for (int c = 0; c < C; c++)
                in_plane(x + (n0 + n) * ni + c * HW, H, W, v + (size_t)c * nc + (size_t)n * T, sv, buf);
        for (int o = 0; o < O; o++)
            dy_tiles(dy + n0 * no + o * HW, no, nb, H, W, d + (size_t)o * nc, sd, tile_buf(buf, H, W));
        wino_grad_products(36, O, C, nc, d, sd, v, sv, du, dx ? f : NULL);
        if (!dx) continue;
        for (int c = 0; c < C; c++)
            dx_tiles(v + (size_t)c * nc, sv, nb, H, W, dx + n0 * ni + c * HW, ni, set, tile_buf(buf, H, W));
    }
    kernels_out(du, oc, dw);
}
