/* housekeeping.c — IPAM upkeep, a part of tabby-node (node.h): a deleted Node's empty
 * blocks are given up at once, blocks without a node or a pool are collected periodically
 * (every node may do it: each removal is a compare-and-swap), and this node's IPAM usage
 * is counted for the metrics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/log.h"
#include "tabby/strv.h"
#include "node.h"

#define USAGE_EVERY_MS 30000
#define SOON_MS 1000

struct node_ipam_stats {
    bool known;               /* counted at least once */
    size_t blocks;            /* affine to this node */
    uint64_t addresses, in_use;
    uint64_t blocks_released, gc_runs, failures;
};

struct node_housekeeping {
    struct tby_ipam *ipam;
    char *node;
    char *own_prefix;             /* this node's affinity records */
    int interval_ms;              /* 0: no periodic collection */
    struct tby_strv gone;         /* deleted nodes whose blocks are to be released */
    int64_t gone_at, gc_at, usage_at; /* -1: not scheduled */
    struct node_ipam_stats stats;
};

static void housekeeping_stop(void *state)
{
    struct node_housekeeping *h = state;

    if (!h)
        return;
    tby_strv_clear(&h->gone);
    free(h->own_prefix);
    free(h->node);
    free(h);
}

static int housekeeping_start(struct node *n, void **state, struct tby_error *err)
{
    struct node_housekeeping *h = calloc(1, sizeof(*h));

    if (!h || !(h->node = strdup(n->name)) ||
        asprintf(&h->own_prefix, TBY_IPAM_AFFINITY_PREFIX "%s/", n->name) < 0) {
        housekeeping_stop(h);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    h->ipam = n->ipam;
    h->interval_ms = n->cfg.ipam_gc_interval_s * 1000;
    /* The first collection waits an interval: a node starting is busy enough. */
    h->gc_at = h->interval_ms ? node_now_ms() + h->interval_ms : -1;
    h->gone_at = -1;
    h->usage_at = 0;
    *state = h;
    return 0;
}

static void at_most(int64_t *at, int64_t when)
{
    if (*at < 0 || when < *at)
        *at = when;
}

static int on_remove(void *ctx, const struct tby_resource *old)
{
    struct node_housekeeping *h = ctx;

    if (old->info->kind == TBY_KIND_NODE && strcmp(old->meta.name, h->node) != 0 &&
        !tby_strv_contains(&h->gone, old->meta.name)) {
        at_most(&h->gone_at, node_now_ms());
        return tby_strv_push(&h->gone, old->meta.name);
    }
    if (old->info->kind == TBY_KIND_IPPOOL) /* its empty blocks have no pool any more */
        at_most(&h->gc_at, node_now_ms() + SOON_MS);
    return 0;
}

static int on_record(void *ctx, const char *key, const struct tby_kv *kv)
{
    struct node_housekeeping *h = ctx;

    (void)key;
    (void)kv;
    at_most(&h->usage_at, node_now_ms() + SOON_MS);
    return 0;
}

static struct tby_syncer_consumer housekeeping_consumer(void *state)
{
    struct node_housekeeping *h = state;

    return (struct tby_syncer_consumer){ .name = "ipam", .ctx = h, .remove = on_remove,
                                         .record_prefix = h->own_prefix, .record = on_record };
}

/* ---- the work ------------------------------------------------------------------------------ */

static void release_gone(struct node_housekeeping *h, int64_t now)
{
    h->gone_at = -1;
    while (h->gone.n) {
        char *name = h->gone.items[h->gone.n - 1];
        struct tby_error err = { 0 };
        size_t removed = 0;

        if (tby_ipam_release_node(h->ipam, name, &removed, &err) < 0) {
            h->stats.failures++;
            tby_log(TBY_LOG_WARNING, "ipam", "blocks of deleted node not released node=%s "
                    "error=\"%s\"", name, tby_error_str(&err));
            h->gone_at = now + 5 * SOON_MS;
            return;
        }
        h->stats.blocks_released += removed;
        tby_log(TBY_LOG_INFO, "ipam", "node deleted, empty blocks released node=%s blocks=%zu",
                name, removed);
        free(name);
        h->gone.n--;
    }
}

static void collect(struct node_housekeeping *h, int64_t now)
{
    struct tby_error err = { 0 };
    size_t removed = 0;

    h->gc_at = h->interval_ms ? now + h->interval_ms : -1;
    h->stats.gc_runs++;
    if (tby_ipam_gc_blocks(h->ipam, &removed, &err) < 0) {
        h->stats.failures++;
        tby_log(TBY_LOG_WARNING, "ipam", "block collection failed error=\"%s\"",
                tby_error_str(&err));
        return;
    }
    h->stats.blocks_released += removed;
    if (removed)
        tby_log(TBY_LOG_INFO, "ipam", "blocks collected blocks=%zu", removed);
}

static void count_usage(struct node_housekeeping *h, int64_t now)
{
    struct tby_ipam_usage u = { 0 };
    struct tby_error err = { 0 };

    h->usage_at = now + USAGE_EVERY_MS;
    if (tby_ipam_usage(h->ipam, &u, &err) < 0) {
        tby_log(TBY_LOG_DEBUG, "ipam", "usage not counted error=\"%s\"", tby_error_str(&err));
        return;
    }
    h->stats.blocks = 0;
    h->stats.addresses = h->stats.in_use = 0;
    for (size_t i = 0; i < u.n_blocks; i++) {
        if (!u.blocks[i].node || strcmp(u.blocks[i].node, h->node) != 0)
            continue;
        h->stats.blocks++;
        h->stats.addresses += u.blocks[i].size;
        h->stats.in_use += u.blocks[i].in_use;
    }
    h->stats.known = true;
    tby_ipam_usage_clear(&u);
}

/* Releases deleted nodes' empty blocks, collects blocks without a node or pool, and
 * counts this node's IPAM usage, when due. */
static void housekeeping_run(void *state, const struct node *n)
{
    struct node_housekeeping *h = state;
    bool online = tby_syncer_online(n->syncer);
    int64_t now = node_now_ms();

    if (!online) { /* nothing can be read or released: look again later */
        if (h->gone_at >= 0 && now >= h->gone_at)
            h->gone_at = now + SOON_MS;
        if (h->gc_at >= 0 && now >= h->gc_at)
            h->gc_at = now + SOON_MS;
        if (now >= h->usage_at)
            h->usage_at = now + SOON_MS;
        return;
    }
    if (h->gone_at >= 0 && now >= h->gone_at)
        release_gone(h, now);
    if (h->gc_at >= 0 && now >= h->gc_at)
        collect(h, now);
    if (now >= h->usage_at)
        count_usage(h, now);
}

static int housekeeping_timeout_ms(const void *state)
{
    const struct node_housekeeping *h = state;
    int t = node_min_timeout(node_ms_until(h->gc_at), node_ms_until(h->usage_at));

    return node_min_timeout(t, node_ms_until(h->gone_at));
}

static void housekeeping_metrics(const void *state, struct tby_buf *out)
{
    const struct node_ipam_stats *is = &((const struct node_housekeeping *)state)->stats;

    node_gauge(out, "tabby_ipam_blocks", "IPAM blocks affine to this node.", (double)is->blocks);
    node_gauge(out, "tabby_ipam_addresses", "Addresses in this node's blocks.",
               (double)is->addresses);
    node_gauge(out, "tabby_ipam_addresses_in_use", "Allocated addresses in this node's blocks.",
               (double)is->in_use);
    node_counter(out, "tabby_ipam_blocks_released_total",
                 "Empty blocks given up by housekeeping.", (double)is->blocks_released);
    node_counter(out, "tabby_ipam_gc_runs_total", "IPAM block collections.",
                 (double)is->gc_runs);
}

const struct node_part node_housekeeping_part = {
    .name = "housekeeping",
    .start = housekeeping_start,
    .stop = housekeeping_stop,
    .consumer = housekeeping_consumer,
    .timeout_ms = housekeeping_timeout_ms,
    .run = housekeeping_run,
    .metrics = housekeeping_metrics,
};
