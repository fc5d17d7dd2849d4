/*
 * optim: Adam, AdamW and SGD (momentum, weight decay) as single loops over a flat parameter
 * buffer; state mirrors the buffer. weight_decay is L2 added to the gradient for SGD and Adam
 * (PyTorch's SGD and Adam), decoupled for AdamW (PyTorch's AdamW: p <- p (1 - lr wd), then
 * the Adam update of the gradient alone; Loshchilov & Hutter 2019).
 */
#ifndef SYNSWEEP_OPTIM_H
#define SYNSWEEP_OPTIM_H

#include <stddef.h>

typedef enum { OPT_ADAM = 0, OPT_SGD = 1, OPT_ADAMW = 2 } OptKind;

typedef struct Optim {
    OptKind kind;
    float lr, beta1, beta2, eps, momentum, weight_decay;
    long t;     /* steps taken (Adam bias correction) */
    float c1, c2; /* this step's Adam bias corrections 1/(1 - beta^t) (optim_begin) */
    size_t n;
    float *m, *v; /* Adam and AdamW moments; SGD uses m as its velocity */
} Optim;

/** Allocates zeroed state for n parameters. @return 0, or -1 out of memory (o freed). */
int optim_create(Optim *o, OptKind kind, size_t n, float lr, float beta1, float beta2, float eps,
                 float momentum, float weight_decay);
void optim_free(Optim *o);
/** Forgets moments and step count (e.g. after noise pretraining). */
void optim_reset(Optim *o);
/** One update of params (n) from grads (n). Grads are read, not modified. */
void optim_step(Optim *o, float *params, const float *grads);
/**
 * A step in parts (bit-identical to optim_step): optim_begin, then optim_update over every
 * parameter exactly once, in any order and pieces, e.g. each layer right after its
 * gradient is complete, while it is in cache.
 */
void optim_begin(Optim *o);
/** This step's update of params [off, off + n): p and g point at element off. */
void optim_update(Optim *o, float *p, const float *g, size_t off, size_t n);

#endif
