/*
 * synsweep: the command line. The commands are rows of COMMANDS, each in a file of its
 * family under src/cli/ (cli.h). `run` is the only command that starts MPI; `report` and
 * `export` run Python and need no BLAS check; every other command checks the OpenBLAS
 * kernel first (cli_blas.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cli/cli.h"
#include "model.h"
#include "synsweep_main.h"

static const char *USAGE =
    "usage: synsweep <command> [options]\n"
    "\n"
    "Runs grids of neural-network training jobs and writes one HDF5 results file.\n"
    "\n"
    "commands:\n"
    "  run SWEEP.yaml [-o FILE]    run a sweep; under mpirun rank 0 coordinates, the others train\n"
    "  expand SWEEP.yaml           print the job table and count without running anything\n"
    "  expand SWEEP.yaml --cost    predicted core-hours and wall time on --cores N\n"
    "  calibrate                   measure this machine's speed for expand --cost (a few seconds)\n"
    "  train [--KEY VALUE ...]     run one job on this process; print its result as JSON\n"
    "  status FILE                 summarise a results file (also while a sweep writes it)\n"
    "  merge OUT FILE...           combine the results files of shards into one\n"
    "  report FILE -o DIR          a results file as a web page, Markdown tables and figures\n"
    "  export FILE [-o OUT]        the results table as CSV, TSV or JSON\n"
    "\n"
    "  synsweep COMMAND --help     options of a command\n"
    "  synsweep --version          program version\n"
    "\n"
    "Data: --data-dir DIR, else the sweep's data_dir:, else $SYNSWEEP_DATA, else ./data.\n"
    "Docs: docs/JOBSPEC.md (sweep files), docs/FORMAT.md (results file),\n"
    "docs/RESILIENCE.md (checkpoints, resume, SLURM).\n";

/* The commands: name, entry, whether it runs Python (no BLAS kernel check first). */
static const struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    int python;
} COMMANDS[] = {
    {"run", cmd_run, 0},       {"expand", cmd_expand, 0}, {"train", cmd_train, 0},   {"status", cmd_status, 0},
    {"merge", cmd_merge, 0},   {"report", cmd_report, 1}, {"export", cmd_export, 1},
    {"calibrate", cmd_calibrate, 0},
};
#define N_COMMANDS ((int)(sizeof COMMANDS / sizeof COMMANDS[0]))

static const struct Command *command_find(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name)) return &COMMANDS[i];
    return NULL;
}

static void print_version(void) {
    int t = blas_threads();
    printf("synsweep %s (%s, kernel %s, %d thread%s)\n", SYNSWEEP_VERSION, blas_library(),
           blas_kernel(), t, t == 1 ? "" : "s");
}

int synsweep_main(int argc, char **argv) {
    model_registry_close(); /* the kinds' tables, before any thread reads them */
    const struct Command *c = argc >= 2 ? command_find(argv[1]) : NULL;
    if (c && c->python) return c->run(argc - 2, argv + 2);
    blas_single_thread(); /* first: the check runs the products as the jobs will */
    if (blas_choose(argv)) return 1;
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        const struct Command *h = argc >= 3 && !strcmp(argv[1], "help") ? command_find(argv[2]) : NULL;
        if (h) {
            char *help[] = {"--help"};
            return h->run(1, help);
        }
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* --version anywhere on the line, as --help */
    int version = !strcmp(argv[1], "version");
    for (int i = 1; i < argc; i++) version |= !strcmp(argv[i], "--version");
    if (version) {
        print_version();
        return 0;
    }
    if (c) return c->run(argc - 2, argv + 2);
    return usage_error("unknown command '%s'", argv[1]);
}
