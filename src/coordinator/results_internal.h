/*
 * results_internal.h: what the parts of the results-file module share (not for other
 * modules; results.h is the interface). The state in memory (ResultsFile), a row of
 * /results (JobRow), the live file's per-job datasets (LiveSet), and the functions one part
 * calls in another:
 *   results_state.c    state, row types, provenance      results_write.c  whole writes, create, put, close
 *   results_journal.c  in-place commits, checkpoints     results_read.c   read back, resume
 *   results_status.c   the status reader                 results_merge.c  merge
 */
#ifndef SYNSWEEP_RESULTS_INTERNAL_H
#define SYNSWEEP_RESULTS_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>
#include <sys/types.h>

#include "results.h"
#include "snapstore.h"

#define FORMAT_VERSION 2
#define FORMAT1_REFUSAL "%s: results file format 1 (synsweep 0.1); this synsweep reads format %d only. " \
    "Its tables still open with h5py (docs/FORMAT.md); to continue the sweep, rerun it into a new file"

/* provenance of this run (results_set_run_info) */
extern char *rf_hosts, rf_mpi[256];

/* A per-job dataset of the live file: row i's bytes are at off + i * row_bytes in the file and
 * at base + i * row_bytes in memory. */
typedef struct LiveSet {
    haddr_t off;
    size_t row_bytes;
    const char *base;
} LiveSet;
#define LIVE_MAX (8 + N_CURVES + N_STAGES * N_LAYER_METRICS + N_MODEL_CURVES)

typedef struct JobRow {
    int32_t job_id;
    char status[16];
    JobSpec spec;
    JobMetrics m;
    int32_t n_train, n_test;
    int64_t n_params;
    double seconds;
    int32_t rank;
    char host[64];
    char git_commit[80]; /* the build that ran it (rf_build_id); "" in files before the column */
    char message[256];
} JobRow;

struct ResultsFile {
    char *path, *tmp, *lock, *sweep_path; /* FILE, FILE.tmp, FILE.lock (allocated: no path is ever cut) */
    char *yaml, sweep_name[64], axes[1024], created[32], started[32];
    char *hosts;     /* provenance: every host that wrote this file, comma-separated */
    int dirty;       /* the state differs from the file on disk */
    int on_disk_complete; /* the file read back is complete (consolidated): never rewritten */
    char *builds;         /* provenance: the builds that wrote the file(s) read back (rf_build_id), comma-separated */
    long n_jobs, n_done;
    int max_epochs, max_layers, max_noise;
    JobRow *rows;
    float *curves;   /* (N_CURVES, n_jobs, max_epochs) */
    double *layers;  /* (N_STAGES, N_LAYER_METRICS, n_jobs, max_layers) */
    int32_t *sizes;  /* (n_jobs, max_layers + 1) */
    float *angle;    /* (n_jobs, max_epochs, max_layers) angle per layer after each epoch */
    float *noise;    /* (n_jobs, max_noise, NOISE_COLS) the noise-phase curve */
    int n_mc, max_mepochs;
    int mc_ids[N_MODEL_CURVES]; /* the model curves some job of the sweep records */
    float *mcurves;  /* (n_mc, n_jobs, max_mepochs) */
    SnapStore st;    /* where each job's snapshots are */
    hid_t row_type;
    int lock_fd;     /* FILE.lock, held (lockfile.c) while this process writes FILE */
    /* the live file (docs/RESILIENCE.md): rows committed in place between full writes */
    char *journal, *index, *index_tmp; /* FILE.journal, FILE.snap.h5 (the snapshot links), its .tmp */
    int fd;          /* FILE opened for in-place commits, -1 while there is no live file */
    ino_t ino;       /* FILE's inode (a journal names it) */
    haddr_t n_done_at; /* where the 8 bytes of the live file's dataset /n_done are */
    int n_live;
    LiveSet live[LIVE_MAX]; /* every per-job dataset, rows first */
    long *fresh, n_fresh, cap_fresh; /* jobs received since the last commit */
};

#define H5TRY(expr, what)                                                          \
    do {                                                                           \
        if ((expr) < 0) {                                                          \
            snprintf(err, errlen, "%s: HDF5 failed to %s%s", f->path, what, rf_io_cause()); \
            goto fail;                                                             \
        }                                                                          \
    } while (0)


/* ---- shared between the parts (defined in the file named) ---- */

/* results_journal.c */
/*
 * Commits the rows received since the last checkpoint into the live file: the journal written
 * and fsync'ed, then applied (data, fdatasync, statuses and n_done, fdatasync), then removed.
 */
