/*
 * Model kinds lc and lc_conv (src/core/model_lc.c), end to end:
 *  - tiny MNIST jobs through train_job finish ok with their curves and metrics: without
 *    sleep SNR_w does not rise above its init value (read from the init snapshot); with
 *    instant or dynamic sleep it rises; after an instant sleep that ends training, every
 *    kernel of a sharing group (grid or map) is equal in the final snapshot; fa declares
 *    fixed feedback tensors for layers >= 1, dfa is refused;
 *  - lc_conv == cnn (trained conv, same padding, 2x2 max-pool, ReLU, flatten): the same
 *    parameters give the same losses and parameters over a few Adam steps;
 *  - lc whose kernels are the lc_conv kernels at every position computes lc_conv's loss,
 *    and its weight gradient summed over positions is lc_conv's (2 layers, bp and fa).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "job.h"
#include "lc.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"
#include "train.h"

static void set(JobSpec *s, const char *k, const char *v) {
    char err[256];
    if (jobspec_set(s, k, v, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}

static void tiny(JobSpec *s) {
    jobspec_defaults(s);
    const char *kv[][2] = {{"model", "lc"},  {"train_size", "256"}, {"test_size", "200"}, {"batch_size", "32"},
                           {"epochs", "2"},  {"lc_channels", "4,4"}, {"lc_size", "3"},    {"hidden", "16"},
                           {"lr", "1e-3"},   {"snapshots", "init,final"}, {"seed", "3"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) set(s, kv[i][0], kv[i][1]);
}

/* Stage k's snapshot of tensor name (trainable or fixed). */
static const float *snap(const JobResult *r, int k, const char *name) {
    const Tensor *t = tensors_find(&r->tensors, name);
    if (!t || !r->snaps) return NULL;
    return r->snaps + (size_t)k * (r->n_params + r->n_fixed) + (t->fixed ? r->n_params : 0) + t->offset;
}

/* Shapes of the two LC layers of tiny() on MNIST: (C, H) = (1, 28), (4, 14). */
static const int LC_C[2] = {1, 4}, LC_H[2] = {28, 14};

static double snr_of(const float *Wt, int l) {
    double p;
    lc_snr(Wt, LC_C[l], LC_H[l], LC_H[l], 4, 3, &p, NULL);
    return p;
}

/* Positions whose kernel differs from another member of its group (grid: y, x mod K). */
static long group_unequal(const float *Wt, int l, int share) {
    int H = LC_H[l], n = 4 * LC_C[l] * 9, K = 3;
    long bad = 0;
    for (int p = 0; p < H * H; p++) {
        int q = share == LC_SHARE_MAP ? 0 : (p / H) % K * H + (p % H) % K; /* the group's first member */
        bad += memcmp(Wt + (size_t)p * n, Wt + (size_t)q * n, (size_t)n * sizeof(float)) != 0;
    }
    return bad;
}

static int run(JobSpec *s, const RawSplit *tr, const RawSplit *te, JobResult *r) {
    job_result_init(r, 0);
    return train_job(s, tr, te, NULL, 0, r);
}

