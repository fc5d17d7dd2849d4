/*
 * The layer table (src/core/layer.h) and model resnet (src/core/model_resnet.c):
 *  - BatchNorm (with and without its fused ReLU): input, weight and bias gradients against
 *    central finite differences of sum(y * r);
 *  - the whole network (stem, residual blocks with identity and 1x1 strided shortcuts, GAP,
 *    head), conv and lc: parameter gradients against finite differences of the loss;
 *  - the sharing identity: LC layers whose kernels start equal to the conv network's at every
 *    position, under plain SGD with each LC tensor's learning rate lr x N (N its positions)
 *    and instant whole-map sharing after every step, give the conv network's losses and
 *    weights at lr, to rounding, for several steps;
 *  - one dynamic sleep of a tiny LC network (width 4, n 1, 8x8 images; grid and map groups, the
 *    authors' constants): every kernel of a group of two or more goes to its group's mean (the
 *    mean kept), border kernels and lone ones stay, SNR_w rises, and the kind's snr metrics are
 *    the mean of lc_snr over the 3x3 LC layers (the 1x1 shortcuts left out);
 *  - one step of the sleep of a layer at stride 1 and 2 against the authors' construction
 *    (tiles repeated on the layer's input, their border positions);
 *  - rule dfa, a non-default hidden and sleeps on conv layers are refused with a message
 *    naming the field (fa: tests/test_resnet_fa.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "layer.h"
#include "lc.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"

enum { B = 4, CLASSES = 10 };

static void set(JobSpec *s, const char *k, const char *v) {
    char err[256];
    if (jobspec_set(s, k, v, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}

static void fill(float *a, size_t n, Rng *r, double scale) {
    for (size_t i = 0; i < n; i++) a[i] = (float)(scale * rng_normal(r));
}

/* sum(y * r) of l's forward on x (training mode). */
static double bn_loss(Layer *l, const float *x, const float *r) {
    l->ops->forward(l, x, B, 1, NULL);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)B * layer_out_floats(l); i++) s += (double)l->y[i] * r[i];
    return s;
}

/* Max relative error of the analytic gradient g of v (n floats) against finite differences. */
static double fd_err(float *v, const float *g, int n, double (*f)(void *), void *ctx, double h) {
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        float v0 = v[i];
        v[i] = (float)(v0 + h);
        double lp = f(ctx);
        v[i] = (float)(v0 - h);
        double lm = f(ctx);
        v[i] = v0;
        double num = (lp - lm) / (2 * h), e = fabs(num - g[i]) / (fabs(num) + fabs(g[i]) + 1e-2);
        worst = e > worst ? e : worst;
    }
    return worst;
}

typedef struct BnCtx {
    Layer *l;
    float *x, *r;
} BnCtx;

static double bn_f(void *c) {
    BnCtx *b = c;
    return bn_loss(b->l, b->x, b->r);
}

static void test_bn_grad(int relu) {
    enum { C = 3, H = 3, W = 4, N = B * C * H * W };
    Layer l;
    CHECK(layer_bn_init(&l, C, H, W, relu, B) == 0, "bn init");
    float w[C], b[C], rm[C] = {0}, rv[C] = {1, 1, 1}, dw[C] = {0}, db[C] = {0};
    float x[N], r[N], dx[N] = {0};
    Rng g;
    rng_seed(&g, 7, relu);
    fill(x, N, &g, 1.0), fill(r, N, &g, 1.0), fill(w, C, &g, 1.0), fill(b, C, &g, 0.5);
    l.w = w, l.b = b, l.dw = dw, l.db = db, l.run_mean = rm, l.run_var = rv;
    bn_loss(&l, x, r);
    l.ops->backward(&l, x, r, dx, B, NULL);
    BnCtx c = {&l, x, r};
    double ex = fd_err(x, dx, N, bn_f, &c, 1e-2), ew = fd_err(w, dw, C, bn_f, &c, 1e-3),
           eb = fd_err(b, db, C, bn_f, &c, 1e-3);
    CHECK(ex < 2e-3 && ew < 2e-3 && eb < 2e-3, "bn relu %d: relative errors dx %.2e dw %.2e db %.2e", relu, ex, ew, eb);
    layer_free(&l);
}

/*
 * bn and gap over batch-last activations (Layer.bl, the resnet kind's lc layout) against the
 * batch-first layers on the same data relaid, batches of 130 (two chunks) and 5: bn's output,
 * input gradient (with a gate, set and accumulating), dw, db and running statistics within
 * rounding (its sums run in another order); gap's output and input gradient bit for bit (the
 * same sums in the same order).
 */
