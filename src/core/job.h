/*
 * job: the job specification (every parameter of one training run, with defaults) and the
 * job result (metrics, curves, snapshots). One table, PARAMS, describes every JobSpec field:
 * the YAML loader, the `train` flags, `--help`, the expand table and the HDF5 results columns
 * are all generated from it. See docs/JOBSPEC.md. Both structs are plain data (fixed-size
 * strings) so they cross MPI as bytes between ranks of the same binary.
 *
 * PARAMS, METRICS and MODEL_CURVE_NAMES are gathered tables (model_registry.c): the common
 * rows (job_params.c, job_result.c), then each model kind's own rows, declared next to its
 * ModelKind row, in registry order. A kind registered from outside src/ keeps its parameters
 * and metrics in the extension areas JobSpec.ext and JobMetrics.ext, so it needs no field here.
 */
#ifndef SYNSWEEP_JOB_H
#define SYNSWEEP_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "mlp.h"
#include "tensor.h"

#define JOBSPEC_EXT_BYTES 256
#define JOBMETRICS_EXT 8
#define LR_DECAY_MAX 8 /* epochs of the step schedule (lr_decay_epochs) */

typedef struct JobSpec {
    char dataset[32];
    char ood[12];          /* none | translate | rotate | scale | usps */
    double ood_dx, ood_dy, ood_degrees, ood_scale;
    char data_dir[256];
    int32_t seed;
    char model[16];
    char hidden[64];       /* hidden layer sizes, canonical "100,100" */
    char rule[16];
    char optimizer[16];
    double lr, beta1, beta2, eps, momentum, weight_decay;
    char lr_decay_epochs[64]; /* step schedule's epochs, canonical "100,150"; "" = none */
    double lr_decay_factor;
    int32_t batch_size, epochs;
    int32_t train_per_class, train_size, test_size;
    char test_split[8];    /* test | heldout */
    char preprocess[16];
    char augment[12];      /* none | crop_flip: the training images' augmentation (augment.h) */
    char init[24];
    double init_scale;
    char feedback[24];
    double feedback_scale;
    int32_t noise_examples, noise_epochs;
    double noise_lr, noise_std;
    int32_t noise_adam_reset;
    char snapshots[48];    /* canonical "init,final" */
    int32_t eval_train, eval_every;
    int32_t noise_curve_points;
    double time_limit;     /* seconds of training before the job stops as timeout; 0 = none */
    /* cnn */
    char conv_dist[24];    /* a distribution name, or "trained" */
    double conv_scale;
    int32_t conv_kernels, conv_size;
    char conv_padding[8];  /* valid | same */
    int32_t fc_pool;       /* 0: flatten; n: adaptive pool to n x n */
    char fc_pool_mode[8];  /* avg | max */
    int32_t conv_bias;
    int32_t cache_features;
    int32_t cache_budget_mb; /* test features cached when they take at most this many MiB */
    /* lc, lc_conv */
    char lc_channels[32];  /* output channels per layer, canonical "32,32" */
    int32_t lc_size;       /* kernel side (odd) */
    char lc_pool[8];       /* max | none */
    char lc_init[12];      /* independent | shared */
    double lc_init_eps;
    char sleep[12];        /* none | instant | dynamic */
    char sleep_share[8];   /* grid | map */
    int32_t sleep_every, sleep_steps, sleep_batch;
    double sleep_lr, sleep_gamma;
    /* distribution parameters (dist.h) */
    char meta_tasks[48];   /* datasets of the meta-loss, canonical "mnist,kmnist"; "" = off */
    int32_t meta_steps, meta_test_size;
    double meta_lr;
    double lognormal_mu, lognormal_sigma2;
    char lognormal_sign[12];
    double dale_inhibitory, cs_sigma_center, cs_sigma_surround, truncation;
    /* rbse, rbm, pixels (model_rbse.c) */
    int32_t rbm_hidden, rbm_train_size, rbm_epochs, rbm_batch_size, cd_k, persistent;
    double rbm_lr, rbm_momentum, rbm_weight_decay, rbm_init_std, release_init, release_lr_scale;
    int32_t learn_release, rbse_samples;
    char binarize[12];     /* threshold | bernoulli */
    double binarize_threshold;
    char rbse_features[16]; /* prior | conditional | exact */
    char rbse_chain[12];    /* joint | collapsed: the CD chain of the rbse (rbse.h) */
    double rbm_dropconnect; /* rbm: probability of keeping a connection in the features (1: off) */
    int32_t val_size, early_stop_patience; /* rbse/rbm: validation records, CD early stopping */
    /* registered kinds' parameters (ModelKind.spec_ext bytes each, placed at registration;
       zero-filled like every field, so equal specs stay equal byte for byte) */
    _Alignas(8) unsigned char ext[JOBSPEC_EXT_BYTES];
} JobSpec;

