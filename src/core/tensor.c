#include "tensor.h"

#include <stdio.h>
#include <string.h>

int64_t tensor_numel(const Tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int64_t tensors_add(TensorList *tl, const char *name, int ndim, const int *shape, int fixed) {
    if (tl->n >= TENSOR_MAX || ndim < 1 || ndim > TENSOR_MAX_DIMS || strlen(name) >= sizeof tl->t[0].name)
        return -1;
    Tensor *t = &tl->t[tl->n];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) return -1;
        t->shape[i] = shape[i];
    }
    t->fixed = fixed ? 1 : 0;
    t->learned = !t->fixed;
    int64_t *end = fixed ? &tl->n_fixed : &tl->n_params;
    t->offset = *end;
    *end += tensor_numel(t);
    tl->n++;
    return t->offset;
}

void tensors_mark_learned(TensorList *tl) {
    if (tl->n > 0) tl->t[tl->n - 1].learned = 1;
}

const Tensor *tensors_find(const TensorList *tl, const char *name) {
    for (int i = 0; i < tl->n; i++)
        if (!strcmp(tl->t[i].name, name)) return &tl->t[i];
    return NULL;
}

int tensors_check(const TensorList *tl) {
    if (tl->n < 0 || tl->n > TENSOR_MAX || tl->n_params < 0 || tl->n_fixed < 0) return -1;
    /* tensors_add lays each buffer out densely in list order: check exactly that */
    int64_t end[2] = {0, 0};
    for (int i = 0; i < tl->n; i++) {
        const Tensor *t = &tl->t[i];
        if (memchr(t->name, 0, sizeof t->name) == NULL || t->name[0] == 0) return -1;
        if (t->ndim < 1 || t->ndim > TENSOR_MAX_DIMS || (t->fixed != 0 && t->fixed != 1) ||
            (t->learned != 0 && t->learned != 1) || (!t->fixed && !t->learned))
            return -1;
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 1) return -1;
            numel *= t->shape[d];
            if (numel > ((int64_t)1 << 40)) return -1; /* no overflow below */
        }
        if (t->offset != end[t->fixed]) return -1;
        end[t->fixed] += tensor_numel(t);
        for (int j = 0; j < i; j++)
            if (!strcmp(tl->t[j].name, t->name)) return -1;
    }
    return end[0] == tl->n_params && end[1] == tl->n_fixed ? 0 : -1;
}
