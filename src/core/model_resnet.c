/*
 * model_resnet.c: model kind `resnet`, the CIFAR ResNet-6n+2 of He et al. as Pogodin et al.
 * train it (their ResNetCIFAR, resnet_6n2_cifar; docs/SCIENCE.md section 5), n = resnet_n
 * (3: ResNet-20), width w = resnet_width (16):
 *
 *   x -> conv 3x3 (w) -> BN -> ReLU -> stage 1 (n blocks, w) -> stage 2 (2w, stride 2)
 *     -> stage 3 (4w, stride 2) -> global average pool -> FC to the classes (the head)
 *   block: conv 3x3 (stride s) -> BN -> ReLU -> conv 3x3 -> BN, + shortcut, -> ReLU; the
 *   shortcut is 1x1 conv (stride s) -> BN where the block changes stride or width, else x.
 *
 * layer_type conv: conv layers without bias (the 3x3 stride-1 ones, the first too, by Winograd:
 * layer.h); lc: every one of them (the first layer and
 * the 1x1 shortcuts too, as the authors' --is-locally-connected with its defaults
 * n_first_conv 0, conv_1x1 false) is locally connected, lc_W<i> (OH*OW, O, C*K*K). Weights:
 * Kaiming normal, fan-out (std sqrt(2 / (O K K)), drawn per position for LC as the authors'
 * eps -1); BN weight 1, bias 0, running mean 0, variance 1; the FC head from `init`. With lc
 * the activations are batch-last (lc.h) from the first layer's output to the pool (Layer.bl):
 * no LC layer transposes, and only the BN sums (and lc's db) run in another order than
 * batch-first ones would.
 *
 * Sleep (lc, every sleep_every steps, on every LC layer): groups of output positions at
 * stride K on the layer's output map (the authors' share_weights_instantly: a 1x1 layer's
 * group is the whole map), or the whole map with sleep_share map. instant: each kernel <-
 * its group's mean; dynamic: lc.c's Hebbian sleep as the authors run it on a layer of any
 * stride (lc_sleep_dynamic_strided: the tiles repeat on the layer's input, the positions whose
 * patch touches the padding keep their kernels; at stride 2 the first row and column).
 * SNR_w (lc_snr_strided, over the same positions) per 3x3 LC layer (not the 1x1 shortcuts,
 * whose whole-map groups send it to lc_snr's ceiling after one instant sleep); the curves
 * snr_paper_<s>, snr_code_<s> are lc's, here s = 0 the first layer, 1-3 the mean over stage
 * s's layers (layers with fewer than two non-border positions, NaN, left out); the metrics
 * snr_paper, snr_code the mean over all of them.
 *
 * Rules: bp; fa (feedback alignment) where it is natural: the input gradient of every conv
 * or LC layer but the first (which needs none) goes through a fixed random tensor of the
 * kernels' shape, drawn as the kernels are (all packed in declaration order in one fixed
 * tensor conv_B / lc_B, so a ResNet-38 stays within TENSOR_MAX), and the FC head's through
 * its feedback matrix B0 (from `feedback`, as every head). Exact in fa too: every parameter
 * gradient (kernels, BN, head: each from its own layer's input and output gradient),
 * BatchNorm's input gradient (it reads gamma and the batch statistics, not a weight matrix),
 * the ReLUs, the residual additions (a sum: the gradient passes to both branches) and the
 * global average pool. dfa and fa_noise are refused. Layers are rows of the layer ops table
 * (layer.h).
 */
#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clones.h"
#include "layer.h"
#include "lc.h"
#include "model.h"
#include "model_resnet.h"
#include "rng.h"

int model_head_build(Model *md, Mlp *m, const JobSpec *spec, int in_dim, int need_dinput, char *err,
                     size_t errlen);

enum { RN_PARTS = 4 }; /* the first layer, stages 1-3 (the SNR curves) */
/* rng streams of this kind (model.h's RNG_STREAM_* stop at 6) */
enum { RN_STREAM_INIT = 0x524e01, RN_STREAM_FEEDBACK = 0x524e02, RN_STREAM_SLEEP = 0x524e03 };

