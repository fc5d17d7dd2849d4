/*
 * train.c: the job driver. Order of work: choose the training subset, fit the scaling,
 * build and initialise the model, [noise phase], data epochs with per-epoch evaluation,
 * final metrics and snapshots. Random streams per concern (rng.h) keep any part of the
 * job independent of how much randomness another part used.
 */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

EvalStats evaluate(Mlp *m, const Split *s) {
    EvalStats e = {0};
    int C = s->n_classes, B = m->max_batch;
    long correct = 0;
    double loss = 0.0, pt = 0.0, pt2 = 0.0, pm = 0.0;
    for (int i = 0; i < s->n; i += B) {
        int b = s->n - i < B ? s->n - i : B;
        loss += mlp_forward(m, s->x + (size_t)i * s->d, s->y + i, b, &correct) * b;
        for (int r = 0; r < b; r++) {
            const float *p = m->probs + (size_t)r * C;
            double t = p[s->y[i + r]], mx = p[0];
            for (int c = 1; c < C; c++) mx = p[c] > mx ? p[c] : mx;
            pt += t, pt2 += t * t, pm += mx;
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

static void train_step(Mlp *m, Optim *o, const float *x, const uint8_t *y, int b, double *loss) {
    *loss += mlp_forward(m, x, y, b, NULL);
    mlp_zero_grad(m);
    mlp_backward(m, y, b);
    optim_step(o, m->params, m->grads);
}

double train_epoch(Mlp *m, Optim *o, const Split *s, Rng *shuffle, int *perm, float *xbuf,
                   uint8_t *ybuf) {
    int n = s->n, d = s->d, B = m->max_batch, n_batches = 0;
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
        train_step(m, o, xbuf, ybuf, b, &loss);
    }
    return n_batches ? loss / n_batches : NAN;
}

double noise_epoch(Mlp *m, Optim *o, long n_examples, double std, Rng *r, float *xbuf,
                   uint8_t *ybuf) {
    int d = m->sizes[0], C = m->sizes[m->n_layers], B = m->max_batch, n_batches = 0;
    double loss = 0.0;
    for (long i = 0; i < n_examples; i += B, n_batches++) {
        int b = n_examples - i < B ? (int)(n_examples - i) : B;
        for (size_t k = 0; k < (size_t)b * d; k++) xbuf[k] = (float)(std * rng_normal(r));
        for (int k = 0; k < b; k++) ybuf[k] = (uint8_t)rng_below(r, (uint32_t)C);
        train_step(m, o, xbuf, ybuf, b, &loss);
    }
    return n_batches ? loss / n_batches : NAN;
}

/* Per-layer geometry at one stage: angle W vs feedback (fa only), per-neuron angles, erank. */
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

static void snapshot(const Mlp *m, JobResult *r, int stage) {
    if (!((r->snap_mask >> stage) & 1)) return;
    int k = 0;
    for (int s = 0; s < stage; s++) k += (r->snap_mask >> s) & 1;
    float *dst = r->snaps + (size_t)k * (size_t)(r->n_params + r->n_fb);
    memcpy(dst, m->params, m->n_params * sizeof(float));
    if (m->n_fb) memcpy(dst + m->n_params, m->fb, m->n_fb * sizeof(float));
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

int train_job(const JobSpec *spec, const RawSplit *train, const RawSplit *test, JobResult *r) {
    Mlp m = {0};
    Optim o = {0};
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
    if (strcmp(spec->model, "mlp") != 0) {
        snprintf(r->message, sizeof r->message, "model '%s' is not built yet", spec->model);
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

    int sizes[MLP_MAX_LAYERS + 1], h[MLP_MAX_LAYERS];
    int nh = jobspec_hidden(spec, h);
    sizes[0] = tr.d;
    for (int i = 0; i < nh; i++) sizes[i + 1] = h[i];
    sizes[nh + 1] = tr.n_classes;
    int is_noise = strcmp(spec->rule, "fa_noise") == 0;
    FeedbackRule rule = strcmp(spec->rule, "bp") == 0 ? RULE_BP
                        : strcmp(spec->rule, "dfa") == 0 ? RULE_DFA : RULE_FA;
    int B = spec->batch_size;
    if (mlp_create(&m, sizes, nh + 2, rule, B)) goto oom;
    if (mlp_init(&m, spec->init, spec->init_scale, spec->feedback, spec->feedback_scale,
                 (uint64_t)spec->seed)) {
        snprintf(r->message, sizeof r->message, "unknown distribution '%s' or '%s'", spec->init,
                 spec->feedback);
        goto done;
    }
    r->n_layers = m.n_layers;
    r->rule = rule;
    for (int i = 0; i <= m.n_layers; i++) r->sizes[i] = sizes[i];
    int has_noise = is_noise && spec->noise_epochs > 0;
    r->snap_mask = snap_mask_of(spec->snapshots, has_noise);
    r->n_params = (int64_t)m.n_params, r->n_fb = (int64_t)m.n_fb;
    size_t snap_floats = (size_t)job_result_n_snaps(r) * (m.n_params + m.n_fb);
    if (snap_floats && !(r->snaps = malloc(snap_floats * sizeof(float)))) goto oom;
    r->n_epochs = spec->epochs;
    if (spec->epochs > 0 && !(r->curves = malloc((size_t)N_CURVES * spec->epochs * sizeof(float))))
        goto oom;
    for (size_t i = 0; i < (size_t)N_CURVES * spec->epochs; i++) r->curves[i] = NAN;

    OptKind ok = strcmp(spec->optimizer, "sgd") == 0 ? OPT_SGD : OPT_ADAM;
    if (optim_create(&o, ok, m.n_params, (float)spec->lr, (float)spec->beta1, (float)spec->beta2,
                     (float)spec->eps, (float)spec->momentum, (float)spec->weight_decay))
        goto oom;
    perm = malloc((size_t)(n_tr > 0 ? n_tr : 1) * sizeof(int));
    xbuf = malloc((size_t)B * tr.d * sizeof(float));
    ybuf = malloc((size_t)B);
    if (!perm || !xbuf || !ybuf) goto oom;

    layer_metrics(&m, r->layer[STAGE_INIT]);
    snapshot(&m, r, STAGE_INIT);

    if (has_noise) {
        Rng nr;
        rng_seed(&nr, (uint64_t)spec->seed, RNG_STREAM_NOISE);
        o.lr = (float)spec->noise_lr;
        for (int e = 0; e < spec->noise_epochs; e++)
            r->m.noise_loss = noise_epoch(&m, &o, spec->noise_examples, spec->noise_std, &nr,
                                          xbuf, ybuf);
        if (!isfinite(r->m.noise_loss)) {
            r->status = STATUS_DIVERGED;
            snprintf(r->message, sizeof r->message, "noise-phase loss became %g", r->m.noise_loss);
            goto done;
        }
        if (spec->noise_adam_reset) optim_reset(&o);
        o.lr = (float)spec->lr;
        layer_metrics(&m, r->layer[STAGE_AFTER_NOISE]);
        snapshot(&m, r, STAGE_AFTER_NOISE);
    }

    Rng shuffle;
    rng_seed(&shuffle, (uint64_t)spec->seed, RNG_STREAM_SHUFFLE);
    double auc = 0.0;
    int E = spec->epochs;
    for (int e = 0; e < E && n_tr > 0; e++) {
        double l = train_epoch(&m, &o, &tr, &shuffle, perm, xbuf, ybuf);
        if (!isfinite(l)) {
            r->status = STATUS_DIVERGED;
            snprintf(r->message, sizeof r->message, "training loss became %g in epoch %d", l,
                     e + 1);
            goto done;
        }
        if (spec->eval_train) {
            EvalStats et = evaluate(&m, &tr);
            r->curves[CURVE_TRAIN_LOSS * E + e] = (float)et.loss;
            r->curves[CURVE_TRAIN_ACC * E + e] = (float)et.acc;
        } else {
            r->curves[CURVE_TRAIN_LOSS * E + e] = (float)l;
        }
        EvalStats ev = evaluate(&m, &te);
        r->curves[CURVE_TEST_LOSS * E + e] = (float)ev.loss;
        r->curves[CURVE_TEST_ACC * E + e] = (float)ev.acc;
        auc += ev.acc;
    }
    EvalStats ft = evaluate(&m, &tr), fe = evaluate(&m, &te);
    r->m.train_loss = ft.loss, r->m.train_acc = ft.acc;
    r->m.test_loss = fe.loss, r->m.test_acc = fe.acc;
    r->m.gap_loss = ft.loss - fe.loss, r->m.gap_acc = ft.acc - fe.acc;
    r->m.auc_test_acc = E > 0 ? auc / E : NAN;
    r->m.readout_p_true_mean = fe.p_true_mean, r->m.readout_p_true_std = fe.p_true_std;
    r->m.readout_p_max_mean = fe.p_max_mean;
    if (!isfinite(fe.loss)) {
        r->status = STATUS_DIVERGED;
        snprintf(r->message, sizeof r->message, "test loss is %g", fe.loss);
        goto done;
    }
    layer_metrics(&m, r->layer[STAGE_FINAL]);
    snapshot(&m, r, STAGE_FINAL);
    r->m.top_angle_init = r->layer[STAGE_INIT][LM_ANGLE][m.n_layers - 1];
    r->m.top_angle_final = r->layer[STAGE_FINAL][LM_ANGLE][m.n_layers - 1];
    r->status = STATUS_OK;
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
    optim_free(&o);
    mlp_free(&m);
    return r->status;
}
