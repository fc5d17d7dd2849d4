/*
 * Sweep files: the grid expands to the product of its list sizes in the documented order,
 * fixed values reach every job, and each kind of bad input is refused with file:line:column
 * and a message saying what was expected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    snprintf(prefix, sizeof prefix, "%s:%d:", path, line);
    CHECK(rc == -1 && strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, want),
          "want '%s...%s', got '%s'", prefix, want, rc ? err : "(loaded)");
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
    unlink(path);
    return test_report("test_sweep");
}
