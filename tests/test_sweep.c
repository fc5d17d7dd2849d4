/*
 * Sweep files: the grid expands to the product of its list sizes in the documented order
 * (a golden job list), a list of mappings to the union of their products, fixed values
 * reach every job, no job is produced twice, and each kind of bad input is refused with
 * file:line:column and a message saying what was expected (the axis and the value, model or
 * rule where one is to blame).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sweep.h"
#include "testutil.h"

static char path[256];

static void write_yaml(const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Loads text; expects failure whose message has prefix path:line:col and contains want. */
static void expect_error(const char *text, int line, const char *want) {
    Sweep sw;
    char err[1024], prefix[300];
    write_yaml(text);
    int rc = sweep_load(path, NULL, &sw, err, sizeof err);
    if (line) snprintf(prefix, sizeof prefix, "%s:%d:", path, line);
    else snprintf(prefix, sizeof prefix, "%s: ", path);
    CHECK(rc == -1 && strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, want),
          "want '%s...%s', got '%s'", prefix, want, rc ? err : "(loaded)");
}

/* Loads text, expecting success. */
static int load_ok(const char *text, Sweep *sw, const char *what) {
    char err[1024];
    write_yaml(text);
    int rc = sweep_load(path, "/data", sw, err, sizeof err);
    CHECK(rc == 0, "%s: %s", what, err);
    return rc == 0;
}

/* Every pair of jobs differs in some byte of the spec. */
static int all_distinct(const Sweep *sw) {
    for (long a = 0; a < sw->n_jobs; a++)
        for (long b = a + 1; b < sw->n_jobs; b++) {
            JobSpec x, y;
            sweep_job(sw, a, &x), sweep_job(sw, b, &y);
            if (!memcmp(&x, &y, sizeof x)) return 0;
        }
    return 1;
}

static void test_golden_order(void) {
    /* the single-mapping order must never change: results files index jobs by it */
    static const char *golden[] = {
        "bp 0 0.001", "bp 0 0.01", "bp 1 0.001", "bp 1 0.01", "bp 2 0.001", "bp 2 0.01",
        "fa 0 0.001", "fa 0 0.01", "fa 1 0.001", "fa 1 0.01", "fa 2 0.001", "fa 2 0.01"};
    Sweep sw;
    if (!load_ok("grid:\n  rule: [bp, fa]\n  seed: [0, 1, 2]\n  lr: [1e-3, 0.01]\n", &sw, "golden")) return;
    CHECK(sw.n_jobs == 12 && sw.n_blocks == 1, "12 jobs in one block");
    for (long id = 0; id < sw.n_jobs && id < 12; id++) {
        JobSpec j;
        char got[64], lr[32];
        sweep_job(&sw, id, &j);
        jobspec_get(&j, param_find("lr"), lr, sizeof lr);
        snprintf(got, sizeof got, "%s %d %s", j.rule, j.seed, lr);
        CHECK(!strcmp(got, golden[id]), "job %ld is '%s', golden '%s'", id, got, golden[id]);
        const char *v[SWEEP_MAX_AXES];
        sweep_job_values(&sw, id, v);
        snprintf(got, sizeof got, "%s %s %s", v[0], v[1], v[2]);
        CHECK(!strcmp(got, golden[id]), "expand values of job %ld: '%s'", id, got);
    }
    sweep_free(&sw);
}

