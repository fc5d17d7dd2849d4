/*
 * comm: every MPI call of synsweep. Protocol (docs/PROTOCOL.md): a worker sends READY, then
 * for each JOB it receives it answers with a RESULT (which also asks for the next job),
 * until it receives STOP. Jobs and results travel as bytes: the ranks run one binary.
 */
#ifndef SYNSWEEP_COMM_H
#define SYNSWEEP_COMM_H

#include "job.h"

enum { MSG_READY = 1, MSG_RESULT = 2, MSG_JOB = 3, MSG_STOP = 4 };

void comm_init(int *argc, char ***argv);
void comm_finalize(void);
int comm_rank(void);
int comm_size(void);
/** Ends every rank with exit status code, without waiting for their jobs (MPI_Abort). */
void comm_abort(int code);
/** Rank 0's value of ok, on every rank (collective). */
int comm_bcast_int(int ok);
/** Collective: on rank 0 the host names of every rank, each once, comma-separated (malloc'ed;
 * NULL out of memory); NULL on the other ranks. */
char *comm_hosts(void);
/** The MPI library and its version, one line (MPI_Get_library_version). */
void comm_library_version(char *buf, size_t n);
/**
 * Whether every rank passes the same value (up to 63 characters) of what (collective).
 * @return 0 on every rank, or -1 on every rank, with err on rank 0 naming two that differ.
 */
int comm_same_text(const char *what, const char *value, char *err, size_t errlen);
/** Rank 0's text on every rank (collective): *text is malloc'ed on the others; free it. */
int comm_bcast_text(char **text);
/**
 * One copy per node of each dataset in keys ("data_dir<TAB>name" lines, the same on every
 * rank): the node's lowest rank loads it (or takes it from its cache) into an MPI-3 shared
 * window, and every rank of the node puts views of it in its worker cache. Collective.
 * @return 0 on every rank, or -1 on every rank with err (on the ranks that failed).
 */
int comm_share_datasets(const char *keys, char *err, size_t errlen);

/* coordinator side */
void comm_send_job(int dst, int job_id, const JobSpec *spec);
void comm_send_stop(int dst);
/**
 * Waits up to timeout seconds for the next worker message. On MSG_RESULT, r holds the
 * unpacked result (free with job_result_free). @return MSG_READY or MSG_RESULT, 0 if
 * none came in time, or -1 on a malformed message.
 */
int comm_recv(JobResult *r, int *src, double timeout);
/** Worker side: serves jobs with worker_run until STOP. */
void comm_worker_loop(void);

#endif
