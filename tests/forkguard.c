/*
 * forkguard.so: LD_PRELOAD'ed into the ranks by tests/test_resume.sh (mpirun -x LD_PRELOAD).
 * An MPI process must not fork (Open MPI: fork after MPI_Init can corrupt memory registered
 * with InfiniBand/UCX). MPI_Init and MPI_Init_thread are intercepted through the MPI
 * profiling interface (PMPI_*) to note that MPI has started; a later fork() prints
 * "forkguard: fork after MPI_Init" and aborts the process, which fails the run.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int mpi_started;

int MPI_Init(int *argc, char ***argv) {
    int rc = PMPI_Init(argc, argv);
    mpi_started = 1;
    return rc;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided) {
    int rc = PMPI_Init_thread(argc, argv, required, provided);
    mpi_started = 1;
    return rc;
}

pid_t fork(void) {
    if (mpi_started) {
        fprintf(stderr, "forkguard: fork after MPI_Init in pid %d\n", (int)getpid());
        abort();
    }
    pid_t (*real)(void);
    void *sym = dlsym(RTLD_NEXT, "fork");
    memcpy(&real, &sym, sizeof real); /* POSIX: dlsym's pointer is the function's */
    return sym ? real() : -1;
}
