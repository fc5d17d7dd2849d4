/*
 * model_lc.c: model kinds `lc` and `lc_conv` (Pogodin et al., NeurIPS 2021; docs/SCIENCE.md
 * section 4). The network, for lc_channels = [O_0, ..., O_{L-1}] (1 <= L <= LC_MAX_LAYERS):
 *
 *   x -> [layer l: K x K, stride 1, zero padding (K-1)/2, bias per channel -> ReLU
 *         -> 2x2 max-pool (lc_pool: max) or nothing (none)] for l = 0..L-1 -> the FC head
 *
 * lc: each layer is locally connected (lc.h: a kernel per output position, lc_W<l>
 * (H*W, O, C*K*K)); every sleep_every optimiser steps a sleep shares weights within groups
 * of positions (instant: group means; dynamic: the Hebbian sleep). lc_conv: each layer is a
 * conv layer (conv_W<l> (O, C, K, K)) -- the lc network whose kernels are tied across
 * positions, which computes the same (tests/test_lc_model.c).
 *
 * The network is a chain of rows of the layer ops table (layer.h): per layer an lc or conv
 * row with its bias (and the ReLU fused when there is no pool), then a maxpool row with the
 * ReLU fused after the max (the same floats as ReLU then max-pool). lc keeps the activations
 * between its first layer's output and its last row's input batch-last (lc.h): no LC layer
 * transposes, and the floats are those of the batch-first chain, bit for bit.
 *
 * Both layers learn through the head's input gradient and the rule's feedback: bp passes the
 * weights themselves; fa a fixed random tensor of the weights' shape (lc_B<l> / conv_B<l>,
 * l >= 1; layer 0 needs no input gradient), drawn as the weights are drawn. dfa has no path
 * to these layers and is refused.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "lc.h"
#include "memest.h"
#include "model.h"

int model_head_build(Model *md, Mlp *m, const JobSpec *spec, int in_dim, int need_dinput, char *err,
                     size_t errlen);

/* rng streams of this kind (model.h's RNG_STREAM_* stop at 6) */
enum { LC_STREAM_INIT = 0x4c4301, LC_STREAM_FEEDBACK = 0x4c4302, LC_STREAM_SLEEP = 0x4c4303 };

/* lc_conv's conv layers: 0, layer.c's choice per layer (the tap form from LAYER_TAPS_MIN_C
 * input planes, else chunks of images sharing a GEMM). */
enum { LC_CONV_CHUNK = 0 };

typedef struct LcModel {
    int conv;           /* lc_conv */
    int L, pool;
    Layer net[2 * LC_MAX_LAYERS]; /* per layer: LC (conv) with bias [and ReLU], [maxpool with ReLU] */
    Layer *ly[LC_MAX_LAYERS];     /* the LC (conv) layers in net */
    int n;              /* layers in net */
    Mlp m;
    float *scratch;     /* the layers' scratch */
    float *g[2];        /* (max_batch, widest map) gradient buffers */
    int sleep;          /* 0 none, 1 instant, 2 dynamic */
    int share, sleep_every, sleep_steps, sleep_batch;
    float sleep_lr, sleep_gamma;
    float *sleep_scratch;
    Rng sleep_rng;
    long n_sleeps;
    double snr_paper[LC_MAX_LAYERS], snr_code[LC_MAX_LAYERS];
} LcModel;

static LcModel *lc_of(const Model *md) { return (LcModel *)md->impl; }

static int lc_depth(const JobSpec *spec, int *ch) { return jobspec_intlist(spec->lc_channels, ch, LC_MAX_LAYERS); }

/* The layers' tensors (W, b; FA feedback from layer 1), their shapes checked; the head's
 * input size into *feat. */
