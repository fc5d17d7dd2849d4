/*
 * The RBSE's representations (rbse_features_mode) and the RBM's DropConnect features, on a
 * tiny model (3 visible, 2 hidden: 6 synapses) against exact enumeration in double:
 *   - P(h, m | v) by enumerating the 4 x 64 states of (h, m) from the energy equals the closed
 *     form P(h | v) prod_ji P(m_ji | v, h) (docs/SCIENCE.md section 3) to 1e-12;
 *   - conditional: the (h, m) the sampler draws (re-derived from the documented stream
 *     order) have the enumerated frequencies within 5 standard errors, every feature row is
 *     P(h | v, m) of those masks, and the rows' mean is P(h | v) within 5 se (E over P(m | v)
 *     of P(h | v, m) = P(h | v));
 *   - prior: the same draws and values as rbse_features; its mean is E over the prior masks,
 *     enumerated, and (with these parameters) clearly not P(h | v);
 *   - exact: every row P(h | v), bit for bit rbse_h_marginal, nothing drawn;
 *   - DropConnect (a = logit(p), the prior features): the mean over many masks is the
 *     enumerated E over Bernoulli(p) masks of sigmoid(c + sum m w v).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rbse.h"
#include "testutil.h"

enum { V = 3, H = 2, NS = V * H, NM = 1 << NS };

static float w[NS] = {1.2f, -0.8f, 0.5f, -1.0f, 0.9f, 1.5f}, a[NS] = {0.3f, -0.5f, 1.0f, -1.2f, 0.4f, 0.0f};
static float b[V] = {0.1f, -0.2f, 0.3f}, c[H] = {-0.3f, 0.2f};

static double sig(double x) { return 1 / (1 + exp(-x)); }

/* P(h, m | v) over states h + 4 * m (m bit k: synapse k = j V + i), from the energy. */
static void enum_joint(const float *v, const float *al, double *p) {
    double z = 0;
    for (int hs = 0; hs < 1 << H; hs++)
        for (int ms = 0; ms < NM; ms++) {
            double e = 0;
            for (int j = 0; j < H; j++) e += (hs >> j & 1) * (double)c[j];
            for (int k = 0; k < NS; k++)
                if (ms >> k & 1) e += al[k] + (double)w[k] * v[k % V] * (hs >> (k / V) & 1);
            z += p[hs + 4 * ms] = exp(e);
        }
    for (int s = 0; s < 4 * NM; s++) p[s] /= z;
}

/* sigmoid(c_j + sum_i m_ji w_ji v_i) for mask bits ms. */
static double h_given_m(const float *v, int ms, int j) {
    double x = c[j];
    for (int i = 0; i < V; i++) x += (ms >> (j * V + i) & 1) * (double)w[j * V + i] * v[i];
    return sig(x);
}

static void test_closed_form(const float *v, const double *pj) {
    double worst = 0;
    for (int hs = 0; hs < 4; hs++)
        for (int ms = 0; ms < NM; ms++) {
            double q = 1;
            for (int j = 0; j < H; j++) {
                double x = c[j];
                for (int i = 0; i < V; i++) {
                    double sp1 = log1p(exp((double)a[j * V + i] + w[j * V + i])), sp0 = log1p(exp((double)a[j * V + i]));
                    x += (sp1 - sp0) * v[i]; /* weff */
                }
                q *= (hs >> j & 1) ? sig(x) : 1 - sig(x);
            }
            for (int k = 0; k < NS; k++) {
                double pm = sig(a[k] + (double)w[k] * v[k % V] * (hs >> (k / V) & 1));
                q *= (ms >> k & 1) ? pm : 1 - pm;
            }
            worst = fmax(worst, fabs(q - pj[hs + 4 * ms]));
        }
    CHECK(worst < 1e-12, "P(h, m | v) = P(h | v) prod P(m | v, h): max diff %.3g", worst);
}

static void test_conditional(const Rbse *m, const float *v, const double *pj) {
    enum { N = 200000 };
    static long cnt[4 * NM];
    memset(cnt, 0, sizeof cnt);
    float work[2 * H], feat[H], hp[H], h[H], ref[H];
    uint8_t mk[NS];
    double sum[H] = {0}, sq[H] = {0}, rowdiff = 0;
    Rng r, rc;
    rng_seed(&r, 7, 3);
    rc = r;
    for (int n = 0; n < N; n++) {
        rbse_features_mode(m, 1, v, 1, RBSE_FEAT_CONDITIONAL, &r, work, feat);
        rbse_h_marginal(m, 1, v, hp); /* the documented order: h ~ P(h | v), a key, m ~ P(m | v, h) */
        rbse_bernoulli(&rc, H, hp, h);
        rbse_sample_masks(m, 1, v, h, rng_u64(&rc), mk);
        rbse_h_given_vm(m, 1, v, mk, ref);
        int s = (h[0] > 0.5f) + 2 * (h[1] > 0.5f);
        for (int k = 0; k < NS; k++) s += mk[k] << (k + 2);
        cnt[s]++;
        for (int j = 0; j < H; j++) {
            rowdiff = fmax(rowdiff, fabs(feat[j] - ref[j]));
            sum[j] += feat[j], sq[j] += (double)feat[j] * feat[j];
        }
    }
    CHECK(rowdiff < 1e-6, "conditional rows = P(h | v, m) of the re-derived masks: max diff %.3g", rowdiff);
    int bad = 0;
    for (int s = 0; s < 4 * NM; s++) {
        double f = (double)cnt[s] / N, p = pj[s];
        if (fabs(f - p) > 5 * sqrt(p * (1 - p) / N) + 1e-6) bad++;
    }
    CHECK(bad == 0, "v = %g%g%g: %d of %d (h, m) frequencies beyond 5 se of P(h, m | v)", v[0], v[1], v[2], bad, 4 * NM);
    for (int j = 0; j < H; j++) {
        double pe = 0; /* P(h_j = 1 | v), enumerated */
        for (int s = 0; s < 4 * NM; s++) pe += (s >> j & 1) * pj[s];
        double mean = sum[j] / N, se = sqrt((sq[j] / N - mean * mean) / N);
        CHECK(fabs(mean - pe) < 5 * se + 1e-6, "conditional: mean row %d = %.5f, P(h | v) %.5f (se %.2g)", j, mean, pe, se);
    }
}

