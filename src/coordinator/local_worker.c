/* local_worker.c: see local_worker.h. */
#include "local_worker.h"

#include <string.h>
#include <time.h>

#include "worker.h"

static void *local_main(void *arg) {
    Local *L = arg;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        while (!L->has_job && !L->quit) pthread_cond_wait(&L->cv_job, &L->mu);
        if (L->quit) break;
        JobSpec spec = L->spec;
        long job = L->job;
        L->has_job = 0;
        pthread_mutex_unlock(&L->mu);
        JobResult r;
        worker_run(&spec, (int)job, 0, &r);
        pthread_mutex_lock(&L->mu);
        L->res = r;
        L->has_result = 1;
        pthread_cond_signal(&L->cv_res);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

int local_start(Local *L) {
    memset(L, 0, sizeof(*L));
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv_job, NULL);
    pthread_cond_init(&L->cv_res, NULL);
    return pthread_create(&L->th, NULL, local_main, L);
}

void local_post(Local *L, long job, const JobSpec *spec) {
    pthread_mutex_lock(&L->mu);
    L->job = job, L->spec = *spec, L->has_job = 1, L->busy = 1;
    pthread_cond_signal(&L->cv_job);
    pthread_mutex_unlock(&L->mu);
}

int local_take(Local *L, JobResult *r, double timeout) {
    int got = 0;
    pthread_mutex_lock(&L->mu);
    if (!L->has_result && timeout > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + (long)(timeout * 1e9);
        ts.tv_sec += ns / 1000000000L, ts.tv_nsec = ns % 1000000000L;
        while (!L->has_result && pthread_cond_timedwait(&L->cv_res, &L->mu, &ts) == 0) {
        }
    }
    if (L->has_result) *r = L->res, L->has_result = 0, L->busy = 0, got = 1;
    pthread_mutex_unlock(&L->mu);
    return got;
}

void local_stop(Local *L) {
    pthread_mutex_lock(&L->mu);
    L->quit = 1;
    pthread_cond_signal(&L->cv_job);
    pthread_mutex_unlock(&L->mu);
    pthread_join(L->th, NULL);
    if (L->has_result) job_result_free(&L->res);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv_job);
    pthread_cond_destroy(&L->cv_res);
}
