/*
 * model_rbse.c: model kinds `rbse`, `rbm` and `pixels` (docs/SCIENCE.md section 3; the
 * numerics are rbse.c's). rbse and rbm: an unsupervised phase (kind->pretrain) learns the
 * Boltzmann machine by CD-k / PCD-k with SGD and momentum on binarised training images; then
 * a softmax readout (the FC head with no hidden layer, trained by the job's optimiser, lr,
 * weight_decay, epochs, batch_size) learns from S feature rows per labelled image:
 *   rbse: P(h | v, m_s) for S masks m_s ~ Bernoulli(sigmoid(a)) (the idle release),
 *   rbm:  P(h | v), S copies,
 *   pixels: the binarised pixels v, S copies (S Bernoulli binarisations if binarize: bernoulli),
 * so every kind's readout sees the same rows and optimiser steps. Test images are read out
 * from the mean of their S feature vectors (kind->forward: test_acc) and by the mean of the
 * S predictions (kind->final_metrics: test_acc_pred_mean). The masks and binarisations of an
 * evaluated image come from a stream keyed by the job's seed and the image's pixels, so an
 * evaluation is deterministic, the same in every pass, and draws nothing from the training
 * streams.
 *
 * Tensors: w (H, V), a (H, V; rbse), b (V), c (H) in the fixed buffer, marked learned (CD
 * learns them, not the optimiser), then the head W0 (10, H or V), b0 (10).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_rbse.h"
#include "train.h"

int model_head_build(Model *md, Mlp *m, const JobSpec *spec, int in_dim, int need_dinput, char *err,
                     size_t errlen);

static void binarize_image(const RbseModel *q, const float *x, int V, Rng *r, float *out) {
    rbse_binarize(x, V, q->thr, q->bern ? r : NULL, out);
}

/* The S feature rows of one image x (scaled x/255) into out (S, feat_dim); draws from r. */
static void image_features(Model *md, const float *x, Rng *r, float *out) {
    RbseModel *q = rm_of(md);
    int V = md->in_dim, fd = md->feat_dim, S = q->S;
    if (q->kind == K_PIXELS) {
        for (int s = 0; s < S; s++) binarize_image(q, x, V, r, out + (size_t)s * fd);
        return;
    }
    binarize_image(q, x, V, r, q->v);
    if (q->kind == K_RBSE) {
        rbse_features_mode(&q->rb, 1, q->v, S, q->feat_mode, r, q->work, out);
        return;
    }
    if (q->dc_a) { /* DropConnect: masks ~ Bernoulli(p), i.e. the RBSE's prior features at a = logit(p) */
        rbse_features(&q->dc, 1, q->v, S, r, out);
        return;
    }
    rbse_features(&q->rb, 1, q->v, 1, r, out); /* RBM: deterministic, S copies */
    for (int s = 1; s < S; s++) memcpy(out + (size_t)s * fd, out, (size_t)fd * sizeof(float));
}

/* The evaluation stream of an image: a function of the job's seed and the pixels alone. */
static void eval_stream(const RbseModel *q, const float *x, int V, Rng *r) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the pixels' bits */
    for (int i = 0; i < V; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        h = (h ^ u) * 0x100000001b3ull;
    }
    rng_seed(r, q->eval_key ^ h, RBSE_STREAM_EVAL);
}