/* b2's output is the block's: BN, then the add and the ReLU in place; the shortcut's BN (bs)
 * writes into the model's first gradient buffer, idle in forward (backward reads neither:
 * b2 and bs take their gradient through the gate of the block's ReLU, b2.y). */
typedef struct Block {
    Layer c1, b1, c2, b2, cs, bs;
    int has_sc;
} Block;

typedef struct ResnetModel {
    int lc, fa, n, nb;
    int sleep; /* 0 none, 1 instant, 2 dynamic */
    int share, sleep_every, sleep_steps, sleep_batch;
    float sleep_lr, sleep_gamma;
    float *sleep_scratch;
    Rng sleep_rng;
    long n_sleeps;
    double snr_paper[RN_PARTS], snr_code[RN_PARTS], snr_mean[2]; /* per part; mean over LC layers */
    Layer c0, b0, gap;
    Block blk[3 * RN_MAX_N];
    Mlp m;
    float *scratch;
    size_t scratch_n; /* floats of the widest layer's scratch */
    float *g[3]; /* (max_batch, widest activation) gradient buffers */
    size_t act;  /* floats of the widest activation of one image */
} ResnetModel;

static ResnetModel *rn_of(const Model *md) { return (ResnetModel *)md->impl; }

int resnet_plan(const ResnetSpec *p, int C, int H, int W, ConvDesc *d) {
    int k = 0, in = p->width;
    d[k++] = (ConvDesc){C, H, W, p->width, 3, 1};
    for (int s = 0; s < 3; s++)
        for (int j = 0; j < p->n; j++) {
            int planes = p->width << s, st = s > 0 && j == 0 ? 2 : 1;
            int OH = layer_out_size(H, 3, st), OW = layer_out_size(W, 3, st);
            d[k++] = (ConvDesc){in, H, W, planes, 3, st};
            d[k++] = (ConvDesc){planes, OH, OW, planes, 3, 1};
            if (st != 1 || in != planes) d[k++] = (ConvDesc){in, H, W, planes, 1, st};
            in = planes, H = OH, W = OW;
        }
    return k;
}

Layer resnet_layer_shape(const ConvDesc *d, int lc) {
    Layer l = {.ops = lc ? &LAYER_LC : &LAYER_CONV, .C = d->C, .H = d->H, .W = d->W, .O = d->O, .K = d->K,
               .stride = d->stride, .pad = (d->K - 1) / 2};
    l.OH = layer_out_size(l.H, l.K, l.stride), l.OW = layer_out_size(l.W, l.K, l.stride);
    l.wino = !lc; /* every 3x3 stride-1 conv on even maps by Winograd, below 8 planes too (the stem's 3) */
    return l;
}

/* Declares the conv tensors, the BN tensors, fa's feedback and the head. @return 0 or -1 with err. */
static int rn_declare(Model *md, const JobSpec *spec, const ConvDesc *d, int nc, int bn_ch, char *err, size_t errlen) {
    ResnetModel *rm = rn_of(md);
    int bad = 0;
    for (int i = 0; i < nc && !bad; i++) {
        char name[24];
        int OH = layer_out_size(d[i].H, d[i].K, d[i].stride), OW = layer_out_size(d[i].W, d[i].K, d[i].stride);
        int cs[4] = {d[i].O, d[i].C, d[i].K, d[i].K}, ls[3] = {OH * OW, d[i].O, d[i].C * d[i].K * d[i].K};
        snprintf(name, sizeof name, "%s_W%d", rm->lc ? "lc" : "conv", i);
        bad = tensors_add(&md->tensors, name, rm->lc ? 3 : 4, rm->lc ? ls : cs, 0) < 0;
    }
    const char *bn[4] = {"bn_weight", "bn_bias", "bn_mean", "bn_var"};
    for (int i = 0; i < 4 && !bad; i++) {
        bad = tensors_add(&md->tensors, bn[i], 1, &bn_ch, i >= 2) < 0;
        if (i >= 2) tensors_mark_learned(&md->tensors);
    }
    if (rm->fa && !bad) { /* fa: the feedback of layers 1.. (the first needs no input gradient), packed */
        int64_t nfb = 0;
        for (int i = 1; i < nc; i++) {
            Layer l = resnet_layer_shape(&d[i], rm->lc);
            nfb += (int64_t)l.ops->n_params(&l);
        }
        int shape = (int)nfb;
        bad = nfb > INT32_MAX || tensors_add(&md->tensors, rm->lc ? "lc_B" : "conv_B", 1, &shape, 1) < 0;
    }
    if (bad) {
        snprintf(err, errlen, "resnet: too many tensors (resnet_n at most %d)", RN_MAX_N);
        return -1;
    }
    JobSpec head = *spec;
    head.hidden[0] = 0; /* the FC layer straight from the pooled features */
    return model_head_build(md, &rm->m, &head, d[nc - 1].O, 1, err, errlen);
}