static void test_blocks(void) {
    Sweep sw;
    /* the example: per-block defaults, union of keys in first-appearance order */
    if (load_ok("fixed:\n  epochs: 2\ngrid:\n  - {model: mlp, rule: [bp, fa]}\n"
                "  - {model: cnn, conv_dist: [normal, lognormal]}\n", &sw, "two blocks")) {
        CHECK(sw.n_jobs == 4 && sw.n_blocks == 2 && sw.n_axes == 3, "4 jobs, 2 blocks, 3 axes: %ld %d %d",
              sw.n_jobs, sw.n_blocks, sw.n_axes);
        CHECK(!strcmp(sw.axes[0].key, "model") && !strcmp(sw.axes[1].key, "rule") &&
                  !strcmp(sw.axes[2].key, "conv_dist"), "axes in first-appearance order");
        CHECK(sw.axes[0].n == 2 && sw.axes[1].n == 2 && sw.axes[2].n == 2, "union of each axis' values");
        static const char *want[] = {"mlp bp normal", "mlp fa normal", "cnn bp normal", "cnn bp lognormal"};
        for (long id = 0; id < 4; id++) {
            JobSpec j;
            char got[64];
            sweep_job(&sw, id, &j);
            snprintf(got, sizeof got, "%s %s %s", j.model, j.rule, j.conv_dist);
            CHECK(!strcmp(got, want[id]) && j.epochs == 2, "job %ld is '%s', want '%s'", id, got, want[id]);
            const char *v[SWEEP_MAX_AXES];
            sweep_job_values(&sw, id, v);
            snprintf(got, sizeof got, "%s %s %s", v[0], v[1], v[2]);
            CHECK(!strcmp(got, want[id]), "values of job %ld: '%s' (absent keys show the fixed value)", id, got);
        }
        CHECK(all_distinct(&sw), "each job once");
        sweep_free(&sw);
    }
    /* overlapping value sets are fine when the jobs differ elsewhere */
    if (load_ok("grid:\n  - {seed: [3, 1], rule: [bp]}\n  - {seed: [1, 2], rule: [fa, dfa]}\n  - {}\n"
                "  - {epochs: [7, 3]}\n", &sw, "overlapping values")) {
        CHECK(sw.n_jobs == 2 + 4 + 1 + 2, "sum of the blocks' products: %ld", sw.n_jobs);
        CHECK(sw.axes[0].n == 3 && sw.axes[1].n == 3, "seed {3,1,2}, rule {bp,fa,dfa}");
        CHECK(sw.max_epochs == 100, "max_epochs counts the default of blocks without epochs: %d", sw.max_epochs);
        JobSpec j;
        sweep_job(&sw, 6, &j);
        CHECK(j.seed == 0 && !strcmp(j.rule, "bp") && j.epochs == 100, "the empty block is the fixed job");
        sweep_job(&sw, 8, &j);
        CHECK(j.epochs == 3 && j.seed == 0, "last job");
        CHECK(all_distinct(&sw), "each job once");
        sweep_free(&sw);
    }
    if (load_ok("grid:\n  - {epochs: [2, 3]}\n  - {epochs: [5], seed: [1]}\n", &sw, "epochs")) {
        CHECK(sw.max_epochs == 5, "max_epochs over blocks, not the default 100: %d", sw.max_epochs);
        sweep_free(&sw);
    }
    /* an axis of one value that some jobs ignore runs nothing twice */
    if (load_ok("grid:\n  model: [mlp, cnn]\n  conv_kernels: [8]\n", &sw, "one ignored value")) {
        CHECK(sw.n_jobs == 2, "2 jobs");
        sweep_free(&sw);
    }
    /* same jobs, written differently */
    Sweep a, b;
    char diff[512];
    if (load_ok("grid:\n  lr: [1e-3, 2e-3]\n  seed: [0, 1]\n", &a, "a")) {
        if (load_ok("grid:\n  - {lr: [0.001], seed: [0, 1]}\n  - {lr: [0.002], seed: [0, 1]}\n", &b, "b")) {
            CHECK(sweep_same_jobs(&a, &b, diff, sizeof diff) == 1, "same jobs: %s", diff);
            sweep_free(&b);
        }
        if (load_ok("grid:\n  lr: [1e-3, 2e-3]\n  seed: [0, 2]\n", &b, "c")) {
            CHECK(sweep_same_jobs(&a, &b, diff, sizeof diff) == 0 && strstr(diff, "job 1: seed"), "differ: %s", diff);
            sweep_free(&b);
        }
        sweep_free(&a);
    }
}

/* The step schedule is one list-valued parameter: a list under fixed: is one schedule, a
 * grid axis takes a list of lists; bad epochs and factors are refused, naming the field. */