static int lc_declare(Model *md, const JobSpec *spec, int C, int H, int W, int *feat, char *err, size_t errlen) {
    LcModel *lm = lc_of(md);
    int ch[LC_MAX_LAYERS], L = lc_depth(spec, ch), K = spec->lc_size;
    lm->conv = !strcmp(spec->model, "lc_conv");
    lm->L = L, lm->pool = !strcmp(spec->lc_pool, "max");
    md->in_dim = C * H * W;
    if (L < 1) {
        snprintf(err, errlen, "%s: lc_channels needs at least one layer", spec->model);
        return -1;
    }
    if (K % 2 == 0) {
        snprintf(err, errlen, "%s: lc_size %d is even (padding (k-1)/2 keeps the map only for odd k)", spec->model, K);
        return -1;
    }
    if (md->rule->feedback == RULE_DFA) {
        snprintf(err, errlen, "%s: rule %s has no feedback path to the LC layers (use bp or fa)", spec->model,
                 md->rule->name);
        return -1;
    }
    int fa = md->rule->feedback == RULE_FA;
    const char *pre = lm->conv ? "conv" : "lc";
    for (int i = 0; i < L; i++) {
        int PH = lm->pool ? H / 2 : H, PW = lm->pool ? W / 2 : W;
        if (PH < 1 || PW < 1) {
            snprintf(err, errlen, "%s: layer %d's %dx%d map cannot be pooled", spec->model, i, H, W);
            return -1;
        }
        int shape[4] = {H * W, ch[i], C * K * K, 0}, cshape[4] = {ch[i], C, K, K}, bshape[1] = {ch[i]};
        char name[16];
        snprintf(name, sizeof name, "%s_W%d", pre, i);
        int bad = tensors_add(&md->tensors, name, lm->conv ? 4 : 3, lm->conv ? cshape : shape, 0) < 0;
        snprintf(name, sizeof name, "%s_b%d", pre, i);
        bad = bad || tensors_add(&md->tensors, name, 1, bshape, 0) < 0;
        snprintf(name, sizeof name, "%s_B%d", pre, i);
        bad = bad || (fa && i > 0 && tensors_add(&md->tensors, name, lm->conv ? 4 : 3, lm->conv ? cshape : shape, 1) < 0);
        if (bad) {
            snprintf(err, errlen, "too many tensors");
            return -1;
        }
        C = ch[i], H = PH, W = PW;
    }
    *feat = C * H * W;
    return 0;
}

static float *lc_tensor(Model *md, const char *pre, char kind, int i, float **grad) {
    char name[16];
    snprintf(name, sizeof name, "%s_%c%d", pre, kind, i);
    const Tensor *t = tensors_find(&md->tensors, name);
    if (grad) *grad = md->grads + t->offset;
    return model_tensor(md, t);
}

/* Sets up the layers on the tensors, allocates their buffers, draws the weights. @return 0 or -1. */
static int lc_init_layers(Model *md, const JobSpec *spec, int C, int H, int W) {
    LcModel *lm = lc_of(md);
    const char *pre = lm->conv ? "conv" : "lc";
    int ch[LC_MAX_LAYERS], fa = md->rule->feedback == RULE_FA, B = md->max_batch, K = spec->lc_size;
    lc_depth(spec, ch);
    Rng ri, rf;
    rng_seed(&ri, (uint64_t)spec->seed, LC_STREAM_INIT);
    rng_seed(&rf, (uint64_t)spec->seed, LC_STREAM_FEEDBACK);
    double eps = !lm->conv && !strcmp(spec->lc_init, "shared") ? spec->lc_init_eps : -1.0;
    lm->n = 0;
    for (int i = 0; i < lm->L; i++) {
        Layer *ly = lm->ly[i] = &lm->net[lm->n++];
        if (layer_conv_init(ly, lm->conv ? &LAYER_CONV : &LAYER_LC, C, H, W, ch[i], K, 1, B)) return -1;
        ly->chunk = lm->conv ? LC_CONV_CHUNK : 0, ly->relu = !lm->pool;
        ly->w = lc_tensor(md, pre, 'W', i, &ly->dw), ly->b = lc_tensor(md, pre, 'b', i, &ly->db);
        /* lc_conv: one kernel, drawn as lc draws a 1x1 map's (the same Kaiming fan-out std) */
        int PH = lm->conv ? 1 : H, PW = lm->conv ? 1 : W;
        lc_init(ly->w, ly->b, C, PH, PW, ly->O, K, eps, &ri);
        ly->fb = ly->w; /* bp; layer 0 computes no input gradient */
        size_t nk = (size_t)PH * PW * ly->O; /* lc: kernels kept in lc.c's order (lc.h) */
        if (!lm->conv && lc_kernels_from_public(ly->w, nk, C, K)) return -1;
        if (fa && i > 0) {
            float *Fb = lc_tensor(md, pre, 'B', i, NULL);
            lc_init(Fb, NULL, C, PH, PW, ly->O, K, -1.0, &rf);
            if (!lm->conv && lc_kernels_from_public(Fb, nk, C, K)) return -1;
            ly->fb = Fb;
        }
        C = ly->O;
        if (lm->pool) {
            if (layer_maxpool_init(&lm->net[lm->n++], C, H, W, 1, B)) return -1;
            H /= 2, W /= 2;
        }
    }
    /* lc: activations batch-last (lc.h) from the first layer's output to the last layer's
       input, so that no LC layer transposes: the same floats as batch-first (lc.h, layer.c) */
    for (int j = 0; !lm->conv && lm->n > 1 && j < lm->n; j++)
        lm->net[j].bl = (j ? LC_IN_BL : 0) | (j < lm->n - 1 ? LC_OUT_BL : 0);
    size_t sc = layer_chain_scratch(lm->net, lm->n, B), act = layer_chain_act(lm->net, lm->n);
    if (!(lm->scratch = malloc((sc ? sc : 1) * sizeof(float)))) return -1;
    for (int i = 0; i < 2; i++)
        if (!(lm->g[i] = malloc((size_t)B * act * sizeof(float)))) return -1;
    return 0;
}

