#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "rng.h"

int file_check_regular(const char *path, long long *size, char *err, size_t errlen) {
    struct stat sb;
    if (stat(path, &sb)) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file (%s); refusing to read it", path,
                 S_ISFIFO(sb.st_mode) ? "a FIFO" : S_ISDIR(sb.st_mode) ? "a directory" :
                 S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device" : S_ISSOCK(sb.st_mode) ? "a socket" : "special");
        return -1;
    }
    if (size) *size = (long long)sb.st_size;
    return 0;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads an IDX file (gz or raw) whose magic must be `magic`; dims[] gets its sizes. */
static int idx_read(const char *path, uint32_t magic, int n_dims, uint32_t *dims, uint8_t **data,
                    size_t *n_bytes, char *err, size_t errlen) {
    *data = NULL;
    long long fsize;
    if (file_check_regular(path, &fsize, err, errlen)) return -1;
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
    /* what the file can honestly hold: its own size uncompressed, at most deflate's maximum
     * ratio (1032:1) compressed; a header claiming more is refused before anything is read */
    size_t honest = gzdirect(f) ? (size_t)fsize : (size_t)fsize * 1032u + 65536u;
    if (total > honest) {
        snprintf(err, errlen, "%s: IDX header claims %zu bytes, more than this %lld-byte file can hold%s", path,
                 total, fsize, gzdirect(f) ? "" : " compressed (deflate expands at most 1032:1)");
        goto fail;
    }
    /* grow the buffer as data arrives (up to what the header promises), so that a header
     * claiming gigabytes costs only what the file really holds */
    size_t cap = total < ((size_t)1 << 20) ? total : ((size_t)1 << 20), got = 0;
    if (!(buf = malloc(cap ? cap : 1))) {
        snprintf(err, errlen, "%s: out of memory for %zu bytes", path, cap);
        goto fail;
    }
    while (got < total) {
        if (got == cap) {
            size_t ncap = cap * 2 < total ? cap * 2 : total;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                snprintf(err, errlen, "%s: out of memory for %zu bytes", path, ncap);
                goto fail;
            }
            buf = nb, cap = ncap;
        }
        size_t want = cap - got;
        unsigned chunk = want > (1u << 30) ? (1u << 30) : (unsigned)want;
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

int cifar_load(const char *const *paths, int n_paths, RawSplit *out, char *err, size_t errlen) {
    const int C = 3, H = 32, W = 32, rec = 1 + C * H * W;
    memset(out, 0, sizeof(*out));
    long sizes[8], total = 0;
    for (int i = 0; i < n_paths; i++) {
        if (file_check_regular(paths[i], NULL, err, errlen)) return -1;
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            snprintf(err, errlen, "%s: cannot open (%s)", paths[i], strerror(errno));
            return -1;
        }
        fseek(f, 0, SEEK_END);
        sizes[i] = ftell(f);
        fclose(f);
        if (sizes[i] <= 0 || sizes[i] % rec) {
            snprintf(err, errlen, "%s: %ld bytes is not a whole number of %d-byte records "
                     "(1 label + 3x32x32 pixels); truncated or not a CIFAR-10 binary batch",
                     paths[i], sizes[i], rec);
            return -1;
        }
        total += sizes[i] / rec;
    }
    out->n = (int)total, out->c = C, out->h = H, out->w = W, out->n_classes = 10;
    out->x = malloc((size_t)total * C * H * W);
    out->y = malloc((size_t)total);
    unsigned char *buf = malloc((size_t)rec);
    if (!out->x || !out->y || !buf) {
        snprintf(err, errlen, "out of memory for %ld CIFAR records", total);
        goto fail;
    }
    long k = 0;
    for (int i = 0; i < n_paths; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            snprintf(err, errlen, "%s: cannot open (%s)", paths[i], strerror(errno));
            goto fail;
        }
        for (long r = 0; r < sizes[i] / rec; r++, k++) {
            if (fread(buf, 1, (size_t)rec, f) != (size_t)rec) {
                snprintf(err, errlen, "%s: read failed at record %ld", paths[i], r);
                fclose(f);
                goto fail;
            }
            if (buf[0] >= 10) {
                snprintf(err, errlen, "%s: record %ld has label %d, expected 0..9", paths[i], r, buf[0]);
                fclose(f);
                goto fail;
            }
            out->y[k] = buf[0];
            memcpy(out->x + (size_t)k * (rec - 1), buf + 1, (size_t)rec - 1);
        }
        fclose(f);
    }
    free(buf);
    return 0;
