/*
 * model_resnet.h: what model resnet (model_resnet.c) shares with its memory estimate and
 * operation counts (model_resnet_work.c): its parameters, the plan of its conv layers.
 */
#ifndef SYNSWEEP_MODEL_RESNET_H
#define SYNSWEEP_MODEL_RESNET_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "layer.h"
#include "work.h"

enum { RN_MAX_N = 6, RN_MAX_CONV = 6 * RN_MAX_N + 3 }; /* resnet_n at most; conv layers at most */

/* The kind's parameters, in its area of JobSpec.ext. */
typedef struct ResnetSpec {
    int32_t n, width;
    char layer_type[8];
} ResnetSpec;

/* One conv (or LC) layer of the network, in declaration order: stem, then per block c1, c2,
 * [shortcut]. */
typedef struct ConvDesc {
    int C, H, W, O, K, stride;
} ConvDesc;

/** The kind's parameters in s (its area of JobSpec.ext). */
const ResnetSpec *resnet_spec(const JobSpec *s);
/** The network's conv layers for (C, H, W) images: fills d (RN_MAX_CONV), returns their number. */
int resnet_plan(const ResnetSpec *p, int C, int H, int W, ConvDesc *d);
/** Layer d's shape as a Layer (no buffers): what its ops row needs for scratch and counts. */
Layer resnet_layer_shape(const ConvDesc *d, int lc);
/** ModelKind.memory and ModelKind.work of model resnet. */
size_t resnet_memory(const JobSpec *s, int C, int H, int W, int n_train, int n_test);
void resnet_work(const JobSpec *s, int C, int H, int W, int n_train, int n_test, Work *w);

#endif
