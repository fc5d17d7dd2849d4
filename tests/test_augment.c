/*
 * augment: the crop_flip transform (src/core/augment.c) and its use in train_epoch.
 *  - invariants: a flip applied twice is the identity; the crop at (pad, pad) without flip is
 *    the image; every output pixel equals a naive reference that builds the zero-padded image,
 *    crops and flips it (so padded regions are zero);
 *  - the draws: a pure function of (seed, epoch, index), in range, about uniform over the
 *    (2 pad + 1)^2 offsets with flips at p = 0.5, different across epochs, images and seeds;
 *  - train_epoch feeds each image as augment_row draws it for (seed, epoch, its row number),
 *    whatever the batch size and the shuffle order (a recording stub kind sees the rows);
 *  - jobspec_check refuses augment for the readout kinds (rbse, rbm, pixels).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "job.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"
#include "train.h"

enum { P = AUGMENT_PAD };

/* The naive reference: pad with zeros, crop at (dy, dx), flip the crop's columns. */
static void reference(float *dst, const float *src, int C, int H, int W, AugmentDraw d) {
    int Hp = H + 2 * P, Wp = W + 2 * P;
    float *pad = calloc((size_t)C * Hp * Wp, sizeof(float));
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) pad[((size_t)c * Hp + y + P) * Wp + x + P] = src[((size_t)c * H + y) * W + x];
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float v = pad[((size_t)c * Hp + y + d.dy) * Wp + x + d.dx];
                dst[((size_t)c * H + y) * W + (d.flip ? W - 1 - x : x)] = v;
            }
    free(pad);
}

static void fill(float *x, size_t n, Rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(r) + 0.5f; /* no zeros */
}

static void test_invariants(void) {
    const int shapes[][3] = {{1, 28, 28}, {3, 32, 32}, {2, 5, 7}, {1, 3, 2}};
    Rng r;
    rng_seed(&r, 5, 0);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int C = shapes[s][0], H = shapes[s][1], W = shapes[s][2];
        size_t n = (size_t)C * H * W;
        float *x = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        fill(x, n, &r);
        augment_apply(a, x, C, H, W, (AugmentDraw){P, P, 0});
        CHECK(!memcmp(a, x, n * sizeof(float)), "crop (%d, %d) without flip is the image (%dx%dx%d)", P, P, C, H, W);
        augment_apply(a, x, C, H, W, (AugmentDraw){P, P, 1});
        augment_apply(b, a, C, H, W, (AugmentDraw){P, P, 1});
        CHECK(!memcmp(b, x, n * sizeof(float)), "flip twice is the identity (%dx%dx%d)", C, H, W);
        CHECK(a[W - 1] == x[0] && (W == 1 || a[0] != x[0]), "the flip mirrors the columns");
        long bad = 0, zeros = 0, expect_zeros = 0;
        for (int dy = 0; dy <= 2 * P; dy++)
            for (int dx = 0; dx <= 2 * P; dx++)
                for (int f = 0; f < 2; f++) {
                    AugmentDraw d = {dy, dx, f};
                    augment_apply(a, x, C, H, W, d);
                    reference(b, x, C, H, W, d);
                    bad += memcmp(a, b, n * sizeof(float)) != 0;
                    /* rows and columns outside the image: (|dy - P| rows) x W + H x |dx - P| - overlap */
                    int ry = abs(dy - P) < H ? abs(dy - P) : H, rx = abs(dx - P) < W ? abs(dx - P) : W;
                    expect_zeros += (long)C * (ry * W + rx * H - ry * rx);
                    for (size_t i = 0; i < n; i++) zeros += a[i] == 0.0f;
                }
        CHECK(bad == 0, "%ld of 162 draws differ from the padded-crop-flip reference (%dx%dx%d)", bad, C, H, W);
        CHECK(zeros == expect_zeros, "zeros: %ld, the padding covers %ld pixels", zeros, expect_zeros);
        free(x), free(a), free(b);
    }
}

