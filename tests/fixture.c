#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

#include "rng.h"

static void be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static int write_file(const char *path, const unsigned char *hdr, int hlen, const uint8_t *data,
                      size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f) return -1;
        int ok = gzwrite(f, hdr, (unsigned)hlen) == hlen && (n == 0 || gzwrite(f, data, (unsigned)n) == (int)n);
        return (gzclose(f) == Z_OK && ok) ? 0 : -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(hdr, 1, (size_t)hlen, f) == (size_t)hlen && fwrite(data, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

int fixture_write_idx(const char *images, const char *labels, const uint8_t *x, const uint8_t *y,
                      int n, int h, int w, int gz) {
    unsigned char hi[16], hl[8];
    be32(hi, 0x803), be32(hi + 4, (uint32_t)n), be32(hi + 8, (uint32_t)h), be32(hi + 12, (uint32_t)w);
    be32(hl, 0x801), be32(hl + 4, (uint32_t)n);
    if (write_file(images, hi, 16, x, (size_t)n * h * w, gz)) return -1;
    return write_file(labels, hl, 8, y, (size_t)n, gz);
}

static void make_split(uint8_t *x, uint8_t *y, int n, int side, Rng *r) {
    int d = side * side;
    for (int i = 0; i < n; i++) {
        int c = i % 10;
        y[i] = (uint8_t)c;
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] = (uint8_t)rng_below(r, 60);
        /* class c: a bright 2-row band starting at row (c * (side - 2)) / 9 */
        int row = c * (side - 2) / 9;
        for (int rr = row; rr < row + 2; rr++)
            for (int cc = 0; cc < side; cc++)
                x[(size_t)i * d + rr * side + cc] = (uint8_t)(150 + rng_below(r, 100));
    }
}

int fixture_make_mnist(const char *dir, int n_train, int n_test, int side, uint64_t seed) {
    char sub[1024], a[1100], b[1100];
    snprintf(sub, sizeof sub, "%s/mnist", dir);
    mkdir(dir, 0777);
    mkdir(sub, 0777);
    Rng r;
    rng_seed(&r, seed, 99);
    int n = n_train > n_test ? n_train : n_test;
    uint8_t *x = malloc((size_t)n * side * side), *y = malloc((size_t)n);
    int rc = -1;
    if (!x || !y) goto done;
    make_split(x, y, n_train, side, &r);
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte.gz", sub);
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte.gz", sub);
    if (fixture_write_idx(a, b, x, y, n_train, side, side, 1)) goto done;
    make_split(x, y, n_test, side, &r);
    snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte.gz", sub);
    snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte.gz", sub);
    if (fixture_write_idx(a, b, x, y, n_test, side, side, 1)) goto done;
    rc = 0;
done:
    free(x), free(y);
    return rc;
}
