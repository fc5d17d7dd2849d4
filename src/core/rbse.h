/*
 * rbse: the restricted Boltzmann stochastic ensemble (Al-Shedivat, Neftci & Cauwenberghs,
 * arXiv:1412.7272; docs/SCIENCE.md section 3) and, as its m = 1 special case, the plain RBM.
 *
 * One Boltzmann machine over binary v (V), h (H) and release variables m (H, V):
 *   E(v, h, m) = -sum_ji v_i m_ji w_ji h_j - b.v - c.h - sum_ji a_ji m_ji
 * so every conditional factorises:
 *   P(h_j = 1 | v, m) = sigmoid(c_j + sum_i m_ji w_ji v_i)
 *   P(v_i = 1 | h, m) = sigmoid(b_i + sum_j m_ji w_ji h_j)
 *   P(m_ji = 1 | v, h) = sigmoid(a_ji + w_ji v_i h_j)   (idle synapse: p_ji = sigmoid(a_ji))
 * Summing m out leaves an RBM over (v, h) with weights weff = softplus(a + w) - softplus(a),
 * hence the exact P(h_j = 1 | v) = sigmoid(c_j + weff_j . v), used (by sgemm) wherever m is
 * integrated out: the data term, the model term's last hidden layer, persistent chains.
 *
 * Masks are drawn per example from a counter-based generator: m_bji = [u < thr] with
 * u = 24 bits of hash(key, b, j*V + i) and thr = round(2^24 P(m_ji = 1)), the key drawn from
 * an xoshiro stream. A mask is a pure function of (key, b, j, i), so kernels that fuse
 * sampling with the masked product, and skip the synapses whose presynaptic unit is off,
 * draw exactly the masks the explicit reference functions draw. P = 1 gives thr = 2^24
 * (always released); probabilities are quantised to 2^-24.
 *
 * Leaves out: the readout, results plumbing and model-table wiring (the caller's).
 * Parameters live in caller-owned buffers; Rbse owns only derived tables and workspace.
 */
#ifndef SYNSWEEP_RBSE_H
#define SYNSWEEP_RBSE_H

#include <stdint.h>

#include "rng.h"

/* Streams of the chain seed used by rbse_chain_create (kept clear of rng.h's 1..6). */
enum { RBSE_STREAM_UNITS = 16, RBSE_STREAM_MASKS = 17 };

typedef struct Rbse {
    int n_v, n_h;   /* V, H */
    int rbm;        /* 1: plain RBM, every m_ji = 1 (a unused, may be NULL) */
    int h_tables;   /* 1 (rbse_create's default): rbse_prepare also builds the w^T tables that
                     * rbse_h_step needs (CD-k with k > 1, features); 0 saves that time for CD-1 */
    int collapsed;  /* rbse_grad's chain: 0 (default) the joint (v, h, m) Gibbs chain; 1 the
                     * (v, h) chain with m summed out, P(v | h) = sigmoid(b + h weff) by sgemm:
                     * the same stationary distribution of (v, h), another CD estimator */
    float *w;       /* (H, V) synaptic weights, caller-owned */
    float *a;       /* (H, V) release logits, p = sigmoid(a), caller-owned */
    float *b;       /* (V) visible biases, caller-owned */
    float *c;       /* (H) hidden biases, caller-owned */
    /* derived by rbse_prepare (RBSE only; all NULL for the RBM) */
    float *weff;    /* (H, V) softplus(a + w) - softplus(a) */
    float *p1;      /* (H, V) sigmoid(a + w): d weff / d w */
    float *dp;      /* (H, V) sigmoid(a + w) - sigmoid(a): d weff / d a */
    uint32_t *t0, *t1;    /* (H, V) 2^24 sigmoid(a), 2^24 sigmoid(a + w), rounded */
    float *wT;            /* (V, H) transposed w, for the h-step */
    uint32_t *t0T, *t1T;  /* (V, H) transposed t0, t1 */
} Rbse;

/**
 * Binds parameter buffers and allocates the derived tables (not the parameters).
 * @param a may be NULL when rbm. @return 0, or -1 out of memory (m left freed).
 * Call rbse_prepare before sampling and after every change of w or a.
 */
int rbse_create(Rbse *m, int n_v, int n_h, int rbm, float *w, float *a, float *b, float *c);
/** Frees the derived tables; NULL-safe, idempotent. Parameter buffers are the caller's. */
void rbse_free(Rbse *m);
/**
 * Initial parameters: w ~ N(0, w_std^2), a = logit(p_init) (p_init in (0, 1]; 1 is stored as
 * a = RBSE_A_ALWAYS), b and c zero. Calls rbse_prepare.
 */
