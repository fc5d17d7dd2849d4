/* work.c: see work.h. */
#include "work.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data.h"
#include "memest.h"
#include "model.h"

const char *const WORK_CLASS_NAMES[WK_N] = {"gemm", "gemm_small", "gemv", "stream", "normal", "uniform", "masked", "exp", "gather", "dram"};

void calibration_default(Calibration *c) {
    /* a half (streams, random numbers) to a fifth (products) of what `synsweep calibrate`
     * measured on this project's AMD EPYC with AVX-512 (docs/PERFORMANCE.md): a core without
     * AVX-512, or a busy one, errs long rather than short */
    static const double slow[WK_N] = {20e9, 20e9, 4e9, 4e9, 20e6, 150e6, 1e9, 150e6, 0.5e9, 1.5e9};
    memcpy(c->rate, slow, sizeof slow);
    snprintf(c->source, sizeof c->source, "built-in default (no calibration: run `synsweep calibrate`)");
}

void work_add(Work *w, const Work *a, double f) {
    for (int k = 0; k < WK_N; k++) w->n[k] += f * a->n[k];
}

void work_gemm(Work *w, double count, double M, double N, double K) {
    double side = fmin(M, fmin(N, K));
    w->n[side <= 2 ? WK_GEMV : side >= WORK_SMALL_SIDE ? WK_GEMM : WK_GEMM_SMALL] += count * 2.0 * M * N * K;
}

void work_stream(Work *w, double floats, double bytes) {
    w->n[bytes > WORK_CACHE_BYTES ? WK_DRAM : WK_STREAM] += floats;
}

double work_seconds(const Work *w, const Calibration *c) {
    double s = 0.0;
    for (int k = 0; k < WK_N; k++)
        if (w->n[k] > 0.0) s += w->n[k] / c->rate[k];
    return s;
}

void work_head(const JobSpec *s, int F, int n_classes, double density, int need_dinput, HeadWork *h) {
    int hid[MLP_MAX_LAYERS], nh = jobspec_hidden(s, hid);
    double B = s->batch_size > 0 ? s->batch_size : 1;
    int fb = rule_find(s->rule) ? rule_find(s->rule)->feedback : RULE_BP;
    memset(h, 0, sizeof *h);
    double I = F;
    for (int l = 0; l <= nh; l++) {
        double O = l < nh ? hid[l] : n_classes;
        h->params += I * O + O;
        if (l == 0 && density < 1.0) {
            /* sparse rows: each nonzero scales a row of O weights by fused multiply-adds,
             * forward and gradient, counted as small products' flops, twice (the scattered rows
             * ran at half that rate, docs/PERFORMANCE.md); the transposed weights
             * are rewritten every step (counted per example: / B) */
            h->fwd.n[WK_GEMM_SMALL] += 4.0 * density * I * O;
            h->bwd.n[WK_GEMM_SMALL] += 4.0 * density * I * O;
            h->bwd.n[WK_GATHER] += 2.0 * I * O / B;
        } else {
            work_gemm(&h->fwd, 1.0 / B, B, O, I);
            work_gemm(&h->bwd, 1.0 / B, O, I, B); /* dW */
        }
        if (l > 0 || need_dinput) {
            if (fb == RULE_DFA) work_gemm(&h->bwd, 1.0 / B, B, O, n_classes);
            else work_gemm(&h->bwd, 1.0 / B, B, I, O);
        }
        h->fwd.n[WK_STREAM] += 3.0 * O; /* bias, ReLU (softmax) */
        h->bwd.n[WK_STREAM] += 3.0 * O;
        I = O;
    }
}

double work_head_stage_flops(const JobSpec *s, int F) {
    int hid[MLP_MAX_LAYERS], nh = jobspec_hidden(s, hid);
    double I = F, f = 0.0;
    for (int l = 0; l <= nh; l++) {
        double O = l < nh ? hid[l] : 10, mn = fmin(I, O), mx = fmax(I, O);
        f += 8.0 * mx * mn * mn; /* dgesdd without vectors, in double: about twice the float rate's time */
        I = O;
    }
    return f;
}

/* Optimiser streams per parameter and step: Adam and AdamW read p, g, m, v and write p, m, v
 * and the zeroed g; SGD (momentum) five. */
static double opt_streams(const JobSpec *s) { return strcmp(s->optimizer, "sgd") ? 8.0 : 5.0; }

/* Evaluations of the test (and training) split during the epochs, before the final one. */
static int n_evals(const JobSpec *s) { return s->eval_every > 0 && s->epochs > 1 ? (s->epochs - 1) / s->eval_every : 0; }

static int n_meta_tasks(const JobSpec *s) {
    int n = 0;
    for (const char *p = s->meta_tasks; *p; p++) n += *p == ',';
    return s->meta_tasks[0] ? n + 1 : 0;
}

