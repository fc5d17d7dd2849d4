/*
 * sweep.c: YAML through libyaml's document API (yaml_parser_load), so every node has a
 * mark for file:line:column messages; an event pass first refuses nesting deeper than
 * SWEEP_MAX_DEPTH (the loader's time grows with the square of the depth). Accepted
 * top-level keys: name, description, paper, data_dir, fixed, grid.
 */
#include "sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "data.h"

#define ERR_AT(node, ...)                                                                 \
    do {                                                                                  \
        int n_ = snprintf(err, errlen, "%s:%zu:%zu: ", path, (node)->start_mark.line + 1, \
                          (node)->start_mark.column + 1);                                 \
        if (n_ >= 0 && (size_t)n_ < errlen) snprintf(err + n_, errlen - (size_t)n_, __VA_ARGS__); \
    } while (0)

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (buf) buf[len] = 0;
    *n = len;
    return buf;
}

/* Text of a value node for jobspec_set: a scalar, or a sequence of scalars joined by ','. */
static int node_text(yaml_document_t *doc, yaml_node_t *v, int allow_list, char *out, size_t n,
                     const char *path, const char *key, char *err, size_t errlen) {
    if (v->type == YAML_SCALAR_NODE) {
        if (v->data.scalar.length >= n) {
            ERR_AT(v, "%s: value too long", key);
            return -1;
        }
        memcpy(out, v->data.scalar.value, v->data.scalar.length);
        out[v->data.scalar.length] = 0;
        return 0;
    }
    if (v->type == YAML_SEQUENCE_NODE && allow_list) {
        out[0] = 0;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *item = yaml_document_get_node(doc, *it);
            if (item->type != YAML_SCALAR_NODE) {
                ERR_AT(item, "%s: list items must be single values", key);
                return -1;
            }
            if (strlen(out) + item->data.scalar.length + 2 >= n) {
                ERR_AT(item, "%s: list too long", key);
                return -1;
            }
            if (out[0]) strcat(out, ",");
            strncat(out, (const char *)item->data.scalar.value, item->data.scalar.length);
        }
        return 0;
    }
    ERR_AT(v, "%s: expected %s", key, allow_list ? "a value or a list of values" : "a single value");
    return -1;
}

static int is_list_kind(const ParamDef *d) { return d->kind == PK_INTLIST || d->kind == PK_CHOICELIST; }

static int set_at(JobSpec *s, yaml_node_t *at, const char *key, const char *text,
                  const char *path, char *err, size_t errlen) {
    char e[300];
    if (jobspec_set(s, key, text, e, sizeof e)) {
        ERR_AT(at, "%s", e);
        return -1;
    }
    return 0;
}

void sweep_free(Sweep *sw) {
    free(sw->yaml);
    free(sw->path);
    for (int a = 0; a < sw->n_axes; a++) {
        for (int i = 0; i < sw->axes[a].n; i++) free(sw->axes[a].values[i]);
        free(sw->axes[a].values);
        free(sw->axes[a].fixed);
        free(sw->axes[a].raw);
    }
    for (int b = 0; b < sw->n_blocks; b++)
        for (int k = 0; k < sw->blocks[b].n_keys; k++) free(sw->blocks[b].value[k]);
    free(sw->blocks);
    memset(sw, 0, sizeof(*sw));
}

int sweep_axis(const Sweep *sw, const char *key) {
    for (int a = 0; a < sw->n_axes; a++)
        if (strcmp(sw->axes[a].key, key) == 0) return a;
    return -1;
}

/* The block of job id; *local becomes the id within it. */
static const SweepBlock *block_of(const Sweep *sw, long id, long *local) {
    int lo = 0, hi = sw->n_blocks - 1;
    while (lo < hi) { /* last block with first <= id */
        int mid = (lo + hi + 1) / 2;
        if (sw->blocks[mid].first <= id) lo = mid;
        else hi = mid - 1;
    }
    *local = id - sw->blocks[lo].first;
    return &sw->blocks[lo];
}

/* Job id's value index of each key of block b (mixed radix, last key fastest). */
static void block_digits(const SweepBlock *b, long local, int *digit) {
    for (int k = b->n_keys - 1; k >= 0; k--) digit[k] = (int)(local % b->n[k]), local /= b->n[k];
}

static long block_id(const SweepBlock *b, const int *digit) {
    long id = 0;
    for (int k = 0; k < b->n_keys; k++) id = id * b->n[k] + digit[k];
    return b->first + id;
}

/* s = base with block b's keys at value indices digit. */
static void block_spec(const Sweep *sw, const SweepBlock *b, const int *digit, JobSpec *s) {
    *s = sw->base;
    for (int k = 0; k < b->n_keys; k++) {
        const Axis *ax = &sw->axes[b->axis[k]];
        size_t size = ax->def->size;
        memcpy((char *)s + ax->def->offset, ax->raw + (size_t)b->value[k][digit[k]] * size, size);
    }
}

