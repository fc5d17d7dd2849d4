#include "cnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "conv.h"
#include "rng.h"

void cnn_free(Cnn *c) {
    if (c->owns) free(c->params), free(c->grads);
    free(c->arg), free(c->aarg), free(c->pooled), free(c->zero_b), free(c->dzero_b);
    free(c->col), free(c->convbuf), free(c->dpool), free(c->dconv), free(c->pooltmp);
    memset(c, 0, sizeof(*c));
}

int cnn_declare(TensorList *tl, int C, int N, int K, int bias, int trainable) {
    int w[4] = {N, C, K, K};
    return tensors_add(tl, "conv_W", 4, w, !trainable) < 0 || (bias && tensors_add(tl, "conv_b", 1, w, !trainable) < 0)
           ? -1 : 0;
}

int cnn_create(Cnn *c, int C, int H, int W, int N, int K, int pad, int adapt, int trainable,
               int max_batch) {
    return cnn_create_in(c, C, H, W, N, K, pad, adapt, 0, 1, trainable, max_batch, NULL, NULL);
}

int cnn_create_in(Cnn *c, int C, int H, int W, int N, int K, int pad, int adapt, int adapt_max, int bias,
                  int trainable, int max_batch, float *params, float *grads) {
    memset(c, 0, sizeof(*c));
    c->C = C, c->H = H, c->W = W, c->N = N, c->K = K, c->pad = pad, c->adapt = adapt;
    c->adapt_max = adapt && adapt_max, c->bias = bias;
    c->trainable = trainable, c->max_batch = max_batch;
    c->OH = conv_out_size(H, K, pad), c->OW = conv_out_size(W, K, pad);
    c->PH = c->OH / 2, c->PW = c->OW / 2;
    if (C < 1 || N < 1 || K < 1 || c->PH < 1 || c->PW < 1 || adapt < 0 || adapt > c->PH ||
        adapt > c->PW || max_batch < 1)
        return -1;
    c->feat_dim = N * (adapt ? adapt * adapt : c->PH * c->PW);
    size_t ckk = (size_t)C * K * K, P = (size_t)c->OH * c->OW, pooled = (size_t)N * c->PH * c->PW;
    c->n_params = (size_t)N * ckk + (bias ? N : 0);
    c->owns = params == NULL;
    c->params = c->owns ? calloc(c->n_params, sizeof(float)) : params;
    c->grads = c->owns ? calloc(c->n_params, sizeof(float)) : grads;
    /* images per conv GEMM (cnn_set_chunk). One: on OpenBLAS
     * 0.3.21 (Cooperlake kernel, 64 5x5 kernels on 28x28) one image's GEMM goes through
     * its small-matrix kernel, 25 us per image with im2col and pooling, against 29, 32
     * and 40 us for 2, 8 and 16 images per GEMM through the packed kernel. */
    c->chunk = 1;
    c->col = malloc(ckk * P * c->chunk * sizeof(float));
    c->convbuf = malloc((size_t)N * P * c->chunk * sizeof(float));
    c->pooltmp = malloc(pooled * sizeof(float));
    if (!c->params || (trainable && !c->grads) || !c->col || !c->convbuf || !c->pooltmp) goto fail;
    if (trainable) {
        c->arg = malloc((size_t)max_batch * pooled * sizeof(int));
        c->pooled = malloc((size_t)max_batch * pooled * sizeof(float));
        c->dpool = malloc(pooled * sizeof(float));
        c->dconv = malloc((size_t)N * P * sizeof(float));
        if (!c->arg || !c->pooled || !c->dpool || !c->dconv) goto fail;
        if (c->adapt_max && !(c->aarg = malloc((size_t)max_batch * c->feat_dim * sizeof(int)))) goto fail;
    }
    if (!bias && (!(c->zero_b = calloc((size_t)N, sizeof(float))) || !(c->dzero_b = calloc((size_t)N, sizeof(float)))))
        goto fail;
    c->Wc = c->params, c->bc = bias ? c->params + (size_t)N * ckk : c->zero_b;
    if (c->grads) c->dWc = c->grads, c->dbc = bias ? c->grads + (size_t)N * ckk : c->dzero_b;
    return 0;
fail:
    cnn_free(c);
    return -1;
}

int cnn_set_chunk(Cnn *c, int chunk) {
    size_t P = (size_t)c->OH * c->OW, ckk = (size_t)c->C * c->K * c->K;
    if (chunk < 1) return -1;
    float *col = realloc(c->col, ckk * P * chunk * sizeof(float));
    if (col) c->col = col;
    float *cb = col ? realloc(c->convbuf, (size_t)c->N * P * chunk * sizeof(float)) : NULL;
    if (cb) c->convbuf = cb;
    if (!col || !cb) return -1;
    c->chunk = chunk;
    return 0;
}

