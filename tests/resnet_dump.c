/*
 * resnet_dump OUTDIR conv|lc sgd|adam [STEPS]: trains a tiny `model: resnet` (resnet_width 4,
 * resnet_n 1, 8 random 3x16x16 images per batch, 4 batches cycled, 10 classes) for STEPS (20) steps
 * through model_step and writes, for tests/check_resnet_torch.py to replay in PyTorch:
 *   tensors.txt  one line per tensor: name fixed offset ndim shape...
 *   hyper.txt    optimizer lr momentum weight_decay beta1 beta2 eps steps batches B C H W
 *   init.bin     the initial trainable buffer, then the fixed one (float32)
 *   x.bin, y.bin the batches (float32 images, uint8 labels)
 *   losses.txt   the loss of each step, then of each batch evaluated (BN: running statistics)
 *   final.bin    both buffers after the last step
 *   steps.bin    per step: both buffers after it, then the optimiser's moments m and v (over the
 *                trainable buffer; SGD: m its velocity) after it
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "model.h"
#include "rng.h"

enum { NB = 4, B = 8, C = 3, H = 16, W = 16, CLASSES = 10 };

static void set(JobSpec *s, const char *k, const char *v) {
    char err[256];
    if (jobspec_set(s, k, v, err, sizeof err)) {
        fprintf(stderr, "resnet_dump: %s\n", err);
        exit(2);
    }
}

static FILE *open_in(const char *dir, const char *name, const char *mode) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, mode);
    if (!f) {
        perror(path);
        exit(2);
    }
    return f;
}

/* n floats of buffer b (md->params or a buffer laid out as it is: psrc; md->fixed: fsrc) in the
   results file's order (model.h's snapshot_order: LC kernels in (c, ky, kx) order) to f */
static void put(FILE *f, const Model *md, const float *b, size_t n, int fixed) {
    float *t = malloc((n ? n : 1) * sizeof(float));
    if (!t) exit(2);
    memcpy(t, b, n * sizeof(float));
    if (md->kind->snapshot_order) md->kind->snapshot_order(md, fixed ? NULL : b, fixed ? b : NULL, t, t);
    fwrite(t, sizeof(float), n, f);
    free(t);
}

static void write_buffers(const char *dir, const char *name, const Model *md) {
    FILE *f = open_in(dir, name, "wb");
    put(f, md, md->params, (size_t)md->tensors.n_params, 0);
    put(f, md, md->fixed, (size_t)md->tensors.n_fixed, 1);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: resnet_dump OUTDIR conv|lc sgd|adam [STEPS (20)]\n");
        return 2;
    }
    const char *dir = argv[1];
    int STEPS = argc == 5 ? atoi(argv[4]) : 20;
    int sgd = !strcmp(argv[3], "sgd");
    JobSpec s;
    jobspec_defaults(&s);
    const char *kv[][2] = {{"model", "resnet"}, {"resnet_width", "4"}, {"resnet_n", "1"}, {"layer_type", argv[2]},
                           {"optimizer", argv[3]}, {"lr", sgd ? "0.05" : "0.001"}, {"batch_size", "8"}, {"seed", "5"},
                           {"weight_decay", sgd ? "1e-4" : "0"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) set(&s, kv[i][0], kv[i][1]);
    Model md;
    char err[256];
    if (model_build(&md, &s, C, H, W, CLASSES, err, sizeof err)) {
        fprintf(stderr, "resnet_dump: %s\n", err);
        return 1;
    }
    FILE *f = open_in(dir, "tensors.txt", "w");
    for (int i = 0; i < md.tensors.n; i++) {
        const Tensor *t = &md.tensors.t[i];
        fprintf(f, "%s %d %lld %d", t->name, t->fixed, (long long)t->offset, t->ndim);
        for (int d = 0; d < t->ndim; d++) fprintf(f, " %d", t->shape[d]);
        fprintf(f, "\n");
    }
    fclose(f);
    f = open_in(dir, "hyper.txt", "w");
    fprintf(f, "%s %.9g %.9g %.9g %.9g %.9g %.9g %d %d %d %d %d %d\n", argv[3], s.lr, s.momentum, s.weight_decay,
            s.beta1, s.beta2, s.eps, STEPS, NB, B, C, H, W);
    fclose(f);
    write_buffers(dir, "init.bin", &md);
    static float x[NB * B * C * H * W];
    static uint8_t y[NB * B];
    Rng r;
    /* (data seed 11 puts one stage-3 pre-activation within rounding of 0 at step 0: the ReLU's
     * kink then flips one gradient element and torch and synsweep part by 1e-3; seeds 1-6 all
     * agree to 3e-7 in loss) */
    rng_seed(&r, 1, 1);
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < sizeof y; i++) y[i] = (uint8_t)rng_below(&r, CLASSES);
    f = open_in(dir, "x.bin", "wb");
    fwrite(x, sizeof x, 1, f);
    fclose(f);
    f = open_in(dir, "y.bin", "wb");
    fwrite(y, sizeof y, 1, f);
    fclose(f);
    f = open_in(dir, "losses.txt", "w");
    FILE *fs = open_in(dir, "steps.bin", "wb");
    size_t np = (size_t)md.tensors.n_params;
    for (int t = 0; t < STEPS; t++) {
        int b = t % NB;
        double loss = model_step(&md, x + (size_t)b * B * C * H * W, y + b * B, B, 0);
        fprintf(f, "%.9g\n", loss);
        put(fs, &md, md.params, np, 0);
        put(fs, &md, md.fixed, (size_t)md.tensors.n_fixed, 1);
        put(fs, &md, md.opt.m, np, 0);
        put(fs, &md, md.opt.v ? md.opt.v : md.opt.m, np, 0);
    }
    fclose(fs);
    /* then evaluation (running statistics) on each batch */
    md.no_grad = 1;
    for (int b = 0; b < NB; b++)
        fprintf(f, "%.9g\n", md.kind->forward(&md, x + (size_t)b * B * C * H * W, y + b * B, B, 0, NULL));
    fclose(f);
    write_buffers(dir, "final.bin", &md);
    model_free(&md);
    return 0;
}
