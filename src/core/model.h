/*
 * model: the one interface every model kind implements, and the tables that name the
 * kinds, the training rules and the optimisers. A model kind is one file (model_mlp.c,
 * model_cnn.c, ...) with its ModelKind row, which also declares the kind's parameters,
 * metrics and curves, and one entry of the registry (model_registry.c: the built-in kinds,
 * then those model_kind_register adds); the job driver (train.c) only calls rows.
 * Unknown names are an error everywhere (model_build), never a default.
 *
 * Memory (llm.c's malloc_and_point_parameters): the kind declares its tensors in
 * md->tensors (tensors_add); model_alloc makes one trainable buffer (params), its
 * gradients (grads) and one fixed buffer (frozen conv, feedback matrices); the kind points
 * its layers into them. One optimiser steps the whole params buffer.
 */
#ifndef SYNSWEEP_MODEL_H
#define SYNSWEEP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "job.h"
#include "mlp.h"
#include "optim.h"
#include "sparse.h"
#include "tensor.h"
#include "work.h"

/* phases a kind supports (ModelKind.phases) */
enum { PHASE_SUPERVISED = 1, PHASE_NOISE = 2, PHASE_SLEEP = 4, PHASE_UNSUPERVISED = 8,
       PHASE_READOUT = 16 /* the supervised phase trains a softmax readout of binarised pixels' features
                             alone: rule bp, preprocess unit (jobspec_check) */ };

/* A training rule: the feedback of the backward pass, and the phases it adds. */
typedef struct RuleDef {
    const char *name;
    FeedbackRule feedback;
    int noise_phase;   /* random-noise pretraining before data (Cheon et al.) */
    const char *help;
} RuleDef;

typedef struct OptimDef {
    const char *name;
    OptKind kind;
} OptimDef;

typedef struct ModelKind ModelKind;

typedef struct Model {
    const ModelKind *kind;
    const RuleDef *rule;
    TensorList tensors;
    float *params, *grads;   /* (tensors.n_params) trainable tensors and their gradients */
    float *fixed;            /* (tensors.n_fixed) fixed tensors */
    Optim opt;               /* over params */
    int fused_step;          /* 1: kind->backward applies opt's step to every parameter itself */
    int in_dim;              /* floats of one input image (C*H*W) */
    int feat_dim;            /* > 0: a frozen front-end maps an image to feat_dim features */
    int feat_rows;           /* feature rows per image (1; S stochastic samples for rbse) */
    int features_required;   /* the head trains on features by method, not as a speed-up */
    int sparse_input;        /* the kind's forward/backward take image rows as SparseRows (in) */
    SparseBatch in;          /* set by the driver around forward and backward when the split
                                has SparseRows and the kind takes them (x is then not read);
                                in.sp NULL otherwise */
    int no_grad;             /* 1 while evaluating: no backward follows forward, which may keep nothing for it */
    long step;               /* optimiser steps of the data phase so far */
    int n_classes, max_batch;
    void *impl;              /* the kind's own state (kind->impl_size bytes, zeroed) */
    double deadline;         /* CLOCK_MONOTONIC seconds after which training stops; 0 = none */
    int stop;                /* 0, or STATUS_TIMEOUT / STATUS_CANCELLED once training stopped */
} Model;

struct ModelKind {
    const char *name;        /* the `model:` value (at most 15 characters) */
    const char *help;        /* one line: the `model` parameter's help lists it */
    unsigned phases;         /* PHASE_* it supports */
    size_t impl_size;