fail:
    free(buf);
    raw_split_free(out);
    return -1;
}

int usps_load(const char *path, RawSplit *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (file_check_regular(path, NULL, err, errlen)) return -1;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return -1;
    }
    size_t cap = 1024;
    int n = 0, line_no = 0;
    out->x = malloc(cap * 256);
    out->y = malloc(cap);
    char line[8192];
    while (out->x && out->y && gzgets(f, line, sizeof line)) {
        line_no++;
        char *p = line, *end;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\n' || *p == 0) continue;
        double digit = strtod(p, &end);
        if (end == p || digit < 0 || digit > 9 || digit != (int)digit) {
            snprintf(err, errlen, "%s:%d: expected a digit 0-9 first", path, line_no);
            goto fail;
        }
        if ((size_t)n == cap) {
            cap *= 2;
            uint8_t *nx = realloc(out->x, cap * 256), *ny = nx ? realloc(out->y, cap) : NULL;
            if (nx) out->x = nx;
            if (ny) out->y = ny;
            if (!nx || !ny) break;
        }
        out->y[n] = (uint8_t)digit;
        for (int j = 0; j < 256; j++) {
            p = end;
            double v = strtod(p, &end);
            if (end == p || !(v >= -1.0001 && v <= 1.0001)) { /* NaN fails both */
                snprintf(err, errlen, "%s:%d: value %d is missing or outside [-1, 1]", path, line_no, j + 1);
                goto fail;
            }
            long q = lround((v + 1.0) * 127.5);
            out->x[(size_t)n * 256 + j] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
        }
        while (*end == ' ' || *end == '\t' || *end == '\r') end++;
        if (*end != '\n' && *end != 0) {
            snprintf(err, errlen, "%s:%d: more than 257 fields", path, line_no);
            goto fail;
        }
        n++;
    }
    int gzerr;
    const char *msg = gzerror(f, &gzerr);
    if (!out->x || !out->y) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    if (gzerr != Z_OK) {
        snprintf(err, errlen, "%s: truncated or corrupt (%s)", path, msg);
        goto fail;
    }
    if (n == 0) {
        snprintf(err, errlen, "%s: no examples", path);
        goto fail;
    }
    gzclose(f);
    out->n = n, out->c = 1, out->h = 16, out->w = 16, out->n_classes = 10;
    return 0;
fail:
    gzclose(f);
    raw_split_free(out);
    return -1;
}

int dataset_load(const char *data_dir, const char *name, const char *split, RawSplit *out,
                 char *err, size_t errlen) {
    int train = strcmp(split, "train") == 0;
    char p[6][1024];
    if (!strcmp(name, "cifar10") || !strcmp(name, "svhn")) {
        const char *paths[6];
        int n = 0;
        if (!strcmp(name, "cifar10")) {
            if (train)
                for (n = 0; n < 5; n++) snprintf(p[n], sizeof p[n], "%s/cifar-10-batches-bin/data_batch_%d.bin", data_dir, n + 1);
            else
                snprintf(p[n++], sizeof p[0], "%s/cifar-10-batches-bin/test_batch.bin", data_dir);
        } else {
            snprintf(p[n++], sizeof p[0], "%s/svhn/%s.bin", data_dir, train ? "train" : "test");
        }
        for (int i = 0; i < n; i++) paths[i] = p[i];
        int rc = cifar_load(paths, n, out, err, errlen);
        if (rc && !train && !strcmp(name, "svhn") && access(p[0], F_OK) != 0)
            snprintf(err, errlen, "%s: not found; this data directory has no SVHN test split "
                     "(svhn/train.bin only): use test_split: heldout", p[0]);
        return rc;
    }
    if (!strcmp(name, "usps")) {
        snprintf(p[0], sizeof p[0], "%s/usps/zip.%s.gz", data_dir, train ? "train" : "test");
        return usps_load(p[0], out, err, errlen);
    }
    const char *sub;
    if (strcmp(name, "mnist") == 0) sub = "mnist";
    else if (strcmp(name, "fashion_mnist") == 0) sub = "fashion-mnist";
    else if (strcmp(name, "kmnist") == 0) sub = "kmnist";
    else {
        snprintf(err, errlen, "dataset '%s' is not known; expected one of %s", name,
                 DATASET_NAMES);
        return -1;
    }
    const char *pre = train ? "train" : "t10k";
    char *ip = p[0], *lp = p[1];
    snprintf(ip, sizeof p[0], "%s/%s/%s-images-idx3-ubyte.gz", data_dir, sub, pre);
    snprintf(lp, sizeof p[1], "%s/%s/%s-labels-idx1-ubyte.gz", data_dir, sub, pre);
    /* accept the uncompressed official names too */
    struct stat sb;
    if (stat(ip, &sb) != 0) {
        snprintf(p[2], sizeof p[2], "%s/%s/%s-images-idx3-ubyte", data_dir, sub, pre);
        snprintf(p[3], sizeof p[3], "%s/%s/%s-labels-idx1-ubyte", data_dir, sub, pre);
        if (stat(p[2], &sb) == 0) ip = p[2], lp = p[3];
    }
    return idx_load(ip, lp, out, err, errlen);
}

