/*
 * Conv layers: im2col + sgemm equals the naive loops; conv, max-pool and adaptive pooling
 * gradients against finite differences (or the adjoint identity, for the linear pooling);
 * the whole CNN + FC head against finite differences; FA with B = W equals backprop
 * through a trained conv; features do not depend on the batch; and a frozen-conv job
 * gives bit-identical results with and without the feature caches (training, test).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conv.h"
#include "data.h"
#include "dist.h"
#include "fixture.h"
#include "job.h"
#include "layer.h"
#include "mlp.h"
#include "rng.h"
#include "testutil.h"
#include "train.h"

static void fill(float *x, size_t n, Rng *r, double s) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(s * rng_normal(r));
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* L = sum_n <g_n, conv(x_n; W, b)> for fixed random g: a scalar whose gradient is the backward pass of g. */
static double conv_loss(const float *x, const float *W, const float *b, const float *g, int B, int C, int H,
                        int Wd, int N, int K, int pad) {
    size_t P = (size_t)conv_out_size(H, K, pad) * conv_out_size(Wd, K, pad), ni = (size_t)C * H * Wd;
    float *out = malloc((size_t)N * P * sizeof(float));
    double l = 0;
    for (int n = 0; n < B; n++) {
        conv2d_forward_naive(out, x + n * ni, W, b, C, H, Wd, N, K, pad);
        l += dot(out, g + n * N * P, (size_t)N * P);
    }
    free(out);
    return l;
}

/* layer.h's conv with a bias, in every form (chunk 1: a GEMM per image; chunk 0: chunks of
 * both images, or the tap form from 8 input planes), against the naive loops and finite
 * differences; its bias gradient is the in-order float sums, bit for bit. */
