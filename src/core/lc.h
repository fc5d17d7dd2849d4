/*
 * lc: a locally connected 2-D layer (Pogodin et al., NeurIPS 2021; docs/SCIENCE.md section 4) and
 * its sleep phase (dynamic weight sharing). Like a stride-1 conv layer with zero padding
 * (K-1)/2, K odd, but every output position p = (y, x) has its own kernel (O, C*K*K).
 *
 *   x (B, C, H, W) -> out (B, O, H, W);  Wt (H*W, O, C*K*K);  b (O), one bias per output
 *   channel shared by all positions, as the authors' LocallyConnected2d has it.
 *
 * A kernel's column index is c*K*K + ky*K + kx, as in conv.h, so with every position's
 * kernel equal to a conv kernel (O, C*K*K) the layer computes that conv; with C a multiple of
 * 8, lc.c keeps it (ky*K + kx)*C + c instead (lc_kernels_hwc, below) and converts at the
 * boundaries (the results file, lc_init's draws, the sleeps). Sharing groups:
 * LC_SHARE_GRID (the default, the authors' choice) groups positions at stride K in each
 * direction; LC_SHARE_MAP groups the whole map. Leaves out: stride > 1, channel groups,
 * even K, the network around the layer.
 */
#ifndef SYNSWEEP_LC_H
#define SYNSWEEP_LC_H

#include <stddef.h>

#include "rng.h"

/*
 * LC_SHARE_GRID: positions i, i+K, i+2K, ... in each direction share (the authors' code: its
 *   sleep tiles one K x K patch over the image with period K, so exactly these positions see
 *   the same input). Default: it is what the authors ran, and it is the only grouping the
 *   tiled-patch Hebbian sleep can realise with a real image.
 * LC_SHARE_MAP: all positions share (the slides' idealised model: every neuron of the map
 *   sees the same patch, which the dynamic sleep then presents to each position directly).
 */
enum { LC_SHARE_GRID = 0, LC_SHARE_MAP = 1 };

/** Floats in Wt: H*W*O*C*K*K. */
size_t lc_weight_count(int C, int H, int W, int O, int K);
/**
 * Floats of scratch lc_forward and lc_backward need for a batch of B:
 * 2*C*(H+K-1)*(W+K-1)*Bs + H*W*B*O + C*K*K*(O + B) + B*O + 96, Bs = B rounded up to 8
 * (plus 8 where C*Bs floats would be a multiple of 4 KiB, unless C is a multiple of 128); its
 * arrays start at multiples of 64 bytes.
 */
size_t lc_scratch_floats(int B, int C, int H, int W, int O, int K);

/**
 * out (B, O, H, W) <- LC(x) + b. Wt (H*W, O, C*K*K); b (O) or NULL for no bias.
 * Per chunk of at most 128 images (Bc): the input is made (H+K-1, W+K-1, C, Bc), zero-padded,
 * so that a position's patch is, per kernel row, one block of K*C rows of Bc floats. With C a
 * multiple of 8 the position's kernels are kept in that (ky, kx, c) order and K GEMMs read
 * them and the blocks in place; otherwise the patch is gathered in (c, ky, kx) order and one
 * GEMM gives (O, Bc). Backward: dW as dW^T (C*K*K, O) from dout transposed, added
 * transposed: with C a multiple of 8 and O <= 32 by K GEMMs on the blocks in place, with
 * O <= 16 and C*K*K >= 64 by one on the gathered patch; otherwise dW by one GEMM of the
 * gathered patch. The input gradient by K GEMMs added in place (the kernels of fewer
 * channels reordered per position); dW and db sum over the chunks in batch order. scratch:
 * lc_scratch_floats.
 */
void lc_forward(float *out, const float *x, const float *Wt, const float *b, float *scratch, int B,
                int C, int H, int W, int O, int K);
/**
 * dW (H*W, O, C*K*K) += dL/dW; db (O) += dL/db unless NULL; dx (B, C, H, W) += the input
 * gradient through the feedback tensor F (layout of Wt; F = Wt is backprop, a fixed random
 * tensor is feedback alignment) unless dx is NULL. dout (B, O, H, W) = dL/dout.
 * scratch: lc_scratch_floats(B, ...) floats.
 */
void lc_backward(float *dx, float *dW, float *db, const float *dout, const float *x, const float *F,
                 float *scratch, int B, int C, int H, int W, int O, int K);
/**
 * lc_forward and lc_backward at stride st (>= 1; lc_forward is st 1): outputs (B, O, OH, OW),
 * OH = (H - 1) / st + 1 (likewise OW), zero padding (K - 1) / 2, Wt and F (OH*OW, O, C*K*K);
 * the patch under output (oy, ox) starts at input (oy st, ox st) of the padded map.
 * scratch: lc_scratch_floats(B, C, H, W, O, K) floats (H, W the input's).
 */
void lc_forward_strided(float *out, const float *x, const float *Wt, const float *b, float *scratch, int B,
                        int C, int H, int W, int O, int K, int st);
