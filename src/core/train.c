/*
 * train.c: the job driver. Order of work: choose the training subset, fit the scaling,
 * build and initialise the model, [cache frozen conv features], [noise phase], data epochs
 * with evaluations, final metrics and snapshots. Random streams per concern (rng.h) keep
 * any part of the job independent of how much randomness another part used.
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
static int should_stop(Model *md) {
    if (cancel_flag && *cancel_flag) md->stop = STATUS_CANCELLED;
    else if (md->deadline > 0 && now_s() > md->deadline) md->stop = STATUS_TIMEOUT;
    return md->stop;
}

void model_free(Model *md) {
    mlp_free(&md->m);
    cnn_free(&md->c);
    optim_free(&md->o);
    optim_free(&md->oc);
    free(md->feat);
    memset(md, 0, sizeof(*md));
}

int model_build(Model *md, const JobSpec *spec, int C, int H, int W, int n_classes, char *err,
                size_t errlen) {
    memset(md, 0, sizeof(*md));
    int B = spec->batch_size, in = C * H * W, trained_conv = 0;
    DistParams d;
    if (!strcmp(spec->model, "cnn")) {
        trained_conv = !strcmp(spec->conv_dist, "trained");
        int K = spec->conv_size, pad = !strcmp(spec->conv_padding, "same") ? (K - 1) / 2 : 0;
        if (cnn_create(&md->c, C, H, W, spec->conv_kernels, K, pad, spec->fc_pool, trained_conv, B)) {
            snprintf(err, errlen, "cnn: %dx%d kernels (padding %s) and fc_pool %d do not fit %dx%d images",
                     K, K, spec->conv_padding, spec->fc_pool, H, W);
            goto fail;
        }
        jobspec_dist(spec, trained_conv ? "kaiming" : spec->conv_dist, spec->conv_scale, K, &d);
        if (cnn_init(&md->c, &d, (uint64_t)spec->seed)) {
            snprintf(err, errlen, "conv_dist %s cannot draw %dx%d kernels", spec->conv_dist, K, K);
            goto fail;
        }
        md->has_cnn = 1;
        md->cached = !trained_conv && spec->cache_features;
        in = md->c.feat_dim;
        if (!(md->feat = malloc((size_t)B * in * sizeof(float)))) goto oom;
    }
    int sizes[MLP_MAX_LAYERS + 1], h[MLP_MAX_LAYERS];
    int nh = jobspec_hidden(spec, h);
    sizes[0] = in;
    for (int i = 0; i < nh; i++) sizes[i + 1] = h[i];
    sizes[nh + 1] = n_classes;
    FeedbackRule rule = !strcmp(spec->rule, "bp") ? RULE_BP : !strcmp(spec->rule, "dfa") ? RULE_DFA : RULE_FA;
    if (mlp_create(&md->m, sizes, nh + 2, rule, B, trained_conv)) goto oom;
    DistParams di, dfb;
    jobspec_dist(spec, spec->init, spec->init_scale, 0, &di);
    jobspec_dist(spec, spec->feedback, spec->feedback_scale, 0, &dfb);
    if (mlp_init(&md->m, &di, &dfb, (uint64_t)spec->seed)) {
        snprintf(err, errlen, "init %s / feedback %s cannot fill the FC layers", spec->init, spec->feedback);
        goto fail;
    }
    OptKind ok = !strcmp(spec->optimizer, "sgd") ? OPT_SGD : OPT_ADAM;
    if (optim_create(&md->o, ok, md->m.n_params, (float)spec->lr, (float)spec->beta1,
                     (float)spec->beta2, (float)spec->eps, (float)spec->momentum,
                     (float)spec->weight_decay))
        goto oom;
    if (trained_conv && optim_create(&md->oc, ok, md->c.n_params, (float)spec->lr, (float)spec->beta1,
                                     (float)spec->beta2, (float)spec->eps, (float)spec->momentum,
                                     (float)spec->weight_decay))
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory building the model");
fail:
    model_free(md);
    return -1;
}

/* The FC head's input for b rows of x: x itself, or the CNN's features of images x. */
static const float *head_input(Model *md, const float *x, int b, int x_is_image) {
    if (!x_is_image) return x;
    cnn_forward(&md->c, x, b, md->feat);
    return md->feat;
}

