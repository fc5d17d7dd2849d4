/* cmd_sweep.c: `synsweep expand`: a sweep's job table and count, nothing run. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"

static const char *EXPAND_USAGE =
    "usage: synsweep expand SWEEP.yaml [--data-dir DIR] [--max-rows N]\n"
    "\n"
    "Loads and validates the sweep, prints one row per job (job id and the grid axes) and\n"
    "the job count. Runs nothing and reads no data.\n"
    "\n"
    "options:\n"
    "  --data-dir DIR    as for run\n"
    "  --max-rows N      print at most N rows (default: all)\n"
    "  -h, --help        this text\n";

int cmd_expand(int argc, char **argv) {
    const char *path = NULL, *data_dir = NULL;
    long max_rows = -1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(EXPAND_USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--data-dir") && i + 1 < argc) data_dir = argv[++i];
        else if (!strcmp(argv[i], "--max-rows") && i + 1 < argc) max_rows = atol(argv[++i]);
        else if (argv[i][0] == '-') return usage_error("expand: unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return usage_error("expand: unexpected argument '%s'", argv[i]);
    }
    if (!path) return usage_error("expand: %s", "needs a sweep file");
    Sweep sw;
    char err[1024];
    if (sweep_load(path, data_dir, &sw, err, sizeof err)) {
        fprintf(stderr, "synsweep: %s\n", err);
        return 1;
    }
    /* rows as they come: nothing here depends on the number of jobs */
    int width[SWEEP_MAX_AXES];
    printf("%8s", "job_id");
    for (int a = 0; a < sw.n_axes; a++) {
        width[a] = sweep_axis_width(&sw, a);
        printf("  %-*s", width[a], sw.axes[a].key);
    }
    printf("\n");
    for (long id = 0; id < sw.n_jobs && (max_rows < 0 || id < max_rows); id++) {
        const char *vals[SWEEP_MAX_AXES];
        sweep_job_values(&sw, id, vals);
        printf("%8ld", id);
        for (int a = 0; a < sw.n_axes; a++) printf("  %-*s", width[a], vals[a]);
        printf("\n");
    }
    printf("%ld jobs", sw.n_jobs);
    for (int b = 0; b < sw.n_blocks; b++) {
        const SweepBlock *sb = &sw.blocks[b];
        printf("%s%s", b ? " + " : " = ", sw.n_blocks > 1 ? "(" : "");
        for (int k = 0; k < sb->n_keys; k++) printf("%s%d %s", k ? " x " : "", sb->n[k], sw.axes[sb->axis[k]].key);
        if (sb->n_keys == 0) printf("1");
        printf("%s", sw.n_blocks > 1 ? ")" : "");
    }
    printf("\n");
    sweep_free(&sw);
    return 0;
}
