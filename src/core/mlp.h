/*
 * mlp: dense layers, ReLU, softmax + cross-entropy, and a multi-layer perceptron of any
 * depth trained by backprop (bp), feedback alignment (fa) or direct feedback alignment (dfa).
 *
 * All parameters live in one float buffer (W0 b0 W1 b1 ...); gradients mirror it.
 * Weights are (O, I) row-major. Backward passes accumulate (+=) true dL/dtheta; the
 * caller zeroes gradients with mlp_zero_grad. Backprop is FA with the feedback set to W.
 * Leaves out: convolution, dropout, other activations.
 */
#ifndef SYNSWEEP_MLP_H
#define SYNSWEEP_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "optim.h"
#include "sparse.h"
#include "rng.h"
#include "tensor.h"

#define MLP_MAX_LAYERS 8 /* weight layers */

typedef enum { RULE_BP = 0, RULE_FA = 1, RULE_DFA = 2 } FeedbackRule;

/* ---- layer kernels (B = batch, I = inputs, O = outputs) ---- */

/** out (B,O) <- inp (B,I) * W^T + b;  W (O,I), b (O). */
void dense_forward(float *out, const float *inp, const float *W, const float *b, int B, int I,
                   int O);
/**
 * dW (O,I) += dout^T * inp (dW NULL: skipped);  db (O) += colsum(dout);  if dinp: dinp (B,I) <- dout * F,
 * where F (O,I) is the feedback matrix (F = W for backprop).
 */
void dense_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                    const float *F, int B, int I, int O);
/** x <- max(x, 0) in place, n values. */
void relu_forward(float *x, size_t n);
/** d <- d * (out > 0), with out the ReLU output. */
void relu_backward(float *d, const float *out, size_t n);
/**
 * probs (B,C) <- softmax(logits); returns the mean cross-entropy over the batch (double).
 * If correct != NULL, adds the number of argmax hits to *correct.
 */
double softmax_ce_forward(float *probs, const float *logits, const uint8_t *labels, int B, int C,
                          long *correct);
/** dlogits (B,C) <- (probs - onehot(labels)) / B: gradient of the mean loss. */
void softmax_ce_backward(float *dlogits, const float *probs, const uint8_t *labels, int B, int C);

/* ---- the model ---- */

typedef struct Mlp {
    int n_layers;                    /* weight layers L */
    int sizes[MLP_MAX_LAYERS + 1];   /* sizes[0] = inputs, sizes[L] = classes */
    FeedbackRule rule;
    size_t n_params;
    float *params, *grads;           /* (n_params) each */
    float *W[MLP_MAX_LAYERS];        /* (sizes[l+1], sizes[l]) */
    float *b[MLP_MAX_LAYERS];        /* (sizes[l+1]) */
    float *dW[MLP_MAX_LAYERS], *db[MLP_MAX_LAYERS];
    size_t n_fb;                     /* 0 for bp */
    float *fb;                       /* feedback matrices, one buffer */
    float *F[MLP_MAX_LAYERS];        /* fa: (sizes[l+1], sizes[l]) for l >= 1 (and l = 0 with
                                        need_dinput); dfa: (C, sizes[l+1]) for l < L-1 */
    float *Fin;                      /* dfa with need_dinput: (C, sizes[0]) */
    int need_dinput;
    float *dinp;                     /* need_dinput: (B, sizes[0]) gradient w.r.t. the input */
    int max_batch;
    int owns;                        /* params, grads and fb are this Mlp's (mlp_create) */
    float *act[MLP_MAX_LAYERS + 1];  /* act[0] = input (borrowed); act[l+1] (B, sizes[l+1]) */
    float *probs;                    /* (B, C) */
    float *d0, *d1;                  /* (B, max size) scratch for deltas */
    /* Sparse input (sparse.h): when in.sp is set, mlp_forward and mlp_backward take the
     * batch's rows from it (the x they are given is not read) and layer 0 multiplies by
     * the nonzeros; the caller sets in before each call and clears it after. in.rows NULL
     * marks an evaluation pass, in row order from row 0, during which W_0 does not change:
     * W_0^T is made at its first batch and at every training batch. */
    SparseBatch in;
    float *wt, *bpad;                /* sparse_transpose of W_0 and b_0, or NULL until needed */
    int *csc_start, *csc_row;        /* sparse_grad_w's scratch */
    float *csc_val, *dwt, *dpad;
    Optim *opt;                      /* if set, mlp_backward steps each layer with it (after optim_begin) */
    size_t opt_off;                  /* params[0]'s index in opt's parameter buffer */
} Mlp;

/**
 * Builds a model with L = n_sizes - 1 weight layers and activations for up to max_batch rows.
 * With need_dinput, mlp_backward also leaves dL/dinput in m->dinp (through the rule's
 * feedback: W_0, F_0, or Fin), for a trainable layer below. Parameters and feedback are left
 * zero; fill them with mlp_init. @return 0, or -1 on bad shape or out of memory (m freed).
 */
int mlp_create(Mlp *m, const int *sizes, int n_sizes, FeedbackRule rule, int max_batch,
               int need_dinput);
/**
 * As mlp_create, with params and grads (n_params floats each) and fb (n_fb) in the caller's
 * buffers, laid out as mlp_declare lists them; they are not freed by mlp_free.
 */
int mlp_create_in(Mlp *m, const int *sizes, int n_sizes, FeedbackRule rule, int max_batch,
                  int need_dinput, float *params, float *grads, float *fb);
/**
 * Appends the tensors of that model to tl in the layout mlp_create_in expects: W<l> (O, I)
 * and b<l> (O) trainable; the feedback B<l> (fa: (O, I); dfa: (classes, O_l)) and Bin
 * (dfa: (classes, inputs)) fixed. @return 0, or -1 if tl is full.
 */
int mlp_declare(TensorList *tl, const int *sizes, int n_sizes, FeedbackRule rule, int need_dinput);
/** Frees everything mlp_create allocated; safe on a zeroed or already freed Mlp. */
void mlp_free(Mlp *m);
/**
 * Draws W from init and the feedback matrices from fb, with their own streams of `seed`;
 * biases zero. @return 0, or -1 if a distribution cannot fill a layer.
 */
int mlp_init(Mlp *m, const DistParams *init, const DistParams *fb, uint64_t seed);
/** Forward pass of B <= max_batch rows of x (B, sizes[0]); fills act[] and probs. Returns mean CE. */
double mlp_forward(Mlp *m, const float *x, const uint8_t *labels, int B, long *correct);
/**
 * Backward pass after mlp_forward on the same batch: accumulates into grads using the rule.
 * With m->opt set, also applies the optimiser's current step (optim_update) to each
 * layer's W and b as soon as their gradients are complete, while they are in cache.
 */
void mlp_backward(Mlp *m, const uint8_t *labels, int B);
void mlp_zero_grad(Mlp *m);
/** The sparse path's buffers, for batches of at most max_batch_nnz nonzeros (max_batch
 * times the most nonzeros of a row). @return 0, or -1 out of memory. */
int mlp_sparse_prepare(Mlp *m, long max_batch_nnz);

#endif
