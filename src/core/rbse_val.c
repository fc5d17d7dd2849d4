/* rbse_val: CD's validation split and early stopping (rbse_val.h). */
#include "rbse_val.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbse.h"
#include "rng.h"

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int cd_val_carve(uint64_t seed, int val_size, int *idx, int n, char *err, size_t errlen) {
    if (val_size <= 0) return 0;
    if (val_size >= n) {
        snprintf(err, errlen, "val_size = %d leaves no contrastive-divergence images of the %d drawn", val_size, n);
        return -1;
    }
    Rng r;
    rng_seed(&r, seed, RBSE_VAL_STREAM);
    for (int j = 0; j < val_size; j++) { /* partial Fisher-Yates: the first val_size of a seeded shuffle */
        int t = j + (int)rng_below(&r, (uint32_t)(n - j)), s = idx[j];
        idx[j] = idx[t], idx[t] = s;
    }
    qsort(idx, (size_t)val_size, sizeof(int), cmp_int);
    qsort(idx + val_size, (size_t)(n - val_size), sizeof(int), cmp_int);
    return val_size;
}

int cd_val_setup(CdVal *v, uint64_t seed, int patience, const RawSplit *train, const int *idx, int nv,
                 float thr, int bern, size_t n_params) {
    memset(v, 0, sizeof *v);
    if (nv <= 0) return 0;
    size_t V = (size_t)train->c * train->h * train->w;
    v->x = malloc((size_t)nv * V * sizeof(float));
    v->best = malloc(n_params * sizeof(float));
    if (!v->x || !v->best) {
        cd_val_free(v);
        return -1;
    }
    v->n = nv, v->n_best = n_params, v->patience = patience, v->best_err = 0;
    Rng r;
    rng_seed(&r, seed, RBSE_VAL_STREAM + 1);
    v->seed = rng_u64(&r);
    for (int k = 0; k < nv; k++) {
        float *row = v->x + (size_t)k * V;
        for (size_t i = 0; i < V; i++) row[i] = train->x[(size_t)idx[k] * V + i] / 255.0f;
        rbse_binarize(row, (long)V, thr, bern ? &r : NULL, row);
    }
    return 0;
}

int cd_val_epoch(CdVal *v, int e, double err, const float *params) {
    if (!v->n) return 0;
    v->epochs_run = e + 1;
    if (v->best_epoch == 0 || err < v->best_err) {
        v->best_err = err, v->best_epoch = e + 1;
        memcpy(v->best, params, v->n_best * sizeof(float));
        return 0;
    }
    return e + 1 - v->best_epoch >= v->patience;
}

void cd_val_restore(const CdVal *v, float *params) {
    if (v->n && v->best_epoch > 0) memcpy(params, v->best, v->n_best * sizeof(float));
}

void cd_val_free(CdVal *v) {
    if (!v) return;
    free(v->x), free(v->best);
    v->x = v->best = NULL;
    v->n = 0;
}
