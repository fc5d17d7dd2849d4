/*
 * The sparse first layer (src/core/sparse.c): outputs and weight gradients bit for bit
 * equal to naive loops that take the nonzeros in the documented order (row's columns
 * ascending; column's rows ascending; fused multiply-adds), close to the dense products,
 * independent of which other rows share a batch; every block width and tile edge
 * (O = 5 ... 260, I not a multiple of 8); split_sparsify's threshold and content; and an
 * MLP fed its rows sparse against the same MLP fed them dense (loss, gradients, one step).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "data.h"
#include "mlp.h"
#include "optim.h"
#include "rng.h"
#include "sparse.h"
#include "testutil.h"

/* n rows of d values, about density of them nonzero (some negative, some tiny) */
static Split random_split(int n, int d, double density, uint64_t seed) {
    Split s = {0};
    Rng r;
    rng_seed(&r, seed, 0);
    s.n = n, s.d = d, s.n_classes = 3;
    s.x = calloc((size_t)n * d, sizeof(float));
    s.y = calloc((size_t)n, 1);
    for (size_t i = 0; i < (size_t)n * d; i++)
        if (rng_uniform(&r) < density) s.x[i] = (float)(rng_normal(&r) * (rng_uniform(&r) < 0.1 ? 1e-3 : 1.0));
    for (int i = 0; i < n; i++) s.y[i] = (uint8_t)(i % 3);
    return s;
}

static float *random_floats(size_t n, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed, 1);
    float *a = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) a[i] = (float)rng_normal(&r);
    return a;
}

static void test_kernels(void) {
    int Os[] = {5, 16, 37, 100, 128, 130, 260}, Is[] = {29, 64, 200};
    for (int ii = 0; ii < 3; ii++)
        for (int oi = 0; oi < 7; oi++) {
            int I = Is[ii], O = Os[oi], n = 40, B = 13, Op = sparse_width(O);
            Split s = random_split(n, I, 0.2, (uint64_t)(I * 1000 + O));
            CHECK(split_sparsify(&s) == 0 && s.sp, "I %d: sparse rows built", I);
            int rows[13];
            for (int r = 0; r < B; r++) rows[r] = (r * 7 + 3) % n; /* not in order */
            SparseBatch xb = {s.sp, rows, 0};
            float *W = random_floats((size_t)O * I, 1), *b = random_floats((size_t)O, 2);
            float *WT = malloc((size_t)I * Op * sizeof(float)), *bp = malloc((size_t)Op * sizeof(float));
            float *y = malloc((size_t)B * O * sizeof(float)), *want = malloc((size_t)B * O * sizeof(float));
            sparse_transpose(WT, bp, W, b, O, I);
            sparse_forward(y, &xb, WT, bp, B, O);
            double maxrel = 0;
            for (int r = 0; r < B; r++)
                for (int o = 0; o < O; o++) {
                    const float *x = s.x + (size_t)rows[r] * I;
                    float acc = b[o];
                    double dense = b[o];
                    for (int k = 0; k < I; k++) {
                        if (x[k] != 0.0f) acc = fmaf(x[k], W[(size_t)o * I + k], acc);
                        dense += (double)x[k] * W[(size_t)o * I + k];
                    }
                    want[(size_t)r * O + o] = acc;
                    maxrel = fmax(maxrel, fabs(acc - dense) / (1.0 + fabs(dense)));
                }
            CHECK(!memcmp(y, want, (size_t)B * O * sizeof(float)), "forward I %d O %d: bit for bit the naive loop", I, O);
            CHECK(maxrel < 1e-5, "forward I %d O %d: %g from the dense product", I, O, maxrel);

            /* the same data row in another batch gives the same output bits */
            int other[3] = {rows[4], 0, rows[9]};
            SparseBatch xo = {s.sp, other, 0};
            float y3[3 * 260];
            sparse_forward(y3, &xo, WT, bp, 3, O);
            CHECK(!memcmp(y3, y + (size_t)4 * O, (size_t)O * sizeof(float)) &&
                      !memcmp(y3 + 2 * O, y + (size_t)9 * O, (size_t)O * sizeof(float)),
                  "forward I %d O %d: a row's output does not depend on its batch", I, O);

            /* weight gradient, accumulated onto what dW held */
            float *dout = random_floats((size_t)B * O, 3), *dW = random_floats((size_t)O * I, 4);
            float *dWw = malloc((size_t)O * I * sizeof(float));
            memcpy(dWw, dW, (size_t)O * I * sizeof(float));
            int *start = malloc((size_t)(I + 1) * sizeof(int)), *row = malloc((size_t)B * I * sizeof(int));
            float *val = malloc((size_t)B * I * sizeof(float)), *dWT = malloc((size_t)SPARSE_COLS * Op * sizeof(float));
            float *dpad = malloc((size_t)B * Op * sizeof(float));
            sparse_grad_w(dW, dout, &xb, B, I, O, start, row, val, dWT, dpad);
            maxrel = 0;
            for (int o = 0; o < O; o++)
                for (int k = 0; k < I; k++) {
                    float acc = 0.0f;
                    double dense = 0.0;
                    for (int r = 0; r < B; r++) {
                        float xv = s.x[(size_t)rows[r] * I + k];
                        if (xv != 0.0f) acc = fmaf(xv, dout[(size_t)r * O + o], acc);
                        dense += (double)xv * dout[(size_t)r * O + o];
                    }
                    float base = dWw[(size_t)o * I + k];
                    maxrel = fmax(maxrel, fabs(acc - dense) / (1.0 + fabs(dense)));
                    dWw[(size_t)o * I + k] = base + acc;
                }
            CHECK(!memcmp(dW, dWw, (size_t)O * I * sizeof(float)), "grad I %d O %d: bit for bit the naive loop", I, O);
            CHECK(maxrel < 1e-5, "grad I %d O %d: %g from the dense product", I, O, maxrel);
            free(W), free(b), free(WT), free(bp), free(y), free(want), free(dout), free(dW), free(dWw);
            free(start), free(row), free(val), free(dWT), free(dpad);
            split_free(&s);
        }
}

