/*
 * snapstore: the snapshot store of a results file. Snapshots never go into the main file
 * while a sweep runs: each checkpoint writes those received since the last one into a new,
 * immutable part file FILE.parts/part-NNNNNN.h5 (fsync'ed), and the main file links
 * /snapshots/job_NNNNNN to it (HDF5 external links). When the sweep completes they are
 * copied in and the part files removed. A job's group holds one dataset per stage and
 * tensor of its JobResult's tensor list (docs/FORMAT.md).
 */
#ifndef SYNSWEEP_SNAPSTORE_H
#define SYNSWEEP_SNAPSTORE_H

#include <hdf5.h>
#include <stdint.h>

#include "job.h"

/* Where a job's snapshot group lives: file path, object prefix + "job_NNNNNN". */
typedef struct SnapSource {
    char *path;        /* as opened by us */
    char prefix[16];   /* object path of job N: prefix + "job_NNNNNN" */
    char *link;        /* as written in an external link (relative to the main file's directory) */
    int ours;          /* a part file of this results file: link to it; else copy it to a part */
} SnapSource;

typedef struct SnapStore {
    char *parts_dir, *parts_rel; /* FILE.parts, and its name relative to FILE's directory */
    long n_jobs;
    int32_t *snap;     /* (n_jobs) index into src + 1, 0 = none */
    SnapSource *src;
    int n_src, cap_src;
    int next_part;
    JobResult *buf;    /* snapshots received since the last part file (copies) */
    int n_buf, cap_buf;
} SnapStore;

/** An empty store for results file path with n_jobs jobs. @return 0 or -1 (out of memory). */
int snapstore_init(SnapStore *st, const char *path, long n_jobs);
void snapstore_free(SnapStore *st);
/** Keeps a copy of r's snapshots for the next part file. @return 0 or -1 (out of memory). */
int snapstore_add(SnapStore *st, const JobResult *r);
/**
 * A new part file with the buffered snapshots, plus those of jobs whose snapshots still live
 * in a file that is not ours (copied); written, closed and fsync'ed. @return 0 or -1 with err.
 */
int snapstore_write_part(SnapStore *st, char *err, size_t errlen);
/**
 * Creates /snapshots in the main file being written: external links to the part files, or
 * (consolidate) copies of every group. @return 0 or -1.
 */
int snapstore_write_links(const SnapStore *st, hid_t file, int consolidate);
/** Records where the snapshots of a file read from main_path are (its /snapshots; a live file's
 * through main_path.snap.h5, which must be a regular file). @return 0, or -1 (why says why
 * when it is not a regular file, else ""). */
int snapstore_scan(SnapStore *st, hid_t file, const char *main_path, char *why, size_t whylen);
/** FILE.parts is absent, or a directory this process can write. @return 0, or -1 with err
 * (naming the system's reason). */
int snapstore_check_dir(const SnapStore *st, char *err, size_t errlen);
/**
 * Forgets the snapshots of every job whose file is gone or unreadable (FILE.parts/ lost, or FILE
 * moved without it), setting lost[id] = 1 for each. first gets the first such file.
 * @return the number of jobs.
 */
long snapstore_drop_missing(SnapStore *st, int32_t *lost, char *first, size_t firstlen);
/** Job id's snapshots are where src has them (merging). @return 0 or -1. */
int snapstore_take(SnapStore *st, long id, const SnapStore *src);
/** Deletes this store's part files and FILE.parts (after consolidation, or a failed merge). */
void snapstore_remove_parts(SnapStore *st);

#endif