/* Sets up conv i of d with its weights, drawn from r; with fa its feedback at *fb (then
 * advanced past it), drawn from rf. @return 0 or -1. */
static int rn_conv(Model *md, Layer *l, const ConvDesc *d, int i, Rng *r, Rng *rf, float **fb) {
    ResnetModel *rm = rn_of(md);
    char name[24];
    snprintf(name, sizeof name, "%s_W%d", rm->lc ? "lc" : "conv", i);
    const Tensor *t = tensors_find(&md->tensors, name);
    if (layer_conv_init(l, rm->lc ? &LAYER_LC : &LAYER_CONV, d[i].C, d[i].H, d[i].W, d[i].O, d[i].K, d[i].stride,
                        md->max_batch))
        return -1;
    l->wino = !rm->lc; /* as resnet_layer_shape */
    int PH = rm->lc ? l->OH : 1, PW = rm->lc ? l->OW : 1;
    l->w = model_tensor(md, t), l->dw = md->grads + t->offset, l->fb = l->w;
    size_t nk = (size_t)PH * PW * l->O; /* lc: kernels kept in lc.c's order (lc.h) */
    lc_init(l->w, NULL, l->C, PH, PW, l->O, l->K, -1.0, r);
    if (rm->lc && lc_kernels_from_public(l->w, nk, l->C, l->K)) return -1;
    if (*fb && i > 0) {
        lc_init(*fb, NULL, l->C, PH, PW, l->O, l->K, -1.0, rf);
        if (rm->lc && lc_kernels_from_public(*fb, nk, l->C, l->K)) return -1;
        l->fb = *fb, *fb += l->ops->n_params(l);
    }
    size_t s = l->ops->scratch(l, md->max_batch), a = (size_t)l->C * l->H * l->W;
    if (s > rm->scratch_n) rm->scratch_n = s;
    if (a > rm->act) rm->act = a;
    if (layer_out_floats(l) > rm->act) rm->act = layer_out_floats(l);
    return 0;
}

/* Sets up the BN after conv layer c, its channels at *at of the packed BN tensors. */
static int rn_bn(Model *md, Layer *l, const Layer *c, int relu, int *at) {
    if (layer_bn_init(l, c->O, c->OH, c->OW, relu, md->max_batch)) return -1;
    const Tensor *tw = tensors_find(&md->tensors, "bn_weight"), *tb = tensors_find(&md->tensors, "bn_bias");
    l->w = md->params + tw->offset + *at, l->dw = md->grads + tw->offset + *at;
    l->b = md->params + tb->offset + *at, l->db = md->grads + tb->offset + *at;
    l->run_mean = model_tensor(md, tensors_find(&md->tensors, "bn_mean")) + *at;
    l->run_var = model_tensor(md, tensors_find(&md->tensors, "bn_var")) + *at;
    for (int c2 = 0; c2 < l->C; c2++) l->w[c2] = 1.0f, l->b[c2] = 0.0f, l->run_mean[c2] = 0.0f, l->run_var[c2] = 1.0f;
    *at += l->C;
    return 0;
}