void sweep_job(const Sweep *sw, long id, JobSpec *out) {
    if (sw->n_blocks == 0) {
        *out = sw->base;
        return;
    }
    long local;
    const SweepBlock *b = block_of(sw, id, &local);
    int digit[SWEEP_MAX_AXES];
    block_digits(b, local, digit);
    block_spec(sw, b, digit, out);
}

void sweep_job_values(const Sweep *sw, long id, const char **vals) {
    for (int a = 0; a < sw->n_axes; a++) vals[a] = sw->axes[a].fixed;
    if (sw->n_blocks == 0) return;
    long local;
    const SweepBlock *b = block_of(sw, id, &local);
    int digit[SWEEP_MAX_AXES];
    block_digits(b, local, digit);
    for (int k = 0; k < b->n_keys; k++) vals[b->axis[k]] = sw->axes[b->axis[k]].values[b->value[k][digit[k]]];
}

void sweep_job_value_index(const Sweep *sw, long id, int *idx) {
    for (int a = 0; a < sw->n_axes; a++) idx[a] = -1;
    if (sw->n_blocks == 0) return;
    long local;
    const SweepBlock *b = block_of(sw, id, &local);
    int digit[SWEEP_MAX_AXES];
    block_digits(b, local, digit);
    for (int k = 0; k < b->n_keys; k++) idx[b->axis[k]] = b->value[k][digit[k]];
}

int sweep_axis_width(const Sweep *sw, int a) {
    const Axis *ax = &sw->axes[a];
    size_t w = strlen(ax->key);
    if (ax->fixed && strlen(ax->fixed) > w) w = strlen(ax->fixed);
    for (int i = 0; i < ax->n; i++)
        if (strlen(ax->values[i]) > w) w = strlen(ax->values[i]);
    return (int)w;
}

/* Next combination of the keys k with mask[k] (odometer, last fastest). @return 0 when done. */
static int next_digits(const SweepBlock *b, const unsigned char *mask, int *digit) {
    for (int k = b->n_keys - 1; k >= 0; k--) {
        if (!mask[k]) continue;
        if (++digit[k] < b->n[k]) return 1;
        digit[k] = 0;
    }
    return 0;
}

static int in_list(const char *word, const char *list) {
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, "|");
        if (len == n && !strncmp(p, word, n)) return 1;
        p += len + (p[len] == '|');
    }
    return 0;
}

static int load_fixed(yaml_document_t *doc, yaml_node_t *map, Sweep *sw, const char *path,
                      char *err, size_t errlen) {
    if (map->type != YAML_MAPPING_NODE) {
        ERR_AT(map, "fixed: expected a mapping of parameter: value");
        return -1;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            ERR_AT(k, "fixed: keys must be parameter names");
            return -1;
        }
        const char *key = (const char *)k->data.scalar.value;
        const ParamDef *d = param_find(key);
        if (!d) {
            ERR_AT(k, "fixed: unknown parameter '%s' (synsweep train --help lists them)", key);
            return -1;
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (!strcmp((const char *)yaml_document_get_node(doc, q->key)->data.scalar.value, key)) {
                ERR_AT(k, "fixed: '%s' is given twice", key);
                return -1;
            }
        if (v->type == YAML_SEQUENCE_NODE && !is_list_kind(d)) {
            ERR_AT(v, "fixed: '%s' takes a single value; to sweep over several put it under grid:", key);
            return -1;
        }
        char text[512];
        if (node_text(doc, v, is_list_kind(d), text, sizeof text, path, key, err, errlen)) return -1;
        if (set_at(&sw->base, v, key, text, path, err, errlen)) return -1;
    }
    return 0;
}

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

static void grid_load_free(GridLoad *g) {
    for (int b = 0; b < g->n_blocks; b++)
        for (int k = 0; k < g->blocks[b].n_keys; k++) {
            KeyLoad *kl = &g->blocks[b].keys[k];
            for (int i = 0; kl->canon && i < kl->n; i++) free(kl->canon[i]);
            free(kl->canon), free(kl->raw);
        }
    free(g->blocks);
    memset(g, 0, sizeof(*g));
}