static void test_conv(Rng *r) {
    int cases[][6] = {{1, 9, 9, 4, 3, 0}, {3, 8, 7, 5, 3, 1}, {2, 10, 10, 3, 5, 2}, {1, 6, 6, 2, 5, 0},
                      {2, 9, 8, 11, 3, 1}, {8, 7, 6, 5, 3, 1}, {9, 6, 6, 3, 4, 1}};
    Rng r4; /* the cases draw from their own stream: the later tests' draws stay those their
             * finite differences were set for */
    rng_seed(&r4, 10, 0);
    (void)r;
    r = &r4;
    enum { B = 2 };
    for (int t = 0; t < 7; t++)
        for (int chunk = 1; chunk >= 0; chunk--) {
            int C = cases[t][0], H = cases[t][1], W = cases[t][2], N = cases[t][3], K = cases[t][4], pad = cases[t][5];
            int P = conv_out_size(H, K, pad) * conv_out_size(W, K, pad), CKK = C * K * K, ni = C * H * W;
            Layer l;
            CHECK(layer_conv_init_pad(&l, &LAYER_CONV, C, H, W, N, K, 1, pad, B) == 0, "case %d: conv layer", t);
            l.chunk = chunk;
            CHECK(layer_conv_taps(&l) == (!chunk && C >= LAYER_TAPS_MIN_C), "case %d chunk %d: the form", t, chunk);
            float *x = malloc((size_t)B * ni * 4), *Wt = malloc((size_t)N * CKK * 4), *b = malloc((size_t)N * 4);
            float *o2 = malloc((size_t)N * P * 4), *g = malloc((size_t)B * N * P * 4);
            float *sc = malloc((l.ops->scratch(&l, B) + 1) * 4);
            float *dW = calloc((size_t)N * CKK, 4), *db = calloc((size_t)N, 4), *dx = calloc((size_t)B * ni, 4);
            fill(x, (size_t)B * ni, r, 1), fill(Wt, (size_t)N * CKK, r, 0.5), fill(b, (size_t)N, r, 0.5);
            fill(g, (size_t)B * N * P, r, 1);
            l.w = Wt, l.fb = Wt, l.b = b, l.dw = dW, l.db = db;
            l.ops->forward(&l, x, B, 1, sc);
            double md = 0;
            for (int n = 0; n < B; n++) {
                conv2d_forward_naive(o2, x + n * ni, Wt, b, C, H, W, N, K, pad);
                for (int i = 0; i < N * P; i++) md = fmax(md, fabs(l.y[n * N * P + i] - o2[i]));
            }
            CHECK(md < 1e-4, "case %d chunk %d: conv differs from naive by %g", t, chunk, md);
            l.ops->backward(&l, x, g, dx, B, sc);
            /* directional derivatives along random v for W and x (L is linear in each) */
            size_t nv = (size_t)(N * CKK > B * ni ? N * CKK : B * ni);
            float *v = malloc(nv * 4), *tmp = malloc(nv * 4);
            double h = 1e-2, ana, num;
            fill(v, (size_t)N * CKK, r, 1);
            for (int i = 0; i < N * CKK; i++) tmp[i] = Wt[i] + (float)(h * v[i]);
            double lp = conv_loss(x, tmp, b, g, B, C, H, W, N, K, pad);
            for (int i = 0; i < N * CKK; i++) tmp[i] = Wt[i] - (float)(h * v[i]);
            double lm = conv_loss(x, tmp, b, g, B, C, H, W, N, K, pad);
            ana = dot(dW, v, (size_t)N * CKK), num = (lp - lm) / (2 * h);
            CHECK(fabs(ana - num) <= 1e-3 * (fabs(ana) + fabs(num)) + 1e-4, "case %d chunk %d dW: %g vs %g", t, chunk,
                  ana, num);
            fill(v, (size_t)B * ni, r, 1);
            for (int i = 0; i < B * ni; i++) tmp[i] = x[i] + (float)(h * v[i]);
            lp = conv_loss(tmp, Wt, b, g, B, C, H, W, N, K, pad);
            for (int i = 0; i < B * ni; i++) tmp[i] = x[i] - (float)(h * v[i]);
            lm = conv_loss(tmp, Wt, b, g, B, C, H, W, N, K, pad);
            ana = dot(dx, v, (size_t)B * ni), num = (lp - lm) / (2 * h);
            CHECK(fabs(ana - num) <= 1e-3 * (fabs(ana) + fabs(num)) + 1e-4, "case %d chunk %d dx: %g vs %g", t, chunk,
                  ana, num);
            /* db: per image each kernel's float sum in order p = 0, 1, ..., added image by
             * image (bit for bit, however the kernels are grouped) */
            int same = 1;
            for (int i = 0; i < N; i++) {
                float acc = 0.0f;
                for (int n = 0; n < B; n++) {
                    float s = 0.0f;
                    for (int p = 0; p < P; p++) s += g[((size_t)n * N + i) * P + p];
                    acc += s;
                }
                same &= acc == db[i];
            }
            CHECK(same, "case %d chunk %d db: not the in-order float sums", t, chunk);
            free(x), free(Wt), free(b), free(o2), free(g), free(sc), free(dW), free(db), free(dx), free(v), free(tmp);
            layer_free(&l);
        }
}

