/* cmd_files.c: commands on results files: `synsweep status`, `synsweep merge`. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator.h"
#include "results.h"

static const char *STATUS_USAGE =
    "usage: synsweep status FILE\n"
    "\n"
    "Summarises a results file: jobs by status and test accuracy by grid point. Safe while\n"
    "a sweep is writing FILE (each checkpoint replaces it whole).\n";

static const char *MERGE_USAGE =
    "usage: synsweep merge OUT FILE...\n"
    "\n"
    "Combines results files of one sweep (e.g. the shards of a job array) into OUT: each\n"
    "job's result comes from the file that has it; a job with results in two files is an\n"
    "error. Snapshots are copied in. OUT must not exist.\n";

int cmd_status(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
        fputs(STATUS_USAGE, stdout);
        return 0;
    }
    if (argc != 1) return usage_error("status: %s", "takes one results file");
    char err[1024];
    if (coordinator_status(argv[0], err, sizeof err)) {
        fprintf(stderr, "synsweep: %s\n", err);
        return 1;
    }
    return 0;
}

int cmd_merge(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
        fputs(MERGE_USAGE, stdout);
        return 0;
    }
    if (argc < 2) return usage_error("merge: %s", "needs OUT and at least one input file");
    char err[1024];
    if (results_merge(argv[0], (const char *const *)argv + 1, argc - 1, err, sizeof err)) {
        fprintf(stderr, "synsweep: %s\n", err);
        return 1;
    }
    printf("merged %d file%s into %s\n", argc - 1, argc > 2 ? "s" : "", argv[0]);
    return coordinator_status(argv[0], err, sizeof err) ? 1 : 0;
}
