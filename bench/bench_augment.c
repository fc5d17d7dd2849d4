/*
 * bench_augment: nanoseconds per image of augment_row (draws and crop_flip transform, the
 * work augment adds to gathering one training row) against the memcpy that gathers a row
 * without augment, over N distinct images of C x H x W (default CIFAR-10's 3 x 32 x 32).
 * Prints the best of --reps passes as JSON.
 *
 *   bench_augment [--N 5000] [--C 3] [--H 32] [--W 32] [--reps 5]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "augment.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    int N = 5000, C = 3, H = 32, W = 32, reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--N")) N = v;
        else if (!strcmp(argv[i], "--C")) C = v;
        else if (!strcmp(argv[i], "--H")) H = v;
        else if (!strcmp(argv[i], "--W")) W = v;
        else if (!strcmp(argv[i], "--reps")) reps = v;
        else return fprintf(stderr, "bench_augment: unknown option %s\n", argv[i]), 2;
    }
    if (N < 1 || C < 1 || H < 1 || W < 1 || reps < 1) return fprintf(stderr, "bench_augment: sizes must be >= 1\n"), 2;
    size_t d = (size_t)C * H * W;
    float *x = malloc((size_t)N * d * sizeof(float)), *y = malloc(64 * d * sizeof(float));
    if (!x || !y) return 1;
    for (size_t i = 0; i < (size_t)N * d; i++) x[i] = (float)(i % 251);
    Augment a = {1, 0, C, H, W};
    double aug = 1e30, copy = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now_s();
        for (int i = 0; i < N; i++) augment_row(&a, i, y + (size_t)(i % 64) * d, x + (size_t)i * d);
        t = now_s() - t;
        aug = t < aug ? t : aug;
        t = now_s();
        for (int i = 0; i < N; i++) memcpy(y + (size_t)(i % 64) * d, x + (size_t)i * d, d * sizeof(float));
        t = now_s() - t;
        copy = t < copy ? t : copy;
    }
    printf("{\"shape\": [%d, %d, %d], \"images\": %d, \"augment_row_ns\": %.0f, \"memcpy_ns\": %.0f}\n", C, H, W, N,
           1e9 * aug / N, 1e9 * copy / N);
    free(x), free(y);
    return 0;
}
