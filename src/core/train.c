/*
 * train.c: the job driver, the same for every model kind: it calls the kind's row
 * (model.h) and nothing else of it. Order of work: choose the training subset, fit the
 * scaling, build and initialise the model, [cache frozen front-end features], [noise
 * phase], data epochs with evaluations, final metrics and snapshots. Random streams per
 * concern (rng.h) keep any part of the job independent of how much randomness another part
 * used.
 */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "metrics.h"

static const volatile int *cancel_flag;

void train_set_cancel_flag(const volatile int *flag) { cancel_flag = flag; }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Checked after every minibatch: cancellation, then the job's time limit. */
int train_should_stop(Model *md) {
    if (cancel_flag && *cancel_flag) md->stop = STATUS_CANCELLED;
    else if (md->deadline > 0 && now_s() > md->deadline) md->stop = STATUS_TIMEOUT;
    return md->stop;
}

/* What the final evaluation passes also collect about the head's hidden layers. */
typedef struct Probe {
    float *gram[MLP_MAX_LAYERS]; /* (H, H) sums of A^T A per hidden layer, or NULL */
    char *alive;                 /* one flag per hidden unit (all hidden layers in order), or NULL */
} Probe;

static EvalStats evaluate_probe(Model *md, const Split *s, Probe *pr) {
    EvalStats e = {0};
    const Mlp *m = md->kind->head(md);
    int C = s->n_classes, B = md->max_batch, L = m->n_layers;
    long correct = 0;
    double loss = 0.0, pt = 0.0, pt2 = 0.0, pm = 0.0;
    md->no_grad = 1;
    for (int i = 0; i < s->n; i += B) {
        int b = s->n - i < B ? s->n - i : B;
        if (s->sp && md->sparse_input) md->in = (SparseBatch){s->sp, NULL, i};
        loss += md->kind->forward(md, s->x + (size_t)i * s->d, s->y + i, b, s->features, &correct) * b;
        md->in.sp = NULL;
        for (int r = 0; r < b; r++) {
            const float *p = m->probs + (size_t)r * C;
            double t = p[s->y[i + r]], mx = p[0];
            for (int c = 1; c < C; c++) mx = p[c] > mx ? p[c] : mx;
            pt += t, pt2 += t * t, pm += mx;
        }
        for (int l = 0; pr && l < L - 1; l++) {
            int H = m->sizes[l + 1];
            const float *a = m->act[l + 1];
            /* G <- A^T A + G over this batch's rows */
            if (pr->gram[l]) sgemm(1, 0, H, H, b, 1.0f, a, a, 1.0f, pr->gram[l]);
            if (pr->alive) {
                char *al = pr->alive;
                for (int k = 1; k <= l; k++) al += m->sizes[k];
                for (size_t j = 0; j < (size_t)b * H; j++)
                    if (a[j] > 0.0f) al[j % H] = 1;
            }
        }
    }
    md->no_grad = 0;
    double n = s->n ? s->n : NAN;
    e.loss = loss / n;
    e.acc = correct / n;
    e.p_true_mean = pt / n;
    e.p_true_std = sqrt(fmax(pt2 / n - e.p_true_mean * e.p_true_mean, 0.0));
    e.p_max_mean = pm / n;
    return e;
}

EvalStats evaluate(Model *md, const Split *s) { return evaluate_probe(md, s, NULL); }

/* One optimiser step on b rows (images, or features when the split holds them). */
static void train_step(Model *md, const float *x, const uint8_t *y, int b, int features, double *loss) {
    *loss += model_step(md, x, y, b, features);
}

