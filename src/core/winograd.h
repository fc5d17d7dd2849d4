/*
 * winograd: 3x3 convolutions at stride 1 with zero padding 1 on maps of even sides, by
 * Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast algorithms for
 * convolutional neural networks", 2016): each 2x2 output tile is A^T [(G g G^T) . (B^T d B)] A
 * for its 4x4 input tile d and kernel g, so the channel sums become 16 GEMMs (one per
 * element xi of the 4x4 transformed tile) of 16 products per 4 outputs instead of 36:
 *
 *   M_xi (O, cols) = U_xi (O, C) * V_xi (C, cols),   U = G g G^T,  V = B^T d B,
 *
 * cols = the tiles of a chunk of images. Backward is the exact adjoint of that forward (so
 * the gradients are those of the function computed): with D = A dy A^T of each output tile,
 * dU_xi (O, C) += D_xi * V_xi^T and dW = G^T dU G; dV_xi = F_xi^T * D_xi (F = G f G^T of the
 * feedback kernels f: the weights for bp, fixed ones for fa) and dx += B dV B^T, the tiles'
 * overlaps summed. The transforms use only the points 0, 1, -1 (multiplications by 1/2 in G
 * alone): float rounding a few ulps per output, as the direct sums' reordering would give.
 * winograd4.c does the same with F(4x4, 3x3) (36 products per 16 outputs) on sides that 4
 * divides, at about 10x this rounding; the resnet kind's layers (Layer.wino) take it.
 */
#ifndef SYNSWEEP_WINOGRAD_H
#define SYNSWEEP_WINOGRAD_H

#include <stddef.h>

/** Floats of a chunk's transformed tiles, inputs and outputs together (1 MiB: in L2). */
enum { WINO_CHUNK_FLOATS = 1 << 18 };

/** Whether a conv of C -> O planes of H x W, K x K at stride s with padding pad runs here. */
int wino_applies(int C, int H, int W, int K, int stride, int pad);
/** Images per chunk (1 to B). */
int wino_chunk(int C, int O, int H, int W, int B);
/** Scratch floats wino_forward and wino_backward need for B images. */
size_t wino_scratch(int C, int O, int H, int W, int B);
/** A per-channel affine map and ReLU after a conv, applied as its output is written: out
 * channel o's value v becomes (v - m[o]) a[o] + b[o], then max(., 0) if relu (NaN -> 0): the
 * same floats as a separate pass (bn's, evaluating with running statistics). */
typedef struct WinoAffine {
    const float *m, *a, *b;
    int relu;
} WinoAffine;

/** y (B, O, H, W) <- conv(x (B, C, H, W); w (O, C, 3, 3)) [+ b (O), unless NULL], then aff
 * (unless NULL). */
void wino_forward(const float *w, const float *b, int C, int O, int H, int W, const float *x, int B, float *y,
                  const WinoAffine *aff, float *scratch);
/** After wino_forward on x: dw (O, C, 3, 3) += the kernels' gradient for output gradient dy,
 * and dx (B, C, H, W) += the input gradient through the feedback kernels fb (unless dx NULL);
 * set: dx <- it instead, without reading dx (the floats += leaves in a zeroed dx, -0 as +0).
 * x's tiles are transformed again (keeping the forward's for a batch would take 4 times x's
 * memory per layer). */
void wino_backward(const float *fb, int C, int O, int H, int W, const float *x, const float *dy, int B, float *dw,
                   float *dx, int set, float *scratch);

/* F(4x4, 3x3) (winograd4.c): the same contracts on maps whose sides are multiples of 4, 36
 * products per 16 outputs instead of 64. */
int wino4_applies(int C, int H, int W, int K, int stride, int pad);
int wino4_chunk(int C, int O, int H, int W, int B);
size_t wino4_scratch(int C, int O, int H, int W, int B);
void wino4_forward(const float *w, const float *b, int C, int O, int H, int W, const float *x, int B, float *y,
                   const WinoAffine *aff, float *scratch);
void wino4_backward(const float *fb, int C, int O, int H, int W, const float *x, const float *dy, int B, float *dw,
                    float *dx, int set, float *scratch);

#endif
