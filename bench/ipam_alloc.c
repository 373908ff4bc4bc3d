/* ipam_alloc.c — how fast IPAM allocates on a datastore (sqlite by default, or the one
 * --store names, such as etcd), and how it behaves when a pool runs out.
 *
 *   1. one process: allocations per second, p50 / p99 latency per allocation
 *   2. several processes at once on one store (different nodes), the same figures
 *   Each with what the store was asked per allocation (its counters: reads, commits,
 *   conflicts, bytes written, time in reads and commits, and on sqlite the time waiting
 *   for and holding its write lock). With --runs N both run N times on each store and a
 *   summary gives each figure's range over the runs.
 *   3. a /16 pool of /26 blocks filled by 100 nodes in turn until it is exhausted:
 *      utilisation, and the latency of the first and of the last allocations
 *
 * Each allocation is what a CNI ADD asks: one IPv4 address for a pod handle
 * (k8s-pod-network.<64 hex digits>) with namespace and pod attributes. Goal (issue 4):
 * >= 2,000 allocations/s in one process, p99 under 5 ms.
 *
 * Usage: ipam_alloc [--count N] [--procs P] [--runs N] [--no-fill] [--dir DIR]
 *                   [--store URI]... [--single-object]
 * --store may be given several times (in order; "sqlite" is a fresh sqlite file per
 * phase, the default). With a store's URI every tabby key in that store is deleted before
 * each phase: point it only at a scratch store. --single-object opens IPAM's store connections refusing multi-key
 * transactions, so IPAM writes as on the Kubernetes API (one object at a time, a
 * host-local lock per node in DIR).
 *
 * Phases 1 and 2 put each node's thousands of pods in one node's blocks: they set
 * IPAMConfiguration's maxBlocksPerHost (and strictAffinity, which Calico asks with it) so
 * that Calico's default cap of 20 blocks does not end them.
 */
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/ipam.h"

#define FILL_NODES 100
#define FILL_WINDOW 1000
/* One node's thousands of pods take more than Calico's default 20 blocks. */
#define MANY_BLOCKS "---\napiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\n" \
                    "metadata:\n  name: default\nspec:\n  strictAffinity: true\n" \
                    "  maxBlocksPerHost: 100000\n"

#define MAX_STORES 4
#define MAX_RUNS 20

struct opts {
    long count;
    int procs;
    int runs;
    bool fill;
    bool single;
    char dir[256];
    const char *store;   /* NULL: a fresh sqlite file per phase */
    const char *stores[MAX_STORES];
    int n_stores;
};

/* One phase's figures, for the summary. */
struct figures {
    double rate;
    double p50;
    double p99;
};

static struct figures results[MAX_STORES][2][MAX_RUNS];

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time (user + system) of this process or of its waited-for children: on a busy
 * machine wall-clock rates depend on the neighbours, CPU per allocation does not. */
