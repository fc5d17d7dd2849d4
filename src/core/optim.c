#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clones.h"

int optim_create(Optim *o, OptKind kind, size_t n, float lr, float beta1, float beta2, float eps,
                 float momentum, float weight_decay) {
    memset(o, 0, sizeof(*o));
    o->kind = kind, o->n = n, o->lr = lr, o->beta1 = beta1, o->beta2 = beta2, o->eps = eps;
    o->momentum = momentum, o->weight_decay = weight_decay;
    o->m = calloc(n, sizeof(float));
    o->v = kind != OPT_SGD ? calloc(n, sizeof(float)) : NULL;
    if (!o->m || (kind != OPT_SGD && !o->v)) {
        optim_free(o);
        return -1;
    }
    return 0;
}

void optim_free(Optim *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

void optim_reset(Optim *o) {
    o->t = 0;
    memset(o->m, 0, o->n * sizeof(float));
    if (o->v) memset(o->v, 0, o->n * sizeof(float));
}

void optim_begin(Optim *o) {
    o->t++;
    o->c1 = (float)(1.0 / (1.0 - pow(o->beta1, (double)o->t)));
    o->c2 = (float)(1.0 / (1.0 - pow(o->beta2, (double)o->t)));
}

/* One loop over the parameters, cloned per instruction set (clones.h). */
MULTIVERSION
void optim_update(Optim *o, float *restrict p, const float *restrict g, size_t off, size_t n) {
    float *restrict m = o->m + off, *restrict v = o->v ? o->v + off : NULL;
    float lr = o->lr, wd = o->weight_decay;
    if (o->kind == OPT_SGD) {
        /* v <- mu v + (g + wd p);  p <- p - lr v  (PyTorch's SGD convention) */
        float mu = o->momentum;
        for (size_t i = 0; i < n; i++) {
            m[i] = mu * m[i] + (g[i] + wd * p[i]);
            p[i] -= lr * m[i];
        }
        return;
    }
    /* Adam, Kingma & Ba 2015, Algorithm 1, with L2 weight decay added to g:
     * m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  p <- p - lr mhat / (sqrt(vhat) + eps) */
    float b1 = o->beta1, b2 = o->beta2, eps = o->eps, c1 = o->c1, c2 = o->c2;
    if (o->kind == OPT_ADAMW) {
        /* AdamW (Loshchilov & Hutter 2019), as torch.optim.AdamW: p <- p (1 - lr wd), then
         * the Adam update of g alone (the decay does not enter the moments) */
        float decay = 1.0f - lr * wd;
        for (size_t i = 0; i < n; i++) {
            m[i] = b1 * m[i] + (1.0f - b1) * g[i];
            v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
            p[i] = p[i] * decay - lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] -= lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
    }
}

void optim_step(Optim *o, float *p, const float *g) {
    optim_begin(o);
    optim_update(o, p, g, 0, o->n);
}