static void test_pool(Rng *r) {
    /* max-pool: winners get the gradient, and max-pool with and without arg agree */
    float x[2 * 6 * 5], o1[2 * 3 * 2], o2[2 * 3 * 2], g[12], dx[60] = {0};
    int arg[12];
    fill(x, 60, r, 1), fill(g, 12, r, 1);
    maxpool2_forward(o1, arg, x, 2, 6, 5);
    maxpool2_forward(o2, NULL, x, 2, 6, 5);
    CHECK(!memcmp(o1, o2, sizeof o1), "max-pool values with and without winners");
    int ok = 1;
    for (int i = 0; i < 12; i++) ok &= x[arg[i]] == o1[i];
    CHECK(ok, "max-pool winners hold the maxima");
    maxpool2_backward(dx, g, arg, 2, 6, 5);
    CHECK(fabs(dot(dx, x, 60) - dot(g, o1, 12)) < 1e-5, "max-pool backward routes to winners");
    /* a window of NaN only (channel 1's second) or -inf only (its last) routes to its own first
       pixel, as the fused and batch-last pools do; the other windows keep their winners */
    int keep[12];
    memcpy(keep, arg, sizeof keep);
    for (int k = 0; k < 4; k++) x[(6 + k / 2) * 5 + 2 + k % 2] = NAN, x[(10 + k / 2) * 5 + 2 + k % 2] = -INFINITY;
    maxpool2_forward(o1, arg, x, 2, 6, 5);
    CHECK(arg[7] == 32 && arg[11] == 52, "max-pool: NaN and -inf windows route to %d and %d, not 32 and 52", arg[7],
          arg[11]);
    int others = 1;
    for (int i = 0; i < 12; i++) others &= i == 7 || i == 11 || arg[i] == keep[i];
    CHECK(others, "max-pool: the other windows' winners moved");
    /* fused max-pool + ReLU on values with ties (multiples of 1/4 in [-1, 1]): the winner is
     * the first maximum in reading order, the values equal those without winners, and the
     * fused backward equals maxpool2_backward of the ReLU-masked gradient */
    enum { FC = 3, FH = 7, FW = 26, FP = FC * (FH / 2) * (FW / 2) };
    float fx[FC * FH * FW], fo[FP], fo2[FP], fg[FP], fm[FP], fd1[FC * FH * FW] = {0}, fd2[FC * FH * FW] = {0};
    int fa[FP], first = 1;
    Rng rt; /* its own stream: the draws of the tests after this one stay as they were */
    rng_seed(&rt, 11, 0);
    for (int i = 0; i < FC * FH * FW; i++) fx[i] = (float)floor(8.0 * rng_uniform(&rt) - 4.0) / 4.0f;
    fill(fg, FP, &rt, 1);
    maxpool2_relu_forward(fo, fa, fx, FH * FW, NULL, FC, FH, FW);
    maxpool2_relu_forward(fo2, NULL, fx, FH * FW, NULL, FC, FH, FW);
    for (int c = 0, i = 0; c < FC; c++)
        for (int py = 0; py < FH / 2; py++)
            for (int px = 0; px < FW / 2; px++, i++) {
                int bi = (c * FH + 2 * py) * FW + 2 * px;
                for (int k = 1; k < 4; k++) {
                    int j = (c * FH + 2 * py + k / 2) * FW + 2 * px + k % 2;
                    if (fx[j] > fx[bi]) bi = j;
                }
                first &= fa[i] == bi && fo[i] == (fx[bi] > 0.0f ? fx[bi] : 0.0f) && fo2[i] == fo[i];
                fm[i] = fo[i] > 0.0f ? fg[i] : 0.0f;
            }
    CHECK(first, "fused max-pool + ReLU: winners are the first maxima, values as without winners");
    maxpool2_relu_backward(fd1, fg, fo, fa, FC, FH, FW);
    maxpool2_backward(fd2, fm, fa, FC, FH, FW);
    CHECK(!memcmp(fd1, fd2, sizeof fd1), "fused max-pool + ReLU backward equals mask then max-pool backward");
    /* adaptive average pooling: PyTorch cells on a 5x5 -> 2x2 example, and the adjoint identity */
    float a[25], p[4];
    for (int i = 0; i < 25; i++) a[i] = (float)i;
    adaptive_avgpool_forward(p, a, 1, 5, 5, 2); /* cells rows/cols [0,3) and [2,5) */
    CHECK(fabsf(p[0] - 6.0f) < 1e-6 && fabsf(p[3] - 18.0f) < 1e-6 && fabsf(p[1] - 8.0f) < 1e-6,
          "adaptive pool 5x5->2x2: %g %g %g %g", p[0], p[1], p[2], p[3]);
    float xa[3 * 9 * 7], ga[3 * 4 * 4], pa[3 * 4 * 4], dxa[3 * 9 * 7] = {0};
    fill(xa, sizeof xa / 4, r, 1), fill(ga, sizeof ga / 4, r, 1);
    adaptive_avgpool_forward(pa, xa, 3, 9, 7, 4);
    adaptive_avgpool_backward(dxa, ga, 3, 9, 7, 4);
    CHECK(fabs(dot(pa, ga, 48) - dot(xa, dxa, 189)) < 1e-4, "adaptive pool: <P x, g> = <x, P^T g>");
    /* adaptive max pooling: each output is the maximum of its cell (brute force), and the
     * gradient goes to exactly that element */
    int am[3 * 4 * 4], worst = 0;
    adaptive_maxpool_forward(pa, am, xa, 3, 9, 7, 4);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                int y0 = i * 9 / 4, y1 = ((i + 1) * 9 + 3) / 4, x0 = j * 7 / 4, x1 = ((j + 1) * 7 + 3) / 4;
                float mx = -1e30f;
                for (int y = y0; y < y1; y++)
                    for (int xx = x0; xx < x1; xx++) mx = fmaxf(mx, xa[(c * 9 + y) * 7 + xx]);
                worst |= pa[(c * 4 + i) * 4 + j] != mx || xa[am[(c * 4 + i) * 4 + j]] != mx;
            }
    CHECK(!worst, "adaptive max pool 9x7 -> 4x4 takes each cell's maximum");
    memset(dxa, 0, sizeof dxa);
    adaptive_maxpool_backward(dxa, ga, am, 3, 4);
    CHECK(fabs(dot(pa, ga, 48) - dot(xa, dxa, 189)) < 1e-4, "adaptive max pool: <P x, g> = <x, P^T g>");
}

