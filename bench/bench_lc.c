/*
 * bench_lc: seconds of one forward+backward (input gradient through F = W, weight and bias
 * gradients) of a locally connected layer on one thread, the layer bench/torch_lc.py runs in
 * PyTorch, and of one dynamic sleep of that layer. Default layer: the second stage of the
 * authors' CIFAR-10 ResNet-20 (resnet_6n2_cifar, width 16): 32 -> 32 channels, 16 x 16 map,
 * K = 3; batch 32. Prints the median over --reps timed runs as JSON.
 *
 *   bench_lc [--B 32] [--C 32] [--O 32] [--H 16] [--K 3] [--reps 20] [--sleep-reps 3]
 *            [--share grid|map] [--dump FILE]
 * --dump FILE writes the last forward+backward's operands and results (int32 B C O H K, then
 * float32 x, Wt, b, dout, out, dx, dW, db in lc.h's layouts) for bench/check_torch_lc.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "lc.h"
#include "rng.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    int B = 32, C = 32, O = 32, H = 16, K = 3, reps = 20, sleep_reps = 3, share = LC_SHARE_GRID;
    const char *dump = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        int *dst = !strcmp(argv[i], "--B")            ? &B
                   : !strcmp(argv[i], "--C")          ? &C
                   : !strcmp(argv[i], "--O")          ? &O
                   : !strcmp(argv[i], "--H")          ? &H
                   : !strcmp(argv[i], "--K")          ? &K
                   : !strcmp(argv[i], "--reps")       ? &reps
                   : !strcmp(argv[i], "--sleep-reps") ? &sleep_reps
                                                      : NULL;
        if (dst) *dst = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--share") && !strcmp(argv[i + 1], "map")) share = LC_SHARE_MAP;
        else if (!strcmp(argv[i], "--share") && !strcmp(argv[i + 1], "grid")) share = LC_SHARE_GRID;
        else if (!strcmp(argv[i], "--dump")) dump = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_lc [--B n] [--C n] [--O n] [--H n] [--K odd] [--reps n] "
                            "[--sleep-reps n] [--share grid|map] [--dump FILE]\n");
            return 2;
        }
    }
    if (B < 1 || C < 1 || O < 1 || H < 1 || K < 1 || K % 2 == 0 || reps < 1 || sleep_reps < 0) {
        fprintf(stderr, "bench_lc: sizes must be positive, K odd\n");
        return 2;
    }
    blas_single_thread();
    int W = H;
    size_t nw = lc_weight_count(C, H, W, O, K), nx = (size_t)B * C * H * W, no = (size_t)B * O * H * W;
    float *Wt = malloc(nw * sizeof(float)), *dW = malloc(nw * sizeof(float)), *b = malloc(O * sizeof(float)),
          *db = malloc(O * sizeof(float)), *x = malloc(nx * sizeof(float)), *dx = malloc(nx * sizeof(float)),
          *out = malloc(no * sizeof(float)), *g = malloc(no * sizeof(float)),
          *s = malloc(lc_scratch_floats(B, C, H, W, O, K) * sizeof(float)),
          *ss = malloc((lc_sleep_scratch_floats(C, H, W, O, K, share, 128) + 1) * sizeof(float));
    double *t = malloc((size_t)(reps + sleep_reps + 1) * sizeof(double));
    if (!Wt || !dW || !b || !db || !x || !dx || !out || !g || !s || !ss || !t) {
        fprintf(stderr, "bench_lc: out of memory\n");
        return 1;
    }
    Rng r;
    rng_seed(&r, 1, RNG_STREAM_INIT);
    lc_init(Wt, b, C, H, W, O, K, -1.0, &r);
    for (size_t i = 0; i < nx; i++) x[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < no; i++) g[i] = (float)rng_normal(&r);
    double sum = 0.0;
    for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up */
        double t0 = now_s();
        lc_forward(out, x, Wt, b, s, B, C, H, W, O, K);
        memset(dW, 0, nw * sizeof(float)), memset(db, 0, O * sizeof(float)), memset(dx, 0, nx * sizeof(float));
        lc_backward(dx, dW, db, g, x, Wt, s, B, C, H, W, O, K);
        if (rep >= 0) t[rep] = now_s() - t0;
        sum += out[0] + dx[0] + dW[0];
    }
    double fb = median(t, reps), sl = 0.0;
    if (dump) {
        FILE *fp = fopen(dump, "wb");
        int hdr[5] = {B, C, O, H, K};
        const float *arr[8] = {x, Wt, b, g, out, dx, dW, db};
        size_t len[8] = {nx, nw, (size_t)O, no, no, nx, nw, (size_t)O};
        int ok = fp && fwrite(hdr, sizeof hdr, 1, fp) == 1;
        for (int k = 0; ok && k < 8; k++) ok = fwrite(arr[k], sizeof(float), len[k], fp) == len[k];
        if (!fp || fclose(fp) || !ok) {
            fprintf(stderr, "bench_lc: cannot write %s\n", dump);
            return 1;
        }
    }
    for (int rep = 0; rep < sleep_reps; rep++) {
        double t0 = now_s();
        lc_sleep_dynamic(Wt, ss, C, H, W, O, K, share, 100, 0.1f, 1e-5f, 128, &r);
        t[rep] = now_s() - t0;
    }
    if (sleep_reps) sl = median(t, sleep_reps);
    printf("{\"impl\": \"synsweep\", \"layer\": \"lc B%d C%d O%d %dx%d K%d\", \"fwd_bwd_s\": %.6f, "
           "\"sleep_s\": %.4f, \"sleep\": \"dynamic %s T100 batch128\", \"check\": %.3g}\n",
           B, C, O, H, W, K, fb, sl, share ? "map" : "grid", sum);
    free(Wt), free(dW), free(b), free(db), free(x), free(dx), free(out), free(g), free(s), free(ss), free(t);
    return 0;
}
