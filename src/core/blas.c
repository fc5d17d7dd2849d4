#include "blas.h"

#include <cblas.h>

void sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, const float *B,
           float beta, float *C) {
    int lda = ta ? M : K;
    int ldb = tb ? K : N;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, N);
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

void blas_single_thread(void) { openblas_set_num_threads(1); }
