/*
 * results_journal.c: checkpoints between whole writes: the rows received since the last one
 * committed into the live file in place, through FILE.journal (docs/RESILIENCE.md).
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



/*
 * FILE.journal: a header, then records (u64 offset, u64 length, bytes) of writes into FILE:
 * n_phase1 records of data (every dataset's row, the results row still saying pending), then
 * the status fields and n_done. Valid only if its checksum holds and ino is FILE's inode.
 */
typedef struct JournalHead {
    char magic[8];
    uint64_t ino, n_records, n_phase1, payload, sum;
} JournalHead;
static const char JOURNAL_MAGIC[8] = "SSJRNL1";

static uint64_t fnv64(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/*
 * Fault injection for tests/test_resume.sh, compiled only into the test binary synsweep_faulty
 * (SYNSWEEP_FAULT_INJECTION): SYNSWEEP_FAULT_COMMIT="K,W" SIGKILLs this process in its K-th
 * commit, after the journal is written (W = 0) or after the data, before the statuses (W = 1).
 * @return W at commit K, else -1 (always, in the release synsweep).
 */
#ifdef SYNSWEEP_FAULT_INJECTION
static int fault_point(void) {
    static int commits;
    const char *e = getenv("SYNSWEEP_FAULT_COMMIT");
    int k, w;
    commits++;
    return e && sscanf(e, "%d,%d", &k, &w) == 2 && k == commits ? w : -1;
}
#else
static int fault_point(void) { return -1; }
#endif

/* Applies the journal's records to fd: the data, fdatasync, the statuses, fdatasync. */
static int journal_apply(int fd, const JournalHead *h, const unsigned char *p, int fault) {
    for (int phase = 0; phase < 2; phase++) {
        const unsigned char *q = p;
        for (uint64_t r = 0; r < h->n_records; r++) {
            uint64_t off, len;
            memcpy(&off, q, 8), memcpy(&len, q + 8, 8);
            if ((r < h->n_phase1) == (phase == 0) && pwrite(fd, q + 16, len, (off_t)off) != (ssize_t)len) return -1;
            q += 16 + len;
        }
        if (fdatasync(fd)) return -1;
        if (phase == 0 && fault == 1) raise(SIGKILL);
    }
    return 0;
}

/* Appends one record to the journal being built. */
static unsigned char *journal_put(unsigned char *q, haddr_t off, const void *src, size_t len) {
    uint64_t o = off, l = len;
    memcpy(q, &o, 8), memcpy(q + 8, &l, 8), memcpy(q + 16, src, len);
    return q + 16 + len;
}

/*
 * Commits the rows received since the last checkpoint into the live file: the journal written
 * and fsync'ed, then applied (data, fdatasync, statuses and n_done, fdatasync), then removed.
 */
int rf_commit_rows(ResultsFile *f, char *err, size_t errlen) {
    if (!f->n_fresh) return 0;
    size_t per = 0, st_off = offsetof(JobRow, status);
    for (int k = 0; k < f->n_live; k++) per += 16 + f->live[k].row_bytes;
    size_t total = (size_t)f->n_fresh * (per + 16 + sizeof f->rows->status) + 16 + 8;
    unsigned char *buf = malloc(total), *q = buf;
    int jfd = -1;
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory committing %ld rows", f->path, f->n_fresh);
        return -1;
    }
    for (long i = 0; i < f->n_fresh; i++) {
        size_t id = (size_t)f->fresh[i];
        for (int k = 0; k < f->n_live; k++) {
            const LiveSet *l = &f->live[k];
            const void *src = l->base + id * l->row_bytes;
            JobRow pend;
            if (l->base == (const char *)f->rows) { /* the row, still pending: its status comes last */
                pend = f->rows[id];
                memset(pend.status, 0, sizeof pend.status);
                snprintf(pend.status, sizeof pend.status, "%s", status_name(STATUS_PENDING));
                src = &pend;
            }
            q = journal_put(q, l->off + id * l->row_bytes, src, l->row_bytes);
        }
    }
    JournalHead h = {{0}, (uint64_t)f->ino, 0, 0, 0, 0};
    memcpy(h.magic, JOURNAL_MAGIC, 8);
    h.n_phase1 = (uint64_t)f->n_fresh * (uint64_t)f->n_live;
    for (long i = 0; i < f->n_fresh; i++) {
        size_t id = (size_t)f->fresh[i];
        q = journal_put(q, f->live[0].off + id * sizeof(JobRow) + st_off, f->rows[id].status, sizeof f->rows->status);
    }
    int64_t nd = f->n_done;
    q = journal_put(q, f->n_done_at, &nd, 8);
    h.n_records = h.n_phase1 + (uint64_t)f->n_fresh + 1;
    h.payload = (uint64_t)(q - buf);
    h.sum = fnv64(buf, (size_t)h.payload);
    if ((jfd = side_file_open(f->journal, O_WRONLY | O_CREAT | O_TRUNC, err, errlen)) < 0) goto fail;
    if (write(jfd, &h, sizeof h) != (ssize_t)sizeof h || write(jfd, buf, (size_t)h.payload) != (ssize_t)h.payload ||
        fdatasync(jfd)) {
        snprintf(err, errlen, "%s: cannot write the journal (%s)", f->journal, strerror(errno));
        goto fail;
    }
    close(jfd);
    jfd = -1;
    int fault = fault_point();
    if (fault == 0) raise(SIGKILL);
    if (journal_apply(f->fd, &h, buf, fault)) {
        snprintf(err, errlen, "%s: cannot commit %ld rows in place (%s); the journal keeps them", f->path,
                 f->n_fresh, strerror(errno));
        goto fail;
    }
    unlink(f->journal);
    free(buf);
    f->n_fresh = 0;
    return 0;
fail:
    if (jfd >= 0) close(jfd);
    free(buf);
    return -1;
}

