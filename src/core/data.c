/*
 * data.c: the dataset file readers (IDX, CIFAR binary, USPS text), each checking what it
 * reads against its header and the file's size. Which files make which dataset is the
 * table in dataset.c; subsets and a job's float copy are split.c; OOD variants data_ood.c.
 */
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
/* The IDX header of f: magic, then n_dims big-endian sizes into dims; their product, checked
 * against what a file of fsize bytes can hold, into *total. @return 0 or -1 with err. */
static int idx_header(gzFile f, const char *path, long long fsize, uint32_t magic, int n_dims, uint32_t *dims,
                      size_t *total, char *err, size_t errlen) {
    unsigned char hdr[16];
    int hlen = 4 + 4 * n_dims;
    if (gzread(f, hdr, (unsigned)hlen) != hlen) {
        snprintf(err, errlen, "%s: file ends inside the %d-byte IDX header", path, hlen);
        return -1;
    }
    if (be32(hdr) != magic) {
        snprintf(err, errlen, "%s: IDX magic is 0x%08x, expected 0x%08x (%s)", path, be32(hdr),
                 magic, magic == 0x803 ? "uint8 images, 3 dims" : "uint8 labels, 1 dim");
        return -1;
    }
    *total = 1;
    for (int i = 0; i < n_dims; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        if (dims[i] == 0 || dims[i] > 100000000u) {
            snprintf(err, errlen, "%s: IDX dimension %d is %u, expected 1..1e8", path, i, dims[i]);
            return -1;
        }
        *total *= dims[i];
    }
    if (*total > ((size_t)1 << 34)) {
        snprintf(err, errlen, "%s: IDX header claims %zu bytes, too large", path, *total);
        return -1;
    }
    /* what the file can honestly hold: its own size uncompressed, at most deflate's maximum
     * ratio (1032:1) compressed; a header claiming more is refused before anything is read */
    size_t honest = gzdirect(f) ? (size_t)fsize : (size_t)fsize * 1032u + 65536u;
    if (*total > honest) {
        snprintf(err, errlen, "%s: IDX header claims %zu bytes, more than this %lld-byte file can hold%s", path,
                 *total, fsize, gzdirect(f) ? "" : " compressed (deflate expands at most 1032:1)");
        return -1;
    }
    return 0;
}

/* total payload bytes of f into *buf (allocated), growing the buffer as data arrives (up to
 * what the header promises), so that a header claiming gigabytes costs only what the file
 * really holds; then a clean end (no extra bytes; an intact gzip trailer). @return 0 or -1. */
static int idx_payload(gzFile f, const char *path, size_t total, uint8_t **buf, char *err, size_t errlen) {
    size_t cap = total < ((size_t)1 << 20) ? total : ((size_t)1 << 20), got = 0;
    if (!(*buf = malloc(cap ? cap : 1))) {
        snprintf(err, errlen, "%s: out of memory for %zu bytes", path, cap);
        return -1;
    }
    while (got < total) {
        if (got == cap) {
            size_t ncap = cap * 2 < total ? cap * 2 : total;
            uint8_t *nb = realloc(*buf, ncap);
            if (!nb) {
                snprintf(err, errlen, "%s: out of memory for %zu bytes", path, ncap);
                return -1;
            }
            *buf = nb, cap = ncap;
        }
        size_t want = cap - got;
        unsigned chunk = want > (1u << 30) ? (1u << 30) : (unsigned)want;
        int r = gzread(f, *buf + got, chunk);
        if (r <= 0) break;
        got += (size_t)r;
    }
    int gzerr;
    const char *msg = gzerror(f, &gzerr);
    if (gzerr != Z_OK && gzerr != Z_BUF_ERROR) {
        snprintf(err, errlen, "%s: corrupt compressed data after %zu of %zu payload bytes (%s)",
                 path, got, total, msg);
        return -1;
    }
    if (got < total) {
        snprintf(err, errlen, "%s: truncated: header promises %zu payload bytes, file holds %zu",
                 path, total, got);
        return -1;
    }
    unsigned char extra;
    if (gzread(f, &extra, 1) > 0) {
        snprintf(err, errlen, "%s: %zu payload bytes expected from the header, but more follow",
                 path, total);
        return -1;
    }
    msg = gzerror(f, &gzerr);
    if (gzerr != Z_OK) {
        snprintf(err, errlen, "%s: truncated or corrupt gzip stream after the payload (%s)", path,
                 msg);
        return -1;
    }
    return 0;
}

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
    uint8_t *buf = NULL;
    size_t total = 0;
    if (idx_header(f, path, fsize, magic, n_dims, dims, &total, err, errlen) ||
        idx_payload(f, path, total, &buf, err, errlen)) {
        free(buf);
        gzclose(f);
        return -1;
    }
    gzclose(f);
    *data = buf;
    *n_bytes = total;
    return 0;
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
