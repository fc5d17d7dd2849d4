/*
 * test_rbse_prepare: rbse_prepare's vectorised tables (issue 20) against double precision and
 * against the previous formula (glibc expf / logf, kept here as the old path).
 *  1. rbse_expf_nonpos on [-87, 0] and rbse_logf_half2 on every float of (1/2, 2) vs double
 *     exp / log: at most 2 ulp (Cephes' polynomials reach about 1; 2 leaves room for none
 *     of the reduction's roundings going wrong).
 *  2. weff, p1, dp, t0, t1 for 200,000 synapses spanning a in [-20, 45] (40 = always released)
 *     and w of every scale: new vs old vs the exact values (double). In both paths q =
 *     (1 + e1) / (1 + e0) carries the errors of e (<= 1 ulp, e <= 1) and of two sums and a
 *     division, <= 5 * 2^-24 relative, plus log's own ulp: weff within 6 * 2^-24 plus half
 *     an ulp of itself of the truth; new minus old within twice that. p1 within 2^-23 (a
 *     value below 1 whose inputs moved by an ulp), dp = p1 - p0 within 2^-22; thresholds
 *     round(2^24 p) at most 2 apart. weff equals w bit for bit at p = 1, as before.
 *  3. CD-1 gradient statistics on random 784-like batches (V 64, H 32, B 50, 10 batches) with
 *     the new tables vs the old tables, same chains: max |difference| 1e-5 (weff moves by
 *     <= 2e-7, so P(h | v) by <= V * 2e-7 / 4 ~ 3e-6; a unit draw u < p can flip only if u
 *     falls in that gap: probability ~1e-6 per draw, none in these seeds, and a flip would
 *     fail this test rather than pass it).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbse.h"
#include "testutil.h"

static double ulp_f(double x) { /* ulp of the float nearest x */
    int e;
    frexp(x, &e);
    return ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
}

static float f_away(float x) { /* the next float away from zero */
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u += 1;
    memcpy(&x, &u, sizeof u);
    return x;
}

static void test_elementary(void) {
    double me = 0, ml = 0;
    /* exp: every 97th float of [-87, 0] (about 1.2e7), plus the ends */
    for (float x = -0.0f; x >= -87.0f;) {
        double e = fabs((double)rbse_expf_nonpos(x) - exp((double)x)) / ulp_f(exp((double)x));
        me = fmax(me, e);
        for (int s = 0; s < 97; s++) x = f_away(x);
    }
    me = fmax(me, fabs((double)rbse_expf_nonpos(-87.0f) - exp(-87.0)) / ulp_f(exp(-87.0)));
    CHECK(me <= 2.0, "exp on [-87, 0]: %.2f ulp", me);
    CHECK(rbse_expf_nonpos(0.0f) == 1.0f && rbse_expf_nonpos(-1000.0f) == rbse_expf_nonpos(-87.0f),
          "exp(0) = 1 and clamping below -87");
    for (float q = 0.5f; q < 2.0f; q = f_away(q)) { /* every float */
        double l = log((double)q), d = fabs((double)rbse_logf_half2(q) - l);
        ml = fmax(ml, q == 1.0f ? d : d / ulp_f(l));
    }
    CHECK(ml <= 2.0, "log on [1/2, 2): %.2f ulp", ml);
    printf("  exp %.2f ulp, log %.2f ulp\n", me, ml);
}

/* The tables as rbse_prepare computed them before issue 20 (glibc expf and logf). */
static float old_sigm(float x, float e) { return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e); }

static void old_prepare(size_t n, const float *a_, const float *w_, float *weff, float *p1_,
                        float *dp, uint32_t *t0, uint32_t *t1) {
    for (size_t k = 0; k < n; k++) {
        float a = a_[k], aw = a + w_[k], e0 = expf(-fabsf(a)), e1 = expf(-fabsf(aw));
        double d = fmax((double)a + (double)w_[k], 0.0) - fmax((double)a, 0.0);
        weff[k] = (float)(d + (double)logf((1.0f + e1) / (1.0f + e0)));
        p1_[k] = old_sigm(aw, e1), dp[k] = p1_[k] - old_sigm(a, e0);
        t0[k] = (uint32_t)((double)old_sigm(a, e0) * 16777216.0 + 0.5);
        t1[k] = (uint32_t)((double)p1_[k] * 16777216.0 + 0.5);
    }
}

