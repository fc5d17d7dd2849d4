/*
 * Locally connected layer and its sleep (src/core/lc.h): forward/backward against naive
 * loops and central finite differences; db bit for bit in its summation order; scratch
 * bounds and alignment;
 * equal kernels == the conv layer; init statistics;
 * instant sharing; one dynamic sleep step against an independent construction (tiled image,
 * naive LC, naive groups); convergence to the fixed point w* = (C + gamma I)^-1
 * (C mean(w0) + gamma w0) with C = I; both SNR_w definitions on known values; SNR_w rises
 * with sleep and not with plain training.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "lc.h"
#include "rng.h"
#include "testutil.h"

static void fill(float *x, size_t n, Rng *r, double s) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(s * rng_normal(r));
}

/* max |a - b| / (1 + max |b|) */
static double rel_diff(const float *a, const float *b, size_t n) {
    double md = 0.0, mb = 0.0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mb = fmax(mb, fabs((double)b[i]));
    }
    return md / (1.0 + mb);
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static float *alloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* forward and backward == the naive loops (feedback F != W, accumulation onto nonzero grads) */
static void test_naive(Rng *r) {
    /* then batch and map wider than a 16 x 16 transpose tile, O * B large enough that lc.c
       takes the positions in blocks (512 and 17 of 529), a batch in chunks (128 and 2) */
    int shapes[][6] = {/* B C H W O K */ {3, 2, 5, 6, 4, 3}, {2, 3, 4, 4, 2, 1}, {2, 2, 7, 5, 3, 5},
                       {1, 1, 3, 3, 1, 3}, {4, 3, 6, 6, 5, 3}, {18, 2, 3, 17, 3, 3}, {33, 1, 2, 32, 2, 1},
                       {64, 2, 23, 23, 32, 3}, {130, 2, 4, 5, 3, 3},
                       /* channels a multiple of 8: the kernels reordered by 8 x 8 transposes
                          (K K = 9 and 25: a column past the last full 8) */
                       {5, 8, 6, 7, 4, 3}, {3, 16, 5, 5, 3, 5}, {2, 24, 4, 4, 9, 3},
                       /* C a multiple of 128 (no padding of the rows helps: batch_stride must
                          stop), and a batch in two chunks with C a multiple of 8 */
                       {3, 128, 3, 3, 2, 3}, {130, 8, 3, 4, 3, 3},
                       /* dW as (patches dout^T)^T (O <= 16, C K K >= 64) by 8 x 8 transposes:
                          C K K a multiple of 8, and 75 (a tail) */
                       {16, 8, 4, 5, 16, 3}, {8, 3, 4, 4, 8, 5},
                       /* ... read in place for C a multiple of 8 and O <= 32: O 24, 20 (not a
                          multiple of 8), 32 with 1 x 1 kernels */
                       {6, 8, 5, 6, 24, 3}, {4, 16, 4, 4, 20, 3}, {5, 8, 4, 4, 32, 1},
                       /* few channels, O a multiple of 16 (lc.c's few_forward and few_dw): images
                          past the last 16 and 8, maps not a multiple of 8 wide, two chunks and
                          two blocks of 16 outputs, C K K 25 and 147 (row blocks of 16, 8, 2, 1) */
                       {37, 3, 6, 7, 16, 3}, {130, 3, 5, 9, 32, 3}, {20, 1, 4, 4, 16, 5}, {17, 3, 5, 5, 16, 7}};
    for (int t = 0; t < (int)(sizeof shapes / sizeof shapes[0]); t++) {
        int B = shapes[t][0], C = shapes[t][1], H = shapes[t][2], W = shapes[t][3], O = shapes[t][4],
            K = shapes[t][5];
        size_t nw = lc_weight_count(C, H, W, O, K), nx = (size_t)B * C * H * W, no = (size_t)B * O * H * W;
        float *x = alloc(nx), *Wt = alloc(nw), *F = alloc(nw), *b = alloc(O), *o1 = alloc(no),
              *o2 = alloc(no), *g = alloc(no), *s = alloc(lc_scratch_floats(B, C, H, W, O, K));
        float *dW1 = alloc(nw), *dW2 = alloc(nw), *db1 = alloc(O), *db2 = alloc(O), *dx1 = alloc(nx),
              *dx2 = alloc(nx);
        fill(x, nx, r, 1), fill(Wt, nw, r, 0.5), fill(F, nw, r, 0.5), fill(b, O, r, 1), fill(g, no, r, 1);
        lc_forward(o1, x, Wt, b, s, B, C, H, W, O, K);
        lc_forward_naive(o2, x, Wt, b, B, C, H, W, O, K);
        double d = rel_diff(o1, o2, no);
        CHECK(d < 1e-5, "shape %d: forward differs from naive by %g", t, d);
        lc_forward(o1, x, Wt, NULL, s, B, C, H, W, O, K);
        lc_forward_naive(o2, x, Wt, NULL, B, C, H, W, O, K);
        CHECK(rel_diff(o1, o2, no) < 1e-5, "shape %d: forward without bias", t);
        fill(dW1, nw, r, 1), fill(db1, O, r, 1), fill(dx1, nx, r, 1);
        memcpy(dW2, dW1, nw * 4), memcpy(db2, db1, O * 4), memcpy(dx2, dx1, nx * 4);
        lc_backward(dx1, dW1, db1, g, x, F, s, B, C, H, W, O, K);
        lc_backward_naive(dx2, dW2, db2, g, x, F, B, C, H, W, O, K);
        CHECK(rel_diff(dW1, dW2, nw) < 1e-5, "shape %d: dW differs from naive by %g", t, rel_diff(dW1, dW2, nw));
        CHECK(rel_diff(db1, db2, O) < 1e-5, "shape %d: db differs from naive", t);
        CHECK(rel_diff(dx1, dx2, nx) < 1e-5, "shape %d: dx differs from naive by %g", t, rel_diff(dx1, dx2, nx));
        /* NULL dx and db: dW alone, same values */
        memcpy(dW2, dW1, nw * 4);
        lc_backward(NULL, dW1, NULL, g, x, F, s, B, C, H, W, O, K);
        lc_backward_naive(NULL, dW2, NULL, g, x, F, B, C, H, W, O, K);
        CHECK(rel_diff(dW1, dW2, nw) < 1e-5, "shape %d: dW alone", t);
        /* the feedback tensor is what dx uses: F = W and F != W give different dx */
        memset(dx1, 0, nx * 4), memset(dx2, 0, nx * 4);
        lc_backward(dx1, dW1, db1, g, x, F, s, B, C, H, W, O, K);
        lc_backward(dx2, dW1, db1, g, x, Wt, s, B, C, H, W, O, K);
        CHECK(rel_diff(dx1, dx2, nx) > 1e-2, "shape %d: dx ignores the feedback tensor", t);
        free(x), free(Wt), free(F), free(b), free(o1), free(o2), free(g), free(s);
        free(dW1), free(dW2), free(db1), free(db2), free(dx1), free(dx2);
    }
}