/* Points the layers into the buffers and draws the weights. @return 0 or -1 (memory). */
static int rn_layers(Model *md, const JobSpec *spec, const ConvDesc *d) {
    ResnetModel *rm = rn_of(md);
    Rng r, rf;
    rng_seed(&r, (uint64_t)spec->seed, RN_STREAM_INIT);
    rng_seed(&rf, (uint64_t)spec->seed, RN_STREAM_FEEDBACK);
    const Tensor *tf = tensors_find(&md->tensors, rm->lc ? "lc_B" : "conv_B");
    float *fb = tf ? model_tensor(md, tf) : NULL;
    int k = 0, at = 0;
    if (rn_conv(md, &rm->c0, d, k++, &r, &rf, &fb) || rn_bn(md, &rm->b0, &rm->c0, 1, &at)) return -1;
    for (int b = 0; b < rm->nb; b++) {
        Block *bl = &rm->blk[b];
        if (rn_conv(md, &bl->c1, d, k++, &r, &rf, &fb) || rn_bn(md, &bl->b1, &bl->c1, 1, &at) ||
            rn_conv(md, &bl->c2, d, k++, &r, &rf, &fb) || rn_bn(md, &bl->b2, &bl->c2, 0, &at))
            return -1;
        bl->has_sc = bl->c1.stride != 1 || bl->c1.C != bl->c1.O;
        if (bl->has_sc && (rn_conv(md, &bl->cs, d, k++, &r, &rf, &fb) || rn_bn(md, &bl->bs, &bl->cs, 0, &at)))
            return -1;
        bl->b2.gate = bl->b2.y, bl->bs.gate = bl->b2.y;
    }
    const Layer *last = &rm->blk[rm->nb - 1].c2;
    if (layer_gap_init(&rm->gap, last->O, last->OH, last->OW, md->max_batch)) return -1;
    if (rm->lc) { /* activations batch-last from the first layer's output to the pool (lc.h): no
                     transposes in the LC layers */
        rm->c0.bl = LC_OUT_BL, rm->b0.bl = rm->gap.bl = LAYER_BL;
        for (int b = 0; b < rm->nb; b++) {
            Block *bl = &rm->blk[b];
            bl->c1.bl = bl->c2.bl = bl->cs.bl = LC_IN_BL | LC_OUT_BL;
            bl->b1.bl = bl->b2.bl = bl->bs.bl = LAYER_BL;
        }
    }
    if (!(rm->scratch = malloc((rm->scratch_n ? rm->scratch_n : 1) * sizeof(float)))) return -1;
    for (int i = 0; i < 3; i++)
        if (!(rm->g[i] = malloc((size_t)md->max_batch * rm->act * sizeof(float)))) return -1;
    for (int b = 0; b < rm->nb; b++)
        if (rm->blk[b].has_sc) { /* backward reads bs's gate, never its y: gate set, no fused ReLU */
            assert(rm->blk[b].bs.gate && !rm->blk[b].bs.relu);
            free(rm->blk[b].bs.y), rm->blk[b].bs.y = rm->g[0];
        }
    return 0;
}

static int rn_check(const Model *md, const JobSpec *spec, const ResnetSpec *p, int H, int W, char *err, size_t errlen) {
    if (md->rule->feedback == RULE_DFA) {
        snprintf(err, errlen, "resnet: rule %s is not supported (use bp or fa)", md->rule->name);
        return -1;
    }
    int h[MLP_MAX_LAYERS], nh = jobspec_hidden(spec, h);
    if (nh != 1 || h[0] != 100) { /* 100: hidden's default */
        snprintf(err, errlen, "resnet: hidden [%s] does not apply (its head is one FC layer from the pooled "
                 "features to the classes): leave hidden out", spec->hidden);
        return -1;
    }
    if (p->n < 1 || p->n > RN_MAX_N) {
        snprintf(err, errlen, "resnet: resnet_n %d out of range (1 to %d)", p->n, RN_MAX_N);
        return -1;
    }
    if (H < 4 || W < 4) {
        snprintf(err, errlen, "resnet: %dx%d images are too small for two stride-2 stages (at least 4x4)", H, W);
        return -1;
    }
    if (strcmp(spec->sleep, "none") && strcmp(p->layer_type, "lc")) {
        snprintf(err, errlen, "resnet: sleep %s needs layer_type lc", spec->sleep);
        return -1;
    }
    return 0;
}

