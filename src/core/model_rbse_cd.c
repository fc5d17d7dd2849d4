/*
 * model_rbse_cd.c: the rbse and rbm kinds' unsupervised phase, contrastive divergence
 * (docs/JOBSPEC.md, "Stochastic synapses"; the numerics are rbse.c's, the validation split
 * rbse_val.c's).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_rbse.h"
#include "rbse_val.h"
#include "train.h"

/* Mean reconstruction error and cross-entropy of x (n, V) with a freshly seeded chain. */
static double recon_pass(const Rbse *m, RbseChain *ch, uint64_t seed, const float *x, int n, double *ce) {
    rng_seed(&ch->units, seed, RBSE_STREAM_UNITS);
    rng_seed(&ch->masks, seed, RBSE_STREAM_MASKS);
    double se = 0, xe = 0;
    for (int i = 0; i < n; i += ch->n) {
        int b = n - i < ch->n ? n - i : ch->n;
        double c;
        se += rbse_recon_error(m, ch, b, x + (size_t)i * m->n_v, &c) * b;
        xe += c * b;
    }
    *ce = xe / n;
    return se / n;
}

/*
 * Contrastive divergence on rbm_train_size training images drawn by the seed: per epoch a
 * shuffled order in full minibatches, CD-k (or PCD-k) gradients, SGD with momentum (weight
 * decay on w only), then the epoch's curve row (reconstruction on the first RECON_IMAGES of
 * the drawn images, release statistics).
 */
/* Contrastive divergence's working state (rb_pretrain). */
typedef struct CdRun {
    int n, B, nr;           /* CD images, batch, images of the reconstruction error */
    float *x, *xr, *vb, *g; /* images in [0, 1]; the reconstruction set, binarised once; a batch; gradients */
    float *gw, *ga, *gbc;   /* into g: dw, da (rbse), db then dc */
    int *perm;
    Rng dr;                 /* the data stream: subset, order, Bernoulli binarisation */
    RbseChain ch, rch;      /* the CD chain; the reconstruction's (also the validation's) */
    CdVal val;              /* the validation records, the best epoch's tensors */
    Optim ow, oa, obc;      /* w, a, (b, c) */
    uint64_t recon_seed;
} CdRun;

/* One CD epoch: every full batch of a fresh order, an SGD step each. @return 0, or md->stop. */
static int cd_epoch(Model *md, const JobSpec *spec, CdRun *c) {
    RbseModel *q = rm_of(md);
    Rbse *m = &q->rb;
    int V = m->n_v, Hh = m->n_h, rbse = q->kind == K_RBSE;
    size_t nw = (size_t)Hh * V;
    for (int i = 0; i < c->n; i++) c->perm[i] = i;
    for (int i = c->n - 1; i > 0; i--) {
        int j = (int)rng_below(&c->dr, (uint32_t)(i + 1)), t = c->perm[i];
        c->perm[i] = c->perm[j], c->perm[j] = t;
    }
    for (int i = 0; i + c->B <= c->n; i += c->B) {
        for (int k = 0; k < c->B; k++)
            rbse_binarize(c->x + (size_t)c->perm[i + k] * V, V, q->thr, q->bern ? &c->dr : NULL, c->vb + (size_t)k * V);
        memset(c->g, 0, ((rbse ? 2 * nw : nw) + V + Hh) * sizeof(float));
        rbse_grad(m, &c->ch, c->B, c->vb, spec->cd_k, spec->persistent, c->gw, c->ga, c->gbc, c->gbc + V);
        optim_step(&c->ow, m->w, c->gw);
        if (rbse && spec->learn_release) optim_step(&c->oa, m->a, c->ga);
        optim_step(&c->obc, m->b, c->gbc); /* b and c are adjacent: (V + H) */
        rbse_prepare(m);
        if (train_should_stop(md)) return md->stop;
    }
    return 0;
}

/* The CD images (a seeded subset of train, in [0, 1]), buffers, chains and optimisers.
 * @return 0, or -1 with err. */
