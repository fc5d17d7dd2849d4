/*
 * model_resnet_work.c: model resnet's memory estimate (memest.h) and operation counts
 * (work.h) from its spec alone, before anything is built: ModelKind.memory and .work.
 */
#include <math.h>
#include <string.h>

#include "lc.h"
#include "memest.h"
#include "model_resnet.h"

/* Bytes (memest.h): per conv/LC layer its weights, gradients, two optimiser moments, one
 * spare and a copy per snapshot stage (fa: its feedback too), its output and its BN's output
 * (a block's second BN holds the block's output; a 1x1 shortcut's BN writes into a gradient
 * buffer); the widest scratch, the dynamic sleep's, three gradient buffers of the widest
 * activation, the head and the examples as floats and bytes. */
size_t resnet_memory(const JobSpec *s, int C, int H, int W, int n_train, int n_test) {
    const ResnetSpec *p = resnet_spec(s);
    ResnetSpec q = *p;
    q.n = q.n < 1 ? 1 : q.n > RN_MAX_N ? RN_MAX_N : q.n;
    int lc = !strcmp(p->layer_type, "lc");
    size_t B = (size_t)(s->batch_size > 0 ? s->batch_size : 1), floats = 0, scratch = 0, act = 0;
    double sleep = 0.0;
    size_t copies = 5 + (s->snapshots[0] != 0);
    for (const char *c = s->snapshots; *c; c++) copies += *c == ',';
    int fa = !strcmp(s->rule, "fa"), dyn = lc && !strcmp(s->sleep, "dynamic");
    int share = !strcmp(s->sleep_share, "map") ? LC_SHARE_MAP : LC_SHARE_GRID;
    ConvDesc d[RN_MAX_CONV];
    int nc = resnet_plan(&q, C, H, W, d);
    for (int i = 0; i < nc; i++) {
        Layer l = resnet_layer_shape(&d[i], lc);
        size_t out = layer_out_floats(&l), sc = l.ops->scratch(&l, (int)B);
        floats += (l.ops->n_params(&l) + 2 * (size_t)l.O) * copies + B * out * (l.K == 1 ? 1 : 2); /* conv out, BN out */
        if (fa && i > 0) floats += l.ops->n_params(&l) * (copies - 4); /* the feedback and its snapshots */
        if (dyn) sleep = fmax(sleep, (double)lc_sleep_scratch_floats_strided(l.C, l.H, l.W, l.stride, l.O, l.K, share, s->sleep_batch));
        scratch = sc > scratch ? sc : scratch;
        act = out > act ? out : act;
        act = (size_t)l.C * l.H * l.W > act ? (size_t)l.C * l.H * l.W : act;
    }
    floats += scratch + 3 * B * act + (size_t)sleep;
    JobSpec head = *s;
    head.hidden[0] = 0;
    return 4 * floats + memest_head(&head, (size_t)d[nc - 1].O) + ((size_t)n_train + n_test) * (size_t)C * H * W * 5;
}

/* Work (work.h) per example of conv (or LC) layer d with its BatchNorm: conv as the conv row
 * counts it (layer_conv_work: Winograd, the tap form or patches in chunks); lc, a product per position over the
 * batch with the weights streamed once forward and three times backward, as lc's; BN,
 * residual add and ReLU as elementwise passes. */
