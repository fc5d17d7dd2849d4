#include "comm.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
void comm_finalize(void) { MPI_Finalize(); }

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
    /* poll, so that the caller regains control (signals) while workers compute */
    for (double waited = 0.0;;) {
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (flag) break;
        if (waited >= timeout) return 0;
        struct timespec ts = {0, 200000}; /* 0.2 ms */
        nanosleep(&ts, NULL);
        waited += 2e-4;
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
