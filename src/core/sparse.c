#include "sparse.h"

#include <math.h>
#include <string.h>

#include "clones.h"

static inline int64_t batch_row(const SparseBatch *x, int r) { return x->rows ? x->rows[r] : (int64_t)x->row0 + r; }

/* dst (C,R; row stride ld) <- src (R,C; row stride ls)^T, or += with add: moves (and adds)
 * floats only, so every clone gives the same bits. 8x8 tiles as three rounds of two-vector
 * shuffles (unpack, shuffle, lane swap), one float at a time at the edges. */
#if defined(__GNUC__) && !defined(__clang__)
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
#define SHUF(a, b, ...) __builtin_shuffle(a, b, (v8i){__VA_ARGS__})
static inline __attribute__((always_inline)) void tile8(float *dst, size_t ld, const float *src, size_t ls, int add) {
    v8f r[8], t[8];
    for (int i = 0; i < 8; i++) memcpy(&r[i], src + i * ls, sizeof r[i]);
    for (int i = 0; i < 8; i += 2) {
        t[i] = SHUF(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = SHUF(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = SHUF(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        r[i + 1] = SHUF(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        r[i + 2] = SHUF(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        r[i + 3] = SHUF(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = SHUF(r[i], r[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        t[i + 4] = SHUF(r[i], r[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
    for (int i = 0; i < 8; i++) {
        float *d = dst + i * ld;
        if (add) {
            v8f o;
            memcpy(&o, d, sizeof o);
            t[i] = o + t[i];
        }
        memcpy(d, &t[i], sizeof t[i]);
    }
}
#define HAVE_TILE8 1
#endif

MULTIVERSION
static void transpose_tiles(float *dst, size_t ld, const float *src, size_t ls, int R, int C, int add) {
    int R8 = 0, C8 = 0;
#ifdef HAVE_TILE8
    R8 = R / 8 * 8, C8 = C / 8 * 8;
    for (int r0 = 0; r0 < R8; r0 += 8)
        for (int c0 = 0; c0 < C8; c0 += 8) tile8(dst + (size_t)c0 * ld + r0, ld, src + (size_t)r0 * ls + c0, ls, add);
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
    /* SPARSE_COLS columns at a time into dWT, then added to dW transposed while in cache */
    for (int k0 = 0; k0 < I; k0 += SPARSE_COLS) {
        int nk = I - k0 < SPARSE_COLS ? I - k0 : SPARSE_COLS;
        for (int k = k0; k < k0 + nk; k++) {
            float *g = dWT + (size_t)(k - k0) * Op;
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
        transpose_tiles(dW + k0, I, dWT, Op, nk, O, 1); /* dW[:, k0..k0+nk) += dWT^T */
    }
}

void sparse_transpose(float *WT, float *bpad, const float *W, const float *b, int O, int I) {
    int Op = sparse_width(O);
    transpose_tiles(WT, Op, W, I, O, I, 0);
    for (int k = 0; k < I; k++) memset(WT + (size_t)k * Op + O, 0, (size_t)(Op - O) * sizeof(float));
    for (int o = 0; o < Op; o++) bpad[o] = o < O ? b[o] : 0.0f;
}