    /* What the kind declares next to its row; the registry gathers them into PARAMS,
     * METRICS and MODEL_CURVE_NAMES. A name two kinds declare must be the same row (lc and
     * lc_conv share theirs) and is gathered once. */
    const ParamDef *params;  /* its parameters (applies "model=<kind>"); offsets: JobSpec */
    int n_params;            /*   fields, or, with spec_ext > 0, in its area of JobSpec.ext */
    size_t spec_ext;         /* bytes of JobSpec.ext its parameters take (model_spec_ext) */
    const MetricDef *metrics; /* its result columns (NaN in other kinds' rows); offsets: */
    int n_metrics;            /*   JobMetrics fields, or, with metrics_ext > 0, in its area */
    int metrics_ext;          /* doubles of JobMetrics.ext its metrics take (model_metrics_ext) */
    const char *const *curve_names; /* its per-epoch curves (see curves) */
    int n_curves;
    /**
     * Declares the tensors (tensors_add), calls model_alloc, points its layers into the
     * buffers and initialises them from spec and its seed. Sets in_dim, feat_dim.
     * @return 0, or -1 with err (the driver calls free).
     */
    int (*build)(Model *md, const JobSpec *spec, int C, int H, int W, char *err, size_t errlen);
    void (*free)(Model *md);
    /**
     * Forward pass of B <= max_batch rows of x: images (features = 0), rows that
     * kind->features made (features = 1), or rows kind->eval_features made (features = 2). Keeps what backward needs. @return the mean
     * cross-entropy; adds argmax hits to *correct if not NULL.
     */
    double (*forward)(Model *md, const float *x, const uint8_t *y, int B, int features, long *correct);
    /**
     * After forward on the same rows: accumulates (+=) grads through the rule's feedback;
     * with md->fused_step, also optim_update's every parameter once (the driver has called
     * optim_begin).
     */
    void (*backward)(Model *md, const float *x, const uint8_t *y, int B, int features);
    /** Frozen front-end (feat_dim > 0): feat (B, feat_dim) of images x. NULL if none. */
    void (*features)(Model *md, const float *x, int B, float *feat);
    /**
     * Optional: the feat_rows feature rows of each of B images as evaluation reads them (from
     * streams keyed by the image, never the training ones), feat (B, feat_rows x feat_dim), so
     * the driver can keep a test split's (Split.features 2); forward and final_metrics then
     * take such rows. NULL: test features are kept only when feat_rows is 1 (by `features`).
     */
    void (*eval_features)(Model *md, const float *x, int B, float *feat);
    /** The FC head (widths, weights, feedback, last activations and probabilities). */
    const Mlp *(*head)(const Model *md);
    /** Bytes a job is estimated to need (memest.h), before anything is built; NULL: the
     * FC head's estimate. */
    size_t (*memory)(const JobSpec *spec, int C, int H, int W, int n_train, int n_test);
    /** Adds to *w the work of the whole job as the sweep runs it (work.h: its phases, the
     * driver's schedule by work_schedule), before anything is built; NULL: the kind's cost
     * is not predicted (`expand --cost` says so). */
    void (*work)(const JobSpec *spec, int C, int H, int W, int n_train, int n_test, Work *w);

    /* optional phases and hooks (NULL: none) */
    /**
     * The kind's curves a job records (bit k: curve_names[k]) and their length (*len
     * points); called on specs, before any model exists. The kind writes them through
     * model_curve_row.
     */
    uint64_t (*curves)(const JobSpec *spec, int *len);
    /**
     * An unsupervised phase before the supervised one (PHASE_UNSUPERVISED), on the whole
     * training split (the kind draws what it uses by spec->seed); fills r->mcurves if it has
     * curves. @return 0, or -1 with err (the job fails), or a JobStatus > 0 to stop with.
     */
    int (*pretrain)(Model *md, const JobSpec *spec, const RawSplit *train, JobResult *r, char *err,
                    size_t errlen);
    /** After every optimiser step of the data phase (md->step counts them): e.g. a sleep. */
    void (*after_step)(Model *md);
    /** After every data epoch e (0-based): the kind's curves and state. */
    void (*epoch_end)(Model *md, int e, JobResult *r);
    /** After the final evaluation: the kind's own final metrics on the test split. */
    void (*final_metrics)(Model *md, const Split *test, JobMetrics *m);
    /**
     * Snapshots: params and fixed hold copies of psrc and fsrc (md->params and md->fixed, or
     * buffers laid out as they are: the optimiser's moments); writes there, from psrc and fsrc
     * (either may be NULL: skipped), the tensors the kind keeps in another order than the
     * results file's (lc.h: LC kernels). NULL: the buffers' order is the file's.
     */
    void (*snapshot_order)(const Model *md, const float *psrc, const float *fsrc, float *params, float *fixed);