static void test_jobs(const RawSplit *tr, const RawSplit *te) {
    /* the SNR curves' columns in the gathered table (model_registry.c) */
    int c_paper = model_curve_find("snr_paper_0"), c_code = model_curve_find("snr_code_0");
    CHECK(c_paper >= 0 && c_code >= 0, "the SNR curves are gathered");
    if (c_paper < 0 || c_code < 0) return;
    JobSpec s;
    JobResult r;
    char name[16];
    /* no sleep: ok, curves of two layers, SNR stays near its (small) init value */
    tiny(&s);
    CHECK(run(&s, tr, te, &r) == STATUS_OK, "lc, no sleep: %s", r.message);
    CHECK(r.n_mepochs == 2 && r.mcurves, "two epochs of model curves");
    for (int l = 0; l < 2 && r.snaps; l++) {
        snprintf(name, sizeof name, "lc_W%d", l);
        double s0 = snr_of(snap(&r, 0, name), l), s1 = snr_of(snap(&r, 1, name), l);
        float c = r.mcurves[1 * N_MODEL_CURVES + c_paper + l];
        printf("no sleep, layer %d: SNR_paper init %.4g, final %.4g\n", l, s0, s1);
        CHECK(s1 < 2 * s0 && fabs(c - s1) <= 1e-5 * s1, "layer %d: SNR %g -> %g (curve %g)", l, s0, s1, c);
        CHECK(isfinite(r.mcurves[c_code + l]), "snr_code_%d recorded", l);
    }
    CHECK(isnan(r.mcurves[c_paper + 2]) && isnan(r.mcurves[c_code + 3]), "no curves of absent layers");
    CHECK(r.m.n_sleeps == 0 && isfinite(r.m.snr_paper) && isfinite(r.m.snr_code), "metrics of lc");
    CHECK(tensors_find(&r.tensors, "lc_B1") == NULL, "bp: no feedback tensors");
    const Tensor *t = tensors_find(&r.tensors, "lc_W1");
    CHECK(t && t->ndim == 3 && t->shape[0] == 14 * 14 && t->shape[1] == 4 && t->shape[2] == 4 * 9 && !t->fixed,
          "lc_W1 (H*W, O, C*K*K) trainable");
    job_result_free(&r);

    /* instant sleep after every epoch's last step (8 steps): the final kernels are equal within groups */
    for (int share = 0; share < 2; share++) {
        tiny(&s);
        set(&s, "sleep", "instant");
        set(&s, "sleep_every", "8");
        set(&s, "sleep_share", share == LC_SHARE_MAP ? "map" : "grid");
        CHECK(run(&s, tr, te, &r) == STATUS_OK, "lc, instant: %s", r.message);
        CHECK(r.m.n_sleeps == 2, "instant: %g sleeps in 16 steps", r.m.n_sleeps);
        for (int l = 0; l < 2 && r.snaps; l++) {
            snprintf(name, sizeof name, "lc_W%d", l);
            const float *w0 = snap(&r, 0, name), *w1 = snap(&r, 1, name);
            CHECK(group_unequal(w0, l, share) > 0, "init kernels differ");
            CHECK(group_unequal(w1, l, share) == 0, "share %d layer %d: %ld kernels differ from their group's", share, l,
                  group_unequal(w1, l, share));
            double s0 = snr_of(w0, l), s1 = snr_of(w1, l);
            printf("instant share %d, layer %d: SNR_paper init %.4g, final %.4g\n", share, l, s0, s1);
            CHECK(s1 > (share == LC_SHARE_MAP ? 1e6 : 3) * s0, "share %d layer %d: SNR %g -> %g", share, l, s0, s1);
        }
        job_result_free(&r);
    }

    /* dynamic sleep (map groups, the authors' T, lr, gamma): SNR rises, fa tensors */
    tiny(&s);
    set(&s, "sleep", "dynamic");
    set(&s, "sleep_every", "8");
    set(&s, "sleep_share", "map");
    set(&s, "rule", "fa");
    CHECK(run(&s, tr, te, &r) == STATUS_OK, "lc, dynamic: %s", r.message);
    CHECK(r.m.n_sleeps == 2, "dynamic: %g sleeps", r.m.n_sleeps);
    for (int l = 0; l < 2 && r.snaps; l++) {
        snprintf(name, sizeof name, "lc_W%d", l);
        double s0 = snr_of(snap(&r, 0, name), l), s1 = snr_of(snap(&r, 1, name), l);
        float c0 = r.mcurves[c_paper + l];
        printf("dynamic map, layer %d: SNR_paper init %.4g, epoch 1 %.4g, final %.4g\n", l, s0, c0, s1);
        CHECK(c0 > 10 * s0 && s1 > 10 * s0, "dynamic layer %d: SNR %g -> %g, %g", l, s0, c0, s1);
    }
    t = tensors_find(&r.tensors, "lc_B1");
    CHECK(tensors_find(&r.tensors, "lc_B0") == NULL && t && t->fixed && !t->learned && t->shape[0] == 14 * 14,
          "fa: a fixed feedback tensor for layer 1 only");
    job_result_free(&r);

    tiny(&s);
    set(&s, "rule", "dfa");
    CHECK(run(&s, tr, te, &r) == STATUS_FAILED && strstr(r.message, "dfa"), "dfa refused: %s", r.message);
    job_result_free(&r);
    tiny(&s);
    set(&s, "lc_size", "4");
    CHECK(run(&s, tr, te, &r) == STATUS_FAILED && strstr(r.message, "even"), "even kernel refused: %s", r.message);
    job_result_free(&r);
}