/* The sleep's settings, random stream and scratch. @return 0 or -1 (memory). */
static int lc_sleep_setup(LcModel *lm, const JobSpec *spec) {
    lm->sleep = lm->conv ? 0 : !strcmp(spec->sleep, "instant") ? 1 : !strcmp(spec->sleep, "dynamic") ? 2 : 0;
    lm->share = !strcmp(spec->sleep_share, "map") ? LC_SHARE_MAP : LC_SHARE_GRID;
    lm->sleep_every = spec->sleep_every, lm->sleep_steps = spec->sleep_steps, lm->sleep_batch = spec->sleep_batch;
    lm->sleep_lr = (float)spec->sleep_lr, lm->sleep_gamma = (float)spec->sleep_gamma;
    rng_seed(&lm->sleep_rng, (uint64_t)spec->seed, LC_STREAM_SLEEP);
    if (lm->sleep == 2) {
        size_t ss = 0;
        for (int i = 0; i < lm->L; i++) {
            const Layer *ly = lm->ly[i];
            size_t s = lc_sleep_scratch_floats(ly->C, ly->H, ly->W, ly->O, ly->K, lm->share, lm->sleep_batch);
            ss = s > ss ? s : ss;
        }
        if (ss && !(lm->sleep_scratch = malloc(ss * sizeof(float)))) return -1;
    }
    return 0;
}

static int lc_kind_build(Model *md, const JobSpec *spec, int C, int H, int W, char *err, size_t errlen) {
    LcModel *lm = lc_of(md);
    int feat;
    if (lc_declare(md, spec, C, H, W, &feat, err, errlen) || model_head_build(md, &lm->m, spec, feat, 1, err, errlen))
        return -1;
    if (lc_init_layers(md, spec, C, H, W) || lc_sleep_setup(lm, spec)) {
        snprintf(err, errlen, "out of memory building the model");
        return -1;
    }
    for (int i = 0; i < LC_MAX_LAYERS; i++) lm->snr_paper[i] = lm->snr_code[i] = NAN;
    return 0;
}

/* lc: the LC kernels (and their feedback) in the results file's (c, ky, kx) order (lc.h) */
static void lc_snapshot_order(const Model *md, const float *psrc, const float *fsrc, float *params, float *fixed) {
    LcModel *lm = lc_of(md);
    for (int i = 0; !lm->conv && i < lm->L; i++) layer_lc_file_order(lm->ly[i], md->params, md->fixed, psrc, fsrc, params, fixed);
}

static void lc_kind_free(Model *md) {
    LcModel *lm = lc_of(md);
    for (int i = 0; i < 2 * LC_MAX_LAYERS; i++) layer_free(&lm->net[i]);
    free(lm->scratch), free(lm->g[0]), free(lm->g[1]), free(lm->sleep_scratch);
    mlp_free(&lm->m);
}