/* The conv (LC) layers in declaration order into l (RN_MAX_CONV), their parts (0 the first
 * layer, 1-3 the stages) into part. @return their number. */
static int rn_convs(ResnetModel *rm, Layer **l, int *part) {
    int k = 0;
    part[k] = 0, l[k++] = &rm->c0;
    for (int b = 0; b < rm->nb; b++) {
        Block *bl = &rm->blk[b];
        int s = 1 + b / rm->n;
        part[k] = s, l[k++] = &bl->c1;
        part[k] = s, l[k++] = &bl->c2;
        if (bl->has_sc) part[k] = s, l[k++] = &bl->cs;
    }
    return k;
}

/* The sleep's settings, random stream and (dynamic) scratch. @return 0 or -1 (memory). */
static int rn_sleep_setup(ResnetModel *rm, const JobSpec *spec) {
    rm->sleep = !strcmp(spec->sleep, "instant") ? 1 : !strcmp(spec->sleep, "dynamic") ? 2 : 0;
    rm->share = !strcmp(spec->sleep_share, "map") ? LC_SHARE_MAP : LC_SHARE_GRID;
    rm->sleep_every = spec->sleep_every, rm->sleep_steps = spec->sleep_steps, rm->sleep_batch = spec->sleep_batch;
    rm->sleep_lr = (float)spec->sleep_lr, rm->sleep_gamma = (float)spec->sleep_gamma;
    rng_seed(&rm->sleep_rng, (uint64_t)spec->seed, RN_STREAM_SLEEP);
    for (int i = 0; i < RN_PARTS; i++) rm->snr_paper[i] = rm->snr_code[i] = NAN;
    rm->snr_mean[0] = rm->snr_mean[1] = NAN;
    if (rm->sleep != 2) return 0;
    Layer *l[RN_MAX_CONV];
    int part[RN_MAX_CONV], nc = rn_convs(rm, l, part);
    size_t ss = 0;
    for (int i = 0; i < nc; i++) {
        size_t s = lc_sleep_scratch_floats_strided(l[i]->C, l[i]->H, l[i]->W, l[i]->stride, l[i]->O, l[i]->K, rm->share,
                                                   rm->sleep_batch);
        ss = s > ss ? s : ss;
    }
    return ss && !(rm->sleep_scratch = malloc(ss * sizeof(float))) ? -1 : 0;
}

static int rn_kind_build(Model *md, const JobSpec *spec, int C, int H, int W, char *err, size_t errlen) {
    ResnetModel *rm = rn_of(md);
    const ResnetSpec *p = resnet_spec(spec);
    if (rn_check(md, spec, p, H, W, err, errlen)) return -1;
    ConvDesc d[RN_MAX_CONV];
    int nc = resnet_plan(p, C, H, W, d), bn_ch = 0;
    for (int i = 0; i < nc; i++) bn_ch += d[i].O;
    rm->lc = !strcmp(p->layer_type, "lc"), rm->fa = md->rule->feedback == RULE_FA, rm->n = p->n, rm->nb = 3 * p->n;
    md->in_dim = C * H * W;
    if (rn_declare(md, spec, d, nc, bn_ch, err, errlen)) return -1;
    if (rn_layers(md, spec, d) || rn_sleep_setup(rm, spec)) {
        snprintf(err, errlen, "out of memory building the model");
        return -1;
    }
    return 0;
}

static void rn_kind_free(Model *md) {
    ResnetModel *rm = rn_of(md);
    layer_free(&rm->c0), layer_free(&rm->b0), layer_free(&rm->gap);
    for (int b = 0; b < rm->nb; b++) {
        Block *bl = &rm->blk[b];
        if (bl->bs.y == rm->g[0]) bl->bs.y = NULL;
        layer_free(&bl->c1), layer_free(&bl->b1), layer_free(&bl->c2), layer_free(&bl->b2);
        layer_free(&bl->cs), layer_free(&bl->bs);
    }
    free(rm->scratch), free(rm->sleep_scratch);
    for (int i = 0; i < 3; i++) free(rm->g[i]);
    mlp_free(&rm->m);
}