int cnn_init(Cnn *c, const DistParams *d, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed, RNG_STREAM_CONV);
    memset(c->bc, 0, (size_t)c->N * sizeof(float));
    int ckk = c->C * c->K * c->K;
    if (dist_fill(d, c->Wc, c->N, ckk, &r)) return -1;
    /* PyTorch's nn.Conv2d also draws its bias, U(+-1/sqrt(fan_in)), after the weights */
    if (c->bias && !strcmp(d->name, "pytorch"))
        for (int n = 0; n < c->N; n++) c->bc[n] = (float)(d->scale / sqrt((double)ckk) * (2.0 * rng_uniform(&r) - 1.0));
    return 0;
}

void cnn_zero_grad(Cnn *c) { memset(c->grads, 0, c->n_params * sizeof(float)); }

void cnn_forward(Cnn *c, const float *x, int B, float *feat) {
    size_t in = (size_t)c->C * c->H * c->W, pooled = (size_t)c->N * c->PH * c->PW;
    size_t P = (size_t)c->OH * c->OW;
    int ckk = c->C * c->K * c->K, keep = c->trainable && !c->no_grad;
    for (int b0 = 0; b0 < B; b0 += c->chunk) {
        int nb = B - b0 < c->chunk ? B - b0 : c->chunk;
        size_t ld = (size_t)nb * P;
        /* col (CKK, nb*P): image j's patches in columns [j*P, (j+1)*P) */
        for (int j = 0; j < nb; j++)
            im2col_ld(c->col + (size_t)j * P, ld, x + (size_t)(b0 + j) * in, c->C, c->H, c->W, c->K, c->pad);
        /* keeping the winners (training): the bias in every output, as conv2d_forward (the
         * max-pool winners are those of conv + bias); else (frozen, evaluation) added after
         * the max-pool: the same floats (the GEMM's beta 1 rounds W * col + b once, and
         * rounding is monotone), 1/4 the adds */
        if (keep)
            for (int n = 0; n < c->N; n++)
                for (size_t p = 0; p < ld; p++) c->convbuf[(size_t)n * ld + p] = c->bc[n];
        /* convbuf (N, nb*P) <- W * col [+ convbuf] */
        sgemm(0, 0, c->N, (int)ld, ckk, 1.0f, c->Wc, c->col, keep ? 1.0f : 0.0f, c->convbuf);
        for (int j = 0; j < nb; j++) {
            int b = b0 + j;
            float *f = feat + (size_t)b * c->feat_dim;
            /* nothing kept (frozen, or evaluation) and no adaptive pooling: straight into
             * the features, the max-pool without its winners (the same maxima) */
            float *p = keep ? c->pooled + (size_t)b * pooled : c->adapt ? c->pooltmp : f;
            maxpool2_relu_forward(p, keep ? c->arg + (size_t)b * pooled : NULL, c->convbuf + (size_t)j * P,
                                  ld, keep ? NULL : c->bc, c->N, c->OH, c->OW);
            if (c->adapt_max)
                adaptive_maxpool_forward(f, keep ? c->aarg + (size_t)b * c->feat_dim : NULL, p, c->N, c->PH,
                                         c->PW, c->adapt);
            else if (c->adapt) adaptive_avgpool_forward(f, p, c->N, c->PH, c->PW, c->adapt);
            else if (p != f) memcpy(f, p, pooled * sizeof(float));
        }
    }
}

void cnn_backward(Cnn *c, const float *x, const float *dfeat, int B) {
    size_t in = (size_t)c->C * c->H * c->W, pooled = (size_t)c->N * c->PH * c->PW;
    size_t P = (size_t)c->OH * c->OW;
    for (int b = 0; b < B; b++) {
        const float *df = dfeat + (size_t)b * c->feat_dim;
        if (c->adapt) {
            memset(c->dpool, 0, pooled * sizeof(float));
            if (c->adapt_max) adaptive_maxpool_backward(c->dpool, df, c->aarg + (size_t)b * c->feat_dim, c->N, c->adapt);
            else adaptive_avgpool_backward(c->dpool, df, c->N, c->PH, c->PW, c->adapt);
            df = c->dpool;
        }
        memset(c->dconv, 0, (size_t)c->N * P * sizeof(float));
        maxpool2_relu_backward(c->dconv, df, c->pooled + (size_t)b * pooled, c->arg + (size_t)b * pooled, c->N, c->OH,
                               c->OW);
        conv2d_backward(NULL, c->dWc, c->dbc, c->dconv, x + (size_t)b * in, c->Wc, c->col, NULL,
                        c->C, c->H, c->W, c->N, c->K, c->pad);
    }
}
