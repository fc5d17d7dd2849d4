/*
 * bench_rbse: seconds per CD-k epoch of the RBSE and of the plain RBM on one thread, with a
 * breakdown. Default: 784 visible x 500 hidden, batch 100, CD-1, the first 10,000 MNIST
 * training images binarised at 0.5, SGD (lr 0.05, momentum 0.5, weight decay 1e-4),
 * initial release probability 0.5. Prints the median of REPS epochs after one warm-up epoch,
 * in CPU seconds of the one thread (wall time on a shared machine counts other jobs).
 *
 *   bench_rbse [--n 10000] [--hidden 500] [--batch 100] [--k 1] [--reps 3] [--data-dir DIR]
 *              [--feat-n 2000] [--samples 10] [--model both|rbse|rbm] [--chain joint|collapsed]
 *
 * Then the feature pass of the one-shot readout (model_rbse.c, one image at a time) on the
 * first feat-n images: RBSE, S = samples masked passes P(h | v, m_s) per image; RBM, S
 * passes sigmoid(c + W v) per image (the model computes one and copies it; S passes are
 * the peer issue 20 names), and the same S passes batched (one sgemm over the feat-n images
 * each: the GEMM floor). Median of REPS, CPU seconds.
 *
 * Mask sampling is fused with the masked products (rbse.c), so its time is inside the
 * "masks + v|h,m" and "masks + h|v,m" lines; for CD-1 the per-synapse figure divides the
 * first by the synapses it visited (rows with h_j = 1 only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "data.h"
#include "optim.h"
#include "rbse.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* CPU time: steady on a shared machine */
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct Run {
    double epoch, prepare, optim, t[RBSE_N_TIMES], vsyn;
} Run;

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median CPU seconds of `reps` feature passes over n images, S masks (RBSE) or S passes (RBM). */
static double feature_pass(Rbse *m, const float *x, int n, int S, int reps, int batched,
                           float *feat) {
    double t[64];
    float *all = batched ? malloc((size_t)n * m->n_h * sizeof(float)) : NULL;
    Rng r;
    rng_seed(&r, 2, RNG_STREAM_INIT);
    if (reps > 64) reps = 64;
    for (int q = 0; q < reps; q++) {
        double t0 = now_s();
        for (int s = 0; batched && s < S; s++) rbse_h_marginal(m, n, x, all);
        for (int e = 0; !batched && e < n; e++) {
            const float *v = x + (size_t)e * m->n_v;
            if (m->rbm)
                for (int s = 0; s < S; s++) rbse_features(m, 1, v, 1, &r, feat + (size_t)s * m->n_h);
            else
                rbse_features(m, 1, v, S, &r, feat);
        }
        t[q] = now_s() - t0;
    }
    free(all);
    qsort(t, (size_t)reps, sizeof t[0], cmp_d);
    return t[reps / 2];
}

static int cmp_run(const void *a, const void *b) {
    double x = ((const Run *)a)->epoch, y = ((const Run *)b)->epoch;
    return (x > y) - (x < y);
}

/* One epoch over x (n, V) in batches; returns timings. */
static Run epoch(Rbse *m, RbseChain *ch, Optim *o, float *params, float *grads, const float *x,
                 int n, int V, int H, int B, int k) {
    Run r = {0};
    memset(ch->t, 0, sizeof ch->t);
    size_t nw = (size_t)H * V, off_b = m->rbm ? nw : 2 * nw;
    double t0 = now_s();
    for (int s = 0; s + B <= n; s += B) {
        const float *v0 = x + (size_t)s * V;
        memset(grads, 0, (off_b + V + H) * sizeof(float));
        rbse_grad(m, ch, B, v0, k, 0, grads, m->rbm ? NULL : grads + nw, grads + off_b,
                  grads + off_b + V);
        if (k == 1) /* synapses the fused v-step visited: B x (rows with h_j = 1) x V */
            for (int q = 0; q < B * H; q++) r.vsyn += (double)ch->h[q] * V;
        double t1 = now_s();
        optim_step(o, params, grads);
        double t2 = now_s();
        rbse_prepare(m);
        r.optim += t2 - t1, r.prepare += now_s() - t2;
    }
    r.epoch = now_s() - t0;
    memcpy(r.t, ch->t, sizeof r.t);
    return r;
}

