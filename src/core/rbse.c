/*
 * rbse: sampling, CD-k / PCD-k gradients, features and statistics of the RBSE and the plain
 * RBM (the model and conventions are in rbse.h).
 *
 * Speed: the masked products cannot use sgemm (every example has its own H x V mask), so
 * each is one fused pass that draws the masks from a counter-based hash and adds the
 * released weights, never storing a mask. The v-step visits only rows j with h_j = 1 and the
 * h-step only columns i with v_i = 1 (w^T copy), since the others contribute nothing and
 * their masks are never observed before being redrawn. Inner loops are branch-free integer
 * hashing, a compare with a precomputed 24-bit threshold, a select and a float add; they are
 * built for AVX-512, AVX2 and baseline x86-64 (same IEEE operations in the same order in
 * every clone, so results do not depend on the CPU). Products with m summed out (weff) or
 * m = 1 (RBM) go through sgemm, and so do the CD statistics: with the expectation over m
 * taken exactly, <m_ji v_i h_j> = sigmoid(a_ji + w_ji) <v_i h_j> for binary v, h (m_ji is
 * released with sigmoid(a + w v_i h_j), and v_i h_j = 1 is the only case that counts), so
 * the gradient is one (H, V) GEMM of the chains' statistics times the tables p1 and dp
 * (rbse_grad). What stays per synapse and example is the masked v-step of the (v, h, m)
 * chain (issue 20: 0.40 ns per visited synapse, the floor of the two-round hash), and per
 * synapse and batch the derived tables (vectorised exp and log, rbse_prepare).
 */
#include "rbse.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clones.h"
#include <time.h>

#include "blas.h"
#include "rbse_math.h"


#define THR_ONE 16777216.0 /* 2^24: thresholds and uniforms have 24 bits */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* CPU time: steady on a shared machine */
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* A 32-bit bijective mixer (Wellons' lowbias32 constants, "hash-prospector"). */
static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x21f0aaadu;
    x ^= x >> 15;
    x *= 0xd35a2d97u;
    x ^= x >> 15;
    return x;
}

/* Two keyed rounds: 24 uniform bits for mask counter ctr = j*V + i of one example. */
static inline int32_t mask_u24(uint32_t ctr, uint32_t k0, uint32_t k1) {
    return (int32_t)(mix32(mix32(ctr ^ k0) + k1) >> 8);
}

/* Per-example first key word: distinct examples get distinct, well-mixed keys. */
static inline uint32_t example_key(uint64_t key, int b) {
    return mix32((uint32_t)key ^ ((uint32_t)b * 0x9e3779b9u));
}

static inline uint32_t thr_of(float p) { return (uint32_t)((double)p * THR_ONE + 0.5); }

int rbse_create(Rbse *m, int n_v, int n_h, int rbm, float *w, float *a, float *b, float *c) {
    memset(m, 0, sizeof *m);
    m->n_v = n_v, m->n_h = n_h, m->rbm = rbm;
    m->w = w, m->a = a, m->b = b, m->c = c;
    m->h_tables = 1;
    if (rbm) return 0;
    size_t n = (size_t)n_v * n_h;
    m->weff = malloc(n * sizeof(float));
    m->p1 = malloc(n * sizeof(float));
    m->dp = malloc(n * sizeof(float));
    m->wT = malloc(n * sizeof(float));
    m->t0 = malloc(n * sizeof(uint32_t));
    m->t1 = malloc(n * sizeof(uint32_t));
    m->t0T = malloc(n * sizeof(uint32_t));
    m->t1T = malloc(n * sizeof(uint32_t));
    if (!m->weff || !m->p1 || !m->dp || !m->wT || !m->t0 || !m->t1 || !m->t0T || !m->t1T)
        goto fail;
    return 0;
fail:
    rbse_free(m);
    return -1;
}

void rbse_free(Rbse *m) {
    if (!m) return;
    free(m->weff), free(m->p1), free(m->dp), free(m->wT);
    free(m->t0), free(m->t1), free(m->t0T), free(m->t1T);
    m->weff = m->p1 = m->dp = m->wT = NULL;
    m->t0 = m->t1 = m->t0T = m->t1T = NULL;
}

