#include "dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (OpenBLAS's): symmetric eigendecomposition */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

void dist_defaults(DistParams *p, const char *name, double scale) {
    memset(p, 0, sizeof(*p));
    strncpy(p->name, name, sizeof p->name - 1);
    p->scale = scale;
    p->mu = -0.702, p->sigma2 = 0.9355, p->sign = SIGN_POSITIVE, p->inh_frac = 0.2;
    p->cs_center = 1.0, p->cs_surround = 2.0, p->k = 0, p->trunc = 2.0;
}

/* Eigen-decomposition cov = Q diag(l) Q^T; on return cov holds Q (column-major = rows of
 * the row-major result are eigenvectors), l the eigenvalues. */
static int eig(int n, double *cov, double *l) {
    int lwork = -1, info;
    double q;
    dsyev_("V", "U", &n, cov, &n, l, &q, &lwork, &info);
    if (info) return -1;
    lwork = (int)q;
    double *work = malloc((size_t)lwork * sizeof(double));
    if (!work) return -1;
    dsyev_("V", "U", &n, cov, &n, l, work, &lwork, &info);
    free(work);
    return info ? -1 : 0;
}

int center_surround_cov(int k, double s_c, double s_s, int clipped, double *cov) {
    int n = k * k;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double dy = i / k - j / k, dx = i % k - j % k, d2 = dx * dx + dy * dy;
            cov[i * n + j] = exp(-d2 / (2 * s_c * s_c)) -
                             (s_c * s_c) / (s_s * s_s) * exp(-d2 / (2 * s_s * s_s));
        }
    if (!clipped) return 0;
    double *q = malloc((size_t)n * n * sizeof(double)), *l = malloc((size_t)n * sizeof(double));
    int rc = -1;
    if (!q || !l) goto done;
    memcpy(q, cov, (size_t)n * n * sizeof(double));
    if (eig(n, q, l)) goto done;
    /* symmetric: column-major Q == row-major Q^T; eigenvector e is q[e*n .. e*n+n) */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int e = 0; e < n; e++) s += (l[e] > 0 ? l[e] : 0) * q[e * n + i] * q[e * n + j];
            cov[i * n + j] = s;
        }
    rc = 0;
done:
    free(q), free(l);
    return rc;
}

static int fill_center_surround(const DistParams *p, float *w, int O, int I, Rng *r) {
    int k = p->k, n = k * k;
    if (k < 1 || I % n != 0) return -1;
    double *q = malloc((size_t)n * n * sizeof(double)), *l = malloc((size_t)n * sizeof(double));
    double *z = malloc((size_t)n * sizeof(double));
    int rc = -1;
    if (!q || !l || !z) goto done;
    center_surround_cov(k, p->cs_center, p->cs_surround, 0, q);
    if (eig(n, q, l)) goto done;
    /* x = Q diag(sqrt(max(l, 0))) z, z ~ N(0, I): covariance Q diag(l+) Q^T */
    for (int e = 0; e < n; e++) l[e] = sqrt(p->scale * (l[e] > 0 ? l[e] : 0));
    for (int o = 0; o < O; o++)
        for (int c = 0; c < I / n; c++) {
            for (int e = 0; e < n; e++) z[e] = l[e] * rng_normal(r);
            float *dst = w + (size_t)o * I + (size_t)c * n;
            for (int i = 0; i < n; i++) {
                double s = 0;
                for (int e = 0; e < n; e++) s += q[e * n + i] * z[e];
                dst[i] = (float)s;
            }
        }
    rc = 0;
done:
    free(q), free(l), free(z);
    return rc;
}

int dist_fill(const DistParams *p, float *w, int O, int I, Rng *r) {
    size_t n = (size_t)O * I;
    const char *name = p->name;
    double scale = p->scale;
    if (!strcmp(name, "uniform") || !strcmp(name, "pytorch")) {
        /* pytorch: nn.Linear's and nn.Conv2d's default, U(-1/sqrt(I), 1/sqrt(I)) (kaiming_uniform
         * with a = sqrt(5)) */
        double bound = scale * (!strcmp(name, "pytorch") ? 1.0 / sqrt((double)I) : 1.0);
        for (size_t i = 0; i < n; i++) w[i] = (float)(bound * (2.0 * rng_uniform(r) - 1.0));
        return 0;
    }
    if (!strcmp(name, "truncated_normal")) {
        for (size_t i = 0; i < n; i++) {
            double x;
            do x = rng_normal(r);
            while (fabs(x) > p->trunc);
            w[i] = (float)(scale * x);
        }
        return 0;
    }
    if (!strcmp(name, "lognormal")) {
        double sd = sqrt(p->sigma2);
        for (size_t i = 0; i < n; i++) w[i] = (float)(scale * exp(p->mu + sd * rng_normal(r)));
        if (p->sign == SIGN_RANDOM)
            for (size_t i = 0; i < n; i++)
                if (rng_uniform(r) < 0.5) w[i] = -w[i];
        if (p->sign == SIGN_DALE) /* Dale's law: every synapse of a presynaptic unit shares its sign */
            for (int i = 0; i < I; i++)
                if (rng_uniform(r) < p->inh_frac)
                    for (int o = 0; o < O; o++) w[(size_t)o * I + i] = -w[(size_t)o * I + i];
        return 0;
    }
    if (!strcmp(name, "center_surround")) return fill_center_surround(p, w, O, I, r);
    double std;
    if (!strcmp(name, "normal")) std = 1.0;
    else if (!strcmp(name, "kaiming")) std = sqrt(2.0 / I);
    else if (!strcmp(name, "xavier")) std = sqrt(2.0 / (I + O));
    else return -1;
    for (size_t i = 0; i < n; i++) w[i] = (float)(scale * std * rng_normal(r));
    return 0;
}