static int rb_build(Model *md, const JobSpec *spec, int C, int H, int W, char *err, size_t errlen) {
    RbseModel *q = rm_of(md);
    q->kind = !strcmp(md->kind->name, "rbse") ? K_RBSE : !strcmp(md->kind->name, "rbm") ? K_RBM : K_PIXELS;
    int V = C * H * W, Hh = spec->rbm_hidden;
    md->in_dim = V;
    md->feat_dim = q->kind == K_PIXELS ? V : Hh;
    md->feat_rows = q->S = spec->rbse_samples;
    md->features_required = 1;
    q->bern = !strcmp(spec->binarize, "bernoulli");
    q->thr = (float)spec->binarize_threshold;
    if (q->kind != K_PIXELS) {
        int shw[2] = {Hh, V};
        if (tensors_add(&md->tensors, "w", 2, shw, 1) < 0) goto full;
        tensors_mark_learned(&md->tensors);
        if (q->kind == K_RBSE) {
            if (tensors_add(&md->tensors, "a", 2, shw, 1) < 0) goto full;
            tensors_mark_learned(&md->tensors);
        }
        if (tensors_add(&md->tensors, "b", 1, &V, 1) < 0) goto full;
        tensors_mark_learned(&md->tensors);
        if (tensors_add(&md->tensors, "c", 1, &Hh, 1) < 0) goto full;
        tensors_mark_learned(&md->tensors);
    }
    /* the readout: the FC head without hidden layers (multinomial logistic regression) */
    JobSpec hs = *spec;
    memset(hs.hidden, 0, sizeof hs.hidden);
    if (model_head_build(md, &q->head, &hs, md->feat_dim, 0, err, errlen)) return -1;
    q->feat_mode = !strcmp(spec->rbse_features, "conditional") ? RBSE_FEAT_CONDITIONAL
                   : !strcmp(spec->rbse_features, "exact")     ? RBSE_FEAT_EXACT
                                                               : RBSE_FEAT_PRIOR;
    q->work = malloc((size_t)2 * (Hh > 0 ? Hh : 1) * sizeof(float));
    if (!q->work) goto oom;
    q->v = malloc((size_t)V * sizeof(float));
    q->fs = malloc((size_t)q->S * md->feat_dim * sizeof(float));
    q->favg = malloc((size_t)md->max_batch * md->feat_dim * sizeof(float));
    if (!q->v || !q->fs || !q->favg) goto oom;
    rng_seed(&q->feat_rng, (uint64_t)spec->seed, RBSE_STREAM_FEAT);
    Rng ek;
    rng_seed(&ek, (uint64_t)spec->seed, RBSE_STREAM_EVAL);
    q->eval_key = rng_u64(&ek);
    q->recon_error = q->mean_release = q->w_p_corr = NAN;
    q->best_epoch = q->epochs_run = q->val_error = NAN;
    if (q->kind == K_PIXELS) return 0;
    const TensorList *tl = &md->tensors;
    float *w = model_tensor(md, tensors_find(tl, "w")), *b = model_tensor(md, tensors_find(tl, "b"));
    float *c = model_tensor(md, tensors_find(tl, "c"));
    float *a = q->kind == K_RBSE ? model_tensor(md, tensors_find(tl, "a")) : NULL;
    if (rbse_create(&q->rb, V, Hh, q->kind == K_RBM, w, a, b, c)) goto oom;
    Rng ri;
    rng_seed(&ri, (uint64_t)spec->seed, RBSE_STREAM_INIT);
    rbse_init_params(&q->rb, (float)spec->release_init, (float)spec->rbm_init_std, &ri);
    if (q->kind == K_RBM && spec->rbm_dropconnect < 1.0) { /* 1: the plain features, bit for bit */
        if (!(q->dc_a = malloc((size_t)Hh * V * sizeof(float))) || rbse_create(&q->dc, V, Hh, 0, w, q->dc_a, b, c))
            goto oom;
        float p = (float)spec->rbm_dropconnect, a0 = logf(p / (1.0f - p));
        for (size_t k = 0; k < (size_t)Hh * V; k++) q->dc_a[k] = a0;
    }
    return 0;
full:
    snprintf(err, errlen, "too many tensors");
    return -1;
oom:
    snprintf(err, errlen, "out of memory building the model");
    return -1;
}

static void rb_free(Model *md) {
    RbseModel *q = rm_of(md);
    mlp_free(&q->head);
    rbse_free(&q->rb), rbse_free(&q->dc);
    free(q->v), free(q->fs), free(q->favg), free(q->work), free(q->dc_a);
    q->v = q->fs = q->favg = q->work = q->dc_a = NULL;
}

