/*
 * model_cnn.c: model kind `cnn` (Karimi et al., docs/SCIENCE.md section 1): conv -> 2x2 max-pool
 * -> ReLU -> [adaptive pool] -> the FC head. Kernels drawn from conv_dist and frozen (a
 * fixed tensor; each image's features can be computed once), or trained (conv_dist:
 * trained; Kaiming init, learned through the head's input gradient under the job's rule).
 * The front-end is a chain of rows of the layer ops table (layer.h): conv (one image per
 * GEMM), maxpool with its ReLU (and, where no winners are kept, the conv's bias after the
 * max), [apool], run in groups of one image.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "layer.h"
#include "memest.h"
#include "model.h"
#include "rng.h"

int model_head_build(Model *md, Mlp *m, const JobSpec *spec, int in_dim, int need_dinput, char *err,
                     size_t errlen);

/* The layers: conv (bias per kernel or none, one image per GEMM), 2x2 max-pool with the
 * ReLU fused after it, [adaptive pool]. */
enum { CNN_CONV, CNN_POOL, CNN_APOOL, CNN_MAX_LAYERS };

typedef struct CnnModel {
    Layer l[CNN_MAX_LAYERS];
    int n;            /* layers in use: 2, or 3 with fc_pool */
    int trained;
    float *bias;      /* conv_b (N) or NULL: the conv's, or the pool's without winners (cnn_run) */
    Mlp m;
    float *scratch;
    float *g[2];      /* trained: (CNN_CHUNK, widest activation) gradient buffers */
} CnnModel;

static CnnModel *cnn_of(const Model *md) { return (CnnModel *)md->impl; }

/* Images per conv GEMM, and per group of the chain (layer_chain_forward_groups: a group's
 * conv output, 147 KiB for 64 24x24 maps, is pooled while in cache and never held for the
 * batch). One: on OpenBLAS 0.3.21 (Cooperlake kernel, 64 5x5 kernels on 28x28) one image's
 * GEMM goes through its small-matrix kernel, 25 us per image with im2col and pooling,
 * against 29, 32 and 40 us for 2, 8 and 16 images per GEMM through the packed kernel. It
 * also fixes the summation order of the features. */
enum { CNN_CHUNK = 1 };

static int cnn_pad(const JobSpec *s) { return !strcmp(s->conv_padding, "same") ? (s->conv_size - 1) / 2 : 0; }

/* The conv layer's shape for (C, H, W) images (nothing allocated). */
static Layer cnn_conv_shape(const JobSpec *s, int C, int H, int W) {
    Layer l = layer_conv_shape(&LAYER_CONV, C, H, W, s->conv_kernels, s->conv_size, 1, cnn_pad(s));
    l.chunk = CNN_CHUNK;
    return l;
}

/* Features per image, or 0 when the kernels and fc_pool do not fit the images. */
static int cnn_feat_dim(const JobSpec *s, int C, int H, int W) {
    Layer c = cnn_conv_shape(s, C, H, W);
    int PH = c.OH / 2, PW = c.OW / 2, a = s->fc_pool;
    if (C < 1 || c.O < 1 || c.K < 1 || PH < 1 || PW < 1 || a < 0 || a > PH || a > PW) return 0;
    return c.O * (a ? a * a : PH * PW);
}

/* Draws the kernels from d (seed's RNG_STREAM_CONV), biases 0 (PyTorch's: U(+-1/sqrt(fan_in))
 * after the weights, as nn.Conv2d). @return 0 or -1 (see dist_fill). */
static int cnn_draw(const Layer *c, float *b, const DistParams *d, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed, RNG_STREAM_CONV);
    int ckk = c->C * c->K * c->K;
    if (b) memset(b, 0, (size_t)c->O * sizeof(float));
    if (dist_fill(d, c->w, c->O, ckk, &r)) return -1;
    if (b && !strcmp(d->name, "pytorch"))
        for (int n = 0; n < c->O; n++) b[n] = (float)(d->scale / sqrt((double)ckk) * (2.0 * rng_uniform(&r) - 1.0));
    return 0;
}

/* The layers on the tensors conv_W (N, C, K, K) [and conv_b (N)]. @return 0 or -1 (memory). */
static int cnn_layers(Model *md, const JobSpec *spec, int C, int H, int W) {
    CnnModel *cm = cnn_of(md);
    int B = md->max_batch;
    Layer *c = &cm->l[CNN_CONV];
    if (layer_conv_init_pad(c, &LAYER_CONV, C, H, W, spec->conv_kernels, spec->conv_size, 1, cnn_pad(spec),
                            CNN_CHUNK)) /* a group's output only */
        return -1;
    c->chunk = CNN_CHUNK;
    const Tensor *tw = tensors_find(&md->tensors, "conv_W"), *tb = tensors_find(&md->tensors, "conv_b");
    c->w = model_tensor(md, tw), c->fb = c->w;
    if (tb) c->b = model_tensor(md, tb);
    if (cm->trained) c->dw = md->grads + tw->offset, c->db = tb ? md->grads + tb->offset : NULL;
    if (layer_maxpool_init(&cm->l[CNN_POOL], c->O, c->OH, c->OW, 1, B)) return -1;
    cm->bias = c->b;
    cm->n = 2;
    if (spec->fc_pool && layer_apool_init(&cm->l[cm->n++], c->O, c->OH / 2, c->OW / 2, spec->fc_pool,
                                          !strcmp(spec->fc_pool_mode, "max"), B))
        return -1;
    size_t sc = layer_chain_scratch(cm->l, cm->n, CNN_CHUNK), act = layer_chain_act(cm->l, cm->n);
    if (!(cm->scratch = malloc((sc ? sc : 1) * sizeof(float)))) return -1;
    for (int i = 0; cm->trained && i < 2; i++)
        if (!(cm->g[i] = malloc((size_t)CNN_CHUNK * act * sizeof(float)))) return -1;
    return 0;
}

