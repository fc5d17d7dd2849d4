/* libFuzzer target: the results-file readers on arbitrary bytes, seeded with real results
 * files (tests/fuzz/corpus/results/): what `status` reads (results_read_summary) and the
 * whole file as --resume and merge read it (results_merge into a scratch output). They must
 * refuse or read, never crash. */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "h5util.h"
#include "results.h"
#include "sweep.h"

static void close_hdf5(void) { H5close(); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_results_%d.h5", (int)getpid());
        atexit(close_hdf5); /* synsweep leaves HDF5 open at exit (H5dont_atexit): free it for LeakSanitizer */
        h5_attr_read_seconds = 0.25; /* an attribute HDF5 loops on costs 0.25 s, not 10 s: the fuzzer keeps its pace */
        results_merge_isolated = 0; /* a crash inside HDF5 must reach the fuzzer, not a forked child */
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    Sweep sw;
    char err[1024];
    int *status = NULL;
    double *acc = NULL, *sec = NULL;
    if (results_read_summary(path, &sw, &status, &acc, &sec, err, sizeof err) == 0) {
        free(status), free(acc), free(sec);
        sweep_free(&sw);
    }
    char out[80];
    snprintf(out, sizeof out, "%s.merged.h5", path);
    const char *in[1] = {path};
    if (results_merge(out, in, 1, err, sizeof err) == 0) unlink(out);
    unlink(path);
    return 0;
}
