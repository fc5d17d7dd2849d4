/*
 * model_mlp.c: model kind `mlp`: flattened images -> hidden ReLU layers -> softmax, trained
 * by the job's rule (bp, fa, dfa; fa_noise adds the noise phase). The Mlp's parameters and
 * feedback matrices live in the model's buffers (mlp_declare's layout).
 */
#include <stdio.h>
#include <string.h>

#include "memest.h"
#include "model.h"

/* Shared with model_cnn.c: the FC head of in_dim inputs, declared, pointed and initialised. */
int model_head_build(Model *md, Mlp *m, const JobSpec *spec, int in_dim, int need_dinput, char *err,
                     size_t errlen);

int model_head_build(Model *md, Mlp *m, const JobSpec *spec, int in_dim, int need_dinput, char *err,
                     size_t errlen) {
    int sizes[MLP_MAX_LAYERS + 1], h[MLP_MAX_LAYERS];
    int nh = jobspec_hidden(spec, h);
    sizes[0] = in_dim;
    for (int i = 0; i < nh; i++) sizes[i + 1] = h[i];
    sizes[nh + 1] = md->n_classes;
    /* the head goes after whatever the kind declared before it (e.g. trained conv kernels) */
    int64_t p0 = md->tensors.n_params, f0 = md->tensors.n_fixed;
    if (mlp_declare(&md->tensors, sizes, nh + 2, md->rule->feedback, need_dinput)) {
        snprintf(err, errlen, "too many tensors");
        return -1;
    }
    if (model_alloc(md) || mlp_create_in(m, sizes, nh + 2, md->rule->feedback, md->max_batch, need_dinput,
                                         md->params + p0, md->grads + p0, md->fixed + f0)) {
        snprintf(err, errlen, "out of memory building the model");
        return -1;
    }
    DistParams di, dfb;
    jobspec_dist(spec, spec->init, spec->init_scale, 0, &di);
    jobspec_dist(spec, spec->feedback, spec->feedback_scale, 0, &dfb);
    if (mlp_init(m, &di, &dfb, (uint64_t)spec->seed)) {
        snprintf(err, errlen, "init %s / feedback %s cannot fill the FC layers", spec->init, spec->feedback);
        return -1;
    }
    return 0;
}

static Mlp *mlp_of(const Model *md) { return (Mlp *)md->impl; }

static int mlp_kind_build(Model *md, const JobSpec *spec, int C, int H, int W, char *err, size_t errlen) {
    md->in_dim = C * H * W;
    Mlp *m = mlp_of(md);
    if (model_head_build(md, m, spec, md->in_dim, 0, err, errlen)) return -1;
    /* the Mlp steps its layers in mlp_backward (md->opt is created after build) */
    m->opt = &md->opt, m->opt_off = 0, md->fused_step = 1;
    md->sparse_input = 1; /* layer 0 by the nonzeros of sparse images (sparse.h) */
    return 0;
}

static void mlp_kind_free(Model *md) { mlp_free(mlp_of(md)); }

static double mlp_kind_forward(Model *md, const float *x, const uint8_t *y, int B, int features, long *correct) {
    (void)features;
    mlp_of(md)->in = md->in;
    return mlp_forward(mlp_of(md), x, y, B, correct);
}

static void mlp_kind_backward(Model *md, const float *x, const uint8_t *y, int B, int features) {
    (void)x, (void)features;
    mlp_of(md)->in = md->in;
    mlp_backward(mlp_of(md), y, B);
}

static const Mlp *mlp_kind_head(const Model *md) { return mlp_of(md); }

/* Work (work.h): the head on the pixels, layer 0 by the nonzeros of sparse rows (unit-scaled
 * images sparse enough, as split_sparsify decides); noise images are dense. */
static void mlp_kind_work(const JobSpec *s, int C, int H, int W, int n_train, int n_test, Work *w) {
    int F = C * H * W;
    double dens = !strcmp(s->preprocess, "unit") ? work_pixel_density(s->dataset, 0.0) : 1.0;
    HeadWork sp, dense;
    work_head(s, F, 10, dens <= SPARSE_MAX_DENSITY ? dens : 1.0, 0, &sp);
    work_head(s, F, 10, 1.0, 0, &dense);
    JobPasses p = {.d = F, .n_train = n_train, .n_test = n_test, .fwd = &sp.fwd, .bwd = &sp.bwd,
                   .eval_fwd = &sp.fwd, .noise_fwd = &dense.fwd, .noise_bwd = &dense.bwd, .params = sp.params,
                   .stage_flops = work_head_stage_flops(s, F)};
    work_schedule(s, &p, w);
}

const ModelKind MODEL_MLP = {
    .name = "mlp",
    .help = "flattened images -> hidden ReLU layers -> softmax",
    .phases = PHASE_SUPERVISED | PHASE_NOISE,
    .impl_size = sizeof(Mlp),
    .build = mlp_kind_build,
    .free = mlp_kind_free,
    .forward = mlp_kind_forward,
    .backward = mlp_kind_backward,
    .features = NULL,
    .head = mlp_kind_head,
    .memory = memest_mlp,
    .work = mlp_kind_work,
};
