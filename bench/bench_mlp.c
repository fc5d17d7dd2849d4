/*
 * bench_mlp: seconds per training epoch of an MLP on one thread, the job PyTorch does in
 * bench/torch_mlp.py. Default: FA, [784, 100, 10], all 60,000 MNIST training images,
 * batch 64, Adam lr 1e-4; prints the median of REPS epochs (after one warm-up epoch).
 *
 *   bench_mlp [--rule fa] [--hidden 100] [--batch 64] [--reps 5] [--data-dir DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "data.h"
#include "job.h"
#include "train.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *rule = "fa", *hidden = "100", *dir = getenv("SYNSWEEP_DATA");
    int batch = 64, reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rule")) rule = argv[i + 1];
        else if (!strcmp(argv[i], "--hidden")) hidden = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--data-dir")) dir = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_mlp [--rule R] [--hidden H,H] [--batch B] [--reps N] [--data-dir DIR]\n");
            return 2;
        }
    }
    blas_single_thread();
    RawSplit raw;
    char err[512];
    if (!dir || dataset_load(dir, "mnist", "train", &raw, err, sizeof err)) {
        fprintf(stderr, "bench_mlp: %s\n", dir ? err : "set SYNSWEEP_DATA or --data-dir");
        return 1;
    }
    JobSpec s;
    jobspec_defaults(&s);
    if (jobspec_set(&s, "hidden", hidden, err, sizeof err) || jobspec_set(&s, "rule", rule, err, sizeof err)) {
        fprintf(stderr, "bench_mlp: %s\n", err);
        return 2;
    }
    s.batch_size = batch;
    Split tr;
    Scaling sc = scaling_fit(&raw, NULL, 0, 0);
    split_make(&tr, &raw, NULL, raw.n, sc);
    Model md;
    if (model_build(&md, &s, raw.c, raw.h, raw.w, raw.n_classes, err, sizeof err)) {
        fprintf(stderr, "bench_mlp: %s\n", err);
        return 1;
    }
    Mlp m = *md.kind->head(&md);
    int *perm = malloc((size_t)tr.n * sizeof(int));
    float *xb = malloc((size_t)batch * tr.d * sizeof(float));
    uint8_t *yb = malloc((size_t)batch);
    Rng r;
    rng_seed(&r, 0, RNG_STREAM_SHUFFLE);
    double *t = malloc((size_t)reps * sizeof(double)), loss = 0;
    train_epoch(&md, &tr, &r, perm, xb, yb); /* warm-up */
    for (int k = 0; k < reps; k++) {
        double t0 = now_s();
        loss = train_epoch(&md, &tr, &r, perm, xb, yb);
        t[k] = now_s() - t0;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_d);
    /* the floor: only the epoch's GEMM calls (forward, dW, and dX for layers above the first) */
    double g0 = now_s();
    for (int i = 0; i < tr.n; i += batch) {
        int b = tr.n - i < batch ? tr.n - i : batch;
        for (int l = 0; l < m.n_layers; l++) {
            int I = m.sizes[l], O = m.sizes[l + 1];
            sgemm(0, 1, b, O, I, 1.0f, l ? m.act[l] : xb, m.W[l], 1.0f, m.act[l + 1]);
            sgemm(1, 0, O, I, b, 1.0f, m.d0, l ? m.act[l] : xb, 1.0f, m.dW[l]);
            if (l) sgemm(0, 0, b, I, O, 1.0f, m.d0, m.W[l], 0.0f, m.d1);
        }
    }
    double gemm = now_s() - g0;
    printf("{\"impl\": \"synsweep\", \"rule\": \"%s\", \"hidden\": \"%s\", \"batch\": %d, \"n\": %d, "
           "\"epoch_s_median\": %.4f, \"epoch_s_min\": %.4f, \"gemm_only_s\": %.4f, \"last_loss\": %.4f}\n",
           rule, hidden, batch, tr.n, t[reps / 2], t[0], gemm, loss);
    free(t), free(perm), free(xb), free(yb);
    model_free(&md), split_free(&tr), raw_split_free(&raw);
    return 0;
}