/*
 * db's summation order, which the bit-identity of lc and resnet results files with earlier
 * builds rests on (tests/ident): per image n in order, per channel o, db[o] += the sum of row
 * (n, o) of dout taken in 8 lanes (lane l: elements l, l + 8, ... of the full groups of 8; then
 * the tail in order, then the lanes in order), whatever the position blocks and batch chunks
 * lc.c reads dout in (a db summed per block must keep it): O B = 384 gives blocks of 2730
 * positions (2730 and 79 of 2809), then chunks of 128 and 2; O B = 2048 blocks of 512 (512 and
 * 17 of 529).
 */
static void test_db_order(Rng *r) {
    int shapes[][6] = {/* B C H W O K */ {130, 1, 53, 53, 3, 1}, {64, 2, 23, 23, 32, 3}, {5, 2, 3, 7, 2, 3}};
    for (int t = 0; t < 3; t++) {
        int B = shapes[t][0], C = shapes[t][1], H = shapes[t][2], W = shapes[t][3], O = shapes[t][4],
            K = shapes[t][5], P = H * W;
        size_t nw = lc_weight_count(C, H, W, O, K), nx = (size_t)B * C * H * W, no = (size_t)B * O * P;
        float *x = alloc(nx), *F = alloc(nw), *g = alloc(no), *dW = alloc(nw), *db = alloc(O), *ref = alloc(O),
              *s = alloc(lc_scratch_floats(B, C, H, W, O, K));
        fill(x, nx, r, 1), fill(F, nw, r, 0.5), fill(g, no, r, 1), fill(db, O, r, 1);
        memcpy(ref, db, O * sizeof(float));
        for (int n = 0; n < B; n++)
            for (int o = 0; o < O; o++) {
                const float *v = g + ((size_t)n * O + o) * P;
                float lane[8] = {0}, sum = 0.0f;
                int i = 0;
                for (; i + 8 <= P; i += 8)
                    for (int l = 0; l < 8; l++) lane[l] += v[i + l];
                for (; i < P; i++) sum += v[i];
                for (int l = 0; l < 8; l++) sum += lane[l];
                ref[o] += sum;
            }
        lc_backward(NULL, dW, db, g, x, F, s, B, C, H, W, O, K);
        CHECK(!memcmp(db, ref, O * sizeof(float)), "db order shape %d: not the 8-lane row sums in order (%.9g vs %.9g)",
              t, db[0], ref[0]);
        free(x), free(F), free(g), free(dW), free(db), free(ref), free(s);
    }
}

/*
 * lc.c starts its scratch arrays at multiples of 64 bytes: for a scratch pointer at every
 * float offset 0..15 from a 64-byte boundary, forward and backward stay inside
 * lc_scratch_floats floats (canaries after them untouched) and give the same floats, bit for
 * bit, as at offset 0 (alignment moves no number).
 */
static void test_scratch_align(Rng *r) {
    int shapes[][7] = {/* B C H W O K st */ {5, 3, 6, 7, 4, 3, 1}, {130, 2, 7, 7, 3, 3, 2}, {3, 1, 5, 5, 2, 5, 1}};
    for (int t = 0; t < 3; t++) {
        int B = shapes[t][0], C = shapes[t][1], H = shapes[t][2], W = shapes[t][3], O = shapes[t][4],
            K = shapes[t][5], st = shapes[t][6], OH = (H - 1) / st + 1, OW = (W - 1) / st + 1;
        size_t nw = lc_weight_count(C, OH, OW, O, K), nx = (size_t)B * C * H * W, no = (size_t)B * O * OH * OW;
        size_t ns = lc_scratch_floats(B, C, H, W, O, K), nres = no + nx + nw + O;
        float *x = alloc(nx), *Wt = alloc(nw), *b = alloc(O), *g = alloc(no), *res0 = alloc(nres), *res = alloc(nres);
        float *buf = aligned_alloc(64, ((ns + 32) * sizeof(float) + 63) / 64 * 64);
        CHECK(buf != NULL, "scratch align shape %d: allocation", t);
        if (!buf) continue;
        fill(x, nx, r, 1), fill(Wt, nw, r, 0.5), fill(b, O, r, 1), fill(g, no, r, 1);
        int ok = 1, same = 1;
        for (int off = 0; off < 16; off++) {
            float *sc = buf + off, *out = res, *dx = res + no, *dW = dx + nx, *db = dW + nw;
            for (size_t i = 0; i < 16; i++) sc[ns + i] = -12345.0f; /* canaries */
            memset(res, 0, nres * sizeof(float));
            lc_forward_strided(out, x, Wt, b, sc, B, C, H, W, O, K, st);
            lc_backward_strided(dx, dW, db, g, x, Wt, sc, B, C, H, W, O, K, st);
            for (size_t i = 0; i < 16; i++) ok &= sc[ns + i] == -12345.0f;
            if (!off) memcpy(res0, res, nres * sizeof(float));
            else same &= !memcmp(res0, res, nres * sizeof(float));
        }
        CHECK(ok, "scratch align shape %d: wrote past lc_scratch_floats", t);
        CHECK(same, "scratch align shape %d: results depend on the scratch's alignment", t);
        free(x), free(Wt), free(b), free(g), free(res0), free(res), free(buf);
    }
}

/*
 * Stride st == stride 1 subsampled: an LC layer at stride 1 whose kernel at (oy st, ox st) is
 * the strided layer's kernel at (oy, ox) (zero elsewhere) gives the strided output at those
 * positions; with dL/dout zero elsewhere, the same dx, db and dW at those positions. The
 * stride-1 side is the naive loops.
 */
