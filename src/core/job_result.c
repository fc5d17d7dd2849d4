/*
 * job_result.c: the result side of a job (job.h): COMMON_METRICS, the result columns of every
 * kind (a kind's own are rows in its file, gathered into METRICS by model_registry.c); the
 * names of stages, curves and layer metrics; status names; and a JobResult as one
 * buffer of bytes, which is how it crosses MPI.
 */
#include "job.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define M(field, help) {#field, offsetof(JobMetrics, field), help}
#define MN(name, field, help) {name, offsetof(JobMetrics, field), help}
const MetricDef COMMON_METRICS[] = {
    M(train_loss, "final mean cross-entropy on the training subset"),
    M(train_acc, "final accuracy on the training subset"),
    M(test_loss, "final mean cross-entropy on the test set"),
    M(test_acc, "final accuracy on the test set"),
    M(gap_loss, "train_loss - test_loss"),
    M(gap_acc, "train_acc - test_acc"),
    M(auc_test_acc, "area under the test-accuracy-per-epoch curve / epochs"),
    M(readout_p_true_mean, "mean softmax probability of the true class on test data"),
    M(readout_p_true_std, "std of that probability"),
    M(readout_p_max_mean, "mean largest softmax probability on test data"),
    M(noise_loss, "mean loss of the last noise epoch (fa_noise)"),
    M(stage_seconds_saved, "seconds of the shared stages (noise phase, frozen features, contrastive divergence) this job continued from instead of computing it: 0 if it computed every stage (run --no-stage-cache)"),
    M(top_angle_init, "angle W vs B of the last layer at init, degrees (fa rules)"),
    M(top_angle_final, "angle W vs B of the last layer at the end, degrees (fa rules)"),
    M(dead_fraction, "fraction of hidden FC units that are 0 on every training example at the end"),
    MN("meta_loss_init", meta_loss[STAGE_INIT], "meta-loss at init"),
    MN("meta_loss_after_noise", meta_loss[STAGE_AFTER_NOISE], "meta-loss after the noise phase (fa_noise)"),
    MN("meta_loss_final", meta_loss[STAGE_FINAL], "meta-loss at the end"),
    MN("test_loss_init", stage_test_loss[STAGE_INIT], "test loss of the untrained network"),
    MN("test_acc_init", stage_test_acc[STAGE_INIT], "test accuracy of the untrained network"),
    MN("readout_p_true_mean_init", stage_p_true_mean[STAGE_INIT], "readout_p_true_mean of the untrained network"),
    MN("readout_p_max_mean_init", stage_p_max_mean[STAGE_INIT], "readout_p_max_mean of the untrained network"),
    MN("test_loss_after_noise", stage_test_loss[STAGE_AFTER_NOISE], "test loss after the noise phase (fa_noise)"),
    MN("test_acc_after_noise", stage_test_acc[STAGE_AFTER_NOISE], "test accuracy after the noise phase (fa_noise)"),
    MN("readout_p_true_mean_after_noise", stage_p_true_mean[STAGE_AFTER_NOISE], "readout_p_true_mean after the noise phase"),
    MN("readout_p_max_mean_after_noise", stage_p_max_mean[STAGE_AFTER_NOISE], "readout_p_max_mean after the noise phase"),
};
const int N_COMMON_METRICS = (int)(sizeof(COMMON_METRICS) / sizeof(COMMON_METRICS[0]));

const char *const STAGE_NAMES[N_STAGES] = {"init", "after_noise", "final"};
const char *const CURVE_NAMES[N_CURVES] = {"train_loss", "train_acc", "test_loss", "test_acc"};
const char *const LAYER_METRIC_NAMES[N_LAYER_METRICS] = {"angle", "angle_neuron_mean",
                                                         "angle_neuron_std", "erank", "gram_erank"};

const char *status_name(int status) {
    switch (status) {
    case STATUS_OK: return "ok";
    case STATUS_DIVERGED: return "diverged";
    case STATUS_FAILED: return "failed";
    case STATUS_TIMEOUT: return "timeout";
    case STATUS_CANCELLED: return "cancelled";
    default: return "pending";
    }
}

int status_parse(const char *name) {
    for (int s = STATUS_PENDING; s <= STATUS_CANCELLED; s++)
        if (!strcmp(name, status_name(s))) return s;
    return -1;
}

void job_result_init(JobResult *r, int job_id) {
    memset(r, 0, sizeof(*r));
    r->job_id = job_id;
    r->status = STATUS_PENDING;
    double *m = (double *)&r->m;
    for (size_t i = 0; i < sizeof(r->m) / sizeof(double); i++) m[i] = NAN;
    double *l = &r->layer[0][0][0];
    for (size_t i = 0; i < sizeof(r->layer) / sizeof(double); i++) l[i] = NAN;
}

void job_result_free(JobResult *r) {
    free(r->curves), free(r->angle_curve), free(r->noise_curve), free(r->mcurves), free(r->snaps);
    r->curves = r->angle_curve = r->noise_curve = r->mcurves = r->snaps = NULL;
}

