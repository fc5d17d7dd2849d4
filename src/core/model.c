/*
 * model.c: the tables of rules and optimisers, and what every kind shares: building through
 * the row, the parameter buffers, the optimiser. The kinds' registry is model_registry.c.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const RuleDef RULES[] = {
    {"bp", RULE_BP, 0, "backprop"},
    {"fa", RULE_FA, 0, "feedback alignment (Lillicrap et al. 2016)"},
    {"fa_noise", RULE_FA, 1, "FA after a random-noise pretraining phase (Cheon et al. 2024)"},
    {"dfa", RULE_DFA, 0, "direct feedback alignment (Nokland 2016)"},
    {NULL, RULE_BP, 0, NULL},
};

const OptimDef OPTIMS[] = {{"adam", OPT_ADAM}, {"sgd", OPT_SGD}, {"adamw", OPT_ADAMW}, {NULL, OPT_ADAM}};

const RuleDef *rule_find(const char *name) {
    for (int i = 0; RULES[i].name; i++)
        if (!strcmp(RULES[i].name, name)) return &RULES[i];
    return NULL;
}

const OptimDef *optim_find(const char *name) {
    for (int i = 0; OPTIMS[i].name; i++)
        if (!strcmp(OPTIMS[i].name, name)) return &OPTIMS[i];
    return NULL;
}

int model_alloc(Model *md) {
    size_t np = (size_t)md->tensors.n_params, nf = (size_t)md->tensors.n_fixed;
    md->params = calloc(np ? np : 1, sizeof(float));
    md->grads = calloc(np ? np : 1, sizeof(float));
    md->fixed = calloc(nf ? nf : 1, sizeof(float));
    return md->params && md->grads && md->fixed ? 0 : -1;
}

float *model_tensor(const Model *md, const Tensor *t) {
    return (t->fixed ? md->fixed : md->params) + t->offset;
}

double model_step(Model *md, const float *x, const uint8_t *y, int B, int features) {
    double loss = md->kind->forward(md, x, y, B, features, NULL);
    model_zero_grad(md);
    optim_begin(&md->opt);
    md->kind->backward(md, x, y, B, features);
    if (!md->fused_step) optim_update(&md->opt, md->params, md->grads, 0, md->opt.n);
    return loss;
}

int model_sparse_prepare(Model *md, long max_batch_nnz) {
    /* the kinds that take sparse rows (mlp) take them in their head's first layer */
    return md->sparse_input ? mlp_sparse_prepare((Mlp *)md->kind->head(md), max_batch_nnz) : 0;
}

void model_zero_grad(Model *md) { memset(md->grads, 0, (size_t)md->tensors.n_params * sizeof(float)); }

void model_free(Model *md) {
    if (md->kind && md->impl) md->kind->free(md);
    free(md->impl);
    free(md->params), free(md->grads), free(md->fixed);
    optim_free(&md->opt);
    memset(md, 0, sizeof(*md));
}

int model_build(Model *md, const JobSpec *spec, int C, int H, int W, int n_classes, char *err,
                size_t errlen) {
    memset(md, 0, sizeof(*md));
    const OptimDef *od = optim_find(spec->optimizer);
    md->kind = model_kind_find(spec->model);
    md->rule = rule_find(spec->rule);
    if (!md->kind || !md->rule || !od) {
        snprintf(err, errlen, "unknown %s '%s'", !md->kind ? "model" : !md->rule ? "rule" : "optimizer",
                 !md->kind ? spec->model : !md->rule ? spec->rule : spec->optimizer);
        md->kind = NULL;
        return -1;
    }
    if (md->rule->noise_phase && !(md->kind->phases & PHASE_NOISE)) {
        snprintf(err, errlen, "rule %s: model %s has no noise phase", md->rule->name, md->kind->name);
        md->kind = NULL;
        return -1;
    }
    md->n_classes = n_classes, md->max_batch = spec->batch_size, md->feat_rows = 1;
    if (!(md->impl = calloc(1, md->kind->impl_size))) goto oom;
    if (md->kind->build(md, spec, C, H, W, err, errlen)) goto fail;
    if (optim_create(&md->opt, od->kind, (size_t)md->tensors.n_params, (float)spec->lr, (float)spec->beta1,
                     (float)spec->beta2, (float)spec->eps, (float)spec->momentum, (float)spec->weight_decay))
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory building the model");
fail:
    model_free(md);
    return -1;
}
