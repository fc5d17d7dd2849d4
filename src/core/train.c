/*
 * train.c: the job driver, the same for every model kind: it calls the kind's row
 * (model.h) and nothing else of it. A job is a sequence of phases (PHASES, below): choose
 * the training subset and fit the scaling; build and initialise the model; lay out the
 * result; [the kind's unsupervised phase]; [cache frozen front-end features], measure the
 * init stage; [noise phase, after_noise stage]; data epochs with evaluations; final
 * metrics and snapshots. What is measured is in measure.c. Random streams per concern
 * (rng.h) keep any part of the job independent of how much randomness another part used.
 */
#include "train.h"

#include "stage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


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

/* One optimiser step on b rows (images, or features when the split holds them). */
static void train_step(Model *md, const float *x, const uint8_t *y, int b, int features, double *loss) {
    *loss += model_step(md, x, y, b, features);
}

double train_epoch(Model *md, const Split *s, Rng *shuffle, int *perm, float *xbuf, uint8_t *ybuf,
                   const Augment *aug) {
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
        /* sparse rows are read where they are; other rows are gathered (augmented: aug) */
        int sparse = s->sp && md->sparse_input && !aug;
        for (int r = 0; r < b; r++) {
            if (aug) augment_row(aug, perm[i + r], xbuf + (size_t)r * d, s->x + (size_t)perm[i + r] * d);
            else if (!sparse) memcpy(xbuf + (size_t)r * d, s->x + (size_t)perm[i + r] * d, (size_t)d * sizeof(float));
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

/* Every tensor at a stage: the params buffer, then the fixed one (r->tensors' layout). */
static void snapshot(const Model *md, JobResult *r, int stage) {
    if (!((r->snap_mask >> stage) & 1)) return;
    int k = 0;
    for (int s = 0; s < stage; s++) k += (r->snap_mask >> s) & 1;
    size_t np = (size_t)md->tensors.n_params, nf = (size_t)md->tensors.n_fixed;
    float *dst = r->snaps + (size_t)k * (np + nf);
    memcpy(dst, md->params, np * sizeof(float));
    memcpy(dst + np, md->fixed, nf * sizeof(float));
    if (md->kind->snapshot_order) md->kind->snapshot_order(md, md->params, md->fixed, dst, dst + np);
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

/* Replaces the images of *s by the frozen front-end's features (computed once per image, or
 * copied from `from`: the same features, shared by another job): a row per feature vector
 * (kind->features), or with `eval` a row per image of its feat_rows vectors (kind->eval_features). */
static int cache_features(Model *md, Split *s, const float *from, int eval) {
    Split f = {0};
    int fd = md->feat_dim, B = md->max_batch;
    int R = md->feat_rows; /* rows per image */
    f.n = eval ? s->n : s->n * R, f.d = eval ? R * fd : fd, f.n_classes = s->n_classes, f.features = eval ? 2 : 1;
    f.borrowed = from != NULL; /* another job's, read in place (never written) */
    f.x = from ? (float *)from : split_alloc((size_t)f.n * f.d * sizeof(float) + 1);
    f.y = malloc((size_t)f.n + 1);
    if (!f.x || !f.y) {
        split_free(&f);
        return -1;
    }
    for (int i = 0; !from && i < s->n; i += B) {
        int b = s->n - i < B ? s->n - i : B;
        (eval ? md->kind->eval_features : md->kind->features)(md, s->x + (size_t)i * s->d, b, f.x + (size_t)i * R * fd);
    }
    if (eval) memcpy(f.y, s->y, (size_t)s->n);
    else
        for (int i = 0; i < s->n; i++) memset(f.y + (size_t)i * R, s->y[i], (size_t)R);
    split_free(s);
    *s = f;
    return 0;
}

/*
 * One job's state while it runs, shared by the phases of train_job. Each phase returns
 * PH_NEXT to go on, or ends the job: PH_DONE (r->status and r->message are set), PH_STOPPED
 * (md.stop: a time limit or cancellation), PH_OOM.
 */
typedef struct Job {
    const JobSpec *spec;
    const RawSplit *train, *test;
    const TaskData *tasks;
    int n_tasks;
    JobResult *r;
    Model md;
    Split tr, te;
    Scaling sc;
    int *idx, *perm, *held;  /* training rows drawn; epoch order; heldout test rows */
    Augment aug_at, *aug;    /* the training images' augmentation (its epoch); aug NULL: none */
    float *xbuf;             /* a batch of rows (images, features or noise) */
    uint8_t *ybuf;
    long *noise_at;          /* batch counts of the noise curve's points */
    NoiseCurve nc;
    int has_noise;
    double last_loss;        /* the last data epoch's mean minibatch loss */
    const float *pinned;     /* te.x when it is a shared stage's output, pinned in the cache */
    double auc;              /* sum of the evaluated epochs' test accuracies, n_eval of them */
    int n_eval;
    int has[N_SHARE];        /* has[st]: the job has stage st to share (stage.h), under key[st] */
    StageKey key[N_SHARE];
    char err[256];
} Job;

enum { PH_NEXT = 0, PH_DONE, PH_STOPPED, PH_OOM };

/* Ends the job as failed with the message in J->err. */
static int fail(Job *J) {
    snprintf(J->r->message, sizeof J->r->message, "%s", J->err);
    return PH_DONE;
}

/*
 * Shared stages (stage.h). Where a stage's output lives in J: the noise phase's is the
 * model's buffers, the optimiser's moments and the noise curve; an unsupervised phase's is
 * the kind's learned fixed tensors and its curves. @return the number of parts, or -1 if
 * there are more than STAGE_MAX_PARTS (the stage is then not shared).
 */
static int stage_parts(Job *J, int stage, float **part, size_t *len) {
    Model *md = &J->md;
    JobResult *r = J->r;
    int n = 0;
#define STAGE_PART(p, l)                                    \
    do {                                                   \
        if (n == STAGE_MAX_PARTS) return -1;               \
        part[n] = (p), len[n++] = (size_t)(l);             \
    } while (0)
    if (stage == SHARE_NOISE) {
        STAGE_PART(md->params, md->tensors.n_params);
        STAGE_PART(md->fixed, md->tensors.n_fixed);
        if (md->opt.m) STAGE_PART(md->opt.m, md->opt.n);
        if (md->opt.v) STAGE_PART(md->opt.v, md->opt.n);
        if (r->noise_curve) STAGE_PART(r->noise_curve, (size_t)r->n_noise_points * NOISE_COLS);
    } else {
        for (int i = 0; i < md->tensors.n; i++) {
            const Tensor *t = &md->tensors.t[i];
            if (t->fixed && t->learned) STAGE_PART(model_tensor(md, t), tensor_numel(t));
        }
        if (r->mcurves) STAGE_PART(r->mcurves, (size_t)r->n_mepochs * N_MODEL_CURVES);
    }
#undef STAGE_PART
    return n;
}

/* The cached output of J's stage `stage` if this process has it, else NULL. */
static const StageOut *stage_find(Job *J, int stage) {
    return J->has[stage] && stage_cache_on() ? stage_cache_find(&J->key[stage]) : NULL;
}

/* Continues from the cached output of J's stage (the noise phase, or the kind's unsupervised
 * one) if this process has it. @return 1 if so. */
static int stage_restore(Job *J, int stage) {
    const StageOut *o = stage_find(J, stage);
    float *part[STAGE_MAX_PARTS];
    size_t len[STAGE_MAX_PARTS];
    int n = o ? stage_parts(J, stage, part, len) : -1;
    if (n < 0 || n != o->n_parts) return 0;
    for (int i = 0; i < n; i++)
        if (len[i] != o->len[i]) return 0;
    for (int i = 0; i < n; i++)
        if (len[i]) memcpy(part[i], o->part[i], len[i] * sizeof(float));
    double st[STAGE_MAX_STATE];
    memcpy(st, o->state, sizeof st);
    if (stage == SHARE_NOISE) J->md.opt.t = (long)st[0], J->r->m.noise_loss = st[1];
    else J->md.kind->pretrain_state(&J->md, st, 0);
    J->r->m.stage_seconds_saved += o->seconds;
    return 1;
}

/* Keeps the output of J's stage, just computed in `seconds`, for the jobs that share it. */
static void stage_store(Job *J, int stage, double seconds) {
    StageOut o = {.seconds = seconds};
    if (!J->has[stage] || !stage_cache_on() || (o.n_parts = stage_parts(J, stage, o.part, o.len)) < 0) return;
    if (stage == SHARE_NOISE) o.state[0] = (double)J->md.opt.t, o.state[1] = J->r->m.noise_loss, o.n_state = 2;
    else o.n_state = J->md.kind->pretrain_state(&J->md, o.state, 1);
    stage_cache_put(&J->key[stage], &o);
}

/* The training subset, the scaling, the test rows (heldout: the training records not drawn). */
static int phase_data(Job *J) {
    const JobSpec *spec = J->spec;
    const RawSplit *train = J->train;
    JobResult *r = J->r;
    if (jobspec_check(spec, J->err, sizeof J->err)) return fail(J);
    int heldout = !strcmp(spec->test_split, "heldout");
    if (heldout) J->test = train; /* the test rows are the training split's undrawn records */
    const RawSplit *test = J->test;
    if (!heldout && test->n == 0) {
        snprintf(r->message, sizeof r->message, "%s has no test split here (test_split: heldout tests on the "
                 "training split's records not drawn for training)", spec->dataset);
        return PH_DONE;
    }
    if (train->h != test->h || train->w != test->w || train->c != test->c) {
        snprintf(r->message, sizeof r->message, "train images are %dx%dx%d but test images are %dx%dx%d",
                 train->c, train->h, train->w, test->c, test->h, test->w);
        return PH_DONE;
    }
    if (!(J->idx = malloc((size_t)train->n * sizeof(int)))) return PH_OOM;
    int n_tr = subset_choose(train, spec->train_per_class, spec->train_size,
                             (uint64_t)spec->seed, J->idx, J->err, sizeof J->err);
    if (n_tr < 0) return fail(J);
    J->sc = scaling_fit(train, J->idx, n_tr, strcmp(spec->preprocess, "standardize") == 0);
    int n_te = spec->test_size > 0 && spec->test_size < test->n ? spec->test_size : test->n;
    if (heldout) {
        /* the first test_size of the records the seed did not draw (idx is sorted) */
        if (!(J->held = malloc((size_t)(train->n - n_tr + 1) * sizeof(int)))) return PH_OOM;
        int k = 0, j = 0;
        for (int i = 0; i < train->n; i++) {
            if (j < n_tr && J->idx[j] == i) j++;
            else J->held[k++] = i;
        }
        n_te = spec->test_size > 0 && spec->test_size < k ? spec->test_size : k;
        if (n_te == 0) {
            snprintf(r->message, sizeof r->message, "test_split heldout: every record of %s's training split is drawn "
                     "for training", spec->dataset);
            return PH_DONE;
        }
    }
    if (split_make(&J->tr, train, J->idx, n_tr, J->sc) || split_make(&J->te, test, J->held, n_te, J->sc)) return PH_OOM;
    r->n_train = n_tr, r->n_test = n_te;
    if (strcmp(spec->augment, "none")) /* crop_flip (jobspec_check refused the kinds it cannot apply to) */
        J->aug_at = (Augment){(uint64_t)spec->seed, 0, train->c, train->h, train->w}, J->aug = &J->aug_at;
    return PH_NEXT;
}

/* The model, and its inputs as nonzeros where the kind takes them and the images are sparse. */
static int phase_model(Job *J) {
    Model *md = &J->md;
    if (model_build(md, J->spec, J->train->c, J->train->h, J->train->w, J->train->n_classes, J->err, sizeof J->err))
        return fail(J);
    /* augmented training rows are new images every epoch: only the test split's are kept sparse */
    if (md->sparse_input && ((J->aug == NULL && split_sparsify(&J->tr)) || split_sparsify(&J->te))) return PH_OOM;
    if (J->tr.sp || J->te.sp) {
        long most = 0; /* nonzeros of the fullest row */
        for (int k = 0; k < 2; k++) {
            const Split *sp = k ? &J->te : &J->tr;
            for (int i = 0; sp->sp && i < sp->n; i++)
                if (sp->sp->start[i + 1] - sp->sp->start[i] > most) most = (long)(sp->sp->start[i + 1] - sp->sp->start[i]);
        }
        if (model_sparse_prepare(md, most * J->spec->batch_size)) return PH_OOM;
    }
    if (J->spec->time_limit > 0) md->deadline = now_s() + J->spec->time_limit;
    for (int st = SHARE_PRETRAIN; st < N_SHARE; st++)
        J->has[st] = stage_key(J->spec, st, J->train->c, J->train->h, J->train->w, J->train->n_classes, &J->key[st]);
    return PH_NEXT;
}

/* What the result will hold: sizes, snapshots, curves (NaN until measured), noise curve points. */
static int phase_result(Job *J) {
    const JobSpec *spec = J->spec;
    JobResult *r = J->r;
    const Mlp *m = J->md.kind->head(&J->md);
    r->n_layers = m->n_layers;
    for (int i = 0; i <= m->n_layers; i++) r->sizes[i] = m->sizes[i];
    J->has_noise = J->md.rule->noise_phase && spec->noise_epochs > 0;
    r->snap_mask = snap_mask_of(spec->snapshots, J->has_noise);
    r->tensors = J->md.tensors;
    r->n_params = J->md.tensors.n_params, r->n_fixed = J->md.tensors.n_fixed;
    size_t snap_floats = (size_t)job_result_n_snaps(r) * (size_t)(r->n_params + r->n_fixed);
    if (snap_floats && !(r->snaps = malloc(snap_floats * sizeof(float)))) return PH_OOM;
    int E = spec->epochs;
    r->n_epochs = E;
    if (E > 0 && !(r->curves = malloc((size_t)N_CURVES * E * sizeof(float)))) return PH_OOM;
    for (size_t i = 0; i < (size_t)N_CURVES * E; i++) r->curves[i] = NAN;
    if (E > 0 && !(r->angle_curve = malloc((size_t)MLP_MAX_LAYERS * E * sizeof(float)))) return PH_OOM;
    for (size_t i = 0; i < (size_t)MLP_MAX_LAYERS * E; i++) r->angle_curve[i] = NAN;
    /* the noise curve: points after evenly spaced batch counts of the whole noise phase */
    int B = spec->batch_size;
    long noise_batches = J->has_noise ? (long)spec->noise_epochs * ((spec->noise_examples + B - 1) / B) : 0;
    NoiseCurve *nc = &J->nc;
    nc->n_points = jobspec_noise_points(spec);
    if (nc->n_points > 0) {
        r->n_noise_points = nc->n_points;
        if (!(r->noise_curve = malloc((size_t)NOISE_COLS * nc->n_points * sizeof(float))) ||
            !(J->noise_at = malloc((size_t)nc->n_points * sizeof(long))))
            return PH_OOM;
        for (size_t i = 0; i < (size_t)NOISE_COLS * nc->n_points; i++) r->noise_curve[i] = NAN;
        for (int k = 0; k < nc->n_points; k++)
            J->noise_at[k] = ((long)(k + 1) * noise_batches + nc->n_points - 1) / nc->n_points;
        nc->at = J->noise_at, nc->out = r->noise_curve;
    }
    /* the kind's own curves */
    int n_mep = 0;
    if (jobspec_model_curves(spec, &n_mep) && n_mep > 0) {
        if (!(r->mcurves = malloc((size_t)N_MODEL_CURVES * n_mep * sizeof(float)))) return PH_OOM;
        for (size_t i = 0; i < (size_t)N_MODEL_CURVES * n_mep; i++) r->mcurves[i] = NAN;
        r->n_mepochs = n_mep;
    }
    return PH_NEXT;
}

/* The kind's unsupervised phase (before the features are cached), if it has one. */
static int phase_pretrain(Job *J) {
    Model *md = &J->md;
    if (!md->kind->pretrain) return PH_NEXT;
    snapshot(md, J->r, STAGE_INIT); /* the untrained machine (measure_stage skips it) */
    if (stage_restore(J, SHARE_PRETRAIN)) return PH_NEXT;
    double t0 = now_s();
    int st = md->kind->pretrain(md, J->spec, J->train, J->r, J->err, sizeof J->err);
    if (st == -1) return fail(J);
    if (md->stop || st == STATUS_CANCELLED || st == STATUS_TIMEOUT) {
        if (!md->stop) md->stop = st;
        return PH_STOPPED;
    }
    if (st > 0) {
        J->r->status = st;
        return fail(J);
    }
    if (weights_diverged(md, J->r, "after the unsupervised phase")) return PH_DONE;
    stage_store(J, SHARE_PRETRAIN, now_s() - t0);
    return PH_NEXT;
}

/* Measurements of one stage before the final one: the head's geometry, the test readout, the
 * snapshot and the meta-loss. */
static void measure_stage(Job *J, int stage) {
    layer_metrics(J->md.kind->head(&J->md), J->r->layer[stage]);
    stage_readout(&J->md, &J->te, &J->r->m, stage);
    if (stage != STAGE_INIT || !J->md.kind->pretrain) snapshot(&J->md, J->r, stage); /* else taken before it */
    J->r->m.meta_loss[stage] = meta_loss(&J->md, J->spec, J->sc, J->tasks, J->n_tasks, J->xbuf, J->ybuf);
}

/*
 * The frozen front end's features of the training rows (unless augmented), and of the test rows
 * when they fit cache_budget_mb (a kind with several rows per image keeps them only if it has
 * eval_features): the training rows' computed, the test rows' computed or copied from another
 * job's (a shared stage: the same test rows and front end). @return 0 or -1 (out of memory).
 */
static int prepare_features(Job *J) {
    Model *md = &J->md;
    size_t per_image = (size_t)md->feat_rows * md->feat_dim;
    int eval = md->kind->eval_features != NULL;
    int te = (eval || md->feat_rows == 1) && J->spec->cache_features &&
             (double)J->te.n * per_image * sizeof(float) <= J->spec->cache_budget_mb * 1048576.0;
    if (!J->aug && cache_features(md, &J->tr, NULL, 0)) return -1;
    if (!te) return 0;
    size_t len = (size_t)J->te.n * per_image;
    const StageOut *o = stage_find(J, SHARE_FEATURES);
    if (o && (o->n_parts != 1 || o->len[0] != len)) o = NULL; /* (never: the same key) */
    double t0 = now_s();
    /* another job's features are read in place, pinned in the cache until this job ends */
    if (cache_features(md, &J->te, o ? o->part[0] : NULL, eval)) return -1;
    if (o) {
        J->r->m.stage_seconds_saved += o->seconds;
        stage_cache_pin(J->pinned = J->te.x, 1);
    } else if (J->has[SHARE_FEATURES] && stage_cache_on()) {
        /* given to the cache, not copied: this job reads them there too */
        StageOut so = {.n_parts = 1, .len = {len}, .part = {J->te.x}, .seconds = now_s() - t0};
        if (stage_cache_adopt(&J->key[SHARE_FEATURES], &so)) J->te.borrowed = 1, J->pinned = J->te.x;
    }
    return 0;
}

/*
 * Cached features and batch buffers, then the init stage. Training features are reused
 * every epoch, test features at every evaluation (kept when their n_test x feat_dim floats
 * fit cache_budget_mb; not when an image has several feature rows, whose evaluation
 * combines them).
 */
static int phase_prepare(Job *J) {
    const JobSpec *spec = J->spec;
    Model *md = &J->md;
    /* augmented training images differ every epoch, so their features are not cached */
    if (md->feat_dim > 0 && (spec->cache_features || md->features_required) && prepare_features(J)) return PH_OOM;
    split_release_kept(); /* an earlier job's large buffers this job did not take */
    /* a batch of data rows (images or cached features) or of noise images */
    int img = J->train->c * J->train->h * J->train->w, B = spec->batch_size;
    J->perm = malloc((size_t)(J->tr.n > 0 ? J->tr.n : 1) * sizeof(int)); /* rows: n_tr * feat_rows once cached */
    J->xbuf = malloc((size_t)B * (img > J->tr.d ? img : J->tr.d) * sizeof(float));
    J->ybuf = malloc((size_t)B);
    if (!J->perm || !J->xbuf || !J->ybuf) return PH_OOM;
    for (int t = 0; t < J->n_tasks; t++)
        if (J->tasks[t].train->c * J->tasks[t].train->h * J->tasks[t].train->w != img ||
            J->tasks[t].test->c * J->tasks[t].test->h * J->tasks[t].test->w != img) {
            snprintf(J->r->message, sizeof J->r->message, "meta task %d has images of another size than %s", t, spec->dataset);
            return PH_DONE;
        }
    measure_stage(J, STAGE_INIT);
    return PH_NEXT;
}

/* Random-noise pretraining (Cheon et al.), then the after_noise stage. */
static int phase_noise(Job *J) {
    if (!J->has_noise) return PH_NEXT;
    const JobSpec *spec = J->spec;
    Model *md = &J->md;
    JobResult *r = J->r;
    if (!stage_restore(J, SHARE_NOISE)) {
        double t0 = now_s();
        Rng nr;
        rng_seed(&nr, (uint64_t)spec->seed, RNG_STREAM_NOISE);
        md->opt.lr = (float)spec->noise_lr;
        for (int e = 0; e < spec->noise_epochs && !md->stop; e++)
            r->m.noise_loss = noise_epoch(md, spec->noise_examples, spec->noise_std, &nr, J->xbuf, J->ybuf,
                                          J->nc.n_points ? &J->nc : NULL);
        if (md->stop) return PH_STOPPED;
        if (!isfinite(r->m.noise_loss)) {
            r->status = STATUS_DIVERGED;
            snprintf(r->message, sizeof r->message, "noise-phase loss became %g", r->m.noise_loss);
            return PH_DONE;
        }
        if (weights_diverged(md, r, "after the noise phase")) return PH_DONE;
        stage_store(J, SHARE_NOISE, now_s() - t0);
    }
    if (spec->noise_adam_reset) optim_reset(&md->opt);
    md->opt.lr = (float)spec->lr;
    measure_stage(J, STAGE_AFTER_NOISE);
    return PH_NEXT;
}

/* The data epochs, with an evaluation every eval_every epochs (the last one's is the final).
 * The step schedule applies here only: the noise phase trains at noise_lr, a kind's
 * unsupervised phase at its own rates. */
static int phase_epochs(Job *J) {
    const JobSpec *spec = J->spec;
    Model *md = &J->md;
    JobResult *r = J->r;
    int E = spec->epochs;
    Rng shuffle;
    rng_seed(&shuffle, (uint64_t)spec->seed, RNG_STREAM_SHUFFLE);
    for (int e = 0; e < E && J->tr.n > 0; e++) {
        md->opt.lr = jobspec_lr_at(spec, e);
        if (J->aug) J->aug->epoch = e;
        double l = J->last_loss = train_epoch(md, &J->tr, &shuffle, J->perm, J->xbuf, J->ybuf, J->aug);
        if (md->stop) return PH_STOPPED;
        if (!isfinite(l)) {
            r->status = STATUS_DIVERGED;
            snprintf(r->message, sizeof r->message, "training loss became %g in epoch %d", l, e + 1);
            return PH_DONE;
        }
        layer_angles(md->kind->head(md), r->angle_curve + (size_t)e * MLP_MAX_LAYERS);
        if (md->kind->epoch_end) md->kind->epoch_end(md, e, r);
        char when[32];
        snprintf(when, sizeof when, "in epoch %d", e + 1);
        if (weights_diverged(md, r, when)) return PH_DONE;
        if (e == E - 1 || spec->eval_every == 0 || (e + 1) % spec->eval_every != 0) continue;
        if (spec->eval_train) {
            EvalStats et = evaluate(md, &J->tr);
            r->curves[CURVE_TRAIN_LOSS * E + e] = (float)et.loss;
            r->curves[CURVE_TRAIN_ACC * E + e] = (float)et.acc;
        } else {
            r->curves[CURVE_TRAIN_LOSS * E + e] = (float)l;
        }
        EvalStats ev = evaluate(md, &J->te);
        r->curves[CURVE_TEST_LOSS * E + e] = (float)ev.loss;
        r->curves[CURVE_TEST_ACC * E + e] = (float)ev.acc;
        J->auc += ev.acc, J->n_eval++;
    }
    return PH_NEXT;
}

/* The final passes over both splits, which also find the dead units (train) and the Gram
 * matrices (test); the final metrics, stage and snapshot. */
static int phase_final(Job *J) {
    const JobSpec *spec = J->spec;
    Model *md = &J->md;
    JobResult *r = J->r;
    const Mlp *m = md->kind->head(md);
    int E = spec->epochs, n_tr = J->tr.n;
    double last_loss = J->last_loss;
    Probe ptr = {{0}, NULL}, pte = {{0}, NULL};
    int n_hidden = 0;
    for (int l = 1; l < m->n_layers; l++) n_hidden += m->sizes[l];
    if (n_hidden && !(ptr.alive = calloc((size_t)n_hidden, 1))) return PH_OOM;
    for (int l = 0; l < m->n_layers - 1; l++)
        if (!(pte.gram[l] = calloc((size_t)m->sizes[l + 1] * m->sizes[l + 1], sizeof(float)))) {
            free(ptr.alive);
            for (int k = 0; k < l; k++) free(pte.gram[k]);
            return PH_OOM;
        }
    EvalStats ft = evaluate_probe(md, &J->tr, &ptr), fe = evaluate_probe(md, &J->te, &pte);
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
        J->auc += fe.acc, J->n_eval++;
    }
    r->m.train_loss = ft.loss, r->m.train_acc = ft.acc;
    r->m.test_loss = fe.loss, r->m.test_acc = fe.acc;
    r->m.gap_loss = ft.loss - fe.loss, r->m.gap_acc = ft.acc - fe.acc;
    r->m.auc_test_acc = J->n_eval > 0 ? J->auc / J->n_eval : NAN;
    r->m.readout_p_true_mean = fe.p_true_mean, r->m.readout_p_true_std = fe.p_true_std;
    r->m.readout_p_max_mean = fe.p_max_mean;
    if (!isfinite(fe.loss)) {
        r->status = STATUS_DIVERGED;
        snprintf(r->message, sizeof r->message, "test loss is %g", fe.loss);
        return PH_DONE;
    }
    layer_metrics(m, r->layer[STAGE_FINAL]);
    if (md->kind->final_metrics) md->kind->final_metrics(md, &J->te, &r->m);
    snapshot(md, r, STAGE_FINAL);
    r->m.meta_loss[STAGE_FINAL] = meta_loss(md, spec, J->sc, J->tasks, J->n_tasks, J->xbuf, J->ybuf);
    r->m.top_angle_init = r->layer[STAGE_INIT][LM_ANGLE][m->n_layers - 1];
    r->m.top_angle_final = r->layer[STAGE_FINAL][LM_ANGLE][m->n_layers - 1];
    r->status = STATUS_OK;
    return PH_DONE;
}

/* The job's phases in order (docs/ARCHITECTURE.md, "One job"). */
static int (*const PHASES[])(Job *) = {phase_data, phase_model, phase_result, phase_pretrain,
                                       phase_prepare, phase_noise, phase_epochs, phase_final};

int train_job(const JobSpec *spec, const RawSplit *train, const RawSplit *test,
              const TaskData *tasks, int n_tasks, JobResult *r) {
    Job J = {.spec = spec, .train = train, .test = test, .tasks = tasks, .n_tasks = n_tasks, .r = r,
             .last_loss = NAN};
    r->status = STATUS_FAILED;
    r->m.stage_seconds_saved = 0.0;
    int ph = PH_NEXT;
    for (size_t k = 0; ph == PH_NEXT && k < sizeof PHASES / sizeof PHASES[0]; k++) ph = PHASES[k](&J);
    if (ph == PH_STOPPED) {
        r->status = J.md.stop;
        if (J.md.stop == STATUS_TIMEOUT)
            snprintf(r->message, sizeof r->message, "stopped after time_limit = %g s", spec->time_limit);
        else
            snprintf(r->message, sizeof r->message, "cancelled");
    } else if (ph == PH_OOM) {
        snprintf(r->message, sizeof r->message, "out of memory");
    }
    if (r->status != STATUS_OK) {
        /* partial snapshots are not results */
        free(r->snaps);
        r->snaps = NULL;
        r->snap_mask = 0;
    }
    free(J.idx), free(J.perm), free(J.xbuf), free(J.ybuf), free(J.noise_at), free(J.held);
    split_free(&J.tr), split_free(&J.te);
    stage_cache_pin(J.pinned, 0);
    model_free(&J.md);
    return r->status;
}
