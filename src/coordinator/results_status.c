/*
 * results_status.c: what `synsweep status` reads: status, test_acc and seconds of every job,
 * from a finished file's /results chunks directly when they are stored as synsweep writes
 * them (only those byte planes inflated), else through HDF5.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "blas.h"
#include "build_info.h"
#include "data.h"
#include "h5util.h"
#include "lockfile.h"
#include "snapstore.h"
#include "results_internal.h"

typedef struct SummaryRow {
    char status[16];
    double acc, sec;
    int32_t job_id; /* must be the row's index, as merge and resume require */
} SummaryRow;

/*
 * The columns status reads, taken from a finished file's /results chunks without HDF5's
 * filter pipeline. HDF5 inflates a chunk, then un-shuffles all of it byte by byte (whole
 * rows, 1.8 kB each in bench/coordinator_scale.sh): most of the time of reading 10^6 rows. Here a chunk is read as stored
 * (H5Dread_chunk), inflated with its checksum verified (as HDF5 does), and only the byte
 * planes of the wanted columns are gathered: after the shuffle filter, byte j of row i is at
 * j * rows_per_chunk + i. Only the pipeline written by h5_write_chunked (shuffle of the row
 * size, then deflate) is taken; for anything else, or a chunk stored otherwise (a filter
 * skipped, odd size, bad stream), the caller reads through HDF5, which reports damage.
 */
typedef struct ChunkCols {
    size_t row_bytes, rows;       /* a row's bytes, rows per chunk */
    size_t off[4], len[4];        /* status, test_acc, seconds, job_id within a row */
    unsigned char *z, *raw;       /* a stored chunk, an inflated one */
    size_t z_cap;
} ChunkCols;

/* Whether /results (dataset d, its columns checked) is chunked by rows, shuffled by the row
 * size and deflated; if so, fills c with the stored rows' layout (an earlier release's rows
 * are laid out otherwise). @return 1, or 0 (read it through HDF5). */
static int chunk_cols_init(hid_t d, ChunkCols *c) {
    memset(c, 0, sizeof(*c));
    hid_t pl = H5Dget_create_plist(d), rt = H5Dget_type(d);
    hsize_t ch = 0;
    int ok = pl >= 0 && H5Pget_layout(pl) == H5D_CHUNKED && H5Pget_chunk(pl, 1, &ch) == 1 && ch > 0 &&
             H5Pget_nfilters(pl) == 2;
    c->row_bytes = H5Tget_size(rt), c->rows = (size_t)ch;
    for (unsigned k = 0; ok && k < 2; k++) {
        unsigned flags, cd[4] = {0};
        size_t ncd = 4;
        H5Z_filter_t id = H5Pget_filter2(pl, k, &flags, &ncd, cd, 0, NULL, NULL);
        ok = k == 0 ? id == H5Z_FILTER_SHUFFLE && ncd >= 1 && cd[0] == c->row_bytes : id == H5Z_FILTER_DEFLATE;
    }
    if (pl >= 0) H5Pclose(pl);
    const char *name[4] = {"status", "test_acc", "seconds", "job_id"};
    for (int k = 0; ok && k < 4; k++) {
        int i = H5Tget_member_index(rt, name[k]);
        hid_t mt = i >= 0 ? H5Tget_member_type(rt, (unsigned)i) : -1;
        ok = mt >= 0;
        if (ok) c->off[k] = H5Tget_member_offset(rt, (unsigned)i), c->len[k] = H5Tget_size(mt), H5Tclose(mt);
        ok = ok && c->off[k] + c->len[k] <= c->row_bytes;
    }
    if (rt >= 0) H5Tclose(rt);
    ok = ok && c->len[0] == sizeof(((SummaryRow *)0)->status) && c->len[1] == sizeof(double) &&
         c->len[2] == sizeof(double) && c->len[3] == sizeof(int32_t) && c->rows <= ((size_t)1 << 26) / c->row_bytes && /* ours: 2 MB */
         (c->raw = malloc(c->rows * c->row_bytes));
    return ok;
}

/* Rows [start, start + cnt) of the chunk that starts at row start into out. @return 0, or
 * -1 (not stored as chunk_cols_init expects: read it through HDF5). */
