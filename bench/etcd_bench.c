/* etcd_bench.c — measures the datastore on etcd the way IPAM and the agents will use it:
 * compare-and-swap increments (one process, then four at once) and how long a change
 * takes to reach a watcher. Keys go under /tabby-bench/<pid>/ and are removed at the end.
 *
 *   etcd_bench URI [SECONDS-PER-PHASE [RUNS]]
 *
 * With RUNS > 1 the compare-and-swap phases run that many times and a summary gives the
 * lowest and highest rate of each (1 process, 4 processes on their own keys, on one).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/store.h"

#define WORKERS 4
#define WATCH_PUTS 1000
#define WATCH_GAP_US 2000
#define MAX_RUNS 20

/* Increments per second of each run: 1 process, 4 on own keys, 4 on one key. */
static double rates[3][MAX_RUNS];

struct samples {
    double *ms;
    size_t n;
    size_t cap;
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int add_sample(struct samples *s, double ms)
{
    if (TBY_GROW(s->ms, s->cap, s->n + 1) < 0)
        return -ENOMEM;
    s->ms[s->n++] = ms;
    return 0;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The p-th percentile (0–100) of the samples, which it sorts. */
static double percentile(struct samples *s, double p)
{
    if (s->n == 0)
        return 0;
    qsort(s->ms, s->n, sizeof(*s->ms), compare_doubles);
    return s->ms[(size_t)((s->n - 1) * p / 100.0 + 0.5)];
}

/* One increment of the counter at `key`: a CAS on the cached revision, re-reading only
 * when another writer got there first. *conflicts counts those re-reads. */
static int increment(struct tby_store *store, const char *key, long *value, int64_t *mod_rev,
                     long *conflicts, struct tby_error *err)
{
    for (;;) {
        char buf[32];
        struct tby_kv kv;
        int r;

        snprintf(buf, sizeof(buf), "%ld", *value + 1);
        r = tby_store_cas(store, key, *mod_rev, buf, strlen(buf), mod_rev, err);
        if (r == 0) {
            (*value)++;
            return 0;
        }
        if (r != -ECANCELED)
            return r;
        (*conflicts)++;
        r = tby_store_get(store, key, &kv, err);
        if (r < 0)
            return r;
        *value = strtol(kv.value, NULL, 10);
        *mod_rev = kv.mod_rev;
        tby_kv_clear(&kv);
    }
}

/* Increments `key` for `seconds`; *count and the latencies of each increment out. */
static int run_increments(const char *uri, const char *key, double seconds, long *count,
                          long *conflicts, struct samples *lat)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    int64_t mod_rev = 0;
    long value = 0;
    double end;
    int r = tby_store_open(uri, &store, &err);

    *count = *conflicts = 0;
    if (r < 0) {
        fprintf(stderr, "etcd_bench: %s\n", tby_error_str(&err));
        return r;
    }
    for (end = now_ms() + seconds * 1000; now_ms() < end && r == 0;) {
        double t = now_ms();

        r = increment(store, key, &value, &mod_rev, conflicts, &err);
        if (r == 0 && lat)
            r = add_sample(lat, now_ms() - t);
        *count += r == 0;
    }
    if (r < 0)
        fprintf(stderr, "etcd_bench: increment %s: %s\n", key, tby_error_str(&err));
    tby_store_close(store);
    return r;
}

static int bench_single(const char *uri, const char *base, double seconds, int run)
{
    struct samples lat = { 0 };
    char key[160];
    long count, conflicts;
    int r;

    snprintf(key, sizeof(key), "%ssingle", base);
    r = run_increments(uri, key, seconds, &count, &conflicts, &lat);
    rates[0][run] = count / seconds;
    if (r == 0)
        printf("%-30s %7.0f increments/s   latency p50 %.2f ms, p99 %.2f ms\n",
               "cas, 1 process:",
               count / seconds, percentile(&lat, 50), percentile(&lat, 99));
    free(lat.ms);
    return r;
}

/* WORKERS processes increment for `seconds`, each its own key or all the same one. */
static int bench_parallel(const char *uri, const char *base, double seconds, bool shared,
                          int run)
{
    int fds[2];
    pid_t pids[WORKERS];
    long total = 0, conflicts = 0, got[2];
    int failed = 0;

    if (pipe(fds) < 0)
        return -errno;
    for (int i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            char key[160];
            long res[2];

            close(fds[0]);
            snprintf(key, sizeof(key), "%s%s%d", base, shared ? "shared" : "own-",
                     shared ? 0 : i);
            if (run_increments(uri, key, seconds, &res[0], &res[1], NULL) < 0)
                _exit(1);
            _exit(write(fds[1], res, sizeof(res)) == sizeof(res) ? 0 : 1);
        }
    }
    close(fds[1]);
    while (read(fds[0], got, sizeof(got)) == sizeof(got)) {
        total += got[0];
        conflicts += got[1];
    }
    close(fds[0]);
    for (int i = 0; i < WORKERS; i++) {
        int status;

        if (pids[i] < 0 || waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            failed = 1;
    }
    rates[shared ? 2 : 1][run] = total / seconds;
    printf("cas, %d processes, %-12s %7.0f increments/s   (%ld conflicts re-read)\n", WORKERS,
           shared ? "one key:" : "own keys:", total / seconds, conflicts);
    return failed ? -EIO : 0;
}

/* The watcher: waits on the watch's fd like a poll loop, and times each event against
 * the monotonic clock reading the writer put in its value. */
static int watch_latencies(struct tby_watch *w, struct samples *lat, struct tby_error *err)
{
    while (lat->n < WATCH_PUTS) {
        struct pollfd pfd = { .fd = tby_watch_fd(w), .events = POLLIN };
        struct tby_event_list events = { 0 };
        int r;

        if (poll(&pfd, 1, 10000) == 0)
            return tby_error_set(err, -ETIMEDOUT, "no event for 10 s");
        r = tby_watch_next(w, &events, 0, err);
        for (size_t i = 0; r == 0 && i < events.n; i++)
            r = add_sample(lat, now_ms() - strtod(events.items[i].kv.value, NULL));
        tby_event_list_clear(&events);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The writer: once `go` becomes readable, puts the monotonic clock into `key`. */
static int put_timestamps(const char *uri, const char *key, int go)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    char c;
    int r = tby_store_open(uri, &store, &err);

    if (read(go, &c, 1) != 1)
        r = tby_error_set(&err, -EPIPE, "the watcher did not start");
    for (int i = 0; i < WATCH_PUTS && r == 0; i++) {
        char buf[48];

        snprintf(buf, sizeof(buf), "%.6f", now_ms());
        r = tby_store_put(store, key, buf, strlen(buf), NULL, &err);
        usleep(WATCH_GAP_US);
    }
    if (r < 0)
        fprintf(stderr, "etcd_bench: put %s: %s\n", key, tby_error_str(&err));
    tby_store_close(store);
    return r;
}

/* The writer is forked before the watch starts its thread, and released by a pipe. */
static int bench_watch(struct tby_store *store, const char *uri, const char *base)
{
    struct samples lat = { 0 };
    struct tby_error err = { 0 };
    struct tby_watch *w = NULL;
    char prefix[160], key[200];
    int go[2], status, r;
    pid_t writer;

    snprintf(prefix, sizeof(prefix), "%swatch/", base);
    snprintf(key, sizeof(key), "%sk", prefix);
    if (pipe(go) < 0)
        return -errno;
    writer = fork();
    if (writer == 0) {
        close(go[1]);
        _exit(put_timestamps(uri, key, go[0]) < 0);
    }
    close(go[0]);
    r = writer < 0 ? -errno : tby_store_watch(store, prefix, 0, &w, &err);
    if (r == 0 && write(go[1], "g", 1) != 1)
        r = tby_error_set(&err, -EPIPE, "the writer is gone");
    close(go[1]);
    if (r == 0)
        r = watch_latencies(w, &lat, &err);
    if (r < 0)
        fprintf(stderr, "etcd_bench: watch: %s\n", tby_error_str(&err));
    if (writer > 0)
        waitpid(writer, &status, 0);
    tby_watch_free(w);
    if (r == 0)
        printf("%-30s %7zu puts (one per %d ms)  latency p50 %.2f ms, p99 %.2f ms\n",
               "watch, put to event seen:", lat.n, WATCH_GAP_US / 1000, percentile(&lat, 50),
               percentile(&lat, 99));
    free(lat.ms);
    return r;
}

static void remove_keys(struct tby_store *store, const char *base)
{
    struct tby_kv_list list = { 0 };
    struct tby_error err = { 0 };

    if (tby_store_range(store, base, &list, &err) < 0)
        return;
    for (size_t i = 0; i < list.n; i++)
        tby_store_delete(store, list.items[i].key, NULL, &err);
    tby_kv_list_clear(&list);
}

static void summary(int runs)
{
    static const char *const what[3] = { "cas, 1 process:", "cas, 4 processes, own keys:",
                                         "cas, 4 processes, one key:" };

    printf("summary over %d runs (lowest - highest):\n", runs);
    for (int p = 0; p < 3; p++) {
        double lo = rates[p][0], hi = rates[p][0];

        for (int i = 1; i < runs; i++) {
            lo = rates[p][i] < lo ? rates[p][i] : lo;
            hi = rates[p][i] > hi ? rates[p][i] : hi;
        }
        printf("  %-30s %7.0f - %7.0f increments/s\n", what[p], lo, hi);
    }
}

int main(int argc, char **argv)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    double seconds = argc > 2 ? atof(argv[2]) : 3;
    int runs = argc > 3 ? atoi(argv[3]) : 1;
    char base[64];
    int r = 0;

    if (argc < 2 || seconds <= 0 || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "usage: etcd_bench URI [SECONDS-PER-PHASE [RUNS]]\n");
        return 2;
    }
    snprintf(base, sizeof(base), "/tabby-bench/%d/", (int)getpid());
    if (tby_store_open(argv[1], &store, &err) < 0) {
        fprintf(stderr, "etcd_bench: %s\n", tby_error_str(&err));
        return 1;
    }
    printf("tabby store bench on %s, %.0f s per phase\n", argv[1], seconds);
    fflush(stdout);
    for (int run = 0; run < runs && r == 0; run++) {
        r = bench_single(argv[1], base, seconds, run);
        if (r == 0)
            r = bench_parallel(argv[1], base, seconds, false, run);
        if (r == 0)
            r = bench_parallel(argv[1], base, seconds, true, run);
    }
    if (r == 0 && runs > 1)
        summary(runs);
    if (r == 0)
        r = bench_watch(store, argv[1], base);
    remove_keys(store, base);
    tby_store_close(store);
    return r < 0 ? 1 : 0;
}