static void test_prior_exact(const Rbse *m, const float *v, const double *pj) {
    enum { N = 100000 };
    float f1[H], f2[H], fe[H], hm[H];
    double sum[H] = {0}, sq[H] = {0};
    int same = 1;
    Rng r1, r2;
    rng_seed(&r1, 9, 4);
    r2 = r1;
    for (int n = 0; n < N; n++) {
        rbse_features_mode(m, 1, v, 1, RBSE_FEAT_PRIOR, &r1, NULL, f1);
        rbse_features(m, 1, v, 1, &r2, f2);
        same &= !memcmp(f1, f2, sizeof f1);
        for (int j = 0; j < H; j++) sum[j] += f1[j], sq[j] += (double)f1[j] * f1[j];
    }
    CHECK(same, "prior mode = rbse_features bit for bit");
    for (int j = 0; j < H; j++) {
        double ep = 0, pe = 0; /* E over prior masks; P(h_j = 1 | v) */
        for (int ms = 0; ms < NM; ms++) {
            double pr = 1;
            for (int k = 0; k < NS; k++) pr *= (ms >> k & 1) ? sig(a[k]) : 1 - sig(a[k]);
            ep += pr * h_given_m(v, ms, j);
        }
        for (int s = 0; s < 4 * NM; s++) pe += (s >> j & 1) * pj[s];
        double mean = sum[j] / N, se = sqrt((sq[j] / N - mean * mean) / N);
        CHECK(fabs(mean - ep) < 5 * se + 1e-6, "prior: mean row %d = %.5f, enumerated %.5f", j, mean, ep);
        CHECK(fabs(ep - pe) > 20 * se, "prior mean %.5f is not P(h | v) %.5f here", ep, pe);
    }
    float fx[3 * H];
    Rng r3 = r1;
    rbse_features_mode(m, 1, v, 3, RBSE_FEAT_EXACT, &r1, NULL, fx);
    rbse_h_marginal(m, 1, v, hm);
    CHECK(rng_u64(&r1) == rng_u64(&r3), "exact draws nothing");
    for (int s = 0; s < 3; s++) CHECK(!memcmp(fx + s * H, hm, sizeof hm), "exact row %d = rbse_h_marginal", s);
    for (int j = 0; j < H; j++) {
        double pe = 0;
        for (int s = 0; s < 4 * NM; s++) pe += (s >> j & 1) * pj[s];
        fe[j] = fx[j];
        CHECK(fabs(fe[j] - pe) < 1e-6, "exact row = enumerated P(h_%d | v): %.7f vs %.7f", j, fe[j], pe);
    }
}

static void test_dropconnect(const float *v) {
    enum { N = 100000 };
    const float p = 0.3f;
    float ad[NS], f[H];
    for (int k = 0; k < NS; k++) ad[k] = logf(p / (1 - p));
    Rbse m;
    CHECK(rbse_create(&m, V, H, 0, w, ad, b, c) == 0, "DropConnect model");
    rbse_prepare(&m);
    double sum[H] = {0}, sq[H] = {0};
    Rng r;
    rng_seed(&r, 11, 5);
    for (int n = 0; n < N; n++) {
        rbse_features(&m, 1, v, 1, &r, f);
        for (int j = 0; j < H; j++) sum[j] += f[j], sq[j] += (double)f[j] * f[j];
    }
    for (int j = 0; j < H; j++) {
        double ex = 0;
        for (int ms = 0; ms < NM; ms++) {
            int on = __builtin_popcount((unsigned)ms);
            ex += pow(p, on) * pow(1 - p, NS - on) * h_given_m(v, ms, j);
        }
        double mean = sum[j] / N, se = sqrt((sq[j] / N - mean * mean) / N);
        CHECK(fabs(mean - ex) < 5 * se + 1e-6, "DropConnect p = %g: mean row %d = %.5f, enumerated %.5f (se %.2g)",
              (double)p, j, mean, ex, se);
    }
    rbse_free(&m);
}

int main(void) {
    Rbse m;
    CHECK(rbse_create(&m, V, H, 0, w, a, b, c) == 0, "tiny model");
    rbse_prepare(&m);
    const float vs[3][V] = {{1, 0, 1}, {1, 1, 1}, {0, 1, 1}};
    static double pj[4 * NM];
    for (int q = 0; q < 3; q++) {
        enum_joint(vs[q], a, pj);
        test_closed_form(vs[q], pj);
        test_conditional(&m, vs[q], pj);
        test_prior_exact(&m, vs[q], pj);
        test_dropconnect(vs[q]);
    }
    rbse_free(&m);
    return test_report("test_rbse_features");
}