static double lc_kind_forward(Model *md, const float *x, const uint8_t *y, int B, int features, long *correct) {
    (void)features; /* no frozen front-end: always images */
    LcModel *lm = lc_of(md);
    layer_chain_forward(lm->net, lm->n, x, B, !md->no_grad, lm->scratch);
    return mlp_forward(&lm->m, lm->net[lm->n - 1].y, y, B, correct);
}

static void lc_kind_backward(Model *md, const float *x, const uint8_t *y, int B, int features) {
    (void)features;
    LcModel *lm = lc_of(md);
    mlp_backward(&lm->m, y, B);
    layer_chain_backward(lm->net, lm->n, x, lm->m.dinp, B, lm->g[0], lm->g[1], lm->scratch);
}

static const Mlp *lc_kind_head(const Model *md) { return &lc_of(md)->m; }

/* One sleep of every LC layer. */
static void lc_sleep(LcModel *lm) {
    for (int i = 0; i < lm->L; i++) {
        Layer *ly = lm->ly[i];
        if (lm->sleep == 1) lc_share_instant(ly->w, ly->C, ly->H, ly->W, ly->O, ly->K, lm->share);
        else if (lm->sleep_scratch)
            lc_sleep_dynamic(ly->w, lm->sleep_scratch, ly->C, ly->H, ly->W, ly->O, ly->K, lm->share, lm->sleep_steps,
                             lm->sleep_lr, lm->sleep_gamma, lm->sleep_batch, &lm->sleep_rng);
    }
    lm->n_sleeps++;
}

static void lc_kind_after_step(Model *md) {
    LcModel *lm = lc_of(md);
    if (lm->sleep && md->step % lm->sleep_every == 0) lc_sleep(lm);
}

static void lc_measure(LcModel *lm) {
    for (int i = 0; i < lm->L; i++) {
        const Layer *ly = lm->ly[i];
        lc_snr(ly->w, ly->C, ly->H, ly->W, ly->O, ly->K, &lm->snr_paper[i], &lm->snr_code[i]);
    }
}

/* lc: SNR_w of every LC layer at the end of each epoch (after the epoch's last sleep) */
/* Bytes (memest.h): per layer the weights with gradients, two Adam moments, feedback and
 * snapshot copies (LC: one kernel per position; conv: one), the batch's activations, pooled
 * maps, winners and gradients, and the layer's scratch (layer.h); the FC head and the
 * examples as the mlp estimate counts them. */
static size_t lc_kind_memory(const JobSpec *s, int C, int H, int W, int n_train, int n_test) {
    int ch[LC_MAX_LAYERS], L = lc_depth(s, ch), K = s->lc_size, lc = !strcmp(s->model, "lc");
    size_t B = (size_t)(s->batch_size > 0 ? s->batch_size : 1), bytes = 0, sleep = 0;
    int c = C, h = H, w = W, dyn = lc && !strcmp(s->sleep, "dynamic");
    int share = !strcmp(s->sleep_share, "map") ? LC_SHARE_MAP : LC_SHARE_GRID;
    for (int l = 0; l < L; l++) {
        size_t kernels = (size_t)ch[l] * c * K * K * (lc ? (size_t)h * w : 1);
        size_t ss = dyn ? lc_sleep_scratch_floats(c, h, w, ch[l], K, share, s->sleep_batch) : 0;
        sleep = ss > sleep ? ss : sleep; /* the dynamic sleep's one scratch: the largest layer's */
        Layer ly = layer_conv_shape(lc ? &LAYER_LC : &LAYER_CONV, c, h, w, ch[l], K, 1, (K - 1) / 2);
        ly.chunk = lc ? 0 : LC_CONV_CHUNK, ly.relu = strcmp(s->lc_pool, "max") != 0;
        bytes += 4 * (kernels * 8 + B * (size_t)ch[l] * h * w * 4) + 4 * ly.ops->scratch(&ly, (int)B);
        c = ch[l];
        if (!strcmp(s->lc_pool, "max")) h /= 2, w /= 2;
    }
    JobSpec head = *s;
    return bytes + 4 * sleep + memest_mlp(&head, c, h, w, n_train, n_test) +
           ((size_t)n_train + n_test) * (size_t)C * H * W * 4;
}

