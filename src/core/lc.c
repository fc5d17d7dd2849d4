#include "lc.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "clones.h"
#include "dist.h"

#include <cblas.h> /* after dist.h: its complex.h defines I */

#if defined(__GNUC__) && !defined(__clang__)
/* the 8-float vectors pass between inlined helpers only: no ABI crosses a call */
#pragma GCC diagnostic ignored "-Wpsabi"
/* a copy loop stays a loop (not a memcpy call per row) */
#define NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_LIBCALLS
#endif

/*
 * The scratch's six arrays (xt, dxt, zt, cols, dtt, dwt) start at multiples of 64
 * bytes, whatever the caller's scratch pointer (malloc gives 16): somatcopy reading from a
 * source 16 bytes off a 32-byte boundary
 * moved 0.54 ns per float against 0.38-0.42 aligned (z (1024, 16, 64) -> out (64, 16, 1024),
 * bench_lc --tr-rate 1; docs/PERFORMANCE.md, "Second pass"). Each array may skip up to 15 floats.
 */
enum { LC_ALIGN_FLOATS = 16 };
static float *align64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

size_t lc_weight_count(int C, int H, int W, int O, int K) {
    return (size_t)H * W * O * C * K * K;
}

/* images per chunk (below): batch-last activations come in chunks of this many (lc.h) */
#define LC_CHUNK LC_BL_CHUNK

/*
 * Floats from one image's row to the next channel's in xt: B rounded up to 8 (32-byte rows),
 * and 8 more where C such rows would be a multiple of 4 KiB (the transposes into xt write
 * rows C Bs floats apart, and 4 KiB strides invite aliasing), unless C is
 * a multiple of 128 (then every multiple of 8 is such a multiple).
 */
static size_t batch_stride(int B, int C) {
    size_t Bs = ((size_t)B + 7) / 8 * 8;
    if ((size_t)C * 8 * sizeof(float) % 4096) /* else (C a multiple of 128) no multiple of 8 helps */
        while ((size_t)C * Bs * sizeof(float) % 4096 == 0) Bs += 8;
    return Bs;
}

size_t lc_scratch_floats(int B, int C, int H, int W, int O, int K) {
    /* batch_stride does not decrease with B: the whole batch's bounds every chunk's */
    size_t pad = (size_t)(K - 1) / 2, xt = (size_t)C * (H + 2 * pad) * (W + 2 * pad) * batch_stride(B, C);
    size_t ckk = (size_t)C * K * K;
    return 2 * xt + (size_t)H * W * B * O + ckk * O + ckk * B + (size_t)B * O + 6 * LC_ALIGN_FLOATS;
}

/*
 * dst[j * ldd + i] <- src[i * lds + j] for i < rows, j < cols: OpenBLAS's out-of-place
 * transpose (its kernels move the rows of a tile together; a plain loop over a tile was
 * 2-3 times slower here, its reads 64 KiB apart falling in one L1 set).
 */
static void transpose(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols) {
    cblas_somatcopy(CblasRowMajor, CblasTrans, rows, cols, 1.0f, src, (blasint)lds, dst, (blasint)ldd);
}

/* sum of v[0..n) in 8 independent lanes (vectorisable, no -ffast-math needed) */
static float sum_floats(const float *v, int n) {
    float lane[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) lane[l] += v[i + l];
    float s = 0.0f;
    for (; i < n; i++) s += v[i];
    for (int l = 0; l < 8; l++) s += lane[l];
    return s;
}

/* db (O) += the sums of dout (B, O, P), image by image in order */
static void db_sums(float *db, const float *dout, int B, int O, int P) {
    for (int n = 0; n < B; n++)
        for (int o = 0; o < O; o++) db[o] += sum_floats(dout + ((size_t)n * O + o) * P, P);
}

/* db (O) += the sums of a batch-last chunk's dout (P, O, B) in db_sums's order: image by
   image, each as sum_floats over its P values (the same floats: lane l of sum_floats is
   the sum over p = l mod 8 in order), NB images side by side */
MULTIVERSION static void db_sums_bl(float *db, const float *dout, int B, int O, int P) {
    enum { NB = 16 };
    int P8 = P / 8 * 8;
    for (int o = 0; o < O; o++)
        for (int n0 = 0; n0 < B; n0 += NB) {
            int nb = B - n0 < NB ? B - n0 : NB;
            float s[NB] = {0}, lane[8][NB];
            for (int l = 0; l < 8; l++) {
                float acc[NB] = {0};
                for (int i = 0; i < P8; i += 8) {
                    const float *r = dout + ((size_t)(i + l) * O + o) * B + n0;
                    for (int n = 0; n < nb; n++) acc[n] += r[n];
                }
                memcpy(lane[l], acc, sizeof acc);
            }
            for (int i = P8; i < P; i++) {
                const float *r = dout + ((size_t)i * O + o) * B + n0;
                for (int n = 0; n < nb; n++) s[n] += r[n];
            }
            for (int l = 0; l < 8; l++)
                for (int n = 0; n < nb; n++) s[n] += lane[l][n];
            for (int n = 0; n < nb; n++) db[o] += s[n];
        }
}

/*
 * 8 floats (GCC/clang vector extension: one AVX register, two SSE ones). The helpers are
 * always inlined: a clone (MULTIVERSION) and an out-of-line default-target helper would pass
 * the vectors differently (at -O0 that read garbage).
 */
