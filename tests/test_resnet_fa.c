/*
 * model resnet under rule fa (src/core/model_resnet.c), conv and lc layers:
 *  - with every feedback tensor set to its forward weights (lc_B / conv_B: layers 1.. packed;
 *    the head's B0 = W0) the fa gradients equal bp's bit for bit;
 *  - with the random feedback drawn at build they differ below the head, and the head's
 *    own gradients (W0, b0: from its input and the loss alone) stay equal;
 *  - the fa gradients of every trainable tensor equal a direct-loop network in double
 *    (conv/LC, BatchNorm in training mode, ReLU, residual blocks with identity and strided
 *    1x1 shortcuts, global average pool, FC, softmax cross-entropy) whose input gradients
 *    go through the feedback tensors: the kernels but the first and the head through
 *    feedback, BN and the residual additions exact. (FA has no loss whose gradient it is,
 *    so finite differences or PyTorch's autograd cannot check it.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "lc.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"

enum { B = 4, CLASSES = 10, HW = 8, WIDTH = 2, NCONV = 9 };

static void set(JobSpec *s, const char *k, const char *v) {
    char err[256];
    if (jobspec_set(s, k, v, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}

static int build(Model *md, const char *lt, const char *rule) {
    JobSpec s;
    char err[256] = "";
    jobspec_defaults(&s);
    const char *kv[][2] = {{"model", "resnet"}, {"resnet_width", "2"}, {"resnet_n", "1"}, {"layer_type", lt},
                           {"batch_size", "4"},  {"seed", "5"},        {"rule", rule}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) set(&s, kv[i][0], kv[i][1]);
    int rc = model_build(md, &s, 3, HW, HW, CLASSES, err, sizeof err);
    CHECK(rc == 0, "build %s %s: %s", lt, rule, err);
    return rc;
}

static const float *tens(const Model *md, const char *name) {
    const Tensor *t = tensors_find(&md->tensors, name);
    if (!t) {
        fprintf(stderr, "no tensor %s\n", name);
        exit(2);
    }
    return model_tensor(md, t);
}

static void grads(Model *md, const float *x, const uint8_t *y) {
    md->kind->forward(md, x, y, B, 0, NULL);
    model_zero_grad(md);
    md->kind->backward(md, x, y, B, 0);
}

/* The network of n = 1, width 2 on 3 x 8 x 8 images, in declaration order: stem, block 0
 * (c1, c2), block 1 (c1 s2, c2, 1x1 s2 shortcut), block 2 (the same). */
typedef struct Conv {
    int C, H, O, K, s, OH;
} Conv;
static const Conv NET[NCONV] = {{3, 8, 2, 3, 1, 8}, {2, 8, 2, 3, 1, 8}, {2, 8, 2, 3, 1, 8},
                                {2, 8, 4, 3, 2, 4}, {4, 4, 4, 3, 1, 4}, {2, 8, 4, 1, 2, 4},
                                {4, 4, 8, 3, 2, 2}, {8, 2, 8, 3, 1, 2}, {4, 4, 8, 1, 2, 2}};

static size_t nparams(const Conv *c, int lc) {
    return (size_t)c->O * c->C * c->K * c->K * (lc ? (size_t)c->OH * c->OH : 1);
}

/* y (B, O, OH, OH) = conv(x) with kernels w (lc: one per output position) */
/* Offset of weight (ci, ky, kx) in a kernel: (c, ky, kx) order, or lc.c's for an LC layer (lc.h) */
static int kix(const Conv *c, int lc, int ci, int ky, int kx) {
    return lc ? lc_kidx(c->C, c->K, ci, ky, kx) : (ci * c->K + ky) * c->K + kx;
}

static void conv_fwd(const Conv *c, int lc, const float *w, const double *x, double *y) {
    int pad = (c->K - 1) / 2, ckk = c->C * c->K * c->K;
    for (int n = 0; n < B; n++)
        for (int o = 0; o < c->O; o++)
            for (int p = 0; p < c->OH * c->OH; p++) {
                const float *k = w + (lc ? (size_t)p * c->O * ckk : 0) + (size_t)o * ckk;
                double acc = 0.0;
                for (int ci = 0; ci < c->C; ci++)
                    for (int ky = 0; ky < c->K; ky++)
                        for (int kx = 0; kx < c->K; kx++) {
                            int iy = p / c->OH * c->s - pad + ky, ix = p % c->OH * c->s - pad + kx;
                            if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->H) continue;
                            acc += k[kix(c, lc, ci, ky, kx)] * x[((n * c->C + ci) * c->H + iy) * c->H + ix];
                        }
                y[((n * c->O + o) * c->OH * c->OH) + p] = acc;
            }
}

/* dw += dy x^T (per position for lc); dx (if not NULL, zeroed here) = the input gradient
 * through the feedback f */