/* One layer's work (work.h) per example: fwd and bwd (lc: a product per position over the
 * batch, the patches gathered, the weights streamed once a batch forward and three times
 * backward; lc_conv: layer.c's form, layer_conv_work); per sleep: *sleep. */
static void lc_layer_work(const JobSpec *s, int lc, int c, int h, int w, int O, Work *fwd, Work *bwd, Work *sleep,
                          int first) {
    int K = s->lc_size;
    double B = s->batch_size > 0 ? s->batch_size : 1, P = (double)h * w, ckk = (double)c * K * K, kern = O * ckk;
    if (lc) {
        work_gemm(fwd, P / B, O, B, ckk);
        work_gemm(bwd, P / B, O, ckk, B);
        if (!first) work_gemm(bwd, P / B, ckk, B, O);
        /* the activations batch-last (lc.h) from the first layer's output on: the first
         * layer's batch-first images transposed into its padded chunk forward and backward;
         * a later layer's input read in place where C is a multiple of 8 (the pixels near the
         * edge copied: counted whole) or copied into the chunk (streams), its patches then
         * gathered forward and for dW (but where lc.c reads them in place: lc_few_direct), its
         * input gradient zeroed there and added back; the
         * bias, the outputs, db and dout's transposes for dW (streams) */
        int pad = (K - 1) / 2, hwc = lc_kernels_hwc(c);
        double inp = (double)c * (h + 2 * pad) * (w + 2 * pad);
        fwd->n[first ? WK_GATHER : WK_STREAM] += inp;
        bwd->n[first ? WK_GATHER : WK_STREAM] += inp;
        if (!hwc && !lc_few_direct(c, K, O)) fwd->n[WK_GATHER] += P * ckk, bwd->n[WK_GATHER] += P * ckk;
        if (hwc && O > 32) bwd->n[WK_GATHER] += P * ckk; /* dW's patch rows (lc.c's backward_chunk) */
        if (!first && !hwc) bwd->n[WK_STREAM] += inp + (double)c * h * w;
        fwd->n[WK_STREAM] += P * 2.0 * O;
        bwd->n[WK_STREAM] += P * 3.0 * O;
        work_stream(fwd, P * kern / B, 16.0 * P * kern); /* with its gradient and moments */
        work_stream(bwd, 3.0 * P * kern / B, 16.0 * P * kern);
    } else {
        Layer l = layer_conv_shape(&LAYER_CONV, c, h, w, O, K, 1, (K - 1) / 2);
        l.chunk = LC_CONV_CHUNK;
        layer_conv_work(&l, (int)B, first, fwd, bwd);
        fwd->n[WK_STREAM] += P * 3.0 * O; /* the bias, the outputs */
        bwd->n[WK_STREAM] += P * 4.0 * O;
    }
    if (!lc || !strcmp(s->sleep, "none")) return;
    if (!strcmp(s->sleep, "instant")) {
        sleep->n[WK_STREAM] += 3.0 * P * kern;
        return;
    }
    int pad = (K - 1) / 2;
    double np = (double)(h - 2 * pad) * (w - 2 * pad), groups = !strcmp(s->sleep_share, "map") ? 1.0 : (double)K * K;
    if (np < 1) return;
    double nm = np / groups > 1.0 ? np / groups : 1.0, T = s->sleep_steps, sb = s->sleep_batch;
    work_gemm(sleep, 2.0 * T * groups, sb, nm * O, ckk);
    sleep->n[WK_NORMAL] += T * sb * ckk;
    sleep->n[WK_STREAM] += T * groups * (3.0 * nm * kern + 2.0 * sb * nm * O + sb * ckk) + 6.0 * np * kern;
}

