/* bgp.c — tabby-node's BIRD, a part (node.h) under backend bird: the BGP driver (gather,
 * render, reload through the control socket) run when its inputs change, and BIRD's
 * session state read now and then for metrics. BIRD itself is started by whoever runs the
 * node; while it is away the driver backs off and the node carries on, degraded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/bgp_driver.h"
#include "tabby/bird.h"
#include "tabby/codec.h"
#include "tabby/ipam.h"
#include "tabby/log.h"
#include "node.h"

#define DEBOUNCE_MS 100
#define STATUS_EVERY_MS 10000
/* A status query must not hold up the loop: BIRD answers `show protocols` at once. */
#define STATUS_TIMEOUT_MS 1000

struct node_bgp_status {
    size_t peers_up, peers;   /* BGP sessions established / configured, from BIRD */
    bool bird_up;             /* BIRD answered the last status query */
    const struct tby_bgp_stats *driver;
};

struct node_bgp {
    char *affinity_prefix;    /* this node's affinity records */
    struct tby_bgp_driver *driver;
    struct tby_bird *status;  /* a second connection, for `show protocols` */
    struct node_trigger trigger;
    int64_t retry_at;         /* -1: none */
    struct node_backoff backoff;
    bool said_unreachable;
    int64_t status_at;
    struct node_bgp_status st;
};

/* The resources it reads. */
static bool bgp_reads(enum tby_kind kind)
{
    return kind == TBY_KIND_BGPCONFIG || kind == TBY_KIND_BGPPEER || kind == TBY_KIND_NODE ||
           kind == TBY_KIND_IPPOOL || kind == TBY_KIND_BGPFILTER;
}

static void bgp_stop(void *state)
{
    struct node_bgp *b = state;

    if (!b)
        return;
    tby_bird_free(b->status);
    tby_bgp_driver_free(b->driver);
    free(b->affinity_prefix);
    free(b);
}

