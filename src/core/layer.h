/*
 * layer: image layers as rows of an ops table (kann's kad ops, llm.c's layer functions): each
 * type has the same four entries (forward, backward, trainable floats, scratch floats) over
 * batches of (B, C, H, W) row-major images, so a network (model_resnet.c, model_cnn.c,
 * model_lc.c) is a list of Layers and calls only rows. Types:
 *
 *   conv  K x K (1x1, 3x3, ...), any stride, zero padding (K-1)/2 (layer_conv_init) or any
 *         (layer_conv_init_pad, any K), W (O, C, K, K), a bias per output channel b (O) or
 *         none (b NULL), a fused ReLU (relu). chunk > 0: always the patch form below with
 *         chunk images per GEMM (a summation order the kind keeps). Otherwise 3x3 at stride 1
 *         and padding 1 on even sides with C >= LAYER_TAPS_MIN_C (layer_conv_wino): Winograd's
 *         F(2x2, 3x3) (winograd.h: 16 GEMMs per chunk of images, 2.25x fewer products), or with
 *         wino set on sides that 4 divides F(4x4, 3x3) (winograd4.c: 36 GEMMs, 4x fewer). Other
 *         stride-1 layers with C >= LAYER_TAPS_MIN_C (layer_conv_taps): the tap form, no patch
 *         matrix: per image, the zero-padded image read at each of the K*K shifts as a
 *         (C, OH*(W+2 pad)) window, one GEMM per tap (layer.c). Otherwise (the first layer,
 *         strided layers) in chunks of images (layer_conv_chunk): their patches side by side
 *         (C*K*K, nb*OH*OW) (conv.c's im2col at stride 1, a strided one otherwise) and one
 *         GEMM per chunk forward, two backward (dW over the chunk, then the patch gradients,
 *         summed back to the pixels).
 *   lc    the same geometry with a kernel per output position: W (OH*OW, O, C*K*K) as lc.h
 *         lays it out (each kernel in (ky, kx, c) order where C is a multiple of 8); lc.c's lc_forward_layout/lc_backward_layout (the batch made
 *         (H, W, C, B) once, each position's patch read in place by one GEMM per kernel row,
 *         or gathered for one GEMM); bias b (O) or none, a fused ReLU (relu) as conv's. bl:
 *         input and/or output batch-last (lc.h's layout), no transposes then.
 *   maxpool  2x2 max-pool, stride 2 (O = C, OH = H/2): conv.c's maxpool2; relu = 1 fuses a
 *         ReLU after it (the same floats as a ReLU before it). Training (train = 1) records
 *         each output's winner for backward; evaluation only the maxima. With relu, b (C)
 *         may carry the bias of the conv before it (then b NULL there), added after the max:
 *         the same floats as before it (rounding is monotone), a quarter of the adds, for
 *         layers that never train (the winners of x + b are not recorded). bl: a batch-last
 *         input (LC_IN_BL), its output batch-last too (LC_OUT_BL) or batch-first (staged in
 *         scratch); the same floats and winners, each recorded as its place in the window.
 *   apool adaptive pool of each plane to K x K cells (PyTorch's AdaptiveAvgPool2d, or
 *         AdaptiveMaxPool2d with amax = 1; conv.c's), winners recorded in training.
 *   bn    BatchNorm2d as PyTorch: training (train = 1) normalises by the batch's mean and
 *         biased variance and moves running mean and running (unbiased) variance by momentum
 *         0.1; evaluation (train = 0) uses the running statistics; eps 1e-5; weight w (C),
 *         bias b (C); relu = 1 fuses a ReLU after it. gate (backward only): dy is taken as 0
 *         where gate (an output of y's shape, e.g. a residual block's after its add and ReLU)
 *         is not > 0, as the fused ReLU does with y: the gradient through a later ReLU without
 *         a pass of its own.
 *   gap   global average pool (B, C, H, W) -> (B, C); with bl the input batch-last.
 *
 * bn (both sides) and gap (its input) take batch-last activations with bl = LAYER_BL, as lc
 * layers read and write them with LC_IN_BL / LC_OUT_BL: a network of lc, bn, gap and
 * elementwise steps (the resnet kind's lc) keeps them batch-last from end to end.
 *
 * The FC layer of a network is the model's head (mlp.h), which every kind already has. A
 * layer's output y (max_batch, O*OH*OW) is its own; backward reads the layer's input x,
 * its output y and dy (none of which it modifies) and accumulates (+=) the parameter
 * gradients and, unless dx is NULL, the input gradient dx (so two branches that read the same
 * input, e.g. a residual block's, add into one buffer). layer_backward_set writes dx instead:
 * the floats zeroing dx and backward would leave, without the zeroing pass or reading dx where
 * the type can (backward_set: bn, conv by Winograd; the others zero dx first).
 */
#ifndef SYNSWEEP_LAYER_H
#define SYNSWEEP_LAYER_H

#include <stddef.h>

typedef struct Layer Layer;

