/*
 * dist: named weight distributions used for initial weights and FA feedback matrices.
 * Present now: normal, uniform, kaiming, xavier (the biological ones arrive with the CNN work).
 */
#ifndef SYNSWEEP_DIST_H
#define SYNSWEEP_DIST_H

#include <stddef.h>

#include "rng.h"

/** Names accepted by dist_fill, '|'-separated (for validation and --help). */
#define DIST_NAMES "normal|uniform|kaiming|xavier"

/**
 * Fills w (O, I) with draws from the named distribution times `scale`:
 *   normal  N(0, 1)              uniform U(-1, 1)
 *   kaiming N(0, sqrt(2/I))      xavier  N(0, sqrt(2/(I+O)))
 * @return 0, or -1 if name is unknown (w untouched).
 */
int dist_fill(const char *name, double scale, float *w, int O, int I, Rng *r);

#endif