/* Work (work.h): the layers, the head, the sleeps every sleep_every steps. */
static void lc_kind_work(const JobSpec *s, int C, int H, int W, int n_train, int n_test, Work *w) {
    int ch[LC_MAX_LAYERS], L = lc_depth(s, ch), lc = !strcmp(s->model, "lc"), K = s->lc_size, pool = !strcmp(s->lc_pool, "max");
    Work fwd = {0}, bwd = {0}, sleep = {0};
    double params = 0.0;
    int c = C, h = H, wd = W;
    for (int l = 0; l < L; l++) {
        lc_layer_work(s, lc, c, h, wd, ch[l], &fwd, &bwd, &sleep, l == 0);
        params += (double)ch[l] * c * K * K * (lc ? (double)h * wd : 1.0) + ch[l];
        if (pool) fwd.n[lc ? WK_STREAM : WK_GATHER] += (double)ch[l] * h * wd, /* lc: batch-last rows */
            bwd.n[WK_STREAM] += 2.0 * ch[l] * h * wd;
        c = ch[l];
        if (pool) h /= 2, wd /= 2;
    }
    HeadWork hd;
    work_head(s, c * h * wd, 10, 1.0, 1, &hd);
    work_add(&fwd, &hd.fwd, 1.0), work_add(&bwd, &hd.bwd, 1.0);
    JobPasses p = {.d = C * H * W, .n_train = n_train, .n_test = n_test, .fwd = &fwd, .bwd = &bwd, .eval_fwd = &fwd,
                   .noise_fwd = &fwd, .noise_bwd = &bwd, .params = params + hd.params,
                   .stage_flops = work_head_stage_flops(s, c * h * wd)};
    work_schedule(s, &p, w);
    double B = s->batch_size > 0 ? s->batch_size : 1, steps = (double)s->epochs * ceil(n_train / B);
    if (lc && strcmp(s->sleep, "none")) work_add(w, &sleep, floor(steps / (s->sleep_every > 0 ? s->sleep_every : 1)));
}

/* lc's curves: the weight SNR of each LC layer, both definitions */
enum { LC_SNR_PAPER0 = 0, LC_SNR_CODE0 = LC_SNR_PAPER0 + LC_MAX_LAYERS, LC_N_CURVES = LC_SNR_CODE0 + LC_MAX_LAYERS };
static const char *const LC_CURVES[LC_N_CURVES] = {"snr_paper_0", "snr_paper_1", "snr_paper_2", "snr_paper_3",
                                                    "snr_code_0",  "snr_code_1",  "snr_code_2",  "snr_code_3"};

static uint64_t lc_kind_curves(const JobSpec *spec, int *len) {
    int ch[LC_MAX_LAYERS], L = lc_depth(spec, ch);
    uint64_t bits = 0;
    for (int i = 0; i < L; i++) bits |= 1ull << (LC_SNR_PAPER0 + i) | 1ull << (LC_SNR_CODE0 + i);
    *len = bits ? spec->epochs : 0;
    return bits;
}

static void lc_kind_epoch_end(Model *md, int e, JobResult *r) {
    LcModel *lm = lc_of(md);
    lc_measure(lm);
    float *row = model_curve_row(md->kind, r, e);
    if (!row) return;
    for (int i = 0; i < lm->L; i++) {
        row[LC_SNR_PAPER0 + i] = (float)lm->snr_paper[i];
        row[LC_SNR_CODE0 + i] = (float)lm->snr_code[i];
    }
}

static void lc_kind_final_metrics(Model *md, const Split *test, JobMetrics *m) {
    (void)test;
    LcModel *lm = lc_of(md);
    lc_measure(lm);
    double sp = 0.0, sc = 0.0;
    for (int i = 0; i < lm->L; i++) sp += lm->snr_paper[i], sc += lm->snr_code[i];
    m->snr_paper = sp / lm->L, m->snr_code = sc / lm->L;
    m->n_sleeps = (double)lm->n_sleeps;
}

