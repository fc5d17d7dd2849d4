/*
 * tensor: the named tensors of a model. A model keeps every trainable tensor in one float
 * buffer (gradients and optimiser state mirror it) and every fixed one (frozen conv
 * kernels, feedback matrices) in a second; a TensorList says where each tensor lives, its
 * name and its shape. Snapshots and the results file are written from the list alone, so
 * nothing outside the model kind re-derives a layout (docs/ARCHITECTURE.md).
 * Plain data: a TensorList crosses MPI as bytes inside a JobResult.
 */
#ifndef SYNSWEEP_TENSOR_H
#define SYNSWEEP_TENSOR_H

#include <stdint.h>

#define TENSOR_MAX 48      /* tensors per model */
#define TENSOR_MAX_DIMS 4

typedef struct Tensor {
    char name[16];         /* "W0", "conv_W", "B1", ... (an HDF5 dataset name) */
    int32_t ndim;
    int32_t shape[TENSOR_MAX_DIMS];
    int32_t fixed;         /* 0: trainable, in the params buffer; 1: fixed, in the fixed buffer */
    int32_t learned;       /* its values are learned (by the optimiser, or by a model's own phase,
                              e.g. an RBM's contrastive divergence); 0: drawn once and kept */
    int64_t offset;        /* floats from the start of its buffer */
} Tensor;

typedef struct TensorList {
    int32_t n;
    int64_t n_params, n_fixed; /* floats in each buffer: the sums of the tensors' sizes */
    Tensor t[TENSOR_MAX];
} TensorList;

/** Number of floats of t (the product of its shape). */
int64_t tensor_numel(const Tensor *t);
/**
 * Appends tensor name of shape (ndim dims) at the end of its buffer (trainable or fixed).
 * @return its offset in floats, or -1 if the list is full or the shape is bad.
 */
int64_t tensors_add(TensorList *tl, const char *name, int ndim, const int *shape, int fixed);
/** Marks the last tensor added as learned by a phase of its own although it is fixed for the
 * optimiser (it lives in the fixed buffer). */
void tensors_mark_learned(TensorList *tl);
/** The tensor called name, or NULL. */
const Tensor *tensors_find(const TensorList *tl, const char *name);
/**
 * Checks tl as read from untrusted bytes: names terminated and unique, shapes positive,
 * each tensor inside its buffer, no two overlapping. @return 0 or -1.
 */
int tensors_check(const TensorList *tl);

#endif
