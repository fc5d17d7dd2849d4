/*
 * bench_wino: milliseconds of one 3x3 stride-1 conv layer's forward and backward (dW and dx)
 * by Winograd F(2x2, 3x3) (winograd.c) and F(4x4, 3x3) (winograd4.c), C -> C planes of H x H,
 * batch B, one thread, the best of --reps passes each; inputs and the output gradient are
 * random floats in [-0.5, 0.5), far larger than the caches at ResNet-20's batch 512 (as in a
 * training step: the activations come from main memory). Prints one JSON line per form.
 *
 *   bench_wino [--C 16] [--H 32] [--B 512] [--reps 4]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "rng.h"
#include "winograd.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    int C = 16, H = 32, B = 512, reps = 4;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return printf("usage: bench_wino [--C 16] [--H 32] [--B 512] [--reps 4]\n"), 0;
        if (i + 1 >= argc) return fprintf(stderr, "bench_wino: %s needs a value\n", argv[i]), 2;
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--C")) C = v;
        else if (!strcmp(argv[i], "--H")) H = v;
        else if (!strcmp(argv[i], "--B")) B = v;
        else if (!strcmp(argv[i], "--reps")) reps = v;
        else return fprintf(stderr, "bench_wino: unknown option %s (see --help)\n", argv[i]), 2;
    }
    if (C < 1 || B < 1 || reps < 1 || !wino4_applies(C, H, H, 3, 1, 1))
        return fprintf(stderr, "bench_wino: need C, B, reps >= 1 and H a multiple of 4 (>= 4)\n"), 2;
    blas_single_thread();
    size_t n = (size_t)B * C * H * H, nw = (size_t)C * C * 9;
    size_t ns2 = wino_scratch(C, C, H, H, B), ns4 = wino4_scratch(C, C, H, H, B);
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float));
    float *dx = malloc(n * sizeof(float)), *w = malloc(nw * sizeof(float)), *dw = calloc(nw, sizeof(float));
    float *s = malloc((ns2 > ns4 ? ns2 : ns4) * sizeof(float));
    if (!x || !y || !dy || !dx || !w || !dw || !s) return fprintf(stderr, "bench_wino: out of memory\n"), 1;
    Rng r;
    rng_seed(&r, 1, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_uniform(&r) - 0.5f, dy[i] = (float)rng_uniform(&r) - 0.5f;
    for (size_t i = 0; i < nw; i++) w[i] = (float)rng_uniform(&r) - 0.5f;
    memset(y, 0, n * sizeof(float)), memset(dx, 0, n * sizeof(float));
    for (int m = 2; m <= 4; m += 2) {
        double fwd = 1e30, bwd = 1e30;
        for (int k = 0; k < reps; k++) {
            double t0 = now_s();
            (m == 2 ? wino_forward : wino4_forward)(w, NULL, C, C, H, H, x, B, y, NULL, s);
            double t1 = now_s();
            (m == 2 ? wino_backward : wino4_backward)(w, C, C, H, H, x, dy, B, dw, dx, 1, s);
            double t2 = now_s();
            fwd = t1 - t0 < fwd ? t1 - t0 : fwd, bwd = t2 - t1 < bwd ? t2 - t1 : bwd;
        }
        printf("{\"form\": \"F(%dx%d, 3x3)\", \"C\": %d, \"H\": %d, \"B\": %d, \"forward_ms\": %.2f, \"backward_ms\": %.2f}\n",
               m, m, C, H, B, 1e3 * fwd, 1e3 * bwd);
    }
    free(x), free(y), free(dy), free(dx), free(w), free(dw), free(s);
    return 0;
}
