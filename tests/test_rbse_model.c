/*
 * The model kinds rbse, rbm and pixels end to end through train_job on real MNIST (small
 * jobs): status ok; the CD curves present, finite, one row per CD epoch, the release
 * histogram summing to 1 per epoch; the readout clearly above chance with 10 labelled
 * images per class (> 3 x chance); mean-of-predictions equal to mean-of-features accuracy where the S rows
 * are identical (rbm, pixels with a threshold); with every release probability at 1 and a
 * not learned the RBSE learns the RBM's weights (up to float summation order: the RBSE's
 * masked products are fused loops, the RBM's sgemm, so this is not bit for bit) and a stays
 * exactly at its always-released value; evaluation does not touch the training streams (the
 * learned tensors and the readout do not depend on the test set's size) and is the same on
 * a rerun; rules other than bp and standardised pixels refused with a message; the init
 * snapshot is the untrained machine (a 0-epoch job's tensors), not the one after CD;
 * rbse_features and rbm_dropconnect change the features only (test_rbse_features.c has
 * their numerics); val_size's curve, kept epoch, early stop and kept tensors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "job.h"
#include "model.h"
#include "rbse.h"
#include "testutil.h"
#include "train.h"

static RawSplit tr, te;

static void spec_small(JobSpec *s, const char *model) {
    char err[256];
    jobspec_defaults(s);
    const char *kv[][2] = {{"model", model},         {"rbm_train_size", "600"}, {"rbm_epochs", "3"},
                           {"rbm_hidden", "100"},    {"rbm_batch_size", "50"},  {"rbm_lr", "0.2"},  {"train_per_class", "10"},
                           {"test_size", "1000"},    {"rbse_samples", "4"},     {"epochs", "60"},
                           {"lr", "1e-2"},           {"batch_size", "32"},      {"eval_every", "0"},
                           {"release_lr_scale", "100"}, {"seed", "3"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (jobspec_set(s, kv[i][0], kv[i][1], err, sizeof err)) fprintf(stderr, "%s\n", err);
}

static int run(const JobSpec *s, JobResult *r) {
    job_result_init(r, 0);
    int st = train_job(s, &tr, &te, NULL, 0, r);
    if (st != STATUS_OK) fprintf(stderr, "job %s: %s\n", s->model, r->message);
    return st;
}

/* The final snapshot of tensor name (NULL if absent). */
static const float *snap(const JobResult *r, const char *name, int64_t *n) {
    const Tensor *t = tensors_find(&r->tensors, name);
    if (!t || !r->snaps) return NULL;
    int k = job_result_n_snaps(r) - 1; /* final is the last stage saved */
    const float *base = r->snaps + (size_t)k * (r->n_params + r->n_fixed);
    *n = tensor_numel(t);
    return base + (t->fixed ? r->n_params : 0) + t->offset;
}

