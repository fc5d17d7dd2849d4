/*
 * Core invariants: RNG and distributions, metrics on known matrices, Adam's first step,
 * IDX loader round trip and rejection of bad files, seeded subsets, job spec parsing,
 * result packing, and training on a separable fixture (loss falls, bit-identical reruns,
 * FA angle ~90 deg untrained, lowered by noise pretraining), the BLAS start-up check, the
 * stage cache's pinned outputs and the reuse of large split buffers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas.h"
#include "data.h"
#include "dist.h"
#include "fixture.h"
#include "job.h"
#include "metrics.h"
#include "mlp.h"
#include "optim.h"
#include "rng.h"
#include "stage.h"
#include "testutil.h"
#include "train.h"

static char tmpdir[256];

static void test_rng_dist(void) {
    Rng a, b, c;
    rng_seed(&a, 5, 1), rng_seed(&b, 5, 1), rng_seed(&c, 5, 2);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rng_u64(&a), y = rng_u64(&b), z = rng_u64(&c);
        same &= x == y, diff += x != z;
    }
    CHECK(same, "same seed and stream give the same sequence");
    CHECK(diff > 95, "another stream gives another sequence");
    int n = 200000;
    float *w = malloc((size_t)n * sizeof(float));
    const char *names[] = {"normal", "uniform", "kaiming", "xavier"};
    double want_sd[] = {1.0, 1.0 / sqrt(3.0), sqrt(2.0 / 400), sqrt(2.0 / 900)};
    for (int k = 0; k < 4; k++) {
        Rng r;
        DistParams dp;
        dist_defaults(&dp, names[k], 1.0);
        rng_seed(&r, 11, 0);
        CHECK(dist_fill(&dp, w, 500, 400, &r) == 0, "%s fills", names[k]);
        double s = 0, sq = 0;
        for (int i = 0; i < n; i++) s += w[i], sq += (double)w[i] * w[i];
        double mean = s / n, sd = sqrt(sq / n - mean * mean);
        CHECK(fabs(mean) < 5 * want_sd[k] / sqrt(n), "%s mean %g", names[k], mean);
        CHECK(fabs(sd / want_sd[k] - 1) < 0.01, "%s sd %g want %g", names[k], sd, want_sd[k]);
    }
    Rng r;
    DistParams bogus;
    dist_defaults(&bogus, "bogus", 1.0);
    CHECK(dist_fill(&bogus, w, 2, 2, &r) == -1, "unknown distribution rejected");
    free(w);
}

static void test_metrics(void) {
    float I10[100] = {0}, r1[60], a[4] = {1, 0, 0, 0}, b[4] = {0, 1, 0, 0};
    for (int i = 0; i < 10; i++) I10[i * 10 + i] = 1;
    CHECK(fabs(effective_rank(I10, 10, 10) - 10) < 1e-9, "erank(I10) = %g", effective_rank(I10, 10, 10));
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 10; j++) r1[i * 10 + j] = (float)((i + 1) * (j - 4.5));
    CHECK(fabs(effective_rank(r1, 6, 10) - 1) < 1e-5, "erank(rank 1) = %g", effective_rank(r1, 6, 10));
    CHECK(fabs(angle_deg(a, b, 4) - 90) < 1e-12, "orthogonal angle");
    CHECK(fabs(angle_deg(a, a, 4)) < 1e-6, "zero angle");
    double m, s;
    row_angles(I10, I10, 10, 10, &m, &s);
    CHECK(fabs(m) < 1e-6 && fabs(s) < 1e-6, "row angles of equal matrices");
}

static void test_adam(void) {
    Optim o;
    float p[3] = {1, -2, 3}, g[3] = {0.5f, -0.25f, 0};
    CHECK(optim_create(&o, OPT_ADAM, 3, 0.1f, 0.9f, 0.999f, 1e-8f, 0, 0) == 0, "adam create");
    optim_step(&o, p, g);
    /* bias-corrected first step moves each coordinate by lr * sign(g) (g != 0) */
    CHECK(fabsf(p[0] - 0.9f) < 1e-6 && fabsf(p[1] + 1.9f) < 1e-6 && p[2] == 3.0f,
          "adam first step: %g %g %g", p[0], p[1], p[2]);
    optim_free(&o);
    CHECK(optim_create(&o, OPT_SGD, 3, 0.1f, 0, 0, 0, 0.5f, 0) == 0, "sgd create");
    float q[1] = {1}, h[1] = {1};
    o.n = 1;
    optim_step(&o, q, h);
    optim_step(&o, q, h); /* v = 1, then 1.5: q = 1 - 0.1 - 0.15 */
    CHECK(fabsf(q[0] - 0.75f) < 1e-6, "sgd momentum: %g", q[0]);
    optim_free(&o);
}

