/* tabby-node.c — the per-node daemon, calico-node's counterpart. One poll loop: the
 * datastore syncer keeps a copy of the cluster and tells every part what changed; each
 * part converges its piece of the kernel by difference (policy: table inet tabby; routes:
 * workload and VXLAN routes; bgp: BIRD's configuration; register: this node's Node;
 * housekeeping: IPAM upkeep), and the HTTP server answers health and metrics in between.
 * Everything it programmed stays when it stops, crashes, or loses the datastore. */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/store.h"
#include "node.h"

/* ---- where it runs ---------------------------------------------------------------------- */

/* The inode of the kernel's first network namespace (PROC_NET_INIT_INO): fixed, so it
 * identifies the host's namespace even where /proc/1 cannot be read. */
#define INIT_NET_INO 0xEFFFFFF9u

/* Whether this process is in the host's network namespace: the kernel's first one, or
 * PID 1's. */
static bool in_root_netns(void)
{
    struct stat self, init;

    if (stat("/proc/self/ns/net", &self) < 0)
        return true; /* cannot tell: assume the worst */
    if (self.st_ino == INIT_NET_INO)
        return true;
    return stat("/proc/1/ns/net", &init) == 0 && self.st_ino == init.st_ino &&
           self.st_dev == init.st_dev;
}

static int signals_fd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* ---- the pid file `tabbyctl node status` reads -------------------------------------------- */

static void pid_file_write(const char *path)
{
    _cleanup_free_ char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    FILE *f;

    if (slash && slash != dir) {
        *slash = '\0';
        mkdir(dir, 0755); /* one level, as /run/tabby; an error shows on fopen */
    }
    f = fopen(path, "we");
    if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0)
        tby_log(TBY_LOG_WARNING, "node", "pid file not written path=%s error=\"%s\"", path,
                strerror(errno));
}

/* Removed only while it still names this process (a newer instance may own it). */
static void pid_file_remove(const char *path)
{
    FILE *f = fopen(path, "re");
    long pid = 0;

    if (!f)
        return;
    if (fscanf(f, "%ld", &pid) == 1 && pid == (long)getpid())
        unlink(path);
    fclose(f);
}

/* ---- the loop --------------------------------------------------------------------------- */

/* Does whatever is due: read the datastore, then let every part converge. */
static void step(struct node *n)
{
    struct tby_error err = { 0 };
    bool online;

    tby_syncer_poll(n->syncer, &err); /* failures are logged and retried by the syncer */
    if (!tby_syncer_in_sync(n->syncer))
        return;
    online = tby_syncer_online(n->syncer);
    node_register_run(n->reg, n->syncer);
    node_policy_sync(n->policy, n->syncer);
    if (n->routes)
        node_routes_sync(n->routes, n->syncer);
    if (n->bgp)
        node_bgp_sync(n->bgp, online);
    node_housekeeping_run(n->housekeeping, online);
}

/* A burst of changes (the first read above all: every value read, decoded and compiled at
 * once) leaves free memory scattered through the heap, which glibc keeps. Once things are
 * quiet for a while it goes back to the kernel, so that a node's resident memory is what
 * it holds, not what it once needed. */
#define TRIM_QUIET_MS 2000

static void trim_memory(struct node *n)
{
    const struct tby_syncer_stats *ss = tby_syncer_stats(n->syncer);
    uint64_t mark = ss->reads + ss->events;
    int64_t now = node_now_ms();

    if (mark != n->trim_mark) {
        n->trim_mark = mark;
        n->trim_at = now + TRIM_QUIET_MS;
    } else if (n->trim_at >= 0 && now >= n->trim_at) {
        n->trim_at = -1;
        tby_store_release_memory(n->store); /* sqlite's page cache: 2 MB after the first read */
        malloc_trim(0);
    }
}