void rbse_init_params(Rbse *m, float p_init, float w_std, Rng *r) {
    size_t n = (size_t)m->n_v * m->n_h;
    for (size_t k = 0; k < n; k++) m->w[k] = w_std * (float)rng_normal(r);
    if (!m->rbm) {
        float a0 = p_init >= 1.0f ? RBSE_A_ALWAYS : logf(p_init / (1.0f - p_init));
        for (size_t k = 0; k < n; k++) m->a[k] = a0;
    }
    memset(m->b, 0, (size_t)m->n_v * sizeof(float));
    memset(m->c, 0, (size_t)m->n_h * sizeof(float));
    rbse_prepare(m);
}

float rbse_expf_nonpos(float x) { return exp_nonpos(x); }
float rbse_logf_half2(float q) { return log_half2(q); }

/* weff, p1, dp, t0, t1 of n synapses (a, w): the derived tables' elementwise part. */
MULTIVERSION
static void prepare_span(size_t n, const float *restrict a_, const float *restrict w_,
                         float *restrict weff, float *restrict p1_, float *restrict dp,
                         uint32_t *restrict t0, uint32_t *restrict t1) {
    for (size_t k = 0; k < n; k++) {
        float a = a_[k], w = w_[k], aw = a + w;
        /* softplus(x) = max(x, 0) + log(1 + exp(-|x|)); the max parts differ by exactly
         * w in double when a, a + w >= 0, and the logs cancel once 1 + e rounds to 1, so
         * weff = w bit for bit when p rounds to 1 */
        float e0 = exp_nonpos(-fabsf(a)), e1 = exp_nonpos(-fabsf(aw));
        double awd = (double)a + (double)w;
        double d = (awd > 0 ? awd : 0.0) - (a > 0 ? (double)a : 0.0);
        weff[k] = (float)(d + (double)log_half2((1.0f + e1) / (1.0f + e0)));
        float p0 = (a >= 0 ? 1.0f : e0) / (1.0f + e0);
        float p1 = (aw >= 0 ? 1.0f : e1) / (1.0f + e1);
        p1_[k] = p1;
        dp[k] = p1 - p0;
        t0[k] = thr_of(p0);
        t1[k] = thr_of(p1);
    }
}

void rbse_prepare(Rbse *m) {
    if (m->rbm) return;
    int V = m->n_v, H = m->n_h;
    prepare_span((size_t)V * H, m->a, m->w, m->weff, m->p1, m->dp, m->t0, m->t1);
    if (!m->h_tables) return;
    enum { TILE = 32 }; /* transposes in cache-sized tiles */
    for (int j0 = 0; j0 < H; j0 += TILE)
        for (int i0 = 0; i0 < V; i0 += TILE)
            for (int i = i0; i < V && i < i0 + TILE; i++)
                for (int j = j0; j < H && j < j0 + TILE; j++) {
                    size_t k = (size_t)j * V + i, kt = (size_t)i * H + j;
                    m->wT[kt] = m->w[k];
                    m->t0T[kt] = m->t0[k];
                    m->t1T[kt] = m->t1[k];
                }
}

/* ---- explicit masks: reference loops ---- */

void rbse_sample_masks(const Rbse *m, int B, const float *v, const float *h, uint64_t key,
                       uint8_t *masks) {
    int V = m->n_v, H = m->n_h;
    uint32_t k1 = (uint32_t)(key >> 32);
    for (int b = 0; b < B; b++) {
        uint32_t k0 = example_key(key, b);
        for (int j = 0; j < H; j++)
            for (int i = 0; i < V; i++) {
                size_t k = (size_t)j * V + i;
                int on = v[(size_t)b * V + i] > 0.5f && h[(size_t)b * H + j] > 0.5f;
                uint32_t thr = on ? m->t1[k] : m->t0[k];
                masks[((size_t)b * H + j) * V + i] = mask_u24((uint32_t)k, k0, k1) < (int32_t)thr;
            }
    }
}