static int chunk_cols_read(hid_t d, ChunkCols *c, hsize_t start, size_t cnt, SummaryRow *out) {
    hsize_t stored = 0;
    uint32_t mask = 0;
    size_t want = c->rows * c->row_bytes;
    if (H5Dget_chunk_storage_size(d, &start, &stored) < 0 || stored == 0 || stored > compressBound(want) + 64) return -1;
    if (stored > c->z_cap) {
        unsigned char *z = realloc(c->z, stored);
        if (!z) return -1;
        c->z = z, c->z_cap = stored;
    }
    if (H5Dread_chunk(d, H5P_DEFAULT, &start, &mask, c->z) < 0 || mask != 0) return -1;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) return -1;
    zs.next_in = c->z, zs.avail_in = (uInt)stored, zs.next_out = c->raw, zs.avail_out = (uInt)want;
    int zr = inflate(&zs, Z_FINISH);
    size_t got = zs.total_out;
    inflateEnd(&zs);
    if (zr != Z_STREAM_END || got != want) return -1;
    /* byte j of row i is at j * rows + i (with one row per chunk, at j: the same formula) */
    const size_t R = c->rows;
    for (size_t j = 0; j < c->len[0]; j++) {
        const unsigned char *p = c->raw + (c->off[0] + j) * R;
        for (size_t i = 0; i < cnt; i++) out[i].status[j] = (char)p[i];
    }
    for (int k = 1; k < 3; k++)
        for (size_t i = 0; i < cnt; i++) {
            unsigned char b[sizeof(double)];
            for (size_t j = 0; j < sizeof(double); j++) b[j] = c->raw[(c->off[k] + j) * R + i];
            memcpy(k == 1 ? &out[i].acc : &out[i].sec, b, sizeof b);
        }
    for (size_t i = 0; i < cnt; i++) {
        unsigned char b[sizeof(int32_t)];
        for (size_t j = 0; j < sizeof b; j++) b[j] = c->raw[(c->off[3] + j) * R + i];
        memcpy(&out[i].job_id, b, sizeof b);
    }
    return 0;
}

/*
 * /results of file, checked before a row is read: format 2, columns (by name: an earlier
 * release's file may lack parameters), as many rows as the stored sweep sw has jobs and
 * n_jobs says, and every chunk of a chunked /results stored. Opens *d and its space *fsp.
 * @return 0 or -1 with err.
 */
static int open_results(hid_t file, const Sweep *sw, const char *path, hid_t *d, hid_t *fsp, char *err, size_t errlen) {
    int64_t fv = 0, nj = -1;
    hsize_t rows = 0;
    char why[400];
    if (h5_read_attr_i64(file, "format_version", &fv) == 0 && fv == 1) {
        snprintf(err, errlen, FORMAT1_REFUSAL, path, FORMAT_VERSION);
        return -1;
    }
    if (fv != FORMAT_VERSION || h5_read_attr_i64(file, "n_jobs", &nj)) {
        snprintf(err, errlen, "%s: not a synsweep results file of format %d", path, FORMAT_VERSION);
        return -1;
    }
    hid_t full = rf_make_row_type(sw);
    hid_t rt = full >= 0 ? rf_read_row_type(file, full) : -1;
    if (full >= 0) H5Tclose(full);
    int bad = rt < 0 || h5_check_compound(file, "results", rt, why, sizeof why);
    if (bad) snprintf(err, errlen, "%s: %s; refusing to read it (nothing was changed)", path, rt < 0 ? "out of memory" : why);
    if (rt >= 0) H5Tclose(rt);
    if (bad) return -1;
    /* bounded by what is stored: the stored sweep's jobs must be the rows of /results */
    if ((*d = H5Dopen2(file, "results", H5P_DEFAULT)) < 0 || (*fsp = H5Dget_space(*d)) < 0 ||
        H5Sget_simple_extent_ndims(*fsp) != 1 || H5Sget_simple_extent_dims(*fsp, &rows, NULL) < 0) {
        snprintf(err, errlen, "%s: cannot read /results", path);
        return -1;
    }
    if ((long)rows != sw->n_jobs || nj != sw->n_jobs) {
        snprintf(err, errlen, "%s: its stored sweep expands to %ld jobs, but n_jobs says %lld and /results holds %llu "
                 "rows; refusing to read it (damaged or edited)", path, sw->n_jobs, (long long)nj, (unsigned long long)rows);
        return -1;
    }
    /* every chunk of a chunked /results written: rows never stored would read as fill values */
    hid_t pl = H5Dget_create_plist(*d);
    if (pl >= 0 && H5Pget_layout(pl) == H5D_CHUNKED) {
        hsize_t ch = 0, nch = 0;
        if (H5Pget_chunk(pl, 1, &ch) != 1 || ch == 0 || H5Dget_num_chunks(*d, *fsp, &nch) < 0 || nch < (rows + ch - 1) / ch) {
            snprintf(err, errlen, "%s: /results has %llu rows but only %llu of its %llu chunks are stored; refusing "
                     "to read it (damaged)", path, (unsigned long long)rows, (unsigned long long)nch,
                     (unsigned long long)(ch ? (rows + ch - 1) / ch : 0));
            H5Pclose(pl);
            return -1;
        }
    }
    if (pl >= 0) H5Pclose(pl);
    return 0;
}