/* init: pytorch is nn.Linear's default: weights and biases U(+-1/sqrt(fan_in)) */
static void test_pytorch_init(void) {
    int sizes[3] = {400, 300, 10};
    Mlp m;
    mlp_create(&m, sizes, 3, RULE_BP, 1, 0);
    DistParams d;
    dist_defaults(&d, "pytorch", 1.0);
    CHECK(mlp_init(&m, &d, &d, 5) == 0, "pytorch init fills the layers");
    double bound = 1.0 / sqrt(400.0), mx = 0, s2 = 0, bmx = 0;
    size_t n = 300 * 400;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(m.W[0][i])), s2 += (double)m.W[0][i] * m.W[0][i];
    for (int o = 0; o < 300; o++) bmx = fmax(bmx, fabs(m.b[0][o]));
    /* U(-a, a) has variance a^2/3; with 120,000 draws the sample variance is within 1% */
    CHECK(mx <= bound && mx > 0.99 * bound && fabs(s2 / n / (bound * bound / 3) - 1) < 0.01,
          "W0 in +-1/sqrt(400), variance a^2/3 (max %g, var ratio %g)", mx, s2 / n / (bound * bound / 3));
    CHECK(bmx <= bound && bmx > 0.9 * bound, "b0 drawn in +-1/sqrt(fan_in) too (max %g)", bmx);
    mlp_free(&m);
}

/* A front-end as the cnn and lc kinds build it: conv or lc (bias or none, ReLU fused or
 * not) -> [2x2 max-pool with ReLU] -> [adaptive pool], its parameters (w then b) in one buffer. */
typedef struct Front {
    Layer l[3];
    int n;
    size_t np;
    float *params, *grads, *scratch, *g0, *g1;
} Front;

static int front_create(Front *f, const LayerOps *ops, int C, int H, int W, int O, int K, int pad, int bias,
                        int relu, int pool, int adapt, int amax, int chunk, int B) {
    memset(f, 0, sizeof *f);
    Layer *c = &f->l[f->n++];
    if (layer_conv_init_pad(c, ops, C, H, W, O, K, 1, pad, B)) return -1;
    c->relu = relu, c->chunk = chunk;
    size_t nw = c->ops->n_params(c);
    f->np = nw + (bias ? (size_t)O : 0);
    f->params = calloc(f->np, 4), f->grads = calloc(f->np, 4);
    c->w = f->params, c->dw = f->grads, c->fb = c->w;
    if (bias) c->b = f->params + nw, c->db = f->grads + nw;
    if (pool && layer_maxpool_init(&f->l[f->n++], O, c->OH, c->OW, 1, B)) return -1;
    const Layer *last = &f->l[f->n - 1];
    if (adapt && layer_apool_init(&f->l[f->n++], O, last->OH, last->OW, adapt, amax, B)) return -1;
    size_t act = layer_chain_act(f->l, f->n);
    f->scratch = malloc((layer_chain_scratch(f->l, f->n, B) + 1) * 4);
    f->g0 = malloc((size_t)B * act * 4), f->g1 = malloc((size_t)B * act * 4);
    return 0;
}

