/*
 * test_rbse: the RBSE / RBM core against exact enumeration, its own reference loops and
 * its formulas.
 *  1. exact d(-log P(v))/d(w, a, b, c) of a 4 x 3 model (2^4 x 2^3 x 2^12 states, double)
 *     vs (a) the softplus closed form, (b) the learning rule (PCD-1 and -3, fixed parameters;
 *     the joint chain and rbse_chain: collapsed)
 *     averaged over long chains, (c) raw statistics of literal 3-block Gibbs chains
 *     (clamped and free); tolerance 5 batch-means standard errors (+1e-5 for float and
 *     the 2^-24 threshold quantisation). A power check shows the same test rejects the
 *     gradient of the model with the masks ignored.
 *  2. release probability 1 (a = 40): the RBSE CD-k / PCD update equals the RBM's.
 *  3. frequency tests of m | v, h, of the fused h- and v-steps (enumerated over masks) and
 *     of unit draws; fused kernels equal reference loops bit for bit.
 *  4. features: the mean of S masked feature vectors vs its enumerated expectation; RBM
 *     features = sigmoid(c + W v). Statistics on constructed parameters.
 * `test_rbse --dump` prints the tiny model, its data and exact gradient for rbse_exact.py.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbse.h"
#include "testutil.h"

#define TV 4
#define TH 3
#define TS (TV * TH)
#define TB 64 /* chains / data rows */

static const float patterns[5][TV] = {
    {1, 0, 1, 1}, {0, 1, 0, 0}, {1, 1, 0, 0}, {0, 0, 1, 1}, {1, 0, 0, 1}};

typedef struct Tiny {
    float w[TS], a[TS], b[TV], c[TH];
    float data[TB * TV];
} Tiny;

static void tiny_make(Tiny *t) {
    Rng r;
    rng_seed(&r, 7, 99);
    for (int k = 0; k < TS; k++) t->w[k] = 1.5f * (float)rng_normal(&r);
    for (int k = 0; k < TS; k++) t->a[k] = 1.5f * (float)rng_normal(&r);
    for (int i = 0; i < TV; i++) t->b[i] = 0.5f * (float)rng_normal(&r);
    for (int j = 0; j < TH; j++) t->c[j] = 0.5f * (float)rng_normal(&r);
    for (int q = 0; q < TB; q++) memcpy(t->data + q * TV, patterns[q % 5], sizeof patterns[0]);
}

/* Gradient layout: w (TS), a (TS), b (TV), c (TH). */
#define NG (2 * TS + TV + TH)

/* Exact descent gradient of -(1/N) sum_n log P(v_n) by enumerating (v, h, m) in double.
 * rbm: m fixed at 1 (a-gradient zero). */
static void exact_grad(const Tiny *t, int rbm, double *g) {
    static double zv[1 << TV], sv[1 << TV][NG];
    double z = 0, sm[NG] = {0};
    memset(zv, 0, sizeof zv), memset(sv, 0, sizeof sv);
    int n_m = rbm ? 1 : 1 << TS;
    for (int vs = 0; vs < 1 << TV; vs++)
        for (int hs = 0; hs < 1 << TH; hs++)
            for (int ms = 0; ms < n_m; ms++) {
                double e = 0, st[NG] = {0}; /* -E and d(-E)/dtheta */
                for (int i = 0; i < TV; i++) st[2 * TS + i] = vs >> i & 1, e += t->b[i] * (vs >> i & 1);
                for (int j = 0; j < TH; j++)
                    st[2 * TS + TV + j] = hs >> j & 1, e += t->c[j] * (hs >> j & 1);
                for (int j = 0; j < TH; j++)
                    for (int i = 0; i < TV; i++) {
                        int k = j * TV + i, mk = rbm ? 1 : ms >> k & 1;
                        int s = (vs >> i & 1) & (hs >> j & 1);
                        st[k] = s * mk;
                        e += st[k] * (double)t->w[k];
                        if (!rbm) st[TS + k] = mk, e += mk * (double)t->a[k];
                    }
                double p = exp(e);
                z += p, zv[vs] += p;
                for (int q = 0; q < NG; q++) sm[q] += p * st[q], sv[vs][q] += p * st[q];
            }
    for (int q = 0; q < NG; q++) g[q] = sm[q] / z; /* model term */
    for (int n = 0; n < TB; n++) {
        int vs = 0;
        for (int i = 0; i < TV; i++) vs |= (t->data[n * TV + i] > 0.5f) << i;
        for (int q = 0; q < NG; q++) g[q] -= sv[vs][q] / zv[vs] / TB; /* minus data term */
    }
}

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid_d(double x) { return 1 / (1 + exp(-x)); }

