/*
 * model_rbse.h: what the rbse, rbm and pixels kinds (model_rbse.c) share with their
 * contrastive-divergence phase (model_rbse_cd.c): the model state, streams and CD curves.
 */
#ifndef SYNSWEEP_MODEL_RBSE_H
#define SYNSWEEP_MODEL_RBSE_H

#include "model.h"
#include "rbse.h"

/* streams of the job seed (rng.h uses 1..6, rbse.h 16..17) */
enum {
    RBSE_STREAM_INIT = 20,    /* w */
    RBSE_STREAM_CD_DATA = 21, /* which training images, their order, Bernoulli binarisation */
    RBSE_STREAM_CHAIN = 22,   /* seed of the CD chains */
    RBSE_STREAM_RECON = 23,   /* the per-epoch reconstruction measurement */
    RBSE_STREAM_FEAT = 24,    /* masks and binarisations of the labelled training images */
    RBSE_STREAM_EVAL = 25     /* key of the evaluation streams */
};
#define RECON_IMAGES 1000 /* reconstruction error: the first of the CD images */

typedef struct RbseModel {
    Mlp head;
    Rbse rb;
    int kind;          /* K_RBSE, K_RBM, K_PIXELS */
    int S, bern;
    float thr;
    uint64_t eval_key;
    Rng feat_rng;      /* training features (cached once by the driver) */
    int feat_mode;     /* rbse: RBSE_FEAT_PRIOR, _CONDITIONAL, _EXACT (rbse_features) */
    Rbse dc;           /* rbm with rbm_dropconnect < 1: the RBM's w, b, c with a = logit(p) */
    float *dc_a;       /* (H, V) its release logits, NULL without DropConnect */
    float *v;          /* (V) one binarised image */
    float *work;       /* (2 H) rbse_features_mode's */
    float *fs;         /* (S, feat_dim) the feature rows of one image */
    float *favg;       /* (max_batch, feat_dim) mean feature vectors of a batch */
    double recon_error, mean_release, w_p_corr; /* after CD */
    double best_epoch, epochs_run, val_error;     /* CD's validation (rbse_val.h) */
} RbseModel;

enum { K_RBSE, K_RBM, K_PIXELS };

static inline RbseModel *rm_of(const Model *md) { return (RbseModel *)md->impl; }

/* Curves of the contrastive-divergence epochs: reconstruction error, mean release
 * probability, the correlation of |w| and p, the release-probability histogram. */
enum { RB_RECON_ERROR, RB_RECON_CE, RB_MEAN_RELEASE, RB_W_P_CORR, RB_RELEASE_HIST0,
       RB_VAL_RECON_ERROR = RB_RELEASE_HIST0 + RELEASE_BINS, RB_N_CURVES };

/** The kinds' unsupervised phase (ModelKind.pretrain): CD on the seed's training images. */
int rb_pretrain(Model *md, const JobSpec *spec, const RawSplit *train, JobResult *r, char *err, size_t errlen);
/* its state beyond the learned tensors, for shared stages (ModelKind.pretrain_state) */
int rb_pretrain_state(Model *md, double *st, int save);

#endif