static int cd_setup(Model *md, const JobSpec *spec, const RawSplit *train, CdRun *c, char *err, size_t errlen) {
    RbseModel *q = rm_of(md);
    Rbse *m = &q->rb;
    int V = m->n_v, Hh = m->n_h, rbse = q->kind == K_RBSE;
    size_t nw = (size_t)Hh * V;
    if (train->c * train->h * train->w != V) {
        snprintf(err, errlen, "training images have %d pixels, the model %d", train->c * train->h * train->w, V);
        return -1;
    }
    rng_seed(&c->dr, (uint64_t)spec->seed, RBSE_STREAM_CD_DATA);
    int *idx = malloc((size_t)train->n * sizeof(int));
    if (!idx) goto oom;
    /* with val_size > 0: rbm_train_size + val_size drawn, val_size of them carved off */
    int draw = spec->rbm_train_size > 0 && spec->val_size > 0 ? spec->rbm_train_size + spec->val_size : spec->rbm_train_size;
    if (spec->rbm_train_size > 0 && spec->val_size > 0 && (long)spec->rbm_train_size + spec->val_size > train->n) {
        snprintf(err, errlen, "rbm_train_size %d + val_size %d exceed the %d training images", spec->rbm_train_size,
                 spec->val_size, train->n);
        free(idx);
        return -1;
    }
    c->n = subset_choose(train, 0, draw, rng_u64(&c->dr), idx, err, errlen);
    if (c->n <= 0) {
        if (c->n == 0) snprintf(err, errlen, "no training images for contrastive divergence");
        free(idx);
        return -1;
    }
    int nv = cd_val_carve((uint64_t)spec->seed, spec->val_size, idx, c->n, err, errlen);
    if (nv < 0 || cd_val_setup(&c->val, (uint64_t)spec->seed, spec->early_stop_patience, train, idx, nv, q->thr,
                               q->bern, (size_t)md->tensors.n_fixed)) {
        if (nv >= 0) snprintf(err, errlen, "out of memory for the validation images");
        free(idx);
        return -1;
    }
    int n = c->n -= nv;
    c->B = spec->rbm_batch_size < n ? spec->rbm_batch_size : n, c->nr = n < RECON_IMAGES ? n : RECON_IMAGES;
    c->x = malloc((size_t)n * V * sizeof(float));
    c->xr = malloc((size_t)c->nr * V * sizeof(float));
    c->vb = malloc((size_t)c->B * V * sizeof(float));
    c->perm = malloc((size_t)n * sizeof(int));
    c->g = calloc((rbse ? 2 * nw : nw) + V + Hh, sizeof(float)); /* dw, [da], db, dc */
    if (!c->x || !c->xr || !c->vb || !c->perm || !c->g) {
        free(idx);
        goto oom;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < V; k++) c->x[(size_t)i * V + k] = train->x[(size_t)idx[nv + i] * V + k] / 255.0f;
    free(idx);
    rbse_binarize(c->x, (long)c->nr * V, q->thr, q->bern ? &c->dr : NULL, c->xr); /* drawn once */
    Rng cs, rs;
    rng_seed(&cs, (uint64_t)spec->seed, RBSE_STREAM_CHAIN);
    rng_seed(&rs, (uint64_t)spec->seed, RBSE_STREAM_RECON);
    c->recon_seed = rng_u64(&rs);
    float lr = (float)spec->rbm_lr, mu = (float)spec->rbm_momentum;
    c->gw = c->g, c->ga = rbse ? c->g + nw : NULL, c->gbc = c->g + (rbse ? 2 * nw : nw);
    if (rbse_chain_create(&c->ch, m, c->B, rng_u64(&cs)) || rbse_chain_create(&c->rch, m, c->B, 0) ||
        optim_create(&c->ow, OPT_SGD, nw, lr, 0, 0, 0, mu, (float)spec->rbm_weight_decay) ||
        (rbse && optim_create(&c->oa, OPT_SGD, nw, lr * (float)spec->release_lr_scale, 0, 0, 0, mu, 0)) ||
        optim_create(&c->obc, OPT_SGD, (size_t)V + Hh, lr, 0, 0, 0, mu, 0))
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory in contrastive divergence");
    return -1;
}