/* Image x's S evaluation feature rows into out (S, feat_dim): from its evaluation stream. */
static void eval_image_features(Model *md, const float *x, float *out) {
    Rng er;
    eval_stream(rm_of(md), x, md->in_dim, &er);
    image_features(md, x, &er, out);
}

static void rb_eval_features(Model *md, const float *x, int B, float *feat) {
    size_t rows = (size_t)rm_of(md)->S * md->feat_dim;
    for (int r = 0; r < B; r++) eval_image_features(md, x + (size_t)r * md->in_dim, feat + r * rows);
}

/* Images (features 0), or their S evaluation rows each (features 2): the mean of each image's S
 * feature vectors, through the readout. Training feature rows (features 1): the readout. */
static double rb_forward(Model *md, const float *x, const uint8_t *y, int B, int features, long *correct) {
    RbseModel *q = rm_of(md);
    if (features == 1) return mlp_forward(&q->head, x, y, B, correct);
    int V = md->in_dim, fd = md->feat_dim, S = q->S;
    for (int r = 0; r < B; r++) {
        const float *fs = q->fs;
        if (features == 2) fs = x + (size_t)r * S * fd;
        else eval_image_features(md, x + (size_t)r * V, q->fs);
        float *o = q->favg + (size_t)r * fd;
        for (int k = 0; k < fd; k++) {
            double s = 0;
            for (int t = 0; t < S; t++) s += fs[(size_t)t * fd + k];
            o[k] = (float)(s / S);
        }
    }
    return mlp_forward(&q->head, q->favg, y, B, correct);
}

static void rb_backward(Model *md, const float *x, const uint8_t *y, int B, int features) {
    (void)x, (void)features; /* the readout's input is what forward gave it */
    mlp_backward(&rm_of(md)->head, y, B);
}

/* The labelled training images' feature rows (B images -> B*S rows), from the feature stream. */
static void rb_features(Model *md, const float *x, int B, float *feat) {
    RbseModel *q = rm_of(md);
    size_t rows = (size_t)q->S * md->feat_dim;
    for (int r = 0; r < B; r++) image_features(md, x + (size_t)r * md->in_dim, &q->feat_rng, feat + r * rows);
}

static const Mlp *rb_head(const Model *md) { return &rm_of(md)->head; }

/* Names of the CD curves, in model_rbse.h's RB_* order. */
static const char *const RB_CURVES[RB_N_CURVES] = {
    "recon_error", "recon_ce", "mean_release", "w_p_corr",
    "release_hist_00", "release_hist_01", "release_hist_02", "release_hist_03", "release_hist_04",
    "release_hist_05", "release_hist_06", "release_hist_07", "release_hist_08", "release_hist_09",
    "release_hist_10", "release_hist_11", "release_hist_12", "release_hist_13", "release_hist_14",
    "release_hist_15", "release_hist_16", "release_hist_17", "release_hist_18", "release_hist_19",
    "val_recon_error"};

static uint64_t rb_curves(const JobSpec *spec, int *len) {
    *len = spec->rbm_epochs;
    uint64_t bits = 1ull << RB_RECON_ERROR | 1ull << RB_RECON_CE | 1ull << RB_MEAN_RELEASE;
    for (int k = 0; k < RELEASE_BINS; k++) bits |= 1ull << (RB_RELEASE_HIST0 + k);
    if (!strcmp(spec->model, "rbse")) bits |= 1ull << RB_W_P_CORR; /* NaN for the RBM (p = 1) */
    if (spec->val_size > 0) bits |= 1ull << RB_VAL_RECON_ERROR;
    return bits;
}

