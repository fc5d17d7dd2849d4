/* memest.c: see memest.h. The estimate counts, in 4-byte floats: the FC head's weights,
 * feedback matrices, gradients, two optimizer moments and each snapshot stage; activations,
 * pre-activations and deltas of a minibatch; the examples as bytes and as the float split
 * (or cached conv features). It is an estimate: allocator slack and BLAS buffers come on top.
 * The kinds with more than an FC head count the rest in their files (ModelKind.memory). */
#include "memest.h"

#include "model.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>


/* FC head with input F: parameter arrays and minibatch activations (bytes). */
static size_t fc_bytes(const JobSpec *s, size_t F, size_t n_snaps) {
    int h[MLP_MAX_LAYERS];
    int nh = jobspec_hidden(s, h);
    size_t prev = F, params = 0, widths = F;
    for (int l = 0; l <= nh; l++) {
        size_t out = l < nh ? (size_t)(h[l] > 0 ? h[l] : 0) : 10;
        params += prev * out + out;
        widths += out;
        prev = out;
    }
    size_t batch = (size_t)(s->batch_size > 0 ? s->batch_size : 1);
    /* W, B, dW, dB (accumulated), two optimizer moments, snapshots */
    return 4 * (params * (6 + n_snaps) + 3 * batch * widths);
}

static size_t n_snapshot_stages(const JobSpec *s) {
    size_t n = 0;
    for (const char *p = s->snapshots; *p; p++) n += *p == ',';
    return s->snapshots[0] ? n + 1 : 0;
}

size_t memest_head(const JobSpec *s, size_t F) { return fc_bytes(s, F, n_snapshot_stages(s)); }

size_t memest_mlp(const JobSpec *s, int C, int H, int W, int n_train, int n_test) {
    size_t F = (size_t)C * H * W, n = (size_t)n_train + (size_t)n_test;
    /* sparse inputs (sparse.h): each nonzero as (column, value), and layer 0's transposed
     * weights and gradient, padded, with the batch's nonzeros by column */
    int h[MLP_MAX_LAYERS];
    size_t h0 = jobspec_hidden(s, h) > 0 && h[0] > 0 ? (size_t)h[0] : 64; /* (no hidden layer: the classes) */
    size_t batch = (size_t)(s->batch_size > 0 ? s->batch_size : 1);
    /* (counted for one-channel images scaled to [0, 1], the ones sparse enough: MNIST, KMNIST) */
    size_t sparse = C == 1 && !strcmp(s->preprocess, "unit")
                    ? (size_t)((double)n * F * SPARSE_MAX_DENSITY * 8) + 4 * (F * (h0 + 16) + 2 * batch * F) : 0;
    return memest_head(s, F) + n * F * 5 + sparse; /* bytes + floats of each example */
}

size_t jobspec_memory_estimate(const JobSpec *s, int C, int H, int W, int n_train, int n_test) {
    /* the model kind's row says (ModelKind.memory); a kind without one: its FC head at least */
    const ModelKind *k = model_kind_find(s->model);
    return k && k->memory ? k->memory(s, C, H, W, n_train, n_test) : memest_mlp(s, C, H, W, n_train, n_test);
}

void jobspec_example_counts(const JobSpec *s, int *n_train, int *n_test) {
    *n_train = s->train_size > 0 ? s->train_size : s->train_per_class > 0 ? 10 * s->train_per_class : 60000;
    *n_test = s->test_size > 0 ? s->test_size : 10000;
}

size_t memory_budget_default(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page / 2 : (size_t)8 << 30;
}

void memest_format(size_t bytes, char *out, size_t n) {
    static const char *unit[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1000.0 && u < 5) v /= 1000.0, u++;
    if (u == 0) snprintf(out, n, "%zu B", bytes);
    else snprintf(out, n, "%.*f %s", v < 100.0 ? 1 : 0, v, unit[u]);
}

int jobspec_subset_check(const JobSpec *s, const RawSplit *train, char *err, size_t errlen) {
    int small;
    if (s->train_per_class <= 0) return 0;
    int c = raw_smallest_class(train, &small);
    if (s->train_per_class <= small) return 0;
    snprintf(err, errlen, "train_per_class = %d, but class %d of %s has only %d training examples",
             s->train_per_class, c, s->dataset, small);
    return -1;
}

int jobspec_fits(const JobSpec *s, const RawSplit *train, size_t budget, char *err, size_t errlen) {
    int C, H, W, ntr, nte;
    if (dataset_shape(s->dataset, &C, &H, &W)) return 0; /* unknown here: the worker refuses it */
    jobspec_example_counts(s, &ntr, &nte);
    /* a job never holds more examples than its split has (more per class fails as such, not as memory) */
    if (train && ntr > train->n) ntr = train->n;
    size_t est = jobspec_memory_estimate(s, C, H, W, ntr, nte);
    if (est <= budget) return 0;
    char e[32], b[32];
    memest_format(est, e, sizeof e), memest_format(budget, b, sizeof b);
    snprintf(err, errlen, "(model %s, hidden [%s]) is estimated to need %s, over the memory budget of %s "
             "(--memory-budget GB; default half of this machine's memory)", s->model, s->hidden, e, b);
    return -1;
}