/*
 * A journal left by a process that stopped while committing (FILE.journal): applied again to
 * FILE if it is whole and names FILE's inode, then removed. Only the writer calls it (under the
 * lock). @return 0, or -1 with err.
 */
int rf_journal_redo(const ResultsFile *f, char *err, size_t errlen) {
    int jfd = side_file_open(f->journal, O_RDONLY, err, errlen), fd = -1, rc = -1;
    if (jfd < 0) return errno == ENOENT ? 0 : -1;
    JournalHead h;
    struct stat js, fs;
    unsigned char *buf = NULL;
    int whole = fstat(jfd, &js) == 0 && read(jfd, &h, sizeof h) == (ssize_t)sizeof h &&
                !memcmp(h.magic, JOURNAL_MAGIC, 8) && h.payload == (uint64_t)js.st_size - sizeof h &&
                (buf = malloc(h.payload ? h.payload : 1)) && read(jfd, buf, h.payload) == (ssize_t)h.payload &&
                fnv64(buf, h.payload) == h.sum && stat(f->path, &fs) == 0 && (uint64_t)fs.st_ino == h.ino;
    /* every record inside the payload */
    const unsigned char *q = buf;
    for (uint64_t r = 0; whole && r < h.n_records; r++) {
        uint64_t len;
        if ((size_t)(q - buf) + 16 > h.payload) whole = 0;
        else memcpy(&len, q + 8, 8), q += 16, whole = len <= h.payload - (uint64_t)(q - buf), q += whole ? len : 0;
    }
    close(jfd);
    if (whole) {
        if ((fd = open(f->path, O_RDWR)) < 0 || journal_apply(fd, &h, buf, -1)) {
            snprintf(err, errlen, "%s: cannot apply its journal %s (%s)", f->path, f->journal, strerror(errno));
            goto done;
        }
        fprintf(stderr, "[synsweep] %s: committed %llu rows from its journal (the last run stopped while writing them)\n",
                f->path, (unsigned long long)(h.n_records - h.n_phase1 - 1));
    }
    unlink(f->journal); /* a torn journal was never applied: the file holds the checkpoint before it */
    rc = 0;
done:
    if (fd >= 0) close(fd);
    free(buf);
    return rc;
}

int results_checkpoint(ResultsFile *f, char *err, size_t errlen) {
    if (!f->dirty && f->st.n_buf == 0) return 0;
    int new_snaps = f->st.n_buf > 0;
    if (snapstore_write_part(&f->st, err, errlen)) return -1;
    if (f->fd < 0) {
        if (rf_write_main(f, 0, err, errlen)) return -1;
        f->n_fresh = 0;
    } else if ((new_snaps && rf_write_index(f, err, errlen)) || rf_commit_rows(f, err, errlen)) {
        return -1;
    }
    f->dirty = 0;
    return 0;
}
