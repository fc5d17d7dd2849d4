/* status_view.c: see status_view.h. Grouping a million jobs is O(n): a radix sort of codes. */
#include "status_view.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator.h"
#include "results.h"

typedef struct Coded {
    uint64_t code; /* the job's values of the non-seed axes, mixed radix */
    long id;
} Coded;

/* Sorts c[0..n) by code, keeping the order of equal codes (LSD radix sort, 16 bits a pass,
 * as many passes as codes below span need), through tmp (n entries). @return 0 or -1 (memory). */
static int coded_sort(Coded *c, Coded *tmp, long n, uint64_t span) {
    long *count = malloc(65537 * sizeof(long));
    if (!count) return -1;
    for (int shift = 0; shift < 64 && (span - 1) >> shift; shift += 16) {
        memset(count, 0, 65537 * sizeof(long));
        for (long i = 0; i < n; i++) count[(c[i].code >> shift & 0xffff) + 1]++;
        for (int d = 0; d < 65536; d++) count[d + 1] += count[d];
        for (long i = 0; i < n; i++) tmp[count[c[i].code >> shift & 0xffff]++] = c[i];
        memcpy(c, tmp, (size_t)n * sizeof(Coded));
    }
    free(count);
    return 0;
}

/*
 * Mean +- sample standard deviation (n - 1) of test accuracy over the jobs of each
 * combination of the non-seed axes (typically the seeds), groups in job order. Jobs are
 * grouped by a number made of their values' indices (a job of a block without an axis takes
 * the index of the fixed value's text), radix-sorted, so a million jobs group in O(n); only
 * the rows shown are formatted.
 */
void print_summary(const Sweep *sw, const Summary *s, const char *path) {
    long n = sw->n_jobs;
    int width[SWEEP_MAX_AXES], fixed_idx[SWEEP_MAX_AXES], radix[SWEEP_MAX_AXES];
    uint64_t span = 1;
    for (int a = 0; a < sw->n_axes; a++) {
        const Axis *ax = &sw->axes[a];
        width[a] = sweep_axis_width(sw, a);
        fixed_idx[a] = ax->n;
        for (int i = 0; ax->fixed && i < ax->n; i++)
            if (!strcmp(ax->values[i], ax->fixed)) fixed_idx[a] = i;
        radix[a] = strcmp(ax->key, "seed") ? ax->n + 1 : 1;
        if (span > UINT64_MAX / (uint64_t)radix[a]) {
            printf("\n(no summary table: too many combinations of the grid's values)\nresults: %s\n", path);
            return;
        }
        span *= (uint64_t)radix[a];
    }
    size_t nn = (size_t)(n > 0 ? n : 1);
    Coded *c = malloc(nn * sizeof(Coded)), *tmp = malloc(nn * sizeof(Coded));
    long *first = malloc(nn * sizeof(long)), order[40];
    if (!c || !tmp || !first) goto done;
    for (long id = 0; id < n; id++) {
        int idx[SWEEP_MAX_AXES];
        sweep_job_value_index(sw, id, idx);
        uint64_t code = 0;
        for (int a = 0; a < sw->n_axes; a++)
            code = code * (uint64_t)radix[a] + (uint64_t)(radix[a] == 1 ? 0 : idx[a] < 0 ? fixed_idx[a] : idx[a]);
        c[id].code = code, c[id].id = id;
    }
    if (coded_sort(c, tmp, n, span)) goto done; /* ids ascending within a group */
    /* groups: runs of equal codes; first[id] = position in c of the group whose lowest job is id, or -1 */
    long n_groups = 0;
    for (long id = 0; id < n; id++) first[id] = -1;
    for (long i = 0; i < n; i++)
        if (i == 0 || c[i].code != c[i - 1].code) first[c[i].id] = i, n_groups++;
    /* the groups shown, ordered by their first job */
    long shown = 0;
    for (long id = 0; id < n && shown < 40; id++)
        if (first[id] >= 0) order[shown++] = first[id];
    printf("\n");
    for (int a = 0; a < sw->n_axes; a++)
        if (strcmp(sw->axes[a].key, "seed")) printf("%-*s ", width[a], sw->axes[a].key);
    printf("%5s %5s  %-17s %9s\n", "jobs", "ok", "test_acc mean+-sd", "sec/job");
    /* sec/job is over the jobs that ran */
    for (long gi = 0; gi < shown; gi++) {
        long st = order[gi], en = st;
        while (en < n && c[en].code == c[st].code) en++;
        double sum = 0, sec = 0;
        int ok = 0, ran = 0;
        for (long i = st; i < en; i++) {
            long id = c[i].id;
            if (s->status[id] != STATUS_PENDING && isfinite(s->sec[id])) sec += s->sec[id], ran++;
            if (s->status[id] != STATUS_OK) continue;
            ok++, sum += s->acc[id];
        }
        double mean = ok ? sum / ok : NAN, ss = 0;
        for (long i = st; i < en; i++)
            if (s->status[c[i].id] == STATUS_OK) ss += (s->acc[c[i].id] - mean) * (s->acc[c[i].id] - mean);
        const char *vals[SWEEP_MAX_AXES];
        sweep_job_values(sw, c[st].id, vals);
        for (int a = 0; a < sw->n_axes; a++)
            if (strcmp(sw->axes[a].key, "seed")) printf("%-*s ", width[a], vals[a]);
        printf("%5ld %5d  %7.4f", en - st, ok, mean);
        if (ok >= 2) printf(" +- %-7.4f", sqrt(ss / (ok - 1)));
        else printf("    %-7s", "");
        printf(" %9.2f\n", ran ? sec / ran : NAN);
    }
    if (n_groups > shown) printf("... %ld more groups\n", n_groups - shown);
    printf("sd: sample standard deviation (n - 1) over the ok jobs of a row; none shown below 2\n");
    printf("results: %s\n", path);
done:
    free(c), free(tmp), free(first);
}

int coordinator_status(const char *path, char *err, size_t errlen) {
    Sweep sw;
    Summary s;
    if (results_read_summary(path, &sw, &s.status, &s.acc, &s.sec, err, errlen)) return -1;
    long n = sw.n_jobs, count[STATUS_CANCELLED + 1] = {0};
    for (long id = 0; id < n; id++)
        if (s.status[id] >= 0) count[s.status[id]]++;
    printf("%s: sweep '%s', %ld jobs: %ld ok, %ld diverged, %ld failed, %ld timeout, %ld pending%s\n", path,
           sw.name, n, count[STATUS_OK], count[STATUS_DIVERGED], count[STATUS_FAILED], count[STATUS_TIMEOUT],
           count[STATUS_PENDING], count[STATUS_PENDING] ? "" : " (complete)");
    print_summary(&sw, &s, path);
    free(s.status), free(s.acc), free(s.sec);
    sweep_free(&sw);
    return 0;
}
