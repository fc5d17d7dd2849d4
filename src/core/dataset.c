/*
 * dataset.c: DATASETS, one row per dataset synsweep reads: its name, folder, files, image
 * shape and format. A dataset is added as a row here and its name in DATASET_NAMES (data.h;
 * test_data checks that the two agree); nothing else names datasets.
 */
#include "data.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { FMT_IDX, FMT_CIFAR, FMT_USPS };

/* files: per split, paths under data_dir/dir; for IDX the images then the labels, gzipped
 * (the uncompressed official names are also accepted). */
static const DatasetDef DATASETS_[] = {
    {"mnist", "mnist", 1, 28, 28, 1, FMT_IDX,
     {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}, {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}, NULL},
    {"fashion_mnist", "fashion-mnist", 1, 28, 28, 1, FMT_IDX,
     {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}, {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}, NULL},
    {"kmnist", "kmnist", 1, 28, 28, 1, FMT_IDX,
     {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}, {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}, NULL},
    {"cifar10", "cifar-10-batches-bin", 3, 32, 32, 0, FMT_CIFAR,
     {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
     {"test_batch.bin"}, NULL},
    {"svhn", "svhn", 3, 32, 32, 0, FMT_CIFAR, {"train.bin"}, {"test.bin"},
     "this data directory has no SVHN test split (svhn/train.bin only): use test_split: heldout"},
    {"usps", "usps", 1, 16, 16, 0, FMT_USPS, {"zip.train.gz"}, {"zip.test.gz"}, NULL},
};
const DatasetDef *const DATASETS = DATASETS_;
const int N_DATASETS = (int)(sizeof DATASETS_ / sizeof DATASETS_[0]);

const DatasetDef *dataset_find(const char *name) {
    for (int i = 0; i < N_DATASETS; i++)
        if (!strcmp(DATASETS[i].name, name)) return &DATASETS[i];
    return NULL;
}

int dataset_shape(const char *name, int *C, int *H, int *W) {
    const DatasetDef *d = dataset_find(name);
    if (!d) return -1;
    *C = d->C, *H = d->H, *W = d->W;
    return 0;
}

/* IDX images and labels (paths p[0], p[1]); the uncompressed official names when the
 * gzipped ones are absent. */
static int load_idx(char p[][1024], RawSplit *out, char *err, size_t errlen) {
    struct stat sb;
    size_t n = strlen(p[0]), m = strlen(p[1]);
    if (stat(p[0], &sb) != 0 && n > 3 && m > 3 && !strcmp(p[0] + n - 3, ".gz")) {
        char ir[1024], lr[1024];
        memcpy(ir, p[0], n - 3), ir[n - 3] = 0;
        memcpy(lr, p[1], m - 3), lr[m - 3] = 0;
        if (stat(ir, &sb) == 0) return idx_load(ir, lr, out, err, errlen);
    }
    return idx_load(p[0], p[1], out, err, errlen);
}

int dataset_load(const char *data_dir, const char *name, const char *split, RawSplit *out,
                 char *err, size_t errlen) {
    const DatasetDef *d = dataset_find(name);
    if (!d) {
        snprintf(err, errlen, "dataset '%s' is not known; expected one of %s", name, DATASET_NAMES);
        return -1;
    }
    int train = strcmp(split, "train") == 0;
    const char *const *files = train ? d->train_files : d->test_files;
    char p[DATASET_MAX_FILES][1024];
    const char *paths[DATASET_MAX_FILES];
    int n = 0;
    for (; n < DATASET_MAX_FILES && files[n]; n++) {
        int len = snprintf(p[n], sizeof p[n], "%s/%s/%s", data_dir, d->dir, files[n]);
        if (len < 0 || (size_t)len >= sizeof p[n]) {
            snprintf(err, errlen, "%s: data directory path too long", data_dir);
            return -1;
        }
        paths[n] = p[n];
    }
    int rc = d->format == FMT_IDX ? load_idx(p, out, err, errlen)
             : d->format == FMT_USPS ? usps_load(p[0], out, err, errlen) : cifar_load(paths, n, out, err, errlen);
    if (rc && !train && d->no_test_hint && access(p[0], F_OK) != 0)
        snprintf(err, errlen, "%s: not found; %s", p[0], d->no_test_hint);
    return rc;
}
