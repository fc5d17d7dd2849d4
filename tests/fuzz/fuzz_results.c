/* libFuzzer target: the results-file reader (results_open, as `status` and --resume read a
 * file) on arbitrary bytes, seeded with real results files (tests/fuzz/corpus/results/). It
 * must refuse or read, never crash. */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "results.h"
#include "sweep.h"

static void close_hdf5(void) { H5close(); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_results_%d.h5", (int)getpid());
        atexit(close_hdf5); /* synsweep leaves HDF5 open at exit (H5dont_atexit): free it for LeakSanitizer */
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    Sweep sw;
    char err[1024];
    ResultsFile *r = results_open(path, &sw, err, sizeof err);
    if (r) {
        for (long id = 0; id < sw.n_jobs; id++) (void)results_job_status(r, id), (void)results_job_metric(r, id, 0);
        results_free(r);
        sweep_free(&sw);
    }
    unlink(path);
    return 0;
}
