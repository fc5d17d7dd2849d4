/* cmd_python.c: `synsweep report` and `synsweep export`, which run analysis/synsweep_report. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "h5util.h"

/* ---- report and export: Python (analysis/synsweep_report) ----
 * Both exec Debian's python3 (or $SYNSWEEP_PYTHON) on `-m synsweep_report CMD ARGS`, with the
 * package's directory put first on PYTHONPATH. The directory, first found that holds
 * synsweep_report/__main__.py: $SYNSWEEP_ANALYSIS; EXE/../share/synsweep/analysis (installed);
 * EXE/../analysis (a build directory inside the source tree); the source tree and the install
 * prefix fixed at build time (CMakeLists.txt). */

#ifndef SYNSWEEP_ANALYSIS_SRC
#define SYNSWEEP_ANALYSIS_SRC "analysis"
#endif
#ifndef SYNSWEEP_ANALYSIS_INSTALLED
#define SYNSWEEP_ANALYSIS_INSTALLED "/usr/local/share/synsweep/analysis"
#endif

static int analysis_has_package(const char *dir) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%.4000s/synsweep_report/__main__.py", dir);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/** The analysis directory into out; -1 with the places tried in out when none has the package. */
static int analysis_dir(char *out, size_t n) {
    char exe[4096], cand[5][4200];
    int nc = 0;
    const char *env = getenv("SYNSWEEP_ANALYSIS");
    if (env && *env) snprintf(cand[nc++], sizeof cand[0], "%s", env);
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(cand[nc++], sizeof cand[0], "%s/../share/synsweep/analysis", exe);
        snprintf(cand[nc++], sizeof cand[0], "%s/../analysis", exe);
    }
    snprintf(cand[nc++], sizeof cand[0], "%s", SYNSWEEP_ANALYSIS_SRC);
    snprintf(cand[nc++], sizeof cand[0], "%s", SYNSWEEP_ANALYSIS_INSTALLED);
    for (int i = 0; i < nc; i++)
        if (analysis_has_package(cand[i])) {
            snprintf(out, n, "%.4000s", cand[i]);
            return 0;
        }
    size_t used = (size_t)snprintf(out, n, "cannot find analysis/synsweep_report; looked in");
    for (int i = 0; i < nc && used < n; i++) used += (size_t)snprintf(out + used, n - used, " %.1000s", cand[i]);
    return -1;
}

static const char *REPORT_USAGE =
    "usage: synsweep report FILE -o DIR [--force]\n"
    "\n"
    "Turns one results file (and nothing else: a file copied off a cluster works) into\n"
    "  DIR/index.html     a page for a browser (no server): provenance, completion matrix with\n"
    "                     the command that resumes or retries, mean +- sample std tables, the\n"
    "                     paper's numbers beside ours when the sweep names a paper:, figures\n"
    "  DIR/tables.md      the same tables in Markdown\n"
    "  DIR/figures/*.png  learning curves with seed bands, angle trajectories, effective-rank,\n"
    "                     OOD and Table 1 bars (what the file holds)\n"
    "  DIR/sweep.yaml     the sweep's text (to resume with)\n"
    "Every string from the file is escaped on the page. A DIR that holds any of index.html,\n"
    "tables.md, sweep.yaml (a previous report) is refused unless\n"
    "  --force            replaces the report's files in DIR; never a symlink, the input, its\n"
    "                     side files (FILE.snap.h5, .journal, .parts, .lock, .tmp) or an HDF5 file\n"
    "Files are written to a temporary directory in DIR and moved into place when complete.\n"
    "FILE must be a regular file (a FIFO is refused, never opened).\n"
    "\n"
    "Runs /usr/bin/python3 (numpy, pandas, matplotlib, h5py, yaml: scripts/setup.sh) on the\n"
    "package analysis/synsweep_report, found in $SYNSWEEP_ANALYSIS, next to this program\n"
    "(../share/synsweep/analysis, ../analysis) or where it was built; $SYNSWEEP_PYTHON picks\n"
    "another python3. Without this program:\n"
    "  PYTHONPATH=analysis python3 -m synsweep_report report FILE -o DIR\n"
    "\n"
    "exit status: 0 written; 1 unreadable file, refused output or a section failed (shown on\n"
    "the page); 2 usage.\n";

