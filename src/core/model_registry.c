/*
 * model_registry.c: the model kinds in registry order (the built-in rows of MODEL_KINDS, then
 * those model_kind_register adds) and the tables gathered from them: PARAMS (the common rows,
 * then each kind's), METRICS likewise, MODEL_CURVE_NAMES (the kinds' curves), and the `model`
 * parameter's choices and help. A kind declares all of them next to its row, so adding one
 * changes no table here.
 *
 * Gathering happens as kinds join, into static tables; the first read closes registration
 * (model_registry_close), so the tables never change under a reader or a thread. Every rank
 * runs the same binary and registers the same kinds, so a JobSpec or JobResult means the same
 * bytes on every rank.
 */
#include "model.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

extern const ModelKind MODEL_MLP, MODEL_CNN, MODEL_LC, MODEL_LC_CONV, MODEL_RBSE, MODEL_RBM, MODEL_PIXELS, MODEL_RESNET;

/* One row per built-in model kind; `synsweep train --help` lists the same names (model: choices). */
const ModelKind *const MODEL_KINDS[] = {&MODEL_MLP, &MODEL_CNN, &MODEL_LC, &MODEL_LC_CONV, &MODEL_RBSE, &MODEL_RBM,
                                        &MODEL_PIXELS, &MODEL_RESNET, NULL};

enum { MAX_KINDS = 32, MAX_PARAMS = 256, MAX_METRICS = 96 };

/* A kind and where its rows went: its area of JobSpec.ext (bytes) and of JobMetrics.ext
 * (doubles), and the index of its first curve. */
typedef struct Slot {
    const ModelKind *k;
    size_t spec_at;
    int metric_at, curve_at;
} Slot;

static struct {
    int ready, closed;
    Slot kinds[MAX_KINDS];
    int n_kinds;
    ParamDef params[MAX_PARAMS];
    int n_params;
    MetricDef metrics[MAX_METRICS];
    unsigned char kinds_metric[MAX_METRICS]; /* 1: a kind's own column */
    int n_metrics;
    const char *curves[N_MODEL_CURVES];
    int n_curves;
    size_t spec_used; /* bytes of JobSpec.ext placed */
    int metrics_used; /* doubles of JobMetrics.ext placed */
    char choices[512], help[4096];
    char err[256];
} R;

static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(R.err, sizeof R.err, fmt, ap);
    va_end(ap);
    return -1;
}

static const ParamDef *gathered_param(const char *name) {
    for (int i = 0; i < R.n_params; i++)
        if (!strcmp(R.params[i].name, name)) return &R.params[i];
    return NULL;
}

/* Every key of a condition list ("key=v1|v2;key2=...") is a gathered parameter. */
static int applies_ok(const char *applies) {
    for (const char *p = applies; p && *p;) {
        size_t len = strcspn(p, ";"), klen = strcspn(p, "=");
        char key[32];
        if (klen >= len || klen >= sizeof key) return 0;
        memcpy(key, p, klen), key[klen] = 0;
        if (!gathered_param(key)) return 0;
        p += len + (p[len] == ';');
    }
    return 1;
}

/* Row d of a kind; ext: its offset is in the kind's area at spec_at of JobSpec.ext. */
static int add_param(const ModelKind *k, const ParamDef *d, int ext, size_t spec_at) {
    ParamDef row = *d;
    if (ext) {
        size_t want = d->kind == PK_REAL ? 8 : d->kind == PK_INT || d->kind == PK_BOOL ? 4 : 0;
        if (d->offset + d->size > k->spec_ext || (want && (d->size != want || d->offset % want)))
            return fail("kind %s: parameter %s does not fit its spec_ext area (%zu bytes)", k->name, d->name,
                        k->spec_ext);
        row.offset += offsetof(JobSpec, ext) + spec_at;
    }
    const ParamDef *same = gathered_param(d->name);
    if (same) /* a row two kinds share is gathered once */
        return same->offset == row.offset && same->kind == row.kind ? 0
               : fail("kind %s: parameter %s is another's", k->name, d->name);
    if (R.n_params == MAX_PARAMS) return fail("kind %s: more than %d parameters in all", k->name, MAX_PARAMS);
    R.params[R.n_params++] = row;
    return 0;
}

static int add_metric(const ModelKind *k, const MetricDef *m, int ext, int metric_at) {
    MetricDef row = *m;
    if (ext) {
        if (m->offset % sizeof(double) || m->offset + sizeof(double) > (size_t)k->metrics_ext * sizeof(double))
            return fail("kind %s: metric %s is not a double of its metrics_ext area", k->name, m->name);
        row.offset += offsetof(JobMetrics, ext) + (size_t)metric_at * sizeof(double);
    }
    for (int i = 0; i < R.n_metrics; i++)
        if (!strcmp(R.metrics[i].name, m->name))
            return R.metrics[i].offset == row.offset && R.kinds_metric[i] ? 0
                   : fail("kind %s: metric %s is another's", k->name, m->name);
    if (R.n_metrics == MAX_METRICS) return fail("kind %s: more than %d metrics in all", k->name, MAX_METRICS);
    R.kinds_metric[R.n_metrics] = 1;
    R.metrics[R.n_metrics++] = row;
    return 0;
}

