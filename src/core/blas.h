/*
 * blas: the one route to matrix products (row-major cblas_sgemm), a naive loop
 * reference, and which OpenBLAS kernel runs (with a check that it computes right).
 */
#ifndef SYNSWEEP_BLAS_H
#define SYNSWEEP_BLAS_H

#include <stddef.h>

/**
 * C (M,N) <- alpha * op(A) * op(B) + beta * C, row-major.
 * op(A) is (M,K): A is (M,K) if !ta else (K,M); op(B) is (K,N): B is (K,N) if !tb else (N,K).
 */
void sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, const float *B,
           float beta, float *C);
/** As sgemm, row i of A at A + i * lda (likewise B, C): submatrices, and rows that are
 * windows of a longer buffer (lda >= A's columns, ...). */
void sgemm_ld(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc);
/** Same contract as sgemm, computed by plain loops in double. For tests. */
void sgemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                 const float *B, float beta, float *C);
/**
 * One OpenBLAS thread (a worker owns one core), unless the user set OPENBLAS_NUM_THREADS,
 * which OpenBLAS then follows itself.
 */
void blas_single_thread(void);

/* ---- which OpenBLAS kernel runs, and whether it computes right ----
 * OpenBLAS picks its kernels (its "core type") once, when the library loads, from
 * OPENBLAS_CORETYPE or else its own CPU detection; a process must re-execute itself to
 * change them. main.c does that (before MPI and before any product); these functions are
 * the policy-free parts. */

/** The OpenBLAS core type in use, e.g. "SkylakeX" (record it with results). */
const char *blas_kernel(void);
/** Threads OpenBLAS uses per call. */
int blas_threads(void);
/** The BLAS library and version, e.g. "OpenBLAS 0.3.21". */
const char *blas_library(void);
/**
 * Rank of a core type's single-precision kernels: 5 AVX-512 with BF16 (Cooperlake,
 * SapphireRapids), 4 AVX-512 (SkylakeX), 3 AVX2+FMA (Haswell, Zen), 2 AVX (Sandybridge),
 * 1 Nehalem, 0 the SSE3 generic ones (Prescott, Core2, ...); -1 for names it does not know
 * (e.g. AMD's Bulldozer family, or other architectures): trust the library's choice then.
 */
int blas_kernel_level(const char *name);
/**
 * The best core type this CPU (and its OS) supports among the ones blas_kernel_level
 * ranks, strictly below level `below` (pass 99 for the best overall): "SkylakeX" needs
 * avx512f, dq, cd, bw and vl; "Haswell" avx2 and fma; "Sandybridge" avx; "Prescott" any
 * x86-64. NULL if none (or not x86-64).
 */
const char *blas_cpu_best(int below);
/**
 * Checks sgemm of the kernel in use against the naive double loop on the products the
 * jobs compute (MLP and conv layer shapes, all four transpose pairs, odd sizes, beta 0
 * and 1), and somatcopy (lc.c's transposes) bit for bit, nothing written outside the
 * destination's rows; a few tens of milliseconds. force_fail 1 (2) makes it report a
 * failure at the first product (transpose) (tests).
 * @return 0, or -1 with err naming the first wrong product or transpose.
 */
int blas_check(int force_fail, char *err, size_t errlen);

#endif