/* What the final evaluation passes also collect about the hidden layers. */
typedef struct Probe {
    float *gram[MLP_MAX_LAYERS]; /* (H, H) sums of A^T A per hidden layer, or NULL */
    char *alive;                 /* one flag per hidden unit (all hidden layers in order), or NULL */
} Probe;

static EvalStats evaluate_probe(Model *md, const Split *s, Probe *pr) {
    EvalStats e = {0};
    Mlp *m = &md->m;
    int C = s->n_classes, B = m->max_batch, image = md->has_cnn && !s->features, L = m->n_layers;
    long correct = 0;
    double loss = 0.0, pt = 0.0, pt2 = 0.0, pm = 0.0;
    for (int i = 0; i < s->n; i += B) {
        int b = s->n - i < B ? s->n - i : B;
        const float *in = head_input(md, s->x + (size_t)i * s->d, b, image);
        loss += mlp_forward(m, in, s->y + i, b, &correct) * b;
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
    double n = s->n ? s->n : NAN;
    e.loss = loss / n;
    e.acc = correct / n;
    e.p_true_mean = pt / n;
    e.p_true_std = sqrt(fmax(pt2 / n - e.p_true_mean * e.p_true_mean, 0.0));
    e.p_max_mean = pm / n;
    return e;
}

EvalStats evaluate(Model *md, const Split *s) { return evaluate_probe(md, s, NULL); }

static void train_step(Model *md, const float *x, const uint8_t *y, int b, int x_is_image, double *loss) {
    Mlp *m = &md->m;
    *loss += mlp_forward(m, head_input(md, x, b, x_is_image), y, b, NULL);
    mlp_zero_grad(m);
    mlp_backward(m, y, b);
    if (md->has_cnn && md->c.trainable) {
        cnn_zero_grad(&md->c);
        cnn_backward(&md->c, x, m->dinp, b);
        optim_step(&md->oc, md->c.params, md->c.grads);
    }
    optim_step(&md->o, m->params, m->grads);
}

double train_epoch(Model *md, const Split *s, Rng *shuffle, int *perm, float *xbuf, uint8_t *ybuf) {
    int n = s->n, d = s->d, B = md->m.max_batch, n_batches = 0, image = md->has_cnn && !s->features;
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(shuffle, (uint32_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    double loss = 0.0;
    for (int i = 0; i < n; i += B, n_batches++) {
        int b = n - i < B ? n - i : B;
        for (int r = 0; r < b; r++) {
            memcpy(xbuf + (size_t)r * d, s->x + (size_t)perm[i + r] * d, (size_t)d * sizeof(float));
            ybuf[r] = s->y[perm[i + r]];
        }
        train_step(md, xbuf, ybuf, b, image, &loss);
        if (should_stop(md)) {
            n_batches++;
            break;
        }
    }
    return n_batches ? loss / n_batches : NAN;
}

double noise_epoch(Model *md, long n_examples, double std, Rng *r, float *xbuf, uint8_t *ybuf) {
    Mlp *m = &md->m;
    int d = md->has_cnn ? md->c.C * md->c.H * md->c.W : m->sizes[0];
    int C = m->sizes[m->n_layers], B = m->max_batch, n_batches = 0;
    double loss = 0.0;
    for (long i = 0; i < n_examples; i += B, n_batches++) {
        int b = n_examples - i < B ? (int)(n_examples - i) : B;
        for (size_t k = 0; k < (size_t)b * d; k++) xbuf[k] = (float)(std * rng_normal(r));
        for (int k = 0; k < b; k++) ybuf[k] = (uint8_t)rng_below(r, (uint32_t)C);
        /* noise images always pass through the conv: it sees pixels, not features */
        train_step(md, xbuf, ybuf, b, md->has_cnn, &loss);
        if (should_stop(md)) {
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
 * and the optimizers' state are restored afterwards. Images get the job's scaling.
 */
static double meta_loss(Model *md, const JobSpec *spec, Scaling sc, const TaskData *tasks,
                        int n_tasks, float *xbuf, uint8_t *ybuf) {
    if (n_tasks == 0) return NAN;
    Mlp *m = &md->m;
    int B = spec->batch_size, K = spec->meta_steps, trainable = md->has_cnn && md->c.trainable;
    double sum = 0.0;
    float *keep_m = malloc(m->n_params * sizeof(float));
    float *keep_c = trainable ? malloc(md->c.n_params * sizeof(float)) : NULL;
    Optim keep_o = md->o, keep_oc = md->oc, inner = {0}, inner_c = {0};
    if (!keep_m || (trainable && !keep_c)) goto fail;
    memcpy(keep_m, m->params, m->n_params * sizeof(float));
    if (trainable) memcpy(keep_c, md->c.params, md->c.n_params * sizeof(float));
    for (int t = 0; t < n_tasks; t++) {
        const RawSplit *tr = tasks[t].train, *te = tasks[t].test;
        int *idx = malloc((size_t)tr->n * sizeof(int));
        Split st = {0}, se = {0};
        char err[128];
        int n = idx ? subset_choose(tr, 0, K * B, (uint64_t)spec->seed * 31 + (uint64_t)t + 1, idx, err, sizeof err) : -1;
        int ok = n > 0 && !split_make(&st, tr, idx, n, sc) &&
                 !split_make(&se, te, NULL, spec->meta_test_size < te->n ? spec->meta_test_size : te->n, sc) &&
                 !optim_create(&inner, OPT_ADAM, m->n_params, (float)spec->meta_lr, 0.9f, 0.999f, 1e-8f, 0, 0) &&
                 (!trainable || !optim_create(&inner_c, OPT_ADAM, md->c.n_params, (float)spec->meta_lr, 0.9f, 0.999f, 1e-8f, 0, 0));
        if (ok) {
            md->o = inner, md->oc = inner_c;
            double l = 0.0;
            for (int k = 0; k < K; k++) {
                int lo = (k * B) % n, b = n - lo < B ? n - lo : B;
                memcpy(xbuf, st.x + (size_t)lo * st.d, (size_t)b * st.d * sizeof(float));
                memcpy(ybuf, st.y + lo, (size_t)b);
                train_step(md, xbuf, ybuf, b, md->has_cnn, &l);
            }
            sum += evaluate(md, &se).loss;
            md->o = keep_o, md->oc = keep_oc;
        }
        optim_free(&inner), optim_free(&inner_c);
        split_free(&st), split_free(&se);
        free(idx);
        memcpy(m->params, keep_m, m->n_params * sizeof(float));
        if (trainable) memcpy(md->c.params, keep_c, md->c.n_params * sizeof(float));
        if (!ok) goto fail;
    }
    free(keep_m), free(keep_c);
    return sum / n_tasks;
fail:
    free(keep_m), free(keep_c);
    return NAN;
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

static void snapshot(const Model *md, JobResult *r, int stage) {
    if (!((r->snap_mask >> stage) & 1)) return;
    int k = 0;
    for (int s = 0; s < stage; s++) k += (r->snap_mask >> s) & 1;
    float *dst = r->snaps + (size_t)k * (size_t)(r->n_conv + r->n_params + r->n_fb);
    if (r->n_conv) memcpy(dst, md->c.params, md->c.n_params * sizeof(float));
    memcpy(dst + r->n_conv, md->m.params, md->m.n_params * sizeof(float));
    if (md->m.n_fb) memcpy(dst + r->n_conv + r->n_params, md->m.fb, md->m.n_fb * sizeof(float));
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

/* Replaces the images of *s by the frozen CNN's features (computed once per image). */
static int cache_features(Model *md, Split *s) {
    Split f = {0};
    int fd = md->c.feat_dim, B = md->m.max_batch;
    f.n = s->n, f.d = fd, f.n_classes = s->n_classes, f.features = 1;
    f.x = malloc((size_t)s->n * fd * sizeof(float) + 1);
    f.y = malloc((size_t)s->n + 1);
    if (!f.x || !f.y) {
        split_free(&f);
        return -1;
    }
    for (int i = 0; i < s->n; i += B) {
        int b = s->n - i < B ? s->n - i : B;
        cnn_forward(&md->c, s->x + (size_t)i * s->d, b, f.x + (size_t)i * fd);
    }
    memcpy(f.y, s->y, (size_t)s->n);
    split_free(s);
    *s = f;
    return 0;
}

int train_job(const JobSpec *spec, const RawSplit *train, const RawSplit *test,
              const TaskData *tasks, int n_tasks, JobResult *r) {
    Model md = {0};
    Split tr = {0}, te = {0};
    int *idx = NULL, *perm = NULL;
    float *xbuf = NULL;
    uint8_t *ybuf = NULL;
    char err[256];
    r->status = STATUS_FAILED;

    if (jobspec_check(spec, err, sizeof err)) {
        snprintf(r->message, sizeof r->message, "%s", err);
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
    if (split_make(&tr, train, idx, n_tr, sc) || split_make(&te, test, NULL, n_te, sc)) goto oom;
    r->n_train = n_tr, r->n_test = n_te;

    if (model_build(&md, spec, train->c, train->h, train->w, train->n_classes, err, sizeof err)) {
        snprintf(r->message, sizeof r->message, "%s", err);
        goto done;
    }
    Mlp *m = &md.m;
    int B = spec->batch_size;
    if (spec->time_limit > 0) md.deadline = now_s() + spec->time_limit;
    r->n_layers = m->n_layers;
    r->rule = m->rule;
    for (int i = 0; i <= m->n_layers; i++) r->sizes[i] = m->sizes[i];
    r->need_dinput = m->need_dinput;
    if (md.has_cnn) {
        r->n_conv = (int64_t)md.c.n_params;
        r->conv_shape[0] = md.c.N, r->conv_shape[1] = md.c.C, r->conv_shape[2] = md.c.K;
    }
    int has_noise = !strcmp(spec->rule, "fa_noise") && spec->noise_epochs > 0;
    r->snap_mask = snap_mask_of(spec->snapshots, has_noise);
    r->n_params = (int64_t)m->n_params, r->n_fb = (int64_t)m->n_fb;
    size_t snap_floats = (size_t)job_result_n_snaps(r) * (size_t)(r->n_conv + r->n_params + r->n_fb);
    if (snap_floats && !(r->snaps = malloc(snap_floats * sizeof(float)))) goto oom;
    int E = spec->epochs;
    r->n_epochs = E;
    if (E > 0 && !(r->curves = malloc((size_t)N_CURVES * E * sizeof(float)))) goto oom;
    for (size_t i = 0; i < (size_t)N_CURVES * E; i++) r->curves[i] = NAN;

    /* training features are reused every epoch; test features are computed when evaluated
     * (caching them would cost n_test x feat_dim floats per job for one or few passes) */
    if (md.cached && cache_features(&md, &tr)) goto oom;
    /* a batch of data rows (images or cached features) or of noise images */
    int img = train->c * train->h * train->w;
    perm = malloc((size_t)(n_tr > 0 ? n_tr : 1) * sizeof(int));
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
    snapshot(&md, r, STAGE_INIT);
    r->m.meta_loss[STAGE_INIT] = meta_loss(&md, spec, sc, tasks, n_tasks, xbuf, ybuf);

    if (has_noise) {
        Rng nr;
        rng_seed(&nr, (uint64_t)spec->seed, RNG_STREAM_NOISE);
        md.o.lr = md.oc.lr = (float)spec->noise_lr;
        for (int e = 0; e < spec->noise_epochs && !md.stop; e++)
            r->m.noise_loss = noise_epoch(&md, spec->noise_examples, spec->noise_std, &nr, xbuf, ybuf);
        if (md.stop) goto stopped;
        if (!isfinite(r->m.noise_loss)) {
            r->status = STATUS_DIVERGED;
            snprintf(r->message, sizeof r->message, "noise-phase loss became %g", r->m.noise_loss);
            goto done;
        }
        if (spec->noise_adam_reset) {
            optim_reset(&md.o);
            if (md.oc.m) optim_reset(&md.oc);
        }
        md.o.lr = md.oc.lr = (float)spec->lr;
        layer_metrics(m, r->layer[STAGE_AFTER_NOISE]);
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
    free(idx), free(perm), free(xbuf), free(ybuf);
    split_free(&tr), split_free(&te);
    model_free(&md);
    return r->status;
}