static const float *front_forward(Front *f, const float *x, int B, int train) {
    layer_chain_forward(f->l, f->n, x, B, train, f->scratch);
    return f->l[f->n - 1].y;
}

static int front_dim(const Front *f) { return (int)layer_out_floats(&f->l[f->n - 1]); }

static void front_free(Front *f) {
    for (int i = 0; i < f->n; i++) layer_free(&f->l[i]);
    free(f->params), free(f->grads), free(f->scratch), free(f->g0), free(f->g1);
}

/* Whole trainable front-end + FC head: loss along random directions of conv and FC
 * parameters, flattened or adaptive-pooled (average or max), with or without biases, conv
 * or lc, ReLU after the max-pool or fused in the conv (no pool). */
static void test_cnn_grad(Rng *r) {
    /* lc, pad, bias, pool, adapt, max, chunk */
    const int cfg[][7] = {{0, 1, 1, 1, 0, 0, 1}, {0, 1, 1, 1, 2, 0, 1}, {0, 1, 1, 1, 2, 1, 1}, {0, 1, 0, 1, 3, 1, 1},
                          {0, 1, 0, 1, 0, 0, 1}, {0, 0, 1, 1, 0, 0, 0}, {0, 1, 1, 0, 0, 0, 0}, {1, 1, 1, 1, 0, 0, 0},
                          {1, 1, 1, 0, 0, 0, 0}, {1, 1, 1, 0, 2, 0, 0}};
    for (int k = 0; k < 10; k++) {
        int lc = cfg[k][0], pad = cfg[k][1], bias = cfg[k][2], pool = cfg[k][3], adapt = cfg[k][4], amax = cfg[k][5];
        Front f;
        Mlp m;
        int B = 3, C = 2, H = 10, W = 10;
        CHECK(front_create(&f, lc ? &LAYER_LC : &LAYER_CONV, C, H, W, 4, 3, pad, bias, !pool, pool, adapt, amax,
                           cfg[k][6], B) == 0, "front create");
        size_t nw = (size_t)4 * 18 * (lc ? (size_t)f.l[0].OH * f.l[0].OW : 1);
        CHECK(f.np == nw + (bias ? 4 : 0), "parameters with bias %d: %zu", bias, f.np);
        int sizes[3] = {front_dim(&f), 6, 5};
        CHECK(mlp_create(&m, sizes, 3, RULE_BP, B, 1) == 0, "head create");
        DistParams d;
        dist_defaults(&d, "normal", 0.5);
        mlp_init(&m, &d, &d, 2);
        fill(f.params, f.np, r, 0.5);
        if (bias) fill(f.l[0].b, 4, r, 0.3);
        float x[3 * 200];
        uint8_t y[3] = {1, 4, 0};
        fill(x, sizeof x / 4, r, 1);
        const float *feat = front_forward(&f, x, B, 1);
        mlp_zero_grad(&m);
        mlp_forward(&m, feat, y, B, NULL);
        mlp_backward(&m, y, B);
        layer_chain_backward(f.l, f.n, x, m.dinp, B, f.g0, f.g1, f.scratch);
        size_t n = f.np + m.n_params;
        float *v = malloc(n * 4), *p0c = malloc(f.np * 4), *p0m = malloc(m.n_params * 4);
        fill(v, n, r, 1);
        memcpy(p0c, f.params, f.np * 4), memcpy(p0m, m.params, m.n_params * 4);
        /* max pooling and ReLU have kinks: a smaller step keeps every winner and sign */
        double ana = dot(f.grads, v, f.np) + dot(m.grads, v + f.np, m.n_params), h = 1e-4, l[2];
        for (int s = 0; s < 2; s++) {
            double sg = s ? -h : h;
            for (size_t i = 0; i < f.np; i++) f.params[i] = p0c[i] + (float)(sg * v[i]);
            for (size_t i = 0; i < m.n_params; i++) m.params[i] = p0m[i] + (float)(sg * v[f.np + i]);
            l[s] = mlp_forward(&m, front_forward(&f, x, B, 0), y, B, NULL);
        }
        double num = (l[0] - l[1]) / (2 * h);
        CHECK(fabs(ana - num) / fmax(fabs(ana) + fabs(num), 1e-12) < 5e-3,
              "front+fc (lc %d, pad %d, bias %d, pool %d, adapt %d, max %d) directional: %g vs %g", lc, pad, bias, pool,
              adapt, amax, ana, num);
        free(v), free(p0c), free(p0m);
        front_free(&f), mlp_free(&m);
    }
    /* FA with every feedback (including the one to the features) set to W equals backprop */
    Front c1, c2;
    Mlp bp, fa;
    int B = 4;
    front_create(&c1, &LAYER_CONV, 1, 8, 8, 3, 3, 0, 1, 0, 1, 0, 0, 1, B);
    front_create(&c2, &LAYER_CONV, 1, 8, 8, 3, 3, 0, 1, 0, 1, 0, 0, 1, B);
    int sizes[3] = {front_dim(&c1), 5, 3};
    mlp_create(&bp, sizes, 3, RULE_BP, B, 1), mlp_create(&fa, sizes, 3, RULE_FA, B, 1);
    DistParams d;
    dist_defaults(&d, "kaiming", 1.0);
    fill(c1.params, c1.np, r, 0.5), memcpy(c2.params, c1.params, c1.np * 4);
    mlp_init(&bp, &d, &d, 4), mlp_init(&fa, &d, &d, 4);
    for (int l = 0; l < 2; l++) memcpy(fa.F[l], fa.W[l], (size_t)sizes[l + 1] * sizes[l] * 4);
    float x[4 * 64];
    uint8_t y[4] = {0, 1, 2, 1};
    fill(x, sizeof x / 4, r, 1);
    mlp_zero_grad(&bp), mlp_zero_grad(&fa);
    mlp_forward(&bp, front_forward(&c1, x, B, 1), y, B, NULL), mlp_backward(&bp, y, B);
    layer_chain_backward(c1.l, c1.n, x, bp.dinp, B, c1.g0, c1.g1, c1.scratch);
    mlp_forward(&fa, front_forward(&c2, x, B, 1), y, B, NULL), mlp_backward(&fa, y, B);
    layer_chain_backward(c2.l, c2.n, x, fa.dinp, B, c2.g0, c2.g1, c2.scratch);
    double num = 0, den = 0;
    for (size_t i = 0; i < c1.np; i++) num += pow(c1.grads[i] - c2.grads[i], 2), den += pow(c1.grads[i], 2);
    CHECK(den > 0 && sqrt(num / den) < 1e-6, "FA(B = W) conv gradient equals backprop (rel %g)", sqrt(num / den));
    front_free(&c1), front_free(&c2), mlp_free(&bp), mlp_free(&fa);
}

