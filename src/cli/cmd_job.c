/* cmd_job.c: `synsweep train`: one job on this process (no MPI), its result as JSON. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "memest.h"
#include "worker.h"

static void train_usage(void) {
    printf("usage: synsweep train [--KEY VALUE ...] [--data-dir DIR]\n"
           "\n"
           "Runs one job on this process (no MPI) and prints its result as JSON on stdout.\n"
           "Every KEY is a job parameter, also usable under fixed: and grid: in a sweep.\n"
           "Lists are written comma-separated: --hidden 100,100.\n"
           "--memory-budget GB refuses a job estimated to need more (default: half of this\n"
           "machine's memory).\n"
           "\n"
           "parameters (default):\n");
    for (int i = 0; i < N_PARAMS; i++) {
        const ParamDef *d = &PARAMS[i];
        printf("  --%-18s %s (%s%s%s%s%s%s)\n", d->name, d->help, d->def[0] ? d->def : "\"\"",
               d->choices ? "; " : "", d->choices ? "one of " : "", d->choices ? d->choices : "",
               d->applies ? "; applies where " : "", d->applies ? d->applies : "");
    }
    printf("\nexit status: 0 ok or diverged, 1 failed or bad data, 2 bad command line.\n");
}

/* ---- JSON for `train` ---- */

static void json_num(double x) {
    if (isfinite(x)) printf("%.10g", x);
    else printf("null");
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static void print_result_json(const JobSpec *spec, const JobResult *r) {
    printf("{\n  \"status\": ");
    json_str(status_name(r->status));
    printf(",\n  \"message\": ");
    json_str(r->message);
    printf(",\n  \"seconds\": ");
    json_num(r->seconds);
    printf(",\n  \"n_train\": %d, \"n_test\": %d, \"n_params\": %lld,\n  \"spec\": {", r->n_train,
           r->n_test, (long long)r->n_params);
    for (int i = 0; i < N_PARAMS; i++) {
        char v[512];
        jobspec_get(spec, &PARAMS[i], v, sizeof v);
        printf("%s\n    ", i ? "," : "");
        json_str(PARAMS[i].name);
        printf(": ");
        if (PARAMS[i].kind == PK_INT || PARAMS[i].kind == PK_REAL || PARAMS[i].kind == PK_BOOL) printf("%s", v);
        else json_str(v);
    }
    printf("\n  },\n  \"metrics\": {");
    for (int i = 0; i < N_METRICS; i++) {
        printf("%s\n    ", i ? "," : "");
        json_str(METRICS[i].name);
        printf(": ");
        json_num(*(const double *)((const char *)&r->m + METRICS[i].offset));
    }
    printf("\n  },\n  \"layers\": {");
    for (int s = 0; s < N_STAGES; s++) {
        printf("%s\n    ", s ? "," : "");
        json_str(STAGE_NAMES[s]);
        printf(": {");
        for (int k = 0; k < N_LAYER_METRICS; k++) {
            printf("%s", k ? ", " : "");
            json_str(LAYER_METRIC_NAMES[k]);
            printf(": [");
            for (int l = 0; l < r->n_layers; l++) {
                printf("%s", l ? ", " : "");
                json_num(r->layer[s][k][l]);
            }
            printf("]");
        }
        printf("}");
    }
    printf("\n  },\n  \"curves\": {");
    for (int c = 0; c < N_CURVES; c++) {
        printf("%s\n    ", c ? "," : "");
        json_str(CURVE_NAMES[c]);
        printf(": [");
        for (int e = 0; r->curves && e < r->n_epochs; e++) {
            printf("%s", e ? ", " : "");
            json_num(r->curves[(size_t)c * r->n_epochs + e]);
        }
        printf("]");
    }
    printf("\n  }\n}\n");
}

int cmd_train(int argc, char **argv) {
    JobSpec spec;
    jobspec_defaults(&spec);
    const char *data_dir = NULL;
    char err[512];
    size_t budget = memory_budget_default();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            train_usage();
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) return usage_error("train: unexpected argument '%s'", a);
        char key[64];
        const char *val, *eq = strchr(a, '=');
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a + 2);
            if (i + 1 >= argc) return usage_error("train: --%s needs a value", key);
            val = argv[++i];
        }
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        if (!strcmp(key, "data_dir")) {
            data_dir = val;
            continue;
        }
        if (!strcmp(key, "memory_budget")) {
            double x;
            if (parse_double(val, &x) || x <= 0) return usage_error("train: --memory-budget takes gigabytes > 0, got '%s'", val);
            budget = (size_t)gigabytes(x);
            continue;
        }
        if (jobspec_set(&spec, key, val, err, sizeof err)) return usage_error("train: %s", err);
    }
    if (data_dir && jobspec_set(&spec, "data_dir", data_dir, err, sizeof err))
        return usage_error("train: --data-dir %s", err);
    if (!spec.data_dir[0]) {
        const char *env = getenv("SYNSWEEP_DATA");
        if (jobspec_set(&spec, "data_dir", env && *env ? env : "data", err, sizeof err))
            return usage_error("train: $SYNSWEEP_DATA: %s", err);
    }
    if (jobspec_check(&spec, err, sizeof err)) return usage_error("train: %s", err);
    /* the data first (a bad file is named), then whether the job can run here */
    const RawSplit *tr = worker_data_check(spec.data_dir, spec.dataset, err, sizeof err) == 0
                         ? worker_cached(spec.data_dir, spec.dataset, 0) : NULL;
    if (tr && (jobspec_subset_check(&spec, tr, err, sizeof err) || jobspec_fits(&spec, tr, budget, err, sizeof err))) {
        fprintf(stderr, "synsweep train: the job %s\n", err);
        return 1;
    }
    JobResult r;
    worker_run(&spec, 0, 0, &r);
    print_result_json(&spec, &r);
    if (r.status == STATUS_FAILED) fprintf(stderr, "synsweep train: %s\n", r.message);
    int rc = r.status == STATUS_FAILED ? 1 : 0;
    job_result_free(&r);
    worker_cache_clear();
    return rc;
}