static void test_strided(Rng *r) {
    int shapes[][7] = {/* B C H W O K st */ {3, 2, 7, 6, 4, 3, 2}, {17, 3, 9, 8, 5, 3, 2}, {2, 2, 8, 8, 3, 1, 2},
                       {3, 4, 11, 10, 2, 5, 3}, {20, 1, 5, 18, 2, 3, 2}, {64, 2, 45, 45, 32, 3, 2},
                       {130, 2, 7, 7, 3, 3, 2}, {4, 8, 9, 8, 5, 3, 2}, {3, 16, 7, 6, 2, 5, 2}};
    for (int t = 0; t < 9; t++) {
        int B = shapes[t][0], C = shapes[t][1], H = shapes[t][2], W = shapes[t][3], O = shapes[t][4],
            K = shapes[t][5], st = shapes[t][6], OH = (H - 1) / st + 1, OW = (W - 1) / st + 1;
        size_t n = (size_t)O * C * K * K, nw = (size_t)OH * OW * n, nw1 = (size_t)H * W * n, nx = (size_t)B * C * H * W,
               no = (size_t)B * O * OH * OW, no1 = (size_t)B * O * H * W;
        float *x = alloc(nx), *Ws = alloc(nw), *Fs = alloc(nw), *W1 = alloc(nw1), *F1 = alloc(nw1), *b = alloc(O),
              *out = alloc(no), *out1 = alloc(no1), *g = alloc(no), *g1 = alloc(no1), *dW = alloc(nw),
              *dW1 = alloc(nw1), *db = alloc(O), *db1 = alloc(O), *dx = alloc(nx), *dx1 = alloc(nx),
              *s = alloc(lc_scratch_floats(B, C, H, W, O, K));
        fill(x, nx, r, 1), fill(Ws, nw, r, 0.5), fill(Fs, nw, r, 0.5), fill(b, O, r, 1), fill(g, no, r, 1);
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                size_t ps = (size_t)oy * OW + ox, p1 = (size_t)oy * st * W + ox * st;
                memcpy(W1 + p1 * n, Ws + ps * n, n * sizeof(float));
                memcpy(F1 + p1 * n, Fs + ps * n, n * sizeof(float));
                for (int i = 0; i < B * O; i++) g1[(size_t)i * H * W + p1] = g[(size_t)i * OH * OW + ps];
            }
        lc_forward_strided(out, x, Ws, b, s, B, C, H, W, O, K, st);
        lc_forward_naive(out1, x, W1, b, B, C, H, W, O, K);
        double d = 0.0;
        for (int i = 0; i < B * O; i++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++)
                    d = fmax(d, fabs((double)out[((size_t)i * OH + oy) * OW + ox] -
                                     out1[(size_t)i * H * W + (size_t)oy * st * W + ox * st]));
        CHECK(d < 1e-5, "strided shape %d: forward differs from stride 1 subsampled by %g", t, d);
        lc_backward_strided(dx, dW, db, g, x, Fs, s, B, C, H, W, O, K, st);
        lc_backward_naive(dx1, dW1, db1, g1, x, F1, B, C, H, W, O, K);
        CHECK(rel_diff(dx, dx1, nx) < 1e-5, "strided shape %d: dx differs by %g", t, rel_diff(dx, dx1, nx));
        CHECK(rel_diff(db, db1, O) < 1e-5, "strided shape %d: db differs", t);
        d = 0.0;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                d = fmax(d, rel_diff(dW + ((size_t)oy * OW + ox) * n, dW1 + ((size_t)oy * st * W + ox * st) * n, n));
        CHECK(d < 1e-5, "strided shape %d: dW differs by %g", t, d);
        free(x), free(Ws), free(Fs), free(W1), free(F1), free(b), free(out), free(out1), free(g), free(g1);
        free(dW), free(dW1), free(db), free(db1), free(dx), free(dx1), free(s);
    }
}

/* lc_relayout both ways against lc_bl_index, element by element (batches of 3, 130, 260) */
static void test_relayout(void) {
    int Bs[3] = {3, 130, 260}, C = 3, P = 5;
    for (int t = 0; t < 3; t++) {
        int B = Bs[t];
        size_t N = (size_t)B * C * P;
        float *f = alloc(N), *l = alloc(N), *b = alloc(N);
        for (size_t i = 0; i < N; i++) f[i] = (float)i;
        lc_relayout(l, f, B, C, P, 0), lc_relayout(b, l, B, C, P, 1);
        int bad = 0;
        for (int n = 0; n < B; n++)
            for (int c = 0; c < C; c++)
                for (int q = 0; q < P; q++) bad += l[lc_bl_index(B, C, P, n, c, q)] != f[((size_t)n * C + c) * P + q];
        CHECK(!bad && !memcmp(b, f, N * sizeof(float)), "lc_relayout B %d: %d elements misplaced", B, bad);
        free(f), free(l), free(b);
    }
}

/*
 * lc_forward_layout / lc_backward_layout in each of the four layouts against the batch-first
 * calls on the same data relaid: out, dW, db and dx bit for bit (the same products, db summed
 * in the same order). dx is added to what it held: from zero, bit for bit;
 * onto random values, within rounding where a batch-last input with C a multiple of 8 takes
 * the patches' gradients into dx one by one (batch-first: summed apart, then added). Batches
 * of one chunk, of two (130: a short second chunk) and of 3 and 9 (not a multiple of 8);
 * stride 1 and 2; C a multiple of 8 (kernels reordered, batch-last read in place) and not;
 * 384 channels out (OpenBLAS sums the input gradient's products over O in blocks).
 */
/*
 * A few-channel layer (few_forward: C not a multiple of 8, O a multiple of 16) sums each
 * output over the patch's rows in order, in vector lanes or one image at a time alike: an
 * image's output is the same floats alone as in any place of a batch (lanes 0 and 15 of a
 * block of 16, the images past the last 16, the second chunk), with and without bias, in
 * both output layouts.
 */