/* The chain in groups of G images (the cnn kind's: G = 1, the conv output held for one
 * group only) computes the same floats as the whole batch at once: features, winners, the
 * input gradient's effect on dW and db, bit for bit. */
static void test_groups(Rng *r) {
    enum { B = 5 };
    for (int adapt = 0; adapt <= 2; adapt += 2)
        for (int G = 1; G <= 2; G++) {
            Front w, g;
            CHECK(front_create(&w, &LAYER_CONV, 2, 9, 9, 3, 3, 0, 1, 0, 1, adapt, 1, G, B) == 0, "whole");
            CHECK(front_create(&g, &LAYER_CONV, 2, 9, 9, 3, 3, 0, 1, 0, 1, adapt, 1, G, B) == 0, "groups");
            free(g.l[0].y), g.l[0].y = malloc((size_t)G * layer_out_floats(&g.l[0]) * 4), g.l[0].ny = G;
            fill(w.params, w.np, r, 0.5), memcpy(g.params, w.params, w.np * 4);
            float x[B * 162], dy[B * 48];
            fill(x, B * 162, r, 1);
            int F = front_dim(&w);
            fill(dy, (size_t)B * F, r, 1);
            const float *fw = front_forward(&w, x, B, 1);
            layer_chain_forward_groups(g.l, g.n, x, B, G, 1, g.scratch);
            const Layer *lw = &w.l[w.n - 1], *lg = &g.l[g.n - 1];
            int same = !memcmp(fw, lg->y, (size_t)B * F * 4) &&
                       !memcmp(w.l[1].arg, g.l[1].arg, (size_t)B * layer_out_floats(&w.l[1]) * sizeof(int)) &&
                       (!adapt || !memcmp(lw->arg, lg->arg, (size_t)B * F * sizeof(int)));
            layer_chain_backward(w.l, w.n, x, dy, B, w.g0, w.g1, w.scratch);
            layer_chain_backward_groups(g.l, g.n, x, dy, B, G, g.g0, g.g1, g.scratch);
            same &= !memcmp(w.grads, g.grads, w.np * 4);
            double gn = dot(w.grads, w.grads, w.np);
            CHECK(same && gn > 0, "adapt %d, groups of %d: features, winners and gradients bit-identical to the whole batch",
                  adapt, G);
            front_free(&w), front_free(&g);
        }
}