typedef float v8 __attribute__((vector_size(32)));
#define V8_INLINE static inline __attribute__((always_inline))
#if defined(__clang__)
#define SHUF8(a, b, i0, i1, i2, i3, i4, i5, i6, i7) __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
typedef int v8i __attribute__((vector_size(32)));
#define SHUF8(a, b, i0, i1, i2, i3, i4, i5, i6, i7) __builtin_shuffle(a, b, (v8i){i0, i1, i2, i3, i4, i5, i6, i7})
#endif
V8_INLINE v8 ld8(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* c[j][i] = r[i][j]: an 8 x 8 transpose in registers */
V8_INLINE void t8(v8 c[8], const v8 r[8]) {
    v8 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
        t[i] = SHUF8(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = SHUF8(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 8; i += 4)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            u[i + 2 * h] = SHUF8(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * h + 1] = SHUF8(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        c[i] = SHUF8(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        c[i + 4] = SHUF8(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/* xt's pixel (y, x), channel c, image n at y row + (x C + c) Bs + n <- x (B, C, H, W): 8 images'
   rows read side by side (8 streams in order) and put batch-last by 8 x 8 blocks in registers.
   OpenBLAS's somatcopy per (channel, row), reading one row of each of 128 images 12 KiB apart,
   took 0.9 ms per pass at the stem's batch of 512 (docs/PERFORMANCE.md, "Seventh pass") */
MULTIVERSION
static void rows_batch_last(float *restrict xt, const float *restrict x, int B, int C, int H, int W, size_t row,
                            size_t Bs) {
    size_t img = (size_t)C * H * W;
    int b8 = B / 8 * 8, w8 = W / 8 * 8;
    for (int n0 = 0; n0 < b8; n0 += 8)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++) {
                const float *src = x + (size_t)n0 * img + ((size_t)c * H + y) * W;
                float *dst = xt + y * row + (size_t)c * Bs + n0;
                for (int x0 = 0; x0 < w8; x0 += 8) {
                    v8 a[8], t[8];
#pragma GCC unroll 8
                    for (int j = 0; j < 8; j++) a[j] = ld8(src + j * img + x0);
                    t8(t, a);
#pragma GCC unroll 8
                    for (int i = 0; i < 8; i++) memcpy(dst + (size_t)(x0 + i) * C * Bs, &t[i], sizeof t[i]);
                }
                for (int xo = w8; xo < W; xo++)
                    for (int j = 0; j < 8; j++) dst[(size_t)xo * C * Bs + j] = src[j * img + xo];
            }
    for (int n = b8; n < B; n++) /* the images past the last 8 */
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int xo = 0; xo < W; xo++)
                    xt[y * row + ((size_t)xo * C + c) * Bs + n] = x[n * img + ((size_t)c * H + y) * W + xo];
}

/*
 * xt (H+2pad, W+2pad, C, B) <- x (B, C, H, W): batch-last and channels next, zero in the
 * padding. The patch under an output position is then, per kernel row ky, one block of K C
 * rows of B floats ((kx, c) in that order), which the products read in place: no patch
 * matrix is gathered, and the input gradient is added in place.
 */
static void to_batch_last(float *xt, const float *x, int B, int C, int H, int W, int pad) {
    size_t Bs = batch_stride(B, C), Wp = (size_t)W + 2 * pad, CB = (size_t)C * Bs, row = Wp * CB, side = (size_t)pad * CB;
    memset(xt, 0, pad * row * sizeof(float));                  /* top padding rows */
    memset(xt + (pad + H) * row, 0, pad * row * sizeof(float)); /* bottom */
    for (int y = 0; y < H; y++) {
        float *r = xt + (pad + y) * row;
        memset(r, 0, side * sizeof(float)), memset(r + row - side, 0, side * sizeof(float));
    }
    rows_batch_last(xt + pad * row + side, x, B, C, H, W, row, Bs);
}

/* dx (B, C, H, W) += the interior of dxt (H+2pad, W+2pad, C, B), through tmp (B, C, H, W) */
static void add_from_batch_last(float *dx, float *tmp, const float *dxt, int B, int C, int H, int W, int pad) {
    size_t Bs = batch_stride(B, C), Wp = (size_t)W + 2 * pad, CB = (size_t)C * Bs;
    for (int y = 0; y < H; y++)
        for (int c = 0; c < C; c++) /* (W, B) -> (B, W) */
            transpose(tmp + ((size_t)c * H + y) * W, (size_t)C * H * W,
                      dxt + ((y + pad) * Wp + pad) * CB + (size_t)c * Bs, CB, W, B);
    for (size_t i = 0, n = (size_t)B * C * H * W; i < n; i++) dx[i] += tmp[i];
}

/* 1 if input row (or column) v of n lies under some output o < on whose patch
   [o st - pad, o st - pad + K) leaves [0, n): such patches are read from xt */
static int under_edge_patch(int v, int n, int on, int st, int pad, int K) {
    for (int o = 0; o < on && o * st - pad < 0; o++)
        if (v >= o * st - pad && v < o * st - pad + K) return 1;
    for (int o = on - 1; o >= 0 && o * st - pad + K > n; o--)
        if (v >= o * st - pad && v < o * st - pad + K) return 1;
    return 0;
}

/* 1 if the patch with corner (y0, x0) lies inside the H x W image */
static int patch_inside(int y0, int x0, int H, int W, int K) { return y0 >= 0 && x0 >= 0 && y0 + K <= H && x0 + K <= W; }

/* xt (H+2pad, W+2pad, C, B) <- x (H, W, C, B), a batch-last chunk (lc.h), a row of B floats
   per pixel and channel, no transpose, and the zero padding. edges: only the pixels that
   patches leaving the image read (the other patches read x in place: the pixels within
   K - 1 of an edge, a quarter of a 32 x 32 map with K 3) */
static void copy_batch_last(float *xt, const float *x, int B, int C, int H, int W, int K, int st, int edges) {
    int pad = (K - 1) / 2, OH = (H - 1) / st + 1, OW = (W - 1) / st + 1;
    size_t Bs = batch_stride(B, C), Wp = (size_t)W + 2 * pad, CB = (size_t)C * Bs, row = Wp * CB, side = (size_t)pad * CB;
    memset(xt, 0, pad * row * sizeof(float));
    memset(xt + (pad + H) * row, 0, pad * row * sizeof(float));
    for (int y = 0; y < H; y++) {
        float *r = xt + (pad + y) * row;
        memset(r, 0, side * sizeof(float)), memset(r + row - side, 0, side * sizeof(float));
        int all = !edges || under_edge_patch(y, H, OH, st, pad, K);
        for (int xo = 0; xo < W; xo++)
            if (all || under_edge_patch(xo, W, OW, st, pad, K))
                for (int c = 0; c < C; c++)
                    memcpy(r + side + ((size_t)xo * C + c) * Bs, x + (((size_t)y * W + xo) * C + c) * B, (size_t)B * sizeof(float));
    }
}

/* A patch with corner (y0, x0) between dx (H, W, C, B) and g (K, K, C, B): g <- dx's pixels,
   zero outside the image (load 1), or dx's pixels <- g's in-image part (load 0) */
static void patch_io(float *dx, float *g, int B, int C, int H, int W, int K, int y0, int x0, int load) {
    size_t CB = (size_t)C * B;
    for (int ky = 0; ky < K; ky++)
        for (int kx = 0; kx < K; kx++) {
            int y = y0 + ky, xo = x0 + kx, in = y >= 0 && y < H && xo >= 0 && xo < W;
            float *gp = g + ((size_t)ky * K + kx) * CB;
            if (!in) {
                if (load) memset(gp, 0, CB * sizeof(float));
                continue;
            }
            float *d = dx + ((size_t)y * W + xo) * CB;
            if (load) memcpy(gp, d, CB * sizeof(float));
            else memcpy(d, gp, CB * sizeof(float));
        }
}

/* dx (H, W, C, B) += the interior of dxt (H+2pad, W+2pad, C, B), a row of B floats at a time */
static void add_batch_last(float *dx, const float *dxt, int B, int C, int H, int W, int pad) {
    size_t Bs = batch_stride(B, C), Wp = (size_t)W + 2 * pad, CB = (size_t)C * Bs;
    for (int y = 0; y < H; y++)
        for (size_t j = 0; j < (size_t)W * C; j++) {
            float *d = dx + ((size_t)y * W * C + j) * B;
            const float *s = dxt + ((y + pad) * Wp + pad) * CB + j * Bs;
            for (int n = 0; n < B; n++) d[n] += s[n];
        }
}

/* dst (rows, cols) += src (cols, rows) transposed: 8 x 8 register blocks where rows is a
   multiple of 8 (the columns past the last full 8 one by one), else one by one */
MULTIVERSION
static void add_transposed(float *restrict dst, const float *restrict src, int rows, int cols) {
    int c8 = rows % 8 ? 0 : cols / 8 * 8;
    for (int r0 = 0; r0 < rows && c8; r0 += 8) /* dst's rows 8 at a time (8 streams) */
        for (int c0 = 0; c0 < c8; c0 += 8) {
            v8 a[8], t[8];
            for (int j = 0; j < 8; j++) a[j] = ld8(src + (size_t)(c0 + j) * rows + r0);
            t8(t, a);
            for (int i = 0; i < 8; i++) {
                float *d = dst + (size_t)(r0 + i) * cols + c0;
                v8 v = ld8(d) + t[i];
                memcpy(d, &v, sizeof v);
            }
        }
    for (int j = c8; j < cols; j++)
        for (int r = 0; r < rows; r++) dst[(size_t)r * cols + j] += src[(size_t)j * rows + r];
}

/*
 * Few input channels (C not a multiple of 8: an image's 1 or 3) and O a multiple of 16: the
 * products of a position straight from the patch's rows in xt, for the layer that starts a
 * network (the ResNet stem: 16 x 27 x 128 per position). OpenBLAS's small kernels run such
 * products at 66 GFLOP/s here against 92 for the same work 512 images wide, the patch had to
 * be gathered first (27 rows of B floats, per position, both ways), and the output gradient's
 * product had a transposed operand; these loops do neither (docs/PERFORMANCE.md, "Seventh
 * pass"). Every sum runs over the patch's rows (forward) or the images (dW) in order, one
 * multiply and one add each (no FMA: clones.h), so an image's output does not depend on
 * where in the batch, or in a vector, it lies.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FEW_ON 1 /* the loops below are built; lc_few_direct asks the CPU */
#define FEW_TARGET __attribute__((target("arch=x86-64-v4")))
typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
V8_INLINE v16 ld16(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* z (O, B) <- w (O, C K K) times the patch at xp (rows (c, ky, kx): row (ky, kx, c) at
   xp + ky row + (kx C + c) ld, B floats each), plus bias if given; O a multiple of 16. pf: where
   the next position's z goes (or NULL) */
FEW_TARGET
static void few_forward(float *restrict z, const float *restrict xp, size_t row, size_t ld,
                        const float *restrict w, const float *restrict bias, int B, int C, int K, int O,
                        float *pf) {
    int CKK = C * K * K;
    size_t lines = (size_t)O * B / 16, blocks = (size_t)O / 16 * (B / 16), per = blocks ? (lines + blocks - 1) / blocks : 0, l = 0;
    for (int o0 = 0; o0 < O; o0 += 16) {
        const float *wo = w + (size_t)o0 * CKK;
        int n = 0;
        for (; n + 16 <= B; n += 16) { /* 16 outputs of 16 images in registers */
            /* the next position's output lines, a share per block: stored 16 rows at a time (64 bytes
               each, 512 apart), they missed the prefetchers, and the stores waited on memory
               (docs/PERFORMANCE.md, "Seventh pass") */
            for (size_t e = l + per; pf && l < e && l < lines; l++) __builtin_prefetch(pf + 16 * l, 1, 3);
            v16 acc[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) acc[i] = (v16){0};
            for (int c = 0, r = 0; c < C; c++)
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++, r++) {
                        v16 xv = ld16(xp + ky * row + ((size_t)kx * C + c) * ld + n);
#pragma GCC unroll 16
                        for (int i = 0; i < 16; i++) acc[i] += wo[(size_t)i * CKK + r] * xv;
                    }
            if (bias)
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++) acc[i] += bias[o0 + i];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) memcpy(z + (size_t)(o0 + i) * B + n, &acc[i], sizeof acc[i]);
        }
        for (; n < B; n++) /* the images past the last 16, one by one in the same order */
            for (int i = 0; i < 16; i++) {
                float s = 0.0f;
                for (int c = 0, r = 0; c < C; c++)
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++, r++)
                            s += wo[(size_t)i * CKK + r] * xp[ky * row + ((size_t)kx * C + c) * ld + n];
                z[(size_t)(o0 + i) * B + n] = bias ? s + bias[o0 + i] : s;
            }
    }
}

/* dst (B, O) <- src (O, B), O a multiple of 8: 8 x 8 register blocks (the images past the
   last 8 one by one). A position's output gradient, 16 x 128: somatcopy at such sizes took 17%
   of the samples of `perf record` on the stem at batch 512 */
FEW_TARGET
static void transpose8(float *restrict dst, const float *restrict src, int O, int B) {
    int b8 = B / 8 * 8;
    for (int o0 = 0; o0 < O; o0 += 8)
        for (int n0 = 0; n0 < b8; n0 += 8) {
            v8 a[8], t[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) a[j] = ld8(src + (size_t)(o0 + j) * B + n0);
            t8(t, a);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) memcpy(dst + (size_t)(n0 + i) * O + o0, &t[i], sizeof t[i]);
        }
    for (int n = b8; n < B; n++)
        for (int o = 0; o < O; o++) dst[(size_t)n * O + o] = src[(size_t)o * B + n];
}

