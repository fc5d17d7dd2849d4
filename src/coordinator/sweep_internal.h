/*
 * sweep_internal.h: what the three parts of the sweep loader share (not for other modules).
 * sweep_yaml.c reads the document (top-level keys, fixed:, paper:); sweep_grid.c turns
 * grid: into blocks and union axes and computes any job's spec from its id; sweep_check.c
 * checks the blocks (applicability, jobspec_check combinations, overlaps) and compares
 * sweeps. Values are reported as "file:line:column: message" (ERR_AT, which expects
 * `path`, `err` and `errlen` in scope).
 */
#ifndef SYNSWEEP_SWEEP_INTERNAL_H
#define SYNSWEEP_SWEEP_INTERNAL_H

#include <stdio.h>
#include <yaml.h>

#include "sweep.h"

#define ERR_AT(node, ...)                                                                 \
    do {                                                                                  \
        int n_ = snprintf(err, errlen, "%s:%zu:%zu: ", path, (node)->start_mark.line + 1, \
                          (node)->start_mark.column + 1);                                 \
        if (n_ >= 0 && (size_t)n_ < errlen) snprintf(err + n_, errlen - (size_t)n_, __VA_ARGS__); \
    } while (0)

/* ---- grid: blocks as read, before they become the union axes ---- */

typedef struct KeyLoad {
    const ParamDef *d;
    yaml_node_t *key, *list;
    int n;
    char **canon;         /* canonical text of each item (moved into the axis when first) */
    unsigned char *raw;   /* each item as JobSpec field bytes */
} KeyLoad;

typedef struct BlockLoad {
    yaml_node_t *node;
    int n_keys;
    KeyLoad keys[SWEEP_MAX_AXES];
} BlockLoad;

typedef struct GridLoad {
    int n_blocks;
    BlockLoad *blocks;
} GridLoad;

/* sweep_yaml.c */
/** Text of a value node for jobspec_set: a scalar, or (allow_list) a sequence of scalars joined by ','. */
int sweep_node_text(yaml_document_t *doc, yaml_node_t *v, int allow_list, char *out, size_t n,
                    const char *path, const char *key, char *err, size_t errlen);
/** jobspec_set(s, key, text), its error placed at node `at`. */
int sweep_set_at(JobSpec *s, yaml_node_t *at, const char *key, const char *text,
                 const char *path, char *err, size_t errlen);
/** Whether parameter d takes a list (hidden: [100, 100]) as one value. */
int sweep_is_list_kind(const ParamDef *d);

/* sweep_grid.c */
/** grid: one mapping, or a list of mappings (blocks); fills sw->blocks and sw->axes, and g. */
int sweep_load_grid(yaml_document_t *doc, yaml_node_t *grid, Sweep *sw, GridLoad *g, const char *path,
                    char *err, size_t errlen);
void sweep_grid_load_free(GridLoad *g);
/** s = sw->base with block b's keys at value indices digit. */
void sweep_block_spec(const Sweep *sw, const SweepBlock *b, const int *digit, JobSpec *s);
/** The job id of value indices digit in block b. */
long sweep_block_id(const SweepBlock *b, const int *digit);
/** Sets sw->max_epochs, the largest `epochs` of any job. */
void sweep_set_max_epochs(Sweep *sw);

/* sweep_check.c */
/**
 * Every job valid and run once, checked per block and pair of blocks, not per job: no axis
 * of 2+ values that some of its block's jobs ignore, jobspec_check on every combination of
 * the values it reads, no two blocks giving one job. @return 0 or -1 with err.
 */
int sweep_check_blocks(const Sweep *sw, const GridLoad *g, const char *path, char *err, size_t errlen);

#endif
