#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "rng.h"

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads an IDX file (gz or raw) whose magic must be `magic`; dims[] gets its sizes. */
static int idx_read(const char *path, uint32_t magic, int n_dims, uint32_t *dims, uint8_t **data,
                    size_t *n_bytes, char *err, size_t errlen) {
    *data = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return -1;
    }
    unsigned char hdr[16];
    int hlen = 4 + 4 * n_dims;
    uint8_t *buf = NULL;
    if (gzread(f, hdr, (unsigned)hlen) != hlen) {
        snprintf(err, errlen, "%s: file ends inside the %d-byte IDX header", path, hlen);
        goto fail;
    }
    if (be32(hdr) != magic) {
        snprintf(err, errlen, "%s: IDX magic is 0x%08x, expected 0x%08x (%s)", path, be32(hdr),
                 magic, magic == 0x803 ? "uint8 images, 3 dims" : "uint8 labels, 1 dim");
        goto fail;
    }
    size_t total = 1;
    for (int i = 0; i < n_dims; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        if (dims[i] == 0 || dims[i] > 100000000u) {
            snprintf(err, errlen, "%s: IDX dimension %d is %u, expected 1..1e8", path, i, dims[i]);
            goto fail;
        }
        total *= dims[i];
    }
    if (total > ((size_t)1 << 34)) {
        snprintf(err, errlen, "%s: IDX header claims %zu bytes, too large", path, total);
        goto fail;
    }
    if (!(buf = malloc(total ? total : 1))) {
        snprintf(err, errlen, "%s: out of memory for %zu bytes", path, total);
        goto fail;
    }
    size_t got = 0;
    while (got < total) {
        unsigned chunk = total - got > (1u << 30) ? (1u << 30) : (unsigned)(total - got);
        int r = gzread(f, buf + got, chunk);
        if (r <= 0) break;
        got += (size_t)r;
    }
    int gzerr;
    const char *msg = gzerror(f, &gzerr);
    if (gzerr != Z_OK && gzerr != Z_BUF_ERROR) {
        snprintf(err, errlen, "%s: corrupt compressed data after %zu of %zu payload bytes (%s)",
                 path, got, total, msg);
        goto fail;
    }
    if (got < total) {
        snprintf(err, errlen, "%s: truncated: header promises %zu payload bytes, file holds %zu",
                 path, total, got);
        goto fail;
    }
    /* reading on must hit a clean end: no extra bytes, and (gzip) an intact trailer */
    unsigned char extra;
    if (gzread(f, &extra, 1) > 0) {
        snprintf(err, errlen, "%s: %zu payload bytes expected from the header, but more follow",
                 path, total);
        goto fail;
    }
    msg = gzerror(f, &gzerr);
    if (gzerr != Z_OK) {
        snprintf(err, errlen, "%s: truncated or corrupt gzip stream after the payload (%s)", path,
                 msg);
        goto fail;
    }
    gzclose(f);
    *data = buf;
    *n_bytes = total;
    return 0;
fail:
    free(buf);
    gzclose(f);
    return -1;
}

void raw_split_free(RawSplit *s) {
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof(*s));
}

int idx_load(const char *images_path, const char *labels_path, RawSplit *out, char *err,
             size_t errlen) {
    memset(out, 0, sizeof(*out));
    uint32_t di[3], dl[1];
    size_t ni, nl;
    if (idx_read(images_path, 0x803, 3, di, &out->x, &ni, err, errlen)) return -1;
    if (idx_read(labels_path, 0x801, 1, dl, &out->y, &nl, err, errlen)) goto fail;
    if (dl[0] != di[0]) {
        snprintf(err, errlen, "%s: holds %u labels but %s holds %u images", labels_path, dl[0],
                 images_path, di[0]);
        goto fail;
    }
    out->n = (int)di[0], out->h = (int)di[1], out->w = (int)di[2], out->c = 1;
    out->n_classes = 10;
    for (int i = 0; i < out->n; i++)
        if (out->y[i] >= out->n_classes) {
            snprintf(err, errlen, "%s: label %d at index %d, expected 0..9", labels_path,
                     out->y[i], i);
            goto fail;
        }
    return 0;
fail:
    raw_split_free(out);
    return -1;
}

