/*
 * Data: CIFAR-layout and USPS readers round-trip fixture files the test writes, and reject
 * truncated or malformed ones naming the file; out-of-distribution transforms (identity,
 * four quarter turns, translation moves the centre of mass, USPS in MNIST's frame); on the
 * real files in $SYNSWEEP_DATA, every split's per-class counts equal shared/data/README.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "job.h"
#include "testutil.h"
#include "worker.h"
#include "train.h"

static char dir[128];

static int has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void test_cifar_fixture(void) {
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/batch.bin", dir);
    FILE *f = fopen(path, "wb");
    unsigned char rec[3073];
    for (int r = 0; r < 3; r++) {
        rec[0] = (unsigned char)(r * 4);
        for (int i = 1; i < 3073; i++) rec[i] = (unsigned char)(i * 7 + r);
        fwrite(rec, 1, sizeof rec, f);
    }
    fclose(f);
    const char *paths[2] = {path, path};
    RawSplit s;
    CHECK(cifar_load(paths, 2, &s, err, sizeof err) == 0, "cifar fixture: %s", err);
    CHECK(s.n == 6 && s.c == 3 && s.h == 32 && s.y[1] == 4 && s.y[5] == 8 && s.x[3072 * 2 + 5] == (uint8_t)(6 * 7 + 2),
          "cifar round trip (two files concatenated)");
    raw_split_free(&s);
    f = fopen(path, "ab"), fwrite(rec, 1, 100, f), fclose(f);
    CHECK(cifar_load(paths, 1, &s, err, sizeof err) == -1 && has(err, path) && has(err, "whole number"), "truncated: %s", err);
    f = fopen(path, "wb"), rec[0] = 10, fwrite(rec, 1, sizeof rec, f), fclose(f);
    CHECK(cifar_load(paths, 1, &s, err, sizeof err) == -1 && has(err, "label 10"), "bad label: %s", err);
}

/* The dataset table and DATASET_NAMES (the parameter's choices) name the same datasets, in order;
 * every row's shape is what its reader serves (checked on the real files in main). */
static void test_dataset_table(void) {
    char names[256] = "";
    for (int i = 0; i < N_DATASETS; i++) {
        if (i) strcat(names, "|");
        strcat(names, DATASETS[i].name);
        CHECK(dataset_find(DATASETS[i].name) == &DATASETS[i], "dataset_find(%s)", DATASETS[i].name);
    }
    CHECK(!strcmp(names, DATASET_NAMES), "DATASETS %s vs DATASET_NAMES %s", names, DATASET_NAMES);
    int C, H, W;
    CHECK(dataset_shape("nope", &C, &H, &W) == -1 && dataset_find("nope") == NULL, "unknown dataset");
}

static void test_usps_fixture(void) {
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/zip.txt", dir);
    FILE *f = fopen(path, "w");
    for (int r = 0; r < 2; r++) {
        fprintf(f, "%d", r + 3);
        for (int i = 0; i < 256; i++) fprintf(f, " %.4f", i == 0 ? 1.0 : -1.0 + (i % 3) * 0.5);
        fprintf(f, "\n");
    }
    fclose(f);
    RawSplit s;
    CHECK(usps_load(path, &s, err, sizeof err) == 0, "usps fixture: %s", err);
    CHECK(s.n == 2 && s.h == 16 && s.y[1] == 4 && s.x[0] == 255 && s.x[1] == 64 && s.x[2] == 128 && s.x[3] == 0,
          "usps values map [-1, 1] -> 0..255: %d %d %d %d", s.x[0], s.x[1], s.x[2], s.x[3]);
    raw_split_free(&s);
    f = fopen(path, "a"), fprintf(f, "7 0.5 0.5\n"), fclose(f);
    CHECK(usps_load(path, &s, err, sizeof err) == -1 && has(err, ":3:") && has(err, "missing"), "short line: %s", err);
}

static void centre_of_mass(const uint8_t *x, int H, int W, double *cy, double *cx) {
    double m = 0, sy = 0, sx = 0;
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++) m += x[y * W + xx], sy += y * x[y * W + xx], sx += xx * x[y * W + xx];
    *cy = sy / m, *cx = sx / m;
}