/* Reads one mapping of parameter: [values] into bl (values parsed and canonical). */
static int load_block(yaml_document_t *doc, yaml_node_t *map, const char *where, int in_block, BlockLoad *bl,
                      const Sweep *sw, long *n_jobs, const char *path, char *err, size_t errlen) {
    bl->node = map;
    *n_jobs = 1;
    if (map->type != YAML_MAPPING_NODE) {
        ERR_AT(map, "%s: expected a mapping of parameter: [values]", where);
        return -1;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            ERR_AT(k, "%s: keys must be parameter names", where);
            return -1;
        }
        const char *key = (const char *)k->data.scalar.value;
        const ParamDef *d = param_find(key);
        if (!d) {
            ERR_AT(k, "%s: unknown parameter '%s' (synsweep train --help lists them)", where, key);
            return -1;
        }
        for (int j = 0; j < bl->n_keys; j++)
            if (bl->keys[j].d == d) {
                ERR_AT(k, "%s: '%s' is given twice", where, key);
                return -1;
            }
        /* in a list of blocks a scalar is one value: {model: cnn, conv_dist: [normal, trained]} */
        int one = v->type == YAML_SCALAR_NODE && in_block;
        if (v->type != YAML_SEQUENCE_NODE && !one) {
            ERR_AT(v, "%s: '%s' needs a list of values, e.g. %s: [a, b]; single values go under fixed:", where, key, key);
            return -1;
        }
        int n = one ? 1 : (int)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (n == 0) {
            ERR_AT(v, "%s: '%s' has an empty list; give at least one value", where, key);
            return -1;
        }
        if (bl->n_keys == SWEEP_MAX_AXES) {
            ERR_AT(k, "%s: more than %d keys", where, SWEEP_MAX_AXES);
            return -1;
        }
        KeyLoad *kl = &bl->keys[bl->n_keys++];
        kl->d = d, kl->key = k, kl->list = v;
        kl->canon = calloc((size_t)n, sizeof(char *));
        kl->raw = malloc((size_t)n * d->size);
        if (!kl->canon || !kl->raw) {
            snprintf(err, errlen, "%s: out of memory", path);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            yaml_node_t *item = one ? v : yaml_document_get_node(doc, v->data.sequence.items.start[i]);
            char text[512], canon[512];
            if (node_text(doc, item, is_list_kind(d), text, sizeof text, path, key, err, errlen))
                return -1;
            JobSpec scratch = sw->base;
            if (set_at(&scratch, item, key, text, path, err, errlen)) return -1;
            jobspec_get(&scratch, d, canon, sizeof canon);
            memcpy(kl->raw + (size_t)i * d->size, (char *)&scratch + d->offset, d->size);
            kl->n++;
            if (!(kl->canon[i] = strdup(canon))) {
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
        }
        if (*n_jobs > SWEEP_MAX_JOBS / n) {
            ERR_AT(k, "grid: more than %ld jobs", SWEEP_MAX_JOBS);
            return -1;
        }
        *n_jobs *= n;
    }
    return 0;
}

/* One value of one key of one block, while the axes are built. */
typedef struct Entry {
    const char *canon;
    int block, key, item;
} Entry;

static int cmp_entry(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    int c = strcmp(x->canon, y->canon);
    if (c) return c;
    if (x->block != y->block) return x->block < y->block ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

typedef struct Group {
    int first; /* entry index (sorted) */
    int block, item;
} Group;

static int cmp_group(const void *a, const void *b) {
    const Group *x = a, *y = b;
    if (x->block != y->block) return x->block < y->block ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/*
 * Axis a from every block's key of that name: distinct values in order of first appearance
 * (a value repeated within a block is an error), and each block's value indices.
 */
static int build_axis(yaml_document_t *doc, GridLoad *g, Sweep *sw, int a, const char *path,
                      char *err, size_t errlen) {
    Axis *ax = &sw->axes[a];
    size_t n = 0;
    for (int b = 0; b < g->n_blocks; b++)
        for (int k = 0; k < g->blocks[b].n_keys; k++)
            if (sw->blocks[b].axis[k] == a) n += (size_t)g->blocks[b].keys[k].n;
    Entry *e = malloc(n * sizeof(Entry));
    Group *gr = malloc(n * sizeof(Group));
    int rc = -1;
    if (!e || !gr) goto oom;
    size_t m = 0;
    for (int b = 0; b < g->n_blocks; b++)
        for (int k = 0; k < g->blocks[b].n_keys; k++)
            if (sw->blocks[b].axis[k] == a) {
                KeyLoad *kl = &g->blocks[b].keys[k];
                if (!(sw->blocks[b].value[k] = malloc((size_t)kl->n * sizeof(int)))) goto oom;
                for (int i = 0; i < kl->n; i++) e[m++] = (Entry){kl->canon[i], b, k, i};
            }
    qsort(e, n, sizeof(Entry), cmp_entry);
    int n_groups = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && !strcmp(e[i].canon, e[i - 1].canon)) {
            if (e[i].block == e[i - 1].block) {
                KeyLoad *kl = &g->blocks[e[i].block].keys[e[i].key];
                yaml_node_t *item = yaml_document_get_node(doc, kl->list->data.sequence.items.start[e[i].item]);
                yaml_node_t *prev = yaml_document_get_node(doc, kl->list->data.sequence.items.start[e[i - 1].item]);
                /* (a scalar key has one value, so kl->list is a sequence here) */
                ERR_AT(item, "grid: '%s' has the value '%s' twice (also at line %zu, column %zu); "
                       "each job must run once", ax->key, e[i].canon, prev->start_mark.line + 1,
                       prev->start_mark.column + 1);
                goto done;
            }
            continue;
        }
        gr[n_groups++] = (Group){(int)i, e[i].block, e[i].item};
    }
    qsort(gr, (size_t)n_groups, sizeof(Group), cmp_group); /* first appearance */
    ax->values = calloc((size_t)n_groups, sizeof(char *));
    ax->raw = malloc((size_t)n_groups * ax->def->size);
    if (!ax->values || !ax->raw) goto oom;
    for (int u = 0; u < n_groups; u++) {
        const Entry *f = &e[gr[u].first];
        KeyLoad *kl = &g->blocks[f->block].keys[f->key];
        ax->values[u] = kl->canon[f->item], kl->canon[f->item] = NULL; /* moved */
        memcpy(ax->raw + (size_t)u * ax->def->size, kl->raw + (size_t)f->item * ax->def->size, ax->def->size);
        ax->n++;
        for (size_t i = (size_t)gr[u].first; i < n && (i == (size_t)gr[u].first || !strcmp(e[i].canon, e[i - 1].canon)); i++)
            sw->blocks[e[i].block].value[e[i].key][e[i].item] = u;
    }
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
done:
    free(e), free(gr);
    return rc;
}

