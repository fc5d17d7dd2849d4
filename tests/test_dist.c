/*
 * Distributions: sample moments match theory; lognormal log-moments match mu and sigma^2,
 * with the sign rules; the empirical covariance of many center_surround kernels matches the
 * (eigen-clipped) target; every distribution is reproducible from its seed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "testutil.h"

static void moments(const float *w, size_t n, double *mean, double *var) {
    double s = 0, sq = 0;
    for (size_t i = 0; i < n; i++) s += w[i], sq += (double)w[i] * w[i];
    *mean = s / n;
    *var = sq / n - *mean * *mean;
}

int main(void) {
    int O = 400, I = 500;
    size_t n = (size_t)O * I;
    float *w = malloc(n * sizeof(float)), *w2 = malloc(n * sizeof(float));
    Rng r;
    DistParams p;
    double mean, var;

    /* plain families: mean 0 and the variance of their definition */
    struct { const char *name; double scale, var; } fam[] = {
        {"normal", 1.0, 1.0},
        {"normal", 0.3, 0.09},
        {"uniform", 2.0, 4.0 / 3.0},
        {"kaiming", 1.0, 2.0 / 500},
        {"xavier", 1.0, 2.0 / 900},
        /* N(0,1) truncated at +-2: var = 1 - 2*2*phi(2) / (2*Phi(2) - 1) */
        {"truncated_normal", 1.5, 2.25 * (1 - 4 * 0.0539909665 / (2 * 0.9772498681 - 1))},
    };
    for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
        dist_defaults(&p, fam[k].name, fam[k].scale);
        rng_seed(&r, 7, 0);
        CHECK(dist_fill(&p, w, O, I, &r) == 0, "%s fills", fam[k].name);
        moments(w, n, &mean, &var);
        CHECK(fabs(mean) < 5 * sqrt(fam[k].var / n), "%s mean %g", fam[k].name, mean);
        CHECK(fabs(var / fam[k].var - 1) < 0.015, "%s var %g, theory %g", fam[k].name, var, fam[k].var);
    }
    dist_defaults(&p, "truncated_normal", 1.5);
    rng_seed(&r, 7, 0);
    dist_fill(&p, w, O, I, &r);
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(w[i]));
    CHECK(mx <= 3.0 + 1e-6, "truncated_normal stays within 2 scales (max %g)", mx);

    /* lognormal: log-moments are mu and sigma^2 (SCIENCE.md: -0.702, 0.9355) */
    for (int sign = 0; sign < 3; sign++) {
        dist_defaults(&p, "lognormal", 1.0);
        p.sign = sign;
        rng_seed(&r, 8, 0);
        dist_fill(&p, w, O, I, &r);
        double s = 0, sq = 0;
        size_t neg = 0;
        for (size_t i = 0; i < n; i++) {
            double l = log(fabs(w[i]));
            s += l, sq += l * l, neg += w[i] < 0;
        }
        double lm = s / n, lv = sq / n - lm * lm;
        CHECK(fabs(lm + 0.702) < 0.01 && fabs(lv / 0.9355 - 1) < 0.015, "lognormal sign %d log-moments %g %g", sign, lm, lv);
        if (sign == SIGN_POSITIVE) CHECK(neg == 0, "positive lognormal has %zu negatives", neg);
        if (sign == SIGN_RANDOM) CHECK(fabs((double)neg / n - 0.5) < 0.01, "random signs: %g negative", (double)neg / n);
        if (sign == SIGN_DALE) {
            int mixed = 0, inh = 0;
            for (int i = 0; i < I; i++) {
                int s0 = w[i] < 0;
                inh += s0;
                for (int o = 1; o < O; o++) mixed |= (w[(size_t)o * I + i] < 0) != s0;
            }
            CHECK(!mixed, "Dale: every presynaptic unit (column) has one sign");
            CHECK(fabs((double)inh / I - 0.2) < 0.06, "Dale: inhibitory fraction %g", (double)inh / I);
        }
    }

    /* center_surround: 5x5 kernels, 3 channels; covariance of 40,000 kernels vs the target */
    int k = 5, d = k * k, nk = 40000;
    double cov[625], raw[625];
    CHECK(center_surround_cov(k, 1.0, 2.0, 0, raw) == 0 && center_surround_cov(k, 1.0, 2.0, 1, cov) == 0, "cov");
    CHECK(fabs(raw[0] - 0.75) < 1e-12, "c(0) = 1 - s_c^2/s_s^2 = 0.75");
    double clip = 0;
    for (int i = 0; i < d * d; i++) clip = fmax(clip, fabs(raw[i] - cov[i]));
    CHECK(clip < 0.05, "eigen-clipping changes the target by %g at most", clip);
    float *kw = malloc((size_t)nk * 3 * d * sizeof(float));
    dist_defaults(&p, "center_surround", 2.0);
    p.k = k;
    rng_seed(&r, 9, 0);
    CHECK(dist_fill(&p, kw, nk, 3 * d, &r) == 0, "center_surround fills 3-channel kernels");
    double worst = 0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int t = 0; t < nk; t++)
                for (int c = 0; c < 3; c++) s += (double)kw[(size_t)t * 3 * d + c * d + i] * kw[(size_t)t * 3 * d + c * d + j];
            worst = fmax(worst, fabs(s / (3.0 * nk) - 2.0 * cov[i * d + j]));
        }
    CHECK(worst < 0.04, "empirical covariance matches scale * Sigma within %g", worst);
    /* neighbouring synapses correlate positively, those 2-3 pixels apart negatively */
    CHECK(cov[12 * d + 13] > 0 && cov[12 * d + 14] < 0, "centre-surround sign pattern: %g %g", cov[12 * d + 13], cov[12 * d + 14]);
    dist_defaults(&p, "center_surround", 1.0);
    p.k = 5;
    CHECK(dist_fill(&p, w, 4, 24, &r) == -1, "center_surround refuses rows that are not k x k blocks");
    free(kw);

    /* reproducible from the seed, different across seeds */
    const char *all[] = {"normal", "lognormal", "center_surround", "truncated_normal", "uniform", "kaiming", "xavier"};
    for (int a = 0; a < 7; a++) {
        dist_defaults(&p, all[a], 1.0);
        p.k = 5;
        p.sign = SIGN_DALE;
        Rng r1, r2;
        rng_seed(&r1, 42, 6), rng_seed(&r2, 42, 6);
        dist_fill(&p, w, 64, 50, &r1), dist_fill(&p, w2, 64, 50, &r2);
        CHECK(!memcmp(w, w2, 64 * 50 * sizeof(float)), "%s reproducible", all[a]);
        rng_seed(&r2, 43, 6);
        dist_fill(&p, w2, 64, 50, &r2);
        CHECK(memcmp(w, w2, 64 * 50 * sizeof(float)) != 0, "%s differs across seeds", all[a]);
    }
    dist_defaults(&p, "nope", 1);
    CHECK(dist_fill(&p, w, 2, 2, &r) == -1, "unknown name refused");
    free(w), free(w2);
    return test_report("test_dist");
}