/*
 * Batch invariance: an image's features (and, in training, its max-pool winners) are the
 * same floats whatever batch it comes in, wherever in it, and however many images share a
 * conv GEMM; features equal the conv layer's output, then maxpool2_forward, then ReLU, bit
 * for bit (the fused pool and ReLU), and so do they with the bias added after the max.
 */
static void test_batch_invariance(Rng *r) {
    int cases[][5] = {{14, 8, 5, 0, 0}, {14, 8, 5, 2, 0}, {13, 6, 3, 0, 3}, {28, 16, 5, 0, 0}};
    enum { NB = 13 };
    for (int t = 0; t < 4; t++)
        for (int train = 0; train < 2; train++) {
            int S = cases[t][0], N = cases[t][1], K = cases[t][2], pad = cases[t][3], ad = cases[t][4];
            Front f;
            CHECK(front_create(&f, &LAYER_CONV, 1, S, S, N, K, pad, 1, 0, 1, ad, 0, 1, NB) == 0, "create");
            fill(f.params, f.np, r, 1.0);
            Layer *c = &f.l[0], *pl = &f.l[1];
            size_t in = (size_t)S * S, F = (size_t)front_dim(&f), pooled = layer_out_floats(pl);
            float *x = malloc(NB * in * 4), *ref = malloc(NB * F * 4);
            int *arg = malloc(NB * pooled * sizeof(int));
            fill(x, NB * in, r, 1);
            for (size_t i = 0; i < NB * in; i += 3) x[i] = 0.0f; /* zeros, as MNIST backgrounds */
            for (int i = 0; i < NB; i++) { /* each image alone */
                memcpy(ref + i * F, front_forward(&f, x + i * in, 1, train), F * 4);
                if (train) memcpy(arg + i * pooled, pl->arg, pooled * sizeof(int));
                if (!ad) {
                    float *p = malloc(pooled * 4);
                    maxpool2_forward(p, NULL, c->y, N, c->OH, c->OW);
                    relu_forward(p, pooled);
                    CHECK(!memcmp(p, ref + i * F, pooled * 4),
                          "case %d: fused pool-ReLU features equal conv + bias, pool, ReLU bit for bit", t);
                    free(p);
                }
            }
            if (!train) { /* the bias moved after the max (the cnn kind's frozen kernels): the same floats */
                pl->b = c->b, c->b = NULL;
                CHECK(!memcmp(front_forward(&f, x, NB, 0), ref, NB * F * 4),
                      "case %d: bias added after the max-pool gives the same features bit for bit", t);
                c->b = pl->b, pl->b = NULL;
            }
            int chunks[] = {1, 2, 5, NB, 0};
            for (int k = 0; k < 5; k++) {
                c->chunk = chunks[k];
                f.scratch = realloc(f.scratch, (layer_chain_scratch(f.l, f.n, NB) + 1) * 4);
                /* the whole batch, then the images split 4 + 9 (other positions, other GEMM widths) */
                int same = !memcmp(front_forward(&f, x, NB, train), ref, NB * F * 4);
                if (train) same &= !memcmp(pl->arg, arg, NB * pooled * sizeof(int));
                same &= !memcmp(front_forward(&f, x + 4 * in, NB - 4, train), ref + 4 * F, (NB - 4) * F * 4);
                if (train) same &= !memcmp(pl->arg, arg + 4 * pooled, (NB - 4) * pooled * sizeof(int));
                CHECK(same, "case %d train=%d chunk %d: features bit-identical to each image alone", t, train, chunks[k]);
            }
            free(x), free(ref), free(arg);
            front_free(&f);
        }
}

