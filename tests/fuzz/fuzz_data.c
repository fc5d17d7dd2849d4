/*
 * libFuzzer target: the data readers on arbitrary files. Byte 0 picks the reader (IDX
 * images + labels, CIFAR-layout batch, USPS text); for IDX, byte 1 says where the input
 * splits into the images file and the labels file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "data.h"

static void put(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    char a[64], b[64], err[512];
    snprintf(a, sizeof a, "/tmp/synsweep-fuzz-%d-a", (int)getpid());
    snprintf(b, sizeof b, "/tmp/synsweep-fuzz-%d-b", (int)getpid());
    RawSplit s;
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    switch (data[0] % 3) {
    case 0: {
        size_t cut = n ? (size_t)data[1] * n / 256 : 0;
        put(a, p, cut), put(b, p + cut, n - cut);
        if (idx_load(a, b, &s, err, sizeof err) == 0) raw_split_free(&s);
        break;
    }
    case 1: {
        const char *paths[1] = {a};
        put(a, p, n);
        if (cifar_load(paths, 1, &s, err, sizeof err) == 0) raw_split_free(&s);
        break;
    }
    default:
        put(a, p, n);
        if (usps_load(a, &s, err, sizeof err) == 0) raw_split_free(&s);
        break;
    }
    unlink(a), unlink(b);
    return 0;
}