static int next_timeout(const struct node *n)
{
    int t = node_ms_until(n->trim_at);

    t = node_min_timeout(t, tby_syncer_timeout_ms(n->syncer));

    t = node_min_timeout(t, node_policy_timeout_ms(n->policy));
    t = node_min_timeout(t, node_register_timeout_ms(n->reg));
    t = node_min_timeout(t, node_housekeeping_timeout_ms(n->housekeeping));
    if (n->routes)
        t = node_min_timeout(t, node_routes_timeout_ms(n->routes));
    if (n->bgp)
        t = node_min_timeout(t, node_bgp_timeout_ms(n->bgp));
    if (n->http)
        t = node_min_timeout(t, node_http_timeout_ms(n->http));
    return t;
}

static void on_signal(struct node *n)
{
    struct signalfd_siginfo si;

    if (read(n->sigfd, &si, sizeof(si)) != sizeof(si))
        return;
    if (si.ssi_signo == SIGHUP) {
        tby_log(TBY_LOG_INFO, "node", "SIGHUP ignored: settings are read at start");
        return;
    }
    tby_log(TBY_LOG_INFO, "node", "stopping signal=%s", strsignal((int)si.ssi_signo));
    n->stopping = true;
}

/* Waits for the datastore, the kernel, HTTP clients and signals, at most until a part
 * wants to run; then handles what arrived. */
static void wait_once(struct node *n)
{
    enum { SIG, STORE, NFT, ROUTES, HTTP, N_FDS };
    struct pollfd fds[N_FDS] = {
        [SIG] = { .fd = n->sigfd, .events = POLLIN },
        [STORE] = { .fd = tby_syncer_fd(n->syncer), .events = POLLIN },
        [NFT] = { .fd = node_policy_monitor_fd(n->policy), .events = POLLIN },
        [ROUTES] = { .fd = n->routes ? node_routes_event_fd(n->routes) : -1, .events = POLLIN },
        [HTTP] = { .fd = n->http ? node_http_fd(n->http) : -1, .events = POLLIN },
    };

    if (poll(fds, N_FDS, next_timeout(n)) < 0 && errno != EINTR) {
        tby_log(TBY_LOG_ERROR, "node", "poll failed error=\"%s\"", strerror(errno));
        n->stopping = true;
        return;
    }
    if (fds[SIG].revents & POLLIN)
        on_signal(n);
    if (fds[NFT].revents & POLLIN)
        node_policy_monitor(n->policy);
    if (fds[ROUTES].revents & POLLIN)
        node_routes_events(n->routes);
    if (n->http)
        node_http_run(n->http); /* its timeouts too, not only input */
}

static int run(struct node *n)
{
    while (!n->stopping) {
        step(n);
        trim_memory(n);
        wait_once(n);
    }
    tby_log(TBY_LOG_INFO, "node", "stopped node=%s (kernel state left in place)", n->name);
    return 0;
}

/* ---- one-shot modes ------------------------------------------------------------------------ */

/* --dump: one read of the datastore, the table as nft text on stdout. */
static int dump(struct node *n)
{
    struct tby_error err = { 0 };

    if (tby_syncer_poll(n->syncer, &err) < 0) {
        fprintf(stderr, "tabby-node: %s\n", tby_error_str(&err));
        return 1;
    }
    node_policy_sync(n->policy, n->syncer); /* no dataplane: computes natOutgoing only */
    return tby_rs_render(tby_calc_ruleset(node_policy_calc(n->policy)), stdout) < 0 ? 1 : 0;
}

static int cleanup(void)
{
    _cleanup_(tby_nft_closep) struct tby_nft *nft = NULL;
    struct tby_error err = { 0 };

    if (tby_nft_open(&nft, &err) < 0 || tby_nft_delete_table(nft, &err) < 0) {
        fprintf(stderr, "tabby-node: %s\n", tby_error_str(&err));
        return 1;
    }
    tby_log(TBY_LOG_INFO, "node", "table inet tabby deleted");
    return 0;
}

/* ---- a datastore file that went away ------------------------------------------------------- */

/* The path of a sqlite datastore whose file is not there, or NULL. */
static const char *missing_store_file(const char *uri)
{
    const char *path = tby_store_local_file(uri);
    struct stat sb;

    return path && stat(path, &sb) < 0 && errno == ENOENT ? path : NULL;
}