/* The memory type of a SummaryRow (status, test_acc, seconds, job_id by name), or -1. */
static hid_t summary_type(void) {
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(SummaryRow)), st16 = h5_str_type(16);
    if (mt < 0 || st16 < 0 || rf_insert(mt, "status", HOFFSET(SummaryRow, status), st16, 1) ||
        rf_insert(mt, "test_acc", HOFFSET(SummaryRow, acc), H5T_NATIVE_DOUBLE, 0) ||
        rf_insert(mt, "seconds", HOFFSET(SummaryRow, sec), H5T_NATIVE_DOUBLE, 0) ||
        rf_insert(mt, "job_id", HOFFSET(SummaryRow, job_id), H5T_NATIVE_INT32, 0)) {
        if (mt >= 0) H5Tclose(mt);
        return -1;
    }
    return mt;
}

int results_read_summary(const char *path, Sweep *sw, int **status, double **acc, double **sec, char *err,
                         size_t errlen) {
    *status = NULL, *acc = *sec = NULL;
    if (rf_stored_sweep(path, sw, err, errlen)) return -1;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = -1, fsp = -1, msp = -1, mt = -1;
    SummaryRow *buf = NULL;
    ChunkCols cc = {0};
    int fast = 0, checked = 0, rc = -1;
    if (file < 0) {
        snprintf(err, errlen, "%s: not a readable HDF5 file", path);
        goto done;
    }
    if (open_results(file, sw, path, &d, &fsp, err, errlen)) goto done;
    /* a finished file: chunk by chunk, only the wanted columns; otherwise blocks of rows */
    fast = chunk_cols_init(d, &cc);
    size_t n = (size_t)sw->n_jobs, block = fast ? cc.rows : 65536;
    *status = malloc((n ? n : 1) * sizeof(int));
    *acc = malloc((n ? n : 1) * sizeof(double));
    *sec = malloc((n ? n : 1) * sizeof(double));
    buf = malloc(block * sizeof(SummaryRow));
    if ((mt = summary_type()) < 0 || !*status || !*acc || !*sec || !buf) {
        snprintf(err, errlen, "%s: out of memory reading it", path);
        goto done;
    }
    for (size_t at = 0; at < n; at += block) {
        hsize_t start = at, cnt = n - at < block ? n - at : block;
        int got = fast && chunk_cols_read(d, &cc, start, (size_t)cnt, buf) == 0;
        if (!got && msp >= 0) H5Sclose(msp), msp = -1;
        /* before HDF5 reads a chunk: every chunk whole (h5_check_chunks), once */
        if (!got && !checked++ && h5_check_chunks(d)) {
            snprintf(err, errlen, "%s: /results has a damaged chunk; refusing to read it", path);
            goto done;
        }
        if (!got && ((msp = H5Screate_simple(1, &cnt, NULL)) < 0 ||
                     H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &start, NULL, &cnt, NULL) < 0 ||
                     H5Dread(d, mt, msp, fsp, H5P_DEFAULT, buf) < 0)) {
            snprintf(err, errlen, "%s: cannot read /results (damaged)", path);
            goto done;
        }
        for (size_t i = 0; i < cnt; i++) {
            buf[i].status[15] = 0;
            int s = status_parse(buf[i].status);
            if (s < 0 || buf[i].job_id != (int32_t)(at + i)) {
                snprintf(err, errlen, "%s: row %zu is damaged (job id %d, status '%.15s')", path, at + i,
                         buf[i].job_id, buf[i].status);
                goto done;
            }
            (*status)[at + i] = s, (*acc)[at + i] = buf[i].acc, (*sec)[at + i] = buf[i].sec;
        }
    }
    rc = 0;
done:
    if (msp >= 0) H5Sclose(msp);
    if (fsp >= 0) H5Sclose(fsp);
    if (mt >= 0) H5Tclose(mt);
    if (d >= 0) H5Dclose(d);
    if (file >= 0) H5Fclose(file);
    free(buf), free(cc.z), free(cc.raw);
    if (rc) {
        free(*status), free(*acc), free(*sec);
        *status = NULL, *acc = *sec = NULL;
        sweep_free(sw);
    }
    return rc;
}
