/* daemon.c — tabby-node's core (node.h): the datastore, the syncer and the IPAM context it
 * opens for the parts, and the one poll loop that drives them.
 *
 * A turn of the loop: read what the datastore has for us (the syncer tells each part's
 * consumer what changed), let every part do what is due, give free memory back once
 * things are quiet, then wait — for a signal, the datastore's watch, a part's descriptor,
 * or the earliest time a part asked for. Parts other than the early ones do nothing until
 * the datastore has been read whole, so that none ever acts on an empty cluster; after
 * that, when the datastore goes away, each keeps what it programmed (fail-static).
 *
 * Start: signals and the early parts (the pid file, the HTTP server) first, so that a node
 * says what it is doing from its first moment; then, for a sqlite datastore whose file is
 * missing on a node that holds programmed state, a wait for the file (see
 * wait_for_store_file); then the datastore and the other parts, in the table's order.
 */
#include <assert.h>
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

#include "tabby/log.h"
#include "node.h"

void node_init(struct node *n)
{
    memset(n, 0, sizeof(*n));
    n->parts = node_parts;
    n->n_parts = node_n_parts;
    n->sigfd = -1;
    n->trim_at = -1;
}

/* ---- signals -------------------------------------------------------------------------------- */

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

/* ---- the loop --------------------------------------------------------------------------- */

/* Whether part i runs now: early parts always, the others once the datastore was read. */
/* Whether a part other than i holds the others back (node_part.holds). */
static bool held(const struct node *n, size_t i)
{
    for (size_t j = 0; j < n->n_parts; j++)
        if (j != i && n->state[j] && n->parts[j]->holds && n->parts[j]->holds(n->state[j]))
            return true;
    return false;
}

static bool runs(const struct node *n, size_t i)
{
    return n->state[i] && (n->parts[i]->early ||
                           (n->syncer && tby_syncer_in_sync(n->syncer) && !held(n, i)));
}