/* k's curves: the same names in the same order as a block already gathered (a family of
 * kinds shares one list), or all new. *at: the index of the first. */
static int add_curves(const ModelKind *k, int *at) {
    *at = 0;
    if (k->n_curves <= 0) return 0;
    int first = model_curve_find(k->curve_names[0]), n = k->n_curves;
    if (first >= 0) {
        for (int j = 0; j < n; j++)
            if (first + j >= R.n_curves || strcmp(R.curves[first + j], k->curve_names[j]))
                return fail("kind %s: curve %s is another's", k->name, k->curve_names[j]);
        *at = first;
        return 0;
    }
    for (int j = 0; j < n; j++)
        if (model_curve_find(k->curve_names[j]) >= 0) return fail("kind %s: curve %s is another's", k->name, k->curve_names[j]);
    if (R.n_curves + n > N_MODEL_CURVES) return fail("kind %s: more than %d model curves in all", k->name, N_MODEL_CURVES);
    *at = R.n_curves;
    for (int j = 0; j < n; j++) R.curves[R.n_curves++] = k->curve_names[j];
    return 0;
}

/* The `model` row: its choices are the kinds' names, its help their help. */
static int describe_kinds(void) {
    size_t nc = 0, nh = 0;
    R.choices[0] = R.help[0] = 0;
    for (int i = 0; i < R.n_kinds; i++) {
        const ModelKind *k = R.kinds[i].k;
        nc += (size_t)snprintf(R.choices + nc, sizeof R.choices - nc, "%s%s", i ? "|" : "", k->name);
        nh += (size_t)snprintf(R.help + nh, sizeof R.help - nh, "%s%s: %s", i ? "; " : "", k->name, k->help ? k->help : "");
        if (nc >= sizeof R.choices || nh >= sizeof R.help) return -1;
    }
    for (int i = 0; i < R.n_params; i++)
        if (!strcmp(R.params[i].name, "model")) R.params[i].choices = R.choices, R.params[i].help = R.help;
    return 0;
}

static int check_kind(const ModelKind *k, int builtin) {
    if (!k || !k->name || !k->name[0] || strlen(k->name) >= sizeof(((JobSpec *)0)->model) || strchr(k->name, '|'))
        return fail("a kind needs a name of 1 to %zu characters", sizeof(((JobSpec *)0)->model) - 1);
    if (!k->build || !k->free || !k->forward || !k->backward || !k->head)
        return fail("kind %s: build, free, forward, backward and head are required", k->name);
    for (int i = 0; i < R.n_kinds; i++)
        if (!strcmp(R.kinds[i].k->name, k->name)) return fail("kind %s: the name is taken", k->name);
    if (R.n_kinds == MAX_KINDS) return fail("kind %s: more than %d kinds", k->name, MAX_KINDS);
    /* a kind linked in from elsewhere has no JobSpec or JobMetrics field of its own */
    if (!builtin && ((k->n_params > 0 && !k->spec_ext) || (k->n_metrics > 0 && !k->metrics_ext)))
        return fail("kind %s: a registered kind's parameters and metrics live in the ext areas (spec_ext, "
                    "metrics_ext)", k->name);
    return 0;
}

/* Appends k and its rows, or (-1) leaves every table as it was. */
static int add_kind(const ModelKind *k, int builtin) {
    if (check_kind(k, builtin)) return -1;
    int np = R.n_params, nm = R.n_metrics, nc = R.n_curves;
    size_t spec_at = (R.spec_used + 7) & ~(size_t)7;
    int metric_at = R.metrics_used, curve_at, ok = 1;
    if (spec_at + k->spec_ext > JOBSPEC_EXT_BYTES || metric_at + k->metrics_ext > JOBMETRICS_EXT) {
        fail("kind %s: the ext areas are full (JobSpec.ext %d bytes, JobMetrics.ext %d doubles)", k->name,
             JOBSPEC_EXT_BYTES, JOBMETRICS_EXT);
        return -1;
    }
    for (int i = 0; ok && i < k->n_params; i++) ok = !add_param(k, &k->params[i], k->spec_ext > 0, spec_at);
    for (int i = 0; ok && i < k->n_metrics; i++) ok = !add_metric(k, &k->metrics[i], k->metrics_ext > 0, metric_at);
    ok = ok && !add_curves(k, &curve_at);
    for (int i = np; ok && i < R.n_params; i++)
        if (!applies_ok(R.params[i].applies)) ok = !fail("kind %s: parameter %s applies where no parameter is named",
                                                         k->name, R.params[i].name);
    if (ok) {
        R.kinds[R.n_kinds++] = (Slot){k, spec_at, metric_at, curve_at};
        if (describe_kinds()) R.n_kinds--, ok = !fail("kind %s: the model choices or help are too long", k->name);
    }
    if (!ok) {
        R.n_params = np, R.n_metrics = nm, R.n_curves = nc;
        describe_kinds();
        return -1;
    }
    R.spec_used = spec_at + k->spec_ext, R.metrics_used = metric_at + k->metrics_ext;
    return 0;
}