static void test_schedule(void) {
    Sweep sw;
    if (load_ok("fixed:\n  optimizer: adamw\n  lr_decay_epochs: [100, 150]\n  lr_decay_factor: 0.1\n", &sw, "fixed schedule")) {
        JobSpec j;
        sweep_job(&sw, 0, &j);
        CHECK(sw.n_jobs == 1 && !strcmp(j.lr_decay_epochs, "100,150") && j.lr_decay_factor == 0.1,
              "one job with the schedule 100,150 x 0.1: %ld jobs, '%s'", sw.n_jobs, j.lr_decay_epochs);
        sweep_free(&sw);
    }
    if (load_ok("grid:\n  lr_decay_epochs: [[100, 150], [50], []]\n  lr_decay_factor: [0.1, 1]\n", &sw, "grid of schedules")) {
        JobSpec j;
        sweep_job(&sw, 5, &j);
        CHECK(sw.n_jobs == 6 && j.lr_decay_epochs[0] == 0 && j.lr_decay_factor == 1, "6 jobs, the last without a schedule");
        sweep_free(&sw);
    }
    static const struct { const char *yaml; int line; const char *want; } bad[] = {
        {"fixed:\n  lr_decay_epochs: [150, 100]\n", 2, "lr_decay_epochs: epochs must increase, but 100 follows 150"},
        {"fixed:\n  lr_decay_epochs: [100, 100]\n", 2, "epochs must increase"},
        {"fixed:\n  lr_decay_epochs: [0, 10]\n", 2, "lr_decay_epochs: item '0' is not an integer in [1, "},
        {"fixed:\n  lr_decay_epochs: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n", 2, "lr_decay_epochs: at most 8 epochs"},
        {"fixed:\n  lr_decay_factor: 1.5\n", 2, "lr_decay_factor: 1.5 is out of range [0, 1]"},
        {"grid:\n  lr_decay_factor: [0.5, 0]\n", 0, "job 1: lr_decay_factor: expected a factor in (0, 1], got 0"},
        {"fixed:\n  optimizer: adamW\n", 2, "optimizer: 'adamW' is not one of adam|sgd|adamw"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect_error(bad[i].yaml, bad[i].line, bad[i].want);
}

static void test_refusals(void) {
    /* repeated values, compared canonically */
    expect_error("grid:\n  seed: [0, 0, 1]\n", 2, "'seed' has the value '0' twice");
    expect_error("grid:\n  lr: [1e-3, 0.01, 0.001]\n", 2, "'lr' has the value '0.001' twice");
    expect_error("grid:\n  hidden: [[100, 100], [5], \"100,100\"]\n", 2, "'hidden' has the value '100,100' twice");
    expect_error("grid:\n  eval_train: [yes, true]\n", 2, "'eval_train' has the value 'true' twice");
    expect_error("grid:\n  - {seed: [1, 2]}\n  - {seed: [3, 3]}\n", 3, "'seed' has the value '3' twice");
    /* an axis that some jobs ignore */
    expect_error("grid:\n  model: [mlp, cnn]\n  conv_kernels: [8, 16]\n", 3,
                 "'conv_kernels' has 2 values, but the jobs with model: mlp ignore it");
    expect_error("fixed:\n  model: mlp\ngrid:\n  seed: [0, 1]\n  fc_pool: [0, 4]\n", 5,
                 "'fc_pool' has 2 values, but the jobs with model: mlp ignore it");
    expect_error("grid:\n  rule: [bp, fa_noise]\n  noise_lr: [1e-3, 1e-4]\n", 3,
                 "'noise_lr' has 2 values, but the jobs with rule: bp ignore it");
    expect_error("grid:\n  feedback_scale: [1, 2]\n", 2, "the jobs with rule: bp ignore it");
    expect_error("fixed:\n  optimizer: sgd\ngrid:\n  beta1: [0.9, 0.8]\n", 4,
                 "the jobs with optimizer: sgd ignore it");
    expect_error("grid:\n  - {model: cnn, conv_dist: [normal, trained]}\n  - {model: mlp, conv_size: [3, 5]}\n", 3,
                 "'conv_size' has 2 values, but the jobs with model: mlp ignore it");
    /* two blocks giving one job, also through a parameter the job ignores */
    expect_error("grid:\n  - {model: mlp, rule: [bp, fa]}\n  - {rule: [fa, dfa]}\n", 3,
                 "grid block 2 gives job 2, which block 1 (line 2) gives as job 1 (model: mlp, rule: fa)");
    expect_error("grid:\n  - {model: [mlp], conv_kernels: [8]}\n  - {seed: [0, 1]}\n", 3,
                 "grid block 2 gives job 1, which block 1 (line 2) gives as job 0 (model: mlp, seed: 0)");
    expect_error("grid:\n  - {lr: [1e-3]}\n  - {seed: [5]}\n  - {lr: [0.001], seed: [1, 0]}\n", 4,
                 "grid block 3 gives job 3, which block 1 (line 2) gives as job 0 (lr: 0.001, seed: 0)");
    expect_error("grid:\n  - {}\n  - {rule: [bp]}\n", 3, "grid block 2 gives job 1, which block 1");
    expect_error("grid: []\n", 1, "grid: empty list");
    expect_error("grid:\n  - {seed: [1]}\n  - 3\n", 3, "grid block 2: expected a mapping");
    expect_error("grid:\n  - {seed: [1], seed: [2]}\n", 2, "'seed' is given twice");
    expect_error("fixed:\n  seed: 1\ngrid:\n  - {rule: [bp]}\n  - {seed: [1, 2]}\n", 2, "both fixed: and grid:");
    /* combinations, wherever the bad value sits in its axis */
    expect_error("fixed:\n  train_size: 10\ngrid:\n  seed: [0, 1, 2]\n  train_per_class: [0, 5]\n", 0, "job 1: train_per_class");
    expect_error("grid:\n  - {seed: [4]}\n  - {seed: [0, 1, 2], ood: [none, usps], dataset: [mnist, cifar10]}\n", 0,
                 "job 4: ood: usps");
    /* nesting depth */
    char deep[600] = "fixed:\n  hidden: ";
    for (int i = 0; i < 100; i++) strcat(deep, "[");
    for (int i = 0; i < 100; i++) strcat(deep, "]");
    strcat(deep, "\n");
    expect_error(deep, 2, "nested deeper than 64 levels");
    deep[strlen("fixed:\n  hidden: ") + 62] = 0; /* 62 levels (+ root and fixed): the loader's own error */
    expect_error(deep, 3, "YAML error");
}

/* Every `applies` condition names a parameter and values it can take. */
/* paper: names the reproduced paper (an id, or a mapping with id:); bad forms are refused */
static void test_paper(void) {
    Sweep sw;
    if (load_ok("paper: karimi2024\ngrid:\n  seed: [0, 1]\n", &sw, "paper as text")) {
        CHECK(!strcmp(sw.paper, "karimi2024") && sw.n_jobs == 2, "paper id '%s'", sw.paper);
        sweep_free(&sw);
    }
    if (load_ok("paper:\n  id: cheon2024\n  title: \"Pretraining, with noise\"\n  figures: [2b, 2c]\n"
                "fixed:\n  epochs: 1\n", &sw, "paper as mapping")) {
        CHECK(!strcmp(sw.paper, "cheon2024"), "paper id from the mapping '%s'", sw.paper);
        sweep_free(&sw);
    }
    if (load_ok("fixed:\n  epochs: 1\n", &sw, "no paper")) {
        CHECK(sw.paper[0] == 0, "no paper: empty id");
        sweep_free(&sw);
    }
    expect_error("paper: {title: x}\n", 1, "needs an id:");
    expect_error("paper: [a, b]\n", 1, "paper: expected an id");
    expect_error("paper: {id: x, tables: {a: 1}}\n", 1, "paper: tables: expected text or a list");
    expect_error("paper: \"two words\"\n", 1, "the id must be");
    expect_error("paper: a\npaper: b\n", 2, "'paper' is given twice");
}

static void test_applies_table(void) {
    int n_cond = 0;
    for (int i = 0; i < N_PARAMS; i++)
        for (const char *p = PARAMS[i].applies; p && *p;) {
            char cond[256], *eq, e[300];
            size_t len = strcspn(p, ";");
            snprintf(cond, sizeof cond, "%.*s", (int)len, p);
            p += len + (p[len] == ';');
            eq = strchr(cond, '=');
            CHECK(eq && (*eq = 0, param_find(cond)), "%s: condition '%s' names no parameter", PARAMS[i].name, cond);
            if (!eq || !param_find(cond)) continue;
            CHECK(param_is_selector(param_find(cond)), "%s is a selector", cond);
            for (char *v = strtok(eq + 1, "|"); v; v = strtok(NULL, "|")) {
                JobSpec s;
                jobspec_defaults(&s);
                CHECK(jobspec_set(&s, cond, v, e, sizeof e) == 0, "%s: %s=%s: %s", PARAMS[i].name, cond, v, e);
                n_cond++;
            }
        }
    CHECK(n_cond > 20, "conditions checked: %d", n_cond);
    JobSpec s;
    jobspec_defaults(&s);
    CHECK(!param_applies(param_find("conv_kernels"), &s) && param_excluded_by(param_find("conv_kernels"), &s) == param_find("model"),
          "mlp ignores conv_kernels, because of model");
    CHECK(param_applies(param_find("lr"), &s) && param_applies(param_find("beta1"), &s) && !param_applies(param_find("momentum"), &s),
          "adam: lr and beta1 apply, momentum not");
    char e[300];
    jobspec_set(&s, "model", "cnn", e, sizeof e);
    CHECK(param_applies(param_find("conv_kernels"), &s) && !param_applies(param_find("cs_sigma_center"), &s), "cnn, normal conv");
    jobspec_set(&s, "conv_dist", "center_surround", e, sizeof e);
    CHECK(param_applies(param_find("cs_sigma_center"), &s), "cnn, center_surround conv");
}

/* The job with every parameter it ignores at its default: equal ones train identically. */
static void canonical(const JobSpec *s, JobSpec *c) {
    JobSpec def;
    jobspec_defaults(&def);
    *c = *s;
    for (int i = 0; i < N_PARAMS; i++)
        if (!param_applies(&PARAMS[i], s)) memcpy((char *)c + PARAMS[i].offset, (char *)&def + PARAMS[i].offset, PARAMS[i].size);
}

/*
 * Random block grids against brute force: a sweep loads if and only if its jobs, expanded
 * naively, are distinct after canonical(); then the jobs and their order are the naive ones.
 */
static void test_random_grids(void) {
    static const char *keys[] = {"model", "rule", "conv_kernels", "noise_lr", "seed", "optimizer", "momentum"};
    static const char *vals[][3] = {{"mlp", "cnn", "mlp"}, {"bp", "fa", "fa_noise"}, {"8", "16", "8"},
                                    {"0.1", "1e-1", "0.2"}, {"0", "1", "2"}, {"adam", "sgd", "sgd"},
                                    {"0.5", "0.9", "0.5"}};
    enum { NK = 7, MAXJ = 4096 };
    uint64_t r = 88172645463325252ULL;
    int n_loaded = 0, n_refused = 0;
    JobSpec *naive = malloc(MAXJ * sizeof(JobSpec)), *canon = malloc(MAXJ * sizeof(JobSpec));
    for (int trial = 0; trial < 400; trial++) {
        char yaml[2048] = "grid:\n";
        int n_blocks = 1 + (int)((r = r * 6364136223846793005ULL + 1442695040888963407ULL) >> 62) % 3;
        long nj = 0;
        for (int b = 0; b < n_blocks; b++) {
            strcat(yaml, "  - {");
            int key_vals[NK][3], n_vals[NK], order[NK], n_used = 0;
            for (int k = 0; k < NK; k++) {
                r = r * 6364136223846793005ULL + 1442695040888963407ULL;
                n_vals[k] = (int)(r >> 40) % 4 == 0 ? 1 + (int)(r >> 50) % 2 : 0;
                for (int i = 0; i < n_vals[k]; i++) key_vals[k][i] = (int)((r >> (20 + 3 * i)) % 3);
                if (n_vals[k]) order[n_used++] = k;
            }
            for (int u = 0; u < n_used; u++) {
                int k = order[u];
                char item[64];
                snprintf(item, sizeof item, "%s%s: [", u ? ", " : "", keys[k]);
                strcat(yaml, item);
                for (int i = 0; i < n_vals[k]; i++) {
                    strcat(yaml, i ? ", " : "");
                    strcat(yaml, vals[k][key_vals[k][i]]);
                }
                strcat(yaml, "]");
            }
            strcat(yaml, "}\n");
            /* naive expansion of the block, last key fastest */
            long nb = 1;
            for (int u = 0; u < n_used; u++) nb *= n_vals[order[u]];
            for (long id = 0; id < nb; id++) {
                JobSpec *s = &naive[nj++];
                char e[300];
                jobspec_defaults(s);
                jobspec_set(s, "data_dir", "/data", e, sizeof e);
                long rem = id;
                for (int u = n_used - 1; u >= 0; u--) {
                    int k = order[u];
                    jobspec_set(s, keys[k], vals[k][key_vals[k][rem % n_vals[k]]], e, sizeof e);
                    rem /= n_vals[k];
                }
                canonical(s, &canon[nj - 1]);
            }
        }
        int distinct = 1;
        for (long a = 0; a < nj && distinct; a++)
            for (long b = a + 1; b < nj; b++)
                if (!memcmp(&canon[a], &canon[b], sizeof(JobSpec))) distinct = 0;
        Sweep sw;
        char err[1024];
        int rc = sweep_load_text(yaml, strlen(yaml), "random", "/data", &sw, err, sizeof err);
        CHECK((rc == 0) == distinct, "loads (%d) iff the jobs are distinct (%d): %s\n%s", rc == 0, distinct,
              rc ? err : "", yaml);
        if (rc) {
            n_refused++;
            continue;
        }
        n_loaded++;
        int same = sw.n_jobs == nj;
        for (long id = 0; id < nj && same; id++) {
            JobSpec j;
            sweep_job(&sw, id, &j);
            same = !memcmp(&j, &naive[id], sizeof j);
        }
        CHECK(same, "jobs and order are the naive expansion's\n%s", yaml);
        sweep_free(&sw);
    }
    CHECK(n_loaded > 50 && n_refused > 50, "both outcomes exercised: %d loaded, %d refused", n_loaded, n_refused);
    free(naive), free(canon);
}

/* Loading a 10^8-job grid checks axes, not jobs (it took 25 s when it checked every job). */
static void test_big_grid(void) {
    size_t cap = 200000, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "grid:\n  seed: [0");
    for (int i = 1; i < 10000; i++) len += (size_t)snprintf(text + len, cap - len, ", %d", i);
    len += (size_t)snprintf(text + len, cap - len, "]\n  batch_size: [1");
    for (int i = 2; i <= 10000; i++) len += (size_t)snprintf(text + len, cap - len, ", %d", i);
    snprintf(text + len, cap - len, "]\n");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    Sweep sw;
    char err[1024];
    int rc = sweep_load_text(text, strlen(text), "big", "/data", &sw, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK(rc == 0 && sw.n_jobs == 100000000L, "10^8 jobs: %s", rc ? err : "");
    CHECK(s < 2.0, "loading 10^8 jobs took %.3f s", s);
    if (rc == 0) {
        JobSpec j;
        sweep_job(&sw, 99999999L, &j);
        CHECK(j.seed == 9999 && j.batch_size == 10000, "last job");
        sweep_free(&sw);
    }
    free(text);
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/synsweep_test_sweep_%d.yaml", (int)getpid());
    Sweep sw;
    char err[1024];

    write_yaml("name: t\n"
          "fixed:\n  epochs: 3\n  snapshots: []\n"
          "grid:\n  rule: [bp, fa, fa_noise, dfa]\n  seed: [0, 1, 2]\n  lr: [1e-3, 0.01]\n"
          "  hidden: [[5], 7, [4, 4]]\n");
    CHECK(sweep_load(path, "/data", &sw, err, sizeof err) == 0, "valid sweep: %s", err);
    CHECK(sw.n_jobs == 4 * 3 * 2 * 3, "n_jobs = product of list sizes: %ld", sw.n_jobs);
    CHECK(sw.n_axes == 4 && sw.max_epochs == 3, "axes and max epochs");
    JobSpec j;
    sweep_job(&sw, 0, &j);
    CHECK(!strcmp(j.rule, "bp") && j.seed == 0 && j.lr == 1e-3 && !strcmp(j.hidden, "5") &&
              j.epochs == 3 && !strcmp(j.data_dir, "/data") && j.snapshots[0] == 0,
          "job 0");
    sweep_job(&sw, 1, &j);
    CHECK(!strcmp(j.hidden, "7"), "last axis varies fastest");
    sweep_job(&sw, sw.n_jobs - 1, &j);
    CHECK(!strcmp(j.rule, "dfa") && j.seed == 2 && j.lr == 0.01 && !strcmp(j.hidden, "4,4"), "last job");
    /* every job distinct */
    int distinct = 1;
    for (long a = 0; a < sw.n_jobs && distinct; a++)
        for (long b = a + 1; b < sw.n_jobs; b++) {
            JobSpec x, y;
            sweep_job(&sw, a, &x), sweep_job(&sw, b, &y);
            if (!memcmp(&x, &y, sizeof x)) distinct = 0;
        }
    CHECK(distinct, "every expanded job is distinct");
    sweep_free(&sw);

    /* no grid: one job; data_dir from the YAML, beaten by the override */
    write_yaml("data_dir: /from/yaml\nfixed:\n  epochs: 1\n");
    CHECK(sweep_load(path, NULL, &sw, err, sizeof err) == 0 && sw.n_jobs == 1 &&
              !strcmp(sw.base.data_dir, "/from/yaml"), "no grid");
    sweep_free(&sw);
    setenv("SYNSWEEP_DATA", "/from/env", 1);
    write_yaml("fixed:\n  epochs: 1\n");
    CHECK(sweep_load(path, NULL, &sw, err, sizeof err) == 0 && !strcmp(sw.base.data_dir, "/from/env"), "env data dir");
    sweep_free(&sw);
    CHECK(sweep_load(path, "/flag", &sw, err, sizeof err) == 0 && !strcmp(sw.base.data_dir, "/flag"), "flag data dir");
    sweep_free(&sw);

    expect_error("fixed:\n  epochs: [1, 2\n", 3, "YAML error");
    expect_error("fixed:\n  epochs: 1\n bad indent: 2\n", 3, "YAML error");
    test_paper();
    expect_error("fixed:\n  epochs: 1\ngrdi:\n  seed: [1]\n", 3, "unknown top-level key 'grdi'");
    expect_error("fixed:\n  epoch: 1\n", 2, "unknown parameter 'epoch'");
    expect_error("grid:\n  seeds: [1, 2]\n", 2, "unknown parameter 'seeds'");
    expect_error("fixed:\n  epochs: ten\n", 2, "expected an integer");
    expect_error("fixed:\n  lr: fast\n", 2, "expected a number");
    expect_error("fixed:\n  rule: hebbian\n", 2, "not one of bp|fa|fa_noise|dfa");
    expect_error("grid:\n  seed: []\n", 2, "empty list");
    expect_error("grid:\n  seed: 3\n", 2, "needs a list");
    expect_error("fixed:\n  seed: [1, 2]\n", 2, "under grid:");
    expect_error("grid:\n  rule: [bp, hebb]\n", 2, "'hebb' is not one of");
    expect_error("fixed:\n  seed: 1\ngrid:\n  seed: [1, 2]\n", 2, "both fixed: and grid:");
    expect_error("fixed:\n  seed: 1\n  seed: 2\n", 3, "given twice");
    expect_error("- a\n- b\n", 1, "expected a mapping");
    expect_error("fixed: 3\n", 1, "fixed: expected a mapping");
    expect_error("fixed:\n  epochs: -5\n", 2, "out of range");
    expect_error("fixed:\n  hidden: [100, x]\n", 2, "not an integer");

    write_yaml("");
    CHECK(sweep_load(path, NULL, &sw, err, sizeof err) == -1 && strstr(err, "empty sweep file"), "empty file: %s", err);
    CHECK(sweep_load("/nonexistent/s.yaml", NULL, &sw, err, sizeof err) == -1 && strstr(err, "cannot read"), "missing file: %s", err);
    write_yaml("fixed:\n  train_size: 10\n  train_per_class: 5\n");
    CHECK(sweep_load(path, NULL, &sw, err, sizeof err) == -1 && strstr(err, "job 0"), "invalid combination: %s", err);
    test_applies_table();
    test_golden_order();
    test_blocks();
    test_refusals();
    test_schedule();
    test_big_grid();
    test_random_grids();
    unlink(path);
    return test_report("test_sweep");
}