/* Test accuracy and loss of the mean of each image's S predictions (same masks as forward). */
static void rb_final_metrics(Model *md, const Split *test, JobMetrics *jm) {
    RbseModel *q = rm_of(md);
    int fd = md->feat_dim, S = q->S, C = md->n_classes, MB = md->max_batch;
    double loss = 0;
    long correct = 0;
    double *pm = malloc((size_t)C * sizeof(double));
    uint8_t *ys = malloc((size_t)MB);
    if (!pm || !ys) {
        free(pm), free(ys);
        return;
    }
    for (int i = 0; i < test->n; i++) {
        const float *xi = test->x + (size_t)i * test->d, *fs = q->fs;
        if (test->features == 2) fs = xi; /* the S rows the driver kept */
        else eval_image_features(md, xi, q->fs);
        for (int c = 0; c < C; c++) pm[c] = 0;
        memset(ys, test->y[i], (size_t)MB);
        for (int s = 0; s < S; s += MB) {
            int b = S - s < MB ? S - s : MB;
            mlp_forward(&q->head, fs + (size_t)s * fd, ys, b, NULL);
            for (int t = 0; t < b; t++)
                for (int c = 0; c < C; c++) pm[c] += q->head.probs[(size_t)t * C + c];
        }
        int best = 0;
        for (int c = 0; c < C; c++) best = pm[c] > pm[best] ? c : best;
        correct += best == test->y[i];
        double pt = pm[test->y[i]] / S;
        loss -= log(pt > 1e-30 ? pt : 1e-30);
    }
    free(pm), free(ys);
    jm->test_acc_pred_mean = test->n ? (double)correct / test->n : NAN;
    jm->test_loss_pred_mean = test->n ? loss / test->n : NAN;
    jm->recon_error = q->recon_error, jm->mean_release = q->mean_release, jm->w_p_corr = q->w_p_corr;
    jm->cd_best_epoch = q->best_epoch, jm->cd_epochs_run = q->epochs_run, jm->val_recon_error = q->val_error;
}

/* Bytes (memest.h): the synapse tensors w, a with their momenta and rbse.c's derived tables
 * (about 14 floats per synapse), the chains, the S feature rows of every labelled image and
 * of a test batch, the readout, and the images as bytes and floats. */
static size_t rb_memory(const JobSpec *s, int C, int H, int W, int n_train, int n_test) {
    size_t V = (size_t)C * H * W, Hn = strcmp(s->model, "pixels") ? (size_t)s->rbm_hidden : V;
    size_t S = (size_t)(s->rbse_samples > 0 ? s->rbse_samples : 1), B = (size_t)(s->rbm_batch_size > 0 ? s->rbm_batch_size : 1);
    size_t n = (size_t)n_train + (size_t)n_test + (size_t)s->rbm_train_size;
    size_t te = 4 * S * (size_t)n_test * Hn; /* the test split's S evaluation rows, kept when they fit (train.c) */
    return 4 * (Hn * V * 14 + 8 * B * (V + Hn) + S * (size_t)n_train * Hn + S * (size_t)s->batch_size * Hn + 10 * Hn * 6) +
           n * V * 5 + ((double)te <= s->cache_budget_mb * 1048576.0 ? te : 0);
}