/* The common rows and the built-in kinds, once. */
static void registry_init(void) {
    if (R.ready) return;
    R.ready = 1;
    assert(N_COMMON_PARAMS <= MAX_PARAMS && N_COMMON_METRICS <= MAX_METRICS);
    memcpy(R.params, COMMON_PARAMS, (size_t)N_COMMON_PARAMS * sizeof(ParamDef));
    R.n_params = N_COMMON_PARAMS;
    memcpy(R.metrics, COMMON_METRICS, (size_t)N_COMMON_METRICS * sizeof(MetricDef));
    R.n_metrics = N_COMMON_METRICS;
    for (int i = 0; MODEL_KINDS[i]; i++) {
        int rc = add_kind(MODEL_KINDS[i], 1);
        assert(rc == 0); /* the built-in rows are written that way */
        (void)rc;
    }
}

int model_kind_register(const ModelKind *k) {
    registry_init();
    if (R.closed) return fail("kind %s: registration is closed (the tables were read already)", k && k->name ? k->name : "?");
    return add_kind(k, 0);
}

const char *model_registry_error(void) { return R.err; }

void model_registry_close(void) {
    if (R.closed) return; /* once closed, only read: rank 0's worker thread reads too */
    registry_init();
    R.closed = 1;
}

int model_kind_count(void) {
    model_registry_close();
    return R.n_kinds;
}

const ModelKind *model_kind_at(int i) {
    model_registry_close();
    return i >= 0 && i < R.n_kinds ? R.kinds[i].k : NULL;
}

static const Slot *slot_of(const ModelKind *k) {
    model_registry_close();
    for (int i = 0; i < R.n_kinds; i++)
        if (R.kinds[i].k == k) return &R.kinds[i];
    return NULL;
}

const ModelKind *model_kind_find(const char *name) {
    model_registry_close();
    for (int i = 0; i < R.n_kinds; i++)
        if (!strcmp(R.kinds[i].k->name, name)) return R.kinds[i].k;
    return NULL;
}

const void *model_spec_ext(const ModelKind *k, const JobSpec *s) {
    const Slot *sl = slot_of(k);
    assert(sl);
    return s->ext + sl->spec_at;
}

double *model_metrics_ext(const ModelKind *k, JobMetrics *m) {
    const Slot *sl = slot_of(k);
    assert(sl);
    return m->ext + sl->metric_at;
}

float *model_curve_row(const ModelKind *k, JobResult *r, int e) {
    const Slot *sl = slot_of(k);
    assert(sl);
    if (!r->mcurves || e < 0 || e >= r->n_mepochs) return NULL;
    return r->mcurves + (size_t)e * N_MODEL_CURVES + sl->curve_at;
}

uint64_t jobspec_model_curves(const JobSpec *s, int *len) {
    const ModelKind *k = model_kind_find(s->model);
    *len = 0;
    if (!k || !k->curves) return 0;
    /* the kind counts its own curves; the job's mask counts the gathered ones */
    return k->curves(s, len) << slot_of(k)->curve_at;
}

const ParamDef *params_table(void) {
    model_registry_close();
    return R.params;
}

int params_count(void) {
    model_registry_close();
    return R.n_params;
}

const MetricDef *metrics_table(void) {
    model_registry_close();
    return R.metrics;
}

int metrics_count(void) {
    model_registry_close();
    return R.n_metrics;
}

int metric_is_kinds(const char *name) {
    model_registry_close();
    for (int i = 0; i < R.n_metrics; i++)
        if (!strcmp(R.metrics[i].name, name)) return R.kinds_metric[i];
    return 0;
}

const char *const *model_curve_names(void) {
    model_registry_close();
    return R.curves;
}

int model_curve_count(void) {
    model_registry_close();
    return R.n_curves;
}

int model_curve_find(const char *name) {
    registry_init(); /* (also while kinds join: it does not close registration) */
    for (int i = 0; i < R.n_curves; i++)
        if (!strcmp(R.curves[i], name)) return i;
    return -1;
}