/* The same gradient from the marginal RBM over (v, h) with weff = softplus(a+w) - softplus(a). */
static void closed_form_grad(const Tiny *t, double *g) {
    double weff[TS], p1[TS], dp[TS], zv[1 << TV] = {0}, z = 0;
    double sm[NG] = {0}, sv[1 << TV][NG];
    memset(sv, 0, sizeof sv);
    for (int k = 0; k < TS; k++) {
        weff[k] = softplus(t->a[k] + (double)t->w[k]) - softplus(t->a[k]);
        p1[k] = sigmoid_d(t->a[k] + (double)t->w[k]), dp[k] = p1[k] - sigmoid_d(t->a[k]);
    }
    for (int vs = 0; vs < 1 << TV; vs++)
        for (int hs = 0; hs < 1 << TH; hs++) {
            double e = 0, st[NG] = {0};
            for (int i = 0; i < TV; i++) st[2 * TS + i] = vs >> i & 1, e += t->b[i] * (vs >> i & 1);
            for (int j = 0; j < TH; j++) st[2 * TS + TV + j] = hs >> j & 1, e += t->c[j] * (hs >> j & 1);
            for (int k = 0; k < TS; k++) {
                int s = (vs >> (k % TV) & 1) & (hs >> (k / TV) & 1);
                e += s * weff[k];
                st[k] = s * p1[k], st[TS + k] = s * dp[k]; /* E[m] terms without the p0 part */
            }
            double p = exp(e);
            z += p, zv[vs] += p;
            for (int q = 0; q < NG; q++) sm[q] += p * st[q], sv[vs][q] += p * st[q];
        }
    for (int q = 0; q < NG; q++) g[q] = sm[q] / z;
    for (int n = 0; n < TB; n++) {
        int vs = 0;
        for (int i = 0; i < TV; i++) vs |= (t->data[n * TV + i] > 0.5f) << i;
        for (int q = 0; q < NG; q++) g[q] -= sv[vs][q] / zv[vs] / TB;
    }
}

/* Batch means: nb batches of equal length; mean and standard error per coordinate. */
typedef struct Means {
    int nb, len, n; /* batches, samples per batch, samples seen */
    double bsum[NG], sum[NG], sq[NG];
} Means;

static void means_add(Means *s, const double *x) {
    for (int q = 0; q < NG; q++) s->bsum[q] += x[q];
    if (++s->n % s->len) return;
    for (int q = 0; q < NG; q++) {
        double m = s->bsum[q] / s->len;
        s->sum[q] += m, s->sq[q] += m * m, s->bsum[q] = 0;
    }
}

static void means_get(const Means *s, double *mean, double *se) {
    for (int q = 0; q < NG; q++) {
        mean[q] = s->sum[q] / s->nb;
        double var = (s->sq[q] - s->nb * mean[q] * mean[q]) / (s->nb - 1);
        se[q] = sqrt((var > 0 ? var : 0) / s->nb);
    }
}

static const char *gname(int q, char *buf) {
    if (q < TS) sprintf(buf, "w[%d][%d]", q / TV, q % TV);
    else if (q < 2 * TS) sprintf(buf, "a[%d][%d]", (q - TS) / TV, (q - TS) % TV);
    else if (q < 2 * TS + TV) sprintf(buf, "b[%d]", q - 2 * TS);
    else sprintf(buf, "c[%d]", q - 2 * TS - TV);
    return buf;
}

/* Max |mean - exact| / (se) over coordinates; counts those beyond 5 se + 1e-5. */
static int compare(const char *what, const double *mean, const double *se, const double *exact,
                   int rbm, double *max_z, int verbose) {
    int bad = 0;
    char buf[32];
    *max_z = 0;
    for (int q = 0; q < NG; q++) {
        if (rbm && q >= TS && q < 2 * TS) continue;
        double d = fabs(mean[q] - exact[q]), z = d / (se[q] + 1e-12);
        if (z > *max_z) *max_z = z;
        if (d > 5 * se[q] + 1e-5) {
            bad++;
            if (verbose)
                fprintf(stderr, "  %s %s: estimate %.5f exact %.5f se %.5f\n", what, gname(q, buf),
                        mean[q], exact[q], se[q]);
        }
    }
    return bad;
}

/* Test 1b: the learning rule itself, PCD-k at fixed parameters, averaged (collapsed: the
 * (v, h) chain with the masks summed out). */
static void rule_estimate(const Tiny *t0, int rbm, int k, int collapsed, Means *s) {
    Tiny t = *t0;
    Rbse m;
    RbseChain ch;
    rbse_create(&m, TV, TH, rbm, t.w, rbm ? NULL : t.a, t.b, t.c);
    m.collapsed = collapsed;
    rbse_prepare(&m);
    rbse_chain_create(&ch, &m, TB, 11);
    float g[NG];
    double gd[NG];
    for (int it = 0; it < 200 + s->nb * s->len; it++) {
        memset(g, 0, sizeof g);
        rbse_grad(&m, &ch, TB, t.data, k, 1, g, rbm ? NULL : g + TS, g + 2 * TS, g + 2 * TS + TV);
        if (it < 200) continue; /* burn-in */
        for (int q = 0; q < NG; q++) gd[q] = g[q];
        means_add(s, gd);
    }
    rbse_chain_free(&ch);
    rbse_free(&m);
}