static void test_kinds(void) {
    const char *kinds[] = {"rbse", "rbm", "pixels"};
    /* the CD curves' columns in the gathered table (model_registry.c) */
    int c_recon = model_curve_find("recon_error"), c_ce = model_curve_find("recon_ce"),
        c_rel = model_curve_find("mean_release"), c_corr = model_curve_find("w_p_corr"),
        c_hist = model_curve_find("release_hist_00");
    CHECK(c_recon >= 0 && c_ce >= 0 && c_rel >= 0 && c_corr >= 0 && c_hist >= 0, "the CD curves are gathered");
    if (c_recon < 0 || c_ce < 0 || c_rel < 0 || c_corr < 0 || c_hist < 0) return;
    for (int q = 0; q < 3; q++) {
        JobSpec s;
        JobResult r;
        spec_small(&s, kinds[q]);
        CHECK(run(&s, &r) == STATUS_OK, "%s runs", kinds[q]);
        int cd = q < 2;
        CHECK(r.n_mepochs == (cd ? 3 : 0) && (cd == (r.mcurves != NULL)), "%s: %d CD curve rows", kinds[q], r.n_mepochs);
        int finite = 1, sums = 1;
        for (int e = 0; cd && e < r.n_mepochs; e++) {
            const float *row = r.mcurves + (size_t)e * N_MODEL_CURVES;
            double tot = 0;
            for (int k = 0; k < RELEASE_BINS; k++) tot += row[c_hist + k];
            sums &= fabs(tot - 1.0) < 1e-5;
            finite &= isfinite(row[c_recon]) && isfinite(row[c_ce]) && isfinite(row[c_rel]);
            finite &= q == 0 ? isfinite(row[c_corr]) : isnan(row[c_corr]);
            finite &= row[c_recon] > 0 && row[c_recon] < 0.25;
            if (q == 1) finite &= row[c_rel] == 1.0f && row[c_hist + RELEASE_BINS - 1] == 1.0f;
            for (int k = 0; k < N_MODEL_CURVES; k++) /* not this kind's */
                if (k < c_recon || k > c_hist + RELEASE_BINS - 1) finite &= isnan(row[k]);
        }
        CHECK(finite, "%s: CD curves finite and in range where recorded, NaN elsewhere", kinds[q]);
        CHECK(sums, "%s: release histogram sums to 1 in every CD epoch", kinds[q]);
        if (cd) {
            const float *first = r.mcurves, *last = r.mcurves + (size_t)2 * N_MODEL_CURVES;
            CHECK(last[c_recon] < first[c_recon], "%s: reconstruction error falls (%g -> %g)", kinds[q],
                  (double)first[c_recon], (double)last[c_recon]);
        }
        /* chance is 0.1 (+- 0.01 on 1000 test images) */
        CHECK(r.m.test_acc > 0.3 && r.m.test_acc_pred_mean > 0.3, "%s: k = 10 readout above chance: %g, %g", kinds[q],
              r.m.test_acc, r.m.test_acc_pred_mean);
        if (q > 0)
            CHECK(r.m.test_acc_pred_mean == r.m.test_acc && fabs(r.m.test_loss_pred_mean - r.m.test_loss) < 1e-5,
                  "%s: identical rows: mean prediction = prediction of the mean (%g %g, %g %g)", kinds[q],
                  r.m.test_acc_pred_mean, r.m.test_acc, r.m.test_loss_pred_mean, r.m.test_loss);
        CHECK(cd ? isfinite(r.m.recon_error) && isfinite(r.m.mean_release) : isnan(r.m.recon_error),
              "%s: final CD metrics", kinds[q]);
        CHECK(q == 0 ? isfinite(r.m.w_p_corr) : isnan(r.m.w_p_corr), "%s: w_p_corr %g", kinds[q], r.m.w_p_corr);
        const char *names[] = {"w", "a", "b", "c"};
        int present = 1;
        for (int k = 0; k < 4; k++) {
            const Tensor *t = tensors_find(&r.tensors, names[k]);
            int want = cd && (k != 1 || q == 0);
            present &= want ? t && t->fixed && t->learned : t == NULL;
        }
        const Tensor *w0 = tensors_find(&r.tensors, "W0");
        present &= w0 && !w0->fixed && w0->shape[0] == 10 && w0->shape[1] == (q == 2 ? 784 : 100) && r.n_layers == 1;
        CHECK(present, "%s: tensors w, [a], b, c fixed and learned; the readout W0 (10, features) alone", kinds[q]);
        printf("%s: test_acc %.4f, pred_mean %.4f, recon %.4f, mean_release %.4f, w_p_corr %.3f, %.1f s\n", kinds[q],
               r.m.test_acc, r.m.test_acc_pred_mean, r.m.recon_error, r.m.mean_release, r.m.w_p_corr, r.seconds);
        job_result_free(&r);
    }
}

