/*
 * Real MNIST from $SYNSWEEP_DATA: the files match the counts in shared/data/README.md, and
 * an MLP [784, 100, 10] on 1000 training images (the demo's settings) learns: BP reaches
 * >= 85% test accuracy; FA and noise-pretrained FA learn too (>= 80%).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "testutil.h"
#include "worker.h"

int main(void) {
    const char *dir = getenv("SYNSWEEP_DATA");
    if (!dir || !*dir) {
        fprintf(stderr, "test_mnist: set SYNSWEEP_DATA to the datasets directory (../shared/data)\n");
        return 1;
    }
    char err[512];
    CHECK(worker_data_check(dir, "mnist", err, sizeof err) == 0, "mnist loads: %s", err);
    /* per-class counts from shared/data/README.md; read through a job-sized check */
    RawSplit tr, te;
    CHECK(dataset_load(dir, "mnist", "train", &tr, err, sizeof err) == 0, "%s", err);
    CHECK(dataset_load(dir, "mnist", "test", &te, err, sizeof err) == 0, "%s", err);
    int want_tr[10] = {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949};
    int want_te[10] = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
    int ctr[10] = {0}, cte[10] = {0};
    for (int i = 0; i < tr.n; i++) ctr[tr.y[i]]++;
    for (int i = 0; i < te.n; i++) cte[te.y[i]]++;
    CHECK(tr.n == 60000 && te.n == 10000 && tr.h == 28 && tr.w == 28, "MNIST shapes");
    CHECK(!memcmp(ctr, want_tr, sizeof ctr) && !memcmp(cte, want_te, sizeof cte), "per-class counts");
    raw_split_free(&tr), raw_split_free(&te);

    const char *rules[] = {"bp", "fa", "fa_noise"};
    double floor_acc[] = {0.85, 0.80, 0.80};
    for (int k = 0; k < 3; k++) {
        JobSpec s;
        jobspec_defaults(&s);
        jobspec_set(&s, "data_dir", dir, err, sizeof err);
        jobspec_set(&s, "rule", rules[k], err, sizeof err);
        jobspec_set(&s, "train_per_class", "100", err, sizeof err);
        jobspec_set(&s, "epochs", "20", err, sizeof err);
        jobspec_set(&s, "lr", "1e-3", err, sizeof err);
        jobspec_set(&s, "noise_lr", "1e-3", err, sizeof err);
        jobspec_set(&s, "noise_examples", "60000", err, sizeof err); /* the demo's budget */
        JobResult r;
        worker_run(&s, k, 0, &r);
        printf("%-8s test_acc %.4f  train_acc %.4f  auc %.4f  top angle %.1f -> %.1f  (%.2f s)\n",
               rules[k], r.m.test_acc, r.m.train_acc, r.m.auc_test_acc, r.m.top_angle_init,
               r.m.top_angle_final, r.seconds);
        CHECK(r.status == STATUS_OK, "%s: %s", rules[k], r.message);
        CHECK(r.n_train == 1000 && r.n_test == 10000, "1000 train, 10000 test");
        CHECK(r.m.test_acc >= floor_acc[k], "%s test acc %.4f >= %.2f", rules[k], r.m.test_acc, floor_acc[k]);
        job_result_free(&r);
    }
    worker_cache_clear();
    return test_report("test_mnist");
}