/* Raw sufficient statistics of one (v, h, m) batch, averaged over its B rows. */
static void raw_stats(int B, const float *v, const float *h, const uint8_t *mk, double *st) {
    memset(st, 0, NG * sizeof(double));
    for (int r = 0; r < B; r++) {
        for (int j = 0; j < TH; j++)
            for (int i = 0; i < TV; i++) {
                int k = j * TV + i, mm = mk[(r * TH + j) * TV + i];
                st[k] += v[r * TV + i] * h[r * TH + j] * mm / B;
                st[TS + k] += (double)mm / B;
            }
        for (int i = 0; i < TV; i++) st[2 * TS + i] += v[r * TV + i] / B;
        for (int j = 0; j < TH; j++) st[2 * TS + TV + j] += h[r * TH + j] / B;
    }
}

/* Test 1c: literal block Gibbs, free chain h|v,m; v|h,m; m|v,h, and the chain with v
 * clamped to the data (h|v,m; m|v,h); descent estimate = free stats - clamped stats. */
static void gibbs_estimate(const Tiny *t0, Means *s) {
    Tiny t = *t0;
    Rbse m;
    rbse_create(&m, TV, TH, 0, t.w, t.a, t.b, t.c);
    rbse_prepare(&m);
    Rng ur, mr;
    rng_seed(&ur, 5, 1), rng_seed(&mr, 5, 2);
    float vf[TB * TV], hf[TB * TH], hc[TB * TH], p[TB * TV];
    static uint8_t mf[TB * TS], mc[TB * TS];
    memcpy(vf, t.data, sizeof vf);
    memset(hf, 0, sizeof hf), memset(hc, 0, sizeof hc);
    rbse_sample_masks(&m, TB, vf, hf, rng_u64(&mr), mf);
    memcpy(mc, mf, sizeof mc);
    double sf[NG], sc[NG], d[NG];
    for (int it = 0; it < 200 + s->nb * s->len; it++) {
        rbse_h_given_vm(&m, TB, vf, mf, p), rbse_bernoulli(&ur, TB * TH, p, hf);
        rbse_v_given_hm(&m, TB, hf, mf, p), rbse_bernoulli(&ur, TB * TV, p, vf);
        rbse_sample_masks(&m, TB, vf, hf, rng_u64(&mr), mf);
        rbse_h_given_vm(&m, TB, t.data, mc, p), rbse_bernoulli(&ur, TB * TH, p, hc);
        rbse_sample_masks(&m, TB, t.data, hc, rng_u64(&mr), mc);
        if (it < 200) continue;
        raw_stats(TB, vf, hf, mf, sf), raw_stats(TB, t.data, hc, mc, sc);
        for (int q = 0; q < NG; q++) d[q] = sf[q] - sc[q];
        means_add(s, d);
    }
    rbse_free(&m);
}

static void test_exact(void) {
    Tiny t;
    tiny_make(&t);
    double ex[NG], cf[NG], exr[NG], mean[NG], se[NG], mz;
    exact_grad(&t, 0, ex);
    closed_form_grad(&t, cf);
    double md = 0;
    for (int q = 0; q < NG; q++) md = fmax(md, fabs(ex[q] - cf[q]));
    CHECK(md < 1e-12, "enumeration vs softplus closed form: max diff %.3g", md);

    Means s = {.nb = 50, .len = 600};
    rule_estimate(&t, 0, 1, 0, &s);
    means_get(&s, mean, se);
    int bad = compare("PCD-1 rule", mean, se, ex, 0, &mz, 1);
    CHECK(bad == 0, "PCD-1 rule vs exact gradient: %d of %d beyond 5 se (max z %.2f)", bad, NG, mz);
    printf("exact vs PCD-1 rule (50 x 600 calls, 64 chains): max z %.2f\n", mz);
    /* power: the same estimate vs the gradient of the model with the masks ignored */
    exact_grad(&t, 1, exr);
    for (int q = TS; q < 2 * TS; q++) exr[q] = ex[q];
    bad = compare("power", mean, se, exr, 0, &mz, 0);
    CHECK(bad > 0 && mz > 20, "power: masks-ignored gradient not rejected (max z %.2f)", mz);
    printf("power: masks-ignored gradient rejected in %d coordinates, max z %.1f\n", bad, mz);

    Means s3 = {.nb = 50, .len = 600};
    rule_estimate(&t, 0, 3, 0, &s3);
    means_get(&s3, mean, se);
    bad = compare("PCD-3 rule", mean, se, ex, 0, &mz, 1);
    CHECK(bad == 0, "PCD-3 rule vs exact gradient: %d beyond 5 se (max z %.2f)", bad, mz);
    printf("exact vs PCD-3 rule: max z %.2f\n", mz);

    /* rbse_chain: collapsed, the (v, h) chain with m summed out: the same stationary (v, h) */
    for (int k = 1; k <= 3; k += 2) {
        Means sc = {.nb = 50, .len = 600};
        rule_estimate(&t, 0, k, 1, &sc);
        means_get(&sc, mean, se);
        bad = compare("collapsed PCD rule", mean, se, ex, 0, &mz, 1);
        CHECK(bad == 0, "collapsed PCD-%d rule vs exact gradient: %d beyond 5 se (max z %.2f)", k, bad, mz);
        printf("exact vs collapsed PCD-%d rule: max z %.2f\n", k, mz);
    }

    Means sg = {.nb = 50, .len = 600};
    gibbs_estimate(&t, &sg);
    means_get(&sg, mean, se);
    bad = compare("3-block Gibbs", mean, se, ex, 0, &mz, 1);
    CHECK(bad == 0, "literal Gibbs chains vs exact gradient: %d beyond 5 se (max z %.2f)", bad, mz);
    printf("exact vs literal 3-block Gibbs (raw m statistics): max z %.2f\n", mz);

    Means sr = {.nb = 50, .len = 400};
    rule_estimate(&t, 1, 1, 0, &sr);
    means_get(&sr, mean, se);
    bad = compare("RBM PCD-1", mean, se, exr, 1, &mz, 1);
    CHECK(bad == 0, "RBM PCD-1 rule vs exact RBM gradient: %d beyond 5 se (max z %.2f)", bad, mz);
    printf("exact RBM vs RBM PCD-1 rule: max z %.2f\n", mz);
}

