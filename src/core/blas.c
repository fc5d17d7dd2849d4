#include "blas.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rng.h"

void sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, const float *B,
           float beta, float *C) {
    sgemm_ld(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

void sgemm_ld(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                 const float *B, float beta, float *C) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[k * M + i] : A[i * K + k];
                float b = tb ? B[j * K + k] : B[k * N + j];
                acc += (double)a * b;
            }
            C[i * N + j] = (float)(alpha * acc + (beta == 0.0f ? 0.0 : beta * C[i * N + j]));
        }
}


void blas_single_thread(void) {
    const char *v = getenv("OPENBLAS_NUM_THREADS");
    if (!v || !*v) openblas_set_num_threads(1);
}

const char *blas_kernel(void) {
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

int blas_threads(void) { return openblas_get_num_threads(); }

const char *blas_library(void) {
    static char lib[64];
    const char *c = openblas_get_config(); /* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." */
    const char *sp = c ? strchr(c, ' ') : NULL;
    size_t n = sp ? strcspn(sp + 1, " ") + (size_t)(sp + 1 - c) : (c ? strlen(c) : 0);
    snprintf(lib, sizeof lib, "%.*s", (int)n, c ? c : "");
    return lib[0] ? lib : "OpenBLAS";
}

static const struct {
    const char *name;
    int level;
} KERNEL_LEVELS[] = {
    {"SapphireRapids", 5}, {"Cooperlake", 5}, {"SkylakeX", 4}, {"Haswell", 3}, {"Zen", 3},
    {"Sandybridge", 2},    {"Nehalem", 1},    {"Prescott", 0}, {"Core2", 0},   {"Penryn", 0},
    {"Dunnington", 0},     {"Atom", 0},       {"Katmai", 0},   {"Coppermine", 0},
    {"Northwood", 0},
};

int blas_kernel_level(const char *name) {
    for (size_t i = 0; name && i < sizeof KERNEL_LEVELS / sizeof KERNEL_LEVELS[0]; i++)
        if (!strcasecmp(name, KERNEL_LEVELS[i].name)) return KERNEL_LEVELS[i].level;
    return -1;
}

const char *blas_cpu_best(int below) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* libgcc's checks include the OS saving the AVX / AVX-512 registers (XGETBV) */
    __builtin_cpu_init();
    if (below > 4 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (below > 3 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    if (below > 2 && __builtin_cpu_supports("avx")) return "Sandybridge";
    if (below > 0) return "Prescott";
#else
    (void)below;
#endif
    return NULL;
}

/* The products the jobs compute: MLP [784, 100, 10] layers at batch 64 (forward, dW, dX),
 * the conv layer of the CNN jobs (64 kernels of 5x5 over 24x24 positions: forward, dW,
 * dcol), then odd sizes that hit every edge path of a blocked kernel, each transpose pair,
 * beta 0 (overwrite) and 1 (the backward passes accumulate). */
static const int CHECK_SHAPES[][6] = {
    /* ta, tb, M, N, K, beta */
    {0, 1, 64, 100, 784, 1}, {1, 0, 100, 784, 64, 1}, {0, 0, 64, 10, 100, 0},
    {0, 0, 64, 576, 25, 1},  {0, 1, 64, 25, 576, 1},  {1, 0, 25, 576, 64, 0},
    {1, 1, 37, 53, 61, 0},   {0, 0, 17, 33, 129, 1},  {0, 1, 1, 1, 1, 0},
    {1, 0, 3, 5, 7, 1},      {1, 1, 65, 3, 17, 1},    {0, 0, 31, 47, 1, 0},
};

/* rows, cols, source and destination leading dimensions (lc.c's transposes: planes of
 * positions by channels and batch, rows of a larger buffer, odd sizes) */
static const int TRANSPOSE_SHAPES[][4] = {
    {64, 100, 100, 64}, {37, 53, 61, 41}, {16, 1024, 1024, 16}, {1024, 16, 16, 1040}, {300, 250, 256, 300}, {1, 1, 1, 1},
};

int blas_check(int force_fail, char *err, size_t errlen) {
    const size_t cap = 100 * 784; /* the largest operand above */
    float *A = malloc(cap * sizeof *A), *B = malloc(cap * sizeof *B);
    float *C = malloc(cap * sizeof *C), *C0 = malloc(cap * sizeof *C0);
    int rc = -1;
    if (!A || !B || !C || !C0) {
        snprintf(err, errlen, "BLAS check: out of memory");
        goto fail;
    }
    Rng r;
    rng_seed(&r, 0x5eed, 0);
    for (size_t i = 0; i < cap; i++) {
        A[i] = (float)(2.0 * rng_uniform(&r) - 1.0);
        B[i] = (float)(2.0 * rng_uniform(&r) - 1.0);
        C0[i] = (float)(2.0 * rng_uniform(&r) - 1.0);
    }
    for (size_t s = 0; s < sizeof CHECK_SHAPES / sizeof CHECK_SHAPES[0]; s++) {
        const int *sh = CHECK_SHAPES[s];
        int ta = sh[0], tb = sh[1], M = sh[2], N = sh[3], K = sh[4];
        float beta = (float)sh[5];
        memcpy(C, C0, (size_t)M * N * sizeof *C);
        sgemm(ta, tb, M, N, K, 1.0f, A, B, beta, C);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = beta * C0[i * N + j], mag = fabs(acc);
                for (int k = 0; k < K; k++) {
                    double p = (double)(ta ? A[k * M + i] : A[i * K + k]) *
                               (double)(tb ? B[j * K + k] : B[k * N + j]);
                    acc += p, mag += fabs(p);
                }
                /* Any float summation order (blocked, FMA) of K+1 terms is within
                 * gamma_(K+1) * sum|terms| of the exact value, gamma_n = n u / (1 - n u),
                 * u = 2^-24; 2 (K + 2) u covers that and the final rounding. A kernel that
                 * drops or misreads one term is off by about sum|terms| / K, above this
                 * bound for every K < 2900. NaN fails the test too. */
                double tol = 2.0 * (K + 2) * 0x1p-24 * mag + 1e-30;
                if (force_fail == 1 || !(fabs((double)C[i * N + j] - acc) <= tol)) {
                    snprintf(err, errlen,
                             "BLAS check: OpenBLAS kernel %s computes sgemm(%s%s, M %d, N %d, K %d) "
                             "wrong: C[%d][%d] = %.9g, naive loop %.9g (tolerance %.3g)%s",
                             blas_kernel(), ta ? "T" : "N", tb ? "T" : "N", M, N, K, i, j,
                             (double)C[i * N + j], acc, tol,
                             force_fail == 1 ? " [failure forced for a test]" : "");
                    goto fail;
                }
            }
    }
    /* the out-of-place transposes lc.c moves its activations with: every value bit for bit, and
     * nothing written between the destination's rows (C0's values stay there) */
    for (size_t s = 0; s < sizeof TRANSPOSE_SHAPES / sizeof TRANSPOSE_SHAPES[0]; s++) {
        const int *sh = TRANSPOSE_SHAPES[s];
        int rows = sh[0], cols = sh[1], lds = sh[2], ldd = sh[3];
        memcpy(C, C0, cap * sizeof *C);
        cblas_somatcopy(CblasRowMajor, CblasTrans, rows, cols, 1.0f, A, lds, C, ldd);
        for (int j = 0; j < cols; j++)
            for (int i = 0; i < ldd; i++) {
                float want = i < rows ? A[(size_t)i * lds + j] : C0[(size_t)j * ldd + i];
                if (force_fail == 2 || memcmp(&C[(size_t)j * ldd + i], &want, sizeof want)) {
                    snprintf(err, errlen,
                             "BLAS check: OpenBLAS kernel %s computes somatcopy(rows %d, cols %d, lda %d, ldb %d) "
                             "wrong: B[%d][%d] = %.9g, expected %.9g%s",
                             blas_kernel(), rows, cols, lds, ldd, j, i, (double)C[(size_t)j * ldd + i], (double)want,
                             force_fail == 2 ? " [failure forced for a test]" : "");
                    goto fail;
                }
            }
    }
    rc = 0;
fail:
    free(A), free(B), free(C), free(C0);
    return rc;
}