/*
 * AdamW by hand (lr 0.1, wd 0.5, so each step first scales p by 1 - 0.05): the first step is
 * 0.95 p - 0.1 sign(g), and 0.95 p where g = 0 (Adam with L2 would move that one by 0.1);
 * the second step against the formula written out in double.
 */
static void test_adamw(void) {
    Optim o, a;
    float p[3] = {1, -2, 3}, g[3] = {0.5f, -0.25f, 0}, q[3] = {1, -2, 3};
    CHECK(optim_create(&o, OPT_ADAMW, 3, 0.1f, 0.9f, 0.999f, 1e-8f, 0, 0.5f) == 0, "adamw create");
    CHECK(optim_create(&a, OPT_ADAM, 3, 0.1f, 0.9f, 0.999f, 1e-8f, 0, 0.5f) == 0, "adam create");
    optim_step(&o, p, g), optim_step(&a, q, g);
    CHECK(fabsf(p[0] - 0.85f) < 1e-6 && fabsf(p[1] + 1.8f) < 1e-6 && fabsf(p[2] - 2.85f) < 1e-6,
          "adamw first step: %g %g %g (want 0.85 -1.8 2.85)", p[0], p[1], p[2]);
    CHECK(fabsf(q[0] - 0.9f) < 1e-6 && fabsf(q[2] - 2.9f) < 1e-6, "adam's L2 first step: %g %g (want 0.9 2.9)", q[0], q[2]);
    float g2[3] = {-1, 0.5f, 2};
    double want[3];
    for (int i = 0; i < 3; i++) {
        double m = 0.9 * 0.1 * g[i] + 0.1 * g2[i], v = 0.999 * 0.001 * g[i] * g[i] + 0.001 * g2[i] * g2[i];
        double mhat = m / (1 - 0.81), vhat = v / (1 - 0.999 * 0.999);
        want[i] = p[i] * (1 - 0.1 * 0.5) - 0.1 * mhat / (sqrt(vhat) + 1e-8);
    }
    optim_step(&o, p, g2);
    for (int i = 0; i < 3; i++)
        CHECK(fabs(p[i] - want[i]) < 1e-6 * fabs(want[i]) + 1e-7, "adamw step 2, p[%d]: %.9g, want %.9g", i, p[i], want[i]);
    optim_reset(&o);
    CHECK(o.t == 0 && o.m[1] == 0 && o.v[2] == 0, "adamw reset forgets both moments");
    optim_free(&o), optim_free(&a);
}

/* The step schedule: lr until the first of lr_decay_epochs, then times the factor at each. */
static void test_lr_schedule(void) {
    JobSpec s;
    char e[256];
    jobspec_defaults(&s);
    jobspec_set(&s, "lr", "0.01", e, sizeof e);
    CHECK(jobspec_lr_at(&s, 0) == 0.01f && jobspec_lr_at(&s, 1000) == 0.01f, "no schedule: lr in every epoch");
    jobspec_set(&s, "lr_decay_epochs", "100, 150", e, sizeof e), jobspec_set(&s, "lr_decay_factor", "0.1", e, sizeof e);
    CHECK(jobspec_lr_at(&s, 0) == 0.01f && jobspec_lr_at(&s, 99) == 0.01f, "before epoch 100: lr");
    CHECK(jobspec_lr_at(&s, 100) == (float)(0.01 * 0.1) && jobspec_lr_at(&s, 149) == (float)(0.01 * 0.1), "epochs 100-149: lr / 10");
    CHECK(jobspec_lr_at(&s, 150) == (float)(0.01 * 0.1 * 0.1) && jobspec_lr_at(&s, 199) == (float)(0.01 * 0.1 * 0.1),
          "from epoch 150: lr / 100: %g", jobspec_lr_at(&s, 150));
    jobspec_set(&s, "lr_decay_factor", "1", e, sizeof e);
    CHECK(jobspec_lr_at(&s, 150) == 0.01f, "factor 1: no decay");
}