/* grid: one mapping, or a list of mappings (blocks); fills sw->blocks and sw->axes. */
static int load_grid(yaml_document_t *doc, yaml_node_t *grid, Sweep *sw, GridLoad *g, const char *path,
                     char *err, size_t errlen) {
    int n = 1;
    if (grid->type == YAML_SEQUENCE_NODE) {
        n = (int)(grid->data.sequence.items.top - grid->data.sequence.items.start);
        if (n == 0) {
            ERR_AT(grid, "grid: empty list; give a mapping of parameter: [values], or a list of them");
            return -1;
        }
        if (n > SWEEP_MAX_BLOCKS) {
            ERR_AT(grid, "grid: more than %d blocks", SWEEP_MAX_BLOCKS);
            return -1;
        }
    } else if (grid->type != YAML_MAPPING_NODE) {
        ERR_AT(grid, "grid: expected a mapping of parameter: [values], or a list of them");
        return -1;
    }
    g->blocks = calloc((size_t)n, sizeof(BlockLoad));
    sw->blocks = calloc((size_t)n, sizeof(SweepBlock));
    if (!g->blocks || !sw->blocks) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    sw->n_jobs = 0;
    for (int b = 0; b < n; b++) {
        yaml_node_t *map = grid->type == YAML_MAPPING_NODE
                               ? grid : yaml_document_get_node(doc, grid->data.sequence.items.start[b]);
        char where[48];
        snprintf(where, sizeof where, n == 1 && grid->type == YAML_MAPPING_NODE ? "grid" : "grid block %d", b + 1);
        long nb;
        g->n_blocks = sw->n_blocks = b + 1;
        SweepBlock *sb = &sw->blocks[b];
        if (load_block(doc, map, where, grid->type == YAML_SEQUENCE_NODE, &g->blocks[b], sw, &nb, path, err, errlen)) return -1;
        if (sw->n_jobs > SWEEP_MAX_JOBS - nb) {
            ERR_AT(map, "grid: more than %ld jobs", SWEEP_MAX_JOBS);
            return -1;
        }
        sb->first = sw->n_jobs, sb->n_jobs = nb, sw->n_jobs += nb;
        sb->line = (int)map->start_mark.line + 1, sb->column = (int)map->start_mark.column + 1;
        sb->n_keys = g->blocks[b].n_keys;
        for (int k = 0; k < sb->n_keys; k++) {
            KeyLoad *kl = &g->blocks[b].keys[k];
            int a = sweep_axis(sw, kl->d->name);
            if (a < 0) {
                if (sw->n_axes == SWEEP_MAX_AXES) {
                    ERR_AT(kl->key, "grid: more than %d keys", SWEEP_MAX_AXES);
                    return -1;
                }
                a = sw->n_axes++;
                snprintf(sw->axes[a].key, sizeof sw->axes[a].key, "%s", kl->d->name);
                sw->axes[a].def = kl->d;
            }
            sb->axis[k] = a, sb->n[k] = kl->n;
        }
    }
    for (int a = 0; a < sw->n_axes; a++)
        if (build_axis(doc, g, sw, a, path, err, errlen)) return -1;
    return 0;
}

