/*
 * Gradient checks: dense, ReLU, softmax-CE and whole MLPs against central finite differences
 * along random directions (relative error), plus FA(B = W) == BP, and DFA sanity.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "dist.h"
#include "mlp.h"
#include "rng.h"
#include "testutil.h"

static void fill(float *x, size_t n, Rng *r, double s) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(s * rng_normal(r));
}

/* loss of the whole model in double-ish: forward in float, mean CE */
static double loss_of(Mlp *m, const float *x, const uint8_t *y, int B) {
    return mlp_forward(m, x, y, B, NULL);
}

/* Directional check: analytic g.v vs (L(p + h v) - L(p - h v)) / 2h for random v. */
static double dir_check(Mlp *m, const float *x, const uint8_t *y, int B, Rng *r) {
    size_t n = m->n_params;
    float *v = malloc(n * sizeof(float)), *p0 = malloc(n * sizeof(float));
    fill(v, n, r, 1.0);
    memcpy(p0, m->params, n * sizeof(float));
    mlp_zero_grad(m);
    loss_of(m, x, y, B);
    mlp_backward(m, y, B);
    double ana = 0.0;
    for (size_t i = 0; i < n; i++) ana += (double)m->grads[i] * v[i];
    double h = 1e-3;
    for (size_t i = 0; i < n; i++) m->params[i] = p0[i] + (float)(h * v[i]);
    double lp = loss_of(m, x, y, B);
    for (size_t i = 0; i < n; i++) m->params[i] = p0[i] - (float)(h * v[i]);
    double lm = loss_of(m, x, y, B);
    memcpy(m->params, p0, n * sizeof(float));
    double num = (lp - lm) / (2 * h);
    free(v), free(p0);
    return fabs(ana - num) / fmax(fabs(ana) + fabs(num), 1e-12);
}