int dataset_load(const char *data_dir, const char *name, const char *split, RawSplit *out,
                 char *err, size_t errlen) {
    const char *sub;
    if (strcmp(name, "mnist") == 0) sub = "mnist";
    else if (strcmp(name, "fashion_mnist") == 0) sub = "fashion-mnist";
    else if (strcmp(name, "kmnist") == 0) sub = "kmnist";
    else {
        snprintf(err, errlen, "dataset '%s' is not known; expected one of %s", name,
                 DATASET_NAMES);
        return -1;
    }
    const char *pre = strcmp(split, "train") == 0 ? "train" : "t10k";
    char ip[1024], lp[1024];
    snprintf(ip, sizeof ip, "%s/%s/%s-images-idx3-ubyte.gz", data_dir, sub, pre);
    snprintf(lp, sizeof lp, "%s/%s/%s-labels-idx1-ubyte.gz", data_dir, sub, pre);
    /* accept the uncompressed official names too */
    FILE *probe = fopen(ip, "rb");
    if (probe) fclose(probe);
    else {
        char rip[1024], rlp[1024];
        snprintf(rip, sizeof rip, "%s/%s/%s-images-idx3-ubyte", data_dir, sub, pre);
        snprintf(rlp, sizeof rlp, "%s/%s/%s-labels-idx1-ubyte", data_dir, sub, pre);
        if ((probe = fopen(rip, "rb"))) {
            fclose(probe);
            memcpy(ip, rip, sizeof ip);
            memcpy(lp, rlp, sizeof lp);
        }
    }
    return idx_load(ip, lp, out, err, errlen);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int subset_choose(const RawSplit *raw, int per_class, int total, uint64_t seed, int *idx,
                  char *err, size_t errlen) {
    Rng r;
    rng_seed(&r, seed, RNG_STREAM_SUBSET);
    int n = raw->n;
    if (per_class < 0 || total < 0) {
        snprintf(err, errlen, "train_per_class and train_size must be >= 0");
        return -1;
    }
    if (per_class > 0) {
        int *pool = malloc((size_t)n * sizeof(int));
        if (!pool) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int k = 0;
        for (int c = 0; c < raw->n_classes; c++) {
            int m = 0;
            for (int i = 0; i < n; i++)
                if (raw->y[i] == c) pool[m++] = i;
            if (m < per_class) {
                snprintf(err, errlen,
                         "train_per_class = %d, but class %d has only %d training examples",
                         per_class, c, m);
                free(pool);
                return -1;
            }
            /* partial Fisher-Yates: the first per_class of a seeded shuffle */
            for (int j = 0; j < per_class; j++) {
                int t = j + (int)rng_below(&r, (uint32_t)(m - j));
                int s = pool[j];
                pool[j] = pool[t], pool[t] = s;
                idx[k++] = pool[j];
            }
        }
        free(pool);
        qsort(idx, (size_t)k, sizeof(int), cmp_int);
        return k;
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    if (total == 0 || total >= n) return n;
    for (int j = 0; j < total; j++) {
        int t = j + (int)rng_below(&r, (uint32_t)(n - j));
        int s = idx[j];
        idx[j] = idx[t], idx[t] = s;
    }
    qsort(idx, (size_t)total, sizeof(int), cmp_int);
    return total;
}

Scaling scaling_fit(const RawSplit *raw, const int *idx, int n, int standardize) {
    Scaling s = {0.0, 1.0};
    if (!standardize || n == 0) return s;
    size_t d = (size_t)raw->c * raw->h * raw->w;
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = raw->x + (size_t)idx[i] * d;
        for (size_t j = 0; j < d; j++) sum += p[j], sq += (double)p[j] * p[j];
    }
    double cnt = (double)n * d;
    double mean = sum / cnt / 255.0;
    double var = sq / cnt / (255.0 * 255.0) - mean * mean;
    s.mean = mean;
    s.std = var > 1e-12 ? sqrt(var) : 1.0;
    return s;
}

int split_make(Split *out, const RawSplit *raw, const int *idx, int n, Scaling s) {
    size_t d = (size_t)raw->c * raw->h * raw->w;
    out->n = n, out->d = (int)d, out->n_classes = raw->n_classes;
    out->x = malloc((size_t)n * d * sizeof(float) + 1);
    out->y = malloc((size_t)n + 1);
    if (!out->x || !out->y) {
        split_free(out);
        return -1;
    }
    /* a table of the 256 possible values keeps the scaling identical everywhere */
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = (float)((v / 255.0 - s.mean) / s.std);
    for (int i = 0; i < n; i++) {
        int r = idx ? idx[i] : i;
        const uint8_t *p = raw->x + (size_t)r * d;
        float *q = out->x + (size_t)i * d;
        for (size_t j = 0; j < d; j++) q[j] = lut[p[j]];
        out->y[i] = raw->y[r];
    }
    return 0;
}

void split_free(Split *s) {
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof(*s));
}
