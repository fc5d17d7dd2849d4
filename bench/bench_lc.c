/*
 * bench_lc: seconds of one forward+backward (input gradient through F = W, weight and bias
 * gradients) of a locally connected layer on one thread, the layer bench/torch_lc.py runs in
 * PyTorch, and of one dynamic sleep of that layer. Default layer: the second stage of the
 * authors' CIFAR-10 ResNet-20 (resnet_6n2_cifar, width 16): 32 -> 32 channels, 16 x 16 map,
 * K = 3; batch 32. Prints as JSON the median over --reps timed runs, in wall seconds and in
 * this thread's CPU seconds, and the GEMM floors (docs/PERFORMANCE.md, "LC at its floor"):
 * forward+backward's is the output positions times the seconds of its three per-position
 * products (forward O x B x CKK, dW O x CKK x B, dx CKK x B x O), the sleep's the sum over
 * iterations and groups of its two products; each product is timed as bench/gemm_rate times
 * a shape (the best of 5 loops of repeated calls on the same operands, in CPU seconds), a
 * forward + backward product in the faster of its two orientations (gemm_best; before
 * 2026-12-06 as lc.c called them, which for dW of 16 channels was the slower one). over_floor and sleep_over_floor: median CPU seconds over the floor. The
 * timed forward+backward is the two calls alone: the caller's zeroing of dW, db and dx before
 * them (lc_backward accumulates) is outside the timer, as it is outside the floor. fwd_s: the
 * median wall seconds of the forward call alone (the backward's: fwd_bwd_s less about that).
 *
 *   bench_lc [--B 32] [--C 32] [--O 32] [--H 16] [--K 3] [--st 1] [--dx 1] [--reps 20]
 *            [--sleep-reps 3] [--share grid|map] [--dump FILE] [--tr-rate 0|1] [--layout 0-3] [--bias 0|1]
 * --st: the layer's stride (lc_forward_strided; the sleep and --dump at stride 1 only);
 * --layout: lc.h's LC_IN_BL (1) | LC_OUT_BL (2), which of x and out are batch-last, as the
 * network runs the layer (the resnet kind's lc: 2 for its stem, 3 for the others; 0 the lc
 * kind's); --bias 0: no bias and no db (the resnet kind's LC layers have none).
 * --dx 0: no input gradient (a first layer).
 * --dump FILE writes the last forward+backward's operands and results (int32 B C O H K, then
 * float32 x, Wt, b, dout, out, dx, dW, db in lc.h's layouts) for bench/check_torch_lc.py.
 * --tr-rate 1 measures only the rate of the output's transpose instead (docs/PERFORMANCE.md,
 * "Second pass"): CPU ns per float of moving z (P, O, B) into out (B, O, P), P = H*H, one
 * somatcopy per channel as lc.c's forward does, and of a memcpy of as many floats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "lc.h"
#include "rng.h"

#include <cblas.h>

static double clock_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
/* this thread's CPU seconds: on a shared machine, the time it ran, without the time it waited */
static double cpu_s(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* CPU seconds of one sgemm of this shape: the best of 5 loops of repeated calls, as gemm_rate */
static double gemm_seconds(int ta, int tb, int M, int N, int K, float beta) {
    float *A = calloc((size_t)M * K, sizeof(float)), *Bm = calloc((size_t)K * N, sizeof(float)),
          *C = calloc((size_t)M * N, sizeof(float));
    double best = 1e30;
    for (int rep = 0; A && Bm && C && rep < 5; rep++) {
        long calls = 0;
        double t0 = cpu_s(), t;
        do sgemm(ta, tb, M, N, K, 1.0f, A, Bm, beta, C), calls++;
        while ((t = cpu_s() - t0) < 0.02);
        if (t / calls < best) best = t / calls;
    }
    free(A), free(Bm), free(C);
    return best;
}

/*
 * The faster of a product's two orientations: C (M, N) = op(A) op(B) as called, or its
 * transpose C^T (N, M) = op(B)^T op(A)^T (OpenBLAS runs some shapes much faster one way:
 * 16 x 144 x 128 for dW at 66 GFLOP/s, its transpose at 115). The floor does not depend on
 * which one lc.c happens to call.
 */
static double gemm_best(int ta, int tb, int M, int N, int K, float beta) {
    double a = gemm_seconds(ta, tb, M, N, K, beta), b = gemm_seconds(!tb, !ta, N, M, K, beta);
    return a < b ? a : b;
}

/*
 * GEMM floor of one dynamic sleep (T iterations, batch n, lc.h): per iteration and group of
 * m >= 2 members, Z (n, m O) <- X W^T and W (m O, CKK) += r^T X.
 */
static double sleep_floor(int C, int H, int O, int K, int share, int T, int n) {
    int pad = (K - 1) / 2, len = H - 2 * pad, step = share == LC_SHARE_MAP ? len : K, CKK = C * K * K;
    double s = 0.0;
    for (int gy = 0; gy < step && gy < len; gy++)
        for (int gx = 0; gx < step && gx < len; gx++) {
            int m = ((len - gy + step - 1) / step) * ((len - gx + step - 1) / step);
            if (m >= 2) s += gemm_seconds(0, 1, n, m * O, CKK, 0.0f) + gemm_seconds(1, 0, m * O, CKK, n, 1.0f);
        }
    return T * s;
}

/* CPU ns per float of z (P, O, B) -> out (B, O, P) (copy 0) or of a memcpy (copy 1): best of 10 */
static double transpose_ns(int P, int O, int B, int copy) {
    size_t n = (size_t)P * O * B;
    float *z = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    double best = 1e30;
    for (size_t i = 0; z && out && i < n; i++) z[i] = (float)i, out[i] = 0.0f;
    for (int rep = 0; z && out && rep < 10; rep++) {
        double t0 = cpu_s(), t;
        if (copy) memcpy(out, z, n * sizeof(float));
        else
            for (int o = 0; o < O; o++)
                cblas_somatcopy(CblasRowMajor, CblasTrans, P, B, 1.0f, z + (size_t)o * B, (blasint)O * B,
                                out + (size_t)o * P, (blasint)O * P);
        if ((t = cpu_s() - t0) < best) best = t;
    }
    free(z), free(out);
    return 1e9 * best / (double)n;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* An activation buffer of n floats: from malloc (align 0: glibc's 16-byte boundary past a
 * page for large blocks) or on a 64-byte boundary (align 1). */
static float *act(size_t n, int align) {
    return align ? aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64) : malloc(n * sizeof(float));
}

int main(int argc, char **argv) {
    int B = 32, C = 32, O = 32, H = 16, K = 3, st = 1, want_dx = 1, reps = 20, sleep_reps = 3, share = LC_SHARE_GRID,
        tr_rate = 0, align = 0, layout = 0, bias = 1;
    const char *dump = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        int *dst = !strcmp(argv[i], "--B")            ? &B
                   : !strcmp(argv[i], "--C")          ? &C
                   : !strcmp(argv[i], "--O")          ? &O
                   : !strcmp(argv[i], "--H")          ? &H
                   : !strcmp(argv[i], "--K")          ? &K
                   : !strcmp(argv[i], "--st")         ? &st
                   : !strcmp(argv[i], "--dx")         ? &want_dx
                   : !strcmp(argv[i], "--reps")       ? &reps
                   : !strcmp(argv[i], "--sleep-reps") ? &sleep_reps
                   : !strcmp(argv[i], "--tr-rate")    ? &tr_rate
                   : !strcmp(argv[i], "--align")      ? &align
                   : !strcmp(argv[i], "--layout")     ? &layout
                   : !strcmp(argv[i], "--bias")       ? &bias
                                                      : NULL;
        if (dst) *dst = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--share") && !strcmp(argv[i + 1], "map")) share = LC_SHARE_MAP;
        else if (!strcmp(argv[i], "--share") && !strcmp(argv[i + 1], "grid")) share = LC_SHARE_GRID;
        else if (!strcmp(argv[i], "--dump")) dump = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_lc [--B n] [--C n] [--O n] [--H n] [--K odd] [--st n] [--dx 0|1] [--reps n] "
                            "[--sleep-reps n] [--share grid|map] [--dump FILE] [--tr-rate 0|1] [--align 0|1] [--layout 0-3] [--bias 0|1]\n");
            return 2;
        }
    }
    if (B < 1 || C < 1 || O < 1 || H < 1 || K < 1 || K % 2 == 0 || st < 1 || reps < 1 || sleep_reps < 0 || layout < 0 ||
        layout > 3) {
        fprintf(stderr, "bench_lc: sizes must be positive, K odd\n");
        return 2;
    }
    if (dump && layout) {
        fprintf(stderr, "bench_lc: --dump writes batch-first arrays: use it with --layout 0\n");
        return 2;
    }
    blas_single_thread();
    if (tr_rate) {
        printf("{\"transpose\": \"(P, O, B) -> (B, O, P), P %d O %d B %d\", \"somatcopy_ns_per_float\": %.3f, "
               "\"memcpy_ns_per_float\": %.3f}\n",
               H * H, O, B, transpose_ns(H * H, O, B, 0), transpose_ns(H * H, O, B, 1));
        return 0;
    }
    int W = H, OH = (H - 1) / st + 1, OW = (W - 1) / st + 1, CKK = C * K * K;
    size_t nw = lc_weight_count(C, OH, OW, O, K), nx = (size_t)B * C * H * W, no = (size_t)B * O * OH * OW;
    float *Wt = malloc(nw * sizeof(float)), *dW = malloc(nw * sizeof(float)), *b = malloc(O * sizeof(float)),
          *db = malloc(O * sizeof(float)), *x = act(nx, align), *dx = act(nx, align),
          *out = act(no, align), *g = act(no, align),
          *s = malloc(lc_scratch_floats(B, C, H, W, O, K) * sizeof(float)),
          *ss = malloc((lc_sleep_scratch_floats(C, H, W, O, K, share, 128) + 1) * sizeof(float));
    double *t = malloc((size_t)(reps + sleep_reps + 1) * sizeof(double)), *tc = malloc((size_t)(reps + sleep_reps + 1) * sizeof(double)),
           *tf = malloc((size_t)(reps + 1) * sizeof(double));
    if (!Wt || !dW || !b || !db || !x || !dx || !out || !g || !s || !ss || !t || !tc) {
        fprintf(stderr, "bench_lc: out of memory\n");
        return 1;
    }
    Rng r;
    rng_seed(&r, 1, RNG_STREAM_INIT);
    lc_init(Wt, b, C, OH, OW, O, K, -1.0, &r);
    for (size_t i = 0; i < nx; i++) x[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < no; i++) g[i] = (float)rng_normal(&r);
    double sum = 0.0;
    for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up */
        /* the caller's zeroing of the gradients (lc_backward accumulates) is not timed */
        memset(dW, 0, nw * sizeof(float)), memset(db, 0, O * sizeof(float)), memset(dx, 0, nx * sizeof(float));
        double t0 = now_s(), c0 = cpu_s();
        lc_forward_layout(out, x, Wt, bias ? b : NULL, s, B, C, H, W, O, K, st, layout);
        double t1 = now_s();
        lc_backward_layout(want_dx ? dx : NULL, dW, bias ? db : NULL, g, x, Wt, s, B, C, H, W, O, K, st, layout);
        if (rep >= 0) t[rep] = now_s() - t0, tc[rep] = cpu_s() - c0, tf[rep] = t1 - t0;
        sum += out[0] + dx[0] + dW[0];
    }
    double fb = median(t, reps), fb_cpu = median(tc, reps), fwd = median(tf, reps), sl = 0.0;
    double floor_s = (double)OH * OW * (gemm_best(0, 0, O, B, CKK, 0.0f) + gemm_best(0, 1, O, CKK, B, 1.0f) +
                                        (want_dx ? gemm_best(1, 0, CKK, B, O, 0.0f) : 0.0));
    if (dump && st == 1) {
        FILE *fp = fopen(dump, "wb");
        int hdr[5] = {B, C, O, H, K};
        /* the kernels in (c, ky, kx) order, PyTorch's (lc.h: lc.c may keep another) */
        size_t nk = (size_t)OH * OW * O;
        float *Wp = malloc(nw * sizeof(float)), *dWp = malloc(nw * sizeof(float));
        if (!Wp || !dWp) {
            fprintf(stderr, "bench_lc: out of memory\n");
            return 1;
        }
        lc_kernels_convert(Wp, Wt, nk, C, K, 1), lc_kernels_convert(dWp, dW, nk, C, K, 1);
        const float *arr[8] = {x, Wp, b, g, out, dx, dWp, db};
        size_t len[8] = {nx, nw, (size_t)O, no, no, nx, nw, (size_t)O};
        int ok = fp && fwrite(hdr, sizeof hdr, 1, fp) == 1;
        for (int k = 0; ok && k < 8; k++) ok = fwrite(arr[k], sizeof(float), len[k], fp) == len[k];
        free(Wp), free(dWp);
        if (!fp || fclose(fp) || !ok) {
            fprintf(stderr, "bench_lc: cannot write %s\n", dump);
            return 1;
        }
    }
    for (int rep = 0; st == 1 && rep < sleep_reps; rep++) {
        double t0 = now_s(), c0 = cpu_s();
        lc_sleep_dynamic(Wt, ss, C, H, W, O, K, share, 100, 0.1f, 1e-5f, 128, &r);
        t[rep] = now_s() - t0, tc[rep] = cpu_s() - c0;
    }
    double sl_cpu = 0.0, sl_floor = 0.0;
    if (sleep_reps && st == 1)
        sl = median(t, sleep_reps), sl_cpu = median(tc, sleep_reps), sl_floor = sleep_floor(C, H, O, K, share, 100, 128);
    printf("{\"impl\": \"synsweep\", \"layer\": \"lc B%d C%d O%d %dx%d K%d st%d%s\", \"fwd_bwd_s\": %.6f, "
           "\"fwd_s\": %.6f, \"fwd_bwd_cpu_s\": %.6f, \"floor_cpu_s\": %.6f, \"over_floor\": %.2f, \"sleep_s\": %.4f, \"sleep_cpu_s\": %.4f, "
           "\"sleep_floor_cpu_s\": %.4f, \"sleep_over_floor\": %.2f, \"sleep\": \"dynamic %s T100 batch128\", "
           "\"layout\": %d, \"bias\": %d, \"check\": %.3g}\n",
           B, C, O, H, W, K, st, want_dx ? "" : " no dx", fb, fwd, fb_cpu, floor_s, fb_cpu / floor_s, sl, sl_cpu, sl_floor,
           sl_floor > 0 ? sl_cpu / sl_floor : 0.0, share ? "map" : "grid", layout, bias, sum);
    free(Wt), free(dW), free(b), free(db), free(x), free(dx), free(out), free(g), free(s), free(ss), free(t), free(tc), free(tf);
    return 0;
}
