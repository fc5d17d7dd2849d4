/*
 * bench_cnn: seconds of Karimi et al.'s MNIST job on one thread, the job PyTorch does in
 * bench/torch_cnn.py: conv 64 x 5x5 drawn from conv_dist and frozen (features cached),
 * FC 64 -> 10, 38 images per class, 100 epochs, batch 64, Adam lr 1e-3, backprop, then
 * the 10,000 test images. Data loading is outside the timing, as in the peer.
 *
 *   bench_cnn [--conv-dist normal] [--cache true|false] [--data-dir DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "data.h"
#include "job.h"
#include "train.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    const char *dist = "normal", *cache = "true", *dir = getenv("SYNSWEEP_DATA");
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--conv-dist")) dist = argv[i + 1];
        else if (!strcmp(argv[i], "--cache")) cache = argv[i + 1];
        else if (!strcmp(argv[i], "--data-dir")) dir = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_cnn [--conv-dist D] [--cache true|false] [--data-dir DIR]\n");
            return 2;
        }
    }
    blas_single_thread();
    RawSplit tr, te;
    char err[512];
    if (!dir || dataset_load(dir, "mnist", "train", &tr, err, sizeof err) ||
        dataset_load(dir, "mnist", "test", &te, err, sizeof err)) {
        fprintf(stderr, "bench_cnn: %s\n", dir ? err : "set SYNSWEEP_DATA or --data-dir");
        return 1;
    }
    JobSpec s;
    jobspec_defaults(&s);
    const char *kv[][2] = {{"model", "cnn"}, {"conv_dist", dist}, {"cache_features", cache},
                           {"hidden", "64"}, {"train_per_class", "38"}, {"epochs", "100"},
                           {"lr", "1e-3"}, {"eval_every", "0"}, {"snapshots", ""}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (jobspec_set(&s, kv[i][0], kv[i][1], err, sizeof err)) {
            fprintf(stderr, "bench_cnn: %s\n", err);
            return 2;
        }
    JobResult r;
    job_result_init(&r, 0);
    double t0 = now_s();
    train_job(&s, &tr, &te, NULL, 0, &r);
    double t = now_s() - t0;
    printf("{\"impl\": \"synsweep\", \"job\": \"karimi_mnist_%s\", \"cache_features\": %s, \"total_s\": %.3f, "
           "\"test_acc\": %.4f, \"status\": \"%s\"}\n", dist, cache, t, r.m.test_acc, status_name(r.status));
    job_result_free(&r);
    raw_split_free(&tr), raw_split_free(&te);
    return r.status == STATUS_OK ? 0 : 1;
}