static void conv_bwd(const Conv *c, int lc, const float *f, const double *x, const double *dy, double *dw, double *dx) {
    int pad = (c->K - 1) / 2, ckk = c->C * c->K * c->K;
    if (dx) memset(dx, 0, sizeof(double) * B * c->C * c->H * c->H);
    for (int n = 0; n < B; n++)
        for (int o = 0; o < c->O; o++)
            for (int p = 0; p < c->OH * c->OH; p++) {
                size_t at = (size_t)(lc ? p * c->O * ckk : 0) + (size_t)o * ckk;
                double g = dy[(n * c->O + o) * c->OH * c->OH + p];
                for (int ci = 0; ci < c->C; ci++)
                    for (int ky = 0; ky < c->K; ky++)
                        for (int kx = 0; kx < c->K; kx++) {
                            int iy = p / c->OH * c->s - pad + ky, ix = p % c->OH * c->s - pad + kx;
                            if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->H) continue;
                            size_t xi = ((size_t)(n * c->C + ci) * c->H + iy) * c->H + ix, e = at + kix(c, lc, ci, ky, kx);
                            dw[e] += g * x[xi];
                            if (dx) dx[xi] += g * f[e];
                        }
            }
}

/* BatchNorm in training mode over (B, C, P): xh <- normalised, y <- g xh + b */
static void bn_fwd(int C, int P, const float *g, const float *b, const double *x, double *xh, double *istd, double *y) {
    for (int c = 0; c < C; c++) {
        double m = 0.0, v = 0.0;
        for (int n = 0; n < B; n++)
            for (int p = 0; p < P; p++) m += x[(n * C + c) * P + p];
        m /= B * P;
        for (int n = 0; n < B; n++)
            for (int p = 0; p < P; p++) v += (x[(n * C + c) * P + p] - m) * (x[(n * C + c) * P + p] - m);
        istd[c] = 1.0 / sqrt(v / (B * P) + 1e-5);
        for (int n = 0; n < B; n++)
            for (int p = 0; p < P; p++) {
                size_t i = (size_t)(n * C + c) * P + p;
                xh[i] = (x[i] - m) * istd[c], y[i] = g[c] * xh[i] + b[c];
            }
    }
}

/* dx = BN's exact input gradient; dg, db += */
static void bn_bwd(int C, int P, const float *g, const double *xh, const double *istd, const double *dy, double *dx,
                   double *dg, double *db) {
    for (int c = 0; c < C; c++) {
        double s1 = 0.0, s2 = 0.0, N = B * P;
        for (int n = 0; n < B; n++)
            for (int p = 0; p < P; p++) {
                size_t i = (size_t)(n * C + c) * P + p;
                s1 += dy[i], s2 += dy[i] * xh[i];
            }
        dg[c] += s2, db[c] += s1;
        for (int n = 0; n < B; n++)
            for (int p = 0; p < P; p++) {
                size_t i = (size_t)(n * C + c) * P + p;
                dx[i] = g[c] * istd[c] / N * (N * dy[i] - s1 - xh[i] * s2);
            }
    }
}

/* One conv + BN unit's buffers: conv output, normalised, BN output, its gradients. */
typedef struct Unit {
    const Conv *c;
    const float *w, *f, *g, *b;
    double *z, *xh, *istd, *y, *dz, *dy, *dw, *dg, *db;
} Unit;

static double *dalloc(size_t n) { return calloc(n, sizeof(double)); }

static void unit_fwd(Unit *u, int lc, const double *x, int relu) {
    size_t no = (size_t)B * u->c->O * u->c->OH * u->c->OH;
    conv_fwd(u->c, lc, u->w, x, u->z);
    bn_fwd(u->c->O, u->c->OH * u->c->OH, u->g, u->b, u->z, u->xh, u->istd, u->y);
    if (relu)
        for (size_t i = 0; i < no; i++) u->y[i] = fmax(u->y[i], 0.0);
}

/* dy (the gradient of the unit's output, after any ReLU's mask) -> dw, dg, db; dx += input gradient */
static void unit_bwd(Unit *u, int lc, const double *x, double *dx) {
    const Conv *c = u->c;
    bn_bwd(c->O, c->OH * c->OH, u->g, u->xh, u->istd, u->dy, u->dz, u->dg, u->db);
    size_t ni = (size_t)B * c->C * c->H * c->H;
    double *t = dx ? dalloc(ni) : NULL;
    conv_bwd(c, lc, u->f, x, u->dz, u->dw, t);
    for (size_t i = 0; t && i < ni; i++) dx[i] += t[i];
    free(t);
}