/* NR rows of dwt (C K K, O), 16 columns from o0: dwt[r][o] <- sum over images n in order of
   rows[i][n] dtt[n][o], the rows' images in registers as 16 outputs' vectors */
#define FEW_DW_BLOCK(NR)                                                                            \
    do {                                                                                            \
        v16 acc[NR];                                                                                \
        _Pragma("GCC unroll 16") for (int i = 0; i < NR; i++) acc[i] = (v16){0};                    \
        for (int n = 0; n < B; n++) {                                                               \
            for (size_t e = l + per; pf && l < e && l < lines; l++) __builtin_prefetch(pf + 16 * l); \
            v16 d = ld16(dtt + (size_t)n * O + o0);                                                 \
            _Pragma("GCC unroll 16") for (int i = 0; i < NR; i++) acc[i] += rows[r0 + i][n] * d;    \
        }                                                                                           \
        _Pragma("GCC unroll 16") for (int i = 0; i < NR; i++)                                       \
            memcpy(dwt + (size_t)(r0 + i) * O + o0, &acc[i], sizeof acc[i]);                        \
        r0 += NR;                                                                                   \
    } while (0)

/* dwt (C K K, O) <- the patch at xp (as few_forward's) times dtt (B, O): a position's dW
   transposed; lc_few_direct(C, K, O). pf: the next position's output
   gradient (O, B), fetched a line per image of the first block (read by transpose8 as 8 rows
   side by side, it too missed the prefetchers) */
FEW_TARGET
static void few_dw(float *restrict dwt, const float *restrict xp, size_t row, size_t ld,
                   const float *restrict dtt, int B, int C, int K, int O, const float *pf) {
    int CKK = C * K * K;
    size_t lines = (size_t)O * B / 16, per = (lines + B - 1) / B, l = 0;
    const float *rows[LC_FEW_ROWS];
    for (int c = 0, r = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++, r++) rows[r] = xp + ky * row + ((size_t)kx * C + c) * ld;
    for (int o0 = 0; o0 < O; o0 += 16) {
        int r0 = 0;
        while (CKK - r0 >= 16) FEW_DW_BLOCK(16);
        if (CKK - r0 >= 8) FEW_DW_BLOCK(8);
        if (CKK - r0 >= 4) FEW_DW_BLOCK(4);
        if (CKK - r0 >= 2) FEW_DW_BLOCK(2);
        if (CKK - r0 >= 1) FEW_DW_BLOCK(1);
    }
}
#endif

int lc_few_direct(int C, int K, int O) {
#ifdef FEW_ON
    return !lc_kernels_hwc(C) && O % 16 == 0 && C * K * K <= LC_FEW_ROWS && __builtin_cpu_supports("x86-64-v4");
#else
    (void)C, (void)K, (void)O;
    return 0;
#endif
}

int lc_kernels_from_public(float *Wt, size_t n, int C, int K) {
    size_t CKK = (size_t)C * K * K;
    if (!lc_kernels_hwc(C) || !n) return 0;
    float *t = malloc(CKK * sizeof(float));
    if (!t) return -1;
    for (size_t k = 0; k < n; k++) {
        memcpy(t, Wt + k * CKK, CKK * sizeof(float));
        lc_kernels_convert(Wt + k * CKK, t, 1, C, K, 0);
    }
    free(t);
    return 0;
}