static void rn_layer_work(const JobSpec *s, int lc, const ConvDesc *d, int first, Work *fwd, Work *bwd,
                          double *params) {
    double B = s->batch_size > 0 ? s->batch_size : 1, ckk = (double)d->C * d->K * d->K;
    Layer l = resnet_layer_shape(d, lc);
    double P = (double)l.OH * l.OW, kern = d->O * ckk, out = d->O * P, in = (double)d->C * d->H * d->W;
    if (lc) {
        work_gemm(fwd, P / B, d->O, B, ckk);
        work_gemm(bwd, P / B, d->O, ckk, B);
        if (!first) work_gemm(bwd, P / B, ckk, B, d->O);
        work_stream(fwd, P * kern / B, 16.0 * P * kern);
        work_stream(bwd, 3.0 * P * kern / B, 16.0 * P * kern);
        *params += P * kern;
        /* the activations batch-last (lc.h): the first layer's batch-first images transposed
         * into its padded chunk forward and backward; a later layer's input, C a multiple of 8,
         * read in place (the pixels near the edge copied: counted whole, a stream) and its
         * input gradient added in place. Patches gathered only where lc.c still does: for dW
         * with 64 channels out (lc.c's backward_chunk), and a layer of few channels not
         * lc_few_direct (both ways; with C not a multiple of 8 its input gradient also goes
         * through the padded chunk) */
        int hwc = lc_kernels_hwc(d->C), few = lc_few_direct(d->C, d->K, d->O);
        double inp = (double)d->C * (d->H + 2 * l.pad) * (d->W + 2 * l.pad);
        fwd->n[first ? WK_GATHER : WK_STREAM] += inp;
        bwd->n[first ? WK_GATHER : WK_STREAM] += inp;
        if (!hwc && !few) fwd->n[WK_GATHER] += P * ckk, bwd->n[WK_GATHER] += P * ckk;
        if (hwc && d->O > 32) bwd->n[WK_GATHER] += P * ckk;
        if (!first && !hwc) bwd->n[WK_STREAM] += inp + in; /* dx zeroed, added back */
    } else {
        layer_conv_work(&l, (int)B, first, fwd, bwd); /* the conv row's own count */
        *params += kern;
    }
    fwd->n[WK_STREAM] += 6.0 * out; /* BN statistics and normalisation, ReLU or the residual add */
    bwd->n[WK_STREAM] += 9.0 * out;
    *params += 2.0 * d->O;
}

/* Work (work.h) of one dynamic sleep of LC layer l (lc_sleep_dynamic_strided): per iteration
 * and group two products (sleep_batch x C*K*K x members*O), the noise patches, the
 * elementwise updates; the grouped copies in and out. np: the non-padded positions. */
static void rn_sleep_work(const JobSpec *s, const Layer *l, Work *sleep) {
    int pad = (l->K - 1) / 2;
    if (l->H - 2 * pad < 1 || l->W - 2 * pad < 1) return;
    double np = (double)((l->H - 2 * pad) / l->stride) * ((l->W - 2 * pad) / l->stride), ckk = (double)l->C * l->K * l->K;
    if (np < 1) return;
    double groups = !strcmp(s->sleep_share, "map") ? 1.0 : (double)l->K * l->K, T = s->sleep_steps;
    double nm = fmax(np / groups, 1.0), sb = s->sleep_batch, kern = l->O * ckk;
    work_gemm(sleep, 2.0 * T * groups, sb, nm * l->O, ckk);
    sleep->n[WK_NORMAL] += T * sb * ckk;
    sleep->n[WK_STREAM] += T * groups * (3.0 * nm * kern + 2.0 * sb * nm * l->O + sb * ckk);
    sleep->n[WK_GATHER] += 6.0 * np * kern;
}

/* Work (work.h): the layers, the global average pool and the head, the sleeps every
 * sleep_every steps; lc: SNR_w at each epoch's end and at the end (two strided passes over
 * the kernels), and the model's fresh pages (the kernel clears each on first touch: about 5
 * floats through main memory per float of rn_kind_memory's estimate, measured here). */
void resnet_work(const JobSpec *s, int C, int H, int W, int n_train, int n_test, Work *w) {
    ResnetSpec q = *resnet_spec(s);
    q.n = q.n < 1 ? 1 : q.n > RN_MAX_N ? RN_MAX_N : q.n;
    int lc = !strcmp(q.layer_type, "lc");
    ConvDesc d[RN_MAX_CONV];
    int nc = resnet_plan(&q, C, H, W, d);
    Work fwd = {0}, bwd = {0}, sleep = {0};
    double params = 0.0;
    for (int i = 0; i < nc; i++) {
        rn_layer_work(s, lc, &d[i], i == 0, &fwd, &bwd, &params);
        Layer l = resnet_layer_shape(&d[i], lc);
        if (!strcmp(s->sleep, "instant")) sleep.n[WK_GATHER] += 3.0 * l.ops->n_params(&l); /* strided: positions */
        if (!strcmp(s->sleep, "dynamic")) rn_sleep_work(s, &l, &sleep);
    }
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
    if (lc && strcmp(s->sleep, "none")) work_add(w, &sleep, floor(steps / (s->sleep_every > 0 ? s->sleep_every : 1)));
    if (lc) w->n[WK_GATHER] += 2.0 * (s->epochs + 1.0) * params; /* SNR_w */
    w->n[WK_DRAM] += 5.0 * (double)resnet_memory(s, C, H, W, n_train, n_test) / 4.0;
}
