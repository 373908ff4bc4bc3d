/* test_ipam_concurrency.c — IPAM under concurrent processes and sudden death, on one
 * sqlite store, with one transaction per change and (the second run) with the ordered
 * single-object writes of a store without multi-key transactions: no address is handed
 * out twice, every allocation is accounted for, and a process killed at any point leaves
 * records the check finds consistent, or names exactly the change cut short — also when
 * four processes allocate at once and are killed one after another. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipam_fixture.h"

#define PROCS 4
#define PER_PROC 500
#define KILL_ROUNDS 12

struct line {
    char handle[64];
    struct tby_ip ip;
};

/* ---- children ------------------------------------------------------------------------ */

static struct tby_ipam *child_ipam(const struct store_fx *f, const char *node,
                                   struct tby_store **store)
{
    struct tby_ipam *ipam = NULL;
    struct tby_error err = { 0 };

    if (fx_open_ipam_store(f->uri, store, &err) < 0 ||
        fx_ipam_on(*store, f->dir, node, &ipam, &err) < 0) {
        fprintf(stderr, "child: %s\n", tby_error_str(&err));
        _exit(2);
    }
    return ipam;
}

static void wait_for_go(int go_fd)
{
    char c;

    /* The parent closes its end when every child is ready: all start at once. */
    while (read(go_fd, &c, 1) > 0)
        ;
    close(go_fd);
}

static void child_alloc(struct tby_ipam *ipam, FILE *out, const char *prefix, int from, int to)
{
    struct tby_error err = { 0 };
    char handle[64];
    struct tby_ip ip;

    for (int j = from; j < to; j++) {
        snprintf(handle, sizeof(handle), "%s-%d", prefix, j);
        if (fx_alloc(ipam, handle, &ip, &err) < 0) {
            fprintf(stderr, "child %s: %s\n", handle, tby_error_str(&err));
            _exit(1);
        }
        fprintf(out, "%s %s\n", handle, fx_ip(&ip));
    }
}

static void child_release_even(struct tby_ipam *ipam, const char *prefix)
{
    struct tby_error err = { 0 };
    char handle[64];
    size_t n;

    for (int j = 0; j < PER_PROC; j += 2) {
        snprintf(handle, sizeof(handle), "%s-%d", prefix, j);
        if (tby_ipam_release_handle(ipam, handle, &n, &err) < 0 || n != 1) {
            fprintf(stderr, "child release %s: %zu %s\n", handle, n, tby_error_str(&err));
            _exit(1);
        }
    }
}

/* Phase 1 allocates PER_PROC addresses; phase 2 releases the even ones and allocates as
 * many again under new handles. */
static void run_child(const struct store_fx *f, int id, int phase, int go_fd)
{
    struct tby_store *store = NULL;
    char node[16], prefix[16], path[160];
    struct tby_ipam *ipam;
    FILE *out;

    snprintf(node, sizeof(node), "node-%d", id % 2);
    snprintf(path, sizeof(path), "%s/out-%d-%d", f->dir, phase, id);
    ipam = child_ipam(f, node, &store);
    out = fopen(path, "w");
    if (!out)
        _exit(2);
    wait_for_go(go_fd);
    snprintf(prefix, sizeof(prefix), "c%d", id);
    if (phase == 1) {
        child_alloc(ipam, out, prefix, 0, PER_PROC);
    } else {
        child_release_even(ipam, prefix);
        snprintf(prefix, sizeof(prefix), "r%d", id);
        child_alloc(ipam, out, prefix, 0, PER_PROC / 2);
    }
    fclose(out);
    tby_ipam_free(ipam);
    tby_store_close(store);
    _exit(0);
}

typedef void (*child_fn)(const struct store_fx *f, int id, int arg, int go_fd);

/* Forks PROCS children running fn, lets them start at once, and requires every one to
 * succeed. */