/* a <- max(a + b, 0) over n floats (the residual add and its ReLU, in place). */
MULTIVERSION static void rn_add_relu(float *a, const float *b, size_t n) {
    for (size_t j = 0; j < n; j++) {
        float v = a[j] + b[j];
        a[j] = v > 0.0f ? v : 0.0f;
    }
}

/* din <- 0 + (g where out > 0, else 0): the gradient through that ReLU, as added to a zeroed din. */
MULTIVERSION static void rn_relu_grad(float *din, const float *out, const float *g, size_t n) {
    for (size_t j = 0; j < n; j++) din[j] = 0.0f + (out[j] > 0.0f ? g[j] : 0.0f);
}

static void fwd(ResnetModel *rm, Layer *l, const float *x, int B, int train) {
    l->ops->forward(l, x, B, train, rm->scratch);
}

static double rn_kind_forward(Model *md, const float *x, const uint8_t *y, int B, int features, long *correct) {
    (void)features;
    ResnetModel *rm = rn_of(md);
    int train = !md->no_grad;
    layer_conv_bn_forward(&rm->c0, &rm->b0, x, B, train, rm->scratch);
    const float *a = rm->b0.y;
    for (int b = 0; b < rm->nb; b++) {
        Block *bl = &rm->blk[b];
        layer_conv_bn_forward(&bl->c1, &bl->b1, a, B, train, rm->scratch);
        layer_conv_bn_forward(&bl->c2, &bl->b2, bl->b1.y, B, train, rm->scratch);
        const float *sc = a;
        if (bl->has_sc) layer_conv_bn_forward(&bl->cs, &bl->bs, a, B, train, rm->scratch), sc = bl->bs.y;
        rn_add_relu(bl->b2.y, sc, (size_t)B * layer_out_floats(&bl->c2));
        a = bl->b2.y;
    }
    fwd(rm, &rm->gap, a, B, train);
    return mlp_forward(&rm->m, rm->gap.y, y, B, correct);
}

/* dx (B images) <- l's input gradient from dy. */
static void bwd0(ResnetModel *rm, Layer *l, const float *x, const float *dy, float *dx, int B) {
    layer_backward_set(l, x, dy, dx, B, rm->scratch);
}

/* Block bl's backward: G (its output's gradient) -> Din (its input's). The block's ReLU: b2
 * and bs read G through its gate; the identity shortcut passes G masked. */
static void rn_block_backward(ResnetModel *rm, Block *bl, const float *in, const float *G, float *Din, int B) {
    float *u = rm->g[2];
    if (bl->has_sc) {
        bwd0(rm, &bl->bs, bl->cs.y, G, u, B);
        bwd0(rm, &bl->cs, in, u, Din, B);
    } else rn_relu_grad(Din, bl->b2.y, G, (size_t)B * layer_out_floats(&bl->c2));
    float *v = (float *)G; /* G is dead once b2 has read it: reuse it */
    bwd0(rm, &bl->b2, bl->c2.y, G, u, B);
    bwd0(rm, &bl->c2, bl->b1.y, u, v, B);
    bwd0(rm, &bl->b1, bl->c1.y, v, u, B);
    bl->c1.ops->backward(&bl->c1, in, u, Din, B, rm->scratch);
}

static void rn_kind_backward(Model *md, const float *x, const uint8_t *y, int B, int features) {
    (void)features;
    ResnetModel *rm = rn_of(md);
    mlp_backward(&rm->m, y, B);
    const float *last = rm->blk[rm->nb - 1].b2.y;
    float *G = rm->g[0], *D = rm->g[1];
    bwd0(rm, &rm->gap, last, rm->m.dinp, G, B);
    for (int b = rm->nb - 1; b >= 0; b--) {
        const float *in = b ? rm->blk[b - 1].b2.y : rm->b0.y;
        rn_block_backward(rm, &rm->blk[b], in, G, D, B);
        float *t = G;
        G = D, D = t;
    }
    bwd0(rm, &rm->b0, rm->c0.y, G, D, B);
    rm->c0.ops->backward(&rm->c0, x, D, NULL, B, rm->scratch);
}