/* Whether this network namespace holds what a tabby-node programmed (table inet tabby,
 * which every run makes first). */
static bool holds_state(void)
{
    _cleanup_(tby_nft_closep) struct tby_nft *nft = NULL;
    struct tby_error err = { 0 };
    bool exists = false;

    if (tby_nft_open(&nft, &err) < 0 || tby_nft_table_exists(nft, &exists, &err) < 0)
        return true; /* cannot tell: assume there is something to keep */
    return exists;
}

/* sqlite creates an empty database where a file is missing. For a node that already
 * programmed the kernel, a file moved away (a volume not mounted yet, a restore under
 * way) would then be an empty cluster: every rule and route removed, and the real file,
 * once back, never seen (the open one is another). Such a node waits for the file
 * instead, alive and not ready, its kernel state untouched; a fresh node (no table yet)
 * lets sqlite create the file. */
static void wait_for_store_file(struct node *n)
{
    const char *path = missing_store_file(n->cfg.v[NODE_STORE]);
    struct node_backoff backoff = { .first_ms = 100, .max_ms = 5000 };
    int64_t check_at;

    if (!path || !holds_state())
        return;
    tby_log(TBY_LOG_WARNING, "node", "datastore file missing, waiting for it (kernel state "
            "left in place) path=%s", path);
    check_at = node_now_ms() + node_backoff_next(&backoff);
    while (!n->stopping) {
        struct pollfd fds[2] = {
            { .fd = n->sigfd, .events = POLLIN },
            { .fd = n->http ? node_http_fd(n->http) : -1, .events = POLLIN },
        };
        int t = node_ms_until(check_at);

        if (n->http)
            t = node_min_timeout(t, node_http_timeout_ms(n->http));
        if (poll(fds, 2, t) < 0 && errno != EINTR)
            break; /* the loop proper will say it */
        if (fds[0].revents & POLLIN)
            on_signal(n);
        if (n->http)
            node_http_run(n->http);
        if (node_now_ms() < check_at)
            continue;
        if (!missing_store_file(n->cfg.v[NODE_STORE])) {
            tby_log(TBY_LOG_INFO, "node", "datastore file back path=%s", path);
            return;
        }
        check_at = node_now_ms() + node_backoff_next(&backoff);
    }
}

/* ---- start and stop ----------------------------------------------------------------------- */

static int add_consumer(struct node *n, struct tby_syncer_consumer c, struct tby_error *err)
{
    return tby_syncer_add_consumer(n->syncer, &c) < 0 ? tby_error_set(err, -ENOMEM,
                                                                      "out of memory")
                                                      : 0;
}

/* The parts that program the kernel and the datastore (not in --dump mode). */
static int start_parts(struct node *n, struct tby_error *err)
{
    const struct node_config *c = &n->cfg;
    int r = tby_ipam_new(n->store, n->name, &n->ipam, err);

    if (r == 0 && c->backend != NODE_BACKEND_NONE)
        r = node_routes_new(n->name, c->backend == NODE_BACKEND_BIRD, c->resync_s, &n->routes,
                            err);
    if (r == 0 && c->backend == NODE_BACKEND_BIRD)
        r = node_bgp_new(n->store, c, &n->bgp, err);
    if (r == 0)
        r = node_register_new(n->store, n->ipam, c, &n->reg, err);
    if (r == 0 && node_housekeeping_new(n->ipam, n->name, c->ipam_gc_interval_s,
                                        &n->housekeeping) < 0)
        r = tby_error_set(err, -ENOMEM, "out of memory");
    if (r == 0 && n->routes)
        r = add_consumer(n, node_routes_consumer(n->routes), err);
    if (r == 0 && n->bgp)
        r = add_consumer(n, node_bgp_consumer(n->bgp), err);
    if (r == 0)
        r = add_consumer(n, node_register_consumer(n->reg), err);
    if (r == 0)
        r = add_consumer(n, node_housekeeping_consumer(n->housekeeping), err);
    return r;
}