/* ---- checks over axes and blocks, not jobs ---- */

/* In block b, an axis of 2+ values that some of the block's jobs ignore: their selectors' combinations. */
static int check_applies(const Sweep *sw, const SweepBlock *b, const BlockLoad *bl, const char *path,
                         char *err, size_t errlen) {
    unsigned char mask[SWEEP_MAX_AXES];
    int digit[SWEEP_MAX_AXES] = {0};
    for (int k = 0; k < b->n_keys; k++) mask[k] = (unsigned char)param_is_selector(bl->keys[k].d);
    do {
        JobSpec s;
        block_spec(sw, b, digit, &s);
        for (int k = 0; k < b->n_keys; k++) {
            const ParamDef *d = bl->keys[k].d, *ex;
            if (b->n[k] < 2 || !(ex = param_excluded_by(d, &s))) continue;
            char v[512];
            jobspec_get(&s, ex, v, sizeof v);
            ERR_AT(bl->keys[k].key, "grid: '%s' has %d values, but the jobs with %s: %s ignore it (it "
                   "applies where %s), so they would run %d times each; give it a grid block of its "
                   "own (docs/JOBSPEC.md)", d->name, b->n[k], ex->name, v, d->applies, b->n[k]);
            return -1;
        }
    } while (next_digits(b, mask, digit));
    return 0;
}

/* jobspec_check on every combination of the values it reads (the other keys at their first value). */
static int check_combinations(const Sweep *sw, const SweepBlock *b, const BlockLoad *bl, const char *path,
                              char *err, size_t errlen) {
    unsigned char mask[SWEEP_MAX_AXES];
    int digit[SWEEP_MAX_AXES] = {0};
    for (int k = 0; k < b->n_keys; k++)
        mask[k] = (unsigned char)(param_is_selector(bl->keys[k].d) || in_list(bl->keys[k].d->name, JOBSPEC_CHECK_READS));
    do {
        JobSpec s;
        char e[300];
        block_spec(sw, b, digit, &s);
        if (jobspec_check(&s, e, sizeof e)) {
            snprintf(err, errlen, "%s: job %ld: %s", path, block_id(b, digit), e);
            return -1;
        }
    } while (next_digits(b, mask, digit));
    return 0;
}

/* Index of axis a's fixed value among its values, or -2 if it is not one of them. */
static int fixed_index(const Axis *ax) {
    for (int i = 0; i < ax->n; i++)
        if (!strcmp(ax->values[i], ax->fixed)) return i;
    return -2;
}

/* The value indices block b may give axis a: its key's values, or the fixed value. */
static int axis_set(const SweepBlock *b, int a, const int *fixed_idx, const int **set) {
    for (int k = 0; k < b->n_keys; k++)
        if (b->axis[k] == a) {
            *set = b->value[k];
            return b->n[k];
        }
    *set = &fixed_idx[a];
    return 1;
}

/*
 * Whether blocks A and B (A before B) both give some job, equal in every parameter that
 * applies to it. Enumerates A's selector combinations; for each, every applicable axis
 * must have a value both blocks can give. @return 1 with the job's ids in *ia, *ib.
 */
static int blocks_overlap(const Sweep *sw, const SweepBlock *A, const SweepBlock *B, const int *fixed_idx,
                          int *mark, int *stamp, long *ia, long *ib, char *desc, size_t n) {
    unsigned char mask[SWEEP_MAX_AXES];
    int digit[SWEEP_MAX_AXES] = {0}, chosen[SWEEP_MAX_AXES];
    for (int k = 0; k < A->n_keys; k++) mask[k] = (unsigned char)param_is_selector(sw->axes[A->axis[k]].def);
    do {
        JobSpec s;
        block_spec(sw, A, digit, &s);
        int common = 1;
        for (int a = 0; a < sw->n_axes && common; a++) {
            chosen[a] = -1;
            if (!param_applies(sw->axes[a].def, &s)) continue;
            const int *sa, *sb;
            int na = axis_set(A, a, fixed_idx, &sa), nb = axis_set(B, a, fixed_idx, &sb);
            for (int k = 0; k < A->n_keys; k++) /* a selector of A: this combination's value */
                if (A->axis[k] == a && mask[k]) sa = &A->value[k][digit[k]], na = 1;
            ++*stamp;
            for (int i = 0; i < nb; i++)
                if (sb[i] >= 0) mark[sb[i]] = *stamp;
            for (int i = 0; i < na && chosen[a] < 0; i++)
                if (sa[i] >= 0 && mark[sa[i]] == *stamp) chosen[a] = sa[i];
            /* both at the fixed value, which is none of the listed ones */
            if (chosen[a] < 0 && !(na == 1 && nb == 1 && sa[0] == -2 && sb[0] == -2)) common = 0;
        }
        if (!common) continue;
        int da[SWEEP_MAX_AXES], db[SWEEP_MAX_AXES];
        const SweepBlock *bs[2] = {A, B};
        int *ds[2] = {da, db};
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < bs[j]->n_keys; k++) {
                ds[j][k] = 0;
                for (int i = 0; i < bs[j]->n[k]; i++)
                    if (bs[j]->value[k][i] == chosen[bs[j]->axis[k]]) ds[j][k] = i;
            }
        *ia = block_id(A, da), *ib = block_id(B, db);
        desc[0] = 0;
        for (int a = 0; a < sw->n_axes; a++) {
            if (chosen[a] < 0) continue;
            size_t len = strlen(desc);
            snprintf(desc + len, n - len, "%s%s: %s", len ? ", " : "", sw->axes[a].key, sw->axes[a].values[chosen[a]]);
        }
        return 1;
    } while (next_digits(A, mask, digit));
    return 0;
}