/* Bilinear sample of plane x (H, W) at (fy, fx), zero outside. */
static double bilinear(const uint8_t *x, int H, int W, double fy, double fx) {
    int y0 = (int)floor(fy), x0 = (int)floor(fx);
    double ty = fy - y0, tx = fx - x0, s = 0.0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int yy = y0 + dy, xx = x0 + dx;
            double w = (dy ? ty : 1 - ty) * (dx ? tx : 1 - tx);
            if (w == 0.0 || yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
            s += w * x[yy * W + xx];
        }
    return s;
}

static uint8_t round_u8(double v) {
    long q = lround(v);
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

int ood_transform(const RawSplit *in, const OodParams *p, RawSplit *out) {
    *out = *in;
    size_t d = (size_t)in->c * in->h * in->w;
    out->x = malloc((size_t)in->n * d);
    out->y = malloc((size_t)in->n);
    if (!out->x || !out->y) {
        raw_split_free(out);
        return -1;
    }
    memcpy(out->y, in->y, (size_t)in->n);
    int H = in->h, W = in->w;
    double cy = (H - 1) / 2.0, cx = (W - 1) / 2.0;
    double th = p->degrees * 3.14159265358979323846 / 180.0, co = cos(th), si = sin(th);
    for (size_t i = 0; i < (size_t)in->n * in->c; i++) {
        const uint8_t *src = in->x + i * H * W;
        uint8_t *dst = out->x + i * H * W;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double fy = y, fx = x;
                if (!strcmp(p->kind, "translate")) fy = y - p->dy, fx = x - p->dx;
                else if (!strcmp(p->kind, "rotate")) {
                    /* inverse map: rotate the output position back by -theta (y grows down) */
                    double ry = y - cy, rx = x - cx;
                    fx = cx + co * rx - si * ry;
                    fy = cy + si * rx + co * ry;
                } else if (!strcmp(p->kind, "scale")) {
                    fy = cy + (y - cy) / p->scale, fx = cx + (x - cx) / p->scale;
                }
                dst[y * W + x] = round_u8(bilinear(src, H, W, fy, fx));
            }
    }
    return 0;
}