void lc_backward_strided(float *dx, float *dW, float *db, const float *dout, const float *x, const float *F,
                         float *scratch, int B, int C, int H, int W, int O, int K, int st);
/**
 * Layouts of lc_forward_layout and lc_backward_layout's activations: batch-first (B, C, H, W)
 * as above, or batch-last: the batch in chunks of LC_BL_CHUNK images (the last one shorter),
 * chunk after chunk where the batch-first images lie, each chunk (H, W, C, Bc): image n of
 * pixel p = y W + x and channel c at lc_bl_index. LC_IN_BL: x and dx batch-last; LC_OUT_BL:
 * out and dout. A network of LC layers that keeps its activations batch-last (the resnet
 * kind's) has no transposes in its layers: a position's (O, Bc) output is what each product
 * writes. A batch-last input with C a multiple of 8 is read in place where a patch lies inside
 * the image, and its gradient added to dx there; only the pixels that patches leaving the
 * image read are copied into the padded chunk (with other C, all of them, a row of images at
 * a time). The same products as the batch-first calls: out and dW equal theirs bit for bit,
 * and dx too when it starts at zero (else it differs by rounding: the patches' gradients are
 * added to it one by one, not summed first); db is summed in batch-first order (the same
 * floats too).
 */
enum { LC_IN_BL = 1, LC_OUT_BL = 2, LC_BL_CHUNK = 128 };
/** Offset of image n, plane c, pixel p in a batch-last array of B images of C planes of P pixels. */
static inline size_t lc_bl_index(int B, int C, int P, int n, int c, int p) {
    int n0 = n / LC_BL_CHUNK * LC_BL_CHUNK, bc = B - n0 < LC_BL_CHUNK ? B - n0 : LC_BL_CHUNK;
    return (size_t)n0 * C * P + ((size_t)p * C + c) * bc + (n - n0);
}
/** dst <- src (B images of C planes of P pixels) batch-first to batch-last (back 0), or back (back 1). */
void lc_relayout(float *dst, const float *src, int B, int C, int P, int back);
/** lc_forward_strided with layout: 0, or LC_IN_BL and/or LC_OUT_BL. */
void lc_forward_layout(float *out, const float *x, const float *Wt, const float *b, float *scratch, int B, int C,
                       int H, int W, int O, int K, int st, int layout);
/** lc_backward_strided with layout (that of lc_forward_layout's call). */
void lc_backward_layout(float *dx, float *dW, float *db, const float *dout, const float *x, const float *F,
                        float *scratch, int B, int C, int H, int W, int O, int K, int st, int layout);
/**
 * A position's O kernels in Wt, F and dW: (c, ky, kx) order within each kernel, as PyTorch
 * and the results file lay them out, except with C a multiple of 8 (lc_kernels_hwc), where
 * lc.c keeps them in (ky, kx, c) order, the order of a patch's rows in its batch-last
 * blocks: its products then read them in place, with no reorder per position and step.
 * Elementwise steps (optimisers, instant sleeps) do not see the order; lc_init,
 * lc_sleep_dynamic* and lc_snr* keep their results those of (c, ky, kx) order, bit for bit;
 * a kind converts its LC tensors for the results file with lc_kernels_convert.
 */
static inline int lc_kernels_hwc(int C) { return C % 8 == 0; }
/**
 * 1 where lc.c runs a layer's forward product and dW straight from the patch's rows, in its
 * own loops (few_forward, few_dw): few input channels (C not a multiple of 8, C K K at most
 * LC_FEW_ROWS) and O a multiple of 16, the ResNet stem and an lc kind's first layer of 16 or 32
 * channels; and only where the CPU runs AVX-512 (x86-64, a GCC build: 16 outputs of 16
 * images in registers; elsewhere OpenBLAS as before, a 16-lane build for AVX2 having spilled
 * its registers). Their sums run one multiply and one add at a time, in the patch's row order
 * (forward) and the images' order (dW, per chunk).
 */
enum { LC_FEW_ROWS = 7 * 5 * 5 };
int lc_few_direct(int C, int K, int O);
/** Offset of weight (c, ky, kx) within a kernel of C channels in lc.c's order. */
static inline int lc_kidx(int C, int K, int c, int ky, int kx) {
    return lc_kernels_hwc(C) ? (ky * K + kx) * C + c : (c * K + ky) * K + kx;
}
/** dst <- n kernels of C*K*K floats from lc.c's order to (c, ky, kx) (to_public 1) or back (0);
 *  dst and src do not overlap (a copy where the orders agree). */
void lc_kernels_convert(float *dst, const float *src, size_t n, int C, int K, int to_public);
/** Wt's n kernels, drawn in (c, ky, kx) order (lc_init), into lc.c's order in place.
 *  @return 0, or -1 (out of memory; Wt unchanged). */
int lc_kernels_from_public(float *Wt, size_t n, int C, int K);
/** Same contract as lc_forward by direct loops in double (no BLAS, no scratch). For tests. */
void lc_forward_naive(float *out, const float *x, const float *Wt, const float *b, int B, int C,
                      int H, int W, int O, int K);