static void test_few_batch_place(Rng *r) {
    int B = 150, C = 3, H = 6, W = 7, O = 32, K = 3, P = H * W, idx[] = {0, 15, 16, 127, 128, 131, 149};
    if (!lc_few_direct(C, K, O)) { /* no AVX-512 (or not a GCC x86-64 build): OpenBLAS runs them */
        printf("few channels: not this CPU's path, batch-place check skipped\n");
        return;
    }
    size_t nw = lc_weight_count(C, H, W, O, K), nx = (size_t)B * C * H * W, no = (size_t)B * O * P;
    float *x = alloc(nx), *Wt = alloc(nw), *b = alloc(O), *out = alloc(no), *one = alloc((size_t)O * P),
          *s = alloc(lc_scratch_floats(B, C, H, W, O, K));
    fill(x, nx, r, 1), fill(Wt, nw, r, 0.5), fill(b, O, r, 1);
    for (int lay = 0; lay <= LC_OUT_BL; lay += LC_OUT_BL)
        for (int bias = 0; bias < 2; bias++) {
            lc_forward_layout(out, x, Wt, bias ? b : NULL, s, B, C, H, W, O, K, 1, lay);
            int bad = 0;
            for (size_t t = 0; t < sizeof idx / sizeof idx[0]; t++) {
                int n = idx[t];
                lc_forward_layout(one, x + (size_t)n * C * H * W, Wt, bias ? b : NULL, s, 1, C, H, W, O, K, 1, 0);
                for (int o = 0; o < O; o++)
                    for (int p = 0; p < P; p++) {
                        float v = lay ? out[lc_bl_index(B, O, P, n, o, p)] : out[((size_t)n * O + o) * P + p];
                        bad += memcmp(&v, &one[(size_t)o * P + p], sizeof v) != 0;
                    }
            }
            CHECK(!bad, "few channels, layout %d bias %d: %d outputs differ from their image's alone", lay, bias, bad);
        }
    free(x), free(Wt), free(b), free(out), free(one), free(s);
}

static void test_layouts(Rng *r, int dx_zero) {
    int shapes[][7] = {/* B C H W O K st */ {5, 3, 6, 7, 4, 3, 1}, {130, 8, 5, 6, 3, 3, 2}, {9, 16, 6, 6, 16, 3, 1},
                       {3, 2, 7, 7, 5, 1, 2}, {20, 8, 8, 8, 32, 3, 2}, {128, 3, 4, 4, 16, 3, 1},
                       {64, 32, 8, 8, 384, 3, 1}, {37, 3, 6, 7, 16, 3, 1}, {130, 3, 8, 9, 32, 3, 2}};
    for (int t = 0; t < (int)(sizeof shapes / sizeof shapes[0]); t++) {
        int B = shapes[t][0], C = shapes[t][1], H = shapes[t][2], W = shapes[t][3], O = shapes[t][4],
            K = shapes[t][5], st = shapes[t][6], OH = (H - 1) / st + 1, OW = (W - 1) / st + 1;
        size_t nw = lc_weight_count(C, OH, OW, O, K), nx = (size_t)B * C * H * W, no = (size_t)B * O * OH * OW;
        float *x = alloc(nx), *Wt = alloc(nw), *F = alloc(nw), *b = alloc(O), *g = alloc(no), *out0 = alloc(no),
              *dW0 = alloc(nw), *db0 = alloc(O), *dx0 = alloc(nx), *xl = alloc(nx), *gl = alloc(no), *out = alloc(no),
              *outf = alloc(no), *dW = alloc(nw), *db = alloc(O), *dx = alloc(nx), *dxf = alloc(nx),
              *s = alloc(lc_scratch_floats(B, C, H, W, O, K));
        fill(x, nx, r, 1), fill(Wt, nw, r, 0.5), fill(F, nw, r, 0.5), fill(b, O, r, 1), fill(g, no, r, 1);
        fill(dx0, nx, r, 1); /* dx accumulates onto these */
        if (dx_zero) memset(dx0, 0, nx * sizeof(float));
        memcpy(dx, dx0, nx * sizeof(float));
        lc_relayout(xl, x, B, C, H * W, 0), lc_relayout(gl, g, B, O, OH * OW, 0);
        lc_forward_strided(out0, x, Wt, b, s, B, C, H, W, O, K, st);
        lc_backward_strided(dx0, dW0, db0, g, x, F, s, B, C, H, W, O, K, st);
        for (int lay = 1; lay < 4; lay++) {
            int in = lay & LC_IN_BL, ob = lay & LC_OUT_BL;
            memset(dW, 0, nw * sizeof(float)), memset(db, 0, O * sizeof(float));
            float *dxl = alloc(nx);
            memcpy(dxf, dx, nx * sizeof(float));
            if (in) lc_relayout(dxl, dx, B, C, H * W, 0);
            lc_forward_layout(out, in ? xl : x, Wt, b, s, B, C, H, W, O, K, st, lay);
            lc_backward_layout(in ? dxl : dxf, dW, db, ob ? gl : g, in ? xl : x, F, s, B, C, H, W, O, K, st, lay);
            if (ob) lc_relayout(outf, out, B, O, OH * OW, 1);
            else memcpy(outf, out, no * sizeof(float));
            if (in) lc_relayout(dxf, dxl, B, C, H * W, 1);
            CHECK(!memcmp(outf, out0, no * sizeof(float)), "layout %d shape %d: out differs from batch-first", lay, t);
            CHECK(!memcmp(dW, dW0, nw * sizeof(float)), "layout %d shape %d: dW differs from batch-first", lay, t);
            if (dx_zero || !in || C % 8)
                CHECK(!memcmp(dxf, dx0, nx * sizeof(float)), "layout %d shape %d dx_zero %d: dx differs from batch-first",
                      lay, t, dx_zero);
            else
                CHECK(rel_diff(dxf, dx0, nx) < 1e-6, "layout %d shape %d: dx differs by %g", lay, t,
                      rel_diff(dxf, dx0, nx));
            CHECK(!memcmp(db, db0, O * sizeof(float)), "layout %d shape %d: db differs by %g", lay, t, rel_diff(db, db0, O));
            free(dxl);
        }
        free(x), free(Wt), free(F), free(b), free(g), free(out0), free(dW0), free(db0), free(dx0), free(xl), free(gl);
        free(out), free(outf), free(dW), free(db), free(dx), free(dxf), free(s);
    }
}

/* L = sum tanh(out) * g in double: nonlinear in the parameters */
static double lc_loss(const float *x, const float *Wt, const float *b, const float *g, float *out,
                      float *s, int B, int C, int H, int W, int O, int K) {
    lc_forward(out, x, Wt, b, s, B, C, H, W, O, K);
    double L = 0.0;
    for (size_t i = 0; i < (size_t)B * O * H * W; i++) L += tanh((double)out[i]) * g[i];
    return L;
}