static const Mlp *rn_kind_head(const Model *md) { return &rn_of(md)->m; }

/* lc: the LC kernels (and their feedback) in the results file's (c, ky, kx) order (lc.h) */
static void rn_snapshot_order(const Model *md, const float *psrc, const float *fsrc, float *params, float *fixed) {
    ResnetModel *rm = rn_of(md);
    if (!rm->lc) return;
    Layer *l[RN_MAX_CONV];
    int part[RN_MAX_CONV], nc = rn_convs(rm, l, part);
    for (int i = 0; i < nc; i++) layer_lc_file_order(l[i], md->params, md->fixed, psrc, fsrc, params, fixed);
}

/* lc with a sleep: every sleep_every steps each LC layer's kernels move to (instant: are
 * replaced by) their group's mean */
static void rn_kind_after_step(Model *md) {
    ResnetModel *rm = rn_of(md);
    if (!rm->sleep || md->step % rm->sleep_every) return;
    Layer *l[RN_MAX_CONV];
    int part[RN_MAX_CONV], nc = rn_convs(rm, l, part);
    for (int i = 0; i < nc; i++) {
        const Layer *y = l[i];
        if (rm->sleep == 1) lc_share_instant(y->w, y->C, y->OH, y->OW, y->O, y->K, rm->share);
        else if (rm->sleep_scratch)
            lc_sleep_dynamic_strided(y->w, rm->sleep_scratch, y->C, y->H, y->W, y->stride, y->O, y->K, rm->share, rm->sleep_steps,
                             rm->sleep_lr, rm->sleep_gamma, rm->sleep_batch, &rm->sleep_rng);
    }
    rm->n_sleeps++;
}

/* SNR_w of the K x K (3x3) LC layers: the mean per part and over all, of the layers with a
 * value. The 1x1 shortcuts are left out: their group is the whole map, so one instant sleep
 * sends their SNR to lc_snr's ceiling (about 1e40) and it would swamp every mean. */
static void rn_measure(ResnetModel *rm) {
    Layer *l[RN_MAX_CONV];
    int part[RN_MAX_CONV], nc = rn_convs(rm, l, part), cnt[RN_PARTS + 1] = {0};
    double sp[RN_PARTS + 1] = {0}, sc[RN_PARTS + 1] = {0};
    for (int i = 0; i < nc; i++) {
        double p, c;
        if (l[i]->K == 1) continue;
        lc_snr_strided(l[i]->w, l[i]->C, l[i]->H, l[i]->W, l[i]->stride, l[i]->O, l[i]->K, &p, &c);
        if (isnan(p)) continue;
        sp[part[i]] += p, sc[part[i]] += c, cnt[part[i]]++;
        sp[RN_PARTS] += p, sc[RN_PARTS] += c, cnt[RN_PARTS]++;
    }
    for (int i = 0; i < RN_PARTS; i++)
        rm->snr_paper[i] = cnt[i] ? sp[i] / cnt[i] : NAN, rm->snr_code[i] = cnt[i] ? sc[i] / cnt[i] : NAN;
    rm->snr_mean[0] = cnt[RN_PARTS] ? sp[RN_PARTS] / cnt[RN_PARTS] : NAN;
    rm->snr_mean[1] = cnt[RN_PARTS] ? sc[RN_PARTS] / cnt[RN_PARTS] : NAN;
}

/* lc's curves (their names: the same block of the gathered table), here per part */
enum { RN_SNR_PAPER0 = 0, RN_SNR_CODE0 = RN_PARTS, RN_N_CURVES = 2 * RN_PARTS };
static const char *const RN_CURVES[RN_N_CURVES] = {"snr_paper_0", "snr_paper_1", "snr_paper_2", "snr_paper_3",
                                                    "snr_code_0",  "snr_code_1",  "snr_code_2",  "snr_code_3"};

