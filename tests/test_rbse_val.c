/*
 * rbse_val: the validation split is a seeded, deterministic carve of the drawn records into
 * two sorted, disjoint sets whose union is the draw; too large a val_size is refused naming
 * it; early stopping on a scripted error sequence keeps the first least error's parameters and
 * stops exactly `patience` epochs after it.
 */
#include <stdlib.h>
#include <string.h>

#include "rbse_val.h"
#include "testutil.h"

static void test_carve(void) {
    enum { N = 1000, NV = 150 };
    int idx[N], idx2[N], idx3[N];
    char err[256] = "";
    for (int i = 0; i < N; i++) idx[i] = 3 * i + 1; /* a sorted draw */
    memcpy(idx2, idx, sizeof idx), memcpy(idx3, idx, sizeof idx);
    CHECK(cd_val_carve(7, NV, idx, N, err, sizeof err) == NV, "carve returns val_size");
    cd_val_carve(7, NV, idx2, N, err, sizeof err);
    cd_val_carve(8, NV, idx3, N, err, sizeof err);
    CHECK(!memcmp(idx, idx2, sizeof idx), "the same seed carves the same records");
    CHECK(memcmp(idx, idx3, NV * sizeof(int)), "another seed carves others");
    int sorted = 1, seen[3 * N + 1] = {0}, all = 1;
    for (int i = 1; i < N; i++)
        if (i != NV) sorted &= idx[i - 1] < idx[i];
    for (int i = 0; i < N; i++) seen[idx[i]]++;
    for (int i = 0; i < N; i++) all &= seen[3 * i + 1] == 1;
    CHECK(sorted && all, "validation and CD records sorted, disjoint, their union the draw");
    int zero[3] = {5, 6, 7};
    CHECK(cd_val_carve(7, 0, zero, 3, err, sizeof err) == 0 && zero[0] == 5 && zero[2] == 7, "val_size 0: untouched");
    CHECK(cd_val_carve(7, 3, zero, 3, err, sizeof err) == -1 && strstr(err, "val_size = 3"), "too large refused: %s", err);
}

static void test_early_stop(void) {
    const double errs[] = {5, 4, 4.5, 3, 3.2, 3, 3.3, 2};
    RawSplit none = {0};
    none.c = none.h = none.w = 1;
    CdVal v;
    int idx[1] = {0};
    uint8_t px = 0;
    none.x = &px, none.n = 1;
    CHECK(cd_val_setup(&v, 1, 3, &none, idx, 1, 0.5f, 0, 1) == 0, "setup");
    float p[1], out[1] = {-1};
    int stop = 0, e = 0;
    for (; e < 8 && !stop; e++) {
        p[0] = (float)e;
        stop = cd_val_epoch(&v, e, errs[e], p);
    }
    cd_val_restore(&v, out);
    CHECK(stop && v.epochs_run == 7 && v.best_epoch == 4 && v.best_err == 3 && out[0] == 3.0f,
          "patience 3: best epoch 4 (a tie is no improvement), stopped after epoch 7, its parameters kept "
          "(stop %d, run %d, best %d, kept %g)", stop, v.epochs_run, v.best_epoch, (double)out[0]);
    cd_val_free(&v);
}

int main(void) {
    test_carve();
    test_early_stop();
    return test_report("test_rbse_val");
}