/*
 * The fused step: mlp_backward stepping each layer right after its gradient (m->opt) ends
 * with the same parameters, bit for bit, as backward then one optim_step over the buffer,
 * for every rule (backprop must use W before its update) and every optimiser.
 */
static void test_fused_step(void) {
    int sizes[4] = {7, 6, 5, 3};
    uint8_t y[9] = {0, 1, 2, 2, 1, 0, 0, 2, 1};
    FeedbackRule rules[3] = {RULE_BP, RULE_FA, RULE_DFA};
    OptKind kinds[3] = {OPT_ADAM, OPT_SGD, OPT_ADAMW};
    const char *kind_names[3] = {"adam", "sgd", "adamw"};
    for (int ri = 0; ri < 3; ri++)
        for (int ok = 0; ok < 3; ok++) {
            Mlp a, b;
            Optim oa, ob;
            DistParams d;
            dist_defaults(&d, "kaiming", 1.0);
            mlp_create(&a, sizes, 4, rules[ri], 9, 1), mlp_create(&b, sizes, 4, rules[ri], 9, 1);
            mlp_init(&a, &d, &d, 3), mlp_init(&b, &d, &d, 3);
            optim_create(&oa, kinds[ok], a.n_params, 0.05f, 0.9f, 0.999f, 1e-8f, 0.9f, 0.01f);
            optim_create(&ob, kinds[ok], b.n_params, 0.05f, 0.9f, 0.999f, 1e-8f, 0.9f, 0.01f);
            b.opt = &ob;
            float x[9 * 7];
            Rng r;
            rng_seed(&r, 4, 0);
            for (int i = 0; i < 9 * 7; i++) x[i] = (float)rng_normal(&r);
            for (int step = 0; step < 4; step++) {
                mlp_forward(&a, x, y, 9, NULL), mlp_zero_grad(&a), mlp_backward(&a, y, 9);
                optim_step(&oa, a.params, a.grads);
                mlp_forward(&b, x, y, 9, NULL), mlp_zero_grad(&b), optim_begin(&ob), mlp_backward(&b, y, 9);
            }
            CHECK(!memcmp(a.params, b.params, a.n_params * sizeof(float)) &&
                      !memcmp(a.dinp, b.dinp, 9 * 7 * sizeof(float)),
                  "rule %d %s: fused per-layer step equals backward then optim_step", ri, kind_names[ok]);
            mlp_free(&a), mlp_free(&b), optim_free(&oa), optim_free(&ob);
        }
}

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void test_idx(void) {
    char a[512], b[512], err[512];
    uint8_t x[3 * 4], y[3] = {1, 2, 9};
    for (int i = 0; i < 12; i++) x[i] = (uint8_t)(i * 20);
    for (int gz = 0; gz < 2; gz++) {
        snprintf(a, sizeof a, "%s/img%d", tmpdir, gz), snprintf(b, sizeof b, "%s/lab%d", tmpdir, gz);
        CHECK(fixture_write_idx(a, b, x, y, 3, 2, 2, gz) == 0, "write fixture");
        RawSplit s;
        CHECK(idx_load(a, b, &s, err, sizeof err) == 0, "load (gz=%d): %s", gz, err);
        CHECK(s.n == 3 && s.h == 2 && s.w == 2 && !memcmp(s.x, x, 12) && !memcmp(s.y, y, 3),
              "round trip gz=%d", gz);
        raw_split_free(&s);
    }
    RawSplit s;
    /* truncated payload (raw file) and truncated gzip (trailer cut) */
    for (int gz = 0; gz < 2; gz++) {
        snprintf(a, sizeof a, "%s/img%d", tmpdir, gz), snprintf(b, sizeof b, "%s/lab%d", tmpdir, gz);
        FILE *f = fopen(a, "rb");
        unsigned char buf[128];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        snprintf(a, sizeof a, "%s/trunc%d", tmpdir, gz);
        f = fopen(a, "wb"), fwrite(buf, 1, n - 5, f), fclose(f);
        CHECK(idx_load(a, b, &s, err, sizeof err) == -1 && contains(err, "truncated") && contains(err, a),
              "truncated file (gz=%d): %s", gz, err);
        if (gz) { /* flip bits inside the deflate stream */
            for (size_t i = 12; i < n - 8; i++) buf[i] ^= 0x5a;
            snprintf(a, sizeof a, "%s/corrupt.gz", tmpdir);
            f = fopen(a, "wb"), fwrite(buf, 1, n, f), fclose(f);
            CHECK(idx_load(a, b, &s, err, sizeof err) == -1 && contains(err, a), "corrupt gzip: %s", err);
        }
    }
    /* an images file where labels belong: wrong magic */
    snprintf(a, sizeof a, "%s/img0", tmpdir);
    CHECK(idx_load(a, a, &s, err, sizeof err) == -1 && contains(err, "magic"), "bad magic: %s", err);
    /* label out of range */
    uint8_t bad[3] = {1, 12, 0};
    snprintf(a, sizeof a, "%s/img2", tmpdir), snprintf(b, sizeof b, "%s/lab2", tmpdir);
    fixture_write_idx(a, b, x, bad, 3, 2, 2, 1);
    CHECK(idx_load(a, b, &s, err, sizeof err) == -1 && contains(err, "label 12"), "bad label: %s", err);
    /* 3 images, 2 labels */
    char a2[512], b2[512];
    snprintf(a2, sizeof a2, "%s/img3", tmpdir), snprintf(b2, sizeof b2, "%s/lab3", tmpdir);
    fixture_write_idx(a2, b2, x, y, 2, 2, 2, 1);
    snprintf(a, sizeof a, "%s/img0", tmpdir);
    CHECK(idx_load(a, b2, &s, err, sizeof err) == -1 && contains(err, "2 labels"), "count mismatch: %s", err);
    snprintf(a, sizeof a, "%s/missing", tmpdir);
    CHECK(idx_load(a, b, &s, err, sizeof err) == -1 && contains(err, "cannot open"), "missing: %s", err);
    CHECK(dataset_load(tmpdir, "nope", "train", &s, err, sizeof err) == -1 && contains(err, "not known"),
          "unknown dataset: %s", err);
}