static void test_draws(void) {
    enum { N = 81 * 400 };
    long count[2 * P + 1][2 * P + 1] = {{0}}, flips = 0, same_epoch = 0, same_seed = 0;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        AugmentDraw d = augment_draw(7, 3, i), e = augment_draw(7, 3, i);
        bad += d.dy != e.dy || d.dx != e.dx || d.flip != e.flip;
        bad += d.dy < 0 || d.dy > 2 * P || d.dx < 0 || d.dx > 2 * P || (d.flip != 0 && d.flip != 1);
        if (bad) break;
        count[d.dy][d.dx]++, flips += d.flip;
        AugmentDraw o = augment_draw(7, 4, i), s = augment_draw(8, 3, i);
        same_epoch += o.dy == d.dy && o.dx == d.dx && o.flip == d.flip;
        same_seed += s.dy == d.dy && s.dx == d.dx && s.flip == d.flip;
    }
    CHECK(bad == 0, "a draw is a pure function of (seed, epoch, index) and in range");
    /* 400 expected per offset, sd 20: 6 sd bounds; flips: N/2 with sd 90 */
    long lo = N, hi = 0;
    for (int y = 0; y <= 2 * P; y++)
        for (int x = 0; x <= 2 * P; x++) lo = count[y][x] < lo ? count[y][x] : lo, hi = count[y][x] > hi ? count[y][x] : hi;
    CHECK(lo > 280 && hi < 520, "offsets about uniform: counts in [%ld, %ld], expected 400 each", lo, hi);
    CHECK(labs(flips - N / 2) < 540, "flips %ld of %d", flips, N);
    /* another epoch or seed draws anew: equal with probability 1/162 */
    CHECK(same_epoch < N / 100 && same_seed < N / 100, "epoch 4 repeats %ld, seed 8 repeats %ld of %d draws",
          same_epoch, same_seed, N);
}

/* A stub kind that records the rows train_epoch gives it. */
static float *seen;
static long n_seen;
static int seen_d;
static double rec_forward(Model *md, const float *x, const uint8_t *y, int B, int features, long *correct) {
    (void)md, (void)y, (void)features, (void)correct;
    memcpy(seen + (size_t)n_seen * seen_d, x, (size_t)B * seen_d * sizeof(float));
    n_seen += B;
    return 0.0;
}
static void rec_backward(Model *md, const float *x, const uint8_t *y, int B, int features) {
    (void)md, (void)x, (void)y, (void)B, (void)features;
}
static const ModelKind REC = {.name = "rec", .forward = rec_forward, .backward = rec_backward};

/* One epoch of s at batch B, shuffled by shuffle_seed: the rows seen, by image (out, (n, d)). */
static void epoch_rows(const Split *s, const Augment *aug, int B, uint64_t shuffle_seed, float *out) {
    Model md = {.kind = &REC, .max_batch = B, .fused_step = 1};
    float gdummy = 0.0f;
    md.grads = &gdummy;
    int *perm = malloc((size_t)s->n * sizeof(int));
    float *xbuf = malloc((size_t)B * s->d * sizeof(float));
    uint8_t *ybuf = malloc((size_t)B);
    Rng sh;
    rng_seed(&sh, shuffle_seed, RNG_STREAM_SHUFFLE);
    n_seen = 0, seen_d = s->d;
    train_epoch(&md, s, &sh, perm, xbuf, ybuf, aug);
    for (int k = 0; k < s->n; k++) memcpy(out + (size_t)perm[k] * s->d, seen + (size_t)k * s->d, (size_t)s->d * sizeof(float));
    free(perm), free(xbuf), free(ybuf);
}