int main(int argc, char **argv) {
    const char *dir = getenv("SYNSWEEP_DATA");
    int n = 10000, H = 500, B = 100, k = 1, reps = 3, feat_n = 2000, S = 10;
    const char *only = "both"; /* rbse or rbm: one model (instruction counts per model) */
    int collapsed = 0;         /* --chain collapsed: the RBSE's (v, h) chain with m summed out */
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hidden")) H = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--k")) k = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--data-dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--feat-n")) feat_n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--samples")) S = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--model")) only = argv[i + 1];
        else if (!strcmp(argv[i], "--chain")) collapsed = !strcmp(argv[i + 1], "collapsed");
        else {
            fprintf(stderr, "usage: bench_rbse [--n N] [--hidden H] [--batch B] [--k K] [--reps R] [--data-dir DIR] [--feat-n N] [--samples S] [--model both|rbse|rbm] [--chain joint|collapsed]\n");
            return 2;
        }
    }
    blas_single_thread();
    RawSplit raw;
    char err[512];
    if (!dir || dataset_load(dir, "mnist", "train", &raw, err, sizeof err)) {
        fprintf(stderr, "bench_rbse: %s\n", dir ? err : "set SYNSWEEP_DATA or --data-dir");
        return 1;
    }
    int V = raw.c * raw.h * raw.w;
    if (n > raw.n) n = raw.n;
    float *x = malloc((size_t)n * V * sizeof(float));
    for (size_t q = 0; q < (size_t)n * V; q++) x[q] = raw.x[q] / 255.0f;
    rbse_binarize(x, (long)n * V, 0.5f, NULL, x);
    double on = 0;
    for (size_t q = 0; q < (size_t)n * V; q++) on += x[q];
    printf("bench_rbse: %d x %d, batch %d, CD-%d, %d binarised MNIST images (%.1f%% pixels on), median of %d epochs\n",
           V, H, B, k, n, 100.0 * on / ((double)n * V), reps);

    size_t nw = (size_t)H * V, np = 2 * nw + V + H;
    float *params = malloc(np * sizeof(float)), *grads = malloc(np * sizeof(float));
    float *feat = malloc((size_t)S * H * sizeof(float));
    if (feat_n > n) feat_n = n;
    double tf[3] = {0, 0, 0};
    Run *runs = malloc((size_t)reps * sizeof(Run));
    for (int rbm = !strcmp(only, "rbm"); rbm <= !!strcmp(only, "rbse"); rbm++) {
        Rbse m;
        RbseChain ch;
        Optim o;
        size_t off_b = rbm ? nw : 2 * nw, n_par = off_b + V + H;
        if (rbse_create(&m, V, H, rbm, params, rbm ? NULL : params + nw, params + off_b,
                        params + off_b + V) ||
            rbse_chain_create(&ch, &m, B, 1) ||
            optim_create(&o, OPT_SGD, n_par, 0.05f, 0.9f, 0.999f, 1e-8f, 0.5f, 1e-4f)) {
            fprintf(stderr, "bench_rbse: out of memory\n");
            return 1;
        }
        Rng r;
        rng_seed(&r, 1, RNG_STREAM_INIT);
        m.collapsed = collapsed;
        m.h_tables = k > 1 && !collapsed; /* CD-1 never runs the masked h-step */
        rbse_init_params(&m, 0.5f, 0.01f, &r);
        epoch(&m, &ch, &o, params, grads, x, n, V, H, B, k); /* warm-up */
        for (int q = 0; q < reps; q++) runs[q] = epoch(&m, &ch, &o, params, grads, x, n, V, H, B, k);
        qsort(runs, (size_t)reps, sizeof(Run), cmp_run);
        Run *md = &runs[reps / 2];
        double ce, mse = rbse_recon_error(&m, &ch, B, x, &ce);
        printf("%s: epoch %.3f s (%d batches)\n", rbm ? "RBM " : "RBSE", md->epoch, n / B);
        printf("  h|v data (m summed out, sgemm)   %.3f s\n", md->t[RBSE_T_HDATA]);
        printf("  %-32s %.3f s\n", rbm ? "v|h (sgemm) + v draws" : collapsed ? "v|h (sgemm on weff) + v draws"
                                                                         : "masks + v|h,m (fused) + v draws",
               md->t[RBSE_T_VSTEP]);
        if (!rbm && !collapsed && k == 1)
            printf("    %.2f ns per visited synapse (%.0f%% of B x H x V visited)\n",
                   1e9 * md->t[RBSE_T_VSTEP] / md->vsyn, 100.0 * md->vsyn / ((double)(n / B) * B * H * V));
        if (k > 1)
            printf("  %-32s %.3f s\n", rbm ? "h|v (sgemm) + h draws" : "masks + h|v,m (fused) + h draws",
                   md->t[RBSE_T_HSTEP]);
        printf("  h|v model (sgemm)                %.3f s\n", md->t[RBSE_T_HMODEL]);
        printf("  gradient (2 sgemm + elementwise) %.3f s\n", md->t[RBSE_T_GRAD]);
        printf("  SGD step                         %.3f s\n", md->optim);
        if (!rbm) printf("  prepare (weff, p, thresholds)    %.3f s\n", md->prepare);
        printf("  after: recon MSE %.4f, cross-entropy %.4f, mean release %.3f\n", mse, ce,
               rbse_mean_release(&m));
        m.h_tables = 1; /* the features run the masked h-step */
        rbse_prepare(&m);
        tf[rbm] = feat_n > 0 ? feature_pass(&m, x, feat_n, S, reps, 0, feat) : 0;
        if (rbm && feat_n > 0) tf[2] = feature_pass(&m, x, feat_n, S, reps, 1, feat);
        rbse_chain_free(&ch), rbse_free(&m), optim_free(&o);
    }
    if (feat_n > 0 && !strcmp(only, "both"))
        printf("features of %d images, S = %d: RBSE %.3f s (S masked passes), RBM %.3f s (S passes), ratio %.2f;\n"
           "  RBM batched (S sgemm over the images) %.3f s, ratio %.2f\n",
           feat_n, S, tf[0], tf[1], tf[0] / tf[1], tf[2], tf[0] / tf[2]);
    free(runs), free(params), free(grads), free(x), free(feat);
    raw_split_free(&raw);
    return 0;
}
