/*
 * lc_tile_probe: the forward products of the LC ResNet's stride-2 16 -> 32 layer (batch 128,
 * its 225 positions whose patches lie inside the 32 x 32 input, read in place from the
 * batch-last input as lc.c reads them), three ways, against the layer's GEMM floor:
 *   openblas: three sgemm calls per position, one per kernel row (lc.c's path);
 *   tile16:   16 outputs x 16 images in registers, over the 144 patch rows (the loop of
 *             lc.c's few_forward, tried for these layers in the eighth pass, not kept);
 *   tile4x64: 4 outputs x 64 images in registers, the weights transposed;
 *   floor:    one 32 x 144 x 128 sgemm, the same operands every time (cached), per position;
 *   tile16_cached: tile16 on the same operands every time, per position.
 * The gap between each way and the floor is the cost of streaming the weights and the
 * input, which no kernel here removes (docs/PERFORMANCE.md, "Eighth pass").
 * Not built by CMake (an x86-64 AVX-512 GCC probe):
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L bench/lc_tile_probe.c -o /tmp/lc_tile_probe \
 *       $(pkg-config --cflags --libs openblas) && /tmp/lc_tile_probe
 * (one OpenBLAS thread: the probe sets it, as synsweep and bench_lc do)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float v16 __attribute__((vector_size(64)));
#define V16 static inline __attribute__((always_inline, target("arch=x86-64-v4")))
V16 v16 ld16(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* z (O, B) <- w (O, R) times the rows at xp + off[r]; 16 x 16 tiles, 16 images at a time */
__attribute__((target("arch=x86-64-v4"), noinline)) static void tile16(float *restrict z, const float *restrict xp,
                                                                         const size_t *off, const float *restrict w,
                                                                         int B, int R, int O) {
    for (int n = 0; n + 16 <= B; n += 16)
        for (int o0 = 0; o0 < O; o0 += 16) {
            const float *wo = w + (size_t)o0 * R;
            v16 acc[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) acc[i] = (v16){0};
            for (int r = 0; r < R; r++) {
                v16 xv = ld16(xp + off[r] + n);
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++) acc[i] += wo[(size_t)i * R + r] * xv;
            }
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) memcpy(z + (size_t)(o0 + i) * B + n, &acc[i], sizeof acc[i]);
        }
}

/* the same with 4 x 64 tiles, wt (R, O) the weights transposed */
__attribute__((target("arch=x86-64-v4"), noinline)) static void tile4x64(float *restrict z, const float *restrict xp,
                                                                           const size_t *off, const float *restrict wt,
                                                                           int B, int R, int O) {
    for (int n = 0; n + 64 <= B; n += 64)
        for (int o0 = 0; o0 < O; o0 += 4) {
            v16 acc[4][4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) acc[i][j] = (v16){0};
            for (int r = 0; r < R; r++) {
                const float *xr = xp + off[r] + n, *wr = wt + (size_t)r * O + o0;
                v16 x0 = ld16(xr), x1 = ld16(xr + 16), x2 = ld16(xr + 32), x3 = ld16(xr + 48);
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    float wv = wr[i];
                    acc[i][0] += wv * x0, acc[i][1] += wv * x1, acc[i][2] += wv * x2, acc[i][3] += wv * x3;
                }
            }
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) memcpy(z + (size_t)(o0 + i) * B + n + 16 * j, &acc[i][j], sizeof acc[i][j]);
        }
}

int main(void) {
    enum { C = 16, H = 32, O = 32, B = 128, K = 3, R = C * K * K, OW = H / 2, P = OW * OW };
    size_t nx = (size_t)H * H * C * B, nw = (size_t)P * O * R, row = (size_t)H * C * B, off[R];
    float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float)), *wt = malloc(nw * sizeof(float)),
          *z = malloc((size_t)P * O * B * sizeof(float));
    if (!x || !w || !wt || !z) return 1;
    openblas_set_num_threads(1);
    srand(1);
    for (size_t i = 0; i < nx; i++) x[i] = (float)rand() / (float)RAND_MAX;
    for (size_t i = 0; i < nw; i++) w[i] = wt[i] = (float)rand() / (float)RAND_MAX;
    for (int ky = 0, r = 0; ky < K; ky++) /* patch rows (ky, kx, c), the kernels' order */
        for (int j = 0; j < K * C; j++) off[r++] = ky * row + (size_t)j * B;
    int n = 0; /* positions whose patch lies inside the image */
    for (int k = 0; k < 5; k++) {
        double t[5];
        for (int way = 0; way < 5; way++) {
            double t0 = now();
            n = 0;
            for (int p = 0; p < P; p++) {
                int y0 = p / OW * 2, x0 = p % OW * 2; /* the padded map's corner at (-1, -1) */
                if (y0 + K > H || x0 + K > H) continue;
                const float *xp = x + ((size_t)y0 * H + x0) * C * B, *wp = w + (size_t)p * O * R;
                float *zp = z + (size_t)p * O * B;
                n++;
                if (way == 0)
                    for (int ky = 0; ky < K; ky++)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, B, K * C, 1.0f, wp + ky * K * C, R,
                                    xp + ky * row, B, ky ? 1.0f : 0.0f, zp, B);
                else if (way == 1) tile16(zp, xp, off, wp, B, R, O);
                else if (way == 2) tile4x64(zp, xp, off, wt + (size_t)p * O * R, B, R, O);
                else if (way == 3) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, B, R, 1.0f, w, R, x, B, 0.0f, z, B);
                else tile16(z, x + (size_t)(H + 1) * C * B, off, w, B, R, O);
            }
            t[way] = now() - t0;
        }
        printf("{\"positions\": %d, \"openblas_ms\": %.2f, \"tile16_ms\": %.2f, \"tile4x64_ms\": %.2f, \"floor_ms\": %.2f, "
               "\"tile16_cached_ms\": %.2f}\n", n, t[0] * 1e3, t[1] * 1e3, t[2] * 1e3, t[3] * 1e3, t[4] * 1e3);
    }
    free(x), free(w), free(wt), free(z);
    return 0;
}
