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
 * layer_type conv: conv layers without bias; lc: every one of them (the first layer and
 * the 1x1 shortcuts too, as the authors' --is-locally-connected with its defaults
 * n_first_conv 0, conv_1x1 false) is locally connected, lc_W<i> (OH*OW, O, C*K*K). Weights:
 * Kaiming normal, fan-out (std sqrt(2 / (O K K)), drawn per position for LC as the authors'
 * eps -1); BN weight 1, bias 0, running mean 0, variance 1; the FC head from `init`. With
 * lc, `sleep: instant` every sleep_every steps replaces each kernel by its group's mean,
 * groups of output positions at stride K (the authors' share_weights_instantly: a 1x1
 * layer's group is the whole map), or the whole map with sleep_share map. Rule bp only.
 * Layers are rows of the layer ops table (layer.h).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clones.h"
#include "layer.h"
#include "lc.h"
#include "memest.h"
#include "model.h"
#include "rng.h"

int model_head_build(Model *md, Mlp *m, const JobSpec *spec, int in_dim, int need_dinput, char *err,
                     size_t errlen);

enum { RN_MAX_N = 6, RN_MAX_CONV = 6 * RN_MAX_N + 3, RN_STREAM_INIT = 0x524e01 };

/* The kind's parameters, in its area of JobSpec.ext. */
typedef struct ResnetSpec {
    int32_t n, width;
    char layer_type[8];
} ResnetSpec;

/* One conv (or LC) layer of the network, in declaration order: stem, then per block c1, c2,
 * [shortcut]. */
typedef struct ConvDesc {
    int C, H, W, O, K, stride;
} ConvDesc;

typedef struct Block {
    Layer c1, b1, c2, b2, cs, bs;
    int has_sc;
    float *out; /* (max_batch, O*OH*OW) after the add and the ReLU */
} Block;

typedef struct ResnetModel {
    int lc, nb, sleep, share, sleep_every;
    long n_sleeps;
    Layer c0, b0, gap;
    Block blk[3 * RN_MAX_N];
    Mlp m;
    float *scratch;
    size_t scratch_n; /* floats of the widest layer's scratch */
    float *g[4]; /* (max_batch, widest activation) gradient buffers */
    size_t act;  /* floats of the widest activation of one image */
} ResnetModel;

static ResnetModel *rn_of(const Model *md) { return (ResnetModel *)md->impl; }
static const ResnetSpec *rn_spec(const JobSpec *s);

/* The network's conv layers for (C, H, W) images: fills d (RN_MAX_CONV), returns their number. */
static int rn_plan(const ResnetSpec *p, int C, int H, int W, ConvDesc *d) {
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

/* Declares the conv tensors, the BN tensors and the head. @return 0 or -1 with err. */
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
    if (bad) {
        snprintf(err, errlen, "resnet: too many tensors (resnet_n at most %d)", RN_MAX_N);
        return -1;
    }
    JobSpec head = *spec;
    head.hidden[0] = 0; /* the FC layer straight from the pooled features */
    return model_head_build(md, &rm->m, &head, d[nc - 1].O, 1, err, errlen);
}

/* Sets up conv i of d with its weights, drawn from r. @return 0 or -1. */
static int rn_conv(Model *md, Layer *l, const ConvDesc *d, int i, Rng *r) {
    ResnetModel *rm = rn_of(md);
    char name[24];
    snprintf(name, sizeof name, "%s_W%d", rm->lc ? "lc" : "conv", i);
    const Tensor *t = tensors_find(&md->tensors, name);
    if (layer_conv_init(l, rm->lc ? &LAYER_LC : &LAYER_CONV, d[i].C, d[i].H, d[i].W, d[i].O, d[i].K, d[i].stride,
                        md->max_batch))
        return -1;
    l->w = model_tensor(md, t), l->dw = md->grads + t->offset, l->fb = l->w;
    lc_init(l->w, NULL, l->C, rm->lc ? l->OH : 1, rm->lc ? l->OW : 1, l->O, l->K, -1.0, r);
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
    Rng r;
    rng_seed(&r, (uint64_t)spec->seed, RN_STREAM_INIT);
    int k = 0, at = 0;
    if (rn_conv(md, &rm->c0, d, k++, &r) || rn_bn(md, &rm->b0, &rm->c0, 1, &at)) return -1;
    for (int b = 0; b < rm->nb; b++) {
        Block *bl = &rm->blk[b];
        if (rn_conv(md, &bl->c1, d, k++, &r) || rn_bn(md, &bl->b1, &bl->c1, 1, &at) ||
            rn_conv(md, &bl->c2, d, k++, &r) || rn_bn(md, &bl->b2, &bl->c2, 0, &at))
            return -1;
        bl->has_sc = bl->c1.stride != 1 || bl->c1.C != bl->c1.O;
        if (bl->has_sc && (rn_conv(md, &bl->cs, d, k++, &r) || rn_bn(md, &bl->bs, &bl->cs, 0, &at))) return -1;
        if (!(bl->out = malloc((size_t)md->max_batch * layer_out_floats(&bl->c2) * sizeof(float)))) return -1;
    }
    const Layer *last = &rm->blk[rm->nb - 1].c2;
    if (layer_gap_init(&rm->gap, last->O, last->OH, last->OW, md->max_batch)) return -1;
    if (!(rm->scratch = malloc((rm->scratch_n ? rm->scratch_n : 1) * sizeof(float)))) return -1;
    for (int i = 0; i < 4; i++)
        if (!(rm->g[i] = malloc((size_t)md->max_batch * rm->act * sizeof(float)))) return -1;
    return 0;
}

static int rn_check(const Model *md, const JobSpec *spec, const ResnetSpec *p, int H, int W, char *err, size_t errlen) {
    if (md->rule->feedback != RULE_BP) {
        snprintf(err, errlen, "resnet: rule %s is not supported (use bp)", md->rule->name);
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
    int lc = !strcmp(p->layer_type, "lc");
    if (strcmp(spec->sleep, "none") && (!lc || strcmp(spec->sleep, "instant"))) {
        snprintf(err, errlen, "resnet: sleep %s needs layer_type lc and sleep instant (dynamic: not built for resnet)",
                 spec->sleep);
        return -1;
    }
    return 0;
}

static int rn_kind_build(Model *md, const JobSpec *spec, int C, int H, int W, char *err, size_t errlen) {
    ResnetModel *rm = rn_of(md);
    const ResnetSpec *p = rn_spec(spec);
    if (rn_check(md, spec, p, H, W, err, errlen)) return -1;
    ConvDesc d[RN_MAX_CONV];
    int nc = rn_plan(p, C, H, W, d), bn_ch = 0;
    for (int i = 0; i < nc; i++) bn_ch += d[i].O;
    rm->lc = !strcmp(p->layer_type, "lc"), rm->nb = 3 * p->n;
    rm->sleep = !strcmp(spec->sleep, "instant"), rm->sleep_every = spec->sleep_every;
    rm->share = !strcmp(spec->sleep_share, "map") ? LC_SHARE_MAP : LC_SHARE_GRID;
    md->in_dim = C * H * W;
    if (rn_declare(md, spec, d, nc, bn_ch, err, errlen)) return -1;
    if (rn_layers(md, spec, d)) {
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
        layer_free(&bl->c1), layer_free(&bl->b1), layer_free(&bl->c2), layer_free(&bl->b2);
        layer_free(&bl->cs), layer_free(&bl->bs), free(bl->out);
    }
    free(rm->scratch);
    for (int i = 0; i < 4; i++) free(rm->g[i]);
    mlp_free(&rm->m);
}

/* out <- max(a + b, 0) over n floats (the residual add and its ReLU). */
MULTIVERSION static void rn_add_relu(float *out, const float *a, const float *b, size_t n) {
    for (size_t j = 0; j < n; j++) {
        float v = a[j] + b[j];
        out[j] = v > 0.0f ? v : 0.0f;
    }
}

/* t <- g where out > 0, else 0 (the gradient through that ReLU); din += t if din. */
MULTIVERSION static void rn_relu_grad(float *t, float *din, const float *out, const float *g, size_t n) {
    for (size_t j = 0; j < n; j++) t[j] = out[j] > 0.0f ? g[j] : 0.0f;
    if (din)
        for (size_t j = 0; j < n; j++) din[j] += t[j];
}

static void fwd(ResnetModel *rm, Layer *l, const float *x, int B, int train) {
    l->ops->forward(l, x, B, train, rm->scratch);
}

static double rn_kind_forward(Model *md, const float *x, const uint8_t *y, int B, int features, long *correct) {
    (void)features;
    ResnetModel *rm = rn_of(md);
    int train = !md->no_grad;
    fwd(rm, &rm->c0, x, B, train), fwd(rm, &rm->b0, rm->c0.y, B, train);
    const float *a = rm->b0.y;
    for (int b = 0; b < rm->nb; b++) {
        Block *bl = &rm->blk[b];
        fwd(rm, &bl->c1, a, B, train), fwd(rm, &bl->b1, bl->c1.y, B, train);
        fwd(rm, &bl->c2, bl->b1.y, B, train), fwd(rm, &bl->b2, bl->c2.y, B, train);
        const float *sc = a;
        if (bl->has_sc) fwd(rm, &bl->cs, a, B, train), fwd(rm, &bl->bs, bl->cs.y, B, train), sc = bl->bs.y;
        rn_add_relu(bl->out, bl->b2.y, sc, (size_t)B * layer_out_floats(&bl->c2));
        a = bl->out;
    }
    fwd(rm, &rm->gap, a, B, train);
    return mlp_forward(&rm->m, rm->gap.y, y, B, correct);
}

/* dx (zeroed first, B images) += l's input gradient from dy. */
static void bwd0(ResnetModel *rm, Layer *l, const float *x, const float *dy, float *dx, int B) {
    memset(dx, 0, (size_t)B * l->C * l->H * l->W * sizeof(float));
    l->ops->backward(l, x, dy, dx, B, rm->scratch);
}

/* Block bl's backward: G (its output's gradient) -> Din (its input's, zeroed here). */
static void rn_block_backward(ResnetModel *rm, Block *bl, const float *in, const float *G, float *Din, int B) {
    float *T = rm->g[2], *u = rm->g[3];
    size_t n = (size_t)B * layer_out_floats(&bl->c2);
    memset(Din, 0, (size_t)B * bl->c1.C * bl->c1.H * bl->c1.W * sizeof(float));
    rn_relu_grad(T, bl->has_sc ? NULL : Din, bl->out, G, n); /* identity shortcut: Din += T */
    if (bl->has_sc) {
        bwd0(rm, &bl->bs, bl->cs.y, T, u, B);
        bl->cs.ops->backward(&bl->cs, in, u, Din, B, rm->scratch);
    }
    float *v = (float *)G; /* G is dead once T holds the masked gradient: reuse it */
    bwd0(rm, &bl->b2, bl->c2.y, T, u, B);
    bwd0(rm, &bl->c2, bl->b1.y, u, v, B);
    bwd0(rm, &bl->b1, bl->c1.y, v, u, B);
    bl->c1.ops->backward(&bl->c1, in, u, Din, B, rm->scratch);
}

static void rn_kind_backward(Model *md, const float *x, const uint8_t *y, int B, int features) {
    (void)features;
    ResnetModel *rm = rn_of(md);
    mlp_backward(&rm->m, y, B);
    const float *last = rm->blk[rm->nb - 1].out;
    float *G = rm->g[0], *D = rm->g[1];
    bwd0(rm, &rm->gap, last, rm->m.dinp, G, B);
    for (int b = rm->nb - 1; b >= 0; b--) {
        const float *in = b ? rm->blk[b - 1].out : rm->b0.y;
        rn_block_backward(rm, &rm->blk[b], in, G, D, B);
        float *t = G;
        G = D, D = t;
    }
    bwd0(rm, &rm->b0, rm->c0.y, G, D, B);
    rm->c0.ops->backward(&rm->c0, x, D, NULL, B, rm->scratch);
}

static const Mlp *rn_kind_head(const Model *md) { return &rn_of(md)->m; }

static void rn_share(const Layer *l, int share) {
    lc_share_instant(l->w, l->C, l->OH, l->OW, l->O, l->K, share);
}

/* lc with sleep instant: every sleep_every steps each LC layer's kernels <- group means */
static void rn_kind_after_step(Model *md) {
    ResnetModel *rm = rn_of(md);
    if (!rm->sleep || md->step % rm->sleep_every) return;
    rn_share(&rm->c0, rm->share);
    for (int b = 0; b < rm->nb; b++) {
        const Block *bl = &rm->blk[b];
        rn_share(&bl->c1, rm->share), rn_share(&bl->c2, rm->share);
        if (bl->has_sc) rn_share(&bl->cs, rm->share);
    }
    rm->n_sleeps++;
}

static void rn_kind_final_metrics(Model *md, const Split *test, JobMetrics *m) {
    (void)test;
    m->n_sleeps = (double)rn_of(md)->n_sleeps;
}

/* Bytes (memest.h): per conv/LC layer its weights, gradients, two optimiser moments, one
 * spare and a copy per snapshot stage, its output, its BN's output and the block output;
 * the widest scratch, four gradient buffers of the widest activation, the head and the
 * examples as floats and bytes. */
/* Layer d's shape as a Layer (no buffers): what its ops row needs for scratch and counts. */
static Layer rn_layer_shape(const ConvDesc *d, int lc) {
    Layer l = {.ops = lc ? &LAYER_LC : &LAYER_CONV, .C = d->C, .H = d->H, .W = d->W, .O = d->O, .K = d->K,
               .stride = d->stride, .pad = (d->K - 1) / 2};
    l.OH = layer_out_size(l.H, l.K, l.stride), l.OW = layer_out_size(l.W, l.K, l.stride);
    return l;
}

static size_t rn_kind_memory(const JobSpec *s, int C, int H, int W, int n_train, int n_test) {
    const ResnetSpec *p = rn_spec(s);
    ResnetSpec q = *p;
    q.n = q.n < 1 ? 1 : q.n > RN_MAX_N ? RN_MAX_N : q.n;
    int lc = !strcmp(p->layer_type, "lc");
    size_t B = (size_t)(s->batch_size > 0 ? s->batch_size : 1), floats = 0, scratch = 0, act = 0;
    size_t copies = 5 + (s->snapshots[0] != 0);
    for (const char *c = s->snapshots; *c; c++) copies += *c == ',';
    ConvDesc d[RN_MAX_CONV];
    int nc = rn_plan(&q, C, H, W, d);
    for (int i = 0; i < nc; i++) {
        Layer l = rn_layer_shape(&d[i], lc);
        size_t out = layer_out_floats(&l), sc = l.ops->scratch(&l, (int)B);
        floats += (l.ops->n_params(&l) + 2 * (size_t)l.O) * copies + B * out * 3; /* conv out, BN out, block out */
        scratch = sc > scratch ? sc : scratch;
        act = out > act ? out : act;
        act = (size_t)l.C * l.H * l.W > act ? (size_t)l.C * l.H * l.W : act;
    }
    floats += scratch + 4 * B * act;
    JobSpec head = *s;
    head.hidden[0] = 0;
    return 4 * floats + memest_head(&head, (size_t)d[nc - 1].O) + ((size_t)n_train + n_test) * (size_t)C * H * W * 5;
}

/* Work (work.h) per example of conv (or LC) layer d with its BatchNorm: conv in the tap form
 * (layer.h), a product per tap and image forward, two backward (one for the first layer),
 * the image padded and the output copied out (and back); otherwise per chunk of images
 * their patches and one product forward, two backward; lc, a product per position over the
 * batch with the weights streamed once forward and three times backward, as lc's; BN,
 * residual add and ReLU as elementwise passes. Per instant sleep: *sleep. */
static void rn_layer_work(const JobSpec *s, int lc, const ConvDesc *d, int first, Work *fwd, Work *bwd, Work *sleep,
                          double *params) {
    double B = s->batch_size > 0 ? s->batch_size : 1, ckk = (double)d->C * d->K * d->K;
    Layer l = rn_layer_shape(d, lc);
    double P = (double)l.OH * l.OW, kern = d->O * ckk, out = d->O * P, in = (double)d->C * d->H * d->W;
    if (lc) {
        work_gemm(fwd, P / B, d->O, B, ckk);
        work_gemm(bwd, P / B, d->O, ckk, B);
        if (!first) work_gemm(bwd, P / B, ckk, B, d->O);
        work_stream(fwd, P * kern / B, 16.0 * P * kern);
        work_stream(bwd, 3.0 * P * kern / B, 16.0 * P * kern);
        sleep->n[WK_STREAM] += 3.0 * P * kern;
        *params += P * kern;
        fwd->n[WK_GATHER] += P * ckk;
        bwd->n[WK_GATHER] += P * (first ? 1.0 : 2.0) * ckk;
    } else if (layer_conv_taps(&l)) {
        double kk = (double)d->K * d->K, ne = l.OH * (double)(d->W + 2 * l.pad);
        work_gemm(fwd, kk, d->O, ne, d->C);
        work_gemm(bwd, kk, d->O, d->C, ne);
        if (!first) work_gemm(bwd, kk, d->C, ne, d->O);
        fwd->n[WK_GATHER] += in + out;
        bwd->n[WK_GATHER] += (first ? 1.0 : 2.0) * in + out;
        *params += kern;
    } else {
        double nb = layer_conv_chunk(&l, (int)B), tr = nb > 1 ? out : 0.0; /* (O, nb*P) <-> (nb, O, P) */
        work_gemm(fwd, 1.0 / nb, d->O, nb * P, ckk);
        work_gemm(bwd, 1.0 / nb, d->O, ckk, nb * P);
        if (!first) work_gemm(bwd, 1.0 / nb, ckk, nb * P, d->O);
        fwd->n[WK_GATHER] += P * ckk + tr;
        bwd->n[WK_GATHER] += P * (first ? 1.0 : 2.0) * ckk + tr;
        *params += kern;
    }
    fwd->n[WK_STREAM] += 6.0 * out; /* BN statistics and normalisation, ReLU or the residual add */
    bwd->n[WK_STREAM] += 9.0 * out;
    *params += 2.0 * d->O;
}

/* Work (work.h): the layers, the global average pool and the head, the instant sleeps every
 * sleep_every steps. */
static void rn_kind_work(const JobSpec *s, int C, int H, int W, int n_train, int n_test, Work *w) {
    ResnetSpec q = *rn_spec(s);
    q.n = q.n < 1 ? 1 : q.n > RN_MAX_N ? RN_MAX_N : q.n;
    int lc = !strcmp(q.layer_type, "lc");
    ConvDesc d[RN_MAX_CONV];
    int nc = rn_plan(&q, C, H, W, d);
    Work fwd = {0}, bwd = {0}, sleep = {0};
    double params = 0.0;
    for (int i = 0; i < nc; i++) rn_layer_work(s, lc, &d[i], i == 0, &fwd, &bwd, &sleep, &params);
    const ConvDesc *last = &d[nc - 1];
    fwd.n[WK_STREAM] += (double)last->O * layer_out_size(last->H, last->K, last->stride) *
                        layer_out_size(last->W, last->K, last->stride); /* global average pool */
    JobSpec head = *s;
    head.hidden[0] = 0;
    HeadWork hd;
    work_head(&head, last->O, 10, 1.0, 1, &hd);
    work_add(&fwd, &hd.fwd, 1.0), work_add(&bwd, &hd.bwd, 1.0);
    JobPasses p = {.d = C * H * W, .n_train = n_train, .n_test = n_test, .fwd = &fwd, .bwd = &bwd, .eval_fwd = &fwd,
                   .noise_fwd = &fwd, .noise_bwd = &bwd, .params = params + hd.params,
                   .stage_flops = work_head_stage_flops(&head, last->O)};
    work_schedule(&head, &p, w);
    double B = s->batch_size > 0 ? s->batch_size : 1, steps = (double)s->epochs * ceil(n_train / B);
    if (lc && !strcmp(s->sleep, "instant"))
        work_add(w, &sleep, floor(steps / (s->sleep_every > 0 ? s->sleep_every : 1)));
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

static const MetricDef RN_METRICS[] = {
    {"n_sleeps", offsetof(JobMetrics, n_sleeps), "lc: sleep phases run"},
};

const ModelKind MODEL_RESNET = {
    .name = "resnet",
    .help = "CIFAR ResNet-6n+2 (BasicBlocks, BatchNorm), conv or locally connected layers; sleep instant shares",
    .phases = PHASE_SUPERVISED | PHASE_SLEEP,
    .impl_size = sizeof(ResnetModel),
    .build = rn_kind_build,
    .free = rn_kind_free,
    .forward = rn_kind_forward,
    .backward = rn_kind_backward,
    .head = rn_kind_head,
    .memory = rn_kind_memory,
    .work = rn_kind_work,
    .after_step = rn_kind_after_step,
    .final_metrics = rn_kind_final_metrics,
    .params = RN_PARAMS,
    .n_params = (int)(sizeof RN_PARAMS / sizeof *RN_PARAMS),
    .spec_ext = sizeof(ResnetSpec),
    .metrics = RN_METRICS,
    .n_metrics = (int)(sizeof RN_METRICS / sizeof *RN_METRICS),
};

static const ResnetSpec *rn_spec(const JobSpec *s) { return model_spec_ext(&MODEL_RESNET, s); }