int rf_commit_rows(ResultsFile *f, char *err, size_t errlen);
/*
 * A journal left by a process that stopped while committing (FILE.journal): applied again to
 * FILE if it is whole and names FILE's inode, then removed. Only the writer calls it (under the
 * lock). @return 0, or -1 with err.
 */
int rf_journal_redo(const ResultsFile *f, char *err, size_t errlen);
/* results_read.c */
/* Every string of a row read back raw ends inside its field. */
void rf_terminate_strings(JobRow *r);
/* Job id is to run (again). */
void rf_set_pending(ResultsFile *f, size_t id);
/* Loads the state of results file path (of sweep sw) into f, which rf_new_state made. */
int rf_load_file(ResultsFile *f, const char *path, int keep_snapshots, char *err, size_t errlen);
/* The sweep stored in results file path (its sweep_yaml attribute). */
int rf_stored_sweep(const char *path, Sweep *sw, char *err, size_t errlen);
/* results_state.c */
/* Inserts member name of type t at off into compound ct (closing t if close_t). @return 0 or -1. */
int rf_insert(hid_t ct, const char *name, size_t off, hid_t t, int close_t);
/* Adds each comma-separated name of items to the list *list that is not in it. @return 0 or -1. */
int rf_host_list_add(char **list, const char *items);
/* The system's reason when an HDF5 call failed for want of space or an I/O error, or "". */
const char *rf_io_cause(void);
/*
 * Before any other HDF5 call. HDF5's exit handler closes the files still open, and a file
 * whose close failed (disk full) makes it crash (H5F__close_cb): the files we fail to write
 * are removed anyway, so the library is not asked to clean up at exit.
 */
void rf_h5_init(void);
void rf_utc_now(char *buf, size_t n);
/** This binary's build as a row's git_commit records it: the commit, "+dirty" if its tree had
 * uncommitted changes ("unknown" outside git). */
const char *rf_build_id(void);
/* The compound type of a row: job_id, status, grid axes, other parameters, metrics, bookkeeping. */
hid_t rf_make_row_type(const Sweep *sw);
/* A column of the full row type a file may lack: a parameter (its value is the stored sweep's,
 * else its default: the row's spec as rf_new_state made it), a late metric (NaN) or the rows'
 * git_commit (""). */
int rf_column_optional(const char *name);
/*
 * The row type to read /results of file with: the full row type rt without the optional
 * columns the file lacks (a file of an earlier release). Reading with it leaves those
 * fields of the rows as they were (HDF5 converts the others by name). @return the type
 * (close it), or -1 (out of memory, or no /results: h5_check_compound then says why).
 */
hid_t rf_read_row_type(hid_t file, hid_t rt);
/* ---------------------------------------------------------------- state */
void rf_free_state(ResultsFile *f);
/* Allocates f's per-job arrays for its n_jobs, max_epochs, max_layers and max_noise, every
 * value NaN (sizes 0). @return 0 or -1. */
int rf_alloc_arrays(ResultsFile *f);
/* Job id's row, curves and layer data from src (same dimensions) into f. */
void rf_copy_job(ResultsFile *f, const ResultsFile *src, size_t id);
/* The in-memory state of sweep sw for path, every job pending. */
ResultsFile *rf_new_state(const char *path, const Sweep *sw, char *err, size_t errlen);
/* results_write.c */
/* Writes FILE.snap.h5 (the links to the snapshot part files) anew: .tmp, fsync, rename. */
int rf_write_index(ResultsFile *f, char *err, size_t errlen);
/*
 * Writes the whole state to FILE.tmp and renames it over FILE. With consolidate, the snapshot
 * groups are copied in and the datasets chunked and deflated: the ordinary final file.
 * Otherwise it is the live file: datasets contiguous, so that later checkpoints commit rows in
 * place (rf_commit_rows), and /snapshots an external link to FILE.snap.h5.
 */
int rf_write_main(ResultsFile *f, int consolidate, char *err, size_t errlen);
/*
 * At start-up, before any job runs: the paths beside FILE that the run will open. FILE.journal
 * and FILE.snap.h5 absent or regular files (a FIFO blocks open(2) and HDF5 forever, at the
 * first commit); FILE.parts absent or a directory we can write (else the first snapshots
 * fail). Both would otherwise be found only after jobs have trained.
 */
int rf_check_side_paths(const ResultsFile *f, char *err, size_t errlen);

#endif