/* backprop (F = W) against central differences along random directions, for W, b and x */
static void test_fd(Rng *r) {
    int B = 2, C = 2, H = 5, W = 4, O = 3, K = 3;
    size_t nw = lc_weight_count(C, H, W, O, K), nx = (size_t)B * C * H * W, no = (size_t)B * O * H * W;
    size_t n_all = nw + O + nx;
    float *p = alloc(n_all), *grad = alloc(n_all), *v = alloc(n_all), *p0 = alloc(n_all);
    float *out = alloc(no), *g = alloc(no), *dout = alloc(no), *s = alloc(lc_scratch_floats(B, C, H, W, O, K));
    float *Wt = p, *b = p + nw, *x = p + nw + O; /* one buffer: W, b, x */
    fill(Wt, nw, r, 0.4), fill(b, O, r, 0.3), fill(x, nx, r, 1.0), fill(g, no, r, 1.0);
    lc_loss(x, Wt, b, g, out, s, B, C, H, W, O, K);
    for (size_t i = 0; i < no; i++) dout[i] = (float)(g[i] * (1.0 - tanh(out[i]) * tanh(out[i])));
    lc_backward(grad + nw + O, grad, grad + nw, dout, x, Wt, s, B, C, H, W, O, K);
    memcpy(p0, p, n_all * 4);
    size_t ranges[3][2] = {{0, nw}, {nw, nw + O}, {nw + O, n_all}};
    const char *names[3] = {"W", "b", "x"};
    for (int k = 0; k < 3; k++)
        for (int rep = 0; rep < 3; rep++) {
            memset(v, 0, n_all * 4);
            fill(v + ranges[k][0], ranges[k][1] - ranges[k][0], r, 1.0);
            double h = 2e-3, ana = dot(grad, v, n_all);
            for (size_t i = 0; i < n_all; i++) p[i] = p0[i] + (float)(h * v[i]);
            double lp = lc_loss(x, Wt, b, g, out, s, B, C, H, W, O, K);
            for (size_t i = 0; i < n_all; i++) p[i] = p0[i] - (float)(h * v[i]);
            double lm = lc_loss(x, Wt, b, g, out, s, B, C, H, W, O, K);
            memcpy(p, p0, n_all * 4);
            /* relative to the gradient's size along v (|ana| can be small by cancellation) */
            double num = (lp - lm) / (2 * h), rel = fabs(ana - num) / fmax(fabs(ana) + fabs(num), 1.0);
            CHECK(rel < 2e-3, "d%s: analytic %g vs finite differences %g (rel %g)", names[k], ana, num, rel);
        }
    free(p), free(grad), free(v), free(p0), free(out), free(g), free(dout), free(s);
}

/* every position's kernel = one conv kernel: LC == layer.h's conv (padding same), forward and backward */
static void test_conv_equal(Rng *r) {
    int B = 3, C = 2, H = 6, W = 5, O = 4;
    for (int K = 1; K <= 5; K += 2) {
        int CKK = C * K * K, P = H * W;
        size_t nw = lc_weight_count(C, H, W, O, K), nx = (size_t)B * C * H * W, no = (size_t)B * O * P;
        float *Wc = alloc((size_t)O * CKK), *b = alloc(O), *Wt = alloc(nw), *x = alloc(nx);
        float *o1 = alloc(no), *o2 = alloc(no), *g = alloc(no), *s = alloc(lc_scratch_floats(B, C, H, W, O, K));
        Layer cv;
        CHECK(layer_conv_init(&cv, &LAYER_CONV, C, H, W, O, K, 1, B) == 0, "conv layer");
        float *cs = alloc(cv.ops->scratch(&cv, B));
        float *dW = alloc(nw), *dWc = alloc((size_t)O * CKK), *dWsum = alloc((size_t)O * CKK);
        float *db1 = alloc(O), *db2 = alloc(O), *dx1 = alloc(nx), *dx2 = alloc(nx);
        fill(Wc, (size_t)O * CKK, r, 0.5), fill(b, O, r, 1), fill(x, nx, r, 1), fill(g, no, r, 1);
        for (int p = 0; p < P; p++) memcpy(Wt + (size_t)p * O * CKK, Wc, (size_t)O * CKK * 4);
        lc_forward(o1, x, Wt, b, s, B, C, H, W, O, K);
        cv.w = Wc, cv.fb = Wc, cv.b = b, cv.dw = dWc, cv.db = db2;
        cv.ops->forward(&cv, x, B, 1, cs);
        memcpy(o2, cv.y, no * sizeof(float));
        CHECK(rel_diff(o1, o2, no) < 1e-5, "K=%d: LC with equal kernels != conv (%g)", K, rel_diff(o1, o2, no));
        lc_backward(dx1, dW, db1, g, x, Wt, s, B, C, H, W, O, K);
        cv.ops->backward(&cv, x, g, dx2, B, cs);
        for (int p = 0; p < P; p++)
            for (int i = 0; i < O * CKK; i++) dWsum[i] += dW[(size_t)p * O * CKK + i];
        CHECK(rel_diff(dx1, dx2, nx) < 1e-5, "K=%d: dx != conv dx", K);
        CHECK(rel_diff(db1, db2, O) < 1e-5, "K=%d: db != conv db", K);
        CHECK(rel_diff(dWsum, dWc, (size_t)O * CKK) < 1e-5, "K=%d: sum over positions of dW != conv dW", K);
        free(Wc), free(b), free(Wt), free(x), free(o1), free(o2), free(g), free(s), free(cs);
        layer_free(&cv);
        free(dW), free(dWc), free(dWsum), free(db1), free(db2), free(dx1), free(dx2);
    }
}

/* sample std of all weights; and the mean correlation of each position's kernel with position 0's */
static void init_stats(const float *Wt, int P, size_t n, double *sd, double *corr) {
    double ss = 0.0, c = 0.0;
    for (size_t i = 0; i < (size_t)P * n; i++) ss += (double)Wt[i] * Wt[i];
    for (int p = 1; p < P; p++)
        c += dot(Wt, Wt + (size_t)p * n, n) / sqrt(dot(Wt, Wt, n) * dot(Wt + (size_t)p * n, Wt + (size_t)p * n, n));
    *sd = sqrt(ss / ((double)P * n));
    *corr = c / (P - 1);
}