/* offset and size of a field, for ParamDef rows: FIELD_OF(JobSpec, lr); a kind with spec_ext
 * names a field of its own struct, FIELD_OF(LogregSpec, init_zero) */
#define FIELD_OF(T, field) offsetof(T, field), sizeof(((T *)0)->field)

typedef enum { PK_INT, PK_REAL, PK_BOOL, PK_CHOICE, PK_STR, PK_INTLIST, PK_CHOICELIST } ParamKind;

typedef struct ParamDef {
    const char *name;
    ParamKind kind;
    size_t offset, size;   /* of the field in JobSpec (in PARAMS; a kind with spec_ext declares
                              offsets in its own area of JobSpec.ext, model.h) */
    const char *def;       /* default, as it would be written in YAML */
    const char *choices;   /* '|'-separated, for PK_CHOICE and PK_CHOICELIST */
    double lo, hi;         /* inclusive range, for PK_INT, PK_REAL and list items */
    const char *help;
    /* where the parameter has an effect: NULL everywhere, else conditions "key=v1|v2"
       joined by ';' (all must hold), e.g. "model=cnn", "rule=fa|fa_noise|dfa" */
    const char *applies;
} ParamDef;

/* The common rows (job_params.c): every kind's parameters. The `model` row's choices and
 * help are filled from the registry when the table is gathered. */
extern const ParamDef COMMON_PARAMS[];
extern const int N_COMMON_PARAMS;
/** The gathered parameter table (model_registry.c: built on first use). */
const ParamDef *params_table(void);
int params_count(void);
/* read as the arrays they were */
#define PARAMS (params_table())
#define N_PARAMS (params_count())

/** The ParamDef called name, or NULL. */
const ParamDef *param_find(const char *name);
/**
 * Whether d has an effect on job s (its `applies` conditions hold for s's values).
 * @return 1 if so, 0 if s ignores it.
 */
int param_applies(const ParamDef *d, const JobSpec *s);
/** The parameter whose value in s makes s ignore d (the first failed condition), or NULL. */
const ParamDef *param_excluded_by(const ParamDef *d, const JobSpec *s);
/** Whether some parameter's `applies` names d as a key (its value decides applicability). */
int param_is_selector(const ParamDef *d);
/** Whether word is one of the '|'-separated items of choices ("fa" in "bp|fa|dfa"). */
int in_choices(const char *word, const char *choices);
/**
 * The parameters jobspec_check reads, '|'-separated. The sweep loader checks every
 * combination of these (and of the selectors) instead of every job; keep it in step.
 */
extern const char *const JOBSPEC_CHECK_READS;
/** Sets every field to its default. */
void jobspec_defaults(JobSpec *s);
/**
 * Parses value (a YAML scalar, or list items joined by ',') into field key.
 * @return 0; -1 if key is unknown; -2 if value is not what the field takes. err says why.
 */
int jobspec_set(JobSpec *s, const char *key, const char *value, char *err, size_t errlen);
/** Writes field d of s as text (the form jobspec_set reads back) into buf. */
void jobspec_get(const JobSpec *s, const ParamDef *d, char *buf, size_t n);
/** Checks combinations of fields. @return 0, or -1 with the reason in err. */
int jobspec_check(const JobSpec *s, char *err, size_t errlen);
/** The model curves job s records (bit k: MODEL_CURVE_NAMES[k]) and their length in *len
 * (model_registry.c). */