static double rel(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num += (double)(a[i] - b[i]) * (a[i] - b[i]), den += (double)b[i] * b[i];
    return sqrt(num / (den > 0 ? den : 1));
}

static void build(Model *md, JobSpec *s) {
    char err[256];
    if (model_build(md, s, 1, 12, 12, 10, err, sizeof err)) {
        fprintf(stderr, "build: %s\n", err);
        exit(2);
    }
}

/* lc_conv and cnn (trained conv, padding same, flatten) from the same parameters: the same steps. */
static void test_cnn_equal(Rng *rg) {
    JobSpec a, b;
    jobspec_defaults(&a), jobspec_defaults(&b);
    const char *kva[][2] = {{"model", "lc_conv"}, {"lc_channels", "5"}, {"lc_size", "3"}, {"hidden", "12"}, {"lr", "1e-2"},
                            {"batch_size", "8"}};
    const char *kvb[][2] = {{"model", "cnn"}, {"conv_dist", "trained"}, {"conv_kernels", "5"}, {"conv_size", "3"},
                            {"conv_padding", "same"}, {"hidden", "12"}, {"lr", "1e-2"}, {"batch_size", "8"}};
    for (int i = 0; i < 6; i++) set(&a, kva[i][0], kva[i][1]);
    for (int i = 0; i < 8; i++) set(&b, kvb[i][0], kvb[i][1]);
    Model ma, mb;
    build(&ma, &a), build(&mb, &b);
    CHECK(ma.tensors.n_params == mb.tensors.n_params, "same parameter count");
    memcpy(ma.params, mb.params, (size_t)mb.tensors.n_params * sizeof(float));
    float x[8 * 144];
    uint8_t y[8];
    double worst = 0;
    for (int step = 0; step < 4; step++) {
        for (int i = 0; i < 8 * 144; i++) x[i] = (float)rng_uniform(rg);
        for (int i = 0; i < 8; i++) y[i] = (uint8_t)rng_below(rg, 10);
        double la = model_step(&ma, x, y, 8, 0), lb = model_step(&mb, x, y, 8, 0);
        worst = fmax(worst, fabs(la - lb) / fabs(lb));
    }
    double dp = rel(ma.params, mb.params, (size_t)mb.tensors.n_params);
    printf("lc_conv vs cnn: loss rel diff %.3g, params rel diff after 4 steps %.3g\n", worst, dp);
    CHECK(worst < 1e-6 && dp < 1e-6, "lc_conv != cnn: loss %g, params %g", worst, dp);
    model_free(&ma), model_free(&mb);
}