/* Does whatever is due: read the datastore, then let every part converge. */
static void step(struct node *n)
{
    struct tby_error err = { 0 };

    if (n->syncer)
        tby_syncer_poll(n->syncer, &err); /* failures are logged and retried by the syncer */
    for (size_t i = 0; i < n->n_parts; i++)
        if (runs(n, i) && n->parts[i]->run)
            n->parts[i]->run(n->state[i], n);
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

/* The earliest time anything wants to run. A part that does not run yet (the datastore
 * not read) has no say: its wish would only spin the loop. */
static int next_timeout(const struct node *n)
{
    int t = node_ms_until(n->trim_at);

    if (n->syncer)
        t = node_min_timeout(t, tby_syncer_timeout_ms(n->syncer));
    for (size_t i = 0; i < n->n_parts; i++)
        if (runs(n, i) && n->parts[i]->timeout_ms)
            t = node_min_timeout(t, n->parts[i]->timeout_ms(n->state[i]));
    return t;
}

/* Waits for signals, the datastore and the parts' descriptors, at most until something
 * wants to run (and at most limit_ms, -1: no limit); then handles what arrived. */
static void wait_once(struct node *n, int limit_ms)
{
    struct pollfd fds[2 + NODE_PARTS_MAX];
    size_t part_of[2 + NODE_PARTS_MAX];
    nfds_t nfds = 0;

    fds[nfds++] = (struct pollfd){ .fd = n->sigfd, .events = POLLIN };
    fds[nfds++] = (struct pollfd){ .fd = n->syncer ? tby_syncer_fd(n->syncer) : -1,
                                   .events = POLLIN };
    for (size_t i = 0; i < n->n_parts; i++) {
        if (!n->state[i] || !n->parts[i]->fd)
            continue;
        part_of[nfds] = i;
        fds[nfds++] = (struct pollfd){ .fd = n->parts[i]->fd(n->state[i]), .events = POLLIN };
    }
    if (poll(fds, nfds, node_min_timeout(next_timeout(n), limit_ms)) < 0) {
        /* Only a broken call (a bad descriptor or argument) stops the node; anything
         * else (EINTR, ENOMEM, a tracer's restart code leaking out) is tried again on
         * the next turn: the daemon runs for months. */
        if (errno == EBADF || errno == EFAULT || errno == EINVAL) {
            tby_log(TBY_LOG_ERROR, "node", "poll failed error=\"%s\"", strerror(errno));
            n->stopping = true;
        } else if (errno != EINTR) {
            tby_log(TBY_LOG_WARNING, "node", "poll failed, trying again error=\"%s\"",
                    strerror(errno));
        }
        return;
    }
    if (fds[0].revents & POLLIN)
        on_signal(n);
    for (nfds_t k = 2; k < nfds; k++) {
        const struct node_part *p = n->parts[part_of[k]];

        if ((fds[k].revents & POLLIN) && p->input)
            p->input(n->state[part_of[k]]);
    }
}

void node_turn(struct node *n, int limit_ms)
{
    step(n);
    if (n->syncer)
        trim_memory(n);
    wait_once(n, limit_ms);
}

int node_run(struct node *n)
{
    while (!n->stopping)
        node_turn(n, -1);
    tby_log(TBY_LOG_INFO, "node", "stopped node=%s (kernel state left in place)", n->name);
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

/* Whether this network namespace holds what an earlier run programmed. */
static bool holds_state(const struct node *n)
{
    for (size_t i = 0; i < n->n_parts; i++)
        if (n->parts[i]->holds_state && n->parts[i]->holds_state())
            return true;
    return false;
}

/* sqlite creates an empty database where a file is missing. For a node that already
 * programmed the kernel, a file moved away (a volume not mounted yet, a restore under
 * way) would then be an empty cluster: every rule and route removed, and the real file,
 * once back, never seen (the open one is another). Such a node waits for the file
 * instead, alive and not ready, its kernel state untouched, the early parts running; a
 * fresh node lets sqlite create the file. */
static void wait_for_store_file(struct node *n)
{
    const char *path = missing_store_file(n->cfg.v[NODE_STORE]);
    struct node_backoff backoff = { .first_ms = 100, .max_ms = 5000 };
    int64_t check_at;

    if (!path || !holds_state(n))
        return;
    tby_log(TBY_LOG_WARNING, "node", "datastore file missing, waiting for it (kernel state "
            "left in place) path=%s", path);
    check_at = node_now_ms() + node_backoff_next(&backoff);
    while (!n->stopping) {
        node_turn(n, node_ms_until(check_at));
        if (n->stopping || node_now_ms() < check_at)
            continue;
        if (!missing_store_file(n->cfg.v[NODE_STORE])) {
            tby_log(TBY_LOG_INFO, "node", "datastore file back path=%s", path);
            return;
        }
        check_at = node_now_ms() + node_backoff_next(&backoff);
    }
}

/* ---- start and stop ----------------------------------------------------------------------- */

/* The early parts, or the others (those that dump only, in --dump mode), in table order;
 * each one's consumer goes to the syncer. */
static int start_parts(struct node *n, bool early, struct tby_error *err)
{
    for (size_t i = 0; i < n->n_parts; i++) {
        const struct node_part *p = n->parts[i];
        struct tby_syncer_consumer c;
        int r;

        if (p->early != early || (n->cfg.dump && !p->dump))
            continue;
        assert(!p->early || !p->consumer); /* no syncer yet */
        r = p->start(n, &n->state[i], err);
        if (r < 0)
            return r;
        if (!n->state[i] || !p->consumer)
            continue;
        c = p->consumer(n->state[i]);
        if (tby_syncer_add_consumer(n->syncer, &c) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

int node_start(struct node *n, struct tby_error *err)
{
    const struct node_config *c = &n->cfg;
    int r;

    assert(n->n_parts <= NODE_PARTS_MAX);
    n->name = c->v[NODE_NODENAME];
    tby_log(c->dump ? TBY_LOG_DEBUG : TBY_LOG_INFO, "node", "starting node=%s store=%s "
            "backend=%s ip=%s ip6=%s version=%s", n->name, c->v[NODE_STORE],
            node_backend_name(c->backend), c->v[NODE_IP], c->v[NODE_IP6], PACKAGE_VERSION);
    if (!c->dump) {
        if ((n->sigfd = signals_fd()) < 0)
            return tby_error_set(err, -errno, "signalfd: %s", strerror(errno));
        r = start_parts(n, true, err);
        if (r < 0)
            return r;
        wait_for_store_file(n);
        if (n->stopping)
            return 0;
    }
    r = tby_store_open(c->v[NODE_STORE], &n->store, err);
    if (r == 0 && tby_syncer_new(n->store, &n->syncer) < 0)
        r = tby_error_set(err, -ENOMEM, "out of memory");
    if (r == 0 && !c->dump)
        r = tby_ipam_new(n->store, n->name, &n->ipam, err);
    if (r == 0)
        r = start_parts(n, false, err);
    return r;
}

int node_dump(struct node *n, FILE *out, struct tby_error *err)
{
    int r = tby_syncer_poll(n->syncer, err);

    for (size_t i = 0; r == 0 && i < n->n_parts; i++)
        if (n->state[i] && n->parts[i]->dump)
            r = n->parts[i]->dump(n->state[i], n, out, err);
    return r;
}

/* Kernel state (nft table, routes, VXLAN device, BIRD's configuration) stays, so a
 * restart converges by difference. */
void node_stop(struct node *n)
{
    for (size_t i = n->n_parts; i-- > 0;) {
        if (n->state[i])
            n->parts[i]->stop(n->state[i]);
        n->state[i] = NULL;
    }
    if (n->sigfd >= 0)
        close(n->sigfd);
    n->sigfd = -1;
    tby_syncer_free(n->syncer);
    tby_ipam_free(n->ipam);
    tby_store_close(n->store);
    n->syncer = NULL;
    n->ipam = NULL;
    n->store = NULL;
}

int node_cleanup(struct tby_error *err)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < node_n_parts; i++)
        if (node_parts[i]->cleanup)
            r = node_parts[i]->cleanup(err);
    return r;
}
