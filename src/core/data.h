/*
 * data: the datasets (a table, dataset.c), their file readers (data.c), the per-job view of
 * a dataset (split.c) and out-of-distribution variants (data_ood.c).
 * A RawSplit holds the bytes of one split as read; a Split is a job's float copy
 * (subset chosen by the job's seed, preprocessed). Readers trust the header counts,
 * check the payload against them, and reject anything else with a message naming the file.
 */
#ifndef SYNSWEEP_DATA_H
#define SYNSWEEP_DATA_H

#include <stddef.h>
#include <stdint.h>

/** Dataset names this build reads, '|'-separated: the names of DATASETS, in its order (the
 * parameter table's choices are a constant string; test_data checks the two agree). */
#define DATASET_NAMES "mnist|fashion_mnist|kmnist|cifar10|svhn|usps"
#define DATASET_MAX_FILES 6

/* One dataset: where its files are and what its images are. */
typedef struct DatasetDef {
    const char *name;        /* the value of `dataset:` */
    const char *dir;         /* its folder under the data directory */
    int C, H, W;             /* channels, height, width of its images */
    int mnist_frame;         /* 28x28 grey images in MNIST's frame: a meta-loss task, or trained on
                                for the usps out-of-distribution test */
    int format;              /* the reader: IDX (images + labels), CIFAR binary, USPS text */
    const char *train_files[DATASET_MAX_FILES], *test_files[DATASET_MAX_FILES]; /* under dir */
    const char *no_test_hint; /* said when the test split's file is absent, or NULL */
} DatasetDef;

extern const DatasetDef *const DATASETS;
extern const int N_DATASETS;
/** The row called name, or NULL. */
const DatasetDef *dataset_find(const char *name);
/** Image shape of dataset name: 0, or -1 if unknown. */
int dataset_shape(const char *name, int *C, int *H, int *W);

typedef struct RawSplit {
    int n, h, w, c;    /* images, height, width, channels */
    int n_classes;
    uint8_t *x;        /* (n, c*h*w), pixel bytes */
    uint8_t *y;        /* (n) labels in [0, n_classes) */
} RawSplit;

/* The nonzero entries of a Split's rows (compressed sparse rows, columns ascending). */
typedef struct SparseRows {
    int64_t *start;    /* (n + 1) row r's entries are [start[r], start[r+1]) */
    int32_t *idx;      /* column of each entry */
    float *val;        /* its value */
} SparseRows;

typedef struct Split {
    int n, d, n_classes;
    int features;      /* 0: rows are images; 1: each row is a frozen front end's feature vector
                          (a training row, or a test image's when it has one); 2: each row holds an
                          image's feat_rows feature vectors as its kind evaluates them
                          (ModelKind.eval_features: a test split of a kind with several rows) */
    float *x;          /* (n, d) */
    uint8_t *y;        /* (n) */
    SparseRows *sp;    /* x's nonzeros when split_sparsify found x sparse, or NULL */
    int borrowed;      /* x is another's (a shared stage's output, read in place): not freed */
} Split;

/** malloc for a split's rows (x of n * d floats, + 1 byte): a buffer of 8 MiB or more is
 * one that split_free kept (an earlier job's, of exactly that size), or a fresh one aligned
 * to 2 MiB and advised to use huge pages; freed by split_free (or free()). */
void *split_alloc(size_t bytes);
/** Frees the large buffers split_free kept for later jobs (train.c: once a job's rows and
 * features are made, those it did not take). */
void split_release_kept(void);
/** Bytes of the large buffers kept for later jobs now. */
size_t split_kept_bytes(void);

/** Inputs with at most this fraction of nonzero values are kept as SparseRows too: a first
 * layer then multiplies by the nonzeros alone (mlp.h). A constant, so that which arithmetic
 * a job uses depends only on its data. */
#define SPARSE_MAX_DENSITY 0.35

/** path is a regular file (not a FIFO, device or directory, which would block or mislead a
 * reader); its size into *size (may be NULL). @return 0, or -1 with err. */
int file_check_regular(const char *path, long long *size, char *err, size_t errlen);

/**
 * Reads an IDX image file and its label file (each gzipped or raw).
 * @return 0; or -1 with a message naming the file in err (out left zeroed).
 */
int idx_load(const char *images_path, const char *labels_path, RawSplit *out, char *err,
             size_t errlen);
/**
 * Loads split "train" or "test" of the named dataset under data_dir.
 * @return 0; or -1 with a message in err.
 */
int dataset_load(const char *data_dir, const char *name, const char *split, RawSplit *out,
                 char *err, size_t errlen);
void raw_split_free(RawSplit *s);

/** The class with the fewest rows of raw (the first of equals), its count in *count. */
int raw_smallest_class(const RawSplit *raw, int *count);
/**
 * Chooses training rows: k per class when per_class > 0, else `total` random rows
 * (all rows when total is 0 or >= n), drawn from `seed`. Indices come back sorted.
 * @return number chosen (into idx, caller-allocated with raw->n slots); or -1 with err
 * when a class has fewer than per_class examples or total is negative.
 */
int subset_choose(const RawSplit *raw, int per_class, int total, uint64_t seed, int *idx,
                  char *err, size_t errlen);
/** Pixel scaling of a job, per channel c: "unit" = x/255; "standardize" = (x/255 - mean[c]) / std[c]. */
#define MAX_CHANNELS 4
typedef struct Scaling {
    double mean[MAX_CHANNELS], std[MAX_CHANNELS];
} Scaling;
/** Mean and std of x/255 per channel over the chosen rows; unit scaling if !standardize. */
Scaling scaling_fit(const RawSplit *raw, const int *idx, int n, int standardize);

/**
 * Reads CIFAR-10-layout binary batches (records of 1 label byte + C*32*32 pixel bytes,
 * planes R, G, B), concatenated in order. @return 0; or -1 with a message naming the file
 * (missing, size not a whole number of records, label out of range).
 */
int cifar_load(const char *const *paths, int n_paths, RawSplit *out, char *err, size_t errlen);
/**
 * Reads the ESL USPS text format (gzipped or not): per line a digit, then 256 values in
 * [-1, 1] (16x16, row-major), stored as round((v + 1) * 127.5). @return 0 or -1 with err.
 */
int usps_load(const char *path, RawSplit *out, char *err, size_t errlen);

/** Out-of-distribution variants of a test split (docs/SCIENCE.md section 2). */
typedef struct OodParams {
    char kind[12];      /* none | translate | rotate | scale | usps */
    double dx, dy, degrees, scale;
} OodParams;
/**
 * out <- each image of in moved by (dx, dy) pixels, rotated by degrees counter-clockwise
 * about the image centre, or scaled by `scale` about it; bilinear, zero outside, rounded.
 * Identity parameters return the images unchanged. @return 0 or -1 (out of memory).
 */
int ood_transform(const RawSplit *in, const OodParams *p, RawSplit *out);
/**
 * out <- in (16x16 USPS) resized bilinearly to 20x20 and centred in a 28x28 frame, as MNIST
 * digits are. @return 0 or -1 (wrong size or out of memory).
 */
int usps_to_mnist_frame(const RawSplit *in, RawSplit *out, char *err, size_t errlen);
/** out <- float copy of raw rows idx[0..n) scaled by s. @return 0 or -1 (out of memory). */
int split_make(Split *out, const RawSplit *raw, const int *idx, int n, Scaling s);
void split_free(Split *s);
/** Builds s->sp when at most SPARSE_MAX_DENSITY of s->x is nonzero (else leaves it NULL).
 * @return 0, or -1 out of memory. */
int split_sparsify(Split *s);

#endif