static void test_release_one(void) {
    JobSpec s, sr;
    char err[256];
    JobResult a, b;
    spec_small(&s, "rbse");
    jobspec_set(&s, "release_init", "1", err, sizeof err);
    jobspec_set(&s, "learn_release", "false", err, sizeof err);
    spec_small(&sr, "rbm");
    CHECK(run(&s, &a) == STATUS_OK && run(&sr, &b) == STATUS_OK, "p = 1 jobs run");
    int64_t n1 = 0, n2 = 0, na = 0;
    const float *w1 = snap(&a, "w", &n1), *w2 = snap(&b, "w", &n2), *al = snap(&a, "a", &na);
    double md = 0, mw = 0;
    for (int64_t k = 0; w1 && w2 && k < n1; k++) md = fmax(md, fabs(w1[k] - w2[k])), mw = fmax(mw, fabs(w2[k]));
    int a_same = al != NULL;
    for (int64_t k = 0; al && k < na; k++) a_same &= al[k] == RBSE_A_ALWAYS;
    CHECK(w1 && w2 && n1 == n2 && md < 1e-3 * mw, "p = 1: RBSE w = RBM w up to summation order: max diff %.3g (max |w| %.3g)",
          md, mw);
    CHECK(a_same, "p = 1: a stays at %g exactly", (double)RBSE_A_ALWAYS);
    CHECK(a.m.mean_release == 1.0 && fabs(a.m.recon_error - b.m.recon_error) < 1e-4,
          "p = 1: same release and reconstruction (%g vs %g)", a.m.recon_error, b.m.recon_error);
    CHECK(fabs(a.m.test_acc - b.m.test_acc) <= 0.01, "p = 1: readouts agree: %g vs %g", a.m.test_acc, b.m.test_acc);
    printf("p = 1: max |w_rbse - w_rbm| = %.3g (max |w| %.3g), test_acc %.4f vs %.4f (%s)\n", md, mw, a.m.test_acc,
           b.m.test_acc, md == 0 && a.m.test_acc == b.m.test_acc ? "bit-identical" : "not bit-identical");
    job_result_free(&a), job_result_free(&b);
}

static void test_eval_isolated(void) {
    JobSpec s1, s2;
    char err[256];
    JobResult a, b, c;
    spec_small(&s1, "rbse");
    s2 = s1;
    jobspec_set(&s2, "test_size", "300", err, sizeof err);
    CHECK(run(&s1, &a) == STATUS_OK && run(&s2, &b) == STATUS_OK && run(&s1, &c) == STATUS_OK, "jobs run");
    int same = a.n_params == b.n_params && a.n_fixed == b.n_fixed &&
               !memcmp(a.snaps, b.snaps, (size_t)(a.n_params + a.n_fixed) * sizeof(float));
    CHECK(same, "learned tensors and readout do not depend on the test set (evaluation has its own streams)");
    CHECK(a.m.test_acc == c.m.test_acc && a.m.test_loss == c.m.test_loss &&
              a.m.test_acc_pred_mean == c.m.test_acc_pred_mean && a.m.test_loss_pred_mean == c.m.test_loss_pred_mean,
          "a rerun evaluates bit for bit the same");
    job_result_free(&a), job_result_free(&b), job_result_free(&c);
}

/* Tensor name in the k-th saved stage (NULL if absent). */
static const float *snap_at(const JobResult *r, int k, const char *name, int64_t *n) {
    const Tensor *t = tensors_find(&r->tensors, name);
    if (!t || !r->snaps || k >= job_result_n_snaps(r)) return NULL;
    *n = tensor_numel(t);
    return r->snaps + (size_t)k * (r->n_params + r->n_fixed) + (t->fixed ? r->n_params : 0) + t->offset;
}

/* The init snapshot is the untrained machine: equal to a 0-epoch job's (whose CD never runs)
 * tensors, and not to the trained job's final ones. */
static void test_init_snapshot(void) {
    const char *kinds[] = {"rbse", "rbm"}, *names[] = {"w", "a", "b", "c", "W0"};
    char err[256];
    for (int q = 0; q < 2; q++) {
        JobSpec s, s0;
        JobResult r, r0;
        spec_small(&s, kinds[q]);
        jobspec_set(&s, "snapshots", "init,final", err, sizeof err);
        jobspec_set(&s, "epochs", "2", err, sizeof err);
        s0 = s;
        jobspec_set(&s0, "rbm_epochs", "0", err, sizeof err);
        CHECK(run(&s, &r) == STATUS_OK && run(&s0, &r0) == STATUS_OK && job_result_n_snaps(&r) == 2,
              "%s: jobs with 3 and 0 CD epochs run, two stages saved", kinds[q]);
        for (int k = 0; k < 5; k++) {
            if (q == 1 && k == 1) continue; /* the RBM has no a */
            int64_t n = 0, n0 = 0, nf = 0;
            const float *i1 = snap_at(&r, 0, names[k], &n), *i0 = snap_at(&r0, 0, names[k], &n0);
            const float *f1 = snap_at(&r, 1, names[k], &nf);
            CHECK(i1 && i0 && n == n0 && !memcmp(i1, i0, (size_t)n * sizeof(float)),
                  "%s: init snapshot of %s = the 0-epoch job's (the drawn, untrained values)", kinds[q], names[k]);
            if (k == 0) CHECK(f1 && memcmp(i1, f1, (size_t)n * sizeof(float)), "%s: CD moved w after init", kinds[q]);
        }
        job_result_free(&r), job_result_free(&r0);
    }
}

