/*
 * model_rbse_work.c: the work (work.h) of an rbse, rbm or pixels job, the ModelKind.work of
 * the rows in model_rbse.c (kept apart for that file's size): contrastive divergence on
 * rbm_train_size images, the S feature rows of every labelled image, the softmax readout on
 * them, and the evaluations, which read each test image's S feature rows kept once computed
 * (or draw them afresh when they do not fit cache_budget_mb).
 */
#include <math.h>
#include <string.h>

#include "model.h"

#define HIDDEN_ON 0.5 /* fraction of hidden units sampled on (the masked v-step visits their rows) */

/* One masked (rbse) or dense (rbm) product of B rows between V visible and H hidden units,
 * active: the fraction of the summed side's units that are on. */
static void rb_product(Work *w, int rbse, double B, double V, double H, double active) {
    if (rbse) w->n[WK_MASKED] += B * active * V * H;
    else work_gemm(w, 1.0, B, H, V);
}

/* One CD epoch of n images in batches of B (rb_pretrain's cd_epoch and its recon_pass). */
static void cd_epoch_work(const JobSpec *s, int rbse, double n, double V, double H, double dv, Work *w) {
    double B = s->rbm_batch_size < n ? s->rbm_batch_size : n, nb = floor(n / B), k = s->cd_k > 0 ? s->cd_k : 1;
    Work b = {0};
    b.n[!strcmp(s->binarize, "bernoulli") ? WK_UNIFORM : WK_GATHER] += B * V;
    work_gemm(&b, 2.0, B, H, V);                     /* P(h | v) of the data and of the chain */
    int chain = rbse && strcmp(s->rbse_chain, "collapsed"); /* masked steps (the joint chain) */
    rb_product(&b, chain, k * B, V, H, HIDDEN_ON);    /* k v-steps (by the hidden units on) */
    if (k > 1) rb_product(&b, chain, (k - 1) * B, V, H, dv); /* k - 1 h-steps (by the pixels on) */
    work_gemm(&b, 2.0, H, V, B);                     /* the gradient */
    b.n[WK_UNIFORM] += B * (2.0 * H + k * V + (k - 1) * H);
    b.n[WK_EXP] += B * (2.0 * H + k * V + (k - 1) * H) + (rbse ? 3.0 * H * V : 0.0); /* sigmoids; release tables */
    b.n[WK_STREAM] += (rbse ? 24.0 : 8.0) * H * V;   /* gradient, momentum steps, tables */
    work_add(w, &b, nb);
    double nr = n < 1000 ? n : 1000;                 /* the reconstruction error */
    work_gemm(w, 1.0, nr, H, V);
    rb_product(w, rbse, nr, V, H, HIDDEN_ON);
    w->n[WK_UNIFORM] += nr * H;
    w->n[WK_EXP] += nr * (H + 3.0 * V);
}

void rb_work(const JobSpec *s, int C, int H, int W, int n_train, int n_test, Work *w);

void rb_work(const JobSpec *s, int C, int H, int W, int n_train, int n_test, Work *w) {
    int rbse = !strcmp(s->model, "rbse"), pixels = !strcmp(s->model, "pixels");
    double V = (double)C * H * W, Hn = pixels ? V : s->rbm_hidden, S = s->rbse_samples > 0 ? s->rbse_samples : 1;
    int bern = !strcmp(s->binarize, "bernoulli");
    double dv = work_pixel_density(s->dataset, bern ? 0.5 : s->binarize_threshold);
    if (!pixels) {
        double n = s->rbm_train_size > 0 ? s->rbm_train_size : 60000;
        w->n[WK_STREAM] += 5.0 * n * V;
        for (int e = 0; e < s->rbm_epochs; e++) cd_epoch_work(s, rbse, n, V, Hn, dv, w);
    }
    /* one image's S feature rows: binarisations, then S masked h-steps (rbse) or one product */
    Work feat = {0}, fwd = {0}, img = {0};
    feat.n[bern ? WK_UNIFORM : WK_GATHER] += (pixels ? S : 1.0) * V; /* a scalar loop per pixel */
    if (rbse) feat.n[WK_MASKED] += S * dv * V * Hn, feat.n[WK_EXP] += S * Hn;
    else if (!pixels) work_gemm(&feat, 1.0, 1, Hn, V), feat.n[WK_EXP] += Hn;
    feat.n[WK_STREAM] += S * Hn;
    HeadWork hd;
    JobSpec hs = *s;
    memset(hs.hidden, 0, sizeof hs.hidden);
    work_head(&hs, (int)Hn, 10, 1.0, 0, &hd);
    work_add(&fwd, &hd.fwd, 1.0);
    work_add(&img, &feat, 1.0), work_add(&img, &hd.fwd, 1.0);
    img.n[WK_GATHER] += 2.0 * V + S * Hn; /* the evaluation stream's hash of the pixels; the mean of S rows */
    /* the test split's S rows per image, kept once computed when they fit (train.c): an
     * evaluation is then the mean of the kept rows through the readout */
    int keep = 4.0 * S * n_test * Hn <= s->cache_budget_mb * 1048576.0;
    Work kept = {0};
    work_add(&kept, &hd.fwd, 1.0);
    kept.n[WK_GATHER] += S * Hn;
    JobPasses p = {.d = (int)V, .n_train = n_train, .n_test = n_test, .feat = &feat, .feat_rows = (int)S,
                   .feat_floats = S * Hn, .cache_test = keep,
                   .fwd = &fwd, .bwd = &hd.bwd, .eval_fwd = keep ? &kept : &img, .noise_fwd = &img, .noise_bwd = &hd.bwd,
                   .params = hd.params, .stage_flops = work_head_stage_flops(&hs, (int)Hn)};
    work_schedule(&hs, &p, w);
    /* the final metrics: each test image's S rows (again, unless kept), each through the readout */
    if (!keep) work_add(w, &feat, n_test);
    work_add(w, &hd.fwd, (double)n_test * S);
}