static void test_ood(const RawSplit *mn) {
    RawSplit sub = *mn, a, b;
    sub.n = 50;
    OodParams id[3] = {{"translate", 0, 0, 0, 1}, {"rotate", 0, 0, 0, 1}, {"scale", 0, 0, 0, 1}};
    for (int k = 0; k < 3; k++) {
        ood_transform(&sub, &id[k], &a);
        CHECK(!memcmp(a.x, sub.x, (size_t)50 * 784), "%s with identity parameters leaves images unchanged", id[k].kind);
        raw_split_free(&a);
    }
    OodParams q = {"rotate", 0, 0, 90, 1};
    RawSplit cur = sub;
    cur.x = malloc(50 * 784), cur.y = malloc(50);
    memcpy(cur.x, sub.x, 50 * 784), memcpy(cur.y, sub.y, 50);
    for (int t = 0; t < 4; t++) {
        ood_transform(&cur, &q, &a);
        raw_split_free(&cur);
        cur = a;
    }
    int md = 0;
    for (int i = 0; i < 50 * 784; i++) md = abs(cur.x[i] - sub.x[i]) > md ? abs(cur.x[i] - sub.x[i]) : md;
    CHECK(md <= 1, "four 90-degree rotations return the image (max difference %d)", md);
    raw_split_free(&cur);
    OodParams t = {"translate", 3, -2, 0, 1};
    ood_transform(&sub, &t, &b);
    double worst = 0;
    for (int i = 0; i < 50; i++) {
        double y0, x0, y1, x1;
        centre_of_mass(sub.x + i * 784, 28, 28, &y0, &x0);
        centre_of_mass(b.x + i * 784, 28, 28, &y1, &x1);
        worst = fmax(worst, fmax(fabs(x1 - x0 - 3), fabs(y1 - y0 + 2)));
    }
    CHECK(worst < 0.3, "translation (3, -2) moves the centre of mass by it (worst error %g px)", worst);
    raw_split_free(&b);
    OodParams r45 = {"rotate", 0, 0, 45, 1}, sc = {"scale", 0, 0, 0, 0.7};
    ood_transform(&sub, &r45, &a), ood_transform(&sub, &sc, &b);
    CHECK(memcmp(a.x, sub.x, 50 * 784) != 0 && memcmp(b.x, sub.x, 50 * 784) != 0, "45 degrees and 0.7x change the images");
    raw_split_free(&a), raw_split_free(&b);
}

static const int COUNTS[][10] = {
    {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009},
    {794, 894, 865, 860, 817, 841, 866, 870, 851, 859}, {688, 677, 724, 708, 710, 700, 690, 691, 707, 683},
    {690, 690, 695, 702, 757, 708, 688, 708, 672, 701}, {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000},
    {5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000}, {103, 89, 100, 103, 90, 86, 112, 102, 106, 109},
    {66, 227, 141, 134, 110, 112, 78, 70, 78, 67}, {0},
    {1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644}, {359, 264, 198, 166, 200, 160, 170, 147, 166, 177},
};