static int check_overlaps(const Sweep *sw, const char *path, char *err, size_t errlen) {
    int max_n = 1, fixed_idx[SWEEP_MAX_AXES], stamp = 0, rc = 0;
    for (int a = 0; a < sw->n_axes; a++) {
        fixed_idx[a] = fixed_index(&sw->axes[a]);
        if (sw->axes[a].n > max_n) max_n = sw->axes[a].n;
    }
    int *mark = calloc((size_t)max_n, sizeof(int));
    if (!mark) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int y = 1; y < sw->n_blocks && !rc; y++)
        for (int x = 0; x < y && !rc; x++) {
            long ia, ib;
            char desc[400];
            if (!blocks_overlap(sw, &sw->blocks[x], &sw->blocks[y], fixed_idx, mark, &stamp, &ia, &ib, desc, sizeof desc))
                continue;
            const SweepBlock *B = &sw->blocks[y];
            snprintf(err, errlen, "%s:%d:%d: grid block %d gives job %ld, which block %d (line %d) gives as "
                     "job %ld (%s); each job must come from one block", path, B->line, B->column, y + 1, ib,
                     x + 1, sw->blocks[x].line, ia, desc[0] ? desc : "the fixed values");
            rc = -1;
        }
    free(mark);
    return rc;
}

/* Nesting depth of every node, from the event stream (libyaml's loader is quadratic in it). */
/* paper: an id (text), or a mapping with an `id:` and other keys whose values are text or
 * lists of text (title, table, ...). Only checked here: the results file keeps the whole
 * YAML text, from which the report reads it. */
static int load_paper(yaml_document_t *doc, yaml_node_t *v, Sweep *sw, const char *path, char *err,
                      size_t errlen) {
    const char *id = NULL;
    if (v->type == YAML_SCALAR_NODE) id = (const char *)v->data.scalar.value;
    else if (v->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key), *x = yaml_document_get_node(doc, p->value);
            if (k->type != YAML_SCALAR_NODE) {
                ERR_AT(k, "paper: expected text keys");
                return -1;
            }
            const char *key = (const char *)k->data.scalar.value;
            int ok = x->type == YAML_SCALAR_NODE;
            if (x->type == YAML_SEQUENCE_NODE) {
                ok = 1;
                for (yaml_node_item_t *it = x->data.sequence.items.start; it < x->data.sequence.items.top; it++)
                    ok = ok && yaml_document_get_node(doc, *it)->type == YAML_SCALAR_NODE;
            }
            if (!ok) {
                ERR_AT(x, "paper: %s: expected text or a list of text", key);
                return -1;
            }
            if (!strcmp(key, "id")) id = x->type == YAML_SCALAR_NODE ? (const char *)x->data.scalar.value : "";
        }
        if (!id) {
            ERR_AT(v, "paper: a mapping needs an id: (e.g. paper: {id: karimi2024, title: ...})");
            return -1;
        }
    } else {
        ERR_AT(v, "paper: expected an id or a mapping with id:, title:, ...");
        return -1;
    }
    if (!*id || strlen(id) >= sizeof sw->paper || id[strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")]) {
        ERR_AT(v, "paper: the id must be 1 to %zu letters, digits, '_', '.' or '-'", sizeof sw->paper - 1);
        return -1;
    }
    snprintf(sw->paper, sizeof sw->paper, "%s", id);
    return 0;
}

static int check_depth(const char *text, size_t len, const char *path, char *err, size_t errlen) {
    yaml_parser_t p;
    yaml_event_t ev;
    int depth = 0, rc = 0, done = 0;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done && !rc) {
        if (!yaml_parser_parse(&p, &ev)) break; /* the loader reports syntax errors */
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > SWEEP_MAX_DEPTH) {
                snprintf(err, errlen, "%s:%zu:%zu: nested deeper than %d levels; a sweep file needs "
                         "about 4", path, ev.start_mark.line + 1, ev.start_mark.column + 1, SWEEP_MAX_DEPTH);
                rc = -1;
            }
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) depth--;
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

