#include "comm.h"

#include <mpi.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

typedef struct JobMsg {
    int32_t job_id;
    JobSpec spec;
} JobMsg;

void comm_init(int *argc, char ***argv) {
    /* rank 0 also trains in a second thread, which makes no MPI calls */
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
}
#define MAX_SHARED 32
static MPI_Win shared_win[MAX_SHARED];
static int n_shared;
static MPI_Comm node_comm = MPI_COMM_NULL;

void comm_finalize(void) {
    for (int i = 0; i < n_shared; i++) MPI_Win_free(&shared_win[i]);
    n_shared = 0;
    if (node_comm != MPI_COMM_NULL) MPI_Comm_free(&node_comm);
    MPI_Finalize();
}

int comm_bcast_text(char **text) {
    int n = comm_rank() == 0 ? (int)strlen(*text) + 1 : 0;
    MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (comm_rank() != 0 && !(*text = malloc((size_t)n))) comm_abort(1);
    MPI_Bcast(*text, n, MPI_CHAR, 0, MPI_COMM_WORLD);
    return 0;
}

/* Shares one dataset within the node: the leader's splits go into a shared window. */
static int share_one(const char *dir, const char *name, char *err, size_t errlen) {
    int node_rank, bad = 0;
    MPI_Comm_rank(node_comm, &node_rank);
    RawSplit sp[2];
    int64_t hdr[2][6] = {{0}};   /* per split: n, c, h, w, n_classes, pixel bytes */
    if (node_rank == 0) {
        /* rank 0 validated (and so cached) every dataset; other leaders load it now */
        if (comm_rank() != 0 || !worker_cached(dir, name, 0)) bad = worker_data_check(dir, name, err, errlen) != 0;
        for (int k = 0; !bad && k < 2; k++) {
            sp[k] = *worker_cached(dir, name, k);
            hdr[k][0] = sp[k].n, hdr[k][1] = sp[k].c, hdr[k][2] = sp[k].h, hdr[k][3] = sp[k].w;
            hdr[k][4] = sp[k].n_classes, hdr[k][5] = (int64_t)sp[k].n * sp[k].c * sp[k].h * sp[k].w;
        }
    }
    int any_bad;
    MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any_bad) {
        if (!bad) snprintf(err, errlen, "another node could not load %s/%s", dir, name);
        return -1;
    }
    MPI_Bcast(hdr, 12, MPI_INT64_T, 0, node_comm);
    MPI_Aint bytes = (MPI_Aint)(hdr[0][5] + hdr[0][0] + hdr[1][5] + hdr[1][0]);
    char *base = NULL;
    MPI_Win win;
    MPI_Win_allocate_shared(node_rank == 0 ? bytes : 0, 1, MPI_INFO_NULL, node_comm, &base, &win);
    if (node_rank != 0) {
        MPI_Aint size;
        int disp;
        MPI_Win_shared_query(win, 0, &size, &disp, &base);
    } else {
        char *q = base;
        for (int k = 0; k < 2; k++) {
            memcpy(q, sp[k].x, (size_t)hdr[k][5]), q += hdr[k][5];
            memcpy(q, sp[k].y, (size_t)hdr[k][0]), q += hdr[k][0];
        }
    }
    MPI_Barrier(node_comm); /* the copy is complete before anyone reads it */
    RawSplit v[2];
    char *q = base;
    for (int k = 0; k < 2; k++) {
        v[k].n = (int)hdr[k][0], v[k].c = (int)hdr[k][1], v[k].h = (int)hdr[k][2], v[k].w = (int)hdr[k][3];
        v[k].n_classes = (int)hdr[k][4];
        v[k].x = (uint8_t *)q, q += hdr[k][5];
        v[k].y = (uint8_t *)q, q += hdr[k][0];
    }
    /* the leader's private copy is freed here: from now on every rank reads the window */
    if (worker_cache_view(dir, name, &v[0], &v[1])) {
        snprintf(err, errlen, "the dataset cache is full");
        bad = 1;
    }
    if (n_shared < MAX_SHARED) shared_win[n_shared++] = win;
    else bad = 1, snprintf(err, errlen, "more than %d datasets to share", MAX_SHARED);
    MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any_bad ? -1 : 0;
}

int comm_share_datasets(const char *keys, char *err, size_t errlen) {
    if (node_comm == MPI_COMM_NULL)
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node_comm);
    for (const char *p = keys; *p;) {
        const char *tab = strchr(p, '\t'), *nl = strchr(p, '\n');
        if (!tab || !nl || tab > nl) break;
        char dir[300], name[32];
        snprintf(dir, sizeof dir, "%.*s", (int)(tab - p), p);
        snprintf(name, sizeof name, "%.*s", (int)(nl - tab - 1), tab + 1);
        if (share_one(dir, name, err, errlen)) return -1;
        p = nl + 1;
    }
    return 0;
}