/* The reference fa gradients of md's parameters into ref (n_params floats, md's layout). */
static void reference(const Model *md, int lc, const float *xf, const uint8_t *lab, double *ref) {
    const char *pre = lc ? "lc" : "conv";
    char name[16];
    Unit u[NCONV];
    const float *fb = tens(md, lc ? "lc_B" : "conv_B");
    const Tensor *tg = tensors_find(&md->tensors, "bn_weight"), *tb = tensors_find(&md->tensors, "bn_bias");
    int ch = 0;
    for (int i = 0; i < NCONV; i++) {
        const Conv *c = &NET[i];
        size_t no = (size_t)B * c->O * c->OH * c->OH;
        snprintf(name, sizeof name, "%s_W%d", pre, i);
        const Tensor *tw = tensors_find(&md->tensors, name);
        u[i] = (Unit){c, model_tensor(md, tw), i ? fb : NULL, model_tensor(md, tg) + ch, model_tensor(md, tb) + ch,
                      dalloc(no), dalloc(no), dalloc(c->O), dalloc(no), dalloc(no), dalloc(no),
                      ref + tw->offset, ref + tg->offset + ch, ref + tb->offset + ch};
        if (i) fb += nparams(c, lc);
        ch += c->O;
    }
    double x[B * 3 * HW * HW];
    for (int i = 0; i < B * 3 * HW * HW; i++) x[i] = xf[i];
    /* forward: stem, then blocks (c1, c2, [sc]) with out = relu(bn2 + shortcut) */
    unit_fwd(&u[0], lc, x, 1);
    const double *in = u[0].y;
    double *outs[3];
    int first[3] = {1, 3, 6};
    for (int b = 0; b < 3; b++) {
        Unit *c1 = &u[first[b]], *c2 = c1 + 1, *sc = b ? c1 + 2 : NULL;
        size_t no = (size_t)B * c2->c->O * c2->c->OH * c2->c->OH;
        unit_fwd(c1, lc, in, 1), unit_fwd(c2, lc, c1->y, 0);
        if (sc) unit_fwd(sc, lc, in, 0);
        outs[b] = dalloc(no);
        for (size_t i = 0; i < no; i++) outs[b][i] = fmax(c2->y[i] + (sc ? sc->y[i] : in[i]), 0.0);
        in = outs[b];
    }
    /* pool, FC (W0 (10, 8), b0), softmax cross-entropy; dfeat through the head's feedback B0 */
    const float *W0 = tens(md, "W0"), *b0 = tens(md, "b0"), *F0 = tens(md, "B0");
    const Tensor *tW = tensors_find(&md->tensors, "W0"), *tB = tensors_find(&md->tensors, "b0");
    enum { F = 8, P3 = 4 };
    double feat[B * F], dfeat[B * F] = {0};
    for (int i = 0; i < B * F; i++) {
        feat[i] = 0.0;
        for (int p = 0; p < P3; p++) feat[i] += in[i * P3 + p] / P3;
    }
    for (int n = 0; n < B; n++) {
        double z[CLASSES], mx = -1e300, se = 0.0;
        for (int k = 0; k < CLASSES; k++) {
            z[k] = b0[k];
            for (int j = 0; j < F; j++) z[k] += W0[k * F + j] * feat[n * F + j];
            mx = fmax(mx, z[k]);
        }
        for (int k = 0; k < CLASSES; k++) se += exp(z[k] - mx);
        for (int k = 0; k < CLASSES; k++) {
            double d = (exp(z[k] - mx) / se - (k == lab[n])) / B;
            ref[tB->offset + k] += d;
            for (int j = 0; j < F; j++) ref[tW->offset + k * F + j] += d * feat[n * F + j], dfeat[n * F + j] += d * F0[k * F + j];
        }
    }
    /* backward: the pool, then blocks 2, 1, 0 (the residual sum passes its gradient to both branches) */
    size_t n3 = (size_t)B * F * P3;
    double *G = dalloc(n3);
    for (size_t i = 0; i < n3; i++) G[i] = dfeat[i / P3] / P3;
    for (int b = 2; b >= 0; b--) {
        Unit *c1 = &u[first[b]], *c2 = c1 + 1, *sc = b ? c1 + 2 : NULL;
        const double *bin = b ? outs[b - 1] : u[0].y;
        size_t no = (size_t)B * c2->c->O * c2->c->OH * c2->c->OH, ni = (size_t)B * c1->c->C * c1->c->H * c1->c->H;
        double *D = dalloc(ni);
        for (size_t i = 0; i < no; i++) {
            double t = outs[b][i] > 0.0 ? G[i] : 0.0;
            c2->dy[i] = t;
            if (sc) sc->dy[i] = t;
            else D[i] += t;
        }
        if (sc) unit_bwd(sc, lc, bin, D);
        unit_bwd(c2, lc, c1->y, c1->dy); /* c1->dy: c2's input gradient, then the mask of c1's ReLU */
        for (size_t i = 0; i < (size_t)B * c1->c->O * c1->c->OH * c1->c->OH; i++)
            if (!(c1->y[i] > 0.0)) c1->dy[i] = 0.0;
        unit_bwd(c1, lc, bin, D);
        free(G);
        G = D;
    }
    for (size_t i = 0; i < (size_t)B * 2 * HW * HW; i++) u[0].dy[i] = u[0].y[i] > 0.0 ? G[i] : 0.0;
    unit_bwd(&u[0], lc, x, NULL);
    free(G);
    for (int b = 0; b < 3; b++) free(outs[b]);
    for (int i = 0; i < NCONV; i++) free(u[i].z), free(u[i].xh), free(u[i].istd), free(u[i].y), free(u[i].dz), free(u[i].dy);
}