    /* Shared stages (stage.h): the unsupervised phase's output is shared between jobs whose
     * specs differ only in parameters it never reads, when the kind declares these two. */
    /** Its parameters the unsupervised phase never reads ('|'-separated JobSpec fields; the
     * supervised model's and the data phase's are known to stage.c). */
    const char *pretrain_ignores;
    /**
     * The kind's state after pretrain besides its learned fixed tensors: save (1) writes at
     * most STAGE_MAX_STATE doubles into st and returns how many; load (0) sets the state from
     * them after the driver restored the learned fixed tensors, and rebuilds what derives
     * from those tensors. NULL: the unsupervised phase is not shared.
     */
    int (*pretrain_state)(Model *md, double *st, int save);
};

extern const ModelKind *const MODEL_KINDS[]; /* the built-in kinds, NULL-terminated */
extern const RuleDef RULES[];
extern const OptimDef OPTIMS[];

/**
 * Adds kind k (linked in from outside src/, e.g. a test's) after the built-in kinds: its
 * name joins the `model` choices, its help the parameter's help, its parameters, metrics
 * and curves the gathered tables, its parameters and metrics placed in the extension areas
 * (k->spec_ext bytes, k->metrics_ext doubles). Call it before anything reads a table (before
 * synsweep_main, in every rank's process alike: ranks exchange specs and results as bytes).
 * @return 0, or -1 (model_registry_error says why: a name taken, an area full, registration
 * closed).
 */
int model_kind_register(const ModelKind *k);
/** Why the last model_kind_register failed. */
const char *model_registry_error(void);
/**
 * Closes registration and builds the gathered tables, if not yet done (every function that
 * reads the registry does so first). Call it before starting threads.
 */
void model_registry_close(void);
/** Kinds in registry order: the built-in ones, then the registered. */
int model_kind_count(void);
const ModelKind *model_kind_at(int i);
/** The row called name, or NULL. */
const ModelKind *model_kind_find(const char *name);
/** k's area of s->ext (k->spec_ext bytes), where its parameters' offsets point. */
const void *model_spec_ext(const ModelKind *k, const JobSpec *s);
/** k's doubles of m->ext (k->metrics_ext), where its metrics' offsets point. */
double *model_metrics_ext(const ModelKind *k, JobMetrics *m);
/**
 * Epoch e's row of r's model curves from k's first curve on (k's curve j at [j]), or NULL if r
 * records no such row.
 */
float *model_curve_row(const ModelKind *k, JobResult *r, int e);
const RuleDef *rule_find(const char *name);
const OptimDef *optim_find(const char *name);

/**
 * Builds the model of spec for (C, H, W) images and n_classes outputs: looks up its kind,
 * rule and optimiser (an unknown name is an error), builds and initialises it, creates the
 * optimiser. @return 0, or -1 with the reason in err (md freed).
 */
int model_build(Model *md, const JobSpec *spec, int C, int H, int W, int n_classes, char *err,
                size_t errlen);
void model_free(Model *md);
/** Before batches of sparse rows (md->sparse_input and a split with SparseRows): buffers for
 * batches of at most max_batch_nnz nonzeros. @return 0, or -1 out of memory. */
int model_sparse_prepare(Model *md, long max_batch_nnz);
/** For kinds: allocates params, grads and fixed as md->tensors sizes them. @return 0 or -1. */
int model_alloc(Model *md);
/** Trainable or fixed buffer address of tensor t. */
float *model_tensor(const Model *md, const Tensor *t);
/**
 * One optimiser step on B rows (images, or cached feature rows): forward, zero the
 * gradients, backward, the optimiser's update (applied per layer inside backward by kinds
 * with fused_step). @return the batch's mean loss. Tests step models through this too.
 */
double model_step(Model *md, const float *x, const uint8_t *y, int B, int features);
/** Zeroes grads. */
void model_zero_grad(Model *md);
/**
 * The FC head's tensors as a kind records them: W<l> (O, I), b<l> (O) trainable, and the
 * rule's feedback matrices B<l> (fa: (O, I); dfa: (classes, O_l)) and Bin fixed, with the
 * offsets m's pointers have into md's buffers. @return 0 or -1 (list full).
 */
int model_add_head_tensors(Model *md, const Mlp *m);

#endif
