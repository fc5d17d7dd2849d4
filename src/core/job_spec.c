/*
 * job_spec.c: a JobSpec from text and back (jobspec_set / jobspec_get, with every value
 * checked against its PARAMS row), the `applies` conditions ("key=v1|v2;key2=..."), the
 * checks across fields (jobspec_check), and what derived quantities a spec implies.
 */
#include "job.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "dist.h"
#include "model.h"

const ParamDef *param_find(const char *name) {
    for (int i = 0; i < N_PARAMS; i++)
        if (strcmp(PARAMS[i].name, name) == 0) return &PARAMS[i];
    return NULL;
}

/* Is word one of the '|'-separated choices? (the `applies` conditions, choice values, and the
 * sweep loader's JOBSPEC_CHECK_READS) */
int in_choices(const char *word, const char *choices) {
    size_t n = strlen(word);
    for (const char *p = choices; *p;) {
        size_t len = strcspn(p, "|");
        if (len == n && !strncmp(p, word, n)) return 1;
        p += len + (p[len] == '|');
    }
    return 0;
}

/* Condition `cond` ("key=v1|v2", up to ';' or the end) on s: 1 holds, 0 fails; *key set. */
static int cond_holds(const char *cond, size_t len, const JobSpec *s, const ParamDef **key) {
    const char *eq = memchr(cond, '=', len);
    assert(eq); /* PARAMS is written that way (model_registry.c checks kinds' rows) */
    char name[32], choices[256], value[512];
    snprintf(name, sizeof name, "%.*s", (int)(eq - cond), cond);
    snprintf(choices, sizeof choices, "%.*s", (int)(len - (size_t)(eq + 1 - cond)), eq + 1);
    *key = param_find(name);
    assert(*key);
    jobspec_get(s, *key, value, sizeof value);
    return in_choices(value, choices);
}

const ParamDef *param_excluded_by(const ParamDef *d, const JobSpec *s) {
    for (const char *p = d->applies; p && *p;) {
        size_t len = strcspn(p, ";");
        const ParamDef *key;
        if (!cond_holds(p, len, s, &key)) return key;
        p += len + (p[len] == ';');
    }
    return NULL;
}

int param_applies(const ParamDef *d, const JobSpec *s) { return param_excluded_by(d, s) == NULL; }

int param_is_selector(const ParamDef *d) {
    size_t n = strlen(d->name);
    for (int i = 0; i < N_PARAMS; i++)
        for (const char *p = PARAMS[i].applies; p && *p;) {
            size_t len = strcspn(p, "=");
            if (len == n && !strncmp(p, d->name, n)) return 1;
            p += strcspn(p, ";");
            p += *p == ';';
        }
    return 0;
}

static int parse_int(const char *v, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) {
        /* also accept integral reals such as 1e3 */
        double d = strtod(v, &end);
        if (end == v || *end || d != floor(d) || fabs(d) > 2147483647.0) return -1;
        x = (long)d;
    }
    *out = x;
    return 0;
}

static void trim(char *dst, const char *src, size_t n) {
    while (isspace((unsigned char)*src)) src++;
    snprintf(dst, n, "%s", src);
    size_t k = strlen(dst);
    while (k && isspace((unsigned char)dst[k - 1])) dst[--k] = 0;
}

/* A number, a boolean or a name into field (d's kind). @return 0 or -2 with err. */
static int parse_scalar(const ParamDef *d, const char *v, char *field, char *err, size_t errlen) {
    const char *key = d->name;
    switch (d->kind) {
    case PK_INT: {
        long x;
        if (parse_int(v, &x)) {
            snprintf(err, errlen, "%s: expected an integer, got '%s'", key, v);
            return -2;
        }
        if (x < d->lo || x > d->hi) {
            snprintf(err, errlen, "%s: %ld is out of range [%.0f, %.0f]", key, x, d->lo, d->hi);
            return -2;
        }
        *(int32_t *)field = (int32_t)x;
        return 0;
    }
    case PK_REAL: {
        char *end;
        double x = strtod(v, &end);
        if (end == v || *end || !isfinite(x)) {
            snprintf(err, errlen, "%s: expected a number, got '%s'", key, v);
            return -2;
        }
        if (x < d->lo || x > d->hi) {
            snprintf(err, errlen, "%s: %g is out of range [%g, %g]", key, x, d->lo, d->hi);
            return -2;
        }
        *(double *)field = x;
        return 0;
    }
    case PK_BOOL: {
        int b;
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) b = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) b = 0;
        else {
            snprintf(err, errlen, "%s: expected true or false, got '%s'", key, v);
            return -2;
        }
        *(int32_t *)field = b;
        return 0;
    }
    case PK_CHOICE:
        if (!in_choices(v, d->choices)) {
            snprintf(err, errlen, "%s: '%s' is not one of %s", key, v, d->choices);
            return -2;
        }
        break;
    default: /* PK_STR */
        if (strlen(v) >= d->size) {
            snprintf(err, errlen, "%s: longer than %zu characters", key, d->size - 1);
            return -2;
        }
        break;
    }
    memset(field, 0, d->size);
    snprintf(field, d->size, "%s", v);
    return 0;
}