static void test_subset(const RawSplit *tr) {
    int *idx = malloc((size_t)tr->n * sizeof(int)), *idx2 = malloc((size_t)tr->n * sizeof(int));
    char err[256];
    int k = subset_choose(tr, 7, 0, 3, idx, err, sizeof err);
    CHECK(k == 70, "7 per class gives 70, got %d", k);
    int count[10] = {0}, sorted = 1;
    for (int i = 0; i < k; i++) count[tr->y[idx[i]]]++, sorted &= i == 0 || idx[i] > idx[i - 1];
    int all7 = 1;
    for (int c = 0; c < 10; c++) all7 &= count[c] == 7;
    CHECK(all7 && sorted, "every class 7 times, indices sorted and distinct");
    subset_choose(tr, 7, 0, 3, idx2, err, sizeof err);
    CHECK(!memcmp(idx, idx2, 70 * sizeof(int)), "same seed, same subset");
    subset_choose(tr, 7, 0, 4, idx2, err, sizeof err);
    CHECK(memcmp(idx, idx2, 70 * sizeof(int)) != 0, "another seed, another subset");
    CHECK(subset_choose(tr, 1000, 0, 3, idx, err, sizeof err) == -1 && contains(err, "only"),
          "too many per class: %s", err);
    CHECK(subset_choose(tr, 0, 50, 3, idx, err, sizeof err) == 50, "train_size 50");
    CHECK(subset_choose(tr, 0, 0, 3, idx, err, sizeof err) == tr->n, "all rows");
    free(idx), free(idx2);
}