/* ---- 2: release probability 1 reduces RBSE to the RBM ---- */

static void test_rbm_limit(void) {
    enum { V = 40, H = 24, B = 16 };
    static float w[H * V], a[H * V], b[V], c[H], x[5][B * V];
    Rng r;
    rng_seed(&r, 3, 3);
    for (int k = 0; k < H * V; k++) w[k] = 0.3f * (float)rng_normal(&r), a[k] = RBSE_A_ALWAYS;
    for (int i = 0; i < V; i++) b[i] = 0.2f * (float)rng_normal(&r);
    for (int j = 0; j < H; j++) c[j] = 0.2f * (float)rng_normal(&r);
    for (int q = 0; q < 5; q++)
        for (int k = 0; k < B * V; k++) x[q][k] = rng_uniform(&r) < 0.3 ? 1.0f : 0.0f;
    Rbse ms, mr;
    rbse_create(&ms, V, H, 0, w, a, b, c), rbse_prepare(&ms);
    rbse_create(&mr, V, H, 1, w, NULL, b, c), rbse_prepare(&mr);
    int all_on = 1, weff_eq = 1;
    for (int k = 0; k < H * V; k++) {
        all_on &= ms.t0[k] == (1u << 24) && ms.t1[k] == (1u << 24);
        weff_eq &= ms.weff[k] == w[k] && ms.p1[k] == 1.0f && ms.dp[k] == 0.0f;
    }
    CHECK(all_on, "a = %g must give thresholds 2^24", (double)RBSE_A_ALWAYS);
    CHECK(weff_eq, "a = %g must give weff = w, p1 = 1, dp = 0 exactly", (double)RBSE_A_ALWAYS);
    int cases[3][2] = {{1, 0}, {3, 0}, {2, 1}}; /* (k, persistent) */
    for (int cs = 0; cs < 3; cs++) {
        int k = cases[cs][0], pers = cases[cs][1];
        RbseChain cs_, cr;
        rbse_chain_create(&cs_, &ms, B, 17), rbse_chain_create(&cr, &mr, B, 17);
        static float gs[2 * H * V + V + H], gr[2 * H * V + V + H];
        memset(gs, 0, sizeof gs), memset(gr, 0, sizeof gr);
        double md = 0;
        int bits = 1, da0 = 1;
        for (int q = 0; q < 5; q++) {
            rbse_grad(&ms, &cs_, B, x[q], k, pers, gs, gs + H * V, gs + 2 * H * V, gs + 2 * H * V + V);
            rbse_grad(&mr, &cr, B, x[q], k, pers, gr, NULL, gr + 2 * H * V, gr + 2 * H * V + V);
            bits &= !memcmp(cs_.v, cr.v, sizeof(float) * B * V);
        }
        for (int q = 0; q < H * V; q++) da0 &= gs[H * V + q] == 0.0f;
        for (int q = 0; q < (int)(sizeof gs / sizeof gs[0]); q++)
            if (q < H * V || q >= 2 * H * V) md = fmax(md, fabs(gs[q] - gr[q]));
        int ident = !memcmp(gs, gr, sizeof(float) * H * V) &&
                    !memcmp(gs + 2 * H * V, gr + 2 * H * V, sizeof(float) * (V + H));
        CHECK(md <= 1e-6, "p = 1: RBSE CD-%d%s update differs from RBM by %.3g", k, pers ? " PCD" : "", md);
        CHECK(da0, "p = 1: release-logit gradient must be exactly 0");
        CHECK(bits, "p = 1: chains' visible samples must be the same draws");
        printf("p = 1, CD-%d%s: max |RBSE - RBM| = %.3g (%s)\n", k, pers ? " persistent" : "", md,
               ident ? "bit-identical" : "not bit-identical");
        rbse_chain_free(&cs_), rbse_chain_free(&cr);
    }
    rbse_free(&ms), rbse_free(&mr);
}