/* A frozen-conv job: features cached once == features computed every step, bit for bit. */
static void test_cache(void) {
    char dir[128], err[256];
    snprintf(dir, sizeof dir, "/tmp/synsweep_test_conv_%d", (int)getpid());
    CHECK(fixture_make_mnist(dir, 200, 60, 14, 3) == 0, "fixture");
    RawSplit tr, te;
    dataset_load(dir, "mnist", "train", &tr, err, sizeof err);
    dataset_load(dir, "mnist", "test", &te, err, sizeof err);
    const char *dists[] = {"normal", "lognormal", "center_surround"};
    for (int k = 0; k < 3; k++) {
        JobResult r[3];
        /* 0: nothing cached; 1: training and test features; 2: training features only */
        for (int cached = 0; cached < 3; cached++) {
            JobSpec s;
            jobspec_defaults(&s);
            const char *kv[][2] = {{"model", "cnn"}, {"conv_dist", dists[k]}, {"conv_kernels", "8"},
                                   {"hidden", "16"}, {"epochs", "3"}, {"batch_size", "16"}, {"lr", "1e-3"},
                                   {"rule", "fa_noise"}, {"noise_examples", "64"},
                                   {"snapshots", "init,after_noise,final"},
                                   {"cache_features", cached ? "true" : "false"},
                                   {"cache_budget_mb", cached == 2 ? "0" : "1"}};
            for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) jobspec_set(&s, kv[i][0], kv[i][1], err, sizeof err);
            job_result_init(&r[cached], 0);
            CHECK(train_job(&s, &tr, &te, NULL, 0, &r[cached]) == STATUS_OK, "%s cached=%d: %s", dists[k], cached, r[cached].message);
        }
        size_t ns = (size_t)job_result_n_snaps(&r[0]) * (size_t)(r[0].n_params + r[0].n_fixed);
        const Tensor *cw = tensors_find(&r[0].tensors, "conv_W"), *cb = tensors_find(&r[0].tensors, "conv_b");
        CHECK(cw && cb && tensor_numel(cw) == 8 * 25 && tensor_numel(cb) == 8 && ns > 0, "conv kernels are in the snapshots");
        for (int c = 1; c < 3; c++)
            CHECK(!memcmp(&r[0].m, &r[c].m, sizeof r[0].m) &&
                      !memcmp(r[0].curves, r[c].curves, (size_t)N_CURVES * r[0].n_epochs * 4) &&
                      !memcmp(r[0].snaps, r[c].snaps, ns * 4),
                  "%s: features cached (%s) and uncached give bit-identical results (test acc %g vs %g)",
                  dists[k], c == 1 ? "train and test" : "train", r[0].m.test_acc, r[c].m.test_acc);
        job_result_free(&r[0]), job_result_free(&r[1]), job_result_free(&r[2]);
    }
    raw_split_free(&tr), raw_split_free(&te);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    Rng r;
    rng_seed(&r, 9, 0);
    test_conv(&r);
    test_pool(&r);
    test_pytorch_init();
    test_cnn_grad(&r);
    test_batch_invariance(&r);
    test_groups(&r);
    test_cache();
    return test_report("test_conv");
}