static void test_epoch_order(void) {
    enum { N = 37, C = 3, H = 8, W = 6, D = C * H * W };
    Split s = {.n = N, .d = D, .n_classes = 10};
    s.x = malloc((size_t)N * D * sizeof(float));
    s.y = calloc(N, 1);
    seen = malloc((size_t)N * D * sizeof(float));
    float *a = malloc((size_t)N * D * sizeof(float)), *b = malloc((size_t)N * D * sizeof(float));
    float *want = malloc((size_t)N * D * sizeof(float));
    Rng r;
    rng_seed(&r, 9, 0);
    fill(s.x, (size_t)N * D, &r);
    for (int e = 0; e < 3; e++) {
        Augment aug = {12345, e, C, H, W};
        for (int i = 0; i < N; i++) augment_row(&aug, i, want + (size_t)i * D, s.x + (size_t)i * D);
        epoch_rows(&s, &aug, 1, 1, a);
        CHECK(!memcmp(a, want, sizeof(float) * N * D), "epoch %d, batch 1: every image as (seed, epoch, row) draws it", e);
        const int batches[] = {5, 16, 64};
        for (int k = 0; k < 3; k++) {
            epoch_rows(&s, &aug, batches[k], (uint64_t)(2 + k), b);
            CHECK(!memcmp(a, b, sizeof(float) * N * D), "epoch %d: batch %d in another order feeds the same images",
                  e, batches[k]);
        }
    }
    epoch_rows(&s, NULL, 8, 1, a);
    CHECK(!memcmp(a, s.x, sizeof(float) * N * D), "without augment the rows are the images");
    free(s.x), free(s.y), free(seen), free(a), free(b), free(want);
}

static void test_refused(void) {
    const char *kinds[] = {"rbse", "rbm", "pixels", "mlp", "cnn", "lc", "lc_conv"};
    for (int k = 0; k < 7; k++) {
        JobSpec s;
        char err[256] = "";
        jobspec_defaults(&s);
        int rc = jobspec_set(&s, "model", kinds[k], err, sizeof err) || jobspec_set(&s, "augment", "crop_flip", err, sizeof err);
        CHECK(rc == 0, "set: %s", err);
        int refused = jobspec_check(&s, err, sizeof err) != 0;
        CHECK(refused == (k < 3), "model %s with augment crop_flip: %s", kinds[k], refused ? err : "accepted");
        if (k < 3) CHECK(strstr(err, "augment") != NULL, "the error names the field: %s", err);
    }
    JobSpec s;
    char err[256] = "";
    jobspec_defaults(&s);
    CHECK(jobspec_set(&s, "augment", "crop", err, sizeof err) != 0 && strstr(err, "none|crop_flip"),
          "an unknown augment lists the choices: %s", err);
}

/* test_augment dump SEED EPOCH C H W N IN OUT: N float32 images (C, H, W) of IN, each i as
 * augment draws it for (SEED, EPOCH, i), to OUT: per image its draws (3 int32) and pixels. */
static int dump(char **a) {
    uint64_t seed = strtoull(a[0], NULL, 10);
    int epoch = atoi(a[1]), C = atoi(a[2]), H = atoi(a[3]), W = atoi(a[4]), N = atoi(a[5]);
    size_t d = (size_t)C * H * W;
    float *x = malloc(d * sizeof(float)), *y = malloc(d * sizeof(float));
    FILE *in = fopen(a[6], "rb"), *out = fopen(a[7], "wb");
    if (!x || !y || !in || !out) return 2;
    for (int i = 0; i < N; i++) {
        if (fread(x, sizeof(float), d, in) != d) return 2;
        AugmentDraw dr = augment_draw(seed, epoch, i);
        int32_t v[3] = {dr.dy, dr.dx, dr.flip};
        augment_apply(y, x, C, H, W, dr);
        fwrite(v, sizeof v, 1, out);
        fwrite(y, sizeof(float), d, out);
    }
    free(x), free(y), fclose(in);
    return fclose(out) ? 2 : 0;
}

int main(int argc, char **argv) {
    if (argc == 10 && !strcmp(argv[1], "dump")) return dump(argv + 2);
    test_invariants();
    test_draws();
    test_epoch_order();
    test_refused();
    return test_report("test_augment");
}