static void run_together(const struct store_fx *f, child_fn fn, int arg)
{
    pid_t pids[PROCS];
    int go[2];

    assert_int_equal(pipe(go), 0);
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            fn(f, i, arg, go[0]);
        }
    }
    close(go[0]);
    usleep(100 * 1000);
    close(go[1]);
    for (int i = 0; i < PROCS; i++) {
        int status;

        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

static void run_phase(const struct store_fx *f, int phase)
{
    run_together(f, run_child, phase);
}

/* ---- the parent's accounting ------------------------------------------------------------- */

static size_t read_lines(const struct store_fx *f, int phase, struct line *out, size_t max)
{
    char path[160], ip[TBY_IP_STRLEN];
    size_t n = 0;

    for (int i = 0; i < PROCS; i++) {
        FILE *in;

        snprintf(path, sizeof(path), "%s/out-%d-%d", f->dir, phase, i);
        in = fopen(path, "r");
        assert_non_null(in);
        while (n < max && fscanf(in, "%63s %45s", out[n].handle, ip) == 2)
            out[n++].ip = fx_parse_ip(ip);
        fclose(in);
    }
    return n;
}

static int cmp_line_ip(const void *a, const void *b)
{
    return tby_ip_compare(&((const struct line *)a)->ip, &((const struct line *)b)->ip);
}

static void assert_unique(struct line *lines, size_t n)
{
    qsort(lines, n, sizeof(*lines), cmp_line_ip);
    for (size_t i = 1; i < n; i++)
        if (tby_ip_equal(&lines[i - 1].ip, &lines[i].ip))
            fail_msg("%s handed out twice: %s and %s", fx_ip(&lines[i].ip), lines[i - 1].handle,
                     lines[i].handle);
}

/* Every handle holds exactly its address. */
static void assert_handles_hold(struct tby_ipam *ipam, const struct line *lines, size_t n)
{
    struct tby_error err = { 0 };

    for (size_t i = 0; i < n; i++) {
        struct tby_ipam_result res;

        assert_int_equal(tby_ipam_ips_by_handle(ipam, lines[i].handle, &res, &err), 0);
        assert_int_equal(res.n, 1);
        assert_true(tby_ip_equal(&res.items[0].ip, &lines[i].ip));
        tby_ipam_result_clear(&res);
    }
}

/* Every handle holds exactly its address, the totals match and the check is clean. */
static void assert_store_matches(struct store_fx *f, const struct line *lines, size_t n)
{
    struct tby_ipam *ipam = fx_ipam(f, NULL);
    struct tby_error err = { 0 };
    struct tby_ipam_usage u;
    struct tby_ipam_report rep;

    assert_handles_hold(ipam, lines, n);
    assert_int_equal(tby_ipam_usage(ipam, &u, &err), 0);
    assert_int_equal(u.pools[0].in_use, n);
    tby_ipam_usage_clear(&u);
    assert_int_equal(tby_ipam_check(ipam, false, &rep, &err), 0);
    assert_int_equal(rep.n, 0);
    assert_int_equal(rep.n_allocations, n);
    assert_int_equal(rep.n_handles, n);
    tby_ipam_report_clear(&rep);
    tby_ipam_free(ipam);
}

static void test_four_processes_never_hand_out_one_address_twice(void **state)
{
    struct store_fx *f = fx_open();
    struct line *lines = calloc(2 * PROCS * PER_PROC, sizeof(*lines));
    size_t n, n2;

    (void)state;
    assert_non_null(lines);
    fx_pool(f, "p", "10.0.0.0/16", 26, NULL);
    run_phase(f, 1);
    n = read_lines(f, 1, lines, PROCS * PER_PROC);
    assert_int_equal(n, PROCS * PER_PROC);
    assert_unique(lines, n);
    assert_store_matches(f, lines, n);
    /* Release the even half of each process and allocate as many again. */
    run_phase(f, 2);
    n = 0;
    {
        struct line *first = calloc(PROCS * PER_PROC, sizeof(*first));

        assert_non_null(first);
        n2 = read_lines(f, 1, first, PROCS * PER_PROC);
        for (size_t i = 0; i < n2; i++) {
            int j = atoi(strchr(first[i].handle, '-') + 1);

            if (j % 2)
                lines[n++] = first[i];
        }
        free(first);
    }
    n += read_lines(f, 2, lines + n, PROCS * PER_PROC);
    assert_int_equal(n, PROCS * PER_PROC);
    assert_unique(lines, n);
    assert_store_matches(f, lines, n);
    free(lines);
    fx_close(f);
}

/* ---- one node, several processes, one block allowed ----------------------------------------- */

static void run_solo(const struct store_fx *f, int id, int unused, int go_fd)
{
    struct tby_store *store = NULL;
    struct tby_ipam *ipam = child_ipam(f, "solo", &store);
    struct tby_error err = { 0 };
    char handle[32];

    wait_for_go(go_fd);
    for (int j = 0; j < 4; j++) {
        snprintf(handle, sizeof(handle), "s%d-%d", id, j);
        if (fx_alloc(ipam, handle, NULL, &err) < 0) {
            fprintf(stderr, "solo %s: %s\n", handle, tby_error_str(&err));
            _exit(1);
        }
    }
    _exit(0);
}

/* Without the node's claims record two processes could each see no block and each claim
 * one; with it they share the one block the limit allows, and fill it exactly. */
static void test_processes_of_one_node_claim_within_max_blocks_per_host(void **state)
{
    struct store_fx *f = fx_open();
    struct tby_ipam *ipam;
    struct tby_ipam_usage u;
    struct tby_error err = { 0 };

    (void)state;
    fx_pool(f, "p", "10.1.0.0/24", 28, NULL);
    store_fx_apply(f->store, "apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\n"
                   "metadata:\n  name: default\nspec:\n  strictAffinity: true\n"
                   "  maxBlocksPerHost: 1\n");
    run_together(f, run_solo, 0);
    ipam = fx_ipam(f, NULL);
    assert_int_equal(tby_ipam_usage(ipam, &u, &err), 0);
    assert_int_equal(u.n_blocks, 1);
    assert_int_equal(u.blocks[0].in_use, 16);
    tby_ipam_usage_clear(&u);
    tby_ipam_free(ipam);
    fx_close(f);
}

/* ---- a request stays whole when a block changes under it ------------------------------------ */

/* Rewrites the block as it is, again and again: every write changes its revision. */
static void run_toucher(const struct store_fx *f, const char *key, int go_fd)
{
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };

    if (tby_store_open(f->uri, &store, &err) < 0)
        _exit(2);
    wait_for_go(go_fd);
    for (int i = 0; i < 400; i++) {
        struct tby_kv kv;

        if (tby_store_get(store, key, &kv, &err) < 0)
            _exit(3);
        if (tby_store_cas(store, key, kv.mod_rev, kv.value, kv.value_len, NULL, &err) < 0 &&
            err.code != -ECANCELED)
            _exit(4);
        tby_kv_clear(&kv);
        usleep(100);
    }
    tby_store_close(store);
    _exit(0);
}