uint64_t jobspec_model_curves(const JobSpec *s, int *len);
/** Points of the noise-phase curve job s records (0 without a noise phase). */
int jobspec_noise_points(const JobSpec *s);
/**
 * The data phase's learning rate in epoch e (from 0): lr times lr_decay_factor once for each
 * of lr_decay_epochs at most e (the step schedule; PyTorch's MultiStepLR stepped per epoch).
 */
float jobspec_lr_at(const JobSpec *s, int e);
/** Hidden sizes of s into h[MLP_MAX_LAYERS]; returns their count. */
int jobspec_hidden(const JobSpec *s, int *h);
/** The items of a canonical integer list ("32,32") into out[max]; returns their count. */
int jobspec_intlist(const char *text, int *out, int max);
/** The distribution `name` times `scale` with s's distribution parameters; k: kernel side. */
void jobspec_dist(const JobSpec *s, const char *name, double scale, int k, DistParams *out);

/* ---- results ---- */

/* STATUS_CANCELLED: stopped by the process (signal); never recorded, the job reruns. */
typedef enum {
    STATUS_PENDING = 0, STATUS_OK = 1, STATUS_DIVERGED = 2, STATUS_FAILED = 3, STATUS_TIMEOUT = 4,
    STATUS_CANCELLED = 5
} JobStatus;
enum { STAGE_INIT = 0, STAGE_AFTER_NOISE = 1, STAGE_FINAL = 2, N_STAGES = 3 };
/** "pending", "ok", "diverged", "failed", "timeout", "cancelled". */
const char *status_name(int status);
/** The status called name, or -1. */
int status_parse(const char *name);

/* snapshot stages and per-layer metric stages (before JobMetrics, which uses N_STAGES) */
extern const char *const STAGE_NAMES[N_STAGES];

/* per-epoch curves */
enum { CURVE_TRAIN_LOSS, CURVE_TRAIN_ACC, CURVE_TEST_LOSS, CURVE_TEST_ACC, N_CURVES };
extern const char *const CURVE_NAMES[N_CURVES];

/* noise-phase curve columns: examples seen, mean loss since the last point, then the angle
 * of each layer (MLP_MAX_LAYERS columns) */
enum { NC_EXAMPLES, NC_LOSS, NC_ANGLE0, NOISE_COLS = NC_ANGLE0 + MLP_MAX_LAYERS };
#define NOISE_COLUMNS "examples,loss,angle_0,angle_1,angle_2,angle_3,angle_4,angle_5,angle_6,angle_7"

/* Per-epoch curves of model kinds with phases of their own (ModelKind.curve_names), gathered
 * into one table so that a column means the same in every job: a name two kinds declare is one
 * curve (rbse and rbm share recon_error). A job records those its kind produces
 * (ModelKind.curves). N_MODEL_CURVES is the capacity, one bit of a uint64_t mask each, and the
 * stride of JobResult.mcurves; model_curve_count() says how many are gathered. */
#define RELEASE_BINS 20
#define LC_MAX_LAYERS 4
enum { N_MODEL_CURVES = 64 };
const char *const *model_curve_names(void);
int model_curve_count(void);
/** The index of the model curve called name, or -1. */
int model_curve_find(const char *name);
#define MODEL_CURVE_NAMES (model_curve_names())

/* per-layer metrics, per stage */
enum { LM_ANGLE, LM_ANGLE_NEURON_MEAN, LM_ANGLE_NEURON_STD, LM_ERANK, LM_GRAM_ERANK, N_LAYER_METRICS };
extern const char *const LAYER_METRIC_NAMES[N_LAYER_METRICS];