/* What the features need of the trained tensors: the masked h-step's tables, DropConnect's. */
static void prepare_trained(RbseModel *q) {
    q->rb.h_tables = 1; /* the features run the masked h-step */
    rbse_prepare(&q->rb);
    if (q->dc_a) rbse_prepare(&q->dc); /* DropConnect's thresholds and w^T for the trained w */
}

int rb_pretrain_state(Model *md, double *st, int save) {
    RbseModel *q = rm_of(md);
    double *f[6] = {&q->recon_error, &q->mean_release, &q->w_p_corr, &q->best_epoch, &q->epochs_run, &q->val_error};
    for (int i = 0; i < 6; i++) {
        if (save) st[i] = *f[i];
        else *f[i] = st[i];
    }
    if (!save) prepare_trained(q);
    return 6;
}

int rb_pretrain(Model *md, const JobSpec *spec, const RawSplit *train, JobResult *r, char *err, size_t errlen) {
    RbseModel *q = rm_of(md);
    Rbse *m = &q->rb;
    int rbse = q->kind == K_RBSE, st = 0;
    CdRun c = {0};
    if (cd_setup(md, spec, train, &c, err, errlen)) {
        st = -1;
        goto done;
    }
    m->collapsed = !strcmp(spec->rbse_chain, "collapsed");
    m->h_tables = spec->cd_k > 1 && !m->collapsed; /* CD-1 (and the collapsed chain) never runs the masked h-step */
    rbse_prepare(m);
    for (int e = 0; e < spec->rbm_epochs; e++) {
        if ((st = cd_epoch(md, spec, &c))) goto done;
        double ce, mse = recon_pass(m, &c.rch, c.recon_seed, c.xr, c.nr, &ce);
        float *row = model_curve_row(md->kind, r, e);
        if (row) {
            row[RB_RECON_ERROR] = (float)mse, row[RB_RECON_CE] = (float)ce;
            row[RB_MEAN_RELEASE] = (float)rbse_mean_release(m);
            if (rbse) row[RB_W_P_CORR] = (float)rbse_weight_release_corr(m);
            rbse_release_hist(m, RELEASE_BINS, row + RB_RELEASE_HIST0);
        }
        if (!isfinite(mse)) {
            snprintf(err, errlen, "contrastive divergence diverged in epoch %d (reconstruction error %g)", e + 1, mse);
            st = STATUS_DIVERGED;
            goto done;
        }
        if (c.val.n) { /* validation: keep the best epoch's tensors, stop after `patience` worse ones */
            double vce, ve = recon_pass(m, &c.rch, c.val.seed, c.val.x, c.val.n, &vce);
            if (row) row[RB_VAL_RECON_ERROR] = (float)ve;
            if (cd_val_epoch(&c.val, e, ve, md->fixed)) break;
        }
    }
    q->epochs_run = c.val.n ? c.val.epochs_run : spec->rbm_epochs;
    if (c.val.n) {
        cd_val_restore(&c.val, md->fixed);
        q->best_epoch = c.val.best_epoch, q->val_error = c.val.best_epoch ? c.val.best_err : NAN;
    }
    prepare_trained(q);
    double ce;
    q->recon_error = recon_pass(m, &c.rch, c.recon_seed, c.xr, c.nr, &ce);
    q->mean_release = rbse_mean_release(m);
    q->w_p_corr = rbse_weight_release_corr(m);
done:
    free(c.perm), free(c.x), free(c.xr), free(c.vb), free(c.g);
    rbse_chain_free(&c.ch), rbse_chain_free(&c.rch), cd_val_free(&c.val);
    optim_free(&c.ow), optim_free(&c.oa), optim_free(&c.obc);
    return st;
}
