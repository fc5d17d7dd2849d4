/*
 * model_cnn.c: model kind `cnn` (Karimi et al., docs/SCIENCE.md section 1): conv -> 2x2 max-pool
 * -> ReLU -> [adaptive pool] -> the FC head. Kernels drawn from conv_dist and frozen (a
 * fixed tensor; each image's features can be computed once), or trained (conv_dist:
 * trained; Kaiming init, learned through the head's input gradient under the job's rule).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "dist.h"
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

#define F(field) FIELD_OF(JobSpec, field)
static const ParamDef CNN_PARAMS[] = {
    {"conv_dist", PK_CHOICE, F(conv_dist), "normal", DIST_NAMES "|trained", 0, 0,
     "cnn: distribution of the frozen conv kernels, or trained (kaiming init, learned by the rule)", "model=cnn"},
    {"conv_scale", PK_REAL, F(conv_scale), "1", NULL, 0, 1e6, "cnn: scale of the conv distribution", "model=cnn"},
    {"conv_kernels", PK_INT, F(conv_kernels), "64", NULL, 1, 4096, "cnn: number of conv kernels", "model=cnn"},
    {"conv_size", PK_INT, F(conv_size), "5", NULL, 1, 31, "cnn: kernel side", "model=cnn"},
    {"conv_padding", PK_CHOICE, F(conv_padding), "valid", "valid|same", 0, 0, "cnn: conv padding (same: (k-1)/2)", "model=cnn"},
    {"fc_pool", PK_INT, F(fc_pool), "0", NULL, 0, 64,
     "cnn: 0 flattens every pooled feature; n adaptive-pools each map to n x n (4: 64 x 16 = 1024)", "model=cnn"},
    {"fc_pool_mode", PK_CHOICE, F(fc_pool_mode), "avg", "avg|max", 0, 0,
     "cnn: what fc_pool takes of each cell: the average, or the maximum (PyTorch's AdaptiveMaxPool2d)", "model=cnn"},
    {"conv_bias", PK_BOOL, F(conv_bias), "true", NULL, 0, 0, "cnn: the conv layer has a bias per kernel", "model=cnn"},
    {"cache_features", PK_BOOL, F(cache_features), "true", NULL, 0, 0,
     "cnn with frozen conv: compute each image's features once (same numbers, faster)", "model=cnn"},
    {"cache_budget_mb", PK_INT, F(cache_budget_mb), "1024", NULL, 0, 1000000,
     "cnn with frozen conv and cache_features: also keep the test features when they take at most this many MiB "
     "(n_test x feature floats: 352 MiB for 10,000 MNIST images through 64 5x5 kernels, 39 MiB with fc_pool 4; 0: never)",
     "model=cnn"},
};
#undef F

/* Bytes (memest.h): the kernels with their gradients, moments and snapshots, a batch's
 * im2col columns and conv outputs, the cached features, the FC head on F features and the
 * examples as bytes and floats. */
static size_t cnn_kind_memory(const JobSpec *s, int C, int H, int W, int n_train, int n_test) {
    size_t K = (size_t)(s->conv_kernels > 0 ? s->conv_kernels : 1), k = (size_t)(s->conv_size > 0 ? s->conv_size : 1);
    int same = !strcmp(s->conv_padding, "same");
    size_t Ho = same ? (size_t)H : (size_t)H >= k ? (size_t)H - k + 1 : 1, Wo = same ? (size_t)W : (size_t)W >= k ? (size_t)W - k + 1 : 1;
    size_t conv_out = K * Ho * Wo, F = s->fc_pool > 0 ? K * (size_t)s->fc_pool * (size_t)s->fc_pool : conv_out;
    size_t n = (size_t)n_train + (size_t)n_test, batch = (size_t)(s->batch_size > 0 ? s->batch_size : 1);
    size_t conv = 4 * (K * (size_t)C * k * k * 6 + batch * (conv_out * 3 + (size_t)C * H * W * k * k)); /* im2col */
    size_t feats = s->cache_features ? 4 * n * F : 0;
    return memest_head(s, F) + conv + feats + n * (size_t)C * H * W * 5;
}

/* Work (work.h): per image the conv as one product (N, P, C K K) over the batch's patches,
 * im2col and the max-pool; the kernels' gradient per image when trained; the head on F
 * features. Frozen kernels with cache_features: the conv once per image (the test images'
 * too when they fit cache_budget_mb), the epochs on features. */
static void cnn_kind_work(const JobSpec *s, int C, int H, int W, int n_train, int n_test, Work *w) {
    int K = s->conv_size, N = s->conv_kernels, pad = !strcmp(s->conv_padding, "same") ? (K - 1) / 2 : 0;
    int trained = !strcmp(s->conv_dist, "trained");
    double OH = H + 2 * pad - K + 1, OW = W + 2 * pad - K + 1, P = OH * OW, ckk = (double)C * K * K;
    double F = s->fc_pool > 0 ? (double)N * s->fc_pool * s->fc_pool : N * floor(OH / 2) * floor(OW / 2);
    Work conv = {0}, cback = {0}, fwd = {0}, bwd = {0}, img = {0};
    work_gemm(&conv, 1.0, N, P, ckk);
    conv.n[WK_GATHER] += ckk * P + N * P; /* im2col, the max-pool */
    conv.n[WK_STREAM] += 1.5 * N * P;
    work_gemm(&cback, 1.0, N, ckk, P);
    cback.n[WK_GATHER] += ckk * P + N * P;
    cback.n[WK_STREAM] += 3.0 * N * P;
    HeadWork h;
    work_head(s, (int)F, 10, 1.0, trained, &h);
    int cached = !trained && s->cache_features && !strcmp(s->augment, "none"); /* augmented images: features per epoch */
    int cache_test = cached && (double)n_test * F * 4.0 <= s->cache_budget_mb * 1048576.0;
    work_add(&img, &conv, 1.0), work_add(&img, &h.fwd, 1.0);
    work_add(&fwd, cached ? &h.fwd : &img, 1.0);
    work_add(&bwd, &h.bwd, 1.0);
    if (trained) work_add(&bwd, &cback, 1.0);
    JobPasses p = {.d = C * H * W, .n_train = n_train, .n_test = n_test, .feat = cached ? &conv : NULL, .feat_floats = F,
                   .cache_test = cache_test, .fwd = &fwd, .bwd = &bwd, .eval_fwd = cache_test ? &h.fwd : &img,
                   .noise_fwd = &img, .noise_bwd = &bwd, .params = h.params + (trained ? N * ckk + N : 0.0),
                   .stage_flops = work_head_stage_flops(s, (int)F)};
    work_schedule(s, &p, w);
}

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
    .memory = cnn_kind_memory,
    .work = cnn_kind_work,
    .params = CNN_PARAMS,
    .n_params = (int)(sizeof CNN_PARAMS / sizeof *CNN_PARAMS),
};