int usps_to_mnist_frame(const RawSplit *in, RawSplit *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (in->h != 16 || in->w != 16 || in->c != 1) {
        snprintf(err, errlen, "usps_to_mnist_frame: expected 16x16 images, got %dx%d", in->h, in->w);
        return -1;
    }
    *out = *in;
    out->h = out->w = 28;
    out->x = calloc((size_t)in->n * 784, 1);
    out->y = malloc((size_t)in->n);
    if (!out->x || !out->y) {
        raw_split_free(out);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(out->y, in->y, (size_t)in->n);
    for (int i = 0; i < in->n; i++)
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 20; x++) {
                /* pixel centres: 20 output cells span the 16 input cells */
                double fy = (y + 0.5) * 16.0 / 20.0 - 0.5, fx = (x + 0.5) * 16.0 / 20.0 - 0.5;
                fy = fy < 0 ? 0 : fy > 15 ? 15 : fy;
                fx = fx < 0 ? 0 : fx > 15 ? 15 : fx;
                out->x[(size_t)i * 784 + (y + 4) * 28 + x + 4] =
                    round_u8(bilinear(in->x + (size_t)i * 256, 16, 16, fy, fx));
            }
    return 0;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int raw_smallest_class(const RawSplit *raw, int *count) {
    int counts[256] = {0}, best = 0;
    for (int i = 0; i < raw->n; i++) counts[raw->y[i]]++;
    for (int c = 1; c < raw->n_classes && c < 256; c++)
        if (counts[c] < counts[best]) best = c;
    *count = raw->n_classes > 0 ? counts[best] : 0;
    return best;
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
    Scaling s;
    for (int c = 0; c < MAX_CHANNELS; c++) s.mean[c] = 0.0, s.std[c] = 1.0;
    if (!standardize || n == 0) return s;
    size_t plane = (size_t)raw->h * raw->w, d = plane * raw->c;
    for (int c = 0; c < raw->c && c < MAX_CHANNELS; c++) {
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < n; i++) {
            const uint8_t *p = raw->x + (size_t)idx[i] * d + c * plane;
            for (size_t j = 0; j < plane; j++) sum += p[j], sq += (double)p[j] * p[j];
        }
        double cnt = (double)n * plane;
        double mean = sum / cnt / 255.0;
        double var = sq / cnt / (255.0 * 255.0) - mean * mean;
        s.mean[c] = mean;
        s.std[c] = var > 1e-12 ? sqrt(var) : 1.0;
    }
    return s;
}

int split_make(Split *out, const RawSplit *raw, const int *idx, int n, Scaling s) {
    size_t plane = (size_t)raw->h * raw->w, d = plane * raw->c;
    out->n = n, out->d = (int)d, out->n_classes = raw->n_classes, out->features = 0;
    out->x = malloc((size_t)n * d * sizeof(float) + 1);
    out->y = malloc((size_t)n + 1);
    if (!out->x || !out->y || raw->c > MAX_CHANNELS) {
        split_free(out);
        return -1;
    }
    /* a table of the 256 possible values per channel keeps the scaling identical everywhere */
    float lut[MAX_CHANNELS][256];
    for (int c = 0; c < raw->c; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = (float)((v / 255.0 - s.mean[c]) / s.std[c]);
    for (int i = 0; i < n; i++) {
        int r = idx ? idx[i] : i;
        const uint8_t *p = raw->x + (size_t)r * d;
        float *q = out->x + (size_t)i * d;
        for (int c = 0; c < raw->c; c++)
            for (size_t j = 0; j < plane; j++) q[c * plane + j] = lut[c][p[c * plane + j]];
        out->y[i] = raw->y[r];
    }
    return 0;
}

void split_free(Split *s) {
    free(s->x);
    free(s->y);
    if (s->sp) free(s->sp->start), free(s->sp->idx), free(s->sp->val), free(s->sp);
    memset(s, 0, sizeof(*s));
}

int split_sparsify(Split *s) {
    size_t n = (size_t)s->n * s->d, nz = 0;
    for (size_t i = 0; i < n; i++) nz += s->x[i] != 0.0f;
    if (n == 0 || (double)nz > SPARSE_MAX_DENSITY * (double)n) return 0;
    SparseRows *sp = calloc(1, sizeof(*sp));
    if (!sp || !(sp->start = malloc(((size_t)s->n + 1) * sizeof(int64_t))) ||
        !(sp->idx = malloc((nz ? nz : 1) * sizeof(int32_t))) || !(sp->val = malloc((nz ? nz : 1) * sizeof(float)))) {
        if (sp) free(sp->start), free(sp->idx), free(sp->val), free(sp);
        return -1;
    }
    int64_t k = 0;
    for (int r = 0; r < s->n; r++) {
        const float *x = s->x + (size_t)r * s->d;
        sp->start[r] = k;
        for (int j = 0; j < s->d; j++)
            if (x[j] != 0.0f) sp->idx[k] = j, sp->val[k++] = x[j];
    }
    sp->start[s->n] = k;
    s->sp = sp;
    return 0;
}