/* ---- 3: conditionals ---- */

static int ztest(double f, double p, long n) { /* |f - p| within 5 se (+ quantisation) */
    return fabs(f - p) <= 5 * sqrt(p * (1 - p) / n) + 1e-6;
}

static void test_masks_freq(void) {
    Tiny t;
    tiny_make(&t);
    Rbse m;
    rbse_create(&m, TV, TH, 0, t.w, t.a, t.b, t.c);
    rbse_prepare(&m);
    /* 4 examples: (v, h) patterns covering on/off synapses */
    float v[4 * TV] = {1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0};
    float h[4 * TH] = {1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0};
    enum { N = 40000 };
    static long cnt[4 * TS], both[4 * TS], both_b[TS];
    static uint8_t mk[4 * TS];
    Rng r;
    rng_seed(&r, 1, 1);
    for (int n = 0; n < N; n++) {
        rbse_sample_masks(&m, 4, v, h, rng_u64(&r), mk);
        for (int q = 0; q < 4 * TS; q++) {
            cnt[q] += mk[q];
            both[q] += mk[q] & mk[(q + 1) % (4 * TS)];
        }
        for (int q = 0; q < TS; q++) both_b[q] += mk[q] & mk[TS + q];
    }
    int bad = 0, badp = 0;
    for (int e = 0; e < 4; e++)
        for (int j = 0; j < TH; j++)
            for (int i = 0; i < TV; i++) {
                int k = j * TV + i, q = e * TS + k, on = v[e * TV + i] > 0.5f && h[e * TH + j] > 0.5f;
                double p = sigmoid_d(t.a[k] + (on ? (double)t.w[k] : 0.0));
                if (!ztest((double)cnt[q] / N, p, N)) bad++;
            }
    CHECK(bad == 0, "m | v, h: %d of %d synapse frequencies beyond 5 se", bad, 4 * TS);
    /* independence: adjacent counters and the same synapse in adjacent examples */
    for (int q = 0; q < 4 * TS; q++) {
        double pa = (double)cnt[q] / N, pb = (double)cnt[(q + 1) % (4 * TS)] / N;
        if (!ztest((double)both[q] / N, pa * pb, N)) badp++;
    }
    for (int q = 0; q < TS; q++) {
        double pa = (double)cnt[q] / N, pb = (double)cnt[TS + q] / N;
        if (!ztest((double)both_b[q] / N, pa * pb, N)) badp++;
    }
    CHECK(badp == 0, "masks: %d pair frequencies differ from independence", badp);
    rbse_free(&m);
}

/* E over masks of sigmoid(bias + sum over the set S of released weights), S = entries of
 * (wv, pv) with act set; enumerated in double. */
static double mask_expect(double bias, const double *wv, const double *pv, const int *act, int n) {
    double e = 0;
    for (int s = 0; s < 1 << n; s++) {
        double pr = 1, x = bias;
        for (int q = 0; q < n; q++) {
            if (!act[q]) { if (s >> q & 1) pr = 0; continue; }
            int on = s >> q & 1;
            pr *= on ? pv[q] : 1 - pv[q];
            x += on * wv[q];
        }
        if (pr > 0) e += pr * sigmoid_d(x);
    }
    return e;
}