void rbse_h_given_vm(const Rbse *m, int B, const float *v, const uint8_t *masks, float *hprob) {
    int V = m->n_v, H = m->n_h;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            float acc = m->c[j]; /* c_j + sum_i v_i m_ji w_ji, i ascending */
            for (int i = 0; i < V; i++) {
                float mk = masks ? (float)masks[((size_t)b * H + j) * V + i] : 1.0f;
                acc += v[(size_t)b * V + i] * mk * m->w[(size_t)j * V + i];
            }
            hprob[(size_t)b * H + j] = sigm(acc);
        }
}

void rbse_v_given_hm(const Rbse *m, int B, const float *h, const uint8_t *masks, float *vprob) {
    int V = m->n_v, H = m->n_h;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < V; i++) {
            float acc = m->b[i]; /* b_i + sum_j h_j m_ji w_ji, j ascending */
            for (int j = 0; j < H; j++) {
                float mk = masks ? (float)masks[((size_t)b * H + j) * V + i] : 1.0f;
                acc += h[(size_t)b * H + j] * mk * m->w[(size_t)j * V + i];
            }
            vprob[(size_t)b * V + i] = sigm(acc);
        }
}

/* ---- fused kernels ---- */

/* acc (V) += released w_j. over i: m_ji = [u < t0 + (t1 - t0) & on_i], on_i = [v_old_i] */
MULTIVERSION
static void vstep_row(int V, uint32_t base, uint32_t k0, uint32_t k1, const float *restrict w,
                      const uint32_t *restrict t0, const uint32_t *restrict t1,
                      const float *restrict v_old, float *restrict acc) {
    for (int i = 0; i < V; i++) {
        uint32_t on = -(uint32_t)(v_old[i] > 0.5f);
        int32_t thr = (int32_t)(t0[i] + ((t1[i] - t0[i]) & on));
        int32_t u = mask_u24(base + (uint32_t)i, k0, k1);
        acc[i] += u < thr ? w[i] : 0.0f;
    }
}

/* acc (H) += released w_.i over j: counter j*V + i, m_ji = [u < t0 + (t1 - t0) & on_j] */
MULTIVERSION
static void hstep_col(int H, uint32_t V, uint32_t i, uint32_t k0, uint32_t k1,
                      const float *restrict wT, const uint32_t *restrict t0T,
                      const uint32_t *restrict t1T, const float *restrict h_old,
                      float *restrict acc) {
    if (!h_old) { /* every h_old_j = 0: m_ji ~ Bernoulli(sigmoid(a_ji)) */
        for (int j = 0; j < H; j++) {
            int32_t u = mask_u24((uint32_t)j * V + i, k0, k1);
            acc[j] += u < (int32_t)t0T[j] ? wT[j] : 0.0f;
        }
        return;
    }
    for (int j = 0; j < H; j++) {
        uint32_t on = -(uint32_t)(h_old[j] > 0.5f);
        int32_t thr = (int32_t)(t0T[j] + ((t1T[j] - t0T[j]) & on));
        int32_t u = mask_u24((uint32_t)j * V + i, k0, k1);
        acc[j] += u < thr ? wT[j] : 0.0f;
    }
}

static void add_bias_sigmoid(int B, int n, const float *bias, float *x) {
    for (int b = 0; b < B; b++)
        for (int k = 0; k < n; k++) x[(size_t)b * n + k] = sigm(x[(size_t)b * n + k] + bias[k]);
}

void rbse_h_step(const Rbse *m, int B, const float *v, const float *h_old, uint64_t key,
                 float *hprob) {
    int V = m->n_v, H = m->n_h;
    if (m->rbm) {
        sgemm(0, 1, B, H, V, 1.0f, v, m->w, 0.0f, hprob); /* (B,H) <- v W^T */
        add_bias_sigmoid(B, H, m->c, hprob);
        return;
    }
    assert(m->h_tables);
    uint32_t k1 = (uint32_t)(key >> 32);
    for (int b = 0; b < B; b++) {
        float *acc = hprob + (size_t)b * H;
        const float *vb = v + (size_t)b * V, *hb = h_old ? h_old + (size_t)b * H : NULL;
        uint32_t k0 = example_key(key, b);
        memcpy(acc, m->c, (size_t)H * sizeof(float));
        for (int i = 0; i < V; i++) {
            if (vb[i] <= 0.5f) continue; /* v_i = 0: no term, masks unobserved */
            size_t o = (size_t)i * H;
            hstep_col(H, (uint32_t)V, (uint32_t)i, k0, k1, m->wT + o, m->t0T + o, m->t1T + o, hb,
                      acc);
        }
        for (int j = 0; j < H; j++) acc[j] = sigm(acc[j]);
    }
}