/* lc with every position's kernel = lc_conv's: the same loss; dW summed over positions = conv dW. */
static void test_tied(Rng *rg) {
    for (int fa = 0; fa < 2; fa++) {
        JobSpec a, b;
        tiny(&a);
        set(&a, "lc_channels", "3,4");
        set(&a, "batch_size", "6");
        set(&a, "rule", fa ? "fa" : "bp");
        b = a;
        set(&b, "model", "lc_conv");
        Model ml, mc;
        build(&ml, &a), build(&mc, &b);
        int C[2] = {1, 3}, H[2] = {12, 6}, O[2] = {3, 4}, K = 3;
        char n1[16], n2[16];
        /* tie: each position's kernel (and the feedback's) = the conv one; biases and head copied */
        for (int l = 0; l < 2; l++) {
            const char *what[3] = {"W", "b", "B"};
            for (int k = 0; k < 3; k++) {
                snprintf(n1, sizeof n1, "lc_%s%d", what[k], l), snprintf(n2, sizeof n2, "conv_%s%d", what[k], l);
                const Tensor *tl = tensors_find(&ml.tensors, n1), *tc = tensors_find(&mc.tensors, n2);
                CHECK(!tl == !tc, "%s and %s both or neither", n1, n2);
                if (!tl || !tc) continue;
                size_t n = (size_t)tensor_numel(tc), reps = (size_t)tensor_numel(tl) / n;
                for (size_t p = 0; p < reps; p++) memcpy(model_tensor(&ml, tl) + p * n, model_tensor(&mc, tc), n * sizeof(float));
            }
        }
        int64_t hl = tensors_find(&ml.tensors, "W0")->offset, hc = tensors_find(&mc.tensors, "W0")->offset;
        memcpy(ml.params + hl, mc.params + hc, (size_t)(mc.tensors.n_params - hc) * sizeof(float));
        float x[6 * 144];
        uint8_t y[6];
        for (int i = 0; i < 6 * 144; i++) x[i] = (float)rng_uniform(rg);
        for (int i = 0; i < 6; i++) y[i] = (uint8_t)rng_below(rg, 10);
        double ll = ml.kind->forward(&ml, x, y, 6, 0, NULL), lcv = mc.kind->forward(&mc, x, y, 6, 0, NULL);
        model_zero_grad(&ml), model_zero_grad(&mc);
        ml.kind->backward(&ml, x, y, 6, 0), mc.kind->backward(&mc, x, y, 6, 0);
        CHECK(fabs(ll - lcv) < 1e-6 * fabs(lcv), "%s: tied lc loss %.9g != lc_conv %.9g", a.rule, ll, lcv);
        for (int l = 0; l < 2; l++) {
            snprintf(n1, sizeof n1, "lc_W%d", l), snprintf(n2, sizeof n2, "conv_W%d", l);
            const Tensor *tl = tensors_find(&ml.tensors, n1), *tc = tensors_find(&mc.tensors, n2);
            size_t n = (size_t)O[l] * C[l] * K * K;
            float *sum = calloc(n, sizeof(float));
            for (int p = 0; p < H[l] * H[l]; p++)
                for (size_t j = 0; j < n; j++) sum[j] += ml.grads[tl->offset + (size_t)p * n + j];
            double d = rel(sum, mc.grads + tc->offset, n);
            CHECK(d < 1e-5, "%s layer %d: sum over positions of lc dW != conv dW (%g)", a.rule, l, d);
            free(sum);
        }
        double dh = rel(ml.grads + hl, mc.grads + hc, (size_t)(mc.tensors.n_params - hc));
        CHECK(dh < 1e-6, "%s: head gradients differ (%g)", a.rule, dh);
        model_free(&ml), model_free(&mc);
    }
}

int main(void) {
    Rng rg;
    rng_seed(&rg, 11, 0);
    test_cnn_equal(&rg);
    test_tied(&rg);
    const char *dir = getenv("SYNSWEEP_DATA");
    RawSplit tr, te;
    char err[512];
    if (!dir || dataset_load(dir, "mnist", "train", &tr, err, sizeof err) ||
        dataset_load(dir, "mnist", "test", &te, err, sizeof err)) {
        CHECK(0, "the end-to-end jobs need MNIST under $SYNSWEEP_DATA");
        return test_report("test_lc_model");
    }
    test_jobs(&tr, &te);
    raw_split_free(&tr), raw_split_free(&te);
    return test_report("test_lc_model");
}
