/*
 * kind_logreg: the proof that adding a model kind is its own file plus one row, with no change
 * in src/ (issue 17, item 2). The kind `logreg` (softmax regression on the pixels: an Mlp with
 * no hidden layer, trained by the common driver under the job's rule and optimiser) lives only
 * here, with a parameter (logreg_init_zero, in its area of JobSpec.ext) and a metric
 * (weight_norm, in its area of JobMetrics.ext) of its own. main registers it, then hands the
 * command line to synsweep_main: this program is synsweep with one more kind, on every rank
 * alike. tests/test_kind_logreg.sh runs a sweep of it on two MPI ranks.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "synsweep_main.h"

/* The kind's parameters: its area of JobSpec.ext (ModelKind.spec_ext bytes). */
typedef struct LogregSpec {
    int32_t init_zero;
} LogregSpec;

static const ParamDef LOGREG_PARAMS[] = {
    {"logreg_init_zero", PK_BOOL, FIELD_OF(LogregSpec, init_zero), "false", NULL, 0, 0,
     "logreg: start from zero weights and biases instead of drawing them from init", "model=logreg"},
};

/* The kind's metrics: offsets in its doubles of JobMetrics.ext (ModelKind.metrics_ext). */
enum { LOGREG_WEIGHT_NORM, LOGREG_N_METRICS };
static const MetricDef LOGREG_METRICS[] = {
    {"weight_norm", LOGREG_WEIGHT_NORM * sizeof(double), "logreg: Frobenius norm of the final weights W0 (classes, pixels)"},
};

static Mlp *lr_of(const Model *md) { return (Mlp *)md->impl; }

static int lr_build(Model *md, const JobSpec *spec, int C, int H, int W, char *err, size_t errlen) {
    const LogregSpec *p = model_spec_ext(md->kind, spec);
    Mlp *m = lr_of(md);
    int sizes[2] = {C * H * W, md->n_classes};
    md->in_dim = sizes[0];
    if (mlp_declare(&md->tensors, sizes, 2, md->rule->feedback, 0) || model_alloc(md) ||
        mlp_create_in(m, sizes, 2, md->rule->feedback, md->max_batch, 0, md->params, md->grads, md->fixed)) {
        snprintf(err, errlen, "logreg: out of memory building the model");
        return -1;
    }
    DistParams di, dfb;
    jobspec_dist(spec, spec->init, spec->init_scale, 0, &di);
    jobspec_dist(spec, spec->feedback, spec->feedback_scale, 0, &dfb);
    if (mlp_init(m, &di, &dfb, (uint64_t)spec->seed)) {
        snprintf(err, errlen, "logreg: init %s cannot fill the weights", spec->init);
        return -1;
    }
    /* the feedback matrices stay drawn: only the trainable buffer starts at zero */
    if (p->init_zero) memset(md->params, 0, (size_t)md->tensors.n_params * sizeof(float));
    return 0;
}

static void lr_free(Model *md) { mlp_free(lr_of(md)); }

static double lr_forward(Model *md, const float *x, const uint8_t *y, int B, int features, long *correct) {
    (void)features;
    return mlp_forward(lr_of(md), x, y, B, correct);
}

static void lr_backward(Model *md, const float *x, const uint8_t *y, int B, int features) {
    (void)x, (void)features;
    mlp_backward(lr_of(md), y, B);
}

static const Mlp *lr_head(const Model *md) { return lr_of(md); }

static void lr_final_metrics(Model *md, const Split *test, JobMetrics *jm) {
    (void)test;
    const Mlp *m = lr_of(md);
    double ss = 0.0;
    for (size_t i = 0; i < (size_t)m->sizes[0] * (size_t)m->sizes[1]; i++) ss += (double)m->W[0][i] * m->W[0][i];
    model_metrics_ext(md->kind, jm)[LOGREG_WEIGHT_NORM] = sqrt(ss);
}

static const ModelKind MODEL_LOGREG = {
    .name = "logreg",
    .help = "softmax regression on the pixels (a kind registered by tests/kind_logreg.c)",
    .phases = PHASE_SUPERVISED,
    .impl_size = sizeof(Mlp),
    .build = lr_build,
    .free = lr_free,
    .forward = lr_forward,
    .backward = lr_backward,
    .head = lr_head,
    .final_metrics = lr_final_metrics,
    .params = LOGREG_PARAMS,
    .n_params = (int)(sizeof LOGREG_PARAMS / sizeof *LOGREG_PARAMS),
    .spec_ext = sizeof(LogregSpec),
    .metrics = LOGREG_METRICS,
    .n_metrics = LOGREG_N_METRICS,
    .metrics_ext = LOGREG_N_METRICS,
};

int main(int argc, char **argv) {
    if (model_kind_register(&MODEL_LOGREG)) {
        fprintf(stderr, "kind_logreg: %s\n", model_registry_error());
        return 1;
    }
    return synsweep_main(argc, argv);
}