static void test_batch_last(int nB) {
    enum { C = 3, H = 4, W = 5, P = H * W };
    size_t N = (size_t)nB * C * P;
    Layer f, l, gf, gl;
    CHECK(layer_bn_init(&f, C, H, W, 0, nB) == 0 && layer_bn_init(&l, C, H, W, 0, nB) == 0, "bn init");
    CHECK(layer_gap_init(&gf, C, H, W, nB) == 0 && layer_gap_init(&gl, C, H, W, nB) == 0, "gap init");
    l.bl = gl.bl = LAYER_BL;
    float w[C], b[C], rm[2][C] = {{0}}, rv[2][C] = {{1, 1, 1}, {1, 1, 1}}, dw[2][C] = {{0}}, db[2][C] = {{0}};
    float *x = malloc(N * 4), *gate = malloc(N * 4), *dy = malloc(N * 4), *dx = malloc(N * 4), *xl = malloc(N * 4),
          *gl_ = malloc(N * 4), *dyl = malloc(N * 4), *dxl = malloc(N * 4), *t = malloc(N * 4), *g2 = malloc(nB * C * 4);
    Rng g;
    rng_seed(&g, 11, (uint64_t)nB);
    fill(x, N, &g, 2.0), fill(gate, N, &g, 1.0), fill(dy, N, &g, 1.0), fill(dx, N, &g, 1.0), fill(w, C, &g, 1.0);
    fill(b, C, &g, 0.5), fill(g2, (size_t)nB * C, &g, 1.0);
    for (size_t i = 0; i < N; i++) x[i] += 3.0f; /* a mean away from 0: the shifted sums matter */
    lc_relayout(xl, x, nB, C, P, 0), lc_relayout(gl_, gate, nB, C, P, 0), lc_relayout(dyl, dy, nB, C, P, 0);
    lc_relayout(dxl, dx, nB, C, P, 0);
    f.w = l.w = w, f.b = l.b = b, f.dw = dw[0], l.dw = dw[1], f.db = db[0], l.db = db[1];
    f.run_mean = rm[0], l.run_mean = rm[1], f.run_var = rv[0], l.run_var = rv[1], f.gate = gate, l.gate = gl_;
    f.ops->forward(&f, x, nB, 1, NULL), l.ops->forward(&l, xl, nB, 1, NULL);
    lc_relayout(t, l.y, nB, C, P, 1);
    double e = 0.0;
    for (size_t i = 0; i < N; i++) e = fmax(e, fabs((double)t[i] - f.y[i]));
    CHECK(e < 1e-5, "bn batch-last B %d: forward differs by %g", nB, e);
    for (int c = 0; c < C; c++)
        CHECK(fabs(rm[0][c] - rm[1][c]) < 1e-5 && fabs(rv[0][c] - rv[1][c]) < 1e-5, "bn batch-last B %d: running stats",
              nB);
    for (int set = 0; set < 2; set++) {
        if (set) layer_backward_set(&f, x, dy, dx, nB, NULL), layer_backward_set(&l, xl, dyl, dxl, nB, NULL);
        else f.ops->backward(&f, x, dy, dx, nB, NULL), l.ops->backward(&l, xl, dyl, dxl, nB, NULL);
        lc_relayout(t, dxl, nB, C, P, 1);
        e = 0.0;
        for (size_t i = 0; i < N; i++) e = fmax(e, fabs((double)t[i] - dx[i]) / (1.0 + fabs(dx[i])));
        CHECK(e < 1e-5, "bn batch-last B %d set %d: dx differs by %g", nB, set, e);
    }
    for (int c = 0; c < C; c++)
        CHECK(fabs(dw[0][c] - dw[1][c]) < 1e-4 * (1 + fabs(dw[0][c])) &&
                  fabs(db[0][c] - db[1][c]) < 1e-4 * (1 + fabs(db[0][c])),
              "bn batch-last B %d: dw %g vs %g, db %g vs %g", nB, dw[0][c], dw[1][c], db[0][c], db[1][c]);
    gf.ops->forward(&gf, x, nB, 1, NULL), gl.ops->forward(&gl, xl, nB, 1, NULL);
    CHECK(!memcmp(gf.y, gl.y, (size_t)nB * C * 4), "gap batch-last B %d: output not bit for bit", nB);
    lc_relayout(dxl, dx, nB, C, P, 0); /* the same floats to add to */
    gf.ops->backward(&gf, x, g2, dx, nB, NULL), gl.ops->backward(&gl, xl, g2, dxl, nB, NULL);
    lc_relayout(t, dxl, nB, C, P, 1);
    CHECK(!memcmp(t, dx, N * 4), "gap batch-last B %d: input gradient not bit for bit", nB);
    layer_free(&f), layer_free(&l), layer_free(&gf), layer_free(&gl);
    free(x), free(gate), free(dy), free(dx), free(xl), free(gl_), free(dyl), free(dxl), free(t), free(g2);
}

/*
 * maxpool over a batch-last input (the lc kind's layout), its output batch-last (obl 1) or
 * batch-first, against the batch-first layer on the same data relaid, bit for bit: the
 * output in training and evaluation, and the input gradient (layer_backward_set) routed to
 * the same winners. Inputs on a coarse grid (ties in a window: the first in reading order
 * wins) with a ReLU and without; batches of 130 (two chunks) and 3.
 */
static void test_maxpool_batch_last(int nB, int relu, int obl) {
    enum { C = 3, H = 6, W = 4, P = H * W, Q = P / 4 };
    size_t N = (size_t)nB * C * P, M = (size_t)nB * C * Q;
    Layer f, l;
    CHECK(layer_maxpool_init(&f, C, H, W, relu, nB) == 0 && layer_maxpool_init(&l, C, H, W, relu, nB) == 0,
          "maxpool init");
    l.bl = LC_IN_BL | (obl ? LC_OUT_BL : 0);
    float *x = malloc(N * 4), *xl = malloc(N * 4), *dx = malloc(N * 4), *dxl = malloc(N * 4), *t = malloc(N * 4),
          *dy = malloc(M * 4), *dyl = malloc(M * 4), *yt = malloc(M * 4), *sc = malloc(l.ops->scratch(&l, nB) * 4 + 4);
    Rng g;
    rng_seed(&g, 12, (uint64_t)nB);
    for (size_t i = 0; i < N; i++) x[i] = (float)((int)(rng_uniform(&g) * 5) - 2); /* -2..2: ties */
    fill(dy, M, &g, 1.0);
    lc_relayout(xl, x, nB, C, P, 0);
    if (obl) lc_relayout(dyl, dy, nB, C, Q, 0);
    else memcpy(dyl, dy, M * 4);
    for (int train = 0; train < 2; train++) {
        f.ops->forward(&f, x, nB, train, NULL), l.ops->forward(&l, xl, nB, train, sc);
        if (obl) lc_relayout(yt, l.y, nB, C, Q, 1);
        else memcpy(yt, l.y, M * 4);
        CHECK(!memcmp(yt, f.y, M * 4), "maxpool batch-last B %d relu %d obl %d train %d: output differs", nB, relu, obl,
              train);
    }
    layer_backward_set(&f, x, dy, dx, nB, NULL), layer_backward_set(&l, xl, dyl, dxl, nB, sc);
    lc_relayout(t, dxl, nB, C, P, 1);
    CHECK(!memcmp(t, dx, N * 4), "maxpool batch-last B %d relu %d obl %d: input gradient differs", nB, relu, obl);
    layer_free(&f), layer_free(&l);
    free(x), free(xl), free(dx), free(dxl), free(t), free(dy), free(dyl), free(yt), free(sc);
}