typedef struct LayerOps {
    const char *name;
    /** y <- layer(x) for B images; train: BN uses (and moves) batch statistics. */
    void (*forward)(Layer *l, const float *x, int B, int train, float *scratch);
    /** dx += input gradient (unless NULL); parameter gradients += (after forward on x). */
    void (*backward)(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch);
    /** Trainable floats (w then b). */
    size_t (*n_params)(const Layer *l);
    /** Scratch floats forward and backward need for a batch of B. */
    size_t (*scratch)(const Layer *l, int B);
    /** As backward with dx <- the input gradient (dx not NULL; its prior contents never read); NULL: none. */
    void (*backward_set)(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch);
} LayerOps;

/** Layer.bl of a bn or gap layer over batch-last activations (lc.h's layout); an lc layer's bits
 * are lc.h's LC_IN_BL (1) and LC_OUT_BL (2). */
enum { LAYER_BL = 3 };

extern const LayerOps LAYER_CONV, LAYER_LC, LAYER_BN, LAYER_GAP, LAYER_MAXPOOL, LAYER_APOOL;

struct Layer {
    const LayerOps *ops;
    int C, H, W;           /* input planes */
    int O, OH, OW;         /* output planes */
    int K, stride, pad;    /* conv, lc; apool: K x K cells */
    int relu;              /* conv, lc, maxpool, bn: a ReLU after it */
    int chunk;             /* conv: 0, or images per patch GEMM (always the patch form) */
    int wino;              /* conv: Winograd wherever it applies, below LAYER_TAPS_MIN_C planes too, and
                            * F(4x4, 3x3) on sides that 4 divides (the resnet kind's) */
    int amax;              /* apool: maxima (else averages) */
    int bl;                /* lc: LC_IN_BL | LC_OUT_BL (lc.h), which of x and y are batch-last; maxpool:
                            * 0, LC_IN_BL or both; bn: both or neither (LAYER_BL); gap: its input
                            * (LAYER_BL); others: 0 */
    float *w, *dw;         /* conv/lc kernels; bn weight (dw NULL: frozen, no backward) */
    const float *fb;       /* conv/lc: the kernels' feedback in backward (w: bp; fixed: fa) */
    float *b, *db;         /* conv/lc bias (NULL: none), bn bias, maxpool: a conv's bias moved after the max */
    int *arg;              /* maxpool, apool: (max_batch, O*OH*OW) winners in training */
    float *run_mean, *run_var; /* bn running statistics */
    double momentum, eps;  /* bn */
    double *mean, *invstd; /* bn: this batch's statistics (C each) */
    const float *gate;     /* bn backward: dy counts only where gate > 0, instead of y > 0 (not with relu) */
    float *affine;         /* bn: 3 C floats, its evaluation map handed to the conv before it */
    float *y;              /* (ny, O*OH*OW) output */
    int ny;                /* images y holds: max_batch, or a chain's group (layer_chain_forward_groups) */
};

/** Output side of a K x K layer with stride s and padding (K-1)/2 on n: (n + 2 pad - K) / s + 1. */
int layer_out_size(int n, int K, int stride);
/**
 * Sets up l as a conv or lc layer (ops LAYER_CONV or LAYER_LC) of (C, H, W) -> (O, OH, OW) and
 * allocates its output for max_batch images; w, dw (and fb) point at the caller's buffers.
 * @return 0, or -1 (out of memory, or a shape with no output).
 */
int layer_conv_init(Layer *l, const LayerOps *ops, int C, int H, int W, int O, int K, int stride, int max_batch);
/** As layer_conv_init with zero padding pad (conv: any K; lc: pad (K-1)/2 only). */
int layer_conv_init_pad(Layer *l, const LayerOps *ops, int C, int H, int W, int O, int K, int stride, int pad,
                        int max_batch);
/** The shape layer_conv_init_pad sets up, nothing allocated (for memory and work estimates):
 * OH or OW < 1 where the kernel does not fit. */
Layer layer_conv_shape(const LayerOps *ops, int C, int H, int W, int O, int K, int stride, int pad);
/** Sets up a 2x2 max-pool of (C, H, W) (relu: fused ReLU after it). @return 0, or -1 (memory, H or W < 2). */
int layer_maxpool_init(Layer *l, int C, int H, int W, int relu, int max_batch);
/** An lc layer's kernels, and its feedback where that is not w, from psrc and fsrc (buffers laid
 *  out as pbase and fbase, the model's params and fixed buffers where l's w and fb lie; either
 *  NULL: skipped) into params and fixed in the results file's (c, ky, kx) order (lc.h). */
void layer_lc_file_order(const Layer *l, const float *pbase, const float *fbase, const float *psrc, const float *fsrc,
                         float *params, float *fixed);
/** Sets up an adaptive pool of (C, H, W) to n x n (amax: maxima, else averages).
 * @return 0, or -1 (memory, or n outside 1 .. min(H, W)). */