int comm_rank(void) {
    int r;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int comm_size(void) {
    int n;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

void comm_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int comm_same_text(const char *what, const char *value, char *err, size_t errlen) {
    char mine[64] = "", *all = NULL;
    snprintf(mine, sizeof mine, "%s", value);
    int rank = comm_rank(), size = comm_size(), ok = 1;
    if (rank == 0 && !(all = malloc((size_t)size * sizeof mine))) comm_abort(1);
    MPI_Gather(mine, sizeof mine, MPI_CHAR, all, sizeof mine, MPI_CHAR, 0, MPI_COMM_WORLD);
    for (int r = 1; rank == 0 && r < size && ok; r++)
        if (strcmp(all + (size_t)r * sizeof mine, mine)) {
            snprintf(err, errlen, "ranks run different %s: rank 0 %s, rank %d %s", what, mine, r,
                     all + (size_t)r * sizeof mine);
            ok = 0;
        }
    free(all);
    return comm_bcast_int(ok) ? 0 : -1;
}

char *comm_hosts(void) {
    char mine[256] = "", *all = NULL, *out = NULL;
    gethostname(mine, sizeof mine - 1);
    int rank = comm_rank(), size = comm_size();
    if (rank == 0 && !(all = malloc((size_t)size * sizeof mine))) comm_abort(1);
    MPI_Gather(mine, sizeof mine, MPI_CHAR, all, sizeof mine, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank != 0) return NULL;
    /* each name once, in rank order */
    if ((out = calloc((size_t)size, sizeof mine + 1)))
        for (int r = 0; r < size; r++) {
            const char *h = all + (size_t)r * sizeof mine;
            int seen = 0;
            for (int q = 0; q < r && !seen; q++) seen = !strcmp(h, all + (size_t)q * sizeof mine);
            if (!seen) strcat(strcat(out, out[0] ? "," : ""), h);
        }
    free(all);
    return out;
}

void comm_library_version(char *buf, size_t n) {
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    v[len < MPI_MAX_LIBRARY_VERSION_STRING ? len : MPI_MAX_LIBRARY_VERSION_STRING - 1] = 0;
    size_t k = strcspn(v, "\n,"); /* the first line, up to its first comma */
    while (k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\r')) k--;
    snprintf(buf, n, "%.*s", (int)k, v);
}

int comm_bcast_int(int ok) {
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return ok;
}

void comm_send_job(int dst, int job_id, const JobSpec *spec) {
    JobMsg m;
    m.job_id = job_id;
    m.spec = *spec;
    MPI_Send(&m, (int)sizeof m, MPI_BYTE, dst, MSG_JOB, MPI_COMM_WORLD);
}

void comm_send_stop(int dst) { MPI_Send(NULL, 0, MPI_BYTE, dst, MSG_STOP, MPI_COMM_WORLD); }

int comm_recv(JobResult *r, int *src, double timeout) {
    MPI_Status st;
    int n, flag = 0;
    /* poll, so that the caller regains control (signals) while workers compute; the sleep
     * grows from 50 us to 2 ms while nothing comes, so that a quiet coordinator stays off
     * the CPU its own training thread uses */
    long pause_ns = 50000;
    for (double waited = 0.0;;) {
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (flag) break;
        if (waited >= timeout) return 0;
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        waited += pause_ns * 1e-9;
        if (pause_ns < 2000000) pause_ns *= 2;
    }
    MPI_Get_count(&st, MPI_BYTE, &n);
    *src = st.MPI_SOURCE;
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf) return -1;
    MPI_Recv(buf, n, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    int kind = st.MPI_TAG;
    if (kind == MSG_RESULT && job_result_unpack(buf, (size_t)n, r)) kind = -1;
    else if (kind != MSG_RESULT && kind != MSG_READY) kind = -1;
    free(buf);
    return kind;
}

void comm_worker_loop(void) {
    int rank = comm_rank();
    MPI_Send(NULL, 0, MPI_BYTE, 0, MSG_READY, MPI_COMM_WORLD);
    size_t cap = 0;
    char *buf = NULL;
    for (;;) {
        JobMsg m;
        MPI_Status st;
        MPI_Recv(&m, (int)sizeof m, MPI_BYTE, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        if (st.MPI_TAG == MSG_STOP) break;
        JobResult r;
        worker_run(&m.spec, m.job_id, rank, &r);
        size_t n = job_result_packed_size(&r);
        if (n > cap) {
            free(buf);
            if (!(buf = malloc(cap = n))) {
                fprintf(stderr, "[%d] out of memory for a %zu-byte result\n", rank, n);
                comm_abort(1);
            }
        }
        job_result_pack(&r, buf);
        job_result_free(&r);
        MPI_Send(buf, (int)n, MPI_BYTE, 0, MSG_RESULT, MPI_COMM_WORLD);
    }
    free(buf);
}