static void test_jobspec(void) {
    JobSpec s;
    char err[256];
    jobspec_defaults(&s);
    CHECK(!strcmp(s.rule, "bp") && s.batch_size == 64 && s.lr == 1e-4 && !strcmp(s.hidden, "100"),
          "defaults");
    CHECK(jobspec_set(&s, "hidden", " 100 , 50", err, sizeof err) == 0 && !strcmp(s.hidden, "100,50"), "list canonical");
    CHECK(jobspec_set(&s, "nope", "1", err, sizeof err) == -1, "unknown key");
    CHECK(jobspec_set(&s, "epochs", "abc", err, sizeof err) == -2 && contains(err, "integer"), "bad int: %s", err);
    CHECK(jobspec_set(&s, "epochs", "-1", err, sizeof err) == -2 && contains(err, "range"), "range: %s", err);
    CHECK(jobspec_set(&s, "lr", "fast", err, sizeof err) == -2 && contains(err, "number"), "bad real");
    CHECK(jobspec_set(&s, "rule", "hebb", err, sizeof err) == -2 && contains(err, "bp|fa"), "bad choice: %s", err);
    CHECK(jobspec_set(&s, "snapshots", "init,later", err, sizeof err) == -2, "bad list item");
    CHECK(jobspec_set(&s, "snapshots", "", err, sizeof err) == 0 && s.snapshots[0] == 0, "empty list");
    CHECK(jobspec_set(&s, "eval_train", "maybe", err, sizeof err) == -2, "bad bool");
    char v[64];
    jobspec_set(&s, "lr", "0.1", err, sizeof err);
    jobspec_get(&s, param_find("lr"), v, sizeof v);
    CHECK(!strcmp(v, "0.1"), "real prints shortest: %s", v);
    jobspec_set(&s, "train_size", "10", err, sizeof err);
    jobspec_set(&s, "train_per_class", "10", err, sizeof err);
    CHECK(jobspec_check(&s, err, sizeof err) == -1, "train_size with train_per_class refused");
}

static JobSpec tiny_spec(const char *rule) {
    JobSpec s;
    char err[256];
    jobspec_defaults(&s);
    jobspec_set(&s, "rule", rule, err, sizeof err);
    jobspec_set(&s, "hidden", "32", err, sizeof err);
    jobspec_set(&s, "epochs", "8", err, sizeof err);
    jobspec_set(&s, "lr", "3e-3", err, sizeof err);
    jobspec_set(&s, "batch_size", "16", err, sizeof err);
    jobspec_set(&s, "snapshots", "init,after_noise,final", err, sizeof err);
    jobspec_set(&s, "noise_examples", "4000", err, sizeof err);
    jobspec_set(&s, "noise_lr", "1e-3", err, sizeof err);
    return s;
}