static void test_init(void) {
    int C = 4, H = 6, W = 6, O = 8, K = 3, P = H * W;
    size_t n = (size_t)O * C * K * K, nw = lc_weight_count(C, H, W, O, K);
    float *Wt = alloc(nw), b[8];
    double want = sqrt(2.0 / (O * K * K)), sd, corr;
    Rng r;
    rng_seed(&r, 5, RNG_STREAM_INIT);
    lc_init(Wt, b, C, H, W, O, K, -1.0, &r);
    init_stats(Wt, P, n, &sd, &corr);
    CHECK(fabs(sd / want - 1) < 0.03, "independent init: std %g, want %g (fan-out Kaiming)", sd, want);
    CHECK(fabs(corr) < 0.05, "independent init: kernels correlated (%g)", corr);
    double bmax = 0.0;
    for (int o = 0; o < O; o++) bmax = fmax(bmax, fabs(b[o]));
    CHECK(bmax <= 1.0 / sqrt(C * K * K) && bmax > 0.0, "bias outside U(-1/sqrt(CKK), 1/sqrt(CKK)): %g", bmax);
    lc_init(Wt, NULL, C, H, W, O, K, 0.0, &r);
    init_stats(Wt, P, n, &sd, &corr);
    CHECK(corr == 1.0 || fabs(corr - 1.0) < 1e-12, "eps = 0: kernels not all equal (corr %g)", corr);
    CHECK(fabs(sd / want - 1) < 0.15, "eps = 0: std %g, want %g", sd, want);
    lc_init(Wt, NULL, C, H, W, O, K, 0.5, &r);
    init_stats(Wt, P, n, &sd, &corr);
    /* corr(s + eps n1, s + eps n2) = 1 / (1 + eps^2) = 0.8 */
    CHECK(fabs(corr - 0.8) < 0.05, "eps = 0.5: kernel correlation %g, want 0.8", corr);
    CHECK(fabs(sd / want - 1) < 0.15, "eps = 0.5: std %g, want %g", sd, want);
    free(Wt);
}

/* group of position (y, x) among positions from lo, independently of lc.c */
static int group_of(int y, int x, int K, int share, int lo) {
    return share == LC_SHARE_MAP ? 0 : ((y - lo) % K) * K + (x - lo) % K;
}

static void test_instant(Rng *r) {
    int C = 2, H = 7, W = 8, O = 3, K = 3, P = H * W;
    size_t n = (size_t)O * C * K * K, nw = lc_weight_count(C, H, W, O, K);
    float *Wt = alloc(nw), *W0 = alloc(nw);
    for (int share = 0; share < 2; share++) {
        fill(W0, nw, r, 1.0);
        memcpy(Wt, W0, nw * 4);
        lc_share_instant(Wt, C, H, W, O, K, share);
        int bad_eq = 0, bad_mean = 0, distinct = 0;
        for (int p = 0; p < P; p++) {
            int gp = group_of(p / W, p % W, K, share, 0);
            for (size_t e = 0; e < n; e++) {
                double s = 0.0;
                int cnt = 0;
                for (int q = 0; q < P; q++)
                    if (group_of(q / W, q % W, K, share, 0) == gp) {
                        s += W0[(size_t)q * n + e], cnt++;
                        if (Wt[(size_t)q * n + e] != Wt[(size_t)p * n + e]) bad_eq++;
                    } else if (Wt[(size_t)q * n + e] != Wt[(size_t)p * n + e]) distinct++;
                if (fabs(Wt[(size_t)p * n + e] - s / cnt) > 1e-5) bad_mean++;
            }
        }
        CHECK(bad_eq == 0, "share %d: %d weights differ within a group after instant sharing", share, bad_eq);
        CHECK(bad_mean == 0, "share %d: %d weights are not their group's mean", share, bad_mean);
        CHECK(share == LC_SHARE_MAP || distinct > 0, "grid: all groups became equal");
    }
    free(Wt), free(W0);
}

/*
 * One dynamic step (T = 1) == the update built independently (K x K kernels on an H x W map:
 * K 3 and 5, lc.c's shifted patches for each group's tile): tile each patch over an image
 * with period K, z = naive LC without bias, subtract the mean over the positions of the same
 * group (non-padded only), dW = mean x z^T + gamma (W - W0) (= 0 at T = 1).
 */
static void test_sleep_step(Rng *r, int K, int H, int W) {
    int C = 2, O = 3, pad = (K - 1) / 2, bs = 5, P = H * W, CKK = C * K * K;
    size_t n = (size_t)O * CKK, nw = lc_weight_count(C, H, W, O, K), nx = (size_t)bs * C * P;
    float *W0 = alloc(nw), *Wt = alloc(nw), *want = alloc(nw);
    float *s = alloc(lc_sleep_scratch_floats(C, H, W, O, K, LC_SHARE_MAP, bs)); /* the larger */
    float *patch = alloc((size_t)bs * CKK), *img = alloc(nx), *z = alloc((size_t)bs * O * P);
    float lr = 0.3f;
    for (int share = 0; share < 2; share++) {
        fill(W0, nw, r, 1.0);
        memcpy(Wt, W0, nw * 4), memcpy(want, W0, nw * 4);
        Rng r1 = *r, r2 = *r;
        lc_sleep_dynamic(Wt, s, C, H, W, O, K, share, 1, lr, 1e-3f, bs, &r1);
        for (int i = 0; i < bs * CKK; i++) patch[i] = (float)rng_normal(&r2);
        CHECK(memcmp(&r1, &r2, sizeof r1) == 0, "share %d: sleep drew other than batch*CKK normals", share);
        /* GRID: tiled image; MAP: each position's window is the patch itself (built below) */
        for (int b = 0; b < bs; b++)
            for (int c = 0; c < C; c++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++)
                        img[(((size_t)b * C + c) * H + y) * W + x] = patch[(size_t)b * CKK + c * K * K + (y % K) * K + x % K];
        lc_forward_naive(z, img, W0, NULL, bs, C, H, W, O, K);
        for (int p = 0; p < P; p++) {
            int y = p / W, x = p % W;
            if (y < pad || y >= H - pad || x < pad || x >= W - pad) continue;
            for (int o = 0; o < O; o++)
                for (int j = 0; j < CKK; j++) {
                    double acc = 0.0;
                    for (int b = 0; b < bs; b++) {
                        double zp, zm = 0.0, xj;
                        int cnt = 0, c = j / (K * K), ky = j / K % K, kx = j % K;
                        if (share == LC_SHARE_GRID) {
                            xj = img[(((size_t)b * C + c) * H + y + ky - pad) * W + x + kx - pad];
                            zp = z[((size_t)b * O + o) * P + p];
                            for (int q = 0; q < P; q++) {
                                int qy = q / W, qx = q % W;
                                if (qy < pad || qy >= H - pad || qx < pad || qx >= W - pad) continue;
                                if (group_of(qy, qx, K, share, pad) != group_of(y, x, K, share, pad)) continue;
                                zm += z[((size_t)b * O + o) * P + q], cnt++;
                            }
                        } else { /* every non-padded position sees the patch: z_q = W_q . patch */
                            xj = patch[(size_t)b * CKK + j];
                            zp = dot(W0 + ((size_t)p * O + o) * CKK, patch + (size_t)b * CKK, CKK);
                            for (int q = 0; q < P; q++) {
                                int qy = q / W, qx = q % W;
                                if (qy < pad || qy >= H - pad || qx < pad || qx >= W - pad) continue;
                                zm += dot(W0 + ((size_t)q * O + o) * CKK, patch + (size_t)b * CKK, CKK), cnt++;
                            }
                        }
                        acc += xj * (zp - zm / cnt);
                    }
                    want[((size_t)p * O + o) * CKK + j] -= (float)(lr * acc / bs);
                }
        }
        double d = rel_diff(Wt, want, nw);
        CHECK(d < 1e-5, "K %d share %d: one sleep step differs from the tiled-image construction by %g", K, share, d);
        double moved = rel_diff(Wt, W0, nw);
        CHECK(moved > 1e-2, "K %d share %d: sleep step did not move the weights (%g)", K, share, moved);
    }
    free(W0), free(Wt), free(want), free(s), free(patch), free(img), free(z);
    (void)n;
}