static void test_steps_freq(void) {
    Tiny t;
    tiny_make(&t);
    Rbse m;
    rbse_create(&m, TV, TH, 0, t.w, t.a, t.b, t.c);
    rbse_prepare(&m);
    float v[2 * TV] = {1, 0, 1, 1, 1, 1, 0, 1}, hold[2 * TH] = {1, 0, 1, 0, 1, 1};
    enum { N = 40000 };
    double sh[2 * TH] = {0}, sh2[2 * TH] = {0}, sv[2 * TV] = {0}, sv2[2 * TV] = {0};
    double sf[2 * TH] = {0};
    float hp[2 * TH], vp[2 * TV], hs[2 * TH];
    Rng r, ur;
    rng_seed(&r, 2, 2), rng_seed(&ur, 2, 3);
    for (int n = 0; n < N; n++) {
        rbse_h_step(&m, 2, v, hold, rng_u64(&r), hp);
        rbse_v_step(&m, 2, hold, v, rng_u64(&r), vp);
        rbse_bernoulli(&ur, 2 * TH, hp, hs);
        for (int q = 0; q < 2 * TH; q++) sh[q] += hp[q], sh2[q] += (double)hp[q] * hp[q], sf[q] += hs[q];
        for (int q = 0; q < 2 * TV; q++) sv[q] += vp[q], sv2[q] += (double)vp[q] * vp[q];
    }
    int bad = 0, badf = 0;
    for (int e = 0; e < 2; e++) {
        for (int j = 0; j < TH; j++) { /* P(h_j | v, h_old) = E_m sigmoid(c_j + sum_i v_i m_ji w_ji) */
            double wv[TV], pv[TV];
            int act[TV];
            for (int i = 0; i < TV; i++) {
                int k = j * TV + i, on = v[e * TV + i] > 0.5f && hold[e * TH + j] > 0.5f;
                wv[i] = t.w[k], pv[i] = sigmoid_d(t.a[k] + (on ? (double)t.w[k] : 0.0));
                act[i] = v[e * TV + i] > 0.5f;
            }
            double ex = mask_expect(t.c[j], wv, pv, act, TV), q = e * TH + j;
            double mean = sh[(int)q] / N, var = sh2[(int)q] / N - mean * mean;
            if (fabs(mean - ex) > 5 * sqrt(var / N) + 1e-6) bad++;
            if (!ztest(sf[(int)q] / N, ex, N)) badf++;
        }
        for (int i = 0; i < TV; i++) { /* P(v_i | h, v_old) = E_m sigmoid(b_i + sum_j h_j m_ji w_ji) */
            double wv[TH], pv[TH];
            int act[TH];
            for (int j = 0; j < TH; j++) {
                int k = j * TV + i, on = v[e * TV + i] > 0.5f && hold[e * TH + j] > 0.5f;
                wv[j] = t.w[k], pv[j] = sigmoid_d(t.a[k] + (on ? (double)t.w[k] : 0.0));
                act[j] = hold[e * TH + j] > 0.5f;
            }
            double ex = mask_expect(t.b[i], wv, pv, act, TH);
            int q = e * TV + i;
            double mean = sv[q] / N, var = sv2[q] / N - mean * mean;
            if (fabs(mean - ex) > 5 * sqrt(var / N) + 1e-6) bad++;
        }
    }
    CHECK(bad == 0, "fused steps: %d of %d mean probabilities off their mask expectation", bad,
          2 * (TH + TV));
    CHECK(badf == 0, "h draws: %d of %d frequencies off P(h | v, h_old)", badf, 2 * TH);

    /* deterministic formulas of the reference conditionals, in double */
    uint8_t mk[2 * TS];
    rbse_sample_masks(&m, 2, v, hold, 12345, mk);
    rbse_h_given_vm(&m, 2, v, mk, hp);
    rbse_v_given_hm(&m, 2, hold, mk, vp);
    double md = 0;
    for (int e = 0; e < 2; e++) {
        for (int j = 0; j < TH; j++) {
            double x = t.c[j];
            for (int i = 0; i < TV; i++) x += v[e * TV + i] * mk[(e * TH + j) * TV + i] * (double)t.w[j * TV + i];
            md = fmax(md, fabs(hp[e * TH + j] - sigmoid_d(x)));
        }
        for (int i = 0; i < TV; i++) {
            double x = t.b[i];
            for (int j = 0; j < TH; j++) x += hold[e * TH + j] * mk[(e * TH + j) * TV + i] * (double)t.w[j * TV + i];
            md = fmax(md, fabs(vp[e * TV + i] - sigmoid_d(x)));
        }
    }
    CHECK(md < 1e-6, "h|v,m and v|h,m vs formula: max diff %.3g", md);
    rbse_free(&m);
}

/* Fused kernels draw the reference masks and add in the same order: equal bit for bit. */
static void test_fused_equals_reference(void) {
    enum { V = 70, H = 33, B = 5 };
    static float w[H * V], a[H * V], b[V], c[H], v[B * V], h[B * H], p1[B * H], p2[B * H];
    static float q1[B * V], q2[B * V];
    static uint8_t mk[B * H * V];
    Rng r;
    rng_seed(&r, 4, 4);
    for (int k = 0; k < H * V; k++) w[k] = (float)rng_normal(&r), a[k] = 2 * (float)rng_normal(&r);
    for (int i = 0; i < V; i++) b[i] = (float)rng_normal(&r);
    for (int j = 0; j < H; j++) c[j] = (float)rng_normal(&r);
    for (int k = 0; k < B * V; k++) v[k] = rng_uniform(&r) < 0.4;
    for (int k = 0; k < B * H; k++) h[k] = rng_uniform(&r) < 0.5;
    Rbse m;
    rbse_create(&m, V, H, 0, w, a, b, c), rbse_prepare(&m);
    int same = 1;
    for (int rep = 0; rep < 3; rep++) {
        uint64_t key = rng_u64(&r);
        rbse_sample_masks(&m, B, v, h, key, mk);
        rbse_h_given_vm(&m, B, v, mk, p1), rbse_h_step(&m, B, v, h, key, p2);
        same &= !memcmp(p1, p2, sizeof p1);
        rbse_v_given_hm(&m, B, h, mk, q1), rbse_v_step(&m, B, h, v, key, q2);
        same &= !memcmp(q1, q2, sizeof q1);
        static float zero[B * H];
        rbse_sample_masks(&m, B, v, zero, key, mk);
        rbse_h_given_vm(&m, B, v, mk, p1), rbse_h_step(&m, B, v, NULL, key, p2);
        same &= !memcmp(p1, p2, sizeof p1);
    }
    CHECK(same, "fused h/v steps differ from reference masks + loops");
    /* RBM: sgemm path vs reference loops (m = 1) */
    Rbse mr;
    rbse_create(&mr, V, H, 1, w, NULL, b, c);
    rbse_h_step(&mr, B, v, NULL, 0, p1), rbse_h_given_vm(&mr, B, v, NULL, p2);
    rbse_v_step(&mr, B, h, NULL, 0, q1), rbse_v_given_hm(&mr, B, h, NULL, q2);
    double md = 0;
    for (int k = 0; k < B * H; k++) md = fmax(md, fabs(p1[k] - p2[k]));
    for (int k = 0; k < B * V; k++) md = fmax(md, fabs(q1[k] - q2[k]));
    CHECK(md < 1e-6, "RBM sgemm steps vs loops: %.3g", md);
    rbse_free(&m), rbse_free(&mr);
}

