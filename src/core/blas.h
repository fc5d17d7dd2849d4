/*
 * blas: the one route to matrix products (row-major cblas_sgemm), plus a naive
 * loop reference used only by tests.
 */
#ifndef SYNSWEEP_BLAS_H
#define SYNSWEEP_BLAS_H

/**
 * C (M,N) <- alpha * op(A) * op(B) + beta * C, row-major.
 * op(A) is (M,K): A is (M,K) if !ta else (K,M); op(B) is (K,N): B is (K,N) if !tb else (N,K).
 */
void sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, const float *B,
           float beta, float *C);
/** Same contract as sgemm, computed by plain loops in double. For tests. */
void sgemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                 const float *B, float beta, float *C);
/** Restricts OpenBLAS to one thread (a worker owns one core). */
void blas_single_thread(void);

#endif