/*
 * Convergence: with C = I (N(0,1) patches) the fixed point is w*_p = (mean_g w0 + gamma w0_p)
 * / (1 + gamma), mean_g over p's group of non-padded positions; borders keep w0.
 * Returns ||W - w*|| / ||w0 - w*|| over non-padded positions, and checks the rest.
 */
static double sleep_vs_fixed_point(Rng *r, int share, int T, float lr, float gamma, int bs,
                                   int C, int H, int W, int O, int K, double *mean_err) {
    int pad = (K - 1) / 2, P = H * W;
    size_t n = (size_t)O * C * K * K, nw = lc_weight_count(C, H, W, O, K);
    float *W0 = alloc(nw), *Wt = alloc(nw), *s = alloc(lc_sleep_scratch_floats(C, H, W, O, K, share, bs));
    double num = 0.0, den = 0.0, merr = 0.0;
    int border_moved = 0;
    lc_init(W0, NULL, C, H, W, O, K, -1.0, r);
    memcpy(Wt, W0, nw * 4);
    lc_sleep_dynamic(Wt, s, C, H, W, O, K, share, T, lr, gamma, bs, r);
    for (int p = 0; p < P; p++) {
        int y = p / W, x = p % W;
        if (y < pad || y >= H - pad || x < pad || x >= W - pad) {
            border_moved += memcmp(Wt + (size_t)p * n, W0 + (size_t)p * n, n * 4) != 0;
            continue;
        }
        for (size_t e = 0; e < n; e++) {
            double m0 = 0.0, m = 0.0;
            int cnt = 0;
            for (int q = 0; q < P; q++) {
                int qy = q / W, qx = q % W;
                if (qy < pad || qy >= H - pad || qx < pad || qx >= W - pad ||
                    group_of(qy, qx, K, share, pad) != group_of(y, x, K, share, pad))
                    continue;
                m0 += W0[(size_t)q * n + e], m += Wt[(size_t)q * n + e], cnt++;
            }
            m0 /= cnt, m /= cnt;
            double w0 = W0[(size_t)p * n + e], ws = (m0 + gamma * w0) / (1.0 + gamma), w = Wt[(size_t)p * n + e];
            num += (w - ws) * (w - ws), den += (w0 - ws) * (w0 - ws);
            merr = fmax(merr, fabs(m - m0));
        }
    }
    CHECK(border_moved == 0, "share %d: %d border kernels moved", share, border_moved);
    *mean_err = merr;
    free(W0), free(Wt), free(s);
    return sqrt(num / den);
}

/*
 * With gamma = 0 the sleep does not depend on W0, so T iterations in one call are T calls of
 * one iteration, bit for bit, from the same random stream (lc.c draws its patches several
 * iterations at a time and runs them group by group: the order must not show).
 */
static void test_sleep_split(Rng *r) {
    int C = 2, H = 9, W = 8, O = 3, K = 3, bs = 5, T = 11;
    for (int share = 0; share < 2; share++) {
        size_t nw = lc_weight_count(C, H, W, O, K);
        float *a = alloc(nw), *b = alloc(nw), *s = alloc(lc_sleep_scratch_floats(C, H, W, O, K, share, bs));
        fill(a, nw, r, 1);
        memcpy(b, a, nw * sizeof(float));
        Rng ra, rb;
        rng_seed(&ra, 7, 3), rng_seed(&rb, 7, 3);
        lc_sleep_dynamic(a, s, C, H, W, O, K, share, T, 0.05f, 0.0f, bs, &ra);
        for (int t = 0; t < T; t++) lc_sleep_dynamic(b, s, C, H, W, O, K, share, 1, 0.05f, 0.0f, bs, &rb);
        CHECK(!memcmp(a, b, nw * sizeof(float)), "share %d: %d iterations in one call != %d calls of one", share, T, T);
        CHECK(rng_u64(&ra) == rng_u64(&rb), "share %d: the random streams part", share);
        free(a), free(b), free(s);
    }
}