static double cpu_us(int who)
{
    struct rusage ru;

    getrusage(who, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void die(const char *what, const struct tby_error *err)
{
    fprintf(stderr, "ipam_alloc: %s: %s\n", what, tby_error_str(err));
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double percentile(double *sorted, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);

    return n ? sorted[i] : 0;
}

/* A fresh store holding one pool. */
/* Deletes every tabby key of an external store, so each phase starts empty. */
static int wipe(struct tby_store *store, struct tby_error *err)
{
    struct tby_kv_list kvs;
    int r = tby_store_range(store, "/tabby/", &kvs, err);

    for (size_t i = 0; r == 0 && i < kvs.n; i++)
        r = tby_store_delete(store, kvs.items[i].key, NULL, err);
    tby_kv_list_clear(&kvs);
    return r;
}

static void fresh_store(const struct opts *o, const char *name, const char *cidr,
                        const char *more, char *uri, size_t size)
{
    char yaml[1024], cmd[1024];
    struct tby_store *store = NULL;
    struct tby_resource_list list;
    struct tby_error err = { 0 };

    if (o->store) {
        snprintf(uri, size, "%s", o->store);
    } else {
        snprintf(cmd, sizeof(cmd), "rm -f '%s/%s.db' '%s/%s.db-wal' '%s/%s.db-shm'", o->dir,
                 name, o->dir, name, o->dir, name);
        if (system(cmd) != 0)
            exit(1);
        snprintf(uri, size, "sqlite:%s/%s.db", o->dir, name);
    }
    snprintf(yaml, sizeof(yaml), "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n"
             "  name: bench\nspec:\n  cidr: %s\n  blockSize: 26\n%s", cidr, more);
    if (tby_store_open(uri, &store, &err) < 0 || (o->store && wipe(store, &err) < 0) ||
        tby_resource_load(yaml, strlen(yaml), "bench", &list, &err) < 0 ||
        tby_catalog_write(store, &list, TBY_WRITE_CREATE, NULL, &err) < 0)
        die("creating the pool", &err);
    tby_resource_list_clear(&list);
    tby_store_close(store);
}

/* One pod's allocation; returns its latency in microseconds, or -errno. */
static double alloc_pod(struct tby_ipam *ipam, long id, struct tby_error *err)
{
    char handle[96], pod[32];
    struct tby_ipam_request req = { .handle = handle, .num_v4 = 1,
                                    .attrs = { .namespace = "default", .pod = pod } };
    struct tby_ipam_result res;
    double t0 = now_us();
    int r;

    snprintf(handle, sizeof(handle), "k8s-pod-network.%016lx%016lx%016lx%016lx", id,
             id * 7919, id * 104729, (long)getpid());
    snprintf(pod, sizeof(pod), "pod-%ld", id);
    r = tby_ipam_auto_assign(ipam, &req, &res, err);
    tby_ipam_result_clear(&res);
    return r < 0 ? r : now_us() - t0;
}

/* A node's IPAM on its own connection to uri, as the mode asks. */
static void open_ipam(const struct opts *o, const char *uri, const char *node,
                      struct tby_store **store, struct tby_ipam **ipam)
{
    struct tby_store_options so;
    struct tby_error err = { 0 };
    char lock[sizeof(o->dir) + 64];

    tby_store_options_from_env(&so);
    so.single_object = o->single;
    snprintf(lock, sizeof(lock), "%s/lock-%s", o->dir, node);
    if (tby_store_open_options(uri, &so, store, &err) < 0 ||
        tby_ipam_new(*store, node, ipam, &err) < 0 || tby_ipam_set_lock_file(*ipam, lock) < 0)
        die("opening the store", &err);
}

/* Allocates `count` pods as `node`; writes each latency to lat[], and what the store was
 * asked meanwhile to *stats. */
static void run_allocs(const struct opts *o, const char *uri, const char *node, long first,
                       long count, double *lat, struct tby_store_stats *stats)
{
    struct tby_store *store = NULL;
    struct tby_ipam *ipam = NULL;
    struct tby_error err = { 0 };
    struct tby_store_stats before;

    open_ipam(o, uri, node, &store, &ipam);
    before = tby_store_stats(store);
    for (long i = 0; i < count; i++) {
        lat[i] = alloc_pod(ipam, first + i, &err);
        if (lat[i] < 0)
            die("allocating", &err);
    }
    *stats = tby_store_stats(store);
#define SUB(f) stats->f -= before.f
    SUB(gets), SUB(ranges), SUB(commits), SUB(conflicts), SUB(bytes_written), SUB(read_us),
        SUB(commit_us), SUB(lock_wait_us), SUB(lock_hold_us);
#undef SUB
    tby_ipam_free(ipam);
    tby_store_close(store);
}

static void stats_add(struct tby_store_stats *sum, const struct tby_store_stats *s)
{
    sum->gets += s->gets;
    sum->ranges += s->ranges;
    sum->commits += s->commits;
    sum->conflicts += s->conflicts;
    sum->bytes_written += s->bytes_written;
    sum->read_us += s->read_us;
    sum->commit_us += s->commit_us;
    sum->lock_wait_us += s->lock_wait_us;
    sum->lock_hold_us += s->lock_hold_us;
    if (s->lock_hold_max_us > sum->lock_hold_max_us)
        sum->lock_hold_max_us = s->lock_hold_max_us;
}

static struct figures report(const char *what, double *lat, size_t n, double wall_us,
                             double cpu, const struct tby_store_stats *st)
{
    struct figures f;
    double per = (double)n;

    qsort(lat, n, sizeof(*lat), cmp_double);
    f.rate = (double)n / (wall_us / 1e6);
    f.p50 = percentile(lat, n, 0.50) / 1e3;
    f.p99 = percentile(lat, n, 0.99) / 1e3;
    printf("%-14s %6zu allocations  %6.0f /s  p50 %6.3f ms  p99 %6.3f ms  max %6.3f ms  "
           "cpu %5.3f ms each\n", what, n, f.rate, f.p50, f.p99, lat[n - 1] / 1e3,
           cpu / (double)n / 1e3);
    printf("  store, per allocation: %.2f gets, %.2f ranges, %.2f commits, %.3f conflicts, "
           "%.1f KB written; reads %.3f ms, commits %.3f ms\n", (double)st->gets / per,
           (double)st->ranges / per, (double)st->commits / per, (double)st->conflicts / per,
           (double)st->bytes_written / per / 1024, (double)st->read_us / per / 1e3,
           (double)st->commit_us / per / 1e3);
    if (st->lock_hold_us)
        printf("  write lock, per allocation: waited %.3f ms, held %.3f ms (longest %.3f ms)\n",
               (double)st->lock_wait_us / per / 1e3, (double)st->lock_hold_us / per / 1e3,
               (double)st->lock_hold_max_us / 1e3);
    fflush(stdout);
    return f;
}

static struct figures bench_one(const struct opts *o)
{
    struct tby_store_stats st = { 0 };
    struct figures f;
    char uri[300];
    double *lat = calloc((size_t)o->count, sizeof(*lat));
    double t0, c0;

    fresh_store(o, "one", "10.0.0.0/8", MANY_BLOCKS, uri, sizeof(uri));
    t0 = now_us();
    c0 = cpu_us(RUSAGE_SELF);
    run_allocs(o, uri, "node-0", 0, o->count, lat, &st);
    f = report("1 process", lat, (size_t)o->count, now_us() - t0, cpu_us(RUSAGE_SELF) - c0,
               &st);
    free(lat);
    return f;
}

/* Children write their latencies and the store's counters into shared memory; the
 * parent merges them. */
static struct figures bench_many(const struct opts *o)
{
    long per = o->count / o->procs;
    size_t lat_size = (size_t)(per * o->procs) * sizeof(double);
    size_t size = lat_size + (size_t)o->procs * sizeof(struct tby_store_stats);
    void *shared = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    double *lat = shared;
    struct tby_store_stats *child_st = (void *)((char *)shared + lat_size), st = { 0 };
    struct figures f;
    char uri[300], what[64];
    double t0, c0;
    int status, failed = 0;

    if (shared == MAP_FAILED)
        exit(1);
    fresh_store(o, "many", "10.0.0.0/8", MANY_BLOCKS, uri, sizeof(uri));
    t0 = now_us();
    c0 = cpu_us(RUSAGE_CHILDREN);
    for (int p = 0; p < o->procs; p++) {
        if (fork() == 0) {
            char node[32];

            snprintf(node, sizeof(node), "node-%d", p);
            run_allocs(o, uri, node, (long)p * per, per, lat + p * per, &child_st[p]);
            _exit(0);
        }
    }
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (failed)
        exit(1);
    for (int p = 0; p < o->procs; p++)
        stats_add(&st, &child_st[p]);
    snprintf(what, sizeof(what), "%d processes", o->procs);
    f = report(what, lat, (size_t)(per * o->procs), now_us() - t0,
               cpu_us(RUSAGE_CHILDREN) - c0, &st);
    munmap(shared, size);
    return f;
}

static void range_of(const struct figures *runs, int n, size_t field, double *lo, double *hi)
{
    *lo = *hi = *(const double *)((const char *)&runs[0] + field);
    for (int i = 1; i < n; i++) {
        double v = *(const double *)((const char *)&runs[i] + field);

        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
}

/* Each store's 1 vs P processes over the runs: the lowest and highest of each figure. */
static void summary(const struct opts *o)
{
    printf("\nsummary over %d run%s (lowest - highest):\n", o->runs, o->runs > 1 ? "s" : "");
    for (int s = 0; s < o->n_stores; s++) {
        for (int m = 0; m < 2; m++) {
            double lo[3], hi[3];

            range_of(results[s][m], o->runs, offsetof(struct figures, rate), &lo[0], &hi[0]);
            range_of(results[s][m], o->runs, offsetof(struct figures, p50), &lo[1], &hi[1]);
            range_of(results[s][m], o->runs, offsetof(struct figures, p99), &lo[2], &hi[2]);
            printf("  %-8s %d process%s  %6.0f - %6.0f /s  p50 %6.3f - %6.3f ms  "
                   "p99 %6.3f - %6.3f ms\n", !o->stores[s] ? "sqlite"
                   : strncmp(o->stores[s], "etcd:", 5) == 0 ? "etcd" : o->stores[s],
                   m ? o->procs : 1,
                   m && o->procs > 1 ? "es" : "  ", lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]);
        }
    }
}

/* ---- filling a /16 across 100 nodes ------------------------------------------------------ */

static void window(const char *what, double *lat, size_t n)
{
    double sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += lat[i];
    qsort(lat, n, sizeof(*lat), cmp_double);
    printf("  %-26s mean %6.3f ms  p99 %6.3f ms  max %6.3f ms\n", what, sum / (double)n / 1e3,
           percentile(lat, n, 0.99) / 1e3, lat[n - 1] / 1e3);
}

static void bench_fill(const struct opts *o)
{
    struct tby_ipam *nodes[FILL_NODES];
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    struct tby_ipam_usage u;
    struct tby_store_stats before = { 0 }, last;
    double *lat = calloc(65536 + 1, sizeof(*lat));
    char uri[300], name[32], lock[sizeof(o->dir) + 64];
    long n = 0;
    double t0, l;

    fresh_store(o, "fill", "10.0.0.0/16", "", uri, sizeof(uri));
    if (!lat)
        exit(1);
    for (int i = 0; i < FILL_NODES; i++) {
        snprintf(name, sizeof(name), "node-%d", i);
        snprintf(lock, sizeof(lock), "%s/lock-%s", o->dir, name);
        if (i == 0)
            open_ipam(o, uri, name, &store, &nodes[i]);
        else if (tby_ipam_new(store, name, &nodes[i], &err) < 0 ||
                 tby_ipam_set_lock_file(nodes[i], lock) < 0)
            die("ipam", &err);
    }
    t0 = now_us();
    while ((l = alloc_pod(nodes[n % FILL_NODES], n, &err)) >= 0) {
        lat[n++] = l;
        if (n == 65536 - FILL_WINDOW)
            before = tby_store_stats(store);
    }
    last = tby_store_stats(store);
    if (l != -ENOSPC)
        die("filling", &err);
    printf("fill /16 across %d nodes: %ld allocations in %.1f s, then: %s\n", FILL_NODES, n,
           (now_us() - t0) / 1e6, tby_error_str(&err));
    if (tby_ipam_usage(nodes[0], &u, &err) < 0)
        die("usage", &err);
    printf("  utilisation: %llu of %llu addresses in use (%.2f%%), %zu blocks\n",
           (unsigned long long)u.pools[0].in_use, (unsigned long long)u.pools[0].size,
           100.0 * (double)u.pools[0].in_use / (double)u.pools[0].size, u.n_blocks);
    window("first 1000 allocations:", lat, n < FILL_WINDOW ? (size_t)n : FILL_WINDOW);
    window("last 1000 allocations:", lat + (n > FILL_WINDOW ? n - FILL_WINDOW : 0),
           n < FILL_WINDOW ? (size_t)n : FILL_WINDOW);
    if (n == 65536)
        printf("  the last 1000, per allocation: %.2f gets, %.2f ranges, %.2f commits, "
               "%.3f conflicts\n", (double)(last.gets - before.gets) / FILL_WINDOW,
               (double)(last.ranges - before.ranges) / FILL_WINDOW,
               (double)(last.commits - before.commits) / FILL_WINDOW,
               (double)(last.conflicts - before.conflicts) / FILL_WINDOW);
    tby_ipam_usage_clear(&u);
    for (int i = 0; i < FILL_NODES; i++)
        tby_ipam_free(nodes[i]);
    tby_store_close(store);
    free(lat);
}

static void parse(int argc, char **argv, struct opts *o)
{
    static const struct option options[] = {
        { "count", required_argument, NULL, 'n' },
        { "procs", required_argument, NULL, 'p' },
        { "no-fill", no_argument, NULL, 'F' },
        { "dir", required_argument, NULL, 'd' },
        { "store", required_argument, NULL, 's' },
        { "single-object", no_argument, NULL, 'S' },
        { "runs", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    *o = (struct opts){ .count = 10000, .procs = 4, .runs = 1, .fill = true };
    snprintf(o->dir, sizeof(o->dir), "/tmp");
    while ((opt = getopt_long(argc, argv, "n:p:d:", options, NULL)) != -1) {
        if (opt == 'n')
            o->count = atol(optarg);
        else if (opt == 'p')
            o->procs = atoi(optarg);
        else if (opt == 'F')
            o->fill = false;
        else if (opt == 'd')
            snprintf(o->dir, sizeof(o->dir), "%s", optarg);
        else if (opt == 's' && o->n_stores < MAX_STORES)
            o->stores[o->n_stores++] = strcmp(optarg, "sqlite") == 0 ? NULL : optarg;
        else if (opt == 'r')
            o->runs = atoi(optarg);
        else if (opt == 'S')
            o->single = true;
        else
            exit(2);
    }
    if (o->count < 1 || o->procs < 1 || o->runs < 1 || o->runs > MAX_RUNS)
        exit(2);
    if (o->n_stores == 0)
        o->n_stores = 1; /* stores[0] NULL: sqlite */
}

int main(int argc, char **argv)
{
    struct opts o;
    char dir[sizeof(o.dir) + 32];

    parse(argc, argv, &o);
    if (strlen(o.dir) > sizeof(o.dir) - 32)
        return 2;
    snprintf(dir, sizeof(dir), "%s/tby-bench-ipam-XXXXXX", o.dir);
    if (!mkdtemp(dir))
        return 1;
    memcpy(o.dir, dir, strlen(dir) + 1);
    for (int s = 0; s < o.n_stores; s++) {
        o.store = o.stores[s];
        for (int run = 0; run < o.runs; run++) {
            if (o.store)
                printf("ipam_alloc: store %s", o.store);
            else
                printf("ipam_alloc: sqlite store in %s", o.dir);
            printf(o.runs > 1 ? ", run %d of %d\n" : "\n", run + 1, o.runs);
            results[s][0][run] = bench_one(&o);
            results[s][1][run] = bench_many(&o);
        }
        if (o.fill)
            bench_fill(&o);
    }
    if (o.runs > 1 || o.n_stores > 1)
        summary(&o);
    snprintf(dir, sizeof(dir), "rm -rf '%s'", o.dir);
    return system(dir) == 0 ? 0 : 1;
}