#define F(field) FIELD_OF(JobSpec, field)
static const ParamDef RB_PARAMS[] = {
    {"rbm_hidden", PK_INT, F(rbm_hidden), "500", NULL, 1, 100000, "rbse/rbm: hidden units", "model=rbse|rbm"},
    {"rbm_train_size", PK_INT, F(rbm_train_size), "10000", NULL, 0, 100000000,
     "rbse/rbm: training images (labels unused) drawn by the seed for contrastive divergence (0: all)", "model=rbse|rbm"},
    {"rbm_epochs", PK_INT, F(rbm_epochs), "10", NULL, 0, 1000000, "rbse/rbm: contrastive-divergence epochs", "model=rbse|rbm"},
    {"rbm_batch_size", PK_INT, F(rbm_batch_size), "100", NULL, 1, 1000000,
     "rbse/rbm: CD minibatch (persistent chains); an epoch uses the full batches of a shuffled order", "model=rbse|rbm"},
    {"cd_k", PK_INT, F(cd_k), "1", NULL, 1, 1000, "rbse/rbm: Gibbs steps per CD update (CD-k)", "model=rbse|rbm"},
    {"persistent", PK_BOOL, F(persistent), "false", NULL, 0, 0,
     "rbse/rbm: persistent chains (PCD-k) instead of chains restarted at the data", "model=rbse|rbm"},
    {"rbm_lr", PK_REAL, F(rbm_lr), "0.05", NULL, 0, 1e3, "rbse/rbm: CD learning rate (SGD with momentum)", "model=rbse|rbm"},
    {"rbm_momentum", PK_REAL, F(rbm_momentum), "0.5", NULL, 0, 0.999999, "rbse/rbm: CD momentum", "model=rbse|rbm"},
    {"rbm_weight_decay", PK_REAL, F(rbm_weight_decay), "1e-4", NULL, 0, 1e3,
     "rbse/rbm: L2 weight decay of the weights w (not a, b, c)", "model=rbse|rbm"},
    {"val_size", PK_INT, F(val_size), "0", NULL, 0, 100000000,
     "rbse/rbm: validation images carved by the seed from the CD draw (rbm_train_size + val_size drawn, or all), "
     "never trained on; CD keeps the epoch of least validation reconstruction error (0: none, every epoch, the last)",
     "model=rbse|rbm"},
    {"early_stop_patience", PK_INT, F(early_stop_patience), "5", NULL, 1, 1000000,
     "rbse/rbm: with val_size > 0, CD stops after this many epochs without a lower validation reconstruction error",
     "model=rbse|rbm"},
    {"rbm_init_std", PK_REAL, F(rbm_init_std), "0.01", NULL, 0, 100, "rbse/rbm: initial w ~ N(0, std^2)", "model=rbse|rbm"},
    {"release_init", PK_REAL, F(release_init), "0.5", NULL, 1e-6, 1,
     "rbse: initial release probability sigmoid(a) of every synapse (1: always released)", "model=rbse"},
    {"learn_release", PK_BOOL, F(learn_release), "true", NULL, 0, 0,
     "rbse: CD learns the release logits a (false: p stays at release_init)", "model=rbse"},
    {"release_lr_scale", PK_REAL, F(release_lr_scale), "1", NULL, 0, 1e6,
     "rbse: learning rate of the release logits a as a multiple of rbm_lr", "model=rbse;learn_release=true"},
    {"rbse_samples", PK_INT, F(rbse_samples), "10", NULL, 1, 10000,
     "rbse/rbm/pixels: feature rows per labelled image (rbse: S masks; rbm, pixels: S copies, or S Bernoulli "
     "binarisations), and samples averaged at test", "model=rbse|rbm|pixels"},
    {"rbse_features", PK_CHOICE, F(rbse_features), "prior", "prior|conditional|exact", 0, 0,
     "rbse: feature rows P(h | v, m) for masks m ~ Bernoulli(sigmoid(a)) (prior), or for (h, m) ~ P(h, m | v), "
     "the ensemble's conditional sample (conditional), or P(h | v) itself, no draw (exact)", "model=rbse"},
    {"rbse_chain", PK_CHOICE, F(rbse_chain), "joint", "joint|collapsed", 0, 0,
     "rbse: the CD chain, the joint (v, h, m) Gibbs chain sampling masks at every step (joint), or the (v, h) chain "
     "with m summed out, v ~ sigmoid(b + h weff) (collapsed: the same distribution of (v, h), another CD estimator, "
     "at an RBM's cost)", "model=rbse"},
    {"rbm_dropconnect", PK_REAL, F(rbm_dropconnect), "1", NULL, 1e-6, 1,
     "rbm: DropConnect feature noise, S rows P(h | v, m) for masks m_ji ~ Bernoulli(p) with p this value "
     "(1: none, the plain P(h | v)); matched to an RBSE: its mean release probability (mean_release)", "model=rbm"},
    {"binarize", PK_CHOICE, F(binarize), "threshold", "threshold|bernoulli", 0, 0,
     "rbse/rbm/pixels: pixel x/255 -> 1 if above binarize_threshold, or with probability x/255", "model=rbse|rbm|pixels"},
    {"binarize_threshold", PK_REAL, F(binarize_threshold), "0.5", NULL, 0, 1, "rbse/rbm/pixels: binarisation threshold",
     "model=rbse|rbm|pixels;binarize=threshold"},
};
#undef F