void rbse_v_step(const Rbse *m, int B, const float *h, const float *v_old, uint64_t key,
                 float *vprob) {
    int V = m->n_v, H = m->n_h;
    if (m->rbm) {
        sgemm(0, 0, B, V, H, 1.0f, h, m->w, 0.0f, vprob); /* (B,V) <- h W */
        add_bias_sigmoid(B, V, m->b, vprob);
        return;
    }
    /* Rows in blocks of RB (RB x V of w, t0, t1: 300 KB, stays in L2) across the batch; each
     * acc_bi still adds its terms in ascending j, so the sums are those of a row-by-row pass */
    enum { RB = 32 };
    uint32_t k1 = (uint32_t)(key >> 32);
    for (int b = 0; b < B; b++) memcpy(vprob + (size_t)b * V, m->b, (size_t)V * sizeof(float));
    for (int j0 = 0; j0 < H; j0 += RB)
        for (int b = 0; b < B; b++) {
            float *acc = vprob + (size_t)b * V;
            const float *hb = h + (size_t)b * H, *vb = v_old + (size_t)b * V;
            uint32_t k0 = example_key(key, b);
            for (int j = j0; j < H && j < j0 + RB; j++) {
                if (hb[j] <= 0.5f) continue; /* h_j = 0: no term, masks unobserved */
                size_t o = (size_t)j * V;
                vstep_row(V, (uint32_t)o, k0, k1, m->w + o, m->t0 + o, m->t1 + o, vb, acc);
            }
        }
    for (size_t q = 0; q < (size_t)B * V; q++) vprob[q] = sigm(vprob[q]);
}

void rbse_h_marginal(const Rbse *m, int B, const float *v, float *hprob) {
    /* (B,H) <- v weff^T: P(h | v) with m summed out */
    sgemm(0, 1, B, m->n_h, m->n_v, 1.0f, v, m->rbm ? m->w : m->weff, 0.0f, hprob);
    add_bias_sigmoid(B, m->n_h, m->c, hprob);
}

void rbse_v_marginal(const Rbse *m, int B, const float *h, float *vprob) {
    /* (B,V) <- h weff: P(v | h) with m summed out */
    sgemm(0, 0, B, m->n_v, m->n_h, 1.0f, h, m->rbm ? m->w : m->weff, 0.0f, vprob);
    add_bias_sigmoid(B, m->n_v, m->b, vprob);
}

void rbse_bernoulli(Rng *r, int n, const float *p, float *x) {
    for (int k = 0; k < n; k++) x[k] = rng_uniform(r) < (double)p[k] ? 1.0f : 0.0f;
}

/* ---- learning ---- */

int rbse_chain_create(RbseChain *ch, const Rbse *m, int n, uint64_t seed) {
    memset(ch, 0, sizeof *ch);
    ch->n = n;
    rng_seed(&ch->units, seed, RBSE_STREAM_UNITS);
    rng_seed(&ch->masks, seed, RBSE_STREAM_MASKS);
    size_t V = (size_t)m->n_v, H = (size_t)m->n_h;
    ch->v = malloc((size_t)n * V * sizeof(float));
    ch->vp = malloc((size_t)n * V * sizeof(float));
    ch->h = malloc((size_t)n * H * sizeof(float));
    ch->hd = malloc((size_t)n * H * sizeof(float));
    ch->hm = malloc((size_t)n * H * sizeof(float));
    ch->hp = malloc((size_t)n * H * sizeof(float));
    ch->g = malloc(V * H * sizeof(float));
    if (!ch->v || !ch->vp || !ch->h || !ch->hd || !ch->hm || !ch->hp || !ch->g) goto fail;
    return 0;
fail:
    rbse_chain_free(ch);
    return -1;
}

