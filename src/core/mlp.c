/*
 * mlp.c: kernels and the MLP. FA after Lillicrap et al. 2016: the backward pass through
 * layer l uses a fixed random F_l in place of W_l. DFA after Nokland 2016: the output error
 * e (B,C) reaches hidden layer l directly as e * F_l, F_l (C, O_l).
 */
#include "mlp.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "dist.h"

void dense_forward(float *out, const float *inp, const float *W, const float *b, int B, int I,
                   int O) {
    for (int r = 0; r < B; r++) memcpy(out + (size_t)r * O, b, (size_t)O * sizeof(float));
    /* out <- inp * W^T + out */
    sgemm(0, 1, B, O, I, 1.0f, inp, W, 1.0f, out);
}

void dense_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                    const float *F, int B, int I, int O) {
    /* dW <- dout^T * inp + dW */
    if (dW) sgemm(1, 0, O, I, B, 1.0f, dout, inp, 1.0f, dW);
    for (int r = 0; r < B; r++) {
        const float *d = dout + (size_t)r * O;
        for (int o = 0; o < O; o++) db[o] += d[o];
    }
    /* dinp <- dout * F */
    if (dinp) sgemm(0, 0, B, I, O, 1.0f, dout, F, 0.0f, dinp);
}

void relu_forward(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(float *d, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = out[i] > 0.0f ? d[i] : 0.0f;
}

double softmax_ce_forward(float *probs, const float *logits, const uint8_t *labels, int B, int C,
                          long *correct) {
    double loss = 0.0;
    for (int r = 0; r < B; r++) {
        const float *z = logits + (size_t)r * C;
        float *p = probs + (size_t)r * C;
        int arg = 0;
        float mx = z[0];
        for (int c = 1; c < C; c++)
            if (z[c] > mx) mx = z[c], arg = c;
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += (p[c] = expf(z[c] - mx));
        float inv = (float)(1.0 / sum);
        for (int c = 0; c < C; c++) p[c] *= inv;
        /* -log softmax_y = log(sum) - (z_y - mx), stable even when p_y underflows */
        loss += log(sum) - (double)(z[labels[r]] - mx);
        if (correct && arg == labels[r]) (*correct)++;
    }
    return loss / B;
}

void softmax_ce_backward(float *dlogits, const float *probs, const uint8_t *labels, int B, int C) {
    float invB = 1.0f / B;
    for (int r = 0; r < B; r++) {
        for (int c = 0; c < C; c++)
            dlogits[(size_t)r * C + c] = probs[(size_t)r * C + c] * invB;
        dlogits[(size_t)r * C + labels[r]] -= invB;
    }
}

void mlp_free(Mlp *m) {
    if (m->owns) {
        free(m->params);
        free(m->grads);
        free(m->fb);
    }
    for (int l = 1; l <= MLP_MAX_LAYERS; l++) free(m->act[l]);
    free(m->probs);
    free(m->d0);
    free(m->d1);
    free(m->dinp);
    free(m->wt), free(m->bpad), free(m->dwt), free(m->dpad), free(m->csc_start), free(m->csc_row);
    free(m->csc_val);
    memset(m, 0, sizeof(*m));
}

int mlp_declare(TensorList *tl, const int *sizes, int n_sizes, FeedbackRule rule, int need_dinput) {
    int L = n_sizes - 1, C = sizes[L];
    char name[16];
    /* the order of mlp_create_in's pointers: W_l, b_l (params), F_l (feedback), then Fin */
    for (int l = 0; l < L; l++) {
        int w[2] = {sizes[l + 1], sizes[l]}, fd[2] = {C, sizes[l + 1]};
        snprintf(name, sizeof name, "W%d", l);
        if (tensors_add(tl, name, 2, w, 0) < 0) return -1;
        snprintf(name, sizeof name, "b%d", l);
        if (tensors_add(tl, name, 1, w, 0) < 0) return -1;
        snprintf(name, sizeof name, "B%d", l);
        if (rule == RULE_FA && (l >= 1 || need_dinput) && tensors_add(tl, name, 2, w, 1) < 0) return -1;
        if (rule == RULE_DFA && l < L - 1 && tensors_add(tl, name, 2, fd, 1) < 0) return -1;
    }
    int fin[2] = {C, sizes[0]};
    if (rule == RULE_DFA && need_dinput && tensors_add(tl, "Bin", 2, fin, 1) < 0) return -1;
    return 0;
}

int mlp_create(Mlp *m, const int *sizes, int n_sizes, FeedbackRule rule, int max_batch,
               int need_dinput) {
    return mlp_create_in(m, sizes, n_sizes, rule, max_batch, need_dinput, NULL, NULL, NULL);
}

int mlp_create_in(Mlp *m, const int *sizes, int n_sizes, FeedbackRule rule, int max_batch,
                  int need_dinput, float *params, float *grads, float *fb) {
    memset(m, 0, sizeof(*m));
    m->need_dinput = need_dinput;
    int L = n_sizes - 1;
    if (L < 1 || L > MLP_MAX_LAYERS || max_batch < 1) return -1;
    m->n_layers = L;
    m->rule = rule;
    m->max_batch = max_batch;
    int widest = 0;
    for (int i = 0; i <= L; i++) {
        if (sizes[i] < 1) return -1;
        m->sizes[i] = sizes[i];
        if (sizes[i] > widest) widest = sizes[i];
    }
    int C = sizes[L];
    size_t n = 0, nfb = 0;
    for (int l = 0; l < L; l++) {
        n += (size_t)sizes[l + 1] * sizes[l] + sizes[l + 1];
        if (rule == RULE_FA && (l >= 1 || need_dinput)) nfb += (size_t)sizes[l + 1] * sizes[l];
        if (rule == RULE_DFA && l < L - 1) nfb += (size_t)C * sizes[l + 1];
    }
    if (rule == RULE_DFA && need_dinput) nfb += (size_t)C * sizes[0];
    m->n_params = n;
    m->n_fb = nfb;
    m->owns = params == NULL;
    m->params = m->owns ? calloc(n, sizeof(float)) : params;
    m->grads = m->owns ? calloc(n, sizeof(float)) : grads;
    m->fb = !nfb ? NULL : m->owns ? calloc(nfb, sizeof(float)) : fb;
    m->probs = calloc((size_t)max_batch * C, sizeof(float));
    m->d0 = calloc((size_t)max_batch * widest, sizeof(float));
    m->d1 = calloc((size_t)max_batch * widest, sizeof(float));
    m->dinp = need_dinput ? calloc((size_t)max_batch * sizes[0], sizeof(float)) : NULL;
    if (!m->params || !m->grads || (nfb && !m->fb) || !m->probs || !m->d0 || !m->d1 ||
        (need_dinput && !m->dinp))
        goto fail;
    float *p = m->params, *g = m->grads, *f = m->fb;
    for (int l = 0; l < L; l++) {
        size_t nw = (size_t)sizes[l + 1] * sizes[l];
        m->W[l] = p, m->dW[l] = g, p += nw, g += nw;
        m->b[l] = p, m->db[l] = g, p += sizes[l + 1], g += sizes[l + 1];
        if (rule == RULE_FA && (l >= 1 || need_dinput)) m->F[l] = f, f += nw;
        if (rule == RULE_DFA && l < L - 1) m->F[l] = f, f += (size_t)C * sizes[l + 1];
        if (!(m->act[l + 1] = calloc((size_t)max_batch * sizes[l + 1], sizeof(float)))) goto fail;
    }
    if (rule == RULE_DFA && need_dinput) m->Fin = f;
    return 0;
fail:
    mlp_free(m);
    return -1;
}

int mlp_init(Mlp *m, const DistParams *init, const DistParams *fb, uint64_t seed) {
    Rng ri, rf;
    rng_seed(&ri, seed, RNG_STREAM_INIT);
    rng_seed(&rf, seed, RNG_STREAM_FEEDBACK);
    int C = m->sizes[m->n_layers];
    for (int l = 0; l < m->n_layers; l++) {
        int O = m->sizes[l + 1], I = m->sizes[l];
        if (dist_fill(init, m->W[l], O, I, &ri)) return -1;
        memset(m->b[l], 0, (size_t)O * sizeof(float));
        /* PyTorch's nn.Linear also draws its bias, U(+-1/sqrt(fan_in)), after the weights */
        if (!strcmp(init->name, "pytorch"))
            for (int o = 0; o < O; o++)
                m->b[l][o] = (float)(init->scale / sqrt((double)I) * (2.0 * rng_uniform(&ri) - 1.0));
        /* F_l is drawn with the fan-in of the matrix it stands in for */
        if (m->rule == RULE_FA && m->F[l] && dist_fill(fb, m->F[l], O, I, &rf)) return -1;
        if (m->rule == RULE_DFA && m->F[l] && dist_fill(fb, m->F[l], C, O, &rf)) return -1;
    }
    if (m->Fin && dist_fill(fb, m->Fin, C, m->sizes[0], &rf)) return -1;
    return 0;
}

void mlp_zero_grad(Mlp *m) { memset(m->grads, 0, m->n_params * sizeof(float)); }

int mlp_sparse_prepare(Mlp *m, long max_batch_nnz) {
    if (m->wt) return 0;
    size_t I = (size_t)m->sizes[0], Op = (size_t)sparse_width(m->sizes[1]), B = (size_t)m->max_batch;
    size_t nz = max_batch_nnz > 0 ? (size_t)max_batch_nnz : 1;
    if (max_batch_nnz > INT_MAX) return -1; /* sparse_grad_w counts a batch's nonzeros in int */
    m->wt = malloc(I * Op * sizeof(float));
    m->bpad = malloc(Op * sizeof(float));
    m->dwt = malloc(SPARSE_COLS * Op * sizeof(float));
    m->dpad = malloc(B * Op * sizeof(float));
    m->csc_start = malloc((I + 1) * sizeof(int));
    m->csc_row = malloc(nz * sizeof(int));
    m->csc_val = malloc(nz * sizeof(float));
    if (m->wt && m->bpad && m->dwt && m->dpad && m->csc_start && m->csc_row && m->csc_val) return 0;
    free(m->wt), free(m->bpad), free(m->dwt), free(m->dpad), free(m->csc_start), free(m->csc_row);
    free(m->csc_val);
    m->wt = m->bpad = m->dwt = m->dpad = m->csc_val = NULL, m->csc_start = m->csc_row = NULL;
    return -1;
}

double mlp_forward(Mlp *m, const float *x, const uint8_t *labels, int B, long *correct) {
    int L = m->n_layers;
    m->act[0] = (float *)x;
    /* the driver prepares the buffers (mlp_sparse_prepare); a caller that did not gets them
     * for the worst batch here */
    int made = m->in.sp && !m->wt;
    if (made && mlp_sparse_prepare(m, (long)m->max_batch * m->sizes[0])) return NAN;
    for (int l = 0; l < L; l++) {
        if (l == 0 && m->in.sp) {
            if (made || m->in.rows || m->in.row0 == 0) sparse_transpose(m->wt, m->bpad, m->W[0], m->b[0], m->sizes[1], m->sizes[0]);
            sparse_forward(m->act[1], &m->in, m->wt, m->bpad, B, m->sizes[1]);
        } else
            dense_forward(m->act[l + 1], m->act[l], m->W[l], m->b[l], B, m->sizes[l], m->sizes[l + 1]);
        if (l < L - 1) relu_forward(m->act[l + 1], (size_t)B * m->sizes[l + 1]);
    }
    return softmax_ce_forward(m->probs, m->act[L], labels, B, m->sizes[L], correct);
}

/* dense_backward of layer l, by the nonzeros of the input rows when layer 0 has them. */
static void layer_backward(Mlp *m, int l, float *dinp, const float *dout, const float *F, int B) {
    int I = m->sizes[l], O = m->sizes[l + 1];
    if (l > 0 || !m->in.sp) {
        dense_backward(dinp, m->dW[l], m->db[l], dout, m->act[l], F, B, I, O);
        return;
    }
    if (!m->wt) return; /* no buffers: mlp_forward returned NaN for this batch */
    sparse_grad_w(m->dW[0], dout, &m->in, B, I, O, m->csc_start, m->csc_row, m->csc_val, m->dwt, m->dpad);
    dense_backward(dinp, NULL, m->db[0], dout, NULL, F, B, I, O);
}

/* The fused optimiser step of layer l (W_l and b_l are adjacent in params). */
static void layer_step(Mlp *m, int l) {
    if (!m->opt) return;
    size_t off = (size_t)(m->W[l] - m->params), n = (size_t)m->sizes[l + 1] * (m->sizes[l] + 1);
    optim_update(m->opt, m->W[l], m->dW[l], m->opt_off + off, n);
}

void mlp_backward(Mlp *m, const uint8_t *labels, int B) {
    int L = m->n_layers, C = m->sizes[L];
    float *d = m->d0, *dnext = m->d1;
    softmax_ce_backward(d, m->probs, labels, B, C);
    if (m->rule == RULE_DFA) {
        float *e = m->d1; /* keep the output error; each hidden delta is built in d0 */
        memcpy(e, d, (size_t)B * C * sizeof(float));
        layer_backward(m, L - 1, NULL, e, NULL, B);
        layer_step(m, L - 1);
        for (int l = L - 2; l >= 0; l--) {
            int O = m->sizes[l + 1];
            /* delta_l <- (e * F_l) .* relu'(act[l+1]) */
            sgemm(0, 0, B, O, C, 1.0f, e, m->F[l], 0.0f, m->d0);
            relu_backward(m->d0, m->act[l + 1], (size_t)B * O);
            layer_backward(m, l, NULL, m->d0, NULL, B);
            layer_step(m, l);
        }
        /* dinput <- e * Fin */
        if (m->need_dinput) sgemm(0, 0, B, m->sizes[0], C, 1.0f, e, m->Fin, 0.0f, m->dinp);
        return;
    }
    for (int l = L - 1; l >= 0; l--) {
        int I = m->sizes[l];
        const float *F = m->rule == RULE_BP ? m->W[l] : m->F[l];
        /* a delta for the input only when a trainable layer sits below */
        float *dprev = l > 0 ? dnext : m->need_dinput ? m->dinp : NULL;
        layer_backward(m, l, dprev, d, F, B);
        /* after dprev: backprop's feedback is this layer's W */
        layer_step(m, l);
        if (l > 0) {
            relu_backward(dnext, m->act[l], (size_t)B * I);
            float *t = d;
            d = dnext, dnext = t;
        }
    }
}
