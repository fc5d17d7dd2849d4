/*
 * sparse: a dense layer whose input rows are mostly zeros (MNIST-like pixels), multiplied by
 * their nonzeros alone. Each output is the bias plus the products of a row's nonzeros taken
 * in ascending column order; each weight gradient the products of its column's nonzeros
 * taken in ascending row order. Neither depends on which other rows share the batch, and
 * every instruction-set clone rounds the same (clones.h; products are added by fused
 * multiply-adds, rounded once). The loops read the weights transposed, WT (I, O), so that
 * one nonzero scales one contiguous row.
 */
#ifndef SYNSWEEP_SPARSE_H
#define SYNSWEEP_SPARSE_H

#include "data.h"

/** Row r of a batch is row rows[r] of sp (rows NULL: row0 + r). */
typedef struct SparseBatch {
    const SparseRows *sp;
    const int *rows;
    int row0;
} SparseBatch;

/** Floats per row of WT, dWT and bpad: O rounded up to whole 16-float vectors. */
int sparse_width(int O);
/** WT (I, sparse_width(O)) <- W (O,I)^T and bpad <- b, zero-padded. */
void sparse_transpose(float *WT, float *bpad, const float *W, const float *b, int O, int I);
/** out (B,O) <- x (B,I) * W^T + b for the batch's rows, from sparse_transpose's WT and bpad. */
void sparse_forward(float *out, const SparseBatch *x, const float *WT, const float *bpad, int B, int O);
/* Columns of the weight gradient made at a time (then added to dW transposed) */
#define SPARSE_COLS 16

/**
 * dW (O,I) += dout^T * x for the batch's rows. Scratch: start (I + 1), row and val (the
 * batch's nonzeros: B x I at most), dWT (SPARSE_COLS, sparse_width(O)), dpad (B, sparse_width(O)).
 */
void sparse_grad_w(float *dW, const float *dout, const SparseBatch *x, int B, int I, int O, int *start,
                   int *row, float *val, float *dWT, float *dpad);

#endif