void lc_kernels_convert(float *dst, const float *src, size_t n, int C, int K, int to_public) {
    size_t CKK = (size_t)C * K * K;
    if (!lc_kernels_hwc(C)) {
        memcpy(dst, src, n * CKK * sizeof(float));
        return;
    }
    for (size_t k = 0; k < n; k++, dst += CKK, src += CKK)
        if (to_public) transpose(dst, (size_t)K * K, src, (size_t)C, K * K, C); /* (KK, C) -> (C, KK) */
        else transpose(dst, (size_t)C, src, (size_t)K * K, C, K * K);          /* (C, KK) -> (KK, C) */
}

/*
 * Scratch layout of lc_forward / lc_backward: xt and dxt (H+2pad, W+2pad, C, B), zt (P, O, B),
 * cols (C K K, B): a patch gathered in its kernel's order, dtt (B, O): dout transposed, dwt
 * (C K K, O): a position's dW transposed.
 */
typedef struct LcScratch {
    float *xt, *dxt, *zt, *cols, *dtt, *dwt;
} LcScratch;

static LcScratch scratch_split(float *s, int B, int C, int H, int W, int O, int K) {
    size_t pad = (size_t)(K - 1) / 2, xt = (size_t)C * (H + 2 * pad) * (W + 2 * pad) * batch_stride(B, C);
    LcScratch r;
    r.xt = align64(s), r.dxt = align64(r.xt + xt), r.zt = align64(r.dxt + xt);
    r.cols = align64(r.zt + (size_t)H * W * B * O);
    r.dtt = align64(r.cols + (size_t)C * K * K * B), r.dwt = align64(r.dtt + (size_t)B * O);
    return r;
}

#ifndef LC_BLOCK_FLOATS
#define LC_BLOCK_FLOATS (1 << 20)
#endif
/*
 * Positions per block of lc_forward_strided / lc_backward_strided: z, or dout batch-last,
 * (np, O, B) of a block, 4 MiB: against the whole map at once, the block stays in the
 * last-level cache. Smaller blocks were slower (paired runs of bench_lc: 256 KiB blocks
 * 1.04-1.18x, 64 KiB up to 2.3x the time of 4 MiB ones): each transpose then writes shorter
 * runs into more rows of out (B, O, P), one page apart.
 */
static int block_positions(int P, int O, int B) {
    long n = LC_BLOCK_FLOATS / ((long)O * B);
    return n < 1 ? 1 : n > P ? P : (int)n;
}

void lc_forward(float *out, const float *x, const float *Wt, const float *b, float *scratch, int B,
                int C, int H, int W, int O, int K) {
    lc_forward_strided(out, x, Wt, b, scratch, B, C, H, W, O, K, 1);
}

void lc_backward(float *dx, float *dW, float *db, const float *dout, const float *x, const float *F,
                 float *scratch, int B, int C, int H, int W, int O, int K) {
    lc_backward_strided(dx, dW, db, dout, x, F, scratch, B, C, H, W, O, K, 1);
}

/* A patch's K blocks of K C rows of B floats ((kx, c) order): p at its corner, rows ld floats
   apart, blocks row floats apart. In x itself where x is batch-last (inplace) and the patch
   lies inside the image, else in xt */
typedef struct PatchAt {
    const float *p;
    size_t row, ld;
} PatchAt;

static PatchAt patch_at(const float *xt, const float *x, int inplace, int y0, int x0, int B, int C, int H, int W,
                        int K) {
    PatchAt a;
    if (inplace && patch_inside(y0, x0, H, W, K)) {
        a.ld = (size_t)B, a.row = (size_t)W * C * B, a.p = x + ((size_t)y0 * W + x0) * C * B;
    } else {
        int pad = (K - 1) / 2;
        a.ld = batch_stride(B, C), a.row = ((size_t)W + K - 1) * C * a.ld;
        a.p = xt + (size_t)(y0 + pad) * a.row + (size_t)(x0 + pad) * C * a.ld;
    }
    return a;
}

/* cols (C K K, B) <- the patch at xp (K blocks of K C rows of B floats, rows Bs floats apart
   and blocks row floats apart) in W's column order (c, ky, kx) */
MULTIVERSION NO_LIBCALLS
static void gather_patch(float *restrict cols, const float *restrict xp, size_t row, size_t Bs, int C, int K, int B) {
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++, cols += B) { /* a loop, not a memcpy call per row (slower:
                                                           docs/PERFORMANCE.md) */
                const float *src = xp + ky * row + ((size_t)kx * C + c) * Bs;
                for (int n = 0; n < B; n++) cols[n] = src[n];
            }
}

/* dst (O, K, K, C) <- src (O, C, K, K): kernels of few channels in the patch rows' order */
static void kernels_rows(float *restrict dst, const float *restrict src, int O, int C, int K) {
    int KK = K * K;
    for (size_t o = 0, CKK = (size_t)C * KK; o < (size_t)O; o++)
        for (int kk = 0; kk < KK; kk++)
            for (int c = 0; c < C; c++) dst[o * CKK + (size_t)kk * C + c] = src[o * CKK + (size_t)c * KK + kk];
}

/* cols (K K C, B) <- the patch at xp (as gather_patch's) in its rows' own (ky, kx, c) order */
static void gather_rows(float *restrict cols, const float *restrict xp, size_t row, size_t ld, int K, int KC, int B) {
    for (int ky = 0; ky < K; ky++)
        for (int j = 0; j < KC; j++, cols += B) memcpy(cols, xp + ky * row + (size_t)j * ld, (size_t)B * sizeof(float));
}

/* lc_forward_layout on one chunk of B images (x and out at its first image) */
static void forward_chunk(float *out, const float *x, const float *Wt, const float *b, float *scratch, int B,
                          int C, int H, int W, int O, int K, int st, int layout) {
    int OW = (W - 1) / st + 1, P = ((H - 1) / st + 1) * OW, CKK = C * K * K, KC = K * C;
    LcScratch s = scratch_split(scratch, B, C, H, W, O, K);
    int inplace = (layout & LC_IN_BL) && C % 8 == 0, pad = (K - 1) / 2, few = lc_few_direct(C, K, O);
    if (layout & LC_IN_BL) copy_batch_last(s.xt, x, B, C, H, W, K, st, inplace);
    else to_batch_last(s.xt, x, B, C, H, W, pad);
    /* batch-last output: each position's (O, B) straight into out; else through zt in blocks */
    int obl = layout & LC_OUT_BL, nb = obl ? P : block_positions(P, O, B);
    for (int p0 = 0; p0 < P; p0 += nb) {
        int np = P - p0 < nb ? P - p0 : nb;
        for (int i = 0; i < np; i++) {
            int p = p0 + i, y0 = p / OW * st - pad, x0 = p % OW * st - pad;
            /* the patch: in x itself (batch-last, inside the image), else in xt */
            PatchAt a = patch_at(s.xt, x, inplace, y0, x0, B, C, H, W, K);
            const float *xp = a.p;
            float *zp = obl ? out + (size_t)p * O * B : s.zt + (size_t)i * O * B;
            if (lc_kernels_hwc(C)) {
                /* z_p (O, B) <- sum over kernel rows ky of W_p[:, ky] (O, K C) * patch rows (K C, B):
                   the kernels are kept in the patch rows' (ky, kx, c) order */
                const float *wp = Wt + (size_t)p * O * CKK;
                for (int ky = 0; ky < K; ky++)
                    sgemm_ld(0, 0, O, B, KC, 1.0f, wp + (size_t)ky * KC, CKK, xp + ky * a.row, (int)a.ld,
                             ky ? 1.0f : 0.0f, zp, B);
            } else if (few) { /* few channels: straight from the patch's rows */
#ifdef FEW_ON
                few_forward(zp, xp, a.row, a.ld, Wt + (size_t)p * O * CKK, b, B, C, K, O,
                            obl && i + 1 < np ? zp + (size_t)O * B : NULL);
                continue; /* the bias added */
#endif
            } else { /* few channels: the patch gathered in (c, ky, kx) order, one product */
                gather_patch(s.cols, xp, a.row, a.ld, C, K, B);
                sgemm(0, 0, O, B, CKK, 1.0f, Wt + (size_t)p * O * CKK, s.cols, 0.0f, zp);
            }
            if (b)
                for (int o = 0; o < O; o++)
                    for (int n = 0; n < B; n++) zp[(size_t)o * B + n] += b[o];
        }
        if (obl) continue;
        /* out (B, O, P) at the block's positions <- z transposed */
        for (int o = 0; o < O; o++)
            transpose(out + (size_t)o * P + p0, (size_t)O * P, s.zt + (size_t)o * B, (size_t)O * B, np, B);
    }
}