void work_schedule(const JobSpec *s, const JobPasses *p, Work *w) {
    double B = s->batch_size > 0 ? s->batch_size : 1, opt = opt_streams(s) * p->params;
    double ntr = p->n_train, nte = p->n_test, rows = ntr * (p->feat_rows > 0 ? p->feat_rows : 1);
    const RuleDef *rule = rule_find(s->rule);
    int noise = rule && rule->noise_phase && s->noise_epochs > 0;
    int stages = 1 + noise;
    w->n[WK_STREAM] += 4.0 * (ntr + nte) * p->d; /* bytes -> scaled floats, the batch copies */
    w->n[WK_NORMAL] += p->params;                /* initial weights */
    if (p->feat) {
        double imgs = ntr + (p->cache_test ? nte : 0.0);
        work_add(w, p->feat, imgs);
        /* the cache written into fresh pages (the kernel clears each first: about 3 writes) */
        work_stream(w, 3.0 * imgs * p->feat_floats, imgs * p->feat_floats * 4.0);
    }
    /* the init (and after-noise) stage: a test readout and the head's geometry */
    work_add(w, p->eval_fwd, stages * nte);
    w->n[WK_GEMM_SMALL] += stages * p->stage_flops;
    if (noise) {
        double ex = (double)s->noise_epochs * s->noise_examples;
        work_add(w, p->noise_fwd, ex);
        work_add(w, p->noise_bwd, ex);
        w->n[WK_NORMAL] += ex * p->d;
        work_stream(w, ceil(ex / B) * opt, 16.0 * p->params);
    }
    double E = s->epochs > 0 ? s->epochs : 0;
    work_add(w, p->fwd, E * rows);
    work_add(w, p->bwd, E * rows);
    work_stream(w, E * ceil(rows / B) * opt, 16.0 * p->params); /* steps */
    w->n[WK_STREAM] += E * 2.0 * ntr * p->d;                     /* rows gathered */
    /* evaluations during the epochs, then the final passes over both splits */
    double ev = n_evals(s);
    work_add(w, p->eval_fwd, (ev + 1.0) * nte);
    work_add(w, p->fwd, ((s->eval_train ? ev : 0.0) + 1.0) * rows);
    w->n[WK_GEMM_SMALL] += p->stage_flops;
    /* the meta-loss at each stage: meta_steps steps and a test pass per task, on images */
    double meta = (double)n_meta_tasks(s) * (stages + 1);
    if (meta > 0) {
        double ex = (double)s->meta_steps * B;
        work_add(w, p->noise_fwd, meta * (ex + s->meta_test_size));
        work_add(w, p->noise_bwd, meta * ex);
        w->n[WK_STREAM] += meta * (s->meta_steps * opt + 8.0 * p->d * (ex + s->meta_test_size) + 4.0 * p->params);
    }
}

/* The official splits' sizes (the copies in ../shared/data are partly smaller: data/README.md) */
static const struct {
    const char *name;
    int train, test;
} SPLITS[] = {
    {"mnist", 60000, 10000}, {"fashion_mnist", 60000, 10000}, {"kmnist", 60000, 10000},
    {"cifar10", 50000, 10000}, {"svhn", 73257, 26032}, {"usps", 7291, 2007},
};

void work_example_counts(const JobSpec *s, int *n_train, int *n_test) {
    jobspec_example_counts(s, n_train, n_test);
    for (size_t i = 0; i < sizeof SPLITS / sizeof *SPLITS; i++) {
        if (strcmp(SPLITS[i].name, s->dataset)) continue;
        int tr = SPLITS[i].train, heldout = !strcmp(s->test_split, "heldout");
        int te = heldout ? tr - (*n_train < tr ? *n_train : tr) : SPLITS[i].test;
        *n_train = *n_train < tr ? *n_train : tr;
        *n_test = s->test_size > 0 && s->test_size < te ? s->test_size : te;
    }
}

int jobspec_work(const JobSpec *s, Work *w) {
    int C, H, W, ntr, nte;
    memset(w, 0, sizeof *w);
    const ModelKind *k = model_kind_find(s->model);
    if (!k || !k->work || dataset_shape(s->dataset, &C, &H, &W)) return -1;
    work_example_counts(s, &ntr, &nte);
    k->work(s, C, H, W, ntr, nte, w);
    return 0;
}

/* Measured on the training images in ../shared/data (numpy: (x > 0).mean(), (x > 127).mean()). */
static const struct {
    const char *name;
    double nonzero, half;
} DENSITY[] = {
    {"mnist", 0.1912, 0.1323},
    {"kmnist", 0.3312, 0.1922},
    {"fashion_mnist", 0.4961, 0.3143},
};

double work_pixel_density(const char *dataset, double threshold) {
    for (size_t i = 0; i < sizeof DENSITY / sizeof *DENSITY; i++)
        if (!strcmp(DENSITY[i].name, dataset)) {
            double t = threshold < 0.0 ? 0.0 : threshold > 1.0 ? 1.0 : threshold;
            /* linear between the two measured thresholds, then toward 0 at 1 */
            return t <= 0.5 ? DENSITY[i].nonzero + (DENSITY[i].half - DENSITY[i].nonzero) * t / 0.5
                            : DENSITY[i].half * (1.0 - t) / 0.5;
        }
    return 1.0;
}