static int bgp_start(struct node *n, void **state, struct tby_error *err)
{
    const struct node_config *cfg = &n->cfg;
    struct tby_bgp_driver_config dc = {
        .node = n->name,
        .bird_socket = cfg->v[NODE_BIRD_SOCKET],
        .bird_config = cfg->v[NODE_BIRD_CONFIG],
        .secrets_dir = cfg->v[NODE_SECRETS_DIR],
        .syncer = n->syncer, /* the cache, never the datastore */
    };
    struct node_bgp *b;
    int r;

    if (cfg->backend != NODE_BACKEND_BIRD)
        return 0;
    b = calloc(1, sizeof(*b));
    if (!b || asprintf(&b->affinity_prefix, TBY_IPAM_AFFINITY_PREFIX "%s/", dc.node) < 0) {
        free(b);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    r = tby_bgp_driver_new(NULL, &dc, &b->driver, err);
    if (r == 0)
        r = tby_bird_new(dc.bird_socket, &b->status, err);
    if (r < 0) {
        bgp_stop(b);
        return r;
    }
    tby_bird_set_timeout(b->status, STATUS_TIMEOUT_MS);
    b->retry_at = -1;
    b->trigger = (struct node_trigger){ .debounce_ms = DEBOUNCE_MS, .reads = bgp_reads };
    b->backoff = (struct node_backoff){ .first_ms = 1000, .max_ms = 30000 };
    b->st.driver = tby_bgp_driver_stats(b->driver);
    *state = b;
    return 0;
}

/* ---- what changed ---------------------------------------------------------------------- */

static struct tby_syncer_consumer bgp_consumer(void *state)
{
    struct node_bgp *b = state;

    /* this node's block affinities: announced as they come and go */
    return node_trigger_consumer(&b->trigger, "bgp", b->affinity_prefix);
}

/* ---- syncing ---------------------------------------------------------------------------- */

static void driver_sync(struct node_bgp *b, int64_t now)
{
    struct tby_error err = { 0 };
    bool reloaded = false;
    int r = tby_bgp_driver_sync(b->driver, (uint64_t)now, &reloaded, &err);

    b->trigger.dirty = false;
    if (r == -EAGAIN) {
        /* BIRD not (yet) there: said once, then quietly retried as the driver says. */
        tby_log(b->said_unreachable ? TBY_LOG_DEBUG : TBY_LOG_WARNING, "bgp",
                "BIRD not reachable, retrying error=\"%s\"", tby_error_str(&err));
        b->said_unreachable = true;
        b->retry_at = (int64_t)tby_bgp_driver_retry_at(b->driver);
        if (b->retry_at <= now)
            b->retry_at = now + 100;
        return;
    }
    if (r < 0) { /* the driver said why */
        b->retry_at = now + node_backoff_next(&b->backoff);
        return;
    }
    if (b->said_unreachable)
        tby_log(TBY_LOG_INFO, "bgp", "BIRD reachable again");
    b->said_unreachable = false;
    b->retry_at = -1;
    node_backoff_reset(&b->backoff);
    if (reloaded)
        b->status_at = now + 1000; /* sessions start: look again soon */
}

/* Counts BGP sessions and established ones from `show protocols`. */
static void read_status(struct node_bgp *b, int64_t now)
{
    struct tby_bird_protocols list = { 0 };
    struct tby_error err = { 0 };

    b->status_at = now + STATUS_EVERY_MS;
    if (tby_bird_ensure(b->status, (uint64_t)now, &err) < 0 ||
        tby_bird_show_protocols(b->status, &list, &err) < 0) {
        b->st.bird_up = false;
        b->st.peers_up = 0;
        return;
    }
    b->st.bird_up = true;
    b->st.peers = b->st.peers_up = 0;
    for (size_t i = 0; i < list.n; i++) {
        if (strcmp(list.items[i].proto, "BGP") != 0)
            continue;
        b->st.peers++;
        b->st.peers_up += strncmp(list.items[i].info, "Established", 11) == 0;
    }
    tby_bird_protocols_clear(&list);
}

/* Renders and reloads BIRD when its inputs changed (or a retry is due), and reads the
 * sessions' state now and then; nothing while the datastore is offline. */
static void bgp_run(void *state, const struct node *n)
{
    struct node_bgp *b = state;
    bool online = tby_syncer_online(n->syncer);
    int64_t now = node_now_ms();
    bool due = node_trigger_due(&b->trigger, now) || (b->retry_at >= 0 && now >= b->retry_at);

    /* Offline nothing new is rendered, as nothing new is planned for routes: BIRD keeps
     * what it has (fail-static) until the cache is current again. */
    if (due && online)
        driver_sync(b, now);
    else if (due && b->trigger.dirty)
        b->trigger.due = now + 1000;
    else if (due)
        b->retry_at = now + 1000;
    if (now >= b->status_at)
        read_status(b, now);
}

static int bgp_timeout_ms(const void *state)
{
    const struct node_bgp *b = state;
    int t = node_ms_until(b->status_at);

    t = node_min_timeout(t, node_trigger_timeout_ms(&b->trigger));
    return node_min_timeout(t, node_ms_until(b->retry_at));
}

/* ---- what it says ----------------------------------------------------------------------- */

static bool bgp_degraded(const void *state, char *why, size_t size)
{
    const struct node_bgp *b = state;

    if (!b->st.bird_up)
        snprintf(why, size, "BIRD not reachable");
    else if (b->st.driver->last_error[0])
        snprintf(why, size, "BGP: %s", b->st.driver->last_error);
    else
        return false;
    return true;
}

static void bgp_metrics(const void *state, struct tby_buf *out)
{
    const struct node_bgp_status *st = &((const struct node_bgp *)state)->st;

    node_gauge(out, "tabby_bird_up", "1 while BIRD answers on its control socket.", st->bird_up);
    tby_buf_printf(out, "# HELP tabby_bgp_peers BGP sessions, established and configured.\n"
               "# TYPE tabby_bgp_peers gauge\ntabby_bgp_peers{state=\"established\"} %zu\n"
               "tabby_bgp_peers{state=\"configured\"} %zu\n", st->peers_up, st->peers);
    node_gauge(out, "tabby_bgp_blocks", "Blocks announced.", (double)st->driver->blocks);
    node_counter(out, "tabby_bgp_syncs_total", "BIRD configurations rendered.",
                 (double)st->driver->syncs);
    node_counter(out, "tabby_bgp_reloads_total", "BIRD reloads.", (double)st->driver->reloads);
    node_counter(out, "tabby_bgp_failures_total", "BIRD configurations not applied.",
                 (double)st->driver->failures);
    node_counter(out, "tabby_bgp_unreachable_total", "Times BIRD could not be reached.",
                 (double)st->driver->unreachable);
}

/* /status: BIRD's sessions as last read, and the driver's last failure (a configuration
 * BIRD refused says why here). */
static int bgp_status(void *state, const struct node *n, json_t *out)
{
    const struct node_bgp_status *st = &((const struct node_bgp *)state)->st;

    (void)n;
    tby_enc_bool(out, "bird_up", st->bird_up);
    tby_enc_int(out, "peers", (int64_t)st->peers);
    tby_enc_int(out, "peers_established", (int64_t)st->peers_up);
    tby_enc_int(out, "reloads", (int64_t)st->driver->reloads);
    tby_enc_string(out, "last_error", st->driver->last_error);
    return 0;
}

const struct node_part node_bgp_part = {
    .name = "bgp",
    .start = bgp_start,
    .stop = bgp_stop,
    .consumer = bgp_consumer,
    .timeout_ms = bgp_timeout_ms,
    .run = bgp_run,
    .degraded = bgp_degraded,
    .metrics = bgp_metrics,
    .status = bgp_status,
};