#define RBSE_A_ALWAYS 40.0f /* sigmoid(40) rounds to 1 in float: thr = 2^24, always released */
void rbse_init_params(Rbse *m, float p_init, float w_std, Rng *r);
/** Recomputes weff, p1, dp, t0, t1 and (if h_tables) the transposes from w and a (RBM: nothing). */
void rbse_prepare(Rbse *m);

/** exp(x) for x <= 0 (below -87: exp(-87)) and log(q) for q in (0.5, 2), vectorisable float
 * versions used by rbse_prepare (max error 2 ulp); exposed for tests. */
float rbse_expf_nonpos(float x);
float rbse_logf_half2(float q);

/* ---- conditionals, explicit masks (reference; loops, no fusion) ---- */

/**
 * m (B, H, V) bytes in {0,1} <- m ~ P(m | v, h), the masks of `key` (see file comment).
 * v (B, V) and h (B, H) hold 0/1.
 */
void rbse_sample_masks(const Rbse *m, int B, const float *v, const float *h, uint64_t key,
                       uint8_t *masks);
/** hprob (B, H) <- P(h = 1 | v, masks); masks NULL means every m = 1. */
void rbse_h_given_vm(const Rbse *m, int B, const float *v, const uint8_t *masks, float *hprob);
/** vprob (B, V) <- P(v = 1 | h, masks); masks NULL means every m = 1. */
void rbse_v_given_hm(const Rbse *m, int B, const float *h, const uint8_t *masks, float *vprob);

/* ---- conditionals, fused (the fast path; identical masks and sums to the above) ---- */

/**
 * hprob (B, H) <- P(h = 1 | v, m) for m ~ P(m | v, h_old) drawn with `key`; masks are never
 * stored. h_old NULL means all zero, i.e. m ~ Bernoulli(sigmoid(a)), the idle release.
 * RBM: sigmoid(c + W v) by sgemm (key, h_old unused). v, h_old are 0/1. RBSE: needs h_tables.
 */
void rbse_h_step(const Rbse *m, int B, const float *v, const float *h_old, uint64_t key,
                 float *hprob);
/** vprob (B, V) <- P(v = 1 | h, m) for m ~ P(m | v_old, h) drawn with `key`. RBM: sgemm. */
void rbse_v_step(const Rbse *m, int B, const float *h, const float *v_old, uint64_t key,
                 float *vprob);
/** hprob (B, H) <- P(h = 1 | v) with m summed out: sigmoid(c + weff v) (RBM: w), by sgemm. */
void rbse_h_marginal(const Rbse *m, int B, const float *v, float *hprob);
/** vprob (B, V) <- P(v = 1 | h) with m summed out: sigmoid(b + h weff) (RBM: w), by sgemm. */
void rbse_v_marginal(const Rbse *m, int B, const float *h, float *vprob);
/** x (n) <- Bernoulli(p) draws in {0, 1}: x_i = [u_i < p_i], u_i = rng_uniform(r) in order. */
void rbse_bernoulli(Rng *r, int n, const float *p, float *x);

/* ---- learning ---- */

/**
 * Gibbs chains and workspace for batches of up to n examples. Persistent chains keep (v, h)
 * between calls (masks are redrawn from P(m | v, h) at the start of each call, which is an
 * exact Gibbs update). Unit draws come from `units`, mask keys from `masks`.
 */
/* Phases of rbse_grad timed into RbseChain.t: h | v0 (m summed out, sgemm); the fused
 * mask-sampling + v | h, m steps; the fused h | v, m steps (k > 1); h | v at the chain's end
 * plus the (v, h) draws; the gradient (2 sgemm + elementwise). */
enum { RBSE_T_HDATA, RBSE_T_VSTEP, RBSE_T_HSTEP, RBSE_T_HMODEL, RBSE_T_GRAD, RBSE_N_TIMES };

typedef struct RbseChain {
    int n;           /* chains = largest batch */
    int started;     /* persistent state valid */
    Rng units, masks;
    float *v, *h;    /* (n, V), (n, H) chain state */
    float *hd, *hm;  /* (n, H) data and model hidden probabilities */
    float *vp;       /* (n, V) visible probabilities */
    float *hp;       /* (n, H) hidden probabilities of intermediate steps */
    float *g;        /* (H, V) <v h> difference */
    double t[RBSE_N_TIMES]; /* CPU seconds (this thread) in rbse_grad's phases, accumulated */
} RbseChain;

/** @return 0, or -1 out of memory (ch freed). Streams: (seed, RBSE_STREAM_UNITS / _MASKS). */
int rbse_chain_create(RbseChain *ch, const Rbse *m, int n, uint64_t seed);
void rbse_chain_free(RbseChain *ch);