/* One item of a list value, checked and canonical ("032" -> "32"); n_items counts them, *last
 * is the previous integer item (the schedule's epochs must increase). */
static int list_item(const ParamDef *d, char *item, size_t n, int *n_items, long *last, char *err, size_t errlen) {
    const char *key = d->name;
    if (d->kind == PK_CHOICELIST) {
        if (in_choices(item, d->choices)) return 0;
        snprintf(err, errlen, "%s: item '%s' is not one of %s", key, item, d->choices);
        return -2;
    }
    long x;
    if (parse_int(item, &x) || x < d->lo || x > d->hi) {
        snprintf(err, errlen, "%s: item '%s' is not an integer in [%.0f, %.0f]", key, item, d->lo, d->hi);
        return -2;
    }
    snprintf(item, n, "%ld", x);
    int schedule = !strcmp(d->name, "lr_decay_epochs");
    if (schedule && *n_items > 0 && x <= *last) {
        snprintf(err, errlen, "%s: epochs must increase, but %ld follows %ld", key, x, *last);
        return -2;
    }
    *last = x;
    int max_items = schedule ? LR_DECAY_MAX : !strcmp(d->name, "lc_channels") ? LC_MAX_LAYERS : MLP_MAX_LAYERS - 1;
    if (++*n_items > max_items) {
        snprintf(err, errlen, "%s: at most %d %s", key, max_items,
                 schedule ? "epochs" : max_items == LC_MAX_LAYERS ? "layers" : "hidden layers");
        return -2;
    }
    return 0;
}

/* A list, items separated by ',' (the YAML loader joins sequences that way), into field as
 * its canonical text. @return 0 or -2 with err. */
static int parse_list(const ParamDef *d, const char *v, char *field, char *err, size_t errlen) {
    char out[512] = "", item[128];
    int n_items = 0;
    long last = 0;
    for (const char *p = v; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len >= sizeof item) len = sizeof item - 1;
        char raw[128];
        memcpy(raw, p, len);
        raw[len] = 0;
        trim(item, raw, sizeof item);
        if (list_item(d, item, sizeof item, &n_items, &last, err, errlen)) return -2;
        if (out[0]) strcat(out, ",");
        if (strlen(out) + strlen(item) >= d->size) {
            snprintf(err, errlen, "%s: list too long (%zu characters at most)", d->name, d->size - 1);
            return -2;
        }
        strcat(out, item);
        if (!comma) break;
        p = comma + 1;
    }
    memset(field, 0, d->size);
    snprintf(field, d->size, "%s", out);
    return 0;
}

int jobspec_set(JobSpec *s, const char *key, const char *value, char *err, size_t errlen) {
    const ParamDef *d = param_find(key);
    if (!d) {
        snprintf(err, errlen, "unknown parameter '%s' (synsweep train --help lists them)", key);
        return -1;
    }
    char v[512];
    trim(v, value, sizeof v);
    /* text fields are zero-filled first, so equal specs are equal byte for byte */
    char *field = (char *)s + d->offset;
    return d->kind == PK_INTLIST || d->kind == PK_CHOICELIST ? parse_list(d, v, field, err, errlen)
                                                             : parse_scalar(d, v, field, err, errlen);
}

void jobspec_get(const JobSpec *s, const ParamDef *d, char *buf, size_t n) {
    const char *field = (const char *)s + d->offset;
    switch (d->kind) {
    case PK_INT: snprintf(buf, n, "%d", *(const int32_t *)field); break;
    case PK_BOOL: snprintf(buf, n, "%s", *(const int32_t *)field ? "true" : "false"); break;
    case PK_REAL: { /* shortest text that reads back to the same double */
        double x = *(const double *)field;
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, x);
            if (strtod(buf, NULL) == x) break;
        }
        break;
    }
    default: snprintf(buf, n, "%s", field); break;
    }
}

void jobspec_defaults(JobSpec *s) {
    memset(s, 0, sizeof(*s));
    char err[256];
    for (int i = 0; i < N_PARAMS; i++) {
        int rc = jobspec_set(s, PARAMS[i].name, PARAMS[i].def, err, sizeof err);
        (void)rc;
        /* hidden's default is the only list default; all defaults parse by construction */
    }
}