/* ---- 4: features and statistics ---- */

static void test_features(void) {
    Tiny t;
    tiny_make(&t);
    Rbse m, mr;
    rbse_create(&m, TV, TH, 0, t.w, t.a, t.b, t.c), rbse_prepare(&m);
    rbse_create(&mr, TV, TH, 1, t.w, NULL, t.b, t.c);
    enum { S = 20000 };
    static float feat[2 * S * TH];
    float v[2 * TV] = {1, 0, 1, 1, 0, 1, 1, 1};
    Rng r;
    rng_seed(&r, 9, 9);
    rbse_features(&m, 2, v, S, &r, feat);
    int bad = 0;
    for (int e = 0; e < 2; e++)
        for (int j = 0; j < TH; j++) {
            double s = 0, s2 = 0, wv[TV], pv[TV];
            int act[TV];
            for (int q = 0; q < S; q++) {
                double f = feat[((size_t)e * S + q) * TH + j];
                s += f, s2 += f * f;
            }
            for (int i = 0; i < TV; i++)
                wv[i] = t.w[j * TV + i], pv[i] = sigmoid_d(t.a[j * TV + i]), act[i] = v[e * TV + i] > 0.5f;
            double mean = s / S, se = sqrt((s2 / S - mean * mean) / S);
            double ex = mask_expect(t.c[j], wv, pv, act, TV);
            if (fabs(mean - ex) > 5 * se + 1e-6) {
                bad++;
                fprintf(stderr, "  feature %d,%d: mean %.5f exact %.5f se %.5f\n", e, j, mean, ex, se);
            }
        }
    CHECK(bad == 0, "RBSE features: %d of %d means off E_m[P(h | v, m)], m ~ Bernoulli(sigmoid(a))", bad, 2 * TH);
    float fr[2 * TH];
    rbse_features(&mr, 2, v, 7, &r, fr);
    double md = 0;
    for (int e = 0; e < 2; e++)
        for (int j = 0; j < TH; j++) {
            double x = t.c[j];
            for (int i = 0; i < TV; i++) x += (double)t.w[j * TV + i] * v[e * TV + i];
            md = fmax(md, fabs(fr[e * TH + j] - sigmoid_d(x)));
        }
    CHECK(md < 1e-6, "RBM features vs sigmoid(c + W v): %.3g", md);
    rbse_free(&m), rbse_free(&mr);
}

