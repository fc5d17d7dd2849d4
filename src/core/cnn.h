/*
 * cnn: the convolutional front-end of Karimi et al. (docs/SCIENCE.md section 1):
 *   conv (N kernels, K x K, stride 1, pad) -> 2x2 max-pool, stride 2 -> ReLU
 *   -> [adaptive average pool to n x n] -> flatten = features for the FC head (an Mlp).
 * The kernels are either drawn once and frozen (then each image's features never change
 * and can be computed once) or trained through the FC head's input gradient.
 */
#ifndef SYNSWEEP_CNN_H
#define SYNSWEEP_CNN_H

#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "tensor.h"

typedef struct Cnn {
    int C, H, W;        /* input planes */
    int N, K, pad;      /* kernels, kernel side, zero padding */
    int OH, OW, PH, PW; /* conv output; after the max-pool */
    int adapt;          /* 0: flatten the pooled maps; n > 0: adaptive pool to n x n ... */
    int adapt_max;      /* ... taking the maximum of each cell (else the average) */
    int bias;           /* the conv has biases (else bc is a zero vector, not a parameter) */
    int feat_dim;
    int trainable;
    int no_grad;        /* trainable: cnn_forward keeps nothing for cnn_backward (evaluation) */
    int owns;           /* params and grads are this Cnn's (cnn_create) */
    size_t n_params;    /* N*C*K*K (+ N with bias) */
    float *params, *grads;
    float *Wc, *bc;     /* (N, C*K*K), (N) */
    float *dWc, *dbc;
    int max_batch;
    int chunk;          /* images per conv GEMM in cnn_forward (may be lowered, not raised) */
    int *arg;           /* trainable: (max_batch, N*PH*PW) max-pool winners */
    int *aarg;          /* trainable with adapt_max: (max_batch, feat_dim) adaptive-max winners */
    float *zero_b, *dzero_b; /* without bias: (N) zeros, and a sink for their gradient */
    float *pooled;      /* trainable: (max_batch, N*PH*PW) after ReLU */
    float *col, *convbuf;  /* (C*K*K, chunk*OH*OW), (N, chunk*OH*OW): a chunk's patches, conv outputs */
    float *dpool, *dconv, *pooltmp; /* per-image scratch */
} Cnn;

/**
 * Builds the front-end for (C, H, W) images. @return 0, or -1 for a shape that leaves no
 * output (e.g. kernel larger than the padded image) or out of memory (c left freed).
 */
int cnn_create(Cnn *c, int C, int H, int W, int N, int K, int pad, int adapt, int trainable,
               int max_batch);
/**
 * As cnn_create, with biases or none, adaptive max or average pooling, and params
 * (n_params floats: kernels, then biases) and grads (NULL when frozen) in the caller's
 * buffers as cnn_declare lists them (not freed by cnn_free); params NULL: its own buffers.
 */
int cnn_create_in(Cnn *c, int C, int H, int W, int N, int K, int pad, int adapt, int adapt_max, int bias,
                  int trainable, int max_batch, float *params, float *grads);
/** Appends conv_W (N, C, K, K) [and conv_b (N)] to tl: trainable, or fixed when frozen. */
int cnn_declare(TensorList *tl, int C, int N, int K, int bias, int trainable);
void cnn_free(Cnn *c);
/** Images per conv GEMM from now on (features do not depend on it). @return 0 or -1 (out of memory; unchanged). */
int cnn_set_chunk(Cnn *c, int chunk);
/** Draws the kernels from d (its own stream of seed), biases 0. @return 0 or -1 (see dist_fill). */
int cnn_init(Cnn *c, const DistParams *d, uint64_t seed);
/**
 * feat (B, feat_dim) <- features of x (B, C*H*W); keeps what backward needs if trainable and
 * not no_grad. The features are the same floats either way.
 */
void cnn_forward(Cnn *c, const float *x, int B, float *feat);
/** After cnn_forward on the same x: accumulates dWc, dbc from dfeat (B, feat_dim). */
void cnn_backward(Cnn *c, const float *x, const float *dfeat, int B);
void cnn_zero_grad(Cnn *c);

#endif
