/*
 * augment crop_flip in whole jobs on real data (train_job):
 *  - mlp on MNIST (whose unit-scaled images take the sparse path without augment) and a
 *    trained cnn on CIFAR-10 with augment learn: test accuracy well above chance (0.1);
 *    augment changes the training (its loss differs from augment none);
 *  - cnn with frozen conv: with augment, cache_features true and false give bit-identical
 *    results (the training features are not cached, which would train on unaugmented images),
 *    while without augment the cached run trains differently from the augmented one;
 *  - the same job twice is bit-identical (the draws depend on nothing but the job).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "job.h"
#include "testutil.h"
#include "train.h"

static void set(JobSpec *s, const char *k, const char *v) {
    char err[256];
    if (jobspec_set(s, k, v, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}

static void spec_of(JobSpec *s, const char *kv[][2], size_t n) {
    jobspec_defaults(s);
    for (size_t i = 0; i < n; i++) set(s, kv[i][0], kv[i][1]);
}

static int run(const JobSpec *s, const RawSplit *tr, const RawSplit *te, JobResult *r) {
    job_result_init(r, 0);
    int st = train_job(s, tr, te, NULL, 0, r);
    if (st != STATUS_OK) fprintf(stderr, "job: %s\n", r->message);
    return st;
}

/* Every metric and the final snapshot are the same bits. */
static int same(const JobResult *a, const JobResult *b) {
    size_t n = (size_t)job_result_n_snaps(a) * (size_t)(a->n_params + a->n_fixed);
    return !memcmp(&a->m, &b->m, sizeof a->m) && n == (size_t)job_result_n_snaps(b) * (size_t)(b->n_params + b->n_fixed) &&
           (n == 0 || !memcmp(a->snaps, b->snaps, n * sizeof(float)));
}

static void test_mnist(const RawSplit *tr, const RawSplit *te) {
    const char *kv[][2] = {{"model", "mlp"}, {"train_per_class", "100"}, {"test_size", "2000"}, {"epochs", "10"},
                           {"lr", "1e-3"}, {"augment", "crop_flip"}, {"seed", "1"}};
    JobSpec s;
    spec_of(&s, kv, sizeof kv / sizeof kv[0]);
    JobResult a, b, c;
    CHECK(run(&s, tr, te, &a) == STATUS_OK && run(&s, tr, te, &b) == STATUS_OK, "mlp jobs finish");
    CHECK(a.m.test_acc > 0.5, "mlp with crop_flip learns MNIST: test accuracy %.3f", a.m.test_acc);
    CHECK(same(&a, &b), "the same augmented job twice is bit-identical");
    set(&s, "augment", "none");
    CHECK(run(&s, tr, te, &c) == STATUS_OK, "mlp without augment finishes");
    CHECK(a.m.train_loss != c.m.train_loss, "augment changes training: train loss %g vs %g", a.m.train_loss, c.m.train_loss);
    printf("mlp mnist 1000 images 10 epochs: test acc %.4f with crop_flip, %.4f without\n", a.m.test_acc, c.m.test_acc);
    job_result_free(&a), job_result_free(&b), job_result_free(&c);

    const char *kf[][2] = {{"model", "cnn"}, {"conv_dist", "normal"}, {"conv_kernels", "16"}, {"hidden", "32"},
                           {"train_per_class", "20"}, {"test_size", "500"}, {"epochs", "3"}, {"lr", "1e-3"},
                           {"augment", "crop_flip"}, {"cache_features", "true"}};
    spec_of(&s, kf, sizeof kf / sizeof kf[0]);
    CHECK(run(&s, tr, te, &a) == STATUS_OK, "frozen cnn, augment, cache_features true");
    set(&s, "cache_features", "false");
    CHECK(run(&s, tr, te, &b) == STATUS_OK, "frozen cnn, augment, cache_features false");
    CHECK(same(&a, &b), "under augment, cache_features true trains as false (no cached training features)");
    set(&s, "augment", "none"), set(&s, "cache_features", "true");
    CHECK(run(&s, tr, te, &c) == STATUS_OK, "frozen cnn, no augment, cached");
    CHECK(a.m.train_loss != c.m.train_loss, "the frozen cnn's training saw augmented images");
    job_result_free(&a), job_result_free(&b), job_result_free(&c);
}

static void test_cifar(const RawSplit *tr, const RawSplit *te) {
    const char *kv[][2] = {{"dataset", "cifar10"}, {"model", "cnn"}, {"conv_dist", "trained"}, {"conv_kernels", "16"},
                           {"conv_padding", "same"}, {"fc_pool", "4"}, {"hidden", "64"}, {"train_size", "2000"},
                           {"test_size", "1000"}, {"epochs", "4"}, {"lr", "2e-3"}, {"preprocess", "standardize"},
                           {"augment", "crop_flip"}};
    JobSpec s;
    spec_of(&s, kv, sizeof kv / sizeof kv[0]);
    JobResult a;
    CHECK(run(&s, tr, te, &a) == STATUS_OK, "cifar10 cnn with crop_flip finishes");
    CHECK(a.m.test_acc > 0.2, "cnn with crop_flip learns CIFAR-10: test accuracy %.3f (chance 0.1)", a.m.test_acc);
    printf("cnn cifar10 2000 images 4 epochs crop_flip: test acc %.4f\n", a.m.test_acc);
    job_result_free(&a);
}

/* Both splits of dataset name from $SYNSWEEP_DATA, or a failed check. @return 0 or -1. */
static int load(const char *name, RawSplit *tr, RawSplit *te) {
    const char *dir = getenv("SYNSWEEP_DATA");
    char err[512] = "SYNSWEEP_DATA is not set";
    int rc = !dir || dataset_load(dir, name, "train", tr, err, sizeof err) ? -1 : 0;
    if (!rc && dataset_load(dir, name, "test", te, err, sizeof err)) rc = -1, raw_split_free(tr);
    CHECK(rc == 0, "needs %s under $SYNSWEEP_DATA: %s", name, err);
    return rc;
}

int main(void) {
    RawSplit tr, te;
    if (!load("mnist", &tr, &te)) {
        test_mnist(&tr, &te);
        raw_split_free(&tr), raw_split_free(&te);
    }
    if (!load("cifar10", &tr, &te)) {
        test_cifar(&tr, &te);
        raw_split_free(&tr), raw_split_free(&te);
    }
    return test_report("test_augment_jobs");
}