#define M(field, help) {#field, offsetof(JobMetrics, field), help}
static const MetricDef RB_METRICS[] = {
    M(test_acc_pred_mean, "rbse: test accuracy of the mean of the S predictions (test_acc: of the mean features)"),
    M(test_loss_pred_mean, "rbse: test loss of the mean of the S predictions"),
    M(recon_error, "rbse/rbm: mean squared reconstruction error after contrastive divergence"),
    M(mean_release, "rbse: mean release probability sigmoid(a) after contrastive divergence"),
    M(w_p_corr, "rbse: correlation of |w| and the release probability after contrastive divergence"),
    M(cd_best_epoch, "rbse/rbm with val_size: the CD epoch kept (least validation reconstruction error)"),
    M(cd_epochs_run, "rbse/rbm: CD epochs run (fewer than rbm_epochs if stopped early)"),
    M(val_recon_error, "rbse/rbm with val_size: validation reconstruction error of the kept epoch"),
};
#undef M

/* model_rbse_work.c */
void rb_work(const JobSpec *s, int C, int H, int W, int n_train, int n_test, Work *w);

/* what contrastive divergence never reads: the readout's features */
#define RB_PRETRAIN_IGNORES "rbse_samples|rbse_features|rbm_dropconnect"

/* What the three rows share: the readout, its parameters and metrics. */
#define RB_COMMON                                                                                            \
    .impl_size = sizeof(RbseModel), .build = rb_build, .free = rb_free, .forward = rb_forward,                 \
    .backward = rb_backward, .features = rb_features, .eval_features = rb_eval_features, .head = rb_head, .final_metrics = rb_final_metrics,     \
    .memory = rb_memory, .work = rb_work, .params = RB_PARAMS, .n_params = (int)(sizeof RB_PARAMS / sizeof *RB_PARAMS),         \
    .metrics = RB_METRICS, .n_metrics = (int)(sizeof RB_METRICS / sizeof *RB_METRICS)

const ModelKind MODEL_RBSE = {
    .name = "rbse",
    .help = "RBM with stochastic synapses (release logits a) by CD, then a softmax readout of S stochastic features",
    .phases = PHASE_SUPERVISED | PHASE_UNSUPERVISED | PHASE_READOUT,
    .curves = rb_curves,
    .curve_names = RB_CURVES,
    .n_curves = RB_N_CURVES,
    .pretrain = rb_pretrain,
    .pretrain_state = rb_pretrain_state,
    .pretrain_ignores = RB_PRETRAIN_IGNORES,
    RB_COMMON,
};

const ModelKind MODEL_RBM = {
    .name = "rbm",
    .help = "plain RBM (every synapse always released) by CD, then a softmax readout of P(h | v)",
    .phases = PHASE_SUPERVISED | PHASE_UNSUPERVISED | PHASE_READOUT,
    .curves = rb_curves,
    .curve_names = RB_CURVES,
    .n_curves = RB_N_CURVES,
    .pretrain = rb_pretrain,
    .pretrain_state = rb_pretrain_state,
    .pretrain_ignores = RB_PRETRAIN_IGNORES,
    RB_COMMON,
};

const ModelKind MODEL_PIXELS = {
    .name = "pixels",
    .help = "the rbse/rbm readout on the binarised pixels themselves (baseline)",
    .phases = PHASE_SUPERVISED | PHASE_READOUT,
    RB_COMMON,
};
