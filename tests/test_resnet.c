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
 *  - rules other than bp and sleep dynamic are refused with a message naming the field.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "layer.h"
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
        for (int64_t p = 0; p < reps; p++)
            memcpy(model_tensor(lc, b) + p * n, model_tensor(cv, a), (size_t)n * sizeof(float));
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
        const float *wa = model_tensor(&cv, a), *wb = model_tensor(&lc, b);
        int64_t n = tensor_numel(a);
        for (int64_t p = 0; p < b->shape[0]; p++)
            for (int64_t i = 0; i < n; i++) {
                double e = fabs(wa[i] - wb[p * n + i]) / (fabs(wa[i]) + 1e-3);
                werr = e > werr ? e : werr;
            }
    }
    CHECK(worst < 1e-5 && werr < 1e-4, "sharing identity: loss rel %.2e, weights rel %.2e", worst, werr);
    printf("sharing identity: 6 steps, losses within %.1e, weights within %.1e\n", worst, werr);
    model_free(&cv), model_free(&lc);
}

static void test_refusals(void) {
    Model md;
    char err[256] = "";
    CHECK(build(&md, "conv", "rule=fa", 8, err) != 0 && strstr(err, "rule fa"), "fa: %s", err);
    CHECK(build(&md, "lc", "sleep=dynamic", 8, err) != 0 && strstr(err, "sleep dynamic"), "dynamic: %s", err);
    CHECK(build(&md, "conv", "sleep=instant", 8, err) != 0 && strstr(err, "layer_type lc"), "conv sleep: %s", err);
    CHECK(build(&md, "conv", NULL, 3, err) != 0 && strstr(err, "too small"), "tiny images: %s", err);
}

/* The conv row against direct loops: y = conv(x), dW += dy * x, dx += W^T dy, at stride s with
 * zero padding (K-1)/2; each shape picks a path: the tap form (stride 1, C >= LAYER_TAPS_MIN_C,
 * K 1, 3, 5) or patches in chunks (the stem's C 3, strides 2, a chunk of 2 images and one of 1). */
static void test_conv_naive(int C, int H, int W, int O, int K, int s, int nb) {
    Layer l;
    CHECK(layer_conv_init(&l, &LAYER_CONV, C, H, W, O, K, s, nb) == 0, "conv init");
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
          layer_conv_taps(&l) ? "taps" : "patches", ey / my, ew / mw, ex / mx);
    free(w), free(dw), free(x), free(dy), free(dx), free(rw), free(rx), free(scratch);
    layer_free(&l);
}

int main(void) {
    test_conv_naive(8, 7, 5, 6, 3, 1, 3);
    test_conv_naive(9, 6, 6, 4, 1, 1, 2);
    test_conv_naive(8, 6, 7, 3, 5, 1, 2);
    test_conv_naive(3, 5, 6, 4, 3, 1, 3);
    test_conv_naive(8, 7, 6, 5, 3, 2, 3);
    test_conv_naive(4, 7, 7, 8, 1, 2, 3);
    test_conv_naive(8, 54, 54, 2, 3, 2, 3); /* chunks of 2 and 1 images */
    test_bn_grad(0);
    test_bn_grad(1);
    test_net_grad("conv");
    test_net_grad("lc");
    test_sharing_identity();
    test_refusals();
    return test_report("resnet");
}