/* lc_backward_layout on one chunk of B images, as forward_chunk */
static void backward_chunk(float *dx, float *dW, float *db, const float *dout, const float *x, const float *F,
                           float *scratch, int B, int C, int H, int W, int O, int K, int st, int layout) {
    int OW = (W - 1) / st + 1, P = ((H - 1) / st + 1) * OW, CKK = C * K * K, KC = K * C, pad = (K - 1) / 2;
    size_t Bs = batch_stride(B, C), row = ((size_t)W + K - 1) * C * Bs;
    LcScratch s = scratch_split(scratch, B, C, H, W, O, K);
    int obl = layout & LC_OUT_BL, inplace = (layout & LC_IN_BL) && C % 8 == 0, few = lc_few_direct(C, K, O);
    if (db) {
        if (obl) db_sums_bl(db, dout, B, O, P);
        else db_sums(db, dout, B, O, P);
    }
    if (layout & LC_IN_BL) copy_batch_last(s.xt, x, B, C, H, W, K, st, inplace);
    else to_batch_last(s.xt, x, B, C, H, W, pad);
    /* the input gradient: added in place to dx itself (inplace), else to dxt and then to dx */
    if (dx && !inplace) memset(s.dxt, 0, (size_t)C * (H + 2 * pad) * (W + 2 * pad) * Bs * sizeof(float));
    /* dout at a block of positions, batch-last: (np, O, B) in zt, or where it lies */
    int nb = obl ? P : block_positions(P, O, B);
    for (int p0 = 0; p0 < P; p0 += nb) {
        int np = P - p0 < nb ? P - p0 : nb;
        const float *dt = obl ? dout : s.zt;
        if (!obl)
            for (int o = 0; o < O; o++)
                transpose(s.zt + (size_t)o * B, (size_t)O * B, dout + (size_t)o * P + p0, (size_t)O * P, B, np);
        for (int i = 0; i < np; i++) {
            int p = p0 + i, y0 = p / OW * st - pad, x0 = p % OW * st - pad;
            PatchAt a = patch_at(s.xt, x, inplace, y0, x0, B, C, H, W, K);
            const float *dtp = dt + (size_t)(obl ? p : i) * O * B, *xp = a.p;
            /* dW_p (O, CKK) += dt_p patches^T, in the kernels' order. As (patches dt_p^T)^T:
               dt_p transposed to (B, O), so that the product has no transposed operand (16 x 144
               x 128: 114 GFLOP/s against 65), its (CKK, O) result added transposed; with C a
               multiple of 8 the patches are read in place, K products (K C, O) in the patch
               rows' (ky, kx, c) order, the kernels' (for up to 32 channels out: 3-5% faster
               layers with 16 and 32, 6% slower with 64; docs/PERFORMANCE.md), otherwise
               gathered for O <= 16 and C K K >= 64. Else the plain orientation on the gathered
               patch. */
            int hwc = lc_kernels_hwc(C);
            if (few) { /* few channels: straight from the patch's rows, dt_p transposed */
#ifdef FEW_ON
                transpose8(s.dtt, dtp, O, B);
                few_dw(s.dwt, xp, a.row, a.ld, s.dtt, B, C, K, O, i + 1 < np ? dtp + (size_t)O * B : NULL);
                add_transposed(dW + (size_t)p * O * CKK, s.dwt, O, CKK);
#endif
            } else if (hwc ? O <= 32 : O <= 16 && CKK >= 64) {
                transpose(s.dtt, (size_t)O, dtp, (size_t)B, O, B);
                if (hwc)
                    for (int ky = 0; ky < K; ky++)
                        sgemm_ld(0, 0, KC, O, B, 1.0f, xp + ky * a.row, (int)a.ld, s.dtt, O, 0.0f,
                                 s.dwt + (size_t)ky * KC * O, O);
                else {
                    gather_patch(s.cols, xp, a.row, a.ld, C, K, B);
                    sgemm(0, 0, CKK, O, B, 1.0f, s.cols, s.dtt, 0.0f, s.dwt);
                }
                add_transposed(dW + (size_t)p * O * CKK, s.dwt, O, CKK);
            } else { /* 64 channels out, or the stem's 27-long kernels (both orientations at one rate) */
                if (hwc) gather_rows(s.cols, xp, a.row, a.ld, K, KC, B);
                else gather_patch(s.cols, xp, a.row, a.ld, C, K, B);
                sgemm(0, 1, O, CKK, B, 1.0f, dtp, s.cols, 1.0f, dW + (size_t)p * O * CKK);
            }
            if (!dx) continue;
            /* the patches' gradient F_p^T dt_p, per kernel row (K C, B): added in place to the
               rows under p, of dx where the patch lies inside the image (inplace), else of dxt;
               an inplace patch leaving the image is added in cols (K, K C, B), loaded from dx
               (zero outside the image) and its in-image part stored back: the same products
               onto the same floats as through dxt (a product adding its partial sums over O
               in blocks, as OpenBLAS does for large O, adds them to the same values) */
            const float *fp = F + (size_t)p * O * CKK; /* in the patch rows' order, else reordered */
            if (!hwc) kernels_rows(s.dwt, fp, O, C, K), fp = s.dwt;
            int to_cols = inplace && !patch_inside(y0, x0, H, W, K);
            float *dxp = !inplace ? s.dxt + (size_t)(y0 + pad) * row + (size_t)(x0 + pad) * C * Bs
                         : to_cols ? s.cols
                                   : dx + ((size_t)y0 * W + x0) * C * B;
            if (to_cols) patch_io(dx, s.cols, B, C, H, W, K, y0, x0, 1);
            size_t drow = !inplace ? row : to_cols ? (size_t)KC * B : (size_t)W * C * B, dld = inplace ? (size_t)B : Bs;
            for (int ky = 0; ky < K; ky++)
                sgemm_ld(1, 0, KC, B, O, 1.0f, fp + (size_t)ky * KC, CKK, dtp, B, 1.0f,
                         dxp + ky * drow, (int)dld);
            if (to_cols) patch_io(dx, s.cols, B, C, H, W, K, y0, x0, 0);
        }
    }
    if (!dx || inplace) return;
    if (layout & LC_IN_BL) add_batch_last(dx, s.dxt, B, C, H, W, pad);
    else add_from_batch_last(dx, s.xt, s.dxt, B, C, H, W, pad); /* xt is free now */
}