static void test_fa(const char *lt) {
    int lc = !strcmp(lt, "lc");
    Model bp, fa;
    if (build(&bp, lt, "bp") || build(&fa, lt, "fa")) return;
    float x[B * 3 * HW * HW];
    uint8_t y[B] = {2, 7, 0, 5};
    Rng g;
    rng_seed(&g, 13, 0);
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)rng_normal(&g);
    CHECK(bp.tensors.n_params == fa.tensors.n_params &&
              !memcmp(bp.params, fa.params, (size_t)bp.tensors.n_params * sizeof(float)),
          "%s: bp and fa draw the same forward weights", lt);
    const Tensor *tf = tensors_find(&fa.tensors, lc ? "lc_B" : "conv_B");
    CHECK(tf && tf->fixed && !tf->learned && tensors_find(&fa.tensors, "B0") && !tensors_find(&bp.tensors, "B0"),
          "%s: fa declares the packed feedback and the head's", lt);
    if (!tf) return;

    /* the direct loops with the random feedback */
    size_t np = (size_t)fa.tensors.n_params;
    double *ref = calloc(np, sizeof(double));
    grads(&fa, x, y);
    reference(&fa, lc, x, y, ref);
    double worst = 0.0;
    for (int t = 0; t < fa.tensors.n; t++) {
        const Tensor *T = &fa.tensors.t[t];
        if (T->fixed) continue;
        double num = 0.0, den = 0.0;
        for (int64_t i = 0; i < tensor_numel(T); i++) {
            double d = fa.grads[T->offset + i] - ref[T->offset + i];
            num += d * d, den += ref[T->offset + i] * ref[T->offset + i];
        }
        double e = sqrt(num / (den > 0 ? den : 1e-30));
        if (e > 1e-5) fprintf(stderr, "%s %s: relative error %.2e\n", lt, T->name, e);
        worst = fmax(worst, e);
    }
    CHECK(worst < 1e-5, "%s: fa gradients against the direct loops, worst relative error %.2e", lt, worst);
    printf("%s: fa gradients = direct loops within %.1e (relative, per tensor)\n", lt, worst);
    free(ref);

    /* random feedback: the head's own gradients equal bp's, the layers' below differ */
    float *gfa = malloc(np * sizeof(float));
    memcpy(gfa, fa.grads, np * sizeof(float));
    grads(&bp, x, y);
    const Tensor *tw = tensors_find(&bp.tensors, "W0"), *tk = tensors_find(&bp.tensors, lc ? "lc_W1" : "conv_W1");
    CHECK(!memcmp(gfa + tw->offset, bp.grads + tw->offset, (size_t)tensor_numel(tw) * sizeof(float)),
          "%s: the head's weight gradient does not depend on the feedback", lt);
    CHECK(memcmp(gfa + tk->offset, bp.grads + tk->offset, (size_t)tensor_numel(tk) * sizeof(float)) != 0,
          "%s: random feedback changes the layers' gradients", lt);

    /* feedback = forward weights: bit for bit bp */
    float *F = model_tensor(&fa, tf);
    char name[16];
    for (int i = 1; i < NCONV; i++) {
        snprintf(name, sizeof name, "%s_W%d", lc ? "lc" : "conv", i);
        size_t n = nparams(&NET[i], lc);
        memcpy(F, tens(&fa, name), n * sizeof(float));
        F += n;
    }
    CHECK(F == model_tensor(&fa, tf) + tensor_numel(tf), "%s: the packed feedback holds layers 1..8", lt);
    memcpy(model_tensor(&fa, tensors_find(&fa.tensors, "B0")), tens(&fa, "W0"), (size_t)tensor_numel(tw) * sizeof(float));
    grads(&fa, x, y);
    CHECK(!memcmp(fa.grads, bp.grads, np * sizeof(float)), "%s: fa with feedback = weights equals bp bit for bit", lt);
    free(gfa);
    model_free(&bp), model_free(&fa);
}

int main(void) {
    test_fa("conv");
    test_fa("lc");
    return test_report("resnet_fa");
}