#define F(field) FIELD_OF(JobSpec, field)
static const ParamDef LC_PARAMS[] = {
    {"lc_channels", PK_INTLIST, F(lc_channels), "32,32", NULL, 1, 4096,
     "lc, lc_conv: output channels of each LC (conv) layer, e.g. [32, 32]; depth = its length (1 to 4)", "model=lc|lc_conv"},
    {"lc_size", PK_INT, F(lc_size), "5", NULL, 1, 31, "lc, lc_conv: kernel side (odd; zero padding (k-1)/2, stride 1)",
     "model=lc|lc_conv"},
    {"lc_pool", PK_CHOICE, F(lc_pool), "max", "max|none", 0, 0,
     "lc, lc_conv: after each layer's ReLU a 2x2 max-pool (stride 2), or none", "model=lc|lc_conv"},
    {"lc_init", PK_CHOICE, F(lc_init), "independent", "independent|shared", 0, 0,
     "lc: initial kernels, an independent Kaiming (fan-out) draw per position (the authors'), or one shared kernel "
     "plus lc_init_eps times noise", "model=lc"},
    {"lc_init_eps", PK_REAL, F(lc_init_eps), "0", NULL, 0, 1e6,
     "lc, lc_init shared: relative noise per position (W_p = std (s + eps n_p) / sqrt(1 + eps^2))", "model=lc;lc_init=shared"},
    {"sleep", PK_CHOICE, F(sleep), "none", "none|instant|dynamic", 0, 0,
     "lc: weight sharing every sleep_every steps: none; instant (each kernel <- its group's mean); dynamic (the "
     "Hebbian sleep on tiled noise patches); resnet: the same on its LC layers", "model=lc|resnet"},
    {"sleep_every", PK_INT, F(sleep_every), "10", NULL, 1, 100000000, "lc: optimiser steps between sleeps",
     "model=lc|resnet;sleep=instant|dynamic"},
    {"sleep_share", PK_CHOICE, F(sleep_share), "grid", "grid|map", 0, 0,
     "lc: sharing groups, positions at stride lc_size (resnet: the layer's kernel side) in each direction (the authors') or the whole map",
     "model=lc|resnet;sleep=instant|dynamic"},
    {"sleep_steps", PK_INT, F(sleep_steps), "100", NULL, 1, 1000000, "lc, dynamic sleep: Hebbian iterations T per sleep",
     "model=lc|resnet;sleep=dynamic"},
    {"sleep_lr", PK_REAL, F(sleep_lr), "0.1", NULL, 0, 1e3, "lc, dynamic sleep: learning rate", "model=lc|resnet;sleep=dynamic"},
    {"sleep_gamma", PK_REAL, F(sleep_gamma), "1e-5", NULL, 0, 1e3,
     "lc, dynamic sleep: pull gamma (W - W0) toward the weights at the start of the sleep", "model=lc|resnet;sleep=dynamic"},
    {"sleep_batch", PK_INT, F(sleep_batch), "128", NULL, 1, 1000000, "lc, dynamic sleep: noise patches per iteration",
     "model=lc|resnet;sleep=dynamic"},
};
#undef F

static const MetricDef LC_METRICS[] = {
    {"snr_paper", offsetof(JobMetrics, snr_paper), "lc: weight SNR at the end, the paper's definition (mean over LC layers)"},
    {"snr_code", offsetof(JobMetrics, snr_code), "lc: weight SNR at the end, the authors' code's definition (mean over LC layers)"},
    {"n_sleeps", offsetof(JobMetrics, n_sleeps), "lc: sleep phases run"},
};

/* What both rows share: the network, with LC or conv layers, and its parameters. */
#define LC_COMMON                                                                                        \
    .impl_size = sizeof(LcModel), .build = lc_kind_build, .free = lc_kind_free, .forward = lc_kind_forward, \
    .backward = lc_kind_backward, .features = NULL, .head = lc_kind_head, .memory = lc_kind_memory,        \
    .work = lc_kind_work,                                                                                 \
    .params = LC_PARAMS, .n_params = (int)(sizeof LC_PARAMS / sizeof *LC_PARAMS)

const ModelKind MODEL_LC = {
    .name = "lc",
    .help = "locally connected layers (-> ReLU -> 2x2 max-pool) -> the hidden FC layers; sleep shares weights",
    .phases = PHASE_SUPERVISED | PHASE_SLEEP,
    .curves = lc_kind_curves,
    .after_step = lc_kind_after_step,
    .epoch_end = lc_kind_epoch_end,
    .final_metrics = lc_kind_final_metrics,
    .snapshot_order = lc_snapshot_order,
    .metrics = LC_METRICS,
    .n_metrics = (int)(sizeof LC_METRICS / sizeof *LC_METRICS),
    .curve_names = LC_CURVES,
    .n_curves = LC_N_CURVES,
    LC_COMMON,
};

const ModelKind MODEL_LC_CONV = {
    .name = "lc_conv",
    .help = "the lc network with conv layers (kernels shared by every position)",
    .phases = PHASE_SUPERVISED,
    LC_COMMON,
};
