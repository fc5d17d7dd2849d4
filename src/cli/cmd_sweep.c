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
    "       synsweep expand SWEEP.yaml --cost [--cores N] [--calibration FILE]\n"
    "\n"
    "Loads and validates the sweep, prints one row per job (job id and the grid axes) and\n"
    "the job count. Runs nothing and reads no data.\n"
    "\n"
    "options:\n"
    "  --data-dir DIR        as for run\n"
    "  --max-rows N          print at most N rows (default: all)\n"
    "  --cost                instead of the rows: predicted core-hours per model kind and in\n"
    "                        total, and the wall time on --cores workers, from each job's\n"
    "                        operation counts and this host's calibration (synsweep calibrate;\n"
    "                        without one, conservative built-in rates, said so)\n"
    "  --cores N             workers (MPI ranks) for the wall time (default 1)\n"
    "  --calibration FILE    the rates of FILE (e.g. written by calibrate on a compute node)\n"
    "  -h, --help        this text\n";

int cmd_expand(int argc, char **argv) {
    const char *path = NULL, *data_dir = NULL;
    const char *cal = NULL;
    long max_rows = -1, cores = 1;
    int cost = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(EXPAND_USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--data-dir") && i + 1 < argc) data_dir = argv[++i];
        else if (!strcmp(argv[i], "--max-rows") && i + 1 < argc) max_rows = atol(argv[++i]);
        else if (!strcmp(argv[i], "--cost")) cost = 1;
        else if (!strcmp(argv[i], "--calibration") && i + 1 < argc) cal = argv[++i];
        else if (!strcmp(argv[i], "--cores") && i + 1 < argc) {
            char *end;
            errno = 0;
            cores = strtol(argv[++i], &end, 10);
            if (errno || *end || cores < 1 || cores > 10000000)
                return usage_error("expand: --cores takes a whole number of workers >= 1, not '%s'", argv[i]);
        }
        else if (argv[i][0] == '-') return usage_error("expand: unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return usage_error("expand: unexpected argument '%s'", argv[i]);
    }
    if (!path) return usage_error("expand: %s", "needs a sweep file");
    if (!cost && (cal || cores != 1)) return usage_error("expand: %s", "--cores and --calibration go with --cost");
    Sweep sw;
    char err[1024];
    if (sweep_load(path, data_dir, &sw, err, sizeof err)) {
        fprintf(stderr, "synsweep: %s\n", err);
        return 1;
    }
    if (cost) {
        int st = expand_cost(&sw, cal, (int)cores);
        sweep_free(&sw);
        return st;
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