typedef struct JobMetrics {
    double train_loss, train_acc, test_loss, test_acc;
    double gap_loss, gap_acc;          /* train minus test */
    double auc_test_acc;               /* mean test accuracy over epochs 1..E */
    double readout_p_true_mean, readout_p_true_std, readout_p_max_mean;
    double noise_loss;                 /* mean loss of the last noise epoch; NaN if none */
    double top_angle_init, top_angle_final; /* whole-matrix angle of the last layer (fa only) */
    double dead_fraction;              /* hidden FC units silent on every training example */
    double meta_loss[N_STAGES];        /* mean test loss over meta_tasks after meta_steps steps */
    /* the test-set readout at the stages before the final one (final: the columns above) */
    double stage_test_loss[N_STAGES], stage_test_acc[N_STAGES];
    double stage_p_true_mean[N_STAGES], stage_p_max_mean[N_STAGES];
    /* built-in model kinds' own (NaN elsewhere; their METRICS rows are in their files) */
    double test_acc_pred_mean, test_loss_pred_mean; /* rbse: averaging the S predictions */
    double recon_error, mean_release, w_p_corr;      /* rbse/rbm after contrastive divergence */
    double cd_best_epoch, cd_epochs_run, val_recon_error; /* rbse/rbm with val_size > 0 */
    double snr_paper, snr_code, n_sleeps;            /* lc: weight SNR (mean over LC layers) */
    double stage_seconds_saved; /* seconds of a shared stage this job took from another's (stage.h); 0: none */
    double ext[JOBMETRICS_EXT];                      /* registered kinds' (ModelKind.metrics_ext each) */
} JobMetrics;

typedef struct MetricDef {
    const char *name;
    size_t offset;     /* of the double in JobMetrics (a kind with metrics_ext: in its area of
                          JobMetrics.ext, model.h) */
    const char *help;
} MetricDef;
/* the common rows (job_result.c), then the kinds' (model_registry.c) */
extern const MetricDef COMMON_METRICS[];
extern const int N_COMMON_METRICS;
const MetricDef *metrics_table(void);
int metrics_count(void);
/** Whether the metric called name is a model kind's own (NaN for other kinds' jobs; a file
 * written before the kind existed lacks its column). */
int metric_is_kinds(const char *name);
#define METRICS (metrics_table())
#define N_METRICS (metrics_count())

typedef struct JobResult {
    int32_t job_id, status, rank;
    char message[256];
    char host[64];
    double seconds;
    int32_t n_train, n_test, n_layers;
    int32_t sizes[MLP_MAX_LAYERS + 1]; /* widths of the FC head, input first */
    JobMetrics m;
    double layer[N_STAGES][N_LAYER_METRICS][MLP_MAX_LAYERS]; /* NaN where not defined */
    int32_t n_epochs;
    float *curves;                  /* (N_CURVES, n_epochs), NaN after divergence */
    float *angle_curve;             /* (n_epochs, MLP_MAX_LAYERS): angle W_l vs B_l after each
                                       epoch, degrees; NaN where a layer has no FA feedback */
    int32_t n_noise_points;
    float *noise_curve;             /* (n_noise_points, NOISE_COLS) along the noise phase */
    int32_t n_mepochs;
    float *mcurves;                 /* (n_mepochs, N_MODEL_CURVES) the kinds' curves, NaN
                                       where it has none */
    int32_t snap_mask;              /* bit s set: stage s saved */
    int64_t n_params, n_fixed;      /* floats of the model's trainable and fixed buffers */
    TensorList tensors;             /* the model's named tensors: the snapshots' layout */
    float *snaps;                   /* per saved stage, in stage order: the trainable buffer
                                       (n_params), then the fixed one (n_fixed) */
} JobResult;

/** Prepares an empty result (all metrics NaN, no arrays). */
void job_result_init(JobResult *r, int job_id);
/** Frees curves and snaps; r stays usable (NULL arrays). */
void job_result_free(JobResult *r);
/** Number of stages set in snap_mask. */
int job_result_n_snaps(const JobResult *r);
/** Bytes job_result_pack writes for r. */
size_t job_result_packed_size(const JobResult *r);
/** Serialises r into buf (job_result_packed_size(r) bytes): the struct, curves, snaps. */
void job_result_pack(const JobResult *r, void *buf);
/**
 * Rebuilds r from n packed bytes (allocating curves and snaps; free with job_result_free).
 * @return 0, or -1 if the bytes are not a consistent packed result (r left empty).
 */
int job_result_unpack(const void *buf, size_t n, JobResult *r);

#endif