static void test_training(const RawSplit *tr, const RawSplit *te) {
    const char *rules[] = {"bp", "fa", "fa_noise", "dfa"};
    for (int k = 0; k < 4; k++) {
        JobSpec s = tiny_spec(rules[k]);
        JobResult r1, r2;
        job_result_init(&r1, 0), job_result_init(&r2, 0);
        CHECK(train_job(&s, tr, te, NULL, 0, &r1) == STATUS_OK, "%s ok: %s", rules[k], r1.message);
        train_job(&s, tr, te, NULL, 0, &r2);
        int E = r1.n_epochs;
        float l0 = r1.curves[CURVE_TRAIN_LOSS * E], lE = r1.curves[CURVE_TRAIN_LOSS * E + E - 1];
        CHECK(lE < 0.5f * l0, "%s: train loss falls %g -> %g", rules[k], l0, lE);
        CHECK(r1.m.test_acc > 0.9, "%s: separable fixture test acc %g", rules[k], r1.m.test_acc);
        CHECK(!memcmp(&r1.m, &r2.m, sizeof r1.m) &&
                  !memcmp(r1.curves, r2.curves, N_CURVES * (size_t)E * sizeof(float)) &&
                  !memcmp(r1.snaps, r2.snaps, (size_t)job_result_n_snaps(&r1) * (size_t)(r1.n_params + r1.n_fixed) * sizeof(float)),
              "%s: rerun is bit-identical", rules[k]);
        /* packing round trip */
        size_t n = job_result_packed_size(&r1);
        char *buf = malloc(n);
        job_result_pack(&r1, buf);
        JobResult u;
        CHECK(job_result_unpack(buf, n, &u) == 0 && !memcmp(&u.m, &r1.m, sizeof u.m) &&
                  !memcmp(u.curves, r1.curves, N_CURVES * (size_t)E * sizeof(float)) &&
                  u.snap_mask == r1.snap_mask,
              "%s: pack/unpack", rules[k]);
        job_result_free(&u);
        CHECK(job_result_unpack(buf, n - 1, &u) == -1, "short packed result rejected");
        free(buf);
        int want = k == 2 ? 7 : 5;
        CHECK(r1.snap_mask == want, "%s: snapshot stages %d", rules[k], r1.snap_mask);
        job_result_free(&r1), job_result_free(&r2);
    }
    /* another seed gives other numbers */
    JobSpec a = tiny_spec("fa"), b = tiny_spec("fa");
    b.seed = 1;
    JobResult ra, rb;
    job_result_init(&ra, 0), job_result_init(&rb, 0);
    train_job(&a, tr, te, NULL, 0, &ra), train_job(&b, tr, te, NULL, 0, &rb);
    CHECK(ra.m.train_loss != rb.m.train_loss, "seed changes the result");
    job_result_free(&ra), job_result_free(&rb);
}

/* Meta-loss: with meta_lr 0 the inner steps change nothing, so it is the plain test loss; with
 * learning it falls below; and it leaves the job's own result untouched. Gram erank in [1, H]. */
static void test_meta_gram(const RawSplit *tr, const RawSplit *te) {
    char err[256];
    JobSpec s = tiny_spec("fa");
    jobspec_set(&s, "meta_tasks", "mnist,mnist", err, sizeof err);
    jobspec_set(&s, "meta_test_size", "200", err, sizeof err);
    TaskData t[2] = {{tr, te}, {tr, te}};
    JobResult r0, r1, rn;
    job_result_init(&r0, 0), job_result_init(&r1, 0), job_result_init(&rn, 0);
    jobspec_set(&s, "meta_lr", "0", err, sizeof err);
    CHECK(train_job(&s, tr, te, t, 2, &r0) == STATUS_OK, "meta job: %s", r0.message);
    CHECK(r0.m.meta_loss[STAGE_FINAL] == r0.m.test_loss, "meta_lr 0: meta-loss %.9g equals test loss %.9g",
          r0.m.meta_loss[STAGE_FINAL], r0.m.test_loss);
    jobspec_set(&s, "meta_lr", "1e-2", err, sizeof err);
    train_job(&s, tr, te, t, 2, &r1);
    CHECK(r1.m.meta_loss[STAGE_INIT] < r0.m.meta_loss[STAGE_INIT] - 0.05, "inner steps lower the loss at init: %g -> %g",
          r0.m.meta_loss[STAGE_INIT], r1.m.meta_loss[STAGE_INIT]);
    JobSpec plain = tiny_spec("fa");
    train_job(&plain, tr, te, NULL, 0, &rn);
    CHECK(rn.m.test_loss == r1.m.test_loss && isnan(rn.m.meta_loss[STAGE_FINAL]),
          "measuring the meta-loss does not change the job's own result");
    double g = r1.layer[STAGE_FINAL][LM_GRAM_ERANK][0];
    CHECK(g >= 1.0 && g <= 32.0, "gram erank %g within [1, 32]", g);
    CHECK(isnan(r1.layer[STAGE_FINAL][LM_GRAM_ERANK][1]), "no gram erank for the output layer");
    job_result_free(&r0), job_result_free(&r1), job_result_free(&rn);
}