static void test_sleep_converges(Rng *r) {
    for (int share = 0; share < 2; share++) {
        double merr;
        /* gamma = 0.5: w* = (mean + 0.5 w0) / 1.5, far from both w0 and the mean */
        double e = sleep_vs_fixed_point(r, share, 300, 0.1f, 0.5f, 2048, 2, 8, 8, 3, 3, &merr), e1 = e;
        CHECK(e < 0.03, "share %d, gamma 0.5: ||W - w*|| / ||w0 - w*|| = %g", share, e);
        CHECK(merr < 1e-4, "share %d: the group mean moved by %g", share, merr);
        /* the authors' defaults, small gamma: kernels go to their group's mean */
        e = sleep_vs_fixed_point(r, share, 100, 0.1f, 1e-5f, 128, 2, 9, 9, 3, 3, &merr);
        CHECK(e < 1e-3, "share %d, gamma 1e-5: ||W - mean|| / ||w0 - mean|| = %g", share, e);
        CHECK(merr < 1e-4, "share %d: the group mean moved by %g", share, merr);
        printf("share %d: ||W - w*|| / ||w0 - w*|| = %.3g (gamma 0.5), %.3g (gamma 1e-5)\n", share, e1, e);
    }
    /* lr = 0: nothing moves */
    double merr, e = sleep_vs_fixed_point(r, 0, 20, 0.0f, 0.5f, 16, 1, 6, 6, 2, 3, &merr);
    CHECK(fabs(e - 1.0) < 1e-6, "lr 0: weights moved (%g)", e);
}

static void test_snr(Rng *r) {
    /* known values: non-padded element e alternates m_e +- s_e; borders hold 1e3 (excluded) */
    int C = 1, H = 6, W = 6, O = 2, K = 3, pad = 1, P = H * W;
    size_t n = (size_t)O * C * K * K, nw = lc_weight_count(C, H, W, O, K);
    float *Wt = alloc(nw);
    double want_p = 0.0, want_c = 0.0, Np = 16;
    for (size_t e = 0; e < n; e++) {
        double m = 0.5 + 0.1 * (double)e, sd = 0.2 + 0.05 * (double)e;
        int k = 0;
        for (int p = 0; p < P; p++) {
            int y = p / W, x = p % W;
            int inside = y >= pad && y < H - pad && x >= pad && x < W - pad;
            Wt[(size_t)p * n + e] = inside ? (float)(m + ((k++ % 2) ? sd : -sd)) : 1e3f;
        }
        want_p += m * m / (sd * sd);
        want_c += m / (sd * sqrt(Np / (Np - 1)));
    }
    want_p /= (double)n, want_c /= (double)n;
    double sp, sc;
    lc_snr(Wt, C, H, W, O, K, &sp, &sc);
    CHECK(fabs(sp / want_p - 1) < 1e-5, "paper SNR %g, want %g", sp, want_p);
    CHECK(fabs(sc / want_c - 1) < 1e-5, "code SNR %g, want %g", sc, want_c);
    free(Wt);

    /* SNR rises with sleep (both definitions), not with plain training */
    int B = 8;
    C = 3, H = 10, W = 10, O = 4;
    P = H * W;
    nw = lc_weight_count(C, H, W, O, K);
    size_t nx = (size_t)B * C * P, no = (size_t)B * O * P;
    float *x = alloc(nx), *t = alloc(no), *out = alloc(no), *dW = alloc(nw), *s = alloc(lc_scratch_floats(B, C, H, W, O, K));
    float *ss = alloc(lc_sleep_scratch_floats(C, H, W, O, K, LC_SHARE_MAP, 128));
    Wt = alloc(nw);
    lc_init(Wt, NULL, C, H, W, O, K, -1.0, r);
    double p0, c0, p1, c1;
    lc_snr(Wt, C, H, W, O, K, &p0, &c0);
    for (int it = 0; it < 50; it++) { /* SGD on 0.5 ||LC(x) - t||^2 / B, fresh random data */
        fill(x, nx, r, 1.0), fill(t, no, r, 1.0);
        lc_forward(out, x, Wt, NULL, s, B, C, H, W, O, K);
        for (size_t i = 0; i < no; i++) out[i] = (out[i] - t[i]) / B;
        memset(dW, 0, nw * 4);
        lc_backward(NULL, dW, NULL, out, x, Wt, s, B, C, H, W, O, K);
        for (size_t i = 0; i < nw; i++) Wt[i] -= 0.05f * dW[i];
    }
    lc_snr(Wt, C, H, W, O, K, &p1, &c1);
    CHECK(p1 < 2 * p0 && c1 < 2 * c0, "SNR rose without sleep: paper %g -> %g, code %g -> %g", p0, p1, c0, c1);
    CHECK(p0 < 0.2 && c0 < 0.5, "SNR of independent draws is high: %g %g", p0, c0);
    /*
     * Grid groups converge to their own means, so over the whole map SNR_w rises by about the
     * members per group (paper's definition: 1 + n_members * mean^2 / var at best); whole-map
     * sharing sends it up by orders of magnitude.
     */
    float *Wb = alloc(nw);
    memcpy(Wb, Wt, nw * 4);
    for (int share = 0; share < 2; share++) {
        memcpy(Wt, Wb, nw * 4);
        lc_sleep_dynamic(Wt, ss, C, H, W, O, K, share, 100, 0.1f, 1e-5f, 128, r);
        lc_snr(Wt, C, H, W, O, K, &p1, &c1);
        printf("SNR_w paper %.3g -> %.3g, code %.3g -> %.3g after one dynamic sleep (%s)\n", p0, p1, c0, c1,
               share ? "map" : "grid");
        double f = share ? 100 : 3; /* grid: 8x8 non-padded positions, about 7 per group */
        CHECK(p1 > f * p0 && c1 > sqrt(f) * c0, "share %d: SNR did not rise with sleep: paper %g -> %g, code %g -> %g",
              share, p0, p1, c0, c1);
    }
    free(Wb);
    lc_share_instant(Wt, C, H, W, O, K, LC_SHARE_MAP);
    lc_snr(Wt, C, H, W, O, K, &p1, &c1);
    CHECK(p1 > 1e20 && c1 > 1e10, "whole-map instant sharing: SNR %g %g not at the tolerance's ceiling", p1, c1);
    free(Wt), free(x), free(t), free(out), free(dW), free(s), free(ss);
}

int main(void) {
    Rng r;
    rng_seed(&r, 2021, 0);
    test_naive(&r);
    test_strided(&r);
    test_db_order(&r);
    test_scratch_align(&r);
    test_relayout();
    test_few_batch_place(&r);
    test_layouts(&r, 1);
    test_layouts(&r, 0);
    test_fd(&r);
    test_conv_equal(&r);
    test_init();
    test_instant(&r);
    test_sleep_step(&r, 3, 8, 7);
    test_sleep_step(&r, 5, 12, 11); /* K K = 25: lc.c's patches rolled by two permutations per block */
    test_sleep_split(&r);
    test_sleep_converges(&r);
    test_snr(&r);
    return test_report("lc");
}