/* Dual-stack requests whose IPv6 block keeps changing: a commit that wrote the IPv4
 * block first (object by object) gives that address back before trying again, so each
 * request ends with exactly its two addresses and nothing else is left allocated. */
static void test_dual_stack_requests_stay_whole_when_a_block_write_conflicts(void **state)
{
    struct store_fx *f = fx_open();
    struct tby_ipam *ipam = fx_ipam(f, "n1");
    struct tby_error err = { 0 };
    struct tby_ipam_usage u;
    struct tby_ipam_report rep;
    struct tby_ipam_result res;
    char key[128], handle[32];
    int go[2], status;
    pid_t pid;

    (void)state;
    fx_pool(f, "four", "10.0.0.0/24", 26, NULL);
    fx_pool(f, "six", "fd00::/120", 122, NULL);
    /* The first request makes the IPv6 block; it keeps changing from then on. */
    assert_int_equal(tby_ipam_auto_assign(ipam, &(struct tby_ipam_request){
                                              .handle = "d0", .num_v4 = 1, .num_v6 = 1 },
                                          &res, &err), 0);
    snprintf(key, sizeof(key), "/tabby/v1/ipam/blocks/%s-122", fx_ip(&res.items[1].block.ip));
    tby_ipam_result_clear(&res);
    assert_int_equal(pipe(go), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        run_toucher(f, key, go[0]);
    }
    close(go[0]);
    close(go[1]);
    for (int i = 1; i < 60; i++) {
        struct tby_ipam_request req = { .handle = handle, .num_v4 = 1, .num_v6 = 1 };

        snprintf(handle, sizeof(handle), "d%d", i);
        assert_int_equal(tby_ipam_auto_assign(ipam, &req, &res, &err), 0);
        assert_int_equal(res.n, 2);
        tby_ipam_result_clear(&res);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(tby_ipam_usage(ipam, &u, &err), 0);
    assert_int_equal(u.pools[0].in_use + u.pools[1].in_use, 120);
    tby_ipam_usage_clear(&u);
    assert_int_equal(tby_ipam_check(ipam, false, &rep, &err), 0);
    assert_int_equal(rep.n, 0);
    assert_int_equal(rep.n_handles, 60);
    assert_int_equal(rep.n_allocations, 120);
    tby_ipam_report_clear(&rep);
    tby_ipam_free(ipam);
    fx_close(f);
}

/* ---- SIGKILL at random points -------------------------------------------------------------- */

/* Allocates pods' addresses (and now and then releases one) until killed, reporting each
 * completed change on the pipe as "+handle ip" or "-handle": only what was reported is
 * known to the caller, as a runtime knows only the ADDs that answered. */
static void run_victim(const struct store_fx *f, int round, int report_fd)
{
    struct tby_store *store = NULL;
    struct tby_ipam *ipam = child_ipam(f, round % 2 ? "node-a" : "node-b", &store);
    struct tby_error err = { 0 };
    char handle[64], pod[64], line[160];

    for (int j = 0;; j++) {
        struct tby_ipam_request req = { .handle = handle, .num_v4 = 1, .attrs = { "kill", pod } };
        struct tby_ipam_result res;

        snprintf(handle, sizeof(handle), "k%d-%d", round, j);
        snprintf(pod, sizeof(pod), "p%d-%d", round, j);
        if (tby_ipam_auto_assign(ipam, &req, &res, &err) < 0)
            _exit(1);
        snprintf(line, sizeof(line), "+%s %s\n", handle, fx_ip(&res.items[0].ip));
        tby_ipam_result_clear(&res);
        if (write(report_fd, line, strlen(line)) < 0)
            _exit(1);
        if (j % 3 == 2) {
            snprintf(handle, sizeof(handle), "k%d-%d", round, j - 1);
            if (tby_ipam_release_handle(ipam, handle, NULL, &err) < 0)
                _exit(1);
            snprintf(line, sizeof(line), "-%s\n", handle);
            if (write(report_fd, line, strlen(line)) < 0)
                _exit(1);
        }
    }
}

struct entry {
    char handle[64];
    char ip[TBY_IP_STRLEN];
};

struct handle_set {
    struct entry *items;
    size_t n;
};

static bool set_has(const struct handle_set *s, const char *h)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i].handle, h) == 0)
            return true;
    return false;
}