/*
 * The batch is taken in chunks of at most LC_CHUNK images (images are independent; dW and
 * db sum over the chunks in order): a chunk's batch-last input stays in the last-level cache
 * between its transpose and its gathers. Batch-last activations are laid out in the same
 * chunks (lc.h), so a chunk's images are one block of memory in either layout.
 */
void lc_forward_layout(float *out, const float *x, const float *Wt, const float *b, float *scratch, int B, int C,
                       int H, int W, int O, int K, int st, int layout) {
    assert(K % 2 == 1 && st >= 1);
    size_t ni = (size_t)C * H * W, no = (size_t)O * ((H - 1) / st + 1) * ((W - 1) / st + 1);
    for (int n0 = 0; n0 < B; n0 += LC_CHUNK) {
        int nb = B - n0 < LC_CHUNK ? B - n0 : LC_CHUNK;
        forward_chunk(out + n0 * no, x + n0 * ni, Wt, b, scratch, nb, C, H, W, O, K, st, layout);
    }
}

void lc_backward_layout(float *dx, float *dW, float *db, const float *dout, const float *x, const float *F,
                        float *scratch, int B, int C, int H, int W, int O, int K, int st, int layout) {
    assert(K % 2 == 1 && st >= 1);
    size_t ni = (size_t)C * H * W, no = (size_t)O * ((H - 1) / st + 1) * ((W - 1) / st + 1);
    for (int n0 = 0; n0 < B; n0 += LC_CHUNK) {
        int nb = B - n0 < LC_CHUNK ? B - n0 : LC_CHUNK;
        backward_chunk(dx ? dx + n0 * ni : NULL, dW, db, dout + n0 * no, x + n0 * ni, F, scratch, nb, C, H, W, O, K,
                       st, layout);
    }
}

void lc_forward_strided(float *out, const float *x, const float *Wt, const float *b, float *scratch, int B,
                        int C, int H, int W, int O, int K, int st) {
    lc_forward_layout(out, x, Wt, b, scratch, B, C, H, W, O, K, st, 0);
}

void lc_backward_strided(float *dx, float *dW, float *db, const float *dout, const float *x, const float *F,
                         float *scratch, int B, int C, int H, int W, int O, int K, int st) {
    lc_backward_layout(dx, dW, db, dout, x, F, scratch, B, C, H, W, O, K, st, 0);
}

void lc_relayout(float *dst, const float *src, int B, int C, int P, int back) {
    /* per chunk and plane: (Bc, P) batch-first, C P floats apart <-> (P, Bc) batch-last, C Bc apart */
    for (int n0 = 0, bc; n0 < B; n0 += bc) {
        bc = B - n0 < LC_BL_CHUNK ? B - n0 : LC_BL_CHUNK;
        size_t at = (size_t)n0 * C * P, CP = (size_t)C * P, CB = (size_t)C * bc;
        for (int c = 0; c < C; c++)
            if (back) transpose(dst + at + (size_t)c * P, CP, src + at + (size_t)c * bc, CB, P, bc);
            else transpose(dst + at + (size_t)c * bc, CB, src + at + (size_t)c * P, CP, bc, P);
    }
}

/* x[n][c][y + ky - pad][xo + kx - pad], 0 outside the map */
static double pixel(const float *x, int n, int c, int y, int xo, int C, int H, int W) {
    return (y < 0 || y >= H || xo < 0 || xo >= W) ? 0.0 : x[(((size_t)n * C + c) * H + y) * W + xo];
}

void lc_forward_naive(float *out, const float *x, const float *Wt, const float *b, int B, int C,
                      int H, int W, int O, int K) {
    int pad = (K - 1) / 2, CKK = C * K * K;
    for (int n = 0; n < B; n++)
        for (int o = 0; o < O; o++)
            for (int y = 0; y < H; y++)
                for (int xo = 0; xo < W; xo++) {
                    const float *w = Wt + ((size_t)(y * W + xo) * O + o) * CKK;
                    double s = b ? b[o] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++)
                                s += w[lc_kidx(C, K, c, ky, kx)] *
                                     pixel(x, n, c, y + ky - pad, xo + kx - pad, C, H, W);
                    out[(((size_t)n * O + o) * H + y) * W + xo] = (float)s;
                }
}

void lc_backward_naive(float *dx, float *dW, float *db, const float *dout, const float *x,
                       const float *F, int B, int C, int H, int W, int O, int K) {
    int pad = (K - 1) / 2, CKK = C * K * K, P = H * W;
    for (int p = 0; p < P; p++)
        for (int o = 0; o < O; o++)
            for (int c = 0; c < C; c++)
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        int y = p / W, xo = p % W;
                        double s = 0.0;
                        for (int n = 0; n < B; n++)
                            s += dout[((size_t)n * O + o) * P + p] *
                                 pixel(x, n, c, y + ky - pad, xo + kx - pad, C, H, W);
                        dW[((size_t)p * O + o) * CKK + lc_kidx(C, K, c, ky, kx)] += (float)s;
                    }
    if (db)
        for (int o = 0; o < O; o++) {
            double s = 0.0;
            for (int n = 0; n < B; n++)
                for (int p = 0; p < P; p++) s += dout[((size_t)n * O + o) * P + p];
            db[o] += (float)s;
        }
    if (!dx) return;
    /* dx[n][c][iy][ix] = sum over (p, o, ky, kx) with p + k - pad = i of dout[n][o][p] F_p */
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++)
            for (int iy = 0; iy < H; iy++)
                for (int ix = 0; ix < W; ix++) {
                    double s = 0.0;
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++) {
                            int y = iy - ky + pad, xo = ix - kx + pad;
                            if (y < 0 || y >= H || xo < 0 || xo >= W) continue;
                            for (int o = 0; o < O; o++)
                                s += (double)dout[((size_t)n * O + o) * P + y * W + xo] *
                                     F[((size_t)(y * W + xo) * O + o) * CKK + lc_kidx(C, K, c, ky, kx)];
                        }
                    dx[(((size_t)n * C + c) * H + iy) * W + ix] += (float)s;
                }
}

void lc_init(float *Wt, float *b, int C, int H, int W, int O, int K, double eps, Rng *r) {
    int P = H * W, CKK = C * K * K;
    size_t n = (size_t)O * CKK;
    double std = sqrt(2.0 / ((double)O * K * K)); /* Kaiming normal, ReLU gain, fan-out */
    DistParams d;
    if (eps < 0) {
        dist_defaults(&d, "normal", std);
        for (int p = 0; p < P; p++) dist_fill(&d, Wt + (size_t)p * n, O, CKK, r);
    } else {
        /* the shared kernel s lives in position 0's slot until every other position is made */
        double a = std / sqrt(1.0 + eps * eps);
        dist_defaults(&d, "normal", 1.0);
        dist_fill(&d, Wt, O, CKK, r);
        dist_defaults(&d, "normal", eps);
        for (int p = P - 1; p >= 1; p--) {
            float *w = Wt + (size_t)p * n;
            dist_fill(&d, w, O, CKK, r);
            for (size_t i = 0; i < n; i++) w[i] = (float)(a * ((double)Wt[i] + w[i]));
        }
        for (size_t i = 0; i < n; i++) Wt[i] = (float)(a * (Wt[i] + eps * rng_normal(r)));
    }
    if (b) {
        dist_defaults(&d, "uniform", 1.0 / sqrt((double)CKK));
        dist_fill(&d, b, 1, O, r);
    }
}