double train_epoch(Model *md, const Split *s, Rng *shuffle, int *perm, float *xbuf, uint8_t *ybuf) {
    int n = s->n, d = s->d, B = md->max_batch, n_batches = 0;
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(shuffle, (uint32_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    double loss = 0.0;
    for (int i = 0; i < n; i += B, n_batches++) {
        int b = n - i < B ? n - i : B;
        /* sparse rows are read where they are; other rows are gathered */
        int sparse = s->sp && md->sparse_input;
        for (int r = 0; r < b; r++) {
            if (!sparse) memcpy(xbuf + (size_t)r * d, s->x + (size_t)perm[i + r] * d, (size_t)d * sizeof(float));
            ybuf[r] = s->y[perm[i + r]];
        }
        if (sparse) md->in = (SparseBatch){s->sp, perm + i, 0};
        train_step(md, xbuf, ybuf, b, s->features, &loss);
        md->in.sp = NULL;
        md->step++;
        if (md->kind->after_step) md->kind->after_step(md);
        if (train_should_stop(md)) {
            n_batches++;
            break;
        }
    }
    return n_batches ? loss / n_batches : NAN;
}

void layer_angles(const Mlp *m, float out[MLP_MAX_LAYERS]) {
    for (int l = 0; l < MLP_MAX_LAYERS; l++)
        out[l] = l < m->n_layers && m->rule == RULE_FA && m->F[l]
                 ? (float)angle_deg(m->W[l], m->F[l], (size_t)m->sizes[l + 1] * m->sizes[l]) : NAN;
}

/* After each noise batch: a curve point when its batch count is reached. */
static void noise_curve_step(NoiseCurve *nc, const Model *md, double loss, int b) {
    nc->batches++, nc->examples += b, nc->loss_sum += loss, nc->loss_n++;
    if (nc->next >= nc->n_points || nc->batches < nc->at[nc->next]) return;
    float *row = nc->out + (size_t)nc->next++ * NOISE_COLS;
    row[NC_EXAMPLES] = (float)nc->examples;
    row[NC_LOSS] = (float)(nc->loss_sum / nc->loss_n);
    layer_angles(md->kind->head(md), row + NC_ANGLE0);
    nc->loss_sum = 0.0, nc->loss_n = 0;
}

double noise_epoch(Model *md, long n_examples, double std, Rng *r, float *xbuf, uint8_t *ybuf, NoiseCurve *nc) {
    int d = md->in_dim, C = md->n_classes, B = md->max_batch, n_batches = 0;
    double loss = 0.0;
    for (long i = 0; i < n_examples; i += B, n_batches++) {
        int b = n_examples - i < B ? (int)(n_examples - i) : B;
        for (size_t k = 0; k < (size_t)b * d; k++) xbuf[k] = (float)(std * rng_normal(r));
        for (int k = 0; k < b; k++) ybuf[k] = (uint8_t)rng_below(r, (uint32_t)C);
        /* noise images pass through the whole model: a front-end sees pixels, not features */
        double before = loss;
        train_step(md, xbuf, ybuf, b, 0, &loss);
        if (nc) noise_curve_step(nc, md, loss - before, b);
        if (train_should_stop(md)) {
            n_batches++;
            break;
        }
    }
    return n_batches ? loss / n_batches : NAN;
}

/*
 * Gram-matrix effective rank of each hidden layer's features (SCIENCE.md section 2) from the
 * summed A^T A of an evaluation pass: G_jk = <a_j, a_k> / (|a_j| |a_k|) over the layer's
 * units j, k (a_j = unit j's outputs on every row), silent units left out; out[l] for weight
 * layer l's output.
 */
static void gram_eranks(const Mlp *m, float *const *gram, double out[MLP_MAX_LAYERS]) {
    for (int l = 0; l < m->n_layers - 1; l++) {
        int H = m->sizes[l + 1], k = 0;
        const float *G = gram[l];
        int *keep = malloc((size_t)H * sizeof(int));
        float *Gc = malloc((size_t)H * H * sizeof(float));
        if (G && keep && Gc) {
            for (int j = 0; j < H; j++)
                if (G[(size_t)j * H + j] > 0.0f) keep[k++] = j;
            for (int a = 0; a < k; a++)
                for (int c = 0; c < k; c++) {
                    double na = G[(size_t)keep[a] * H + keep[a]], nc = G[(size_t)keep[c] * H + keep[c]];
                    Gc[(size_t)a * k + c] = (float)(G[(size_t)keep[a] * H + keep[c]] / sqrt(na * nc));
                }
            out[l] = k ? effective_rank(Gc, k, k) : NAN;
        }
        free(keep), free(Gc);
    }
}

/*
 * Meta-loss (SCIENCE.md section 2): for each task, from the current weights, meta_steps
 * Adam steps at meta_lr on minibatches of the task's training split (drawn by the seed),
 * then the loss on its first meta_test_size test images; the mean over tasks. The weights
 * and the optimiser's state are restored afterwards. Images get the job's scaling.
 */
static double meta_loss(Model *md, const JobSpec *spec, Scaling sc, const TaskData *tasks,
                        int n_tasks, float *xbuf, uint8_t *ybuf) {
    if (n_tasks == 0) return NAN;
    int B = spec->batch_size, K = spec->meta_steps;
    size_t np = (size_t)md->tensors.n_params;
    double sum = 0.0;
    float *keep = malloc(np * sizeof(float));
    Optim keep_o = md->opt, inner = {0};
    if (!keep) return NAN;
    memcpy(keep, md->params, np * sizeof(float));
    for (int t = 0; t < n_tasks; t++) {
        const RawSplit *tr = tasks[t].train, *te = tasks[t].test;
        int *idx = malloc((size_t)tr->n * sizeof(int));
        Split st = {0}, se = {0};
        char err[128];
        int n = idx ? subset_choose(tr, 0, K * B, (uint64_t)spec->seed * 31 + (uint64_t)t + 1, idx, err, sizeof err) : -1;
        int ok = n > 0 && !split_make(&st, tr, idx, n, sc) &&
                 !split_make(&se, te, NULL, spec->meta_test_size < te->n ? spec->meta_test_size : te->n, sc) &&
                 !optim_create(&inner, OPT_ADAM, np, (float)spec->meta_lr, 0.9f, 0.999f, 1e-8f, 0, 0);
        if (ok) {
            md->opt = inner;
            double l = 0.0;
            for (int k = 0; k < K; k++) {
                int lo = (k * B) % n, b = n - lo < B ? n - lo : B;
                memcpy(xbuf, st.x + (size_t)lo * st.d, (size_t)b * st.d * sizeof(float));
                memcpy(ybuf, st.y + lo, (size_t)b);
                train_step(md, xbuf, ybuf, b, 0, &l);
            }
            sum += evaluate(md, &se).loss;
            md->opt = keep_o;
        }
        optim_free(&inner);
        split_free(&st), split_free(&se);
        free(idx);
        memcpy(md->params, keep, np * sizeof(float));
        if (!ok) {
            free(keep);
            return NAN;
        }
    }
    free(keep);
    return sum / n_tasks;
}

/* The test-set readout at a stage before the final one. */
static void stage_readout(Model *md, const Split *te, JobMetrics *m, int stage) {
    EvalStats e = evaluate(md, te);
    m->stage_test_loss[stage] = e.loss, m->stage_test_acc[stage] = e.acc;
    m->stage_p_true_mean[stage] = e.p_true_mean, m->stage_p_max_mean[stage] = e.p_max_mean;
}

/* Per-layer geometry of the FC head at one stage: angle W vs feedback (fa only), erank. */
static void layer_metrics(const Mlp *m, double out[N_LAYER_METRICS][MLP_MAX_LAYERS]) {
    for (int l = 0; l < m->n_layers; l++) {
        int O = m->sizes[l + 1], I = m->sizes[l];
        if (m->rule == RULE_FA && m->F[l]) {
            out[LM_ANGLE][l] = angle_deg(m->W[l], m->F[l], (size_t)O * I);
            row_angles(m->W[l], m->F[l], O, I, &out[LM_ANGLE_NEURON_MEAN][l],
                       &out[LM_ANGLE_NEURON_STD][l]);
        }
        out[LM_ERANK][l] = effective_rank(m->W[l], O, I);
    }
}

/* Every tensor at a stage: the params buffer, then the fixed one (r->tensors' layout). */
static void snapshot(const Model *md, JobResult *r, int stage) {
    if (!((r->snap_mask >> stage) & 1)) return;
    int k = 0;
    for (int s = 0; s < stage; s++) k += (r->snap_mask >> s) & 1;
    size_t np = (size_t)md->tensors.n_params, nf = (size_t)md->tensors.n_fixed;
    float *dst = r->snaps + (size_t)k * (np + nf);
    memcpy(dst, md->params, np * sizeof(float));
    memcpy(dst + np, md->fixed, nf * sizeof(float));
}

/*
 * The first learned tensor (trained by the optimiser or by a phase of the kind's own) holding
 * a NaN or an infinity, or NULL. The loss alone does not show divergence: a ReLU turns a NaN
 * input into 0, so a network whose weights are partly NaN can still report a finite loss
 * (issue 16: an LC dynamic sleep left 57,600 of 78,400 weights NaN at test_acc 0.15). A
 * non-finite weight stays non-finite under every later step (w - lr g, Adam, averaging), so a
 * check after each phase and each epoch sees any step's.
 */
static const char *nonfinite_tensor(const Model *md) {
    for (int k = 0; k < md->tensors.n; k++) {
        const Tensor *t = &md->tensors.t[k];
        if (!t->learned) continue;
        const float *v = (t->fixed ? md->fixed : md->params) + t->offset;
        int64_t n = tensor_numel(t);
        float acc = 0.0f; /* x * 0 is NaN exactly when x is NaN or infinite */
        for (int64_t i = 0; i < n; i++) acc += v[i] * 0.0f;
        if (acc != 0.0f) return t->name;
    }
    return NULL;
}

/* Marks r diverged, naming the tensor and when, if a learned tensor is non-finite. */
static int weights_diverged(const Model *md, JobResult *r, const char *when) {
    const char *name = nonfinite_tensor(md);
    if (!name) return 0;
    r->status = STATUS_DIVERGED;
    snprintf(r->message, sizeof r->message, "tensor %s has non-finite values %s", name, when);
    return 1;
}

static int snap_mask_of(const char *list, int has_noise) {
    int mask = 0;
    for (int s = 0; s < N_STAGES; s++) {
        const char *p = list;
        size_t n = strlen(STAGE_NAMES[s]);
        while ((p = strstr(p, STAGE_NAMES[s]))) {
            if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) mask |= 1 << s;
            p += n;
        }
    }
    if (!has_noise) mask &= ~(1 << STAGE_AFTER_NOISE);
    return mask;
}

/* Replaces the images of *s by the frozen front-end's features (computed once per image). */
static int cache_features(Model *md, Split *s) {
    Split f = {0};
    int fd = md->feat_dim, B = md->max_batch;
    int R = md->feat_rows; /* rows per image */
    f.n = s->n * R, f.d = fd, f.n_classes = s->n_classes, f.features = 1;
    f.x = malloc((size_t)f.n * fd * sizeof(float) + 1);
    f.y = malloc((size_t)f.n + 1);
    if (!f.x || !f.y) {
        split_free(&f);
        return -1;
    }
    for (int i = 0; i < s->n; i += B) {
        int b = s->n - i < B ? s->n - i : B;
        md->kind->features(md, s->x + (size_t)i * s->d, b, f.x + (size_t)i * R * fd);
    }
    for (int i = 0; i < s->n; i++) memset(f.y + (size_t)i * R, s->y[i], (size_t)R);
    split_free(s);
    *s = f;
    return 0;
}

int train_job(const JobSpec *spec, const RawSplit *train, const RawSplit *test,
              const TaskData *tasks, int n_tasks, JobResult *r) {
    Model md = {0};
    Split tr = {0}, te = {0};
    int *idx = NULL, *perm = NULL, *held = NULL;
    float *xbuf = NULL;
    uint8_t *ybuf = NULL;
    long *noise_at = NULL;
    char err[256];
    r->status = STATUS_FAILED;

    if (jobspec_check(spec, err, sizeof err)) {
        snprintf(r->message, sizeof r->message, "%s", err);
        goto done;
    }
    int heldout = !strcmp(spec->test_split, "heldout");
    if (heldout) test = train; /* the test rows are the training split's undrawn records */
    if (!heldout && test->n == 0) {
        snprintf(r->message, sizeof r->message, "%s has no test split here (test_split: heldout tests on the "
                 "training split's records not drawn for training)", spec->dataset);
        goto done;
    }
    if (train->h != test->h || train->w != test->w || train->c != test->c) {
        snprintf(r->message, sizeof r->message, "train images are %dx%dx%d but test images are %dx%dx%d",
                 train->c, train->h, train->w, test->c, test->h, test->w);
        goto done;
    }
    if (!(idx = malloc((size_t)train->n * sizeof(int)))) goto oom;
    int n_tr = subset_choose(train, spec->train_per_class, spec->train_size,
                             (uint64_t)spec->seed, idx, err, sizeof err);
    if (n_tr < 0) {
        snprintf(r->message, sizeof r->message, "%s", err);
        goto done;
    }
    Scaling sc = scaling_fit(train, idx, n_tr, strcmp(spec->preprocess, "standardize") == 0);
    int n_te = spec->test_size > 0 && spec->test_size < test->n ? spec->test_size : test->n;
    if (heldout) {
        /* the first test_size of the records the seed did not draw (idx is sorted) */
        if (!(held = malloc((size_t)(train->n - n_tr + 1) * sizeof(int)))) goto oom;
        int k = 0, j = 0;
        for (int i = 0; i < train->n; i++) {
            if (j < n_tr && idx[j] == i) j++;
            else held[k++] = i;
        }
        n_te = spec->test_size > 0 && spec->test_size < k ? spec->test_size : k;
        if (n_te == 0) {
            snprintf(r->message, sizeof r->message, "test_split heldout: every record of %s's training split is drawn "
                     "for training", spec->dataset);
            goto done;
        }
    }
    if (split_make(&tr, train, idx, n_tr, sc) || split_make(&te, test, held, n_te, sc)) goto oom;
    r->n_train = n_tr, r->n_test = n_te;

    if (model_build(&md, spec, train->c, train->h, train->w, train->n_classes, err, sizeof err)) {
        snprintf(r->message, sizeof r->message, "%s", err);
        goto done;
    }
    /* images that are mostly zeros are kept as their nonzeros too, for kinds that use them */
    if (md.sparse_input && (split_sparsify(&tr) || split_sparsify(&te))) goto oom;
    if (tr.sp || te.sp) {
        long most = 0; /* nonzeros of the fullest row */
        for (int k = 0; k < 2; k++) {
            const Split *sp = k ? &te : &tr;
            for (int i = 0; sp->sp && i < sp->n; i++)
                if (sp->sp->start[i + 1] - sp->sp->start[i] > most) most = (long)(sp->sp->start[i + 1] - sp->sp->start[i]);
        }
        if (model_sparse_prepare(&md, most * spec->batch_size)) goto oom;
    }
    const Mlp *m = md.kind->head(&md);
    int B = spec->batch_size;
    if (spec->time_limit > 0) md.deadline = now_s() + spec->time_limit;
    r->n_layers = m->n_layers;
    for (int i = 0; i <= m->n_layers; i++) r->sizes[i] = m->sizes[i];
    int has_noise = md.rule->noise_phase && spec->noise_epochs > 0;
    r->snap_mask = snap_mask_of(spec->snapshots, has_noise);
    r->tensors = md.tensors;
    r->n_params = md.tensors.n_params, r->n_fixed = md.tensors.n_fixed;
    size_t snap_floats = (size_t)job_result_n_snaps(r) * (size_t)(r->n_params + r->n_fixed);
    if (snap_floats && !(r->snaps = malloc(snap_floats * sizeof(float)))) goto oom;
    int E = spec->epochs;
    r->n_epochs = E;
    if (E > 0 && !(r->curves = malloc((size_t)N_CURVES * E * sizeof(float)))) goto oom;
    for (size_t i = 0; i < (size_t)N_CURVES * E; i++) r->curves[i] = NAN;
    if (E > 0 && !(r->angle_curve = malloc((size_t)MLP_MAX_LAYERS * E * sizeof(float)))) goto oom;
    for (size_t i = 0; i < (size_t)MLP_MAX_LAYERS * E; i++) r->angle_curve[i] = NAN;
    /* the noise curve: points after evenly spaced batch counts of the whole noise phase */
    long noise_batches = has_noise ? (long)spec->noise_epochs * ((spec->noise_examples + B - 1) / B) : 0;
    NoiseCurve nc = {0};
    nc.n_points = jobspec_noise_points(spec);
    if (nc.n_points > 0) {
        r->n_noise_points = nc.n_points;
        if (!(r->noise_curve = malloc((size_t)NOISE_COLS * nc.n_points * sizeof(float))) ||
            !(noise_at = malloc((size_t)nc.n_points * sizeof(long))))
            goto oom;
        for (size_t i = 0; i < (size_t)NOISE_COLS * nc.n_points; i++) r->noise_curve[i] = NAN;
        for (int k = 0; k < nc.n_points; k++) noise_at[k] = ((long)(k + 1) * noise_batches + nc.n_points - 1) / nc.n_points;
        nc.at = noise_at, nc.out = r->noise_curve;
    }

    /* the kind's own curves, and its unsupervised phase (before the features are cached) */
    int n_mep = 0;
    if (jobspec_model_curves(spec, &n_mep) && n_mep > 0) {
        if (!(r->mcurves = malloc((size_t)N_MODEL_CURVES * n_mep * sizeof(float)))) goto oom;
        for (size_t i = 0; i < (size_t)N_MODEL_CURVES * n_mep; i++) r->mcurves[i] = NAN;
        r->n_mepochs = n_mep;
    }
    if (md.kind->pretrain) {
        int st = md.kind->pretrain(&md, spec, train, r, err, sizeof err);
        if (st == -1) {
            snprintf(r->message, sizeof r->message, "%s", err);
            goto done;
        }
        if (md.stop || st == STATUS_CANCELLED || st == STATUS_TIMEOUT) {
            if (!md.stop) md.stop = st;
            goto stopped;
        }
        if (st > 0) {
            r->status = st;
            snprintf(r->message, sizeof r->message, "%s", err);
            goto done;
        }
        if (weights_diverged(&md, r, "after the unsupervised phase")) goto done;
    }
    /* training features are reused every epoch, test features at every evaluation (kept
     * when their n_test x feat_dim floats fit cache_budget_mb; not when an image has several
     * feature rows, whose evaluation combines them) */
    if (md.feat_dim > 0 && (spec->cache_features || md.features_required) &&
        (cache_features(&md, &tr) ||
         (md.feat_rows == 1 && spec->cache_features &&
          (double)n_te * md.feat_dim * sizeof(float) <= spec->cache_budget_mb * 1048576.0 && cache_features(&md, &te))))
        goto oom;
    /* a batch of data rows (images or cached features) or of noise images */
    int img = train->c * train->h * train->w;
    perm = malloc((size_t)(tr.n > 0 ? tr.n : 1) * sizeof(int)); /* rows: n_tr * feat_rows once cached */
    xbuf = malloc((size_t)B * (img > tr.d ? img : tr.d) * sizeof(float));
    ybuf = malloc((size_t)B);
    if (!perm || !xbuf || !ybuf) goto oom;

    for (int t = 0; t < n_tasks; t++)
        if (tasks[t].train->c * tasks[t].train->h * tasks[t].train->w != img ||
            tasks[t].test->c * tasks[t].test->h * tasks[t].test->w != img) {
            snprintf(r->message, sizeof r->message, "meta task %d has images of another size than %s", t, spec->dataset);
            goto done;
        }
    layer_metrics(m, r->layer[STAGE_INIT]);
    stage_readout(&md, &te, &r->m, STAGE_INIT);
    snapshot(&md, r, STAGE_INIT);
    r->m.meta_loss[STAGE_INIT] = meta_loss(&md, spec, sc, tasks, n_tasks, xbuf, ybuf);

    if (has_noise) {
        Rng nr;
        rng_seed(&nr, (uint64_t)spec->seed, RNG_STREAM_NOISE);
        md.opt.lr = (float)spec->noise_lr;
        for (int e = 0; e < spec->noise_epochs && !md.stop; e++)
            r->m.noise_loss = noise_epoch(&md, spec->noise_examples, spec->noise_std, &nr, xbuf, ybuf,
                                          nc.n_points ? &nc : NULL);
        if (md.stop) goto stopped;
        if (!isfinite(r->m.noise_loss)) {
            r->status = STATUS_DIVERGED;
            snprintf(r->message, sizeof r->message, "noise-phase loss became %g", r->m.noise_loss);
            goto done;
        }
        if (weights_diverged(&md, r, "after the noise phase")) goto done;
        if (spec->noise_adam_reset) optim_reset(&md.opt);
        md.opt.lr = (float)spec->lr;
        layer_metrics(m, r->layer[STAGE_AFTER_NOISE]);
        stage_readout(&md, &te, &r->m, STAGE_AFTER_NOISE);
        snapshot(&md, r, STAGE_AFTER_NOISE);
        r->m.meta_loss[STAGE_AFTER_NOISE] = meta_loss(&md, spec, sc, tasks, n_tasks, xbuf, ybuf);
    }

    Rng shuffle;
    rng_seed(&shuffle, (uint64_t)spec->seed, RNG_STREAM_SHUFFLE);
    double auc = 0.0, last_loss = NAN;
    int n_eval = 0;
    for (int e = 0; e < E && n_tr > 0; e++) {
        double l = last_loss = train_epoch(&md, &tr, &shuffle, perm, xbuf, ybuf);
        if (md.stop) goto stopped;
        if (!isfinite(l)) {
            r->status = STATUS_DIVERGED;
            snprintf(r->message, sizeof r->message, "training loss became %g in epoch %d", l, e + 1);
            goto done;
        }
        layer_angles(m, r->angle_curve + (size_t)e * MLP_MAX_LAYERS);
        if (md.kind->epoch_end) md.kind->epoch_end(&md, e, r);
        char when[32];
        snprintf(when, sizeof when, "in epoch %d", e + 1);
        if (weights_diverged(&md, r, when)) goto done;
        /* the last epoch's point is the final evaluation below */
        if (e == E - 1 || spec->eval_every == 0 || (e + 1) % spec->eval_every != 0) continue;
        if (spec->eval_train) {
            EvalStats et = evaluate(&md, &tr);
            r->curves[CURVE_TRAIN_LOSS * E + e] = (float)et.loss;
            r->curves[CURVE_TRAIN_ACC * E + e] = (float)et.acc;
        } else {
            r->curves[CURVE_TRAIN_LOSS * E + e] = (float)l;
        }
        EvalStats ev = evaluate(&md, &te);
        r->curves[CURVE_TEST_LOSS * E + e] = (float)ev.loss;
        r->curves[CURVE_TEST_ACC * E + e] = (float)ev.acc;
        auc += ev.acc, n_eval++;
    }
    /* the final passes also find the dead units (train) and the Gram matrices (test) */
    Probe ptr = {{0}, NULL}, pte = {{0}, NULL};
    int n_hidden = 0;
    for (int l = 1; l < m->n_layers; l++) n_hidden += m->sizes[l];
    if (n_hidden && !(ptr.alive = calloc((size_t)n_hidden, 1))) goto oom;
    for (int l = 0; l < m->n_layers - 1; l++)
        if (!(pte.gram[l] = calloc((size_t)m->sizes[l + 1] * m->sizes[l + 1], sizeof(float)))) {
            free(ptr.alive);
            for (int k = 0; k < l; k++) free(pte.gram[k]);
            goto oom;
        }
    EvalStats ft = evaluate_probe(&md, &tr, &ptr), fe = evaluate_probe(&md, &te, &pte);
    if (n_hidden && n_tr > 0) {
        int dead = 0;
        for (int j = 0; j < n_hidden; j++) dead += !ptr.alive[j];
        r->m.dead_fraction = (double)dead / n_hidden;
    }
    gram_eranks(m, pte.gram, r->layer[STAGE_FINAL][LM_GRAM_ERANK]);
    free(ptr.alive);
    for (int l = 0; l < m->n_layers - 1; l++) free(pte.gram[l]);
    if (E > 0 && n_tr > 0) {
        r->curves[CURVE_TRAIN_LOSS * E + E - 1] = (float)(spec->eval_train ? ft.loss : last_loss);
        if (spec->eval_train) r->curves[CURVE_TRAIN_ACC * E + E - 1] = (float)ft.acc;
        r->curves[CURVE_TEST_LOSS * E + E - 1] = (float)fe.loss;
        r->curves[CURVE_TEST_ACC * E + E - 1] = (float)fe.acc;
        auc += fe.acc, n_eval++;
    }
    r->m.train_loss = ft.loss, r->m.train_acc = ft.acc;
    r->m.test_loss = fe.loss, r->m.test_acc = fe.acc;
    r->m.gap_loss = ft.loss - fe.loss, r->m.gap_acc = ft.acc - fe.acc;
    r->m.auc_test_acc = n_eval > 0 ? auc / n_eval : NAN;
    r->m.readout_p_true_mean = fe.p_true_mean, r->m.readout_p_true_std = fe.p_true_std;
    r->m.readout_p_max_mean = fe.p_max_mean;
    if (!isfinite(fe.loss)) {
        r->status = STATUS_DIVERGED;
        snprintf(r->message, sizeof r->message, "test loss is %g", fe.loss);
        goto done;
    }
    layer_metrics(m, r->layer[STAGE_FINAL]);
    if (md.kind->final_metrics) md.kind->final_metrics(&md, &te, &r->m);
    snapshot(&md, r, STAGE_FINAL);
    r->m.meta_loss[STAGE_FINAL] = meta_loss(&md, spec, sc, tasks, n_tasks, xbuf, ybuf);
    r->m.top_angle_init = r->layer[STAGE_INIT][LM_ANGLE][m->n_layers - 1];
    r->m.top_angle_final = r->layer[STAGE_FINAL][LM_ANGLE][m->n_layers - 1];
    r->status = STATUS_OK;
    goto done;
stopped:
    r->status = md.stop;
    if (md.stop == STATUS_TIMEOUT)
        snprintf(r->message, sizeof r->message, "stopped after time_limit = %g s", spec->time_limit);
    else
        snprintf(r->message, sizeof r->message, "cancelled");
    goto done;
oom:
    snprintf(r->message, sizeof r->message, "out of memory");
done:
    if (r->status != STATUS_OK) {
        /* partial snapshots are not results */
        free(r->snaps);
        r->snaps = NULL;
        r->snap_mask = 0;
    }
    free(idx), free(perm), free(xbuf), free(ybuf), free(noise_at), free(held);
    split_free(&tr), split_free(&te);
    model_free(&md);
    return r->status;
}
