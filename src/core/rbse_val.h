/*
 * rbse_val: contrastive divergence's validation split and early stopping for the rbse and
 * rbm kinds (`val_size`, `early_stop_patience`; model_rbse.c runs the epochs).
 *
 * The validation records are carved from the records drawn for CD: val_size of them, chosen
 * by the seed (stream RBSE_VAL_STREAM), never trained on. After every CD epoch the caller
 * measures the validation reconstruction error; the best epoch's CD tensors are kept, and CD
 * stops after early_stop_patience epochs without a strictly lower error.
 */
#ifndef SYNSWEEP_RBSE_VAL_H
#define SYNSWEEP_RBSE_VAL_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"

enum { RBSE_VAL_STREAM = 26 }; /* of the job seed (model_rbse.c uses 20..25) */

typedef struct CdVal {
    int n;              /* validation images; 0: no validation */
    float *x;           /* (n, V) binarised once */
    uint64_t seed;      /* of the reconstruction chain, the same every epoch */
    float *best;        /* the CD tensors at the best epoch */
    size_t n_best;
    int patience, best_epoch, epochs_run; /* epochs counted from 1; best_epoch 0: none yet */
    double best_err;
} CdVal;

/**
 * Carves the validation records out of the n drawn record indices idx (sorted): afterwards
 * idx[0, nv) are the validation records and idx[nv, n) the CD records, each sorted.
 * @return nv = val_size, or -1 with err when fewer than one CD record would remain.
 */
int cd_val_carve(uint64_t seed, int val_size, int *idx, int n, char *err, size_t errlen);
/**
 * Binarises the nv validation images train->x[idx[k]] / 255 (threshold thr, or Bernoulli from
 * the validation stream when bern) and allocates the copy of n_params CD floats.
 * @return 0, or -1 out of memory (v freed).
 */
int cd_val_setup(CdVal *v, uint64_t seed, int patience, const RawSplit *train, const int *idx, int nv,
                 float thr, int bern, size_t n_params);
/** After epoch e (0-based) with validation error err: keeps params if best. @return 1: stop. */
int cd_val_epoch(CdVal *v, int e, double err, const float *params);
/** Puts the best epoch's CD tensors back into params (if any epoch ran). */
void cd_val_restore(const CdVal *v, float *params);
void cd_val_free(CdVal *v);

#endif