static int cnn_kind_build(Model *md, const JobSpec *spec, int C, int H, int W, char *err, size_t errlen) {
    CnnModel *cm = cnn_of(md);
    int trained = !strcmp(spec->conv_dist, "trained"), K = spec->conv_size, N = spec->conv_kernels;
    int feat_dim = cnn_feat_dim(spec, C, H, W);
    cm->trained = trained;
    md->in_dim = C * H * W;
    if (!feat_dim) {
        snprintf(err, errlen, "cnn: %dx%d kernels (padding %s) and fc_pool %d do not fit %dx%d images", K, K,
                 spec->conv_padding, spec->fc_pool, H, W);
        return -1;
    }
    int w[4] = {N, C, K, K};
    if (tensors_add(&md->tensors, "conv_W", 4, w, !trained) < 0 ||
        (spec->conv_bias && tensors_add(&md->tensors, "conv_b", 1, w, !trained) < 0)) {
        snprintf(err, errlen, "too many tensors");
        return -1;
    }
    if (model_head_build(md, &cm->m, spec, feat_dim, trained, err, errlen)) return -1;
    if (cnn_layers(md, spec, C, H, W)) {
        snprintf(err, errlen, "out of memory building the model");
        return -1;
    }
    DistParams d;
    jobspec_dist(spec, trained ? "kaiming" : spec->conv_dist, spec->conv_scale, K, &d);
    const Tensor *tb = tensors_find(&md->tensors, "conv_b");
    if (cnn_draw(&cm->l[CNN_CONV], tb ? model_tensor(md, tb) : NULL, &d, (uint64_t)spec->seed)) {
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
    for (int i = 0; i < CNN_MAX_LAYERS; i++) layer_free(&cm->l[i]);
    free(cm->scratch), free(cm->g[0]), free(cm->g[1]);
    mlp_free(&cm->m);
}

/* The features of x (B images): the last layer's output. Winners kept for backward when the
 * kernels train and gradients are wanted. */
static const float *cnn_run(Model *md, const float *x, int B) {
    CnnModel *cm = cnn_of(md);
    int train = cm->trained && !md->no_grad;
    /* without winners the bias comes after the max (layer.h: the same floats, a quarter of the adds) */
    cm->l[CNN_CONV].b = train ? cm->bias : NULL, cm->l[CNN_POOL].b = train ? NULL : cm->bias;
    layer_chain_forward_groups(cm->l, cm->n, x, B, CNN_CHUNK, train, cm->scratch);
    return cm->l[cm->n - 1].y;
}

static double cnn_kind_forward(Model *md, const float *x, const uint8_t *y, int B, int features, long *correct) {
    CnnModel *cm = cnn_of(md);
    return mlp_forward(&cm->m, features ? x : cnn_run(md, x, B), y, B, correct);
}

static void cnn_kind_backward(Model *md, const float *x, const uint8_t *y, int B, int features) {
    CnnModel *cm = cnn_of(md);
    mlp_backward(&cm->m, y, B);
    if (!cm->trained) return;
    /* a trained conv never sees cached features */
    if (!features)
        layer_chain_backward_groups(cm->l, cm->n, x, cm->m.dinp, B, CNN_CHUNK, cm->g[0], cm->g[1], cm->scratch);
    /* the head stepped its layers; the trained kernels (and biases) are the rest of the buffer */
    const Layer *c = &cm->l[CNN_CONV];
    size_t n = c->ops->n_params(c) + (cm->bias ? (size_t)c->O : 0);
    optim_update(&md->opt, c->w, c->dw, (size_t)(c->w - md->params), n);
}

static void cnn_kind_features(Model *md, const float *x, int B, float *feat) {
    memcpy(feat, cnn_run(md, x, B), (size_t)B * md->feat_dim * sizeof(float));
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

/* Bytes (memest.h): the kernels with their gradients, moments and snapshots; a group's conv
 * output (and when trained two gradient buffers of it); per image of a batch the pooled
 * maps and the features with their winners; a group's im2col columns; the cached
 * features, the FC head on F features and the examples as bytes and floats. */
static size_t cnn_kind_memory(const JobSpec *s, int C, int H, int W, int n_train, int n_test) {
    Layer c = cnn_conv_shape(s, C, H, W);
    size_t K = (size_t)(c.O > 0 ? c.O : 1), ckk = (size_t)C * (c.K > 0 ? c.K : 1) * (c.K > 0 ? c.K : 1);
    size_t P = (size_t)(c.OH > 0 ? c.OH : 1) * (c.OW > 0 ? c.OW : 1), conv_out = K * P, pooled = K * (P / 4);
    size_t F = s->fc_pool > 0 ? K * (size_t)s->fc_pool * (size_t)s->fc_pool : pooled;
    size_t n = (size_t)n_train + (size_t)n_test, batch = (size_t)(s->batch_size > 0 ? s->batch_size : 1);
    size_t act = CNN_CHUNK * conv_out + batch * (2 * pooled + (s->fc_pool > 0 ? 2 * F : 0));
    size_t grads = !strcmp(s->conv_dist, "trained") ? 2 * CNN_CHUNK * conv_out : 0;
    size_t conv = 4 * (K * ckk * 6 + act + grads + ckk * P * CNN_CHUNK);
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