static uint64_t rn_kind_curves(const JobSpec *spec, int *len) {
    int lc = !strcmp(resnet_spec(spec)->layer_type, "lc");
    *len = lc ? spec->epochs : 0;
    return lc ? (1ull << RN_N_CURVES) - 1 : 0;
}

/* lc: SNR_w at the end of each epoch (after the epoch's last sleep) */
static void rn_kind_epoch_end(Model *md, int e, JobResult *r) {
    ResnetModel *rm = rn_of(md);
    float *row = rm->lc ? model_curve_row(md->kind, r, e) : NULL;
    if (!row) return;
    rn_measure(rm);
    for (int i = 0; i < RN_PARTS; i++)
        row[RN_SNR_PAPER0 + i] = (float)rm->snr_paper[i], row[RN_SNR_CODE0 + i] = (float)rm->snr_code[i];
}

static void rn_kind_final_metrics(Model *md, const Split *test, JobMetrics *m) {
    (void)test;
    ResnetModel *rm = rn_of(md);
    if (rm->lc) rn_measure(rm);
    m->snr_paper = rm->snr_mean[0], m->snr_code = rm->snr_mean[1];
    m->n_sleeps = (double)rm->n_sleeps;
}


#define F(field) FIELD_OF(ResnetSpec, field)
static const ParamDef RN_PARAMS[] = {
    {"resnet_n", PK_INT, F(n), "3", NULL, 1, RN_MAX_N, "resnet: BasicBlocks per stage (3: ResNet-20; 6n+2 layers)",
     "model=resnet"},
    {"resnet_width", PK_INT, F(width), "16", NULL, 1, 1024, "resnet: channels of stage 1 (stages 2, 3: twice, 4 times)",
     "model=resnet"},
    {"layer_type", PK_CHOICE, F(layer_type), "conv", "conv|lc", 0, 0,
     "resnet: conv layers, or locally connected ones (every layer, the first and the 1x1 shortcuts too)",
     "model=resnet"},
};
#undef F

/* lc's rows (the same fields): gathered once */
static const MetricDef RN_METRICS[] = {
    {"snr_paper", offsetof(JobMetrics, snr_paper), "lc: weight SNR at the end, the paper's definition (mean over LC layers)"},
    {"snr_code", offsetof(JobMetrics, snr_code), "lc: weight SNR at the end, the authors' code's definition (mean over LC layers)"},
    {"n_sleeps", offsetof(JobMetrics, n_sleeps), "lc: sleep phases run"},
};

const ModelKind MODEL_RESNET = {
    .name = "resnet",
    .help = "CIFAR ResNet-6n+2 (BasicBlocks, BatchNorm), conv or locally connected layers; sleep shares weights "
            "(LC); fa: fixed random feedback for the conv/LC kernels but the first and the FC head, exact BN and "
            "residual paths",
    .phases = PHASE_SUPERVISED | PHASE_SLEEP,
    .impl_size = sizeof(ResnetModel),
    .build = rn_kind_build,
    .free = rn_kind_free,
    .forward = rn_kind_forward,
    .backward = rn_kind_backward,
    .head = rn_kind_head,
    .memory = resnet_memory,
    .work = resnet_work,
    .curves = rn_kind_curves,
    .after_step = rn_kind_after_step,
    .epoch_end = rn_kind_epoch_end,
    .final_metrics = rn_kind_final_metrics,
    .snapshot_order = rn_snapshot_order,
    .curve_names = RN_CURVES,
    .n_curves = RN_N_CURVES,
    .params = RN_PARAMS,
    .n_params = (int)(sizeof RN_PARAMS / sizeof *RN_PARAMS),
    .spec_ext = sizeof(ResnetSpec),
    .metrics = RN_METRICS,
    .n_metrics = (int)(sizeof RN_METRICS / sizeof *RN_METRICS),
};

const ResnetSpec *resnet_spec(const JobSpec *s) { return model_spec_ext(&MODEL_RESNET, s); }