int sweep_load(const char *path, const char *data_dir_override, Sweep *sw, char *err,
               size_t errlen) {
    size_t len;
    if (access(path, F_OK) == 0 && file_check_regular(path, NULL, err, errlen)) {
        memset(sw, 0, sizeof(*sw));
        return -1; /* a FIFO would block the read forever */
    }
    char *text = read_file(path, &len);
    if (!text) {
        memset(sw, 0, sizeof(*sw));
        snprintf(err, errlen, "%s: cannot read the sweep file", path);
        return -1;
    }
    int rc = sweep_load_text(text, len, path, data_dir_override, sw, err, errlen);
    free(text);
    return rc;
}

/* Whether a and b have the same base (data_dir aside), axes, values and blocks. */
static int same_structure(const Sweep *a, const Sweep *b) {
    JobSpec x = a->base, y = b->base;
    memcpy(y.data_dir, x.data_dir, sizeof x.data_dir);
    if (memcmp(&x, &y, sizeof x) || a->n_axes != b->n_axes || a->n_blocks != b->n_blocks) return 0;
    for (int i = 0; i < a->n_axes; i++) {
        const Axis *p = &a->axes[i], *q = &b->axes[i];
        if (p->def != q->def || p->n != q->n || !strcmp(p->key, "data_dir") ||
            memcmp(p->raw, q->raw, (size_t)p->n * p->def->size))
            return 0;
    }
    for (int i = 0; i < a->n_blocks; i++) {
        const SweepBlock *p = &a->blocks[i], *q = &b->blocks[i];
        if (p->n_keys != q->n_keys || p->n_jobs != q->n_jobs) return 0;
        for (int k = 0; k < p->n_keys; k++)
            if (p->axis[k] != q->axis[k] || p->n[k] != q->n[k] ||
                memcmp(p->value[k], q->value[k], (size_t)p->n[k] * sizeof(int)))
                return 0;
    }
    return 1;
}

int sweep_same_jobs(const Sweep *a, const Sweep *b, char *diff, size_t n) {
    if (a->n_jobs != b->n_jobs) {
        snprintf(diff, n, "%ld jobs here, %ld in the file", a->n_jobs, b->n_jobs);
        return 0;
    }
    if (same_structure(a, b)) return 1;
    for (long id = 0; id < a->n_jobs; id++) {
        JobSpec x, y;
        sweep_job(a, id, &x), sweep_job(b, id, &y);
        /* fast path: specs are canonical bytes (jobspec_set zero-fills text), data_dir aside */
        memcpy(y.data_dir, x.data_dir, sizeof x.data_dir);
        if (!memcmp(&x, &y, sizeof x)) continue;
        for (int i = 0; i < N_PARAMS; i++) {
            if (!strcmp(PARAMS[i].name, "data_dir")) continue;
            char vx[512], vy[512];
            jobspec_get(&x, &PARAMS[i], vx, sizeof vx), jobspec_get(&y, &PARAMS[i], vy, sizeof vy);
            if (strcmp(vx, vy)) {
                snprintf(diff, n, "job %ld: %s is '%s' here but '%s' in the file", id, PARAMS[i].name, vx, vy);
                return 0;
            }
        }
    }
    return 1;
}