static const char *EXPORT_USAGE =
    "usage: synsweep export FILE [-o OUT] [--format csv|tsv|json] [--force]\n"
    "\n"
    "Writes the /results table (one row per job, docs/FORMAT.md) as text for tools that cannot\n"
    "read HDF5 compound datasets (GNU Octave, spreadsheets, awk, R's read.csv). CSV and TSV\n"
    "quote fields that hold the separator, a quote or a newline (RFC 4180; hidden = \"100,100\"),\n"
    "write NaN as an empty field and reals in their shortest exact form (they read back exactly);\n"
    "JSON is a list of objects with null for NaN. The format defaults to OUT's extension, else\n"
    "csv; without -o, standard output. In CSV and TSV a text cell starting with = + - @ tab or\n"
    "CR gets a leading ' (a spreadsheet would run it as a formula); numbers and JSON unchanged.\n"
    "An existing OUT is refused unless\n"
    "  --force   replaces it; never the input, its side files (FILE.snap.h5, .journal, .parts,\n"
    "            .lock, .tmp), an HDF5 file or a symlink. OUT is written to a temporary file\n"
    "            beside it and renamed into place when complete.\n"
    "exit status: 0 written; 1 unreadable or non-regular FILE (a FIFO), refused OUT, write\n"
    "error (also a closed standard output); 2 usage.\n"
    "Same Python as `synsweep report`:\n"
    "  PYTHONPATH=analysis python3 -m synsweep_report export FILE -o OUT\n";

/* The results file among a report/export command line (the first operand), or NULL. */
static const char *input_file(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output") || !strcmp(argv[i], "--format")) i++;
        else if (argv[i][0] != '-') return argv[i];
    }
    return NULL;
}

/* Waits for child pid. @return its exit status; a death by signal is reported (what) as 1. */
static int wait_child(pid_t pid, const char *cmd, const char *file, const char *what) {
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
    }
    if (w == pid && WIFEXITED(st)) return WEXITSTATUS(st);
    int sig = w == pid && WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    if (sig == SIGPIPE) return 0; /* `| head`: the reader had what it wanted */
    fprintf(stderr, "synsweep %s: %s: %s (%s); refusing it\n", cmd, file ? file : "the file", what,
            sig ? strsignal(sig) : "lost");
    return 1;
}

/*
 * h5py reads the file on HDF5 1.10, which crashes on some damaged files and writes past a
 * buffer on others (a chunk that decodes short: h5util.c). So the checks that guard merge and
 * status run first, in a child (HDF5 may crash there too), over every dataset of a regular
 * FILE; then Python runs in a child whose death by a signal is a one-line error, not a core.
 */
static int cmd_python(const char *cmd, const char *usage, int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
    if (argc < 1) {
        fputs(usage, stderr);
        return 2;
    }
    char dir[4096], path[8192];
    if (analysis_dir(dir, sizeof dir)) {
        fprintf(stderr, "synsweep %s: %s (set SYNSWEEP_ANALYSIS to the analysis/ directory)\n", cmd, dir);
        return 1;
    }
    const char *file = input_file(argc, argv);
    struct stat sb;
    if (file && lstat(file, &sb) == 0 && S_ISREG(sb.st_mode)) { /* anything else: Python refuses it */
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            char err[1024];
            int rc = h5_check_file(file, err, sizeof err);
            if (rc) fprintf(stderr, "synsweep %s: %s\n", cmd, err);
            fflush(NULL);
            _exit(rc ? 1 : 0);
        }
        if (pid > 0 && wait_child(pid, cmd, file, "damaged: HDF5 crashed checking it")) return 1;
    }
    const char *old = getenv("PYTHONPATH");
    snprintf(path, sizeof path, "%s%s%s", dir, old && *old ? ":" : "", old && *old ? old : "");
    setenv("PYTHONPATH", path, 1);
    const char *py = getenv("SYNSWEEP_PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    char **av = calloc((size_t)argc + 6, sizeof *av);
    if (!av) return 1;
    /* -P: not the working directory first on sys.path (a yaml.py there would run) */
    av[0] = (char *)py, av[1] = "-P", av[2] = "-m", av[3] = "synsweep_report", av[4] = (char *)cmd;
    for (int i = 0; i < argc; i++) av[5 + i] = argv[i];
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execv(py, av);
        fprintf(stderr, "synsweep %s: cannot run %s: %s (scripts/setup.sh installs it)\n", cmd, py, strerror(errno));
        _exit(1);
    }
    free(av);
    if (pid < 0) {
        fprintf(stderr, "synsweep %s: cannot start %s: %s\n", cmd, py, strerror(errno));
        return 1;
    }
    return wait_child(pid, cmd, file, "damaged: reading it crashed");
}

int cmd_report(int argc, char **argv) { return cmd_python("report", REPORT_USAGE, argc, argv); }
int cmd_export(int argc, char **argv) { return cmd_python("export", EXPORT_USAGE, argc, argv); }