static void set_add(struct handle_set *s, const char *handle, const char *ip)
{
    s->items = realloc(s->items, (s->n + 1) * sizeof(*s->items));
    assert_non_null(s->items);
    snprintf(s->items[s->n].handle, sizeof(s->items[s->n].handle), "%s", handle);
    snprintf(s->items[s->n].ip, sizeof(s->items[s->n].ip), "%s", ip);
    s->n++;
}

static void set_apply(struct handle_set *s, const char *line)
{
    char handle[64], ip[TBY_IP_STRLEN];

    if (line[0] == '+' && sscanf(line + 1, "%63s %45s", handle, ip) == 2) {
        set_add(s, handle, ip);
        return;
    }
    for (size_t i = 0; line[0] == '-' && i < s->n; i++) {
        if (strcmp(s->items[i].handle, line + 1) == 0) {
            memmove(&s->items[i], &s->items[i + 1], (s->n - i - 1) * sizeof(*s->items));
            s->n--;
            return;
        }
    }
    fail_msg("report \"%s\": not an allocation, or a release of nothing reported", line);
}

/* Applies the victim's reports to s; *last_j is the index of the last allocation
 * reported (-1: none) and *last_release whether a release was reported after it. */
static void read_reports(int fd, struct handle_set *s, int *last_j, bool *last_release)
{
    char buf[1 << 16], *save = NULL;
    size_t len = 0;
    ssize_t got;

    *last_j = -1;
    *last_release = false;
    while ((got = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)got;
    buf[len] = '\0';
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        set_apply(s, line);
        *last_release = line[0] == '-';
        if (line[0] == '+')
            *last_j = atoi(strchr(line, '-') + 1);
    }
}

/* The change the victim was making when killed: the allocation after the last one
 * reported, or the release that allocation was followed by (of the one before it, after
 * every third), as run_victim goes. Its handle goes into handle. */
static void in_flight(int round, int last_j, bool last_release, char *handle, size_t size)
{
    int j = last_j >= 0 && last_j % 3 == 2 && !last_release ? last_j - 1 : last_j + 1;

    snprintf(handle, size, "k%d-%d", round, j);
}

