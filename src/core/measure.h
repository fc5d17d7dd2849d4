/*
 * measure: what a job measures of its model, apart from training it: evaluation passes with
 * the readout statistics (and, in the final passes, dead units and Gram matrices of the
 * hidden features), the FC head's geometry at a stage (W-B angles, effective ranks), the
 * Gram-matrix effective ranks, the meta-loss (docs/SCIENCE.md section 2), and whether a learned
 * tensor has become non-finite. Pure computation, as train.c.
 */
#ifndef SYNSWEEP_MEASURE_H
#define SYNSWEEP_MEASURE_H

#include "data.h"
#include "job.h"
#include "model.h"

typedef struct EvalStats {
    double loss, acc;
    double p_true_mean, p_true_std, p_max_mean;
} EvalStats;

/* The data of one meta-loss task (spec->meta_tasks, in order). */
typedef struct TaskData {
    const RawSplit *train, *test;
} TaskData;

/* What the final evaluation passes also collect about the head's hidden layers. */
typedef struct Probe {
    float *gram[MLP_MAX_LAYERS]; /* (H, H) sums of A^T A per hidden layer, or NULL */
    char *alive;                 /* one flag per hidden unit (all hidden layers in order), or NULL */
} Probe;

/** Loss, accuracy and readout statistics on all rows of s (images, or features if s->features). */
EvalStats evaluate(Model *md, const Split *s);
/** evaluate, also collecting into pr (may be NULL) what its non-NULL members ask for. */
EvalStats evaluate_probe(Model *md, const Split *s, Probe *pr);
/** The angle between W_l and the feedback B_l of every FA layer, degrees (NaN elsewhere). */
void layer_angles(const Mlp *m, float out[MLP_MAX_LAYERS]);
/** Per-layer geometry of the FC head at one stage: angles W vs feedback (fa only), erank. */
void layer_metrics(const Mlp *m, double out[N_LAYER_METRICS][MLP_MAX_LAYERS]);
/** The test-set readout at a stage before the final one, into m's stage columns. */
void stage_readout(Model *md, const Split *te, JobMetrics *m, int stage);
/** Gram-matrix effective rank of each hidden layer from the summed A^T A of a probe pass. */
void gram_eranks(const Mlp *m, float *const *gram, double out[MLP_MAX_LAYERS]);
/** The meta-loss over tasks[0..n_tasks) from the current weights (restored after); NaN if none. */
double meta_loss(Model *md, const JobSpec *spec, Scaling sc, const TaskData *tasks, int n_tasks,
                 float *xbuf, uint8_t *ybuf);
/** The name of the first learned tensor holding a NaN or an infinity, or NULL. */
const char *nonfinite_tensor(const Model *md);

#endif
