/*
 * test_work: the operation counts of `expand --cost` (work.h) against hand counts of small
 * jobs: an MLP, a CNN with trained kernels and an LC network, every product written out
 * below from the layer shapes and the driver's schedule (train.c); then the seconds at given
 * rates, the matrix-vector / small / large split, and the instant sleep's count. No data.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "testutil.h"
#include "work.h"

static void set(JobSpec *s, const char *k, const char *v) {
    char err[256];
    if (jobspec_set(s, k, v, err, sizeof err)) fprintf(stderr, "set %s=%s: %s\n", k, v, err);
}

static int near(double a, double b) { return fabs(a - b) <= 1e-9 * fmax(1.0, fabs(b)); }

/* mnist (28 x 28, dense: standardize), hidden [40], batch 50, SGD, 2 epochs on 100 images,
 * 50 test images, an evaluation after epoch 1 (eval_every 1) and the final one. */
static void mlp_hand(void) {
    JobSpec s;
    jobspec_defaults(&s);
    const char *kv[][2] = {{"dataset", "mnist"}, {"preprocess", "standardize"}, {"hidden", "40"}, {"batch_size", "50"},
                           {"optimizer", "sgd"}, {"epochs", "2"}, {"train_size", "100"}, {"test_size", "50"},
                           {"rule", "bp"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) set(&s, kv[i][0], kv[i][1]);
    Work w;
    CHECK(jobspec_work(&s, &w) == 0, "mlp job counted");
    /* layer 0 (B 50, 40 out, 784 in: every side >= 32, large): forward 2*784*40 per example,
     * its weight gradient the same (no input gradient); layer 1 (40 -> 10, small): forward
     * 800, weight gradient 800 and input gradient 800 */
    double f0 = 2.0 * 784 * 40, f1 = 2.0 * 40 * 10;
    /* training: 2 epochs x 100 rows x (forward + backward); evaluations: the test split at
     * the init stage, after epoch 1 and at the end (3 x 50), the training split after epoch 1
     * and at the end (2 x 100) */
    double rows_fb = 2 * 100, fwd_only = 3 * 50 + 2 * 100;
    CHECK(near(w.n[WK_GEMM], rows_fb * 2 * f0 + fwd_only * f0), "mlp gemm %.0f", w.n[WK_GEMM]);
    /* the head's geometry at the init and final stages: 8 max min^2 per layer */
    double stage = 8.0 * 784 * 40 * 40 + 8.0 * 40 * 10 * 10;
    CHECK(near(w.n[WK_GEMM_SMALL], rows_fb * 3 * f1 + fwd_only * f1 + 2 * stage), "mlp gemm_small %.0f",
          w.n[WK_GEMM_SMALL]);
    CHECK(near(w.n[WK_NORMAL], 784 * 40 + 40 + 40 * 10 + 10), "mlp initial draws %.0f", w.n[WK_NORMAL]);
    CHECK(w.n[WK_GEMV] == 0 && w.n[WK_MASKED] == 0, "mlp has no matrix-vector or masked work");
    /* the same on sparse MNIST rows (unit): layer 0 leaves the large products */
    set(&s, "preprocess", "unit");
    Work ws;
    jobspec_work(&s, &ws);
    CHECK(ws.n[WK_GEMM] == 0 && ws.n[WK_GEMM_SMALL] > w.n[WK_GEMM_SMALL], "sparse layer 0 counted as small products");
}

/* mnist cnn: 4 trained 5 x 5 kernels (valid: 24 x 24 = 576 positions, pooled 12 x 12), no
 * hidden layer, 1 epoch on 10 images, 10 test images, no evaluation before the final one. */
static void cnn_hand(void) {
    JobSpec s;
    jobspec_defaults(&s);
    const char *kv[][2] = {{"dataset", "mnist"}, {"model", "cnn"}, {"conv_dist", "trained"}, {"conv_kernels", "4"},
                           {"conv_size", "5"}, {"fc_pool", "0"}, {"hidden", ""}, {"epochs", "1"},
                           {"train_size", "10"}, {"test_size", "10"}, {"eval_every", "0"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) set(&s, kv[i][0], kv[i][1]);
    Work w;
    CHECK(jobspec_work(&s, &w) == 0, "cnn job counted");
    double conv = 2.0 * 4 * 576 * 25;     /* (4 kernels, 576 positions, 25 taps): small */
    double head = 2.0 * (4 * 12 * 12) * 10; /* 576 features -> 10 */
    double fwd = conv + head, bwd = conv /* kernel gradient */ + 2 * head /* weights, input */;
    /* training 10 x (fwd + bwd); the test split at init and at the end, the training split at the end */
    double stage = 8.0 * 576 * 10 * 10;
    CHECK(near(w.n[WK_GEMM_SMALL], 10 * (fwd + bwd) + 30 * fwd + 2 * stage), "cnn gemm_small %.0f", w.n[WK_GEMM_SMALL]);
    CHECK(w.n[WK_GEMM] == 0, "cnn: no large products");
    CHECK(near(w.n[WK_GATHER], 10 * 2 * (25 * 576 + 4 * 576) + 30 * (25 * 576 + 4 * 576)), "cnn im2col and pool %.0f",
          w.n[WK_GATHER]);
}

/* mnist lc: one layer of 4 channels, 3 x 3 kernels at each of the 784 positions, max-pool to
 * 14 x 14, no hidden layer, batch 8, 1 epoch on 16 images, 8 test images. */
static void lc_hand(void) {
    JobSpec s;
    jobspec_defaults(&s);
    const char *kv[][2] = {{"dataset", "mnist"}, {"model", "lc"}, {"lc_channels", "4"}, {"lc_size", "3"},
                           {"hidden", ""}, {"batch_size", "8"}, {"epochs", "1"}, {"train_size", "16"},
                           {"test_size", "8"}, {"eval_every", "0"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) set(&s, kv[i][0], kv[i][1]);
    Work w;
    CHECK(jobspec_work(&s, &w) == 0, "lc job counted");
    double lc = 784 * 2.0 * 4 * 9;          /* per position (4 out, 9 taps) per example */
    double head = 2.0 * (4 * 14 * 14) * 10; /* 784 features -> 10 */
    double fwd = lc + head, bwd = lc + 2 * head; /* layer 0 needs no input gradient */
    double stage = 8.0 * 784 * 10 * 10;
    CHECK(near(w.n[WK_GEMM_SMALL], 16 * (fwd + bwd) + (8 + 8 + 16) * fwd + 2 * stage), "lc gemm_small %.0f",
          w.n[WK_GEMM_SMALL]);
    /* instant sharing every step: 2 sleeps (16 / 8 steps), each 3 streams of 784 x 36 weights */
    set(&s, "sleep", "instant");
    set(&s, "sleep_every", "1");
    Work ws;
    jobspec_work(&s, &ws);
    CHECK(near(ws.n[WK_STREAM] - w.n[WK_STREAM], 2 * 3.0 * 784 * 36), "instant sleeps %.0f",
          ws.n[WK_STREAM] - w.n[WK_STREAM]);
}

static void helpers(void) {
    Work w = {{0}};
    work_gemm(&w, 1, 1, 500, 784);
    work_gemm(&w, 1, 64, 16, 75);
    work_gemm(&w, 2, 64, 100, 784);
    CHECK(near(w.n[WK_GEMV], 2.0 * 500 * 784) && near(w.n[WK_GEMM_SMALL], 2.0 * 64 * 16 * 75) &&
          near(w.n[WK_GEMM], 2 * 2.0 * 64 * 100 * 784), "gemm classes by the smallest side");
    Calibration c;
    calibration_default(&c);
    for (int k = 0; k < WK_N; k++) c.rate[k] = 1.0 + k;
    Work u = {{0}};
    double want = 0;
    for (int k = 0; k < WK_N; k++) u.n[k] = 10.0 * (k + 1), want += 10.0;
    CHECK(near(work_seconds(&u, &c), want), "seconds = sum of count / rate");
    work_stream(&u, 5, WORK_CACHE_BYTES * 2);
    CHECK(near(u.n[WK_DRAM], 10.0 * (WK_DRAM + 1) + 5), "a large working set streams from memory");
    CHECK(work_pixel_density("mnist", 0.0) < 0.35 && work_pixel_density("fashion_mnist", 0.0) > 0.35 &&
          work_pixel_density("cifar10", 0.0) == 1.0, "densities: MNIST sparse, Fashion-MNIST dense, CIFAR unknown");
    /* every built-in kind predicts its jobs */
    for (int i = 0; i < model_kind_count(); i++) CHECK(model_kind_at(i)->work, "kind %s has no work", model_kind_at(i)->name);
}

int main(void) {
    mlp_hand();
    cnn_hand();
    lc_hand();
    helpers();
    return test_report("work");
}