/* rbse_features and rbm_dropconnect change the features only: CD's tensors stay bit for bit;
 * exact gives identical rows (mean of predictions = prediction of the mean); DropConnect at
 * p = 1 is the plain RBM, bit for bit; below 1 its rows differ. */
static void test_feature_modes(void) {
    const char *modes[] = {"prior", "conditional", "exact"};
    char err[256];
    JobResult r[3], d1, d5, plain;
    int64_t n0 = 0, n = 0;
    for (int k = 0; k < 3; k++) {
        JobSpec s;
        spec_small(&s, "rbse");
        CHECK(jobspec_set(&s, "rbse_features", modes[k], err, sizeof err) == 0, "rbse_features: %s", modes[k]);
        CHECK(run(&s, &r[k]) == STATUS_OK, "rbse_features %s runs", modes[k]);
        const float *w0 = snap(&r[0], "w", &n0), *w = snap(&r[k], "w", &n);
        CHECK(w0 && w && n == n0 && !memcmp(w0, w, (size_t)n * sizeof(float)), "%s: CD's w as prior's", modes[k]);
        CHECK(r[k].m.test_acc > 0.3, "%s: readout above chance: %g", modes[k], r[k].m.test_acc);
        printf("rbse_features %s: test_acc %.4f, pred_mean %.4f\n", modes[k], r[k].m.test_acc, r[k].m.test_acc_pred_mean);
    }
    CHECK(r[2].m.test_acc_pred_mean == r[2].m.test_acc, "exact: identical rows");
    CHECK(r[1].m.test_acc != r[2].m.test_acc || r[1].m.test_loss != r[2].m.test_loss, "conditional rows are drawn");
    JobSpec s, s1, s5;
    spec_small(&s, "rbm");
    s1 = s5 = s;
    CHECK(jobspec_set(&s1, "rbm_dropconnect", "1", err, sizeof err) == 0 &&
              jobspec_set(&s5, "rbm_dropconnect", "0.5", err, sizeof err) == 0,
          "rbm_dropconnect set");
    CHECK(run(&s, &plain) == STATUS_OK && run(&s1, &d1) == STATUS_OK && run(&s5, &d5) == STATUS_OK, "rbm jobs run");
    size_t nb = (size_t)(plain.n_params + plain.n_fixed) * sizeof(float);
    CHECK(!memcmp(plain.snaps, d1.snaps, nb) && !memcmp(&plain.m.test_acc, &d1.m.test_acc, sizeof(double)) &&
              !memcmp(&plain.m.test_loss, &d1.m.test_loss, sizeof(double)),
          "DropConnect p = 1 = plain RBM bit for bit");
    const float *wp = snap(&plain, "w", &n0), *w5 = snap(&d5, "w", &n);
    CHECK(wp && w5 && !memcmp(wp, w5, (size_t)n * sizeof(float)), "DropConnect: CD's w unchanged");
    CHECK(d5.m.test_loss != plain.m.test_loss && d5.m.test_acc > 0.3, "DropConnect p = 0.5: other rows (%g vs %g)",
          d5.m.test_acc, plain.m.test_acc);
    printf("rbm: test_acc %.4f; DropConnect 0.5: %.4f, pred_mean %.4f\n", plain.m.test_acc, d5.m.test_acc,
           d5.m.test_acc_pred_mean);
    for (int k = 0; k < 3; k++) job_result_free(&r[k]);
    job_result_free(&d1), job_result_free(&d5), job_result_free(&plain);
}

/* val_size: the validation curve for the epochs run (NaN after), the kept epoch its first
 * minimum, stopping exactly early_stop_patience epochs after it (or at rbm_epochs), and the
 * kept tensors those of a job that ran only to the kept epoch (the same CD draws). */
