/*
 * sweep_yaml.c: YAML through libyaml's document API (yaml_parser_load), so every node has a
 * mark for file:line:column messages; an event pass first refuses nesting deeper than
 * SWEEP_MAX_DEPTH (the loader's time grows with the square of the depth). Accepted
 * top-level keys: name, description, paper, data_dir, fixed, grid. The grid is built by
 * sweep_grid.c and checked by sweep_check.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "sweep_internal.h"

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
int sweep_node_text(yaml_document_t *doc, yaml_node_t *v, int allow_list, char *out, size_t n,
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

int sweep_is_list_kind(const ParamDef *d) { return d->kind == PK_INTLIST || d->kind == PK_CHOICELIST; }

int sweep_set_at(JobSpec *s, yaml_node_t *at, const char *key, const char *text,
                  const char *path, char *err, size_t errlen) {
    char e[300];
    if (jobspec_set(s, key, text, e, sizeof e)) {
        ERR_AT(at, "%s", e);
        return -1;
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
        if (v->type == YAML_SEQUENCE_NODE && !sweep_is_list_kind(d)) {
            ERR_AT(v, "fixed: '%s' takes a single value; to sweep over several put it under grid:", key);
            return -1;
        }
        char text[512];
        if (sweep_node_text(doc, v, sweep_is_list_kind(d), text, sizeof text, path, key, err, errlen)) return -1;
        if (sweep_set_at(&sw->base, v, key, text, path, err, errlen)) return -1;
    }
    return 0;
}

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

/* Nesting depth of every node, from the event stream (libyaml's loader is quadratic in it). */
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

/* The top-level values of a sweep file (NULL where absent). */
typedef struct TopKeys {
    yaml_node_t *fixed, *grid, *data_dir, *paper;
} TopKeys;

/* The root mapping's keys into t; name: into sw. */
static int read_top_keys(yaml_document_t *doc, yaml_node_t *root, Sweep *sw, TopKeys *t, const char *path,
                         char *err, size_t errlen) {
    if (root->type != YAML_MAPPING_NODE) {
        ERR_AT(root, "expected a mapping with keys name, description, paper, data_dir, fixed, grid");
        return -1;
    }
    memset(t, 0, sizeof *t);
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        yaml_node_t **slot = NULL;
        if (!strcmp(key, "fixed")) slot = &t->fixed;
        else if (!strcmp(key, "grid")) slot = &t->grid;
        else if (!strcmp(key, "data_dir")) slot = &t->data_dir;
        else if (!strcmp(key, "paper")) slot = &t->paper;
        else if (!strcmp(key, "name") || !strcmp(key, "description")) {
            if (v->type != YAML_SCALAR_NODE) {
                ERR_AT(v, "%s: expected text", key);
                return -1;
            }
            if (!strcmp(key, "name")) snprintf(sw->name, sizeof sw->name, "%s", v->data.scalar.value);
            continue;
        } else {
            ERR_AT(k, "unknown top-level key '%s'; expected name, description, paper, data_dir, fixed or grid", key);
            return -1;
        }
        if (*slot) {
            ERR_AT(k, "'%s' is given twice", key);
            return -1;
        }
        *slot = v;
    }
    /* an empty `fixed:` or `grid:` is no fixed or grid */
    if (t->fixed && t->fixed->type == YAML_SCALAR_NODE && t->fixed->data.scalar.length == 0) t->fixed = NULL;
    if (t->grid && t->grid->type == YAML_SCALAR_NODE && t->grid->data.scalar.length == 0) t->grid = NULL;
    return 0;
}

/* A key under both fixed: and grid: is refused (which would win is not obvious). */
static int check_fixed_vs_grid(yaml_document_t *doc, yaml_node_t *fixed, const Sweep *sw, const char *path,
                               char *err, size_t errlen) {
    if (!fixed || fixed->type != YAML_MAPPING_NODE) return 0;
    for (int a = 0; a < sw->n_axes; a++)
        for (yaml_node_pair_t *p = fixed->data.mapping.pairs.start; p < fixed->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (!strcmp((const char *)k->data.scalar.value, sw->axes[a].key)) {
                ERR_AT(k, "'%s' is under both fixed: and grid:; keep one", sw->axes[a].key);
                return -1;
            }
        }
    return 0;
}