void rbse_chain_free(RbseChain *ch) {
    if (!ch) return;
    free(ch->v), free(ch->vp), free(ch->h), free(ch->hd), free(ch->hm), free(ch->hp);
    free(ch->g);
    ch->v = ch->vp = ch->h = ch->hd = ch->hm = ch->hp = ch->g = NULL;
}

static uint64_t mask_key(const Rbse *m, RbseChain *ch) {
    return m->rbm ? 0 : rng_u64(&ch->masks);
}

void rbse_grad(const Rbse *m, RbseChain *ch, int B, const float *v0, int k, int persistent,
               float *dw, float *da, float *db, float *dc) {
    int V = m->n_v, H = m->n_h;
    double t0 = now_s(), t1;
    /* data term: P(h | v0), m summed out */
    rbse_h_marginal(m, B, v0, ch->hd);
    if (!persistent || !ch->started) {
        memcpy(ch->v, v0, (size_t)B * V * sizeof(float));
        rbse_bernoulli(&ch->units, B * H, ch->hd, ch->h);
    }
    t1 = now_s(), ch->t[RBSE_T_HDATA] += t1 - t0, t0 = t1;
    for (int s = 1; s <= k; s++) {
        /* m ~ P(m | v, h); v ~ P(v | h, m) (collapsed: v ~ P(v | h)) */
        if (m->collapsed) rbse_v_marginal(m, B, ch->h, ch->vp);
        else rbse_v_step(m, B, ch->h, ch->v, mask_key(m, ch), ch->vp);
        rbse_bernoulli(&ch->units, B * V, ch->vp, ch->v);
        t1 = now_s(), ch->t[RBSE_T_VSTEP] += t1 - t0, t0 = t1;
        if (s == k) break;
        /* m ~ P(m | v, h); h ~ P(h | v, m) */
        if (m->collapsed) rbse_h_marginal(m, B, ch->v, ch->hp);
        else rbse_h_step(m, B, ch->v, ch->h, mask_key(m, ch), ch->hp);
        rbse_bernoulli(&ch->units, B * H, ch->hp, ch->h);
        t1 = now_s(), ch->t[RBSE_T_HSTEP] += t1 - t0, t0 = t1;
    }
    /* model term: P(h | v_k), m summed out; a persistent chain keeps h ~ P(h | v_k) */
    rbse_h_marginal(m, B, ch->v, ch->hm);
    if (persistent) {
        rbse_bernoulli(&ch->units, B * H, ch->hm, ch->h);
        ch->started = 1;
    }
    t1 = now_s(), ch->t[RBSE_T_HMODEL] += t1 - t0, t0 = t1;
    /* G (H,V) <- (hm^T v - hd^T v0) / B */
    float inv = 1.0f / (float)B;
    sgemm(1, 0, H, V, B, inv, ch->hm, ch->v, 0.0f, ch->g);
    sgemm(1, 0, H, V, B, -inv, ch->hd, v0, 1.0f, ch->g);
    size_t n = (size_t)H * V;
    if (m->rbm) {
        for (size_t q = 0; q < n; q++) dw[q] += ch->g[q];
    } else {
        for (size_t q = 0; q < n; q++) dw[q] += m->p1[q] * ch->g[q];
        for (size_t q = 0; q < n; q++) da[q] += m->dp[q] * ch->g[q];
    }
    for (int i = 0; i < V; i++) {
        double s = 0;
        for (int b = 0; b < B; b++) s += (double)ch->v[(size_t)b * V + i] - v0[(size_t)b * V + i];
        db[i] += (float)(s / B);
    }
    for (int j = 0; j < H; j++) {
        double s = 0;
        for (int b = 0; b < B; b++) s += (double)ch->hm[(size_t)b * H + j] - ch->hd[(size_t)b * H + j];
        dc[j] += (float)(s / B);
    }
    ch->t[RBSE_T_GRAD] += now_s() - t0;
}

/* ---- data and statistics ---- */

void rbse_binarize(const float *x, long n, float threshold, Rng *r, float *out) {
    for (long k = 0; k < n; k++)
        out[k] = r ? (rng_uniform(r) < (double)x[k] ? 1.0f : 0.0f) : (x[k] > threshold ? 1.0f : 0.0f);
}