static void test_validation(void) {
    const char *kinds[] = {"rbse", "rbm"};
    int cv = model_curve_find("val_recon_error");
    CHECK(cv >= 0, "val_recon_error is a gathered curve");
    if (cv < 0) return;
    char err[256], num[16];
    for (int q = 0; q < 2; q++) {
        JobSpec s, s2;
        JobResult r, r2;
        spec_small(&s, kinds[q]);
        jobspec_set(&s, "val_size", "200", err, sizeof err);
        jobspec_set(&s, "rbm_epochs", "16", err, sizeof err);
        jobspec_set(&s, "rbm_lr", "2", err, sizeof err); /* large: the validation error turns up (rbm: at epoch 10) */
        jobspec_set(&s, "early_stop_patience", "2", err, sizeof err);
        jobspec_set(&s, "epochs", "5", err, sizeof err);
        if (run(&s, &r) != STATUS_OK) {
            CHECK(0, "%s with val_size runs", kinds[q]);
            continue;
        }
        int best = (int)r.m.cd_best_epoch, ran = (int)r.m.cd_epochs_run, first_min = 0, curve_ok = r.n_mepochs == 16;
        for (int e = 0; curve_ok && e < 16; e++) {
            float x = r.mcurves[(size_t)e * N_MODEL_CURVES + cv];
            curve_ok &= e < ran ? isfinite(x) && x > 0 : isnan(x);
            if (e < ran && (!first_min || x < r.mcurves[(size_t)(first_min - 1) * N_MODEL_CURVES + cv])) first_min = e + 1;
        }
        CHECK(curve_ok, "%s: validation curve for the %d epochs run, NaN after", kinds[q], ran);
        CHECK(best == first_min && (ran == 16 || ran - best == 2), "%s: kept epoch %d = first minimum %d; ran %d",
              kinds[q], best, first_min, ran);
        CHECK(best >= 1 && (float)r.m.val_recon_error == r.mcurves[(size_t)(best - 1) * N_MODEL_CURVES + cv],
              "%s: val_recon_error is the kept epoch's", kinds[q]);
        s2 = s;
        snprintf(num, sizeof num, "%d", best);
        jobspec_set(&s2, "rbm_epochs", num, err, sizeof err);
        int64_t n = 0, n2 = 0;
        const float *w = NULL, *w2 = NULL;
        if (run(&s2, &r2) == STATUS_OK) w = snap(&r, "w", &n), w2 = snap(&r2, "w", &n2);
        CHECK(w && w2 && n == n2 && !memcmp(w, w2, (size_t)n * sizeof(float)),
              "%s: the kept w = a %d-epoch job's w", kinds[q], best);
        printf("%s val_size 200: kept epoch %d of %d run, val recon %.4f, train recon %.4f\n", kinds[q], best, ran,
               r.m.val_recon_error, r.m.recon_error);
        job_result_free(&r), job_result_free(&r2);
    }
    JobSpec s;
    JobResult r;
    spec_small(&s, "rbm");
    jobspec_set(&s, "rbm_train_size", "0", err, sizeof err); /* all 60,000 */
    jobspec_set(&s, "val_size", "60000", err, sizeof err);
    job_result_init(&r, 0);
    CHECK(train_job(&s, &tr, &te, NULL, 0, &r) != STATUS_OK && strstr(r.message, "val_size"),
          "val_size >= the CD draw refused: %s", r.message);
    job_result_free(&r);
}

static void test_refusals(void) {
    const char *rules[] = {"fa", "dfa", "fa_noise"};
    char err[256];
    for (int k = 0; k < 3; k++) {
        JobSpec s;
        spec_small(&s, k == 2 ? "pixels" : "rbse");
        jobspec_set(&s, "rule", rules[k], err, sizeof err);
        err[0] = 0;
        CHECK(jobspec_check(&s, err, sizeof err) == -1 && strstr(err, "rule: bp"), "rule %s refused: %s", rules[k], err);
    }
    JobSpec s;
    spec_small(&s, "rbm");
    jobspec_set(&s, "preprocess", "standardize", err, sizeof err);
    CHECK(jobspec_check(&s, err, sizeof err) == -1 && strstr(err, "preprocess: unit"), "standardize refused: %s", err);
}

int main(void) {
    const char *dir = getenv("SYNSWEEP_DATA");
    char err[512];
    if (!dir || dataset_load(dir, "mnist", "train", &tr, err, sizeof err) ||
        dataset_load(dir, "mnist", "test", &te, err, sizeof err)) {
        CHECK(0, "needs MNIST under $SYNSWEEP_DATA");
        return test_report("test_rbse_model");
    }
    test_refusals();
    test_init_snapshot();
    test_feature_modes();
    test_validation();
    test_kinds();
    test_release_one();
    test_eval_isolated();
    raw_split_free(&tr), raw_split_free(&te);
    return test_report("test_rbse_model");
}