/*
 * Sharing groups within the rectangle [lo, hiy) x [lo, hix) of positions: GRID has K*K
 * groups, group g = (gy, gx) holding y = lo + gy + jK, x = lo + gx + iK; MAP has one.
 */
typedef struct Groups {
    int n_groups, step, lo, hiy, hix;
} Groups;

static Groups groups_make(int share, int K, int lo, int hiy, int hix) {
    Groups g = {share == LC_SHARE_MAP ? 1 : K * K, share == LC_SHARE_MAP ? 1 : K, lo, hiy, hix};
    return g;
}
static int count_from(int start, int len, int step) { return start < len ? (len - start + step - 1) / step : 0; }
static int group_gy(const Groups *g, int i) { return i / g->step; }
static int group_gx(const Groups *g, int i) { return i % g->step; }
static int group_size(const Groups *g, int i) {
    return count_from(group_gy(g, i), g->hiy - g->lo, g->step) *
           count_from(group_gx(g, i), g->hix - g->lo, g->step);
}
/* position index (y * W + x) of member m of group i */
static int group_member(const Groups *g, int i, int m, int W) {
    int nx = count_from(group_gx(g, i), g->hix - g->lo, g->step);
    int y = g->lo + group_gy(g, i) + (m / nx) * g->step, x = g->lo + group_gx(g, i) + (m % nx) * g->step;
    return y * W + x;
}

void lc_share_instant(float *Wt, int C, int H, int W, int O, int K, int share) {
    size_t n = (size_t)O * C * K * K;
    Groups g = groups_make(share, K, 0, H, W);
    for (int i = 0; i < g.n_groups; i++) {
        int nm = group_size(&g, i);
        if (nm < 2) continue;
        for (size_t e = 0; e < n; e++) {
            double s = 0.0;
            for (int m = 0; m < nm; m++) s += Wt[(size_t)group_member(&g, i, m, W) * n + e];
            float mean = (float)(s / nm);
            for (int m = 0; m < nm; m++) Wt[(size_t)group_member(&g, i, m, W) * n + e] = mean;
        }
    }
}

/* sleep iterations whose patches are drawn at once: a group's weights then stay in cache
   for that many iterations instead of all groups' weights streaming through every one */
enum { SLEEP_TC = 8 };

/*
 * The non-padded output positions of a layer on an IH x IW input at stride st: rows and
 * columns [lo, hiy) x [lo, hix) of its (IH-1)/st+1 x (IW-1)/st+1 map, the positions whose
 * K x K patch lies inside the input (the authors' left_border = ceil(pad/st), right_border =
 * (in - 2 pad)//st + left_border; at stride 1 [pad, H - pad)). @return 0 if there is none.
 */
typedef struct Span {
    int OH, OW, lo, hiy, hix;
} Span;

static int span_of(int IH, int IW, int st, int K, Span *sp) {
    int pad = (K - 1) / 2;
    sp->OH = (IH - 1) / st + 1, sp->OW = (IW - 1) / st + 1;
    sp->lo = (pad + st - 1) / st;
    sp->hiy = IH - 2 * pad < 1 ? sp->lo : (IH - 2 * pad) / st + sp->lo;
    sp->hix = IW - 2 * pad < 1 ? sp->lo : (IW - 2 * pad) / st + sp->lo;
    return sp->hiy > sp->lo && sp->hix > sp->lo;
}

size_t lc_sleep_scratch_floats_strided(int C, int IH, int IW, int st, int O, int K, int share, int batch) {
    int CKK = C * K * K;
    Span sp;
    if (!span_of(IH, IW, st, K, &sp)) return 0;
    Groups g = groups_make(share, K, sp.lo, sp.hiy, sp.hix);
    size_t np = (size_t)(sp.hiy - sp.lo) * (sp.hix - sp.lo);
    /* Wg and W0g (np, O, CKK); patches (SLEEP_TC, batch, CKK); X (batch, CKK);
       Z (batch, nmax*O); mean (O) */
    return 2 * np * O * CKK + (SLEEP_TC + 1) * (size_t)batch * CKK + (size_t)batch * group_size(&g, 0) * O + O;
}

size_t lc_sleep_scratch_floats(int C, int H, int W, int O, int K, int share, int batch) {
    return lc_sleep_scratch_floats_strided(C, H, W, 1, O, K, share, batch);
}

/*
 * X (batch, C, K, K) <- the tile a member of group (gy, gx) sees: patch rows and columns
 * shifted by (gy, gx), cyclically.
 */
/* r <- z minus its mean over the group's members: Z (batch, nm O), per image and output
   channel. MULTIVERSION with decay_toward: the sleep's elementwise steps took 15% of a
   16 -> 16, 5 x 5 layer's sleep in baseline SSE (docs/PERFORMANCE.md, "Seventh pass") */
MULTIVERSION
static void center_members(float *restrict Z, float *restrict mean, int batch, int nm, int O) {
    int N = nm * O;
    for (int b = 0; b < batch; b++) {
        float *zb = Z + (size_t)b * N;
        for (int o = 0; o < O; o++) mean[o] = 0.0f;
        for (int m = 0; m < nm; m++)
            for (int o = 0; o < O; o++) mean[o] += zb[m * O + o];
        for (int o = 0; o < O; o++) mean[o] /= (float)nm;
        for (int m = 0; m < nm; m++)
            for (int o = 0; o < O; o++) zb[m * O + o] -= mean[o];
    }
}

/* w <- w - c (w - w0) over n weights (c = lr gamma) */
MULTIVERSION
static void decay_toward(float *restrict w, const float *restrict w0, size_t n, float c) {
    for (size_t j = 0; j < n; j++) w[j] -= c * (w[j] - w0[j]);
}

/* X's blocks from `from` on (batch C blocks of K x K) <- patch's, each rolled by (gy, gx):
   X[.][ky][kx] = patch[.][(gy + ky) % K][(gx + kx) % K] */
static void shift_rows(float *X, const float *patch, int nb, int from, int K, int gy, int gx) {
    int KK = K * K;
    for (int blk = from; blk < nb; blk++)
        for (int ky = 0; ky < K; ky++) {
            int sy = gy + ky < K ? gy + ky : gy + ky - K;
            const float *src = patch + (size_t)blk * KK + sy * K;
            float *dst = X + (size_t)blk * KK + ky * K;
            for (int kx = 0; kx < K - gx; kx++) dst[kx] = src[gx + kx];
            for (int kx = K - gx; kx < K; kx++) dst[kx] = src[kx - (K - gx)];
        }
}