int main(void) {
    Rng r;
    rng_seed(&r, 42, 0);
    DistParams dn, dk;
    dist_defaults(&dn, "normal", 0.5);
    dist_defaults(&dk, "kaiming", 1.0);

    /* sgemm wrapper == naive loops for every transpose combination */
    {
        float A[6 * 5], Bm[5 * 7], C1[6 * 7], C2[6 * 7];
        fill(A, 30, &r, 1), fill(Bm, 35, &r, 1);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                fill(C1, 42, &r, 1);
                memcpy(C2, C1, sizeof C1);
                sgemm(ta, tb, 6, 7, 5, 0.5f, A, Bm, 0.25f, C1);
                sgemm_naive(ta, tb, 6, 7, 5, 0.5f, A, Bm, 0.25f, C2);
                double md = 0;
                for (int i = 0; i < 42; i++) md = fmax(md, fabs(C1[i] - C2[i]));
                CHECK(md < 1e-5, "sgemm ta=%d tb=%d differs from naive by %g", ta, tb, md);
            }
    }

    /* single dense + softmax-CE: a 1-layer MLP */
    int shapes[][5] = {{7, 5}, {9, 6, 4}, {8, 6, 5, 3}, {10, 7, 6, 5, 4}};
    int ns[] = {2, 3, 4, 5};
    for (int t = 0; t < 4; t++) {
        Mlp m;
        int B = 5;
        CHECK(mlp_create(&m, shapes[t], ns[t], RULE_BP, B, 0) == 0, "create");
        CHECK(mlp_init(&m, &dn, &dn, 7 + t) == 0, "init");
        for (int l = 0; l < m.n_layers; l++) fill(m.b[l], (size_t)m.sizes[l + 1], &r, 0.1);
        float x[5 * 10];
        uint8_t y[5];
        fill(x, (size_t)B * shapes[t][0], &r, 1.0);
        for (int i = 0; i < B; i++) y[i] = (uint8_t)rng_below(&r, (uint32_t)shapes[t][ns[t] - 1]);
        for (int k = 0; k < 5; k++) {
            double rel = dir_check(&m, x, y, B, &r);
            CHECK(rel < 2e-3, "MLP depth %d: directional gradient rel err %g", ns[t] - 1, rel);
        }
        mlp_free(&m);
    }

    /* softmax-CE alone, per coordinate */
    {
        float z[3 * 4], p[12], dz[12];
        uint8_t y[3] = {0, 3, 2};
        fill(z, 12, &r, 2.0);
        softmax_ce_forward(p, z, y, 3, 4, NULL);
        softmax_ce_backward(dz, p, y, 3, 4);
        double worst = 0;
        for (int i = 0; i < 12; i++) {
            float s = z[i];
            z[i] = s + 1e-3f;
            double lp = softmax_ce_forward(p, z, y, 3, 4, NULL);
            z[i] = s - 1e-3f;
            double lm = softmax_ce_forward(p, z, y, 3, 4, NULL);
            z[i] = s;
            double num = (lp - lm) / 2e-3;
            worst = fmax(worst, fabs(num - dz[i]));
        }
        CHECK(worst < 1e-4, "softmax-CE coordinate gradient abs err %g", worst);
    }

    /* ReLU: derivative where the input is away from 0 */
    {
        float x[8] = {-2, -1, -0.5f, 0.3f, 0.7f, 1, 2, -3}, out[8], d[8];
        memcpy(out, x, sizeof x);
        relu_forward(out, 8);
        for (int i = 0; i < 8; i++) d[i] = 1.0f;
        relu_backward(d, out, 8);
        int ok = 1;
        for (int i = 0; i < 8; i++) ok &= d[i] == (x[i] > 0 ? 1.0f : 0.0f);
        CHECK(ok, "relu derivative");
    }

    /* FA with B := W reproduces BP; with random B it differs */
    {
        int sz[4] = {12, 9, 7, 4};
        Mlp bp, fa;
        int B = 6;
        mlp_create(&bp, sz, 4, RULE_BP, B, 0);
        mlp_create(&fa, sz, 4, RULE_FA, B, 0);
        mlp_init(&bp, &dk, &dk, 3);
        mlp_init(&fa, &dk, &dk, 3);
        CHECK(memcmp(bp.params, fa.params, bp.n_params * sizeof(float)) == 0, "same init");
        float x[6 * 12];
        uint8_t y[6];
        fill(x, sizeof x / sizeof x[0], &r, 1);
        for (int i = 0; i < B; i++) y[i] = (uint8_t)rng_below(&r, 4);
        mlp_zero_grad(&bp), mlp_zero_grad(&fa);
        mlp_forward(&bp, x, y, B, NULL), mlp_backward(&bp, y, B);
        mlp_forward(&fa, x, y, B, NULL), mlp_backward(&fa, y, B);
        double num = 0, den = 0;
        for (size_t i = 0; i < bp.n_params; i++)
            num += pow(bp.grads[i] - fa.grads[i], 2), den += pow(bp.grads[i], 2);
        CHECK(sqrt(num / den) > 1e-2, "FA with random B should differ from BP (rel %g)",
              sqrt(num / den));
        for (int l = 1; l < fa.n_layers; l++)
            memcpy(fa.F[l], fa.W[l], (size_t)fa.sizes[l + 1] * fa.sizes[l] * sizeof(float));
        mlp_zero_grad(&fa);
        mlp_forward(&fa, x, y, B, NULL), mlp_backward(&fa, y, B);
        num = 0;
        for (size_t i = 0; i < bp.n_params; i++) num += pow(bp.grads[i] - fa.grads[i], 2);
        CHECK(sqrt(num / den) < 1e-6, "FA with B = W vs BP rel err %g", sqrt(num / den));
        /* the last layer's gradient never depends on feedback */
        mlp_free(&bp), mlp_free(&fa);
    }

    /* DFA: last layer's gradient equals BP's; hidden layers differ */
    {
        int sz[4] = {12, 9, 7, 4};
        Mlp bp, dfa;
        int B = 6;
        mlp_create(&bp, sz, 4, RULE_BP, B, 0);
        mlp_create(&dfa, sz, 4, RULE_DFA, B, 0);
        mlp_init(&bp, &dk, &dk, 5);
        mlp_init(&dfa, &dk, &dk, 5);
        float x[6 * 12];
        uint8_t y[6];
        fill(x, sizeof x / sizeof x[0], &r, 1);
        for (int i = 0; i < B; i++) y[i] = (uint8_t)rng_below(&r, 4);
        mlp_zero_grad(&bp), mlp_zero_grad(&dfa);
        mlp_forward(&bp, x, y, B, NULL), mlp_backward(&bp, y, B);
        mlp_forward(&dfa, x, y, B, NULL), mlp_backward(&dfa, y, B);
        size_t last = (size_t)(bp.W[2] - bp.params);
        double d = 0;
        for (size_t i = last; i < bp.n_params; i++) d = fmax(d, fabs(bp.grads[i] - dfa.grads[i]));
        CHECK(d < 1e-7, "DFA top-layer grad equals BP (max diff %g)", d);
        double dh = 0;
        for (size_t i = 0; i < last; i++) dh = fmax(dh, fabs(bp.grads[i] - dfa.grads[i]));
        CHECK(dh > 1e-4, "DFA hidden grads differ from BP (max diff %g)", dh);
        mlp_free(&bp), mlp_free(&dfa);
    }
    return test_report("test_grad");
}