/* A tiny resnet (width 2, n 1) on HW x HW images; extra: "key=value" settings or NULL. */
static int build(Model *md, const char *layer_type, const char *extra, int HW, char *err) {
    JobSpec s;
    jobspec_defaults(&s);
    const char *kv[][2] = {{"model", "resnet"}, {"resnet_width", "2"}, {"resnet_n", "1"}, {"layer_type", layer_type},
                           {"batch_size", "4"},  {"seed", "9"},        {"optimizer", "sgd"}, {"momentum", "0"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) set(&s, kv[i][0], kv[i][1]);
    char buf[128];
    snprintf(buf, sizeof buf, "%s", extra ? extra : "");
    for (char *p = strtok(buf, " "); p; p = strtok(NULL, " ")) {
        char *eq = strchr(p, '=');
        *eq = 0;
        set(&s, p, eq + 1);
    }
    return model_build(md, &s, 3, HW, HW, CLASSES, err, 256);
}

typedef struct NetCtx {
    Model *md;
    const float *x;
    const uint8_t *y;
} NetCtx;

static double net_f(void *c) {
    NetCtx *n = c;
    return n->md->kind->forward(n->md, n->x, n->y, B, 0, NULL);
}

static void test_net_grad(const char *lt) {
    Model md;
    char err[256];
    CHECK(build(&md, lt, NULL, 8, err) == 0, "%s", err);
    float x[B * 3 * 64];
    uint8_t y[B] = {1, 4, 7, 2};
    Rng g;
    rng_seed(&g, 3, 0);
    fill(x, sizeof x / sizeof *x, &g, 1.0);
    md.kind->forward(&md, x, y, B, 0, NULL);
    model_zero_grad(&md);
    md.kind->backward(&md, x, y, B, 0);
    NetCtx c = {&md, x, y};
    double worst = 0.0;
    for (int t = 0; t < md.tensors.n; t++) {
        const Tensor *T = &md.tensors.t[t];
        if (T->fixed) continue;
        /* a few elements of every trainable tensor */
        for (int k = 0; k < 3; k++) {
            long i = (long)rng_below(&g, (uint32_t)tensor_numel(T));
            double e = fd_err(md.params + T->offset + i, md.grads + T->offset + i, 1, net_f, &c, 1e-3);
            if (e > 2e-2) fprintf(stderr, "%s %s[%ld]: %.2e\n", lt, T->name, i, e);
            worst = e > worst ? e : worst;
        }
    }
    CHECK(worst < 2e-2, "%s network: worst relative gradient error %.2e", lt, worst);
    model_free(&md);
}

/* Copies the conv network's tensors into the lc one (each conv kernel to every position). */
static void tie(Model *lc, const Model *cv) {
    for (int t = 0; t < cv->tensors.n; t++) {
        const Tensor *a = &cv->tensors.t[t];
        char name[24];
        int conv = !strncmp(a->name, "conv_W", 6);
        snprintf(name, sizeof name, conv ? "lc_W%s" : "%s", conv ? a->name + 6 : a->name);
        const Tensor *b = tensors_find(&lc->tensors, name);
        int64_t n = tensor_numel(a), reps = tensor_numel(b) / n;
        float *k = malloc((size_t)n * sizeof(float)); /* the conv kernels in lc.c's order (lc.h) */
        if (conv) lc_kernels_convert(k, model_tensor(cv, a), (size_t)a->shape[0], a->shape[1], a->shape[2], 0);
        else memcpy(k, model_tensor(cv, a), (size_t)n * sizeof(float));
        for (int64_t p = 0; p < reps; p++) memcpy(model_tensor(lc, b) + p * n, k, (size_t)n * sizeof(float));
        free(k);
    }
}

/* One plain SGD step; LC tensors at lr x positions. @return the loss. */
static double sgd_step(Model *md, const float *x, const uint8_t *y, double lr) {
    double loss = md->kind->forward(md, x, y, B, 0, NULL);
    model_zero_grad(md);
    md->kind->backward(md, x, y, B, 0);
    for (int t = 0; t < md->tensors.n; t++) {
        const Tensor *T = &md->tensors.t[t];
        if (T->fixed) continue;
        float a = (float)(lr * (!strncmp(T->name, "lc_W", 4) ? T->shape[0] : 1));
        for (int64_t i = 0; i < tensor_numel(T); i++) md->params[T->offset + i] -= a * md->grads[T->offset + i];
    }
    md->step++;
    if (md->kind->after_step) md->kind->after_step(md);
    return loss;
}

static void test_sharing_identity(void) {
    Model cv, lc;
    char err[256];
    CHECK(build(&cv, "conv", NULL, 8, err) == 0, "%s", err);
    CHECK(build(&lc, "lc", "sleep=instant sleep_every=1 sleep_share=map", 8, err) == 0, "%s", err);
    tie(&lc, &cv);
    float x[B * 3 * 64];
    uint8_t y[B] = {3, 0, 9, 5};
    Rng g;
    rng_seed(&g, 4, 0);
    fill(x, sizeof x / sizeof *x, &g, 1.0);
    double worst = 0.0;
    for (int k = 0; k < 6; k++) {
        double a = sgd_step(&cv, x, y, 0.05), b = sgd_step(&lc, x, y, 0.05), e = fabs(a - b) / fabs(a);
        worst = e > worst ? e : worst;
    }
    double werr = 0.0;
    for (int t = 0; t < cv.tensors.n; t++) {
        const Tensor *a = &cv.tensors.t[t];
        if (strncmp(a->name, "conv_W", 6)) continue;
        char name[24];
        snprintf(name, sizeof name, "lc_W%s", a->name + 6);
        const Tensor *b = tensors_find(&lc.tensors, name);
        const float *wa = model_tensor(&cv, a);
        int64_t n = tensor_numel(a);
        float *wb = malloc((size_t)tensor_numel(b) * sizeof(float)); /* in (c, ky, kx) order, as wa */
        lc_kernels_convert(wb, model_tensor(&lc, b), (size_t)(tensor_numel(b) / a->shape[1] / a->shape[2] / a->shape[3]),
                           a->shape[1], a->shape[2], 1);
        for (int64_t p = 0; p < b->shape[0]; p++)
            for (int64_t i = 0; i < n; i++) {
                double e = fabs(wa[i] - wb[p * n + i]) / (fabs(wa[i]) + 1e-3);
                werr = e > werr ? e : werr;
            }
        free(wb);
    }
    CHECK(worst < 1e-5 && werr < 1e-4, "sharing identity: loss rel %.2e, weights rel %.2e", worst, werr);
    printf("sharing identity: 6 steps, losses within %.1e, weights within %.1e\n", worst, werr);
    model_free(&cv), model_free(&lc);
}

/* Kernel sides and strides of the n = 1 network's layers in declaration order (5 and 8: the
 * 1x1 shortcuts); their input maps are 8, 8, 8, 8, 4, 8, 4, 2, 4 wide. */
static const int NET_K[9] = {3, 3, 3, 3, 3, 1, 3, 3, 1};
static const int NET_ST[9] = {1, 1, 1, 2, 1, 2, 2, 1, 2};

/* The positions whose patch lies inside the input (the authors' left_border = ceil(pad/st),
 * right_border = (in - 2 pad)//st + left_border) and their grid groups at stride K from the
 * first of them, or -1 outside: written from the authors' formulas, not from lc.c. */
static int group_of(int y, int x, int IH, int st, int K, int map) {
    int pad = (K - 1) / 2, lo = (pad + st - 1) / st, hi = (IH - 2 * pad) / st + lo;
    if (y < lo || y >= hi || x < lo || x >= hi) return -1;
    return map ? 0 : (y - lo) % K * K + (x - lo) % K;
}

/* One dynamic sleep of layer lc_W<i> (W0 before, W after): border kernels and one-member
 * groups unchanged (*still), group means kept (*merr), the distance to the group mean
 * before the sleep shrunk (num / den of squares). */
static void sleep_layer(const Tensor *t, const float *W0, const float *W, int K, int st, int map, long *still,
                        double *merr, double *num, double *den) {
    int P = t->shape[0], OH = (int)lround(sqrt(P)), n = t->shape[1] * t->shape[2], IH = OH * st;
    for (int gi = -1; gi < K * K; gi++) {
        int members = 0;
        for (int p = 0; p < P; p++) members += group_of(p / OH, p % OH, IH, st, K, map) == gi;
        for (int e = 0; e < n; e++) {
            double m0 = 0.0, m1 = 0.0;
            for (int p = 0; p < P; p++)
                if (group_of(p / OH, p % OH, IH, st, K, map) == gi) m0 += W0[(size_t)p * n + e], m1 += W[(size_t)p * n + e];
            m0 /= members ? members : 1, m1 /= members ? members : 1;
            if (members >= 2 && gi >= 0) *merr = fmax(*merr, fabs(m1 - m0));
            for (int p = 0; p < P; p++) {
                if (group_of(p / OH, p % OH, IH, st, K, map) != gi) continue;
                size_t at = (size_t)p * n + e;
                if (gi < 0 || members < 2) *still += W[at] != W0[at];
                else *num += (W[at] - m0) * (W[at] - m0), *den += (W0[at] - m0) * (W0[at] - m0);
            }
        }
    }
}

/* Mean SNR_w (paper, code) over the 3x3 LC layers with a value, directly from lc_snr. */
static void snr_mean(const Model *md, double *sp, double *sc) {
    int cnt = 0;
    *sp = *sc = 0.0;
    for (int i = 0; i < 9; i++) {
        char name[16];
        snprintf(name, sizeof name, "lc_W%d", i);
        const Tensor *t = tensors_find(&md->tensors, name);
        int OH = (int)lround(sqrt(t->shape[0])), O = t->shape[1], C = t->shape[2] / (NET_K[i] * NET_K[i]);
        double p, c;
        lc_snr_strided(model_tensor(md, t), C, OH * NET_ST[i], OH * NET_ST[i], NET_ST[i], O, NET_K[i], &p, &c);
        if (NET_K[i] == 1 || isnan(p)) continue;
        *sp += p, *sc += c, cnt++;
    }
    *sp /= cnt, *sc /= cnt;
}

/*
 * The LC network (activations batch-last, in two chunks at batch 130) against the conv network
 * (batch-first) with every LC position's kernel tied to the conv kernel: one training forward
 * and backward give the same loss, the same BN and head gradients, and LC kernel gradients
 * that sum over the positions to the conv ones; evaluation (running statistics) at batch 3
 * gives the same loss. The conv side runs Winograd: the two agree to rounding.
 */
static void test_batch_last_net(void) {
    enum { NB = 130 };
    Model cv, lc;
    char err[256];
    CHECK(build(&cv, "conv", "batch_size=130", 8, err) == 0, "%s", err);
    CHECK(build(&lc, "lc", "batch_size=130", 8, err) == 0, "%s", err);
    tie(&lc, &cv);
    float *x = malloc(NB * 3 * 64 * sizeof(float));
    uint8_t y[NB];
    Rng g;
    rng_seed(&g, 5, 0);
    fill(x, NB * 3 * 64, &g, 1.0);
    for (int i = 0; i < NB; i++) y[i] = (uint8_t)rng_below(&g, CLASSES);
    double la = cv.kind->forward(&cv, x, y, NB, 0, NULL), lb = lc.kind->forward(&lc, x, y, NB, 0, NULL);
    CHECK(fabs(la - lb) < 1e-5 * fabs(la), "batch-last net: loss %.9g vs conv %.9g", lb, la);
    model_zero_grad(&cv), model_zero_grad(&lc);
    cv.kind->backward(&cv, x, y, NB, 0), lc.kind->backward(&lc, x, y, NB, 0);
    double worst = 0.0;
    for (int t = 0; t < cv.tensors.n; t++) {
        const Tensor *a = &cv.tensors.t[t];
        if (a->fixed) continue;
        char name[24];
        int conv = !strncmp(a->name, "conv_W", 6);
        snprintf(name, sizeof name, conv ? "lc_W%s" : "%s", conv ? a->name + 6 : a->name);
        const Tensor *b = tensors_find(&lc.tensors, name);
        int64_t n = tensor_numel(a), reps = tensor_numel(b) / n;
        double md = 0.0, mx = 0.0;
        float *sum = malloc((size_t)n * sizeof(float)), *sp = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) {
            double s = 0.0;
            for (int64_t p = 0; p < reps; p++) s += lc.grads[b->offset + p * n + i];
            sum[i] = (float)s;
        }
        if (conv) lc_kernels_convert(sp, sum, (size_t)a->shape[0], a->shape[1], a->shape[2], 1); /* (c, ky, kx) */
        else memcpy(sp, sum, (size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            md = fmax(md, fabs(sp[i] - cv.grads[a->offset + i])), mx = fmax(mx, fabs(cv.grads[a->offset + i]));
        free(sum), free(sp);
        worst = fmax(worst, md / (mx + 1e-6));
    }
    CHECK(worst < 1e-4, "batch-last net: gradients differ from the conv net's by %.2e of the largest", worst);
    cv.no_grad = lc.no_grad = 1;
    la = cv.kind->forward(&cv, x, y, 3, 0, NULL), lb = lc.kind->forward(&lc, x, y, 3, 0, NULL);
    CHECK(fabs(la - lb) < 1e-5 * fabs(la), "batch-last net, evaluation: loss %.9g vs conv %.9g", lb, la);
    printf("batch-last net (batch 130): gradients within %.1e of the conv net's\n", worst);
    free(x), model_free(&cv), model_free(&lc);
}

/* A tiny LC resnet (width 4, n 1, 8x8 images): one dynamic sleep (the authors' T, lr, gamma,
 * batch) moves every kernel of a group of two or more to the group's mean, keeps the mean and
 * every other kernel, and raises SNR_w; the kind's metrics are the mean over the 3x3 layers. */
static void test_dynamic_sleep(const char *share) {
    Model md;
    char err[256], extra[128];
    int map = !strcmp(share, "map");
    snprintf(extra, sizeof extra, "resnet_width=4 sleep=dynamic sleep_every=1 sleep_share=%s", share);
    CHECK(build(&md, "lc", extra, 8, err) == 0, "%s", err);
    size_t np = (size_t)md.tensors.n_params;
    float *W0 = malloc(np * sizeof(float));
    memcpy(W0, md.params, np * sizeof(float));
    JobMetrics m0, m1;
    double sp0, sc0, sp1, sc1;
    md.kind->final_metrics(&md, NULL, &m0);
    snr_mean(&md, &sp0, &sc0);
    md.step = 1;
    md.kind->after_step(&md);
    md.kind->final_metrics(&md, NULL, &m1);
    snr_mean(&md, &sp1, &sc1);
    long still = 0;
    double merr = 0.0, num = 0.0, den = 0.0;
    for (int i = 0; i < 9; i++) {
        char name[16];
        snprintf(name, sizeof name, "lc_W%d", i);
        const Tensor *t = tensors_find(&md.tensors, name);
        sleep_layer(t, W0 + t->offset, md.params + t->offset, NET_K[i], NET_ST[i], map, &still, &merr, &num, &den);
    }
    double moved = sqrt(num / den);
    printf("dynamic sleep (%s): ||W - mean|| / ||W0 - mean|| = %.2e, means kept within %.1e, SNR_w paper %.4g -> "
           "%.4g, code %.4g -> %.4g\n", share, moved, merr, m0.snr_paper, m1.snr_paper, m0.snr_code, m1.snr_code);
    CHECK(still == 0, "%s: %ld border or lone weights moved", share, still);
    CHECK(den > 0 && moved < 1e-2 && merr < 1e-4, "%s: kernels to their group mean %.2e, mean moved %.2e", share, moved,
          merr);
    CHECK(m1.n_sleeps == 1, "%s: %g sleeps", share, m1.n_sleeps);
    CHECK(m0.snr_paper == sp0 && m0.snr_code == sc0 && m1.snr_paper == sp1 && m1.snr_code == sc1,
          "%s: snr metrics %g %g, want %g %g", share, m1.snr_paper, m1.snr_code, sp1, sc1);
    CHECK(m1.snr_paper > (map ? 100 : 1) * m0.snr_paper && m1.snr_code > (map ? 10 : 1) * m0.snr_code,
          "%s: SNR_w did not rise: paper %g -> %g, code %g -> %g", share, m0.snr_paper, m1.snr_paper, m0.snr_code,
          m1.snr_code);
    /* the first layer (6 x 6 non-border positions; grid: 9 groups of 4) */
    const Tensor *t0 = tensors_find(&md.tensors, "lc_W0");
    double p0, p1;
    lc_snr(W0 + t0->offset, 3, 8, 8, 4, 3, &p0, NULL);
    lc_snr(md.params + t0->offset, 3, 8, 8, 4, 3, &p1, NULL);
    printf("dynamic sleep (%s): the first layer's SNR_w paper %.4g -> %.4g\n", share, p0, p1);
    CHECK(p1 > (map ? 1e4 : 2) * p0, "%s: first layer's SNR_w %g -> %g", share, p0, p1);
    free(W0);
    model_free(&md);
}

/*
 * One step (T = 1) of the sleep of a layer at stride st against the authors' construction,
 * built here independently: each N(0, 1) tile repeated with period K over the IH x IW input
 * (torch.kron of ones and the tile, cropped), zero padding, the patch of output position
 * (oy, ox) from input row st oy - pad; z without bias; r = z minus its mean over the
 * position's group of non-padded positions; W -= lr mean_b r x^T (gamma's term is 0 at T = 1).
 */
static void test_sleep_strided(int C, int IH, int st, int O, int K) {
    int pad = (K - 1) / 2, OH = (IH - 1) / st + 1, P = OH * OH, CKK = C * K * K, bs = 6;
    size_t n = (size_t)O * CKK, nw = (size_t)P * n;
    float *W0 = malloc(nw * 4), *Wt = malloc(nw * 4), *want = malloc(nw * 4);
    float *s = malloc((lc_sleep_scratch_floats_strided(C, IH, IH, st, O, K, LC_SHARE_GRID, bs) + 1) * 4);
    float *tile = malloc((size_t)bs * CKK * 4), *X = malloc((size_t)bs * P * CKK * 4), *z = malloc((size_t)bs * P * O * 4);
    Rng r;
    rng_seed(&r, 7, 3);
    fill(W0, nw, &r, 1.0);
    memcpy(Wt, W0, nw * 4), memcpy(want, W0, nw * 4);
    Rng r1 = r, r2 = r;
    float lr = 0.3f;
    lc_sleep_dynamic_strided(Wt, s, C, IH, IH, st, O, K, LC_SHARE_GRID, 1, lr, 1e-3f, bs, &r1);
    for (int i = 0; i < bs * CKK; i++) tile[i] = (float)rng_normal(&r2);
    /* X (b, p, c, ky, kx): position p's patch of the tiled, padded input; z = W_p . X */
    for (int b = 0; b < bs; b++)
        for (int p = 0; p < P; p++)
            for (int j = 0; j < CKK; j++) {
                int c = j / (K * K), iy = st * (p / OH) - pad + j / K % K, ix = st * (p % OH) - pad + j % K;
                int in = iy >= 0 && iy < IH && ix >= 0 && ix < IH;
                X[((size_t)b * P + p) * CKK + j] = in ? tile[(size_t)b * CKK + c * K * K + iy % K * K + ix % K] : 0.0f;
            }
    for (int b = 0; b < bs; b++)
        for (int p = 0; p < P; p++)
            for (int o = 0; o < O; o++) {
                double a = 0.0;
                for (int j = 0; j < CKK; j++) a += (double)W0[((size_t)p * O + o) * CKK + j] * X[((size_t)b * P + p) * CKK + j];
                z[((size_t)b * P + p) * O + o] = (float)a;
            }
    int members = 0;
    for (int p = 0; p < P; p++) {
        int g = group_of(p / OH, p % OH, IH, st, K, 0);
        if (g < 0) continue;
        members++;
        for (int o = 0; o < O; o++)
            for (int j = 0; j < CKK; j++) {
                double acc = 0.0;
                for (int b = 0; b < bs; b++) {
                    double zm = 0.0;
                    int cnt = 0;
                    for (int q = 0; q < P; q++)
                        if (group_of(q / OH, q % OH, IH, st, K, 0) == g) zm += z[((size_t)b * P + q) * O + o], cnt++;
                    acc += X[((size_t)b * P + p) * CKK + j] * (z[((size_t)b * P + p) * O + o] - zm / cnt);
                }
                want[((size_t)p * O + o) * CKK + j] -= (float)(lr * acc / bs);
            }
    }
    double num = 0.0, den = 0.0, moved = 0.0;
    for (size_t i = 0; i < nw; i++)
        num += ((double)Wt[i] - want[i]) * ((double)Wt[i] - want[i]), den += (double)want[i] * want[i],
            moved += ((double)Wt[i] - W0[i]) * ((double)Wt[i] - W0[i]);
    printf("strided sleep step (C %d, %dx%d, stride %d, K %d): %d non-padded positions, rel diff %.1e\n", C, IH, IH,
           st, K, members, sqrt(num / den));
    CHECK(sqrt(num / den) < 1e-5 && moved > 0, "strided sleep step (stride %d, %dx%d): rel diff %g from the authors' construction",
          st, IH, IH, sqrt(num / den));
    free(W0), free(Wt), free(want), free(s), free(tile), free(X), free(z);
}

static void test_refusals(void) {
    Model md;
    char err[256] = "";
    CHECK(build(&md, "conv", "rule=dfa", 8, err) != 0 && strstr(err, "rule dfa"), "dfa: %s", err);
    CHECK(build(&md, "conv", "hidden=50", 8, err) != 0 && strstr(err, "hidden"), "hidden: %s", err);
    CHECK(build(&md, "conv", "sleep=dynamic", 8, err) != 0 && strstr(err, "layer_type lc"), "conv dynamic: %s", err);
    CHECK(build(&md, "conv", "sleep=instant", 8, err) != 0 && strstr(err, "layer_type lc"), "conv sleep: %s", err);
    CHECK(build(&md, "conv", NULL, 3, err) != 0 && strstr(err, "too small"), "tiny images: %s", err);
}

/* The conv row against direct loops: y = conv(x), dW += dy * x, dx += W^T dy, at stride s with
 * zero padding (K-1)/2; each shape picks a path: Winograd (3x3, stride 1, even sides, C >=
 * LAYER_TAPS_MIN_C), the tap form (other stride-1 layers with C >= LAYER_TAPS_MIN_C, K 1, 3, 5) or patches in chunks (3 planes on odd sides, strides 2, a chunk of 2 images and one of 1); l.wino (the
 * resnet kind's) takes Winograd below LAYER_TAPS_MIN_C planes too, and F(4x4, 3x3) on sides that 4 divides
 * (one tile per plane at 4 x 4, the resnet's first stage at 32 x 32 in chunks of 3 and 1). */
static void test_conv_naive(int C, int H, int W, int O, int K, int s, int nb, int wino) {
    Layer l;
    CHECK(layer_conv_init(&l, &LAYER_CONV, C, H, W, O, K, s, nb) == 0, "conv init");
    l.wino = wino; /* the resnet kind's: Winograd below LAYER_TAPS_MIN_C planes too */
    size_t nw = (size_t)O * C * K * K, ni = (size_t)C * H * W, no = layer_out_floats(&l);
    float *w = malloc(nw * sizeof(float)), *dw = calloc(nw, sizeof(float)), *x = malloc(nb * ni * sizeof(float));
    float *dy = malloc(nb * no * sizeof(float)), *dx = calloc(nb * ni, sizeof(float));
    double *rw = calloc(nw, sizeof(double)), *rx = calloc(nb * ni, sizeof(double));
    float *scratch = malloc(l.ops->scratch(&l, nb) * sizeof(float));
    Rng g;
    rng_seed(&g, 11, (uint64_t)(C * 1000 + K * 10 + s));
    fill(w, nw, &g, 1.0), fill(x, nb * ni, &g, 1.0), fill(dy, nb * no, &g, 1.0);
    l.w = w, l.dw = dw, l.fb = w;
    l.ops->forward(&l, x, nb, 1, scratch);
    l.ops->backward(&l, x, dy, dx, nb, scratch);
    double ey = 0.0, my = 0.0;
    for (int n = 0; n < nb; n++)
        for (int o = 0; o < O; o++)
            for (int oy = 0; oy < l.OH; oy++)
                for (int ox = 0; ox < l.OW; ox++) {
                    size_t at = n * no + ((size_t)o * l.OH + oy) * l.OW + ox;
                    double acc = 0.0;
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int iy = oy * s - l.pad + ky, ix = ox * s - l.pad + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                size_t xi = n * ni + ((size_t)c * H + iy) * W + ix, wi = (((size_t)o * C + c) * K + ky) * K + kx;
                                acc += (double)w[wi] * x[xi];
                                rw[wi] += (double)dy[at] * x[xi], rx[xi] += (double)w[wi] * dy[at];
                            }
                    ey = fmax(ey, fabs(acc - l.y[at])), my = fmax(my, fabs(acc));
                }
    double ew = 0.0, mw = 0.0, ex = 0.0, mx = 0.0;
    for (size_t i = 0; i < nw; i++) ew = fmax(ew, fabs(rw[i] - dw[i])), mw = fmax(mw, fabs(rw[i]));
    for (size_t i = 0; i < nb * ni; i++) ex = fmax(ex, fabs(rx[i] - dx[i])), mx = fmax(mx, fabs(rx[i]));
    CHECK(ey <= 1e-5 * my && ew <= 1e-5 * mw && ex <= 1e-5 * mx,
          "conv C %d %dx%d O %d K %d stride %d (%s): y %.1e, dW %.1e, dx %.1e relative", C, H, W, O, K, s,
          layer_conv_wino4(&l) ? "winograd 4x4" : layer_conv_wino(&l) ? "winograd" : layer_conv_taps(&l) ? "taps" : "patches",
          ey / my, ew / mw, ex / mx);
    free(w), free(dw), free(x), free(dy), free(dx), free(rw), free(rx), free(scratch);
    layer_free(&l);
}

/* The one-pass forms against the passes they replace, bit for bit, on a Winograd conv and a BN
 * (relu as given): layer_backward_set (dx filled with NaN first: never read) against zeroing
 * and backward; the BN gate against a masked dy; layer_conv_bn_forward in evaluation against
 * the conv's forward and the BN's. */
static void test_fused(int relu) {
    enum { C = 8, O = 8, H = 6, W = 4, B = 3 };
    Layer c, bn;
    CHECK(layer_conv_init(&c, &LAYER_CONV, C, H, W, O, 3, 1, B) == 0 && layer_bn_init(&bn, O, H, W, relu, B) == 0,
          "init");
    size_t nw = (size_t)O * C * 9, ni = (size_t)C * H * W, no = (size_t)O * H * W;
    float w[O * C * 9], dw[O * C * 9] = {0}, g[O], b[O], dg[2 * O] = {0}, rm[O], rv[O];
    float *x = malloc(B * ni * sizeof(float)), *dy = malloc(B * no * sizeof(float)), *gate = malloc(B * no * sizeof(float));
    float *d1 = malloc(B * ni * sizeof(float)), *d2 = malloc(B * ni * sizeof(float)), *y1 = malloc(B * no * sizeof(float));
    float *dm = malloc(B * no * sizeof(float));
    float *scratch = malloc(c.ops->scratch(&c, B) * sizeof(float));
    Rng r;
    rng_seed(&r, 5, (uint64_t)relu);
    fill(w, nw, &r, 1.0), fill(x, B * ni, &r, 1.0), fill(dy, B * no, &r, 1.0), fill(gate, B * no, &r, 1.0);
    fill(g, O, &r, 1.0), fill(b, O, &r, 1.0), fill(rm, O, &r, 1.0), fill(rv, O, &r, 0.5);
    for (int o = 0; o < O; o++) rv[o] = 1.0f + rv[o] * rv[o];
    c.w = w, c.dw = dw, c.fb = w;
    bn.w = g, bn.b = b, bn.dw = dg, bn.db = dg + O, bn.run_mean = rm, bn.run_var = rv;
    CHECK(layer_conv_wino(&c), "the conv runs by Winograd");
    /* conv: set against zero + add */
    c.ops->forward(&c, x, B, 1, scratch);
    for (size_t i = 0; i < B * ni; i++) d1[i] = NAN;
    memset(d2, 0, B * ni * sizeof(float));
    layer_backward_set(&c, x, dy, d1, B, scratch);
    c.ops->backward(&c, x, dy, d2, B, scratch);
    CHECK(!memcmp(d1, d2, B * ni * sizeof(float)), "conv: layer_backward_set differs from zeroing and backward");
    /* bn: set against zero + add (outputs of the same shape as its input) */
    bn.ops->forward(&bn, c.y, B, 1, scratch);
    float *e1 = malloc(B * no * sizeof(float)), *e2 = calloc(B * no, sizeof(float));
    for (size_t i = 0; i < B * no; i++) e1[i] = NAN;
    layer_backward_set(&bn, c.y, dy, e1, B, scratch);
    bn.ops->backward(&bn, c.y, dy, e2, B, scratch);
    CHECK(!memcmp(e1, e2, B * no * sizeof(float)), "bn relu %d: layer_backward_set differs", relu);
    /* the gate: dy masked where gate <= 0 */
    if (!relu) {
        for (size_t i = 0; i < B * no; i++) dm[i] = gate[i] > 0.0f ? dy[i] : 0.0f;
        float s1[2 * O], s2[2 * O];
        memset(dg, 0, sizeof dg), bn.gate = gate;
        layer_backward_set(&bn, c.y, dy, e1, B, scratch);
        memcpy(s1, dg, sizeof dg), memset(dg, 0, sizeof dg), bn.gate = NULL;
        layer_backward_set(&bn, c.y, dm, e2, B, scratch);
        memcpy(s2, dg, sizeof dg);
        CHECK(!memcmp(e1, e2, B * no * sizeof(float)) && !memcmp(s1, s2, sizeof s1), "bn gate differs from a masked dy");
    }
    /* evaluation: fused against the two forwards */
    c.ops->forward(&c, x, B, 0, scratch);
    bn.ops->forward(&bn, c.y, B, 0, scratch);
    memcpy(y1, bn.y, B * no * sizeof(float));
    for (size_t i = 0; i < B * no; i++) bn.y[i] = NAN;
    layer_conv_bn_forward(&c, &bn, x, B, 0, scratch);
    CHECK(!memcmp(y1, bn.y, B * no * sizeof(float)), "bn relu %d: the fused evaluation differs", relu);
    free(x), free(dy), free(gate), free(d1), free(d2), free(y1), free(dm), free(e1), free(e2), free(scratch);
    layer_free(&c), layer_free(&bn);
}

int main(void) {
    test_conv_naive(8, 6, 4, 5, 3, 1, 3, 0);   /* Winograd F(2x2, 3x3): even sides */
    test_conv_naive(16, 8, 8, 16, 3, 1, 2, 0);
    test_conv_naive(9, 2, 10, 3, 3, 1, 5, 0);
    test_conv_naive(8, 7, 5, 6, 3, 1, 3, 0);
    test_conv_naive(9, 6, 6, 4, 1, 1, 2, 0);
    test_conv_naive(8, 6, 7, 3, 5, 1, 2, 0);
    test_conv_naive(3, 5, 6, 4, 3, 1, 3, 0);
    test_conv_naive(8, 7, 6, 5, 3, 2, 3, 0);
    test_conv_naive(4, 7, 7, 8, 1, 2, 3, 0);
    test_conv_naive(8, 54, 54, 2, 3, 2, 3, 0); /* chunks of 2 and 1 images */
    test_conv_naive(3, 6, 8, 4, 3, 1, 3, 1);   /* Winograd on 3 planes (the resnet stem) */
    test_conv_naive(3, 8, 12, 4, 3, 1, 3, 1);  /* F(4x4, 3x3): l.wino, sides multiples of 4 */
    test_conv_naive(5, 4, 4, 3, 3, 1, 2, 1);   /* one tile per plane */
    test_conv_naive(8, 12, 4, 6, 3, 1, 3, 1);
    test_conv_naive(16, 32, 32, 16, 3, 1, 4, 1); /* the resnet's first stage, chunks of 3 and 1 */
    test_fused(0);
    test_fused(1);
    test_bn_grad(0);
    test_bn_grad(1);
    test_net_grad("conv");
    test_batch_last(130), test_batch_last(5);
    for (int relu = 0; relu < 2; relu++)
        for (int obl = 0; obl < 2; obl++) test_maxpool_batch_last(130, relu, obl), test_maxpool_batch_last(3, relu, obl);
    test_batch_last_net();
    test_net_grad("lc");
    test_sharing_identity();
    test_dynamic_sleep("grid");
    test_dynamic_sleep("map");
    test_sleep_strided(2, 8, 1, 3, 3);
    test_sleep_strided(2, 16, 2, 3, 3);
    test_sleep_strided(3, 15, 2, 2, 3);
    test_refusals();
    return test_report("resnet");
}