static double softplus_d(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static void test_tables(void) {
    enum { V = 1000, H = 200, N = V * H };
    float *p = malloc(sizeof(float) * (2 * N + V + H)), *o = malloc(sizeof(float) * 3 * N);
    uint32_t *ot = malloc(sizeof(uint32_t) * 2 * N);
    float *w = p, *a = p + N;
    Rng r;
    rng_seed(&r, 20, 1);
    for (int k = 0; k < N; k++) {
        double sc = pow(10.0, -4.0 + 5.0 * rng_uniform(&r)); /* |w| from 1e-4 to 10 */
        w[k] = (float)(sc * rng_normal(&r));
        a[k] = k % 10 == 0 ? RBSE_A_ALWAYS : (float)(-20.0 + 40.0 * rng_uniform(&r));
    }
    Rbse m;
    CHECK(rbse_create(&m, V, H, 0, w, a, p + 2 * N, p + 2 * N + V) == 0, "create");
    m.h_tables = 0;
    rbse_prepare(&m);
    old_prepare(N, a, w, o, o + N, o + 2 * N, ot, ot + N);
    double dw = 0, dwo = 0, dpr = 0, ddp = 0;
    long dt = 0, ones = 0, ones_eq = 0;
    for (int k = 0; k < N; k++) {
        double ex = softplus_d((double)a[k] + w[k]) - softplus_d(a[k]);
        double tol = 6.0 * ldexp(1.0, -24) + 0.5 * ulp_f(ex);
        dw = fmax(dw, fabs(m.weff[k] - ex) / tol);
        dwo = fmax(dwo, fabs(m.weff[k] - o[k]) / (2 * tol));
        dpr = fmax(dpr, fabs(m.p1[k] - o[N + k]));
        ddp = fmax(ddp, fabs(m.dp[k] - o[2 * N + k]));
        long d0 = labs((long)m.t0[k] - (long)ot[k]), d1 = labs((long)m.t1[k] - (long)ot[N + k]);
        dt = d0 > dt ? d0 : dt, dt = d1 > dt ? d1 : dt;
        if (m.p1[k] == 1.0f && m.t0[k] == 16777216u) ones++, ones_eq += m.weff[k] == w[k];
    }
    CHECK(dw <= 1.0, "weff vs exact: %.3f of the bound", dw);
    CHECK(dwo <= 1.0, "weff new vs old: %.3f of the bound", dwo);
    CHECK(dpr <= ldexp(1.0, -23) && ddp <= ldexp(1.0, -22), "p1 %.3g, dp %.3g apart", dpr, ddp);
    CHECK(dt <= 2, "thresholds %ld apart", dt);
    CHECK(ones > 1000 && ones_eq == ones, "weff = w at p = 1: %ld of %ld", ones_eq, ones);
    printf("  weff %.3f (exact), %.3f (old) of the bound; p1 %.3g, dp %.3g; thresholds %ld\n", dw,
           dwo, dpr, ddp, dt);
    rbse_free(&m);
    free(p), free(o), free(ot);
}

static void test_grad_stats(void) {
    enum { V = 64, H = 32, B = 50, N = V * H, NP = 2 * N + V + H, STEPS = 10 };
    static float p[NP], x[B * V], gn[NP], go[NP];
    Rng r;
    rng_seed(&r, 20, 2);
    for (int k = 0; k < N; k++) p[k] = 0.5f * (float)rng_normal(&r);
    for (int k = 0; k < N; k++) p[N + k] = (float)(3.0 * rng_normal(&r));
    for (int k = 2 * N; k < NP; k++) p[k] = 0.3f * (float)rng_normal(&r);
    Rbse mn, mo;
    CHECK(rbse_create(&mn, V, H, 0, p, p + N, p + 2 * N, p + 2 * N + V) == 0 &&
          rbse_create(&mo, V, H, 0, p, p + N, p + 2 * N, p + 2 * N + V) == 0, "create");
    rbse_prepare(&mn), rbse_prepare(&mo);
    old_prepare(N, p + N, p, mo.weff, mo.p1, mo.dp, mo.t0, mo.t1); /* h_tables: t*T from new */
    RbseChain cn, co;
    CHECK(rbse_chain_create(&cn, &mn, B, 5) == 0 && rbse_chain_create(&co, &mo, B, 5) == 0, "chains");
    double md = 0, mg = 0;
    for (int s = 0; s < STEPS; s++) {
        for (int q = 0; q < B * V; q++) x[q] = (float)(rng_uniform(&r) < 0.2 + 0.6 * (q % V) / V);
        memset(gn, 0, sizeof gn), memset(go, 0, sizeof go);
        rbse_grad(&mn, &cn, B, x, 1 + s % 2, 0, gn, gn + N, gn + 2 * N, gn + 2 * N + V);
        rbse_grad(&mo, &co, B, x, 1 + s % 2, 0, go, go + N, go + 2 * N, go + 2 * N + V);
        for (int k = 0; k < NP; k++) md = fmax(md, fabs(gn[k] - go[k])), mg = fmax(mg, fabs(go[k]));
    }
    CHECK(md <= 1e-5 && mg > 1e-2, "CD statistics new vs old tables: max diff %.3g (max |g| %.3g)", md, mg);
    printf("  CD-1/CD-2 statistics: new - old tables max %.3g (gradients up to %.3g)\n", md, mg);
    rbse_chain_free(&cn), rbse_chain_free(&co), rbse_free(&mn), rbse_free(&mo);
}

int main(void) {
    test_elementary();
    test_tables();
    test_grad_stats();
    return test_report("rbse_prepare");
}
