/*
 * gemm_rate: seconds per call of sgemm (src/core/blas.h, the route every product of a job
 * takes) on given shapes, the best of several timed loops, one thread. bench/pairs.py
 * runs it under the kernel `synsweep --version` names and turns the counts of each
 * job's products into the job's GEMM floor.
 *
 *   gemm_rate TA,TB,M,N,K[,BETA] ...   one line per shape: TA TB M N K seconds GFLOP/s
 *
 * BETA (default 1) is the product's beta: OpenBLAS takes its small-matrix kernels for some
 * shapes only with beta 0, so a shape's rate can depend on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "blas.h"
#include "rng.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    blas_single_thread();
    for (int a = 1; a < argc; a++) {
        int ta, tb, M, N, K;
        float beta = 1.0f;
        int got = sscanf(argv[a], "%d,%d,%d,%d,%d,%f", &ta, &tb, &M, &N, &K, &beta);
        if (got < 5 || M < 1 || N < 1 || K < 1) {
            fprintf(stderr, "usage: gemm_rate TA,TB,M,N,K[,BETA] ...\n");
            return 2;
        }
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
        float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = calloc(nc, sizeof *C);
        if (!A || !B || !C) return 1;
        Rng r;
        rng_seed(&r, 1, 0);
        for (size_t i = 0; i < na; i++) A[i] = (float)rng_uniform(&r) - 0.5f;
        for (size_t i = 0; i < nb; i++) B[i] = (float)rng_uniform(&r) - 0.5f;
        double best = 1e30;
        for (int rep = 0; rep < 5; rep++) {
            long calls = 0;
            double t0 = now_s(), t;
            do {
                sgemm(ta, tb, M, N, K, 1.0f, A, B, beta, C);
                calls++;
            } while ((t = now_s() - t0) < 0.04);
            if (t / calls < best) best = t / calls;
        }
        printf("%d %d %d %d %d %.6e %.2f\n", ta, tb, M, N, K, best, 2.0 * M * N * K / best * 1e-9);
        free(A), free(B), free(C);
    }
    return 0;
}