/* Cheon et al.: untrained FA angle ~ 90 deg; pure-noise training lowers it. */
static void test_alignment(void) {
    RawSplit tr = {0}, te = {0};
    char err[256], dir[300];
    snprintf(dir, sizeof dir, "%s/big", tmpdir);
    CHECK(fixture_make_mnist(dir, 200, 100, 28, 2) == 0, "784-pixel fixture");
    dataset_load(dir, "mnist", "train", &tr, err, sizeof err);
    dataset_load(dir, "mnist", "test", &te, err, sizeof err);
    JobSpec s;
    jobspec_defaults(&s);
    jobspec_set(&s, "rule", "fa_noise", err, sizeof err);
    jobspec_set(&s, "epochs", "0", err, sizeof err);
    jobspec_set(&s, "noise_examples", "60000", err, sizeof err);
    jobspec_set(&s, "noise_lr", "1e-3", err, sizeof err);
    JobResult r;
    job_result_init(&r, 0);
    CHECK(train_job(&s, &tr, &te, NULL, 0, &r) == STATUS_OK, "noise job: %s", r.message);
    double a0 = r.layer[STAGE_INIT][LM_ANGLE][1], a1 = r.layer[STAGE_AFTER_NOISE][LM_ANGLE][1];
    CHECK(fabs(a0 - 90) < 3, "untrained FA angle %g is near 90", a0);
    CHECK(a1 < a0 - 8, "noise pretraining lowers the angle: %g -> %g", a0, a1);
    CHECK(isnan(r.layer[STAGE_INIT][LM_ANGLE][0]), "first layer has no feedback matrix");
    CHECK(r.layer[STAGE_INIT][LM_ERANK][0] > 50, "erank of a random 100x784 matrix %g", r.layer[STAGE_INIT][LM_ERANK][0]);
    printf("alignment: init %.2f deg, after noise %.2f deg\n", a0, a1);
    job_result_free(&r);
    raw_split_free(&tr), raw_split_free(&te);
}

/* The kernel in use passes the start-up check, a forced failure is reported with the
 * product it was on, and the fallback ladder goes strictly down to nothing. */
static void test_blas_check(void) {
    char err[512] = "";
    CHECK(blas_check(0, err, sizeof err) == 0, "kernel %s passes: %s", blas_kernel(), err);
    CHECK(blas_check(1, err, sizeof err) == -1 && contains(err, blas_kernel()) && contains(err, "sgemm("),
          "forced failure: %s", err);
    CHECK(blas_check(2, err, sizeof err) == -1 && contains(err, blas_kernel()) && contains(err, "somatcopy("),
          "forced transpose failure: %s", err);
    CHECK(blas_kernel_level("SkylakeX") > blas_kernel_level("haswell") &&
              blas_kernel_level("Haswell") > blas_kernel_level("Sandybridge") &&
              blas_kernel_level("Sandybridge") > blas_kernel_level("Prescott") &&
              blas_kernel_level("Cooperlake") > blas_kernel_level("SkylakeX") &&
              blas_kernel_level("Excavator") == -1,
          "kernel levels ordered");
    int steps = 0, prev = 99;
    for (const char *k = blas_cpu_best(99); k; k = blas_cpu_best(blas_kernel_level(k)), steps++) {
        CHECK(blas_kernel_level(k) >= 0 && blas_kernel_level(k) < prev, "ladder step %s below %d", k, prev);
        prev = blas_kernel_level(k);
        if (steps > 8) break;
    }
#if defined(__x86_64__)
    CHECK(steps >= 1 && prev == 0, "ladder ends at Prescott after %d steps", steps);
#endif
}