/* What answers before anything else starts: signals and the HTTP server. */
static int start_control(struct node *n, struct tby_error *err)
{
    const struct node_config *c = &n->cfg;
    int r = 0;

    if ((n->sigfd = signals_fd()) < 0)
        r = tby_error_set(err, -errno, "signalfd: %s", strerror(errno));
    if (r == 0 && c->health_port)
        r = node_http_start(n, c->v[NODE_HEALTH_HOST], c->health_port, &n->http, err);
    return r;
}

static int start(struct node *n)
{
    const struct node_config *c = &n->cfg;
    struct tby_error err = { 0 };
    int r = 0;

    n->name = c->v[NODE_NODENAME];
    tby_log(c->dump ? TBY_LOG_DEBUG : TBY_LOG_INFO, "node", "starting node=%s store=%s "
            "backend=%s ip=%s ip6=%s version=%s", n->name, c->v[NODE_STORE],
            node_backend_name(c->backend), c->v[NODE_IP], c->v[NODE_IP6], PACKAGE_VERSION);
    if (!c->dump) {
        r = start_control(n, &err);
        if (r == 0 && c->v[NODE_PID_FILE][0])
            pid_file_write(c->v[NODE_PID_FILE]);
        if (r == 0)
            wait_for_store_file(n);
        if (r == 0 && n->stopping)
            return 0;
    }
    if (r == 0)
        r = tby_store_open(c->v[NODE_STORE], &n->store, &err);
    if (r == 0 && tby_syncer_new(n->store, &n->syncer) < 0)
        r = tby_error_set(&err, -ENOMEM, "out of memory");
    if (r == 0)
        r = node_policy_new(n->name, !c->dump, c->resync_s, &n->policy, &err);
    if (r == 0)
        r = add_consumer(n, node_policy_consumer(n->policy), &err);
    if (r == 0 && !c->dump)
        r = start_parts(n, &err);
    if (r < 0) {
        fprintf(stderr, "tabby-node: %s\n", tby_error_str(&err));
        return r;
    }
    return 0;
}

/* Closes sockets and frees memory; kernel state (nft table, routes, VXLAN device, BIRD's
 * configuration) stays, so a restart converges by difference. */
static void stop(struct node *n)
{
    node_http_stop(n->http);
    if (n->sigfd >= 0)
        close(n->sigfd);
    node_housekeeping_free(n->housekeeping);
    node_register_free(n->reg);
    node_bgp_free(n->bgp);
    node_routes_free(n->routes);
    node_policy_free(n->policy);
    tby_syncer_free(n->syncer);
    tby_ipam_free(n->ipam);
    tby_store_close(n->store);
    if (!n->cfg.dump && n->cfg.v[NODE_PID_FILE] && n->cfg.v[NODE_PID_FILE][0])
        pid_file_remove(n->cfg.v[NODE_PID_FILE]);
}

int main(int argc, char **argv)
{
    struct node n = { .sigfd = -1, .trim_at = -1 };
    struct tby_error err = { 0 };
    int rc;

    if (node_config_load(&n.cfg, argc, argv, &err) < 0) {
        fprintf(stderr, "tabby-node: %s\n", tby_error_str(&err));
        node_config_clear(&n.cfg);
        return 2;
    }
    if (n.cfg.help) {
        node_config_usage(stdout);
        node_config_clear(&n.cfg);
        return 0;
    }
    tby_log_set_level(n.cfg.log_level);
    /* Programming the host's own firewall by accident is the one mistake to rule out. */
    if (!n.cfg.dump && !n.cfg.allow_root_netns && in_root_netns()) {
        fprintf(stderr, "tabby-node: refusing to run in the host's network namespace "
                        "(use --allow-root-netns on a real node)\n");
        rc = 2;
    } else if (n.cfg.cleanup) {
        rc = cleanup();
    } else {
        rc = start(&n) < 0 ? 1 : n.cfg.dump ? dump(&n) : run(&n);
        stop(&n);
    }
    node_config_clear(&n.cfg);
    return rc;
}