/* Where the data lives: --data-dir beats the file's data_dir:, which beats $SYNSWEEP_DATA, then "data". */
static int resolve_data_dir(Sweep *sw, const char *data_dir_override, char *err, size_t errlen) {
    char e[300];
    if (data_dir_override && *data_dir_override) {
        if (jobspec_set(&sw->base, "data_dir", data_dir_override, e, sizeof e)) {
            snprintf(err, errlen, "--data-dir: %s", e);
            return -1;
        }
    } else if (!sw->base.data_dir[0]) {
        const char *env = getenv("SYNSWEEP_DATA");
        if (jobspec_set(&sw->base, "data_dir", env && *env ? env : "data", e, sizeof e)) {
            snprintf(err, errlen, "$SYNSWEEP_DATA: %s", e);
            return -1;
        }
    }
    return 0;
}

/* Each axis' fixed value: what the jobs of blocks without its key take. */
static int set_axis_fixed(Sweep *sw, const char *path, char *err, size_t errlen) {
    for (int a = 0; a < sw->n_axes; a++) {
        char v[512];
        jobspec_get(&sw->base, sw->axes[a].def, v, sizeof v);
        if (!(sw->axes[a].fixed = strdup(v))) {
            snprintf(err, errlen, "%s: out of memory", path);
            return -1;
        }
    }
    return 0;
}

/* sw->yaml = text, checked and parsed into doc (*parsed set once doc needs deleting). */
static int parse_text(const char *text, size_t len, const char *path, Sweep *sw, yaml_parser_t *parser,
                      yaml_document_t *doc, int *parsed, char *err, size_t errlen) {
    if (!(sw->yaml = malloc(len + 1))) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(sw->yaml, text, len);
    sw->yaml[len] = 0;
    if (strlen(sw->yaml) != len) {
        snprintf(err, errlen, "%s: contains a NUL byte; expected YAML text", path);
        return -1;
    }
    if (check_depth(sw->yaml, len, path, err, errlen)) return -1;
    yaml_parser_set_input_string(parser, (const unsigned char *)sw->yaml, len);
    if (!yaml_parser_load(parser, doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: YAML error: %s%s%s", path, parser->problem_mark.line + 1,
                 parser->problem_mark.column + 1, parser->problem ? parser->problem : "unknown",
                 parser->context ? " " : "", parser->context ? parser->context : "");
        return -1;
    }
    *parsed = 1;
    if (!yaml_document_get_root_node(doc)) {
        snprintf(err, errlen, "%s: empty sweep file; expected keys fixed: and grid:", path);
        return -1;
    }
    return 0;
}

/* The document's keys into sw (the grid into g), in the order their errors should show. */
static int load_document(yaml_document_t *doc, const char *data_dir_override, Sweep *sw, GridLoad *g,
                         const char *path, char *err, size_t errlen) {
    TopKeys t;
    if (read_top_keys(doc, yaml_document_get_root_node(doc), sw, &t, path, err, errlen)) return -1;
    if (t.paper && load_paper(doc, t.paper, sw, path, err, errlen)) return -1;
    if (t.data_dir) {
        char text[300];
        if (sweep_node_text(doc, t.data_dir, 0, text, sizeof text, path, "data_dir", err, errlen) ||
            sweep_set_at(&sw->base, t.data_dir, "data_dir", text, path, err, errlen))
            return -1;
    }
    if (t.fixed && load_fixed(doc, t.fixed, sw, path, err, errlen)) return -1;
    if (t.grid && sweep_load_grid(doc, t.grid, sw, g, path, err, errlen)) return -1;
    if (check_fixed_vs_grid(doc, t.fixed, sw, path, err, errlen) ||
        resolve_data_dir(sw, data_dir_override, err, errlen) || set_axis_fixed(sw, path, err, errlen))
        return -1;
    return 0;
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
    int parsed = 0;
    yaml_parser_initialize(&parser);
    int rc = parse_text(text, len, path, sw, &parser, &doc, &parsed, err, errlen) ||
             load_document(&doc, data_dir_override, sw, &g, path, err, errlen) ||
             sweep_check_blocks(sw, &g, path, err, errlen) ? -1 : 0;
    if (rc == 0) sweep_set_max_epochs(sw);
    sweep_grid_load_free(&g);
    if (parsed) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc) sweep_free(sw);
    return rc;
}