/**
 * CD-k (persistent = 0) or persistent CD-k (persistent = 1; B must equal ch->n) on a batch
 * v0 (B, V) of 0/1 rows. ACCUMULATES (+=) the DESCENT gradient dL/dtheta of
 *   L = -(1/B) sum_b log P(v0_b)
 * into dw (H, V), da (H, V; untouched and may be NULL for the RBM), db (V), dc (H), so an
 * optimiser that subtracts lr * grad (optim_step) climbs the likelihood. Estimate:
 *   G = <h v^T>_model - <h v^T>_data, with h replaced by P(h | v) (m summed out) on both sides;
 *   dw += p1 * G,  da += (p1 - p0) * G,  db += <v>_model - <v>_data,  dc += <h>_model - <h>_data
 * (the expectation over m given (v, h) is taken exactly; RBM: p1 = 1, da unused).
 * Chain: h ~ P(h | v0); then k times [m ~ P(m | v, h); v ~ P(v | h, m); and unless last,
 * m ~ P(m | v, h); h ~ P(h | v, m)]; model term at the last v (m->collapsed: k times
 * [v ~ P(v | h); unless last, h ~ P(h | v)], m summed out). Needs rbse_prepare'd m.
 */
void rbse_grad(const Rbse *m, RbseChain *ch, int B, const float *v0, int k, int persistent,
               float *dw, float *da, float *db, float *dc);

/* ---- data and statistics ---- */

/**
 * out (n) <- 0/1 pixels from x (n) in [0, 1]: r NULL: [x > threshold]; else Bernoulli(x)
 * ([u < x], u = rng_uniform(r)). out may equal x.
 */
void rbse_binarize(const float *x, long n, float threshold, Rng *r, float *out);
/**
 * Features of `n` images v (n, V) 0/1: feat (n, S, H) <- P(h = 1 | v, m_s) for S masks per
 * image, m_s ~ Bernoulli(sigmoid(a)), keys drawn from r. RBM: S ignored (treated as 1),
 * feat (n, H) = sigmoid(c + W v). Needs no workspace.
 */
void rbse_features(const Rbse *m, int n, const float *v, int S, Rng *r, float *feat);
/* Representations of an image (rbse_features_mode): masks from the idle release sigmoid(a)
 * (rbse_features); the ensemble's conditional sample (h, m) ~ P(h, m | v); P(h | v) itself. */
enum { RBSE_FEAT_PRIOR, RBSE_FEAT_CONDITIONAL, RBSE_FEAT_EXACT };
/**
 * Features of `n` images v (n, V) 0/1 into feat (n, S, H), by mode:
 *   RBSE_FEAT_PRIOR: rbse_features (the same draws and values);
 *   RBSE_FEAT_CONDITIONAL: per row h ~ P(h | v) (m summed out; H uniforms from r), then a key
 *     from r and m ~ P(m | v, h) (rbse_sample_masks' masks); the row is P(h = 1 | v, m). (h, m)
 *     is an exact draw of P(h, m | v) = P(h | v) P(m | v, h), so the rows' mean tends to
 *     P(h = 1 | v) (docs/SCIENCE.md section 3);
 *   RBSE_FEAT_EXACT: P(h = 1 | v) in every row, nothing drawn.
 * work: 2 H floats (conditional only; may be NULL otherwise). RBM: as rbse_features.
 */
void rbse_features_mode(const Rbse *m, int n, const float *v, int S, int mode, Rng *r, float *work,
                        float *feat);
/**
 * Reconstruction error of a batch after one up-down pass: h ~ P(h | v) (m summed out),
 * m ~ P(m | v, h), vprob = P(v = 1 | h, m). @return mean over B*V of (v - vprob)^2;
 * *ce (if not NULL) <- mean cross-entropy -[v log vprob + (1-v) log(1-vprob)] (vprob
 * clamped to [1e-7, 1-1e-7]). Uses ch's workspace and streams (B <= ch->n); chain state
 * untouched only if not persistent.
 */
double rbse_recon_error(const Rbse *m, RbseChain *ch, int B, const float *v, double *ce);
/** Mean of p = sigmoid(a) over all H*V synapses (RBM: 1). */
double rbse_mean_release(const Rbse *m);
/** frac (n_bins) <- fraction of synapses with p = sigmoid(a) in bin floor(p n_bins) (p = 1 in the last). */
void rbse_release_hist(const Rbse *m, int n_bins, float *frac);
/** Pearson correlation of |w_ji| and p_ji over all synapses; NaN if either is constant. */
double rbse_weight_release_corr(const Rbse *m);

#endif