int job_result_n_snaps(const JobResult *r) {
    int n = 0;
    for (int s = 0; s < N_STAGES; s++) n += (r->snap_mask >> s) & 1;
    return n;
}

/* curves, angle_curve, noise_curve and mcurves travel as one block */
static size_t n_curve_floats(const JobResult *r) {
    return (size_t)(N_CURVES + MLP_MAX_LAYERS) * (size_t)r->n_epochs + (size_t)NOISE_COLS * (size_t)r->n_noise_points +
           (size_t)N_MODEL_CURVES * (size_t)r->n_mepochs;
}
static size_t n_snap_floats(const JobResult *r) {
    return (size_t)job_result_n_snaps(r) * (size_t)(r->n_params + r->n_fixed);
}

/* What travels: the epoch curves if curves is set (then angle_curve is too), the noise
 * curve if set, the snapshots if set. */
static JobResult packed_header(const JobResult *r) {
    JobResult h = *r;
    h.n_epochs = r->curves ? r->n_epochs : 0;
    h.n_noise_points = r->noise_curve ? r->n_noise_points : 0;
    h.n_mepochs = r->mcurves ? r->n_mepochs : 0;
    h.snap_mask = r->snaps ? r->snap_mask : 0;
    h.curves = h.angle_curve = h.noise_curve = h.mcurves = h.snaps = NULL;
    return h;
}

size_t job_result_packed_size(const JobResult *r) {
    JobResult h = packed_header(r);
    return sizeof(JobResult) + (n_curve_floats(&h) + n_snap_floats(&h)) * sizeof(float);
}

void job_result_pack(const JobResult *r, void *buf) {
    JobResult h = packed_header(r);
    char *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    size_t nc = (size_t)N_CURVES * h.n_epochs, na = (size_t)MLP_MAX_LAYERS * h.n_epochs,
           nn = (size_t)NOISE_COLS * h.n_noise_points, nm = (size_t)N_MODEL_CURVES * h.n_mepochs, ns = n_snap_floats(&h);
    if (nc) memcpy(p, r->curves, nc * sizeof(float)), p += nc * sizeof(float);
    if (na) memcpy(p, r->angle_curve, na * sizeof(float)), p += na * sizeof(float);
    if (nn) memcpy(p, r->noise_curve, nn * sizeof(float)), p += nn * sizeof(float);
    if (nm) memcpy(p, r->mcurves, nm * sizeof(float)), p += nm * sizeof(float);
    if (ns) memcpy(p, r->snaps, ns * sizeof(float));
}

int job_result_unpack(const void *buf, size_t n, JobResult *r) {
    memset(r, 0, sizeof(*r));
    if (n < sizeof(JobResult)) return -1;
    memcpy(r, buf, sizeof(JobResult));
    r->curves = r->angle_curve = r->noise_curve = r->mcurves = r->snaps = NULL;
    if (r->n_epochs < 0 || r->n_noise_points < 0 || r->n_mepochs < 0 || r->n_params < 0 || r->n_fixed < 0 || r->snap_mask < 0 ||
        r->snap_mask >= (1 << N_STAGES) || r->n_layers < 0 || r->n_layers > MLP_MAX_LAYERS)
        return -1;
    /* snapshots are written from the tensor list: it must describe the buffers exactly */
    if (r->snap_mask && (tensors_check(&r->tensors) || r->tensors.n_params != r->n_params ||
                         r->tensors.n_fixed != r->n_fixed))
        return -1;
    size_t nc = (size_t)N_CURVES * r->n_epochs, na = (size_t)MLP_MAX_LAYERS * r->n_epochs,
           nn = (size_t)NOISE_COLS * r->n_noise_points, nm = (size_t)N_MODEL_CURVES * r->n_mepochs, ns = n_snap_floats(r);
    if (n != sizeof(JobResult) + (n_curve_floats(r) + ns) * sizeof(float)) return -1;
    const char *p = (const char *)buf + sizeof(JobResult);
    if ((nc && !(r->curves = malloc(nc * sizeof(float)))) || (na && !(r->angle_curve = malloc(na * sizeof(float)))) ||
        (nn && !(r->noise_curve = malloc(nn * sizeof(float)))) || (nm && !(r->mcurves = malloc(nm * sizeof(float)))) ||
        (ns && !(r->snaps = malloc(ns * sizeof(float))))) {
        job_result_free(r);
        return -1;
    }
    if (nc) memcpy(r->curves, p, nc * sizeof(float)), p += nc * sizeof(float);
    if (na) memcpy(r->angle_curve, p, na * sizeof(float)), p += na * sizeof(float);
    if (nn) memcpy(r->noise_curve, p, nn * sizeof(float)), p += nn * sizeof(float);
    if (nm) memcpy(r->mcurves, p, nm * sizeof(float)), p += nm * sizeof(float);
    if (ns) memcpy(r->snaps, p, ns * sizeof(float));
    return 0;
}