/* The WorkloadEndpoints of the pods the victim reported, as the tabby plugin writes them
 * once IPAM has answered. */
static void create_weps(struct store_fx *f, int round, const struct handle_set *live)
{
    size_t size = live->n * 300 + 1, len = 0;
    char *yaml = malloc(size);

    assert_non_null(yaml);
    yaml[0] = '\0';
    for (size_t i = 0; i < live->n; i++) {
        char pod[64];

        snprintf(pod, sizeof(pod), "p%s", strchr(live->items[i].handle, 'k') + 1);
        fx_wep_yaml(yaml + len, size - len, round % 2 ? "node-a" : "node-b", "kill", pod,
                    live->items[i].ip);
        len += strlen(yaml + len);
    }
    if (live->n)
        store_fx_apply(f->store, yaml);
    free(yaml);
}

/* The store's handles of the round, as a set. */
static void stored_handles(struct store_fx *f, int round, struct handle_set *out)
{
    const size_t skip = strlen("/tabby/v1/ipam/handles/");
    struct tby_error err = { 0 };
    struct tby_kv_list kvs;
    char prefix[64];

    snprintf(prefix, sizeof(prefix), "/tabby/v1/ipam/handles/k%d-", round);
    assert_int_equal(tby_store_range(f->store, prefix, &kvs, &err), 0);
    for (size_t i = 0; i < kvs.n; i++)
        set_add(out, kvs.items[i].key + skip, "");
    tby_kv_list_clear(&kvs);
}

/* A problem the change cut short may leave: on any store a leak (allocated, not
 * reported) or an address in use but not allocated (released, not reported); where the
 * change is written object by object also a handle that counts what no block gives it,
 * and an affinity a claim or give-up left unconfirmed. */
static bool may_follow_a_kill(const struct tby_ipam_problem *p, const char *handle,
                              const struct tby_ip *ip)
{
    switch (p->kind) {
    case TBY_IPAM_LEAKED_ADDRESS:
        return p->handle && strcmp(p->handle, handle) == 0;
    case TBY_IPAM_NOT_ALLOCATED:
        return ip && p->has_ip && tby_ip_equal(&p->ip, ip);
    case TBY_IPAM_HANDLE_WITHOUT_ADDRESSES:
    case TBY_IPAM_HANDLE_MISMATCH:
        return fx_single && p->handle && strcmp(p->handle, handle) == 0;
    case TBY_IPAM_AFFINITY_NOT_CONFIRMED:
        return fx_single;
    default:
        return false;
    }
}

/* At most one change is in flight: the check names only what it left (and repairs all
 * of it but a released address still in use), and a second check is clean. */
static size_t in_flight_rounds;

static void assert_only_the_change_in_flight(struct store_fx *f, int round,
                                             const struct handle_set *reported,
                                             const char *flying)
{
    struct tby_ipam *ipam = fx_ipam(f, NULL);
    struct handle_set stored = { 0 };
    struct tby_ipam_report rep;
    struct tby_error err = { 0 };
    struct tby_ip ip, *flying_ip = NULL;
    size_t extra = 0, missing = 0;
    bool released_in_use = false;

    for (size_t i = 0; i < reported->n; i++)
        if (strcmp(reported->items[i].handle, flying) == 0)
            ip = fx_parse_ip(reported->items[i].ip), flying_ip = &ip;
    stored_handles(f, round, &stored);
    for (size_t i = 0; i < stored.n; i++)
        extra += !set_has(reported, stored.items[i].handle);
    for (size_t i = 0; i < reported->n; i++)
        missing += !set_has(&stored, reported->items[i].handle);
    if (extra + missing > 1)
        fail_msg("round %d: %zu handles stored but not reported, %zu reported but not stored",
                 round, extra, missing);
    assert_int_equal(tby_ipam_check(ipam, true, &rep, &err), 0);
    for (size_t i = 0; i < rep.n; i++) {
        if (!may_follow_a_kill(&rep.items[i], flying, flying_ip))
            fail_msg("round %d (%s in flight): %s: %s", round, flying,
                     tby_ipam_problem_name(rep.items[i].kind), rep.items[i].detail);
        released_in_use |= rep.items[i].kind == TBY_IPAM_NOT_ALLOCATED;
    }
    in_flight_rounds += rep.n > 0;
    tby_ipam_report_clear(&rep);
    /* The runtime's DEL, retried, takes the released address from its pod. */
    if (released_in_use) {
        char wep[96];

        snprintf(wep, sizeof(wep), "%s-k8s-p%s-eth0", round % 2 ? "node-a" : "node-b",
                 strchr(flying, 'k') + 1);
        fx_delete_wep(f, "kill", wep);
    }
    assert_int_equal(tby_ipam_check(ipam, false, &rep, &err), 0);
    for (size_t i = 0; i < rep.n; i++)
        fail_msg("round %d, after the repair: %s: %s", round,
                 tby_ipam_problem_name(rep.items[i].kind), rep.items[i].detail);
    tby_ipam_report_clear(&rep);
    free(stored.items);
    tby_ipam_free(ipam);
}