static void test_real(const char *data) {
    const char *names[] = {"mnist", "fashion_mnist", "kmnist", "cifar10", "svhn", "usps"};
    int side[] = {28, 28, 28, 32, 32, 16}, ch[] = {1, 1, 1, 3, 3, 1};
    char err[512];
    for (int k = 0; k < 6; k++)
        for (int s = 0; s < 2; s++) {
            RawSplit r;
            int rc = dataset_load(data, names[k], s ? "test" : "train", &r, err, sizeof err);
            if (k == 4 && s == 1) {
                CHECK(rc == -1 && has(err, "svhn/test.bin") && has(err, "no SVHN test split"), "svhn test: %s", err);
                continue;
            }
            CHECK(rc == 0, "%s %s: %s", names[k], s ? "test" : "train", err);
            if (rc) continue;
            int c[10] = {0};
            for (int i = 0; i < r.n; i++) c[r.y[i]]++;
            CHECK(!memcmp(c, COUNTS[2 * k + s], sizeof c) && r.h == side[k] && r.c == ch[k],
                  "%s %s per-class counts and shape", names[k], s ? "test" : "train");
            raw_split_free(&r);
        }
    /* USPS in MNIST's frame: 28x28, empty border, ink near the centre */
    RawSplit u, f;
    dataset_load(data, "usps", "test", &u, err, sizeof err);
    CHECK(usps_to_mnist_frame(&u, &f, err, sizeof err) == 0 && f.h == 28 && f.n == u.n, "usps -> 28x28");
    long border = 0;
    double cy = 0, cx = 0;
    for (int i = 0; i < f.n; i++) {
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++)
                if (y < 4 || y >= 24 || x < 4 || x >= 24) border += f.x[i * 784 + y * 28 + x];
        double a, b;
        centre_of_mass(f.x + i * 784, 28, 28, &a, &b);
        cy += a / f.n, cx += b / f.n;
    }
    CHECK(border == 0 && fabs(cy - 13.5) < 1.5 && fabs(cx - 13.5) < 1.5, "usps frame: border %ld, centre (%.2f, %.2f)", border, cy, cx);
    raw_split_free(&u), raw_split_free(&f);
    /* a small CNN job on CIFAR-10 (3 channels, same padding, pooled to 4x4) */
    RawSplit tr, te;
    dataset_load(data, "cifar10", "train", &tr, err, sizeof err);
    dataset_load(data, "cifar10", "test", &te, err, sizeof err);
    JobSpec s;
    jobspec_defaults(&s);
    const char *kv[][2] = {{"model", "cnn"}, {"dataset", "cifar10"}, {"conv_dist", "center_surround"}, {"conv_padding", "same"},
                           {"fc_pool", "4"}, {"hidden", "64"}, {"train_per_class", "10"}, {"epochs", "2"},
                           {"test_size", "200"}, {"preprocess", "standardize"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) jobspec_set(&s, kv[i][0], kv[i][1], err, sizeof err);
    JobResult r;
    job_result_init(&r, 0);
    CHECK(train_job(&s, &tr, &te, NULL, 0, &r) == STATUS_OK && r.sizes[0] == 64 * 16 && tensors_find(&r.tensors, "conv_W") && tensors_find(&r.tensors, "conv_W")->shape[1] == 3,
          "cifar10 cnn job: %s (features %d)", r.message, r.sizes[0]);
    job_result_free(&r);
    raw_split_free(&tr), raw_split_free(&te);
    /* SVHN here has no test split: test_split heldout tests on the training split's records the
     * seed did not draw (1,083 - 10 x 10 of them, or the first test_size), and the worker serves
     * the training split alone; test_split test fails, naming the missing split */
    JobSpec h;
    jobspec_defaults(&h);
    const char *hk[][2] = {{"dataset", "svhn"}, {"data_dir", data}, {"model", "cnn"}, {"conv_kernels", "8"}, {"hidden", "16"},
                           {"train_per_class", "10"}, {"epochs", "2"}, {"test_split", "heldout"}};
    for (size_t i = 0; i < sizeof hk / sizeof hk[0]; i++) jobspec_set(&h, hk[i][0], hk[i][1], err, sizeof err);
    worker_run(&h, 0, 0, &r);
    CHECK(r.status == STATUS_OK && r.n_train == 100 && r.n_test == 1083 - 100, "svhn heldout: %s, %d train, %d test",
          r.message, r.n_train, r.n_test);
    job_result_free(&r);
    jobspec_set(&h, "test_size", "300", err, sizeof err);
    worker_run(&h, 0, 0, &r);
    CHECK(r.status == STATUS_OK && r.n_test == 300, "svhn heldout test_size 300: %d", r.n_test);
    job_result_free(&r);
    jobspec_set(&h, "test_split", "test", err, sizeof err);
    CHECK(worker_spec_check(&h, err, sizeof err) == -1 && has(err, "svhn/test.bin"), "svhn test split refused: %s", err);
    worker_run(&h, 0, 0, &r);
    CHECK(r.status == STATUS_FAILED && has(r.message, "svhn/test.bin: not found") && has(r.message, "heldout"), "svhn test job fails: %s", r.message);
    job_result_free(&r);
    worker_cache_clear();
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/synsweep_test_data_%d", (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd)) return 1;
    test_cifar_fixture();
    test_usps_fixture();
    test_dataset_table();
    const char *data = getenv("SYNSWEEP_DATA");
    if (!data || !*data) {
        fprintf(stderr, "test_data: set SYNSWEEP_DATA to the datasets directory (../shared/data)\n");
        return 1;
    }
    RawSplit mn;
    char err[512];
    CHECK(dataset_load(data, "mnist", "test", &mn, err, sizeof err) == 0, "%s", err);
    test_ood(&mn);
    raw_split_free(&mn);
    for (int i = 0; i < N_DATASETS; i++) { /* each row's shape is its files' (svhn here: train only) */
        const DatasetDef *d = &DATASETS[i];
        RawSplit r;
        int ok = dataset_load(data, d->name, "test", &r, err, sizeof err) == 0 ||
                 dataset_load(data, d->name, "train", &r, err, sizeof err) == 0;
        CHECK(ok && r.c == d->C && r.h == d->H && r.w == d->W, "%s: %dx%dx%d, table says %dx%dx%d (%s)", d->name,
              ok ? r.c : 0, ok ? r.h : 0, ok ? r.w : 0, d->C, d->H, d->W, ok ? "" : err);
        if (ok) raw_split_free(&r);
    }
    test_real(data);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return test_report("test_data");
}