int jobspec_noise_points(const JobSpec *s) {
    const RuleDef *rd = rule_find(s->rule);
    if (!rd || !rd->noise_phase || s->noise_epochs <= 0 || s->batch_size <= 0) return 0;
    long batches = (long)s->noise_epochs * ((s->noise_examples + s->batch_size - 1) / s->batch_size);
    return (int)(s->noise_curve_points < batches ? s->noise_curve_points : batches);
}

/* Repeated products in double, as MultiStepLR's chained form; without a schedule exactly lr. */
float jobspec_lr_at(const JobSpec *s, int e) {
    int at[LR_DECAY_MAX];
    int n = jobspec_intlist(s->lr_decay_epochs, at, LR_DECAY_MAX);
    double lr = s->lr;
    for (int k = 0; k < n && at[k] <= e; k++) lr *= s->lr_decay_factor;
    return (float)lr;
}

int jobspec_hidden(const JobSpec *s, int *h) { return jobspec_intlist(s->hidden, h, MLP_MAX_LAYERS); }

int jobspec_intlist(const char *text, int *h, int max) {
    int n = 0;
    for (const char *p = text; *p && n < max;) {
        h[n++] = atoi(p);
        const char *c = strchr(p, ',');
        if (!c) break;
        p = c + 1;
    }
    return n;
}

void jobspec_dist(const JobSpec *s, const char *name, double scale, int k, DistParams *out) {
    dist_defaults(out, name, scale);
    out->mu = s->lognormal_mu, out->sigma2 = s->lognormal_sigma2;
    out->sign = !strcmp(s->lognormal_sign, "random") ? SIGN_RANDOM
                : !strcmp(s->lognormal_sign, "dale") ? SIGN_DALE : SIGN_POSITIVE;
    out->inh_frac = s->dale_inhibitory;
    out->cs_center = s->cs_sigma_center, out->cs_surround = s->cs_sigma_surround;
    out->trunc = s->truncation;
    out->k = k;
}

const char *const JOBSPEC_CHECK_READS =
    "model|rule|optimizer|dataset|train_per_class|train_size|init|feedback|ood|test_split|preprocess|lr_decay_factor|augment";

int jobspec_check(const JobSpec *s, char *err, size_t errlen) {
    if (!model_kind_find(s->model) || !rule_find(s->rule) || !optim_find(s->optimizer)) {
        snprintf(err, errlen, "unknown %s '%s'", !model_kind_find(s->model) ? "model" : !rule_find(s->rule) ? "rule" : "optimizer",
                 !model_kind_find(s->model) ? s->model : !rule_find(s->rule) ? s->rule : s->optimizer);
        return -1;
    }
    const ModelKind *kind = model_kind_find(s->model);
    if ((kind->phases & PHASE_READOUT) && strcmp(s->rule, "bp")) {
        snprintf(err, errlen, "model %s: the readout is one softmax layer, which fa, dfa and fa_noise would train "
                 "exactly as bp (no hidden layer to feed back to); use rule: bp", s->model);
        return -1;
    }
    if ((kind->phases & PHASE_READOUT) && strcmp(s->preprocess, "unit")) {
        snprintf(err, errlen, "model %s binarises pixels x/255; use preprocess: unit", s->model);
        return -1;
    }
    if ((kind->phases & PHASE_READOUT) && strcmp(s->augment, "none")) {
        snprintf(err, errlen, "augment: model %s trains its readout on features drawn once per image from binarised "
                 "pixels; use augment: none (crop_flip is for mlp, cnn, lc, lc_conv, resnet)", s->model);
        return -1;
    }
    if (s->dataset[0] == 0) {
        snprintf(err, errlen, "dataset: not set");
        return -1;
    }
    if (s->train_per_class > 0 && s->train_size > 0) {
        snprintf(err, errlen, "train_per_class and train_size are both set; use one");
        return -1;
    }
    if (!strcmp(s->init, "center_surround") || !strcmp(s->feedback, "center_surround")) {
        snprintf(err, errlen, "center_surround draws conv kernels; use it for conv_dist, not init or feedback");
        return -1;
    }
    if (strcmp(s->ood, "none") && !strcmp(s->test_split, "heldout")) {
        snprintf(err, errlen, "ood: an out-of-distribution test set replaces the test split; use test_split: test");
        return -1;
    }
    const DatasetDef *ds = dataset_find(s->dataset);
    if (!strcmp(s->ood, "usps") && !(ds && ds->mnist_frame)) {
        snprintf(err, errlen, "ood: usps tests a model trained on 28x28 images (mnist family)");
        return -1;
    }
    if (!(s->lr_decay_factor > 0)) {
        snprintf(err, errlen, "lr_decay_factor: expected a factor in (0, 1], got %g (1 is no decay)", s->lr_decay_factor);
        return -1;
    }
    return 0;
}