int layer_apool_init(Layer *l, int C, int H, int W, int n, int amax, int max_batch);
/** Sets up a bn layer over C planes of H x W (relu: fused ReLU); w, b, run_* set by the caller. */
int layer_bn_init(Layer *l, int C, int H, int W, int relu, int max_batch);
/** Sets up a global average pool of (C, H, W). */
int layer_gap_init(Layer *l, int C, int H, int W, int max_batch);
/** Floats of one output image. */
size_t layer_out_floats(const Layer *l);
/** Floats of one input image. */
size_t layer_in_floats(const Layer *l);
void layer_free(Layer *l);
/** bn's y <- bn(conv c(x)) (B images): in evaluation (train 0) with c by Winograd, as c writes
 * its output (c's y not written; the same floats as the two forwards); otherwise c's forward,
 * then bn's. */
void layer_conv_bn_forward(Layer *c, Layer *bn, const float *x, int B, int train, float *scratch);
/** dx (B images, not NULL) <- l's input gradient, parameter gradients += : the floats zeroing
 * dx and calling backward would leave (-0 as +0), in one pass where the type can. */
void layer_backward_set(Layer *l, const float *x, const float *dy, float *dx, int B, float *scratch);

/*
 * A chain of n layers, layer i reading layer i - 1's output (the cnn and lc kinds).
 * layer_chain_forward: every layer forward on x (B images); the last one's y is the output.
 * layer_chain_backward: after layer_chain_forward on x, dy the gradient of the last output:
 * parameter gradients += (layers with dw or no parameters only); g0, g1 ping-pong input
 * gradients (layer_chain_act floats per image each); layer 0's input gradient is not
 * computed. layer_chain_scratch, layer_chain_act: the widest scratch (for B images) and the
 * widest input or output of one image.
 */
void layer_chain_forward(Layer *ls, int n, const float *x, int B, int train, float *scratch);
void layer_chain_backward(Layer *ls, int n, const float *x, const float *dy, int B, float *g0, float *g1,
                          float *scratch);
/*
 * The same in groups of G images, each group through every layer before the next (its maps
 * stay in cache): for chains of per-image layers (conv, maxpool, apool; not bn's batch
 * statistics, whose result would change, nor lc, whose products run over the batch). A
 * layer whose y holds fewer than B images (ny, allocated for G) keeps only the current
 * group's output: allowed where no backward reads it (no fused ReLU, followed by a pool).
 * g0, g1: G images each; the scratch for G images.
 */
void layer_chain_forward_groups(Layer *ls, int n, const float *x, int B, int G, int train, float *scratch);
void layer_chain_backward_groups(Layer *ls, int n, const float *x, const float *dy, int B, int G, float *g0, float *g1,
                                 float *scratch);
size_t layer_chain_scratch(const Layer *ls, int n, int B);
size_t layer_chain_act(const Layer *ls, int n);

/** Floats of a conv layer's patch matrix per chunk (512 KiB, in L2): the chunk's images share
 * one GEMM; stride-1 layers with at least LAYER_TAPS_MIN_C input planes use the tap form. */
enum { LAYER_CHUNK_FLOATS = 1 << 17, LAYER_TAPS_MIN_C = 8 };
/** Whether conv layer l runs by Winograd (winograd.h; F(4x4) where layer_conv_wino4): 3x3, stride 1, padding 1,
 * even sides, at least LAYER_TAPS_MIN_C input planes (or l->wino set: any), no chunk set. */
int layer_conv_wino(const Layer *l);
/** Whether it runs by F(4x4, 3x3) (winograd4.c): l->wino set and sides multiples of 4. */
int layer_conv_wino4(const Layer *l);
/** Whether conv layer l runs in the tap form (no patch matrix: a GEMM per tap and image): the
 * other stride-1 layers with at least LAYER_TAPS_MIN_C input planes and no chunk set. */
int layer_conv_taps(const Layer *l);
/** Images per chunk of conv layer l for batches of B: as many as fit LAYER_CHUNK_FLOATS, 1 to B. */
int layer_conv_chunk(const Layer *l, int B);
/**
 * Work (work.h) per image of conv layer l in batches of B: the products of its form (taps:
 * one per tap and image forward, dW and dX backward; patches: one per chunk forward, two
 * backward) and the floats its gathers move (padding and copies out; im2col, col2im, the
 * chunk's transposes). first: no input gradient. Adds to *fwd and *bwd.
 */
struct Work;
void layer_conv_work(const Layer *l, int B, int first, struct Work *fwd, struct Work *bwd);
/** col (C*K*K, OH*OW), row r at col + r * ld (ld >= OH*OW: images side by side) <- the patches
 * of x (C, H, W) at stride s, padding pad, zero outside. */
void im2col_strided(float *col, size_t ld, const float *x, int C, int H, int W, int K, int s, int pad, int OH,
                    int OW);
/** dx (C, H, W) += the patches in dcol (C*K*K, OH*OW), row r at dcol + r * ld, summed back to their pixels. */
void col2im_strided(float *dx, const float *dcol, size_t ld, int C, int H, int W, int K, int s, int pad, int OH,
                    int OW);

#endif