/* The stage cache: an adopted output is stored without a copy and stays while pinned, however
 * much newer outputs need its room; unpinned, it is evicted like any other. */
static void test_stage_cache(void) {
    StageKey k[3];
    memset(k, 0, sizeof k);
    for (int i = 0; i < 3; i++) k[i].stage = SHARE_FEATURES, k[i].c = i + 1;
    size_t n = 1 << 18; /* 1 MiB of floats */
    stage_cache_limit(2 * n * sizeof(float) + 1024); /* room for one output and a bit */
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) a[i] = (float)i, b[i] = -(float)i;
    StageOut oa = {.n_parts = 1, .len = {n}, .part = {a}}, ob = {.n_parts = 1, .len = {n}, .part = {b}};
    CHECK(stage_cache_adopt(&k[0], &oa) == 1, "adopt");
    const StageOut *f = stage_cache_find(&k[0]);
    CHECK(f && f->part[0] == a, "an adopted output is stored without a copy");
    CHECK(stage_cache_put(&k[1], &ob) == 0 && !stage_cache_find(&k[1]) && stage_cache_find(&k[0]),
          "a pinned output is not evicted for a newer one");
    stage_cache_pin(a, 0);
    CHECK(stage_cache_put(&k[1], &ob) == 1 && !stage_cache_find(&k[0]), "unpinned, it is evicted");
    f = stage_cache_find(&k[1]);
    CHECK(f && f->part[0] != b && f->part[0][n - 1] == -(float)(n - 1), "put stores a copy");
    StageOut big = {.n_parts = 1, .len = {4 * n}, .part = {b}};
    CHECK(stage_cache_adopt(&k[2], &big) == 0, "an output over the bound is not adopted (the caller keeps it)");
    free(b);
    stage_cache_limit(0);
    CHECK(stage_cache_bytes() == 0, "limit 0 empties the cache");

    /* large split buffers: kept by split_free for a request of exactly their size */
    Split s = {.n = 1000, .d = 3000};
    size_t bytes = (size_t)s.n * s.d * sizeof(float) + 1;
    s.x = split_alloc(bytes);
    CHECK(s.x && ((uintptr_t)s.x & ((2 << 20) - 1)) == 0, "a large buffer is 2 MiB aligned");
    float *x0 = s.x;
    split_free(&s);
    float *x1 = split_alloc(bytes);
    CHECK(x1 == x0, "a freed large buffer is reused for the same size");
    CHECK(split_kept_bytes() == 0, "a reused buffer is no longer kept");
    Split t = {.n = 1000, .d = 3000, .x = x1};
    split_free(&t);
    CHECK(split_kept_bytes() == bytes, "a freed large buffer is kept");
    float *x2 = split_alloc(bytes - 64); /* not that one: freed before a fresh one is made */
    CHECK(x2 != NULL && split_kept_bytes() == 0, "another size: a fresh buffer, the kept one freed first");
    free(x2);
    Split u = {.n = 10, .d = 10, .x = split_alloc(401)};
    split_free(&u);
    CHECK(split_kept_bytes() == 0, "a small buffer is not kept");
    split_release_kept();
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/synsweep_test_core_%d", (int)getpid());
    CHECK(fixture_make_mnist(tmpdir, 400, 200, 12, 1) == 0, "fixture");
    test_rng_dist();
    test_metrics();
    test_adam();
    test_adamw();
    test_lr_schedule();
    test_fused_step();
    test_idx();
    test_blas_check();
    test_jobspec();
    test_stage_cache();
    RawSplit tr, te;
    char err[256];
    CHECK(dataset_load(tmpdir, "mnist", "train", &tr, err, sizeof err) == 0, "fixture train: %s", err);
    CHECK(dataset_load(tmpdir, "mnist", "test", &te, err, sizeof err) == 0, "fixture test: %s", err);
    test_subset(&tr);
    test_training(&tr, &te);
    test_meta_gram(&tr, &te);
    raw_split_free(&tr), raw_split_free(&te);
    test_alignment();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_report("test_core");
}