/* The same for blocks of K K <= 32 floats (K 3 and 5) by one or two register permutations
   per block (vpermt2ps), each block's 16 or 32 floats read and written (the next block's part
   rewritten after), up to the last blocks: returns the blocks done. A sleep of a 16 -> 16,
   5 x 5 layer: 0.726 -> 0.684 s of CPU in bench_lc (docs/PERFORMANCE.md, "Seventh pass");
   the scalar loops moved each row's 5 floats in two loops of variable length */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx512f"))) static int shift_blocks512(float *restrict X, const float *restrict patch, int nb,
                                                              int K, int gy, int gx) {
    int KK = K * K, wide = KK > 16, span = wide ? 32 : 16, done = 0;
    v16i idx0, idx1;
    for (int j = 0; j < 32; j++) {
        int ky = j / K % K, kx = j % K, src = j < KK ? (gy + ky) % K * K + (gx + kx) % K : 0;
        if (j < 16) idx0[j] = src;
        else idx1[j - 16] = src;
    }
    for (; done < nb && (size_t)done * KK + span <= (size_t)nb * KK; done++) {
        const float *src = patch + (size_t)done * KK;
        float *dst = X + (size_t)done * KK;
        v16 a = ld16(src), b = wide ? ld16(src + 16) : a, o0 = __builtin_shuffle(a, b, idx0);
        memcpy(dst, &o0, sizeof o0);
        if (wide) {
            v16 o1 = __builtin_shuffle(a, b, idx1);
            memcpy(dst + 16, &o1, sizeof o1);
        }
    }
    return done;
}
#endif

/* X (batch, C, K, K) <- patch with each K x K block rolled by (gy, gx) (shift_rows) */
static void shift_patches(float *X, const float *patch, int batch, int C, int K, int gy, int gx) {
    int nb = batch * C, done = 0;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    if (K * K <= 32 && __builtin_cpu_supports("avx512f")) done = shift_blocks512(X, patch, nb, K, gy, gx);
#endif
    shift_rows(X, patch, nb, done, K, gy, gx);
}

void lc_sleep_dynamic_strided(float *Wt, float *scratch, int C, int IH, int IW, int st, int O, int K, int share,
                              int T, float lr, float gamma, int batch, Rng *r) {
    int pad = (K - 1) / 2, CKK = C * K * K;
    Span sp;
    if (!span_of(IH, IW, st, K, &sp)) return;
    int W = sp.OW;
    Groups g = groups_make(share, K, sp.lo, sp.hiy, sp.hix);
    size_t n = (size_t)O * CKK, np = (size_t)(sp.hiy - sp.lo) * (sp.hix - sp.lo), nP = (size_t)batch * CKK;
    float *Wg = scratch;                       /* (np, O, CKK), grouped: group 0's members first */
    float *W0g = Wg + np * n;                  /* the same at the start of the sleep */
    float *patches = W0g + np * n;             /* (SLEEP_TC, batch, C, K, K) */
    float *X = patches + SLEEP_TC * nP;        /* (batch, CKK): what one group sees */
    float *Z = X + nP;                         /* (batch, members * O) */
    float *mean = Z + (size_t)batch * group_size(&g, 0) * O; /* (O) */
    float *wg = Wg;
    for (int i = 0; i < g.n_groups; i++)
        for (int m = 0; m < group_size(&g, i); m++, wg += n)
            lc_kernels_convert(wg, Wt + (size_t)group_member(&g, i, m, W) * n, (size_t)O, C, K, 1); /* (c, ky, kx) */
    memcpy(W0g, Wg, np * n * sizeof(float));

    /* iterations t0 .. t0 + tc - 1: their patches drawn in iteration order (the stream does
       not depend on SLEEP_TC), then each group runs them; groups share nothing else */
    for (int t0 = 0; t0 < T; t0 += SLEEP_TC) {
        int tc = T - t0 < SLEEP_TC ? T - t0 : SLEEP_TC;
        for (size_t j = 0; j < (size_t)tc * nP; j++) patches[j] = (float)rng_normal(r);
        size_t off = 0;
        for (int i = 0; i < g.n_groups; i++) {
            int nm = group_size(&g, i), gy = group_gy(&g, i), gx = group_gx(&g, i);
            if (share != LC_SHARE_MAP) { /* the tile a member sees: its patch starts at input row st y - pad */
                gy = ((st * (sp.lo + gy) - pad) % K + K) % K;
                gx = ((st * (sp.lo + gx) - pad) % K + K) % K;
            }
            int N = nm * O;
            float *w = Wg + off * n, *w0 = W0g + off * n;
            off += (size_t)nm;
            if (nm < 2) continue; /* r = 0 and W = W0: nothing moves */
            for (int t = 0; t < tc; t++) {
                const float *Xg = patches + (size_t)t * nP;
                if (gy || gx) {
                    shift_patches(X, Xg, batch, C, K, gy, gx);
                    Xg = X;
                }
                /* Z (batch, nm*O) <- Xg * Wg^T: every member's outputs */
                sgemm(0, 1, batch, N, CKK, 1.0f, Xg, w, 0.0f, Z);
                center_members(Z, mean, batch, nm, O);
                /* W <- W - lr gamma (W - W0) - (lr / batch) r^T Xg */
                decay_toward(w, w0, (size_t)N * CKK, lr * gamma);
                sgemm(1, 0, N, CKK, batch, -lr / (float)batch, Z, Xg, 1.0f, w);
            }
        }
    }
    wg = Wg;
    for (int i = 0; i < g.n_groups; i++)
        for (int m = 0; m < group_size(&g, i); m++, wg += n)
            lc_kernels_convert(Wt + (size_t)group_member(&g, i, m, W) * n, wg, (size_t)O, C, K, 0);
}

void lc_sleep_dynamic(float *Wt, float *scratch, int C, int H, int W, int O, int K, int share,
                      int T, float lr, float gamma, int batch, Rng *r) {
    lc_sleep_dynamic_strided(Wt, scratch, C, H, W, 1, O, K, share, T, lr, gamma, batch, r);
}

void lc_snr_strided(const float *Wt, int C, int IH, int IW, int st, int O, int K, double *snr_paper,
                    double *snr_code) {
    size_t n = (size_t)O * C * K * K;
    Span sp;
    int ok = span_of(IH, IW, st, K, &sp), W = sp.OW;
    int Np = ok ? (sp.hiy - sp.lo) * (sp.hix - sp.lo) : 0;
    double s_p = 0.0, s_c = 0.0;
    if (Np < 2) {
        if (snr_paper) *snr_paper = NAN;
        if (snr_code) *snr_code = NAN;
        return;
    }
    size_t CKK = (size_t)C * K * K;
    for (size_t ep = 0; ep < n; ep++) { /* weights in (c, ky, kx) order: the same sums as ever */
        size_t j = ep % CKK, e = ep - j + (size_t)lc_kidx(C, K, (int)(j / (K * K)), (int)(j % (K * K)) / K, (int)(j % K));
        double m = 0.0, ss = 0.0;
        for (int y = sp.lo; y < sp.hiy; y++)
            for (int x = sp.lo; x < sp.hix; x++) m += Wt[(size_t)(y * W + x) * n + e];
        m /= Np;
        for (int y = sp.lo; y < sp.hiy; y++)
            for (int x = sp.lo; x < sp.hix; x++) {
                double d = Wt[(size_t)(y * W + x) * n + e] - m;
                ss += d * d;
            }
        double var = ss / Np, sd = sqrt(ss / (Np - 1));
        s_p += m * m / (var == 0.0 ? 1e-40 : var);
        s_c += fabs(m) / (sd == 0.0 ? 1e-20 : sd);
    }
    if (snr_paper) *snr_paper = s_p / (double)n;
    if (snr_code) *snr_code = s_c / (double)n;
}

void lc_snr(const float *Wt, int C, int H, int W, int O, int K, double *snr_paper, double *snr_code) {
    lc_snr_strided(Wt, C, H, W, 1, O, K, snr_paper, snr_code);
}
