#include "sparse.h"

#include <math.h>
#include <string.h>

#include "clones.h"

static inline int64_t batch_row(const SparseBatch *x, int r) { return x->rows ? x->rows[r] : (int64_t)x->row0 + r; }

/* dst (C,R; row stride ld) <- src (R,C; row stride ls)^T, or += with add: moves (and adds)
 * floats only, so every version gives the same bits. 8x8 tiles in AVX registers where the
 * CPU has AVX, one float at a time elsewhere and at the edges. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
__attribute__((target("avx"))) static void tile8_avx(float *dst, size_t ld, const float *src, size_t ls, int add) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * ls);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    for (int i = 0; i < 8; i++) {
        float *d = dst + i * ld;
        _mm256_storeu_ps(d, add ? _mm256_add_ps(_mm256_loadu_ps(d), t[i]) : t[i]);
    }
}
#define HAVE_TILE8 1
#endif

static void transpose_tiles(float *dst, size_t ld, const float *src, size_t ls, int R, int C, int add) {
    int R8 = 0, C8 = 0;
#ifdef HAVE_TILE8
    if (__builtin_cpu_supports("avx")) {
        R8 = R / 8 * 8, C8 = C / 8 * 8;
        for (int r0 = 0; r0 < R8; r0 += 8)
            for (int c0 = 0; c0 < C8; c0 += 8) tile8_avx(dst + (size_t)c0 * ld + r0, ld, src + (size_t)r0 * ls + c0, ls, add);
    }
#endif
    for (int r = 0; r < R; r++)
        for (int c = r < R8 ? C8 : 0; c < C; c++) {
            float *d = dst + (size_t)c * ld + r;
            *d = add ? *d + src[(size_t)r * ls + c] : src[(size_t)r * ls + c];
        }
}

/* Padded widths: WT and dWT rows hold sparse_width(O) floats (zeros past O), so that every
 * block below is a whole number of 16-float vectors. */
int sparse_width(int O) { return (O + 15) / 16 * 16; }

/* y[0..n) <- acc[0..n) + the products of entries [j0, j1), in entry order, for blocks of W
 * floats of WT's rows starting at column o; fused multiply-adds round once everywhere */
#define SPARSE_BLOCK(W)                                                                  \
    case W: {                                                                            \
        float acc[W];                                                                    \
        memcpy(acc, bias + o, sizeof acc);                                               \
        for (int64_t j = j0; j < j1; j++) {                                              \
            const float v = val[j], *w = WT + (size_t)idx[j] * Op + o;                   \
            _Pragma("GCC unroll 128") for (int i = 0; i < (W); i++) acc[i] = fmaf(v, w[i], acc[i]); \
        }                                                                                \
        memcpy(y + o, acc, (size_t)(O - o < (W) ? O - o : (W)) * sizeof(float));         \
        break;                                                                           \
    }

/* the widest block first: 8 vectors of 16 floats keep the FMA units busy */
#define BLOCKS(o, Op) ((Op) - (o) >= 128 ? 128 : (Op) - (o))

MULTIVERSION
void sparse_forward(float *out, const SparseBatch *x, const float *WT, const float *bpad, int B, int O) {
    const SparseRows *sp = x->sp;
    const int32_t *idx = sp->idx;
    const float *val = sp->val, *bias = bpad;
    int Op = sparse_width(O);
    for (int r = 0; r < B; r++) {
        int64_t row = batch_row(x, r), j0 = sp->start[row], j1 = sp->start[row + 1];
        float *y = out + (size_t)r * O;
        for (int o = 0; o < Op; o += BLOCKS(o, Op)) {
            switch (BLOCKS(o, Op)) {
                SPARSE_BLOCK(128) SPARSE_BLOCK(112) SPARSE_BLOCK(96) SPARSE_BLOCK(80)
                SPARSE_BLOCK(64) SPARSE_BLOCK(48) SPARSE_BLOCK(32) SPARSE_BLOCK(16)
            }
        }
    }
}

/* g[0..W) <- the products of column k's entries with the rows of dout (padded to Op), in
 * row order */
#define GRAD_BLOCK(W)                                                                    \
    case W: {                                                                            \
        float acc[W] = {0};                                                              \
        for (int j = start[k]; j < start[k + 1]; j++) {                                  \
            const float v = val[j], *d = dpad + (size_t)row[j] * Op + o;                 \
            _Pragma("GCC unroll 128") for (int i = 0; i < (W); i++) acc[i] = fmaf(v, d[i], acc[i]); \
        }                                                                                \
        memcpy(g + o, acc, sizeof acc);                                                  \
        break;                                                                           \
    }

MULTIVERSION
void sparse_grad_w(float *dW, const float *dout, const SparseBatch *x, int B, int I, int O, int *start,
                   int *row, float *val, float *dWT, float *dpad) {
    const SparseRows *sp = x->sp;
    int Op = sparse_width(O);
    for (int r = 0; r < B; r++) {
        memcpy(dpad + (size_t)r * Op, dout + (size_t)r * O, (size_t)O * sizeof(float));
        memset(dpad + (size_t)r * Op + O, 0, (size_t)(Op - O) * sizeof(float));
    }
    /* the batch's nonzeros by column (a counting sort: rows stay ascending in a column) */
    memset(start, 0, (size_t)(I + 1) * sizeof(int));
    for (int r = 0; r < B; r++) {
        int64_t q = batch_row(x, r);
        for (int64_t j = sp->start[q]; j < sp->start[q + 1]; j++) start[sp->idx[j] + 1]++;
    }
    for (int k = 0; k < I; k++) start[k + 1] += start[k];
    for (int r = 0; r < B; r++) {
        int64_t q = batch_row(x, r);
        for (int64_t j = sp->start[q]; j < sp->start[q + 1]; j++) {
            int p = start[sp->idx[j]]++;
            row[p] = r, val[p] = sp->val[j];
        }
    }
    for (int k = I; k > 0; k--) start[k] = start[k - 1]; /* back to the first entry of each column */
    start[0] = 0;
    for (int k = 0; k < I; k++) {
        float *g = dWT + (size_t)k * Op;
        if (start[k] == start[k + 1]) {
            memset(g, 0, (size_t)Op * sizeof(float));
            continue;
        }
        for (int o = 0; o < Op; o += BLOCKS(o, Op)) {
            switch (BLOCKS(o, Op)) {
                GRAD_BLOCK(128) GRAD_BLOCK(112) GRAD_BLOCK(96) GRAD_BLOCK(80)
                GRAD_BLOCK(64) GRAD_BLOCK(48) GRAD_BLOCK(32) GRAD_BLOCK(16)
            }
        }
    }
    /* dW += dWT^T */
    transpose_tiles(dW, I, dWT, Op, I, O, 1);
}

long sparse_batch_nnz(const SparseBatch *x, int B) {
    long n = 0;
    for (int r = 0; r < B; r++) {
        int64_t q = batch_row(x, r);
        n += (long)(x->sp->start[q + 1] - x->sp->start[q]);
    }
    return n;
}

void sparse_transpose(float *WT, float *bpad, const float *W, const float *b, int O, int I) {
    int Op = sparse_width(O);
    transpose_tiles(WT, Op, W, I, O, I, 0);
    for (int k = 0; k < I; k++) memset(WT + (size_t)k * Op + O, 0, (size_t)(Op - O) * sizeof(float));
    for (int o = 0; o < Op; o++) bpad[o] = o < O ? b[o] : 0.0f;
}