void rbse_features(const Rbse *m, int n, const float *v, int S, Rng *r, float *feat) {
    int V = m->n_v, H = m->n_h;
    if (m->rbm) {
        rbse_h_marginal(m, n, v, feat);
        return;
    }
    for (int q = 0; q < n; q++)
        for (int s = 0; s < S; s++)
            rbse_h_step(m, 1, v + (size_t)q * V, NULL, rng_u64(r), feat + ((size_t)q * S + s) * H);
}

void rbse_features_mode(const Rbse *m, int n, const float *v, int S, int mode, Rng *r, float *work,
                        float *feat) {
    int V = m->n_v, H = m->n_h;
    if (m->rbm || mode == RBSE_FEAT_PRIOR) {
        rbse_features(m, n, v, S, r, feat);
        return;
    }
    for (int q = 0; q < n; q++) {
        const float *vq = v + (size_t)q * V;
        float *fq = feat + (size_t)q * S * H;
        rbse_h_marginal(m, 1, vq, mode == RBSE_FEAT_EXACT ? fq : work);
        for (int s = 0; s < S; s++) {
            if (mode == RBSE_FEAT_EXACT) {
                if (s) memcpy(fq + (size_t)s * H, fq, (size_t)H * sizeof(float));
                continue;
            }
            rbse_bernoulli(r, H, work, work + H); /* h ~ P(h | v) */
            rbse_h_step(m, 1, vq, work + H, rng_u64(r), fq + (size_t)s * H); /* m ~ P(m | v, h) */
        }
    }
}

double rbse_recon_error(const Rbse *m, RbseChain *ch, int B, const float *v, double *ce) {
    int V = m->n_v, H = m->n_h;
    rbse_h_marginal(m, B, v, ch->hd);
    rbse_bernoulli(&ch->units, B * H, ch->hd, ch->hp);
    rbse_v_step(m, B, ch->hp, v, mask_key(m, ch), ch->vp);
    double se = 0, xe = 0;
    for (size_t q = 0; q < (size_t)B * V; q++) {
        double p = ch->vp[q], x = v[q];
        se += (x - p) * (x - p);
        p = p < 1e-7 ? 1e-7 : p > 1 - 1e-7 ? 1 - 1e-7 : p;
        xe -= x * log(p) + (1 - x) * log(1 - p);
    }
    double nvals = (double)B * V;
    if (ce) *ce = xe / nvals;
    return se / nvals;
}

double rbse_mean_release(const Rbse *m) {
    if (m->rbm) return 1.0;
    size_t n = (size_t)m->n_v * m->n_h;
    double s = 0;
    for (size_t k = 0; k < n; k++) s += sigm(m->a[k]);
    return s / (double)n;
}

void rbse_release_hist(const Rbse *m, int n_bins, float *frac) {
    size_t n = (size_t)m->n_v * m->n_h;
    memset(frac, 0, (size_t)n_bins * sizeof(float));
    if (m->rbm) {
        frac[n_bins - 1] = 1.0f;
        return;
    }
    assert(n < (1u << 24)); /* float counts stay exact */
    for (size_t k = 0; k < n; k++) {
        int bin = (int)(sigm(m->a[k]) * (float)n_bins);
        frac[bin < 0 ? 0 : bin >= n_bins ? n_bins - 1 : bin] += 1.0f;
    }
    for (int q = 0; q < n_bins; q++) frac[q] = (float)(frac[q] / (double)n);
}

double rbse_weight_release_corr(const Rbse *m) {
    if (m->rbm) return NAN;
    size_t n = (size_t)m->n_v * m->n_h;
    double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0; /* two passes: means, then moments */
    for (size_t k = 0; k < n; k++) mx += fabsf(m->w[k]), my += sigm(m->a[k]);
    mx /= (double)n, my /= (double)n;
    for (size_t k = 0; k < n; k++) {
        double x = fabsf(m->w[k]) - mx, y = sigm(m->a[k]) - my;
        sxx += x * x, syy += y * y, sxy += x * y;
    }
    if (!(sxx > 0) || !(syy > 0)) return NAN;
    return sxy / sqrt(sxx * syy);
}