int sweep_load_text(const char *text, size_t len, const char *path, const char *data_dir_override,
                    Sweep *sw, char *err, size_t errlen) {
    memset(sw, 0, sizeof(*sw));
    if (!(sw->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    jobspec_defaults(&sw->base);
    sw->n_jobs = 1;
    yaml_parser_t parser;
    yaml_document_t doc;
    GridLoad g = {0, NULL};
    int have_doc = 0, have_parser = 0;
    if (!(sw->yaml = malloc(len + 1))) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    memcpy(sw->yaml, text, len);
    sw->yaml[len] = 0;
    if (strlen(sw->yaml) != len) {
        snprintf(err, errlen, "%s: contains a NUL byte; expected YAML text", path);
        goto fail;
    }
    if (check_depth(sw->yaml, len, path, err, errlen)) goto fail;
    yaml_parser_initialize(&parser);
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)sw->yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: YAML error: %s%s%s", path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "unknown",
                 parser.context ? " " : "", parser.context ? parser.context : "");
        goto fail;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        snprintf(err, errlen, "%s: empty sweep file; expected keys fixed: and grid:", path);
        goto fail;
    }
    if (root->type != YAML_MAPPING_NODE) {
        ERR_AT(root, "expected a mapping with keys name, description, paper, data_dir, fixed, grid");
        goto fail;
    }
    yaml_node_t *fixed = NULL, *grid = NULL, *data_dir = NULL, *paper = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        yaml_node_t **slot = NULL;
        if (!strcmp(key, "fixed")) slot = &fixed;
        else if (!strcmp(key, "grid")) slot = &grid;
        else if (!strcmp(key, "data_dir")) slot = &data_dir;
        else if (!strcmp(key, "paper")) slot = &paper;
        else if (!strcmp(key, "name") || !strcmp(key, "description")) {
            if (v->type != YAML_SCALAR_NODE) {
                ERR_AT(v, "%s: expected text", key);
                goto fail;
            }
            if (!strcmp(key, "name")) snprintf(sw->name, sizeof sw->name, "%s", v->data.scalar.value);
            continue;
        } else {
            ERR_AT(k, "unknown top-level key '%s'; expected name, description, paper, data_dir, fixed or grid", key);
            goto fail;
        }
        if (*slot) {
            ERR_AT(k, "'%s' is given twice", key);
            goto fail;
        }
        *slot = v;
    }
    if (paper && load_paper(&doc, paper, sw, path, err, errlen)) goto fail;
    if (data_dir) {
        char text[300];
        if (node_text(&doc, data_dir, 0, text, sizeof text, path, "data_dir", err, errlen) ||
            set_at(&sw->base, data_dir, "data_dir", text, path, err, errlen))
            goto fail;
    }
    if (fixed && fixed->type == YAML_SCALAR_NODE && fixed->data.scalar.length == 0) fixed = NULL;
    if (fixed && load_fixed(&doc, fixed, sw, path, err, errlen)) goto fail;
    if (grid && grid->type == YAML_SCALAR_NODE && grid->data.scalar.length == 0) grid = NULL;
    if (grid && load_grid(&doc, grid, sw, &g, path, err, errlen)) goto fail;
    for (int a = 0; a < sw->n_axes; a++)
        if (fixed && fixed->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *p = fixed->data.mapping.pairs.start; p < fixed->data.mapping.pairs.top; p++) {
                yaml_node_t *k = yaml_document_get_node(&doc, p->key);
                if (!strcmp((const char *)k->data.scalar.value, sw->axes[a].key)) {
                    ERR_AT(k, "'%s' is under both fixed: and grid:; keep one", sw->axes[a].key);
                    goto fail;
                }
            }
    /* where the data lives */
    char e[300];
    if (data_dir_override && *data_dir_override) {
        if (jobspec_set(&sw->base, "data_dir", data_dir_override, e, sizeof e)) {
            snprintf(err, errlen, "--data-dir: %s", e);
            goto fail;
        }
    }
    else if (!sw->base.data_dir[0]) {
        const char *env = getenv("SYNSWEEP_DATA");
        if (jobspec_set(&sw->base, "data_dir", env && *env ? env : "data", e, sizeof e)) {
            snprintf(err, errlen, "$SYNSWEEP_DATA: %s", e);
            goto fail;
        }
    }
    for (int a = 0; a < sw->n_axes; a++) {
        char v[512];
        jobspec_get(&sw->base, sw->axes[a].def, v, sizeof v);
        if (!(sw->axes[a].fixed = strdup(v))) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto fail;
        }
    }
    /* every job valid and run once: checked per block and pair of blocks, not per job */
    sw->max_epochs = sw->n_blocks ? 0 : sw->base.epochs;
    if (sw->n_blocks == 0 && jobspec_check(&sw->base, e, sizeof e)) {
        snprintf(err, errlen, "%s: job 0: %s", path, e);
        goto fail;
    }
    for (int b = 0; b < sw->n_blocks; b++) {
        const SweepBlock *sb = &sw->blocks[b];
        if (check_applies(sw, sb, &g.blocks[b], path, err, errlen) ||
            check_combinations(sw, sb, &g.blocks[b], path, err, errlen))
            goto fail;
        int has_epochs = 0;
        for (int k = 0; k < sb->n_keys; k++) {
            const Axis *ax = &sw->axes[sb->axis[k]];
            if (strcmp(ax->key, "epochs")) continue;
            has_epochs = 1;
            for (int i = 0; i < sb->n[k]; i++) {
                int32_t ep;
                memcpy(&ep, ax->raw + (size_t)sb->value[k][i] * sizeof ep, sizeof ep);
                if (ep > sw->max_epochs) sw->max_epochs = ep;
            }
        }
        if (!has_epochs && sw->base.epochs > sw->max_epochs) sw->max_epochs = sw->base.epochs;
    }
    if (check_overlaps(sw, path, err, errlen)) goto fail;
    grid_load_free(&g);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return 0;
fail:
    grid_load_free(&g);
    if (have_doc) yaml_document_delete(&doc);
    if (have_parser) yaml_parser_delete(&parser);
    sweep_free(sw);
    return -1;
}
