/*
 * model_cnn.c: model kind `cnn` (Karimi et al., docs/SCIENCE.md section 1): conv -> 2x2 max-pool
 * -> ReLU -> [adaptive pool] -> the FC head. Kernels drawn from conv_dist and frozen (a
 * fixed tensor; each image's features can be computed once), or trained (conv_dist:
 * trained; Kaiming init, learned through the head's input gradient under the job's rule).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "memest.h"
#include "model.h"

int model_head_build(Model *md, Mlp *m, const JobSpec *spec, int in_dim, int need_dinput, char *err,
                     size_t errlen);

typedef struct CnnModel {
    Cnn c;
    Mlp m;
    float *feat; /* (max_batch, feat_dim) */
} CnnModel;

static CnnModel *cnn_of(const Model *md) { return (CnnModel *)md->impl; }

static int cnn_kind_build(Model *md, const JobSpec *spec, int C, int H, int W, char *err, size_t errlen) {
    CnnModel *cm = cnn_of(md);
    int trained = !strcmp(spec->conv_dist, "trained");
    int K = spec->conv_size, pad = !strcmp(spec->conv_padding, "same") ? (K - 1) / 2 : 0, N = spec->conv_kernels;
    md->in_dim = C * H * W;
    /* shapes first (a scratch Cnn tells whether the kernels fit), then the buffers */
    Cnn probe;
    int feat_dim = 0;
    int bias = spec->conv_bias, amax = !strcmp(spec->fc_pool_mode, "max");
    if (cnn_create(&probe, C, H, W, N, K, pad, spec->fc_pool, 0, 1) == 0) {
        feat_dim = probe.feat_dim;
        cnn_free(&probe);
    } else {
        snprintf(err, errlen, "cnn: %dx%d kernels (padding %s) and fc_pool %d do not fit %dx%d images", K, K,
                 spec->conv_padding, spec->fc_pool, H, W);
        return -1;
    }
    if (cnn_declare(&md->tensors, C, N, K, bias, trained)) {
        snprintf(err, errlen, "too many tensors");
        return -1;
    }
    if (model_head_build(md, &cm->m, spec, feat_dim, trained, err, errlen)) return -1;
    const Tensor *tw = tensors_find(&md->tensors, "conv_W");
    if (cnn_create_in(&cm->c, C, H, W, N, K, pad, spec->fc_pool, amax, bias, trained, md->max_batch, model_tensor(md, tw),
                      trained ? md->grads + tw->offset : NULL) ||
        !(cm->feat = malloc((size_t)md->max_batch * feat_dim * sizeof(float)))) {
        snprintf(err, errlen, "out of memory building the model");
        return -1;
    }
    DistParams d;
    jobspec_dist(spec, trained ? "kaiming" : spec->conv_dist, spec->conv_scale, K, &d);
    if (cnn_init(&cm->c, &d, (uint64_t)spec->seed)) {
        snprintf(err, errlen, "conv_dist %s cannot draw %dx%d kernels", spec->conv_dist, K, K);
        return -1;
    }
    md->feat_dim = trained ? 0 : feat_dim;
    /* the head steps its layers in mlp_backward, cnn_kind_backward the kernels */
    cm->m.opt = &md->opt, cm->m.opt_off = (size_t)(cm->m.params - md->params), md->fused_step = 1;
    return 0;
}

static void cnn_kind_free(Model *md) {
    CnnModel *cm = cnn_of(md);
    cnn_free(&cm->c);
    mlp_free(&cm->m);
    free(cm->feat);
}

static double cnn_kind_forward(Model *md, const float *x, const uint8_t *y, int B, int features, long *correct) {
    CnnModel *cm = cnn_of(md);
    if (!features) {
        cm->c.no_grad = md->no_grad;
        cnn_forward(&cm->c, x, B, cm->feat);
        x = cm->feat;
    }
    return mlp_forward(&cm->m, x, y, B, correct);
}

static void cnn_kind_backward(Model *md, const float *x, const uint8_t *y, int B, int features) {
    CnnModel *cm = cnn_of(md);
    mlp_backward(&cm->m, y, B);
    /* a trained conv never sees cached features */
    if (cm->c.trainable && !features) cnn_backward(&cm->c, x, cm->m.dinp, B);
    /* the head stepped its layers; the trained kernels are the rest of the buffer */
    if (cm->c.trainable)
        optim_update(&md->opt, cm->c.params, cm->c.grads, (size_t)(cm->c.params - md->params), cm->c.n_params);
}

static void cnn_kind_features(Model *md, const float *x, int B, float *feat) {
    cnn_forward(&cnn_of(md)->c, x, B, feat);
}

static const Mlp *cnn_kind_head(const Model *md) { return &cnn_of(md)->m; }

const ModelKind MODEL_CNN = {
    .name = "cnn",
    .help = "conv -> 2x2 max-pool -> ReLU -> [adaptive pool] -> the hidden FC layers",
    .phases = PHASE_SUPERVISED | PHASE_NOISE,
    .impl_size = sizeof(CnnModel),
    .build = cnn_kind_build,
    .free = cnn_kind_free,
    .forward = cnn_kind_forward,
    .backward = cnn_kind_backward,
    .features = cnn_kind_features,
    .head = cnn_kind_head,
    .memory = memest_cnn,
};