static void test_sparsify(void) {
    Split a = random_split(50, 30, 0.3, 7), b = random_split(50, 30, 0.5, 8);
    CHECK(split_sparsify(&a) == 0 && a.sp, "density 0.3: sparse rows");
    CHECK(split_sparsify(&b) == 0 && !b.sp, "density 0.5: none (dense products are faster)");
    int ok = 1;
    for (int r = 0; r < a.n && ok; r++) {
        float row[30] = {0};
        int64_t prev = -1;
        for (int64_t j = a.sp->start[r]; j < a.sp->start[r + 1]; j++) {
            ok &= a.sp->idx[j] > prev && a.sp->val[j] != 0.0f;
            prev = a.sp->idx[j], row[a.sp->idx[j]] = a.sp->val[j];
        }
        ok &= !memcmp(row, a.x + (size_t)r * 30, sizeof row);
    }
    CHECK(ok, "sparse rows hold exactly the nonzeros, columns ascending");
    split_free(&a), split_free(&b);
}

/* An MLP fed rows sparse equals the same MLP fed them dense up to rounding, for each rule;
 * an evaluation pass (rows NULL, from row 0) equals the rows one at a time. */
static void test_mlp(void) {
    int sizes[3] = {61, 37, 3}, B = 11;
    FeedbackRule rules[3] = {RULE_BP, RULE_FA, RULE_DFA};
    Split s = random_split(30, 61, 0.2, 9);
    CHECK(split_sparsify(&s) == 0 && s.sp, "sparse rows");
    int rows[11];
    float x[11 * 61];
    uint8_t y[11];
    for (int r = 0; r < B; r++) {
        rows[r] = (r * 5 + 2) % s.n;
        memcpy(x + r * 61, s.x + (size_t)rows[r] * 61, 61 * sizeof(float));
        y[r] = s.y[rows[r]];
    }
    for (int ri = 0; ri < 3; ri++) {
        Mlp a, b;
        DistParams d;
        dist_defaults(&d, "kaiming", 1.0);
        mlp_create(&a, sizes, 3, rules[ri], B, 0), mlp_create(&b, sizes, 3, rules[ri], B, 0);
        mlp_init(&a, &d, &d, 5), mlp_init(&b, &d, &d, 5);
        b.in = (SparseBatch){s.sp, rows, 0};
        double la = mlp_forward(&a, x, y, B, NULL), lb = mlp_forward(&b, NULL, y, B, NULL);
        mlp_zero_grad(&a), mlp_zero_grad(&b);
        mlp_backward(&a, y, B), mlp_backward(&b, y, B);
        double gmax = 0, g2 = 0;
        for (size_t i = 0; i < a.n_params; i++) {
            gmax = fmax(gmax, fabs(a.grads[i] - b.grads[i]));
            g2 = fmax(g2, fabs(a.grads[i]));
        }
        CHECK(fabs(la - lb) < 1e-6 * fabs(la), "rule %d: loss %.9g sparse %.9g", ri, la, lb);
        CHECK(gmax < 1e-5 * g2, "rule %d: gradients differ by %g (largest %g)", ri, gmax, g2);

        /* a fused Adam step through each path moves the same weights */
        Optim oa, ob;
        optim_create(&oa, OPT_ADAM, a.n_params, 0.01f, 0.9f, 0.999f, 1e-8f, 0, 0);
        optim_create(&ob, OPT_ADAM, b.n_params, 0.01f, 0.9f, 0.999f, 1e-8f, 0, 0);
        a.opt = &oa, b.opt = &ob;
        mlp_forward(&a, x, y, B, NULL), mlp_zero_grad(&a), optim_begin(&oa), mlp_backward(&a, y, B);
        mlp_forward(&b, NULL, y, B, NULL), mlp_zero_grad(&b), optim_begin(&ob), mlp_backward(&b, y, B);
        double pmax = 0;
        for (size_t i = 0; i < a.n_params; i++) pmax = fmax(pmax, fabs(a.params[i] - b.params[i]));
        CHECK(pmax < 1e-4, "rule %d: one Adam step, weights differ by %g", ri, pmax);

        /* an evaluation pass in two batches from row 0, against each row alone (after the
         * step: the pass must use the new weights): layer 0's outputs (later layers are
         * OpenBLAS's, whose rows may round differently with the batch size) */
        int H = sizes[1];
        float *p2 = malloc((size_t)s.n * H * sizeof(float)), *p1 = malloc((size_t)s.n * H * sizeof(float));
        for (int i = 0; i < s.n; i += B) {
            int nb = s.n - i < B ? s.n - i : B;
            b.in = (SparseBatch){s.sp, NULL, i};
            mlp_forward(&b, NULL, s.y + i, nb, NULL);
            memcpy(p2 + (size_t)i * H, b.act[1], (size_t)nb * H * sizeof(float));
        }
        for (int i = 0; i < s.n; i++) {
            int one = i;
            b.in = (SparseBatch){s.sp, &one, 0};
            mlp_forward(&b, NULL, s.y + i, 1, NULL);
            memcpy(p1 + (size_t)i * H, b.act[1], (size_t)H * sizeof(float));
        }
        CHECK(!memcmp(p1, p2, (size_t)s.n * H * sizeof(float)), "rule %d: evaluation pass = rows alone", ri);
        /* and those are the new weights' outputs: the dense path on the same rows */
        float *xs = calloc((size_t)s.n * 61, sizeof(float));
        memcpy(xs, s.x, (size_t)s.n * 61 * sizeof(float));
        double hmax = 0;
        for (int i = 0; i < s.n; i += B) {
            int nb = s.n - i < B ? s.n - i : B;
            b.in.sp = NULL;
            mlp_forward(&b, xs + (size_t)i * 61, s.y + i, nb, NULL);
            for (int j = 0; j < nb * H; j++) hmax = fmax(hmax, fabs(b.act[1][j] - p2[(size_t)i * H + j]));
        }
        CHECK(hmax < 1e-5, "rule %d: the pass used the updated weights (%g from dense)", ri, hmax);
        free(xs);
        free(p1), free(p2);
        a.opt = b.opt = NULL;
        mlp_free(&a), mlp_free(&b), optim_free(&oa), optim_free(&ob);
    }
    split_free(&s);
}

int main(void) {
    test_kernels();
    test_sparsify();
    test_mlp();
    return test_report("test_sparse");
}
