/*
 * sweep_grid.c: grid: as blocks and union axes (values parsed, canonical, each job once),
 * and job id -> spec by mixed-radix arithmetic over the blocks, so that neither loading nor
 * expansion costs time or memory per job (sweep.h).
 */
#include <stdlib.h>
#include <string.h>

#include "sweep_internal.h"

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

long sweep_block_id(const SweepBlock *b, const int *digit) {
    long id = 0;
    for (int k = 0; k < b->n_keys; k++) id = id * b->n[k] + digit[k];
    return b->first + id;
}

/* s = base with block b's keys at value indices digit. */
void sweep_block_spec(const Sweep *sw, const SweepBlock *b, const int *digit, JobSpec *s) {
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
    sweep_block_spec(sw, b, digit, out);
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

void sweep_grid_load_free(GridLoad *g) {
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
            if (sweep_node_text(doc, item, sweep_is_list_kind(d), text, sizeof text, path, key, err, errlen))
                return -1;
            JobSpec scratch = sw->base;
            if (sweep_set_at(&scratch, item, key, text, path, err, errlen)) return -1;
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
int sweep_load_grid(yaml_document_t *doc, yaml_node_t *grid, Sweep *sw, GridLoad *g, const char *path,
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

void sweep_set_max_epochs(Sweep *sw) {
    sw->max_epochs = sw->n_blocks ? 0 : sw->base.epochs;
    for (int b = 0; b < sw->n_blocks; b++) {
        const SweepBlock *sb = &sw->blocks[b];
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
}