static void kill_one_round(struct store_fx *f, int round, unsigned *seed)
{
    struct handle_set reported = { 0 };
    int report[2], status, last_j;
    bool last_release;
    char flying[64];
    pid_t pid;

    assert_int_equal(pipe(report), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(report[0]);
        run_victim(f, round, report[1]);
    }
    close(report[1]);
    usleep(1000 + (useconds_t)(rand_r(seed) % 40000));
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    read_reports(report[0], &reported, &last_j, &last_release);
    close(report[0]);
    in_flight(round, last_j, last_release, flying, sizeof(flying));
    create_weps(f, round, &reported);
    assert_only_the_change_in_flight(f, round, &reported, flying);
    free(reported.items);
}

static void test_process_killed_during_allocation_leaves_consistent_records(void **state)
{
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    struct store_fx *f;

    (void)state;
    in_flight_rounds = 0;
    f = fx_open();
    print_message("kill seed %u\n", seed);
    fx_pool(f, "p", "10.0.0.0/20", 26, NULL);
    for (int round = 0; round < KILL_ROUNDS; round++)
        kill_one_round(f, round, &seed);
    print_message("%zu of %d kills cut a change short\n", in_flight_rounds,
                  KILL_ROUNDS);
    fx_close(f);
}

/* ---- four processes at once, killed at random ------------------------------------------------ */

#define HERD_KILLS 16
#define HERD_MAX 200

/* One of four allocators: node-0 or node-1 (two processes per node, so claims of one node
 * race too), handles s<slot>g<generation>-<j>, each reported on the pipe once answered;
 * stops after HERD_MAX unless killed first. */
static void run_herd_member(const struct store_fx *f, int slot, int gen, int report_fd)
{
    struct tby_store *store = NULL;
    char node[16], handle[64], line[128];
    struct tby_ipam *ipam;
    struct tby_error err = { 0 };
    struct tby_ip ip;

    snprintf(node, sizeof(node), "node-%d", slot % 2);
    ipam = child_ipam(f, node, &store);
    for (int j = 0; j < HERD_MAX; j++) {
        snprintf(handle, sizeof(handle), "s%dg%d-%d", slot, gen, j);
        if (fx_alloc(ipam, handle, &ip, &err) < 0) {
            fprintf(stderr, "herd %s: %s\n", handle, tby_error_str(&err));
            _exit(1);
        }
        snprintf(line, sizeof(line), "%s %s\n", handle, fx_ip(&ip));
        if (write(report_fd, line, strlen(line)) < 0)
            _exit(1);
    }
    _exit(0);
}

struct herd_member {
    pid_t pid;
    int fd;
    int gen;
};

static void herd_start(const struct store_fx *f, struct herd_member *m, int slot)
{
    int fds[2];

    assert_int_equal(pipe(fds), 0);
    m->pid = fork();
    assert_true(m->pid >= 0);
    if (m->pid == 0) {
        close(fds[0]);
        run_herd_member(f, slot, m->gen, fds[1]);
    }
    close(fds[1]);
    m->fd = fds[0];
}

/* Kills the member (it may have finished already), reads what it reported into lines,
 * and names the allocation it was making when killed in flying[]. */
