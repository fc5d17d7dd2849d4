/*
 * sweep.c: YAML through libyaml's document API (yaml_parser_load), so every node has a
 * mark for file:line:column messages. Accepted top-level keys: name, description,
 * data_dir, fixed, grid.
 */
#include "sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

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
    for (int a = 0; a < sw->n_axes; a++) {
        for (int i = 0; i < sw->axes[a].n; i++) free(sw->axes[a].values[i]);
        free(sw->axes[a].values);
    }
    memset(sw, 0, sizeof(*sw));
}

int sweep_axis(const Sweep *sw, const char *key) {
    for (int a = 0; a < sw->n_axes; a++)
        if (strcmp(sw->axes[a].key, key) == 0) return a;
    return -1;
}

void sweep_job(const Sweep *sw, long id, JobSpec *out) {
    *out = sw->base;
    char e[300];
    for (int a = sw->n_axes - 1; a >= 0; a--) {
        const Axis *ax = &sw->axes[a];
        int rc = jobspec_set(out, ax->key, ax->values[id % ax->n], e, sizeof e);
        (void)rc; /* values were validated by sweep_load */
        id /= ax->n;
    }
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

static int load_grid(yaml_document_t *doc, yaml_node_t *map, Sweep *sw, const char *path,
                     char *err, size_t errlen) {
    if (map->type != YAML_MAPPING_NODE) {
        ERR_AT(map, "grid: expected a mapping of parameter: [values]");
        return -1;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            ERR_AT(k, "grid: keys must be parameter names");
            return -1;
        }
        const char *key = (const char *)k->data.scalar.value;
        const ParamDef *d = param_find(key);
        if (!d) {
            ERR_AT(k, "grid: unknown parameter '%s' (synsweep train --help lists them)", key);
            return -1;
        }
        if (sweep_axis(sw, key) >= 0) {
            ERR_AT(k, "grid: '%s' is given twice", key);
            return -1;
        }
        if (v->type != YAML_SEQUENCE_NODE) {
            ERR_AT(v, "grid: '%s' needs a list of values, e.g. %s: [a, b]; single values go under fixed:", key, key);
            return -1;
        }
        int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (n == 0) {
            ERR_AT(v, "grid: '%s' has an empty list; give at least one value", key);
            return -1;
        }
        if (sw->n_axes == SWEEP_MAX_AXES) {
            ERR_AT(k, "grid: more than %d keys", SWEEP_MAX_AXES);
            return -1;
        }
        Axis *ax = &sw->axes[sw->n_axes++];
        snprintf(ax->key, sizeof ax->key, "%s", key);
        if (!(ax->values = calloc((size_t)n, sizeof(char *)))) {
            snprintf(err, errlen, "%s: out of memory", path);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            yaml_node_t *item = yaml_document_get_node(doc, v->data.sequence.items.start[i]);
            char text[512], canon[512];
            if (node_text(doc, item, is_list_kind(d), text, sizeof text, path, key, err, errlen))
                return -1;
            JobSpec scratch = sw->base;
            if (set_at(&scratch, item, key, text, path, err, errlen)) return -1;
            jobspec_get(&scratch, d, canon, sizeof canon);
            ax->n++;
            if (!(ax->values[i] = strdup(canon))) {
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
        }
        if (sw->n_jobs > SWEEP_MAX_JOBS / n) {
            ERR_AT(k, "grid: more than %ld jobs", SWEEP_MAX_JOBS);
            return -1;
        }
        sw->n_jobs *= n;
    }
    return 0;
}

int sweep_load(const char *path, const char *data_dir_override, Sweep *sw, char *err,
               size_t errlen) {
    size_t len;
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

int sweep_same_jobs(const Sweep *a, const Sweep *b, char *diff, size_t n) {
    if (a->n_jobs != b->n_jobs) {
        snprintf(diff, n, "%ld jobs here, %ld in the file", a->n_jobs, b->n_jobs);
        return 0;
    }
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
    snprintf(sw->path, sizeof sw->path, "%s", path);
    jobspec_defaults(&sw->base);
    sw->n_jobs = 1;
    yaml_parser_t parser;
    yaml_document_t doc;
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
        ERR_AT(root, "expected a mapping with keys name, description, data_dir, fixed, grid");
        goto fail;
    }
    yaml_node_t *fixed = NULL, *grid = NULL, *data_dir = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        yaml_node_t **slot = NULL;
        if (!strcmp(key, "fixed")) slot = &fixed;
        else if (!strcmp(key, "grid")) slot = &grid;
        else if (!strcmp(key, "data_dir")) slot = &data_dir;
        else if (!strcmp(key, "name") || !strcmp(key, "description")) {
            if (v->type != YAML_SCALAR_NODE) {
                ERR_AT(v, "%s: expected text", key);
                goto fail;
            }
            if (!strcmp(key, "name")) snprintf(sw->name, sizeof sw->name, "%s", v->data.scalar.value);
            continue;
        } else {
            ERR_AT(k, "unknown top-level key '%s'; expected name, description, data_dir, fixed or grid", key);
            goto fail;
        }
        if (*slot) {
            ERR_AT(k, "'%s' is given twice", key);
            goto fail;
        }
        *slot = v;
    }
    if (data_dir) {
        char text[300];
        if (node_text(&doc, data_dir, 0, text, sizeof text, path, "data_dir", err, errlen) ||
            set_at(&sw->base, data_dir, "data_dir", text, path, err, errlen))
            goto fail;
    }
    if (fixed && fixed->type == YAML_SCALAR_NODE && fixed->data.scalar.length == 0) fixed = NULL;
    if (fixed && load_fixed(&doc, fixed, sw, path, err, errlen)) goto fail;
    if (grid && grid->type == YAML_SCALAR_NODE && grid->data.scalar.length == 0) grid = NULL;
    if (grid && load_grid(&doc, grid, sw, path, err, errlen)) goto fail;
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
    if (data_dir_override && *data_dir_override)
        jobspec_set(&sw->base, "data_dir", data_dir_override, e, sizeof e);
    else if (!sw->base.data_dir[0]) {
        const char *env = getenv("SYNSWEEP_DATA");
        if (jobspec_set(&sw->base, "data_dir", env && *env ? env : "data", e, sizeof e)) {
            snprintf(err, errlen, "$SYNSWEEP_DATA: %s", e);
            goto fail;
        }
    }
    /* every combination must be a valid job */
    for (long id = 0; id < sw->n_jobs; id++) {
        JobSpec s;
        sweep_job(sw, id, &s);
        if (jobspec_check(&s, e, sizeof e)) {
            snprintf(err, errlen, "%s: job %ld: %s", path, id, e);
            goto fail;
        }
        if (s.epochs > sw->max_epochs) sw->max_epochs = s.epochs;
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return 0;
fail:
    if (have_doc) yaml_document_delete(&doc);
    if (have_parser) yaml_parser_delete(&parser);
    sweep_free(sw);
    return -1;
}