/** Same contract as lc_backward by direct loops in double. For tests. */
void lc_backward_naive(float *dx, float *dW, float *db, const float *dout, const float *x,
                       const float *F, int B, int C, int H, int W, int O, int K);

/**
 * Initial weights as the authors' code draws them. std = sqrt(2 / (O*K*K)) (Kaiming normal,
 * ReLU gain, fan-out). eps < 0: an independent N(0, std) draw per position. eps >= 0: one
 * shared kernel s (O, C*K*K) ~ N(0, 1) plus per-position noise n ~ N(0, 1):
 * W_p = std / sqrt(1 + eps^2) * (s + eps * n_p). b (O), unless NULL: U(-1/sqrt(CKK), 1/sqrt(CKK))
 * as PyTorch's conv bias. Draws only from r. No allocation. Wt in (c, ky, kx) order: an LC
 * layer's kernels then go through lc_kernels_from_public (a conv layer's stay).
 */
void lc_init(float *Wt, float *b, int C, int H, int W, int O, int K, double eps, Rng *r);

/**
 * Instant sharing: each position's kernel <- the mean kernel of its group. Groups cover the
 * whole map, border positions included, as the authors' share_weights_instantly does
 * (grid groups: y = y0 mod K and x = x0 mod K).
 */
void lc_share_instant(float *Wt, int C, int H, int W, int O, int K, int share);

/** Floats of scratch lc_sleep_dynamic needs. 0 when the map has no non-padded position. */
size_t lc_sleep_scratch_floats(int C, int H, int W, int O, int K, int share, int batch);
/**
 * Dynamic sharing (the sleep): W0 <- Wt, then T iterations of
 *   draw `batch` patches P_n (C, K, K) ~ N(0, 1); tile each over the input with period K
 *   (GRID) or show it to every position (MAP); z = LC(x) without bias (a per-channel bias
 *   cancels in the next step); r_p = z_p - mean of z over p's group;
 *   dW_p = mean_n r_p x_p^T + gamma (W_p - W0_p);  W_p -= lr dW_p.
 * Only non-padded positions (y, x in [(K-1)/2, H-(K-1)/2)) take part; groups are formed
 * among them (GRID: y - (K-1)/2 = gy mod K, likewise x, the positions that see the same
 * tile). Border positions see zero padding; the authors' code makes each its own group, so
 * their kernels never move; here they are left untouched. Cost per iteration: two GEMMs per
 * group (batch x C*K*K x members*O). The patches of 8 iterations are drawn at once (in
 * iteration order, so the result does not depend on it) and each group then runs those 8
 * with its weights in cache. scratch: lc_sleep_scratch_floats(...) floats.
 */
void lc_sleep_dynamic(float *Wt, float *scratch, int C, int H, int W, int O, int K, int share,
                      int T, float lr, float gamma, int batch, Rng *r);
/**
 * The sleep of a layer at stride st on an IH x IW input (output map (IH-1)/st+1 wide, Wt
 * its weights), as the authors run it (utils.py, share_weights): the tiles repeat with
 * period K on the *input*, so the member of grid group (gy, gx) at output row lo + gy sees
 * the tile shifted by (st (lo + gy) - pad) mod K; the non-padded positions are
 * [lo, (IH - 2 pad)/st + lo) with lo = ceil(pad/st) (at stride 2 the last row and column
 * take part: their patches end inside the input). At st 1 it is lc_sleep_dynamic.
 */
void lc_sleep_dynamic_strided(float *Wt, float *scratch, int C, int IH, int IW, int st, int O, int K, int share,
                              int T, float lr, float gamma, int batch, Rng *r);
/** lc_sleep_scratch_floats for lc_sleep_dynamic_strided. */
size_t lc_sleep_scratch_floats_strided(int C, int IH, int IW, int st, int O, int K, int share, int batch);

/**
 * SNR of the weights over the non-padded positions, per element e = (o, c, ky, kx):
 * mean_p and spread of W_p[e], averaged over the O*C*K*K elements.
 *   snr_paper: mean_e m_e^2 / v_e, v_e the variance over positions (1/N; the paper's Eq. 6)
 *   snr_code:  mean_e |m_e| / s_e, s_e the unbiased standard deviation (1/(N-1); the
 *              authors' compute_non_padded_weight_average_snr)
 * A zero spread is replaced by 1e-20 (std) or 1e-40 (variance), as the authors' tol does.
 * With fewer than 2 non-padded positions both are NaN. Either pointer may be NULL.
 */
void lc_snr(const float *Wt, int C, int H, int W, int O, int K, double *snr_paper,
            double *snr_code);
/** lc_snr of a layer at stride st on an IH x IW input, over its non-padded positions as
 * lc_sleep_dynamic_strided counts them (the authors' get_non_padded_weights). */
void lc_snr_strided(const float *Wt, int C, int IH, int IW, int st, int O, int K, double *snr_paper,
                    double *snr_code);

#endif