static void herd_stop(struct herd_member *m, int slot, struct line *lines, size_t *n,
                      char (*flying)[64], size_t *n_flying)
{
    char buf[1 << 14], *save = NULL, ip[TBY_IP_STRLEN];
    size_t len = 0;
    ssize_t got;
    int status, last = -1;

    kill(m->pid, SIGKILL);
    assert_int_equal(waitpid(m->pid, &status, 0), m->pid);
    assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
    while ((got = read(m->fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)got;
    close(m->fd);
    buf[len] = '\0';
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        assert_int_equal(sscanf(l, "%63s %45s", lines[*n].handle, ip), 2);
        lines[(*n)++].ip = fx_parse_ip(ip);
        last = atoi(strchr(l, '-') + 1);
    }
    if (WIFSIGNALED(status))
        snprintf(flying[(*n_flying)++], 64, "s%dg%d-%d", slot, m->gen, last + 1);
    m->gen++;
}

static bool herd_flying(char (*flying)[64], size_t n, const char *handle)
{
    for (size_t i = 0; handle && i < n; i++)
        if (strcmp(flying[i], handle) == 0)
            return true;
    return false;
}

/* Four processes allocate at once while one after another is killed at a random moment
 * and started again: no address is handed out twice, every answered allocation is held by
 * its handle, and the check names nothing but what the killed allocations left. */
static void test_four_processes_killed_at_random_never_hand_out_one_address_twice(void **state)
{
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    struct line *lines = calloc((HERD_KILLS + PROCS) * HERD_MAX, sizeof(*lines));
    char flying[HERD_KILLS + PROCS][64];
    struct herd_member herd[PROCS] = { 0 };
    struct store_fx *f = fx_open();
    struct tby_ipam_report rep;
    struct tby_error err = { 0 };
    struct tby_ipam *ipam;
    size_t n = 0, n_flying = 0;

    (void)state;
    assert_non_null(lines);
    print_message("herd seed %u\n", seed);
    fx_pool(f, "p", "10.0.0.0/19", 26, NULL);
    store_fx_apply(f->store, "apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\n"
                   "metadata:\n  name: default\nspec:\n  maxBlocksPerHost: 100\n");
    for (int i = 0; i < PROCS; i++)
        herd_start(f, &herd[i], i);
    for (int k = 0; k < HERD_KILLS; k++) {
        int slot = (int)(rand_r(&seed) % PROCS);

        usleep(2000 + (useconds_t)(rand_r(&seed) % 30000));
        herd_stop(&herd[slot], slot, lines, &n, flying, &n_flying);
        herd_start(f, &herd[slot], slot);
    }
    for (int i = 0; i < PROCS; i++)
        herd_stop(&herd[i], i, lines, &n, flying, &n_flying);
    print_message("%zu allocations answered, %zu cut short by a kill\n", n, n_flying);
    assert_true(n > 0);
    assert_unique(lines, n);
    ipam = fx_ipam(f, NULL);
    assert_handles_hold(ipam, lines, n);
    assert_int_equal(tby_ipam_check(ipam, true, &rep, &err), 0);
    for (size_t i = 0; i < rep.n; i++) {
        const struct tby_ipam_problem *p = &rep.items[i];

        if (p->kind == TBY_IPAM_NOT_ALLOCATED ||
            !may_follow_a_kill(p, herd_flying(flying, n_flying, p->handle) ? p->handle : "",
                               NULL))
            fail_msg("%s: %s", tby_ipam_problem_name(p->kind), p->detail);
    }
    tby_ipam_report_clear(&rep);
    assert_int_equal(tby_ipam_check(ipam, false, &rep, &err), 0);
    for (size_t i = 0; i < rep.n; i++)
        fail_msg("after the repair: %s: %s", tby_ipam_problem_name(rep.items[i].kind),
                 rep.items[i].detail);
    /* An allocation committed but killed before it answered stays (a runtime's DEL of
     * the pod would release it). */
    assert_in_range(rep.n_allocations, n, n + n_flying);
    tby_ipam_report_clear(&rep);
    tby_ipam_free(ipam);
    free(lines);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_four_processes_never_hand_out_one_address_twice),
        cmocka_unit_test(test_processes_of_one_node_claim_within_max_blocks_per_host),
        cmocka_unit_test(test_dual_stack_requests_stay_whole_when_a_block_write_conflicts),
        cmocka_unit_test(test_process_killed_during_allocation_leaves_consistent_records),
        cmocka_unit_test(test_four_processes_killed_at_random_never_hand_out_one_address_twice),
    };

    return fx_run_both_modes(tests);
}