static void test_stats(void) {
    enum { V = 10, H = 5 };
    float w[H * V], a[H * V], b[V] = {0}, c[H] = {0}, x[3 * V], bx[3 * V];
    for (int k = 0; k < H * V; k++) {
        w[k] = (k % 7 - 3) * 0.5f;           /* |w| in {0, .5, 1, 1.5} */
        a[k] = 4.0f * fabsf(w[k]) - 3.0f;    /* p increasing in |w| */
    }
    Rbse m;
    rbse_create(&m, V, H, 0, w, a, b, c), rbse_prepare(&m);
    CHECK(rbse_weight_release_corr(&m) > 0.9, "corr should be strongly positive: %g", rbse_weight_release_corr(&m));
    double mean = 0;
    float hist[20], expect[20] = {0};
    for (int k = 0; k < H * V; k++) {
        double p = sigmoid_d(a[k]);
        mean += p / (H * V);
        expect[(int)(p * 20)] += 1.0f / (H * V);
    }
    CHECK(fabs(rbse_mean_release(&m) - mean) < 1e-6, "mean release %g vs %g", rbse_mean_release(&m), mean);
    rbse_release_hist(&m, 20, hist);
    double hd = 0, tot = 0;
    for (int q = 0; q < 20; q++) hd = fmax(hd, fabs(hist[q] - expect[q])), tot += hist[q];
    CHECK(hd < 1e-6 && fabs(tot - 1) < 1e-6, "histogram off by %g (sum %g)", hd, tot);
    for (int k = 0; k < H * V; k++) a[k] = -a[k];
    CHECK(rbse_weight_release_corr(&m) < -0.9, "corr should be strongly negative");
    for (int k = 0; k < H * V; k++) a[k] = 1.0f;
    CHECK(isnan(rbse_weight_release_corr(&m)), "constant p: corr must be NaN");
    rbse_free(&m);

    /* reconstruction: w = 0, b = 0 gives P(v | h, m) = 1/2: MSE 1/4, cross-entropy log 2 */
    memset(w, 0, sizeof w);
    Rbse mz;
    rbse_create(&mz, V, H, 0, w, a, b, c), rbse_prepare(&mz);
    RbseChain ch;
    rbse_chain_create(&ch, &mz, 3, 1);
    for (int k = 0; k < 3 * V; k++) x[k] = (float)(k % 3 == 0);
    double ce, mse = rbse_recon_error(&mz, &ch, 3, x, &ce);
    CHECK(fabs(mse - 0.25) < 1e-7 && fabs(ce - log(2.0)) < 1e-6, "recon of w = 0: mse %g ce %g", mse, ce);
    /* a model that reproduces its input: strong visible biases toward x = pattern */
    for (int i = 0; i < V; i++) b[i] = (i % 3 == 0) ? 20.0f : -20.0f;
    for (int k = 0; k < 3 * V; k++) x[k] = (float)((k % V) % 3 == 0);
    mse = rbse_recon_error(&mz, &ch, 3, x, &ce);
    CHECK(mse < 1e-12 && ce < 1e-6, "recon of a perfect model: mse %g ce %g", mse, ce);
    rbse_chain_free(&ch), rbse_free(&mz);

    /* binarisation */
    for (int k = 0; k < 3 * V; k++) x[k] = (float)k / (3 * V - 1);
    rbse_binarize(x, 3 * V, 0.5f, NULL, bx);
    int ok = 1;
    for (int k = 0; k < 3 * V; k++) ok &= bx[k] == (x[k] > 0.5f);
    CHECK(ok, "threshold binarisation");
    enum { N = 100000 };
    static float px[N], bn[N];
    for (int k = 0; k < N; k++) px[k] = 0.3f;
    Rng r;
    rng_seed(&r, 8, 8);
    rbse_binarize(px, N, 0.5f, &r, bn);
    double s = 0;
    for (int k = 0; k < N; k++) s += bn[k];
    CHECK(ztest(s / N, 0.3, N), "Bernoulli binarisation frequency %g vs 0.3", s / N);
}

static void test_accumulates(void) {
    Tiny t;
    tiny_make(&t);
    Rbse m;
    rbse_create(&m, TV, TH, 0, t.w, t.a, t.b, t.c), rbse_prepare(&m);
    RbseChain c1, c2;
    rbse_chain_create(&c1, &m, TB, 3), rbse_chain_create(&c2, &m, TB, 3);
    float g1[NG] = {0}, g2[NG];
    for (int q = 0; q < NG; q++) g2[q] = 1.0f;
    rbse_grad(&m, &c1, TB, t.data, 1, 0, g1, g1 + TS, g1 + 2 * TS, g1 + 2 * TS + TV);
    rbse_grad(&m, &c2, TB, t.data, 1, 0, g2, g2 + TS, g2 + 2 * TS, g2 + 2 * TS + TV);
    int ok = 1;
    for (int q = 0; q < NG; q++) ok &= g2[q] == 1.0f + g1[q];
    CHECK(ok, "rbse_grad must accumulate (+=) into the gradient buffers");
    rbse_chain_free(&c1), rbse_chain_free(&c2), rbse_free(&m);
}

static void dump(void) {
    Tiny t;
    tiny_make(&t);
    double g[NG];
    exact_grad(&t, 0, g);
    printf("V %d H %d N %d\n", TV, TH, TB);
    printf("w");
    for (int k = 0; k < TS; k++) printf(" %.9g", t.w[k]);
    printf("\na");
    for (int k = 0; k < TS; k++) printf(" %.9g", t.a[k]);
    printf("\nb");
    for (int k = 0; k < TV; k++) printf(" %.9g", t.b[k]);
    printf("\nc");
    for (int k = 0; k < TH; k++) printf(" %.9g", t.c[k]);
    printf("\ndata");
    for (int k = 0; k < TB * TV; k++) printf(" %d", (int)t.data[k]);
    printf("\ngrad");
    for (int q = 0; q < NG; q++) printf(" %.17g", g[q]);
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--dump")) {
        dump();
        return 0;
    }
    test_fused_equals_reference();
    test_masks_freq();
    test_steps_freq();
    test_rbm_limit();
    test_features();
    test_stats();
    test_accumulates();
    test_exact();
    return test_report("rbse");
}
