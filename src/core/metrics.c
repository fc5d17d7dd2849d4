#include "metrics.h"

#include <math.h>
#include <stdlib.h>

/* LAPACK (OpenBLAS's), Fortran calling convention */
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda,
                    double *s, double *u, const int *ldu, double *vt, const int *ldvt,
                    double *work, const int *lwork, int *iwork, int *info);

double angle_deg(const float *a, const float *b, size_t n) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i],
                                  bb += (double)b[i] * b[i];
    if (aa == 0.0 || bb == 0.0) return NAN;
    double c = ab / sqrt(aa * bb);
    if (c > 1.0) c = 1.0;
    if (c < -1.0) c = -1.0;
    return acos(c) * (180.0 / 3.14159265358979323846);
}

void row_angles(const float *W, const float *F, int O, int I, double *mean, double *std) {
    double s = 0.0, sq = 0.0;
    int k = 0;
    for (int o = 0; o < O; o++) {
        double a = angle_deg(W + (size_t)o * I, F + (size_t)o * I, (size_t)I);
        if (isnan(a)) continue;
        s += a, sq += a * a, k++;
    }
    *mean = k ? s / k : NAN;
    *std = k ? sqrt(fmax(sq / k - (s / k) * (s / k), 0.0)) : NAN;
}

double effective_rank(const float *W, int O, int I) {
    /* column-major view of row-major W (O,I) is W^T (I,O): same singular values */
    int m = I, n = O, lda = I, mn = O < I ? O : I, one = 1, info = 0, lwork = -1;
    double *a = malloc((size_t)m * n * sizeof(double));
    double *s = malloc((size_t)mn * sizeof(double));
    int *iwork = malloc((size_t)8 * mn * sizeof(int));
    double wq, du = 0, dvt = 0, er = NAN, *work = NULL;
    if (!a || !s || !iwork) goto done;
    for (size_t i = 0; i < (size_t)m * n; i++) a[i] = W[i];
    dgesdd_("N", &m, &n, a, &lda, s, &du, &one, &dvt, &one, &wq, &lwork, iwork, &info);
    if (info != 0) goto done;
    lwork = (int)wq;
    if (!(work = malloc((size_t)lwork * sizeof(double)))) goto done;
    dgesdd_("N", &m, &n, a, &lda, s, &du, &one, &dvt, &one, work, &lwork, iwork, &info);
    if (info != 0) goto done;
    double sum = 0.0, h = 0.0;
    for (int i = 0; i < mn; i++) sum += s[i];
    if (sum <= 0.0) goto done;
    for (int i = 0; i < mn; i++) {
        double p = s[i] / sum;
        if (p > 0.0) h -= p * log(p);
    }
    er = exp(h);
done:
    free(a), free(s), free(iwork), free(work);
    return er;
}
