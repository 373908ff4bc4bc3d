/* housekeeping.c — IPAM upkeep, a part of tabby-node (node.h): a deleted Node's empty
 * blocks are given up at once, blocks without a node or a pool are collected periodically
 * (every node may do it: each removal is a compare-and-swap), and this node's IPAM usage
 * is counted for the metrics.
 *
 * All of it is decided from the syncer's copy of the cluster: the blocks (each decoded
 * once, as it changes, into what upkeep needs of it), the Nodes and the pools. The
 * datastore is read only to act — tby_ipam_retire_block reads the one block it removes,
 * in the compare-and-swap that removes it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/hmap.h"
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

/* What upkeep knows of one block. */
struct block {
    struct tby_hnode node;
    struct tby_ipam_block_info info;
    char key[];
};

struct node_housekeeping {
    struct tby_ipam *ipam;
    char *node;
    int interval_ms;              /* 0: no periodic collection */
    struct tby_hmap blocks;       /* struct block, by key: every block of the cluster */
    struct tby_strv gone;         /* deleted nodes whose blocks are to be released */
    int64_t gone_at, gc_at, usage_at; /* -1: not scheduled */
    struct node_ipam_stats stats;
};

/* ---- the blocks ---------------------------------------------------------------------- */

static const char *block_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct block, node)->key;
}

static void block_free(struct block *b)
{
    tby_ipam_block_info_clear(&b->info);
    free(b);
}

static void blocks_clear(struct tby_hmap *m)
{
    struct tby_hnode *n, *next;

    for (n = tby_hmap_first(m); n; n = next) {
        next = tby_hmap_next(m, n);
        block_free(TBY_CONTAINER_OF(n, struct block, node));
    }
    tby_hmap_destroy(m);
}

static void at_most(int64_t *at, int64_t when)
{
    if (*at < 0 || when < *at)
        *at = when;
}

static bool is_mine(const struct node_housekeeping *h, const struct tby_ipam_block_info *info)
{
    return info->node && strcmp(info->node, h->node) == 0;
}

/* A block changed (kv NULL: it went): what upkeep knows of it follows. A record that does
 * not decode counts as absent (`ipam check` names it), as does one marked deleted. */
static int on_record(void *ctx, const char *key, const struct tby_kv *kv)
{
    struct node_housekeeping *h = ctx;
    struct tby_hnode *n = tby_hmap_find_str(&h->blocks, key, block_key);
    struct block *old = n ? TBY_CONTAINER_OF(n, struct block, node) : NULL;
    struct block *b = NULL;
    bool mine = old && is_mine(h, &old->info);
    size_t len = strlen(key);
    int r = 0;

    if (old) {
        tby_hmap_remove(&h->blocks, &old->node);
        block_free(old);
    }
    if (kv && (b = malloc(sizeof(*b) + len + 1))) {
        memcpy(b->key, key, len + 1);
        r = tby_ipam_block_info_decode(kv, &b->info);
        /* marked deleted (Calico deletes in two steps): gone already */
        if (r == 0 && b->info.deleted)
            r = -EINVAL;
        if (r == 0 && tby_hmap_insert(&h->blocks, &b->node, tby_hash_str(key)) < 0)
            r = -ENOMEM;
        if (r < 0) {
            tby_ipam_block_info_clear(&b->info);
            free(b);
            b = NULL;
        }
    } else if (kv) {
        r = -ENOMEM;
    }
    if (mine || (b && is_mine(h, &b->info)))
        at_most(&h->usage_at, node_now_ms() + SOON_MS);
    return r == -EINVAL ? 0 : r;
}

/* ---- the part ------------------------------------------------------------------------------ */

static void housekeeping_stop(void *state)
{
    struct node_housekeeping *h = state;

    if (!h)
        return;
    blocks_clear(&h->blocks);
    tby_strv_clear(&h->gone);
    free(h->node);
    free(h);
}

static int housekeeping_start(struct node *n, void **state, struct tby_error *err)
{
    struct node_housekeeping *h = calloc(1, sizeof(*h));

    if (!h || !(h->node = strdup(n->name))) {
        free(h);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    tby_hmap_init(&h->blocks);
    h->ipam = n->ipam;
    h->interval_ms = n->cfg.ipam_gc_interval_s * 1000;
    /* The first collection waits an interval: a node starting is busy enough. */
    h->gc_at = h->interval_ms ? node_now_ms() + h->interval_ms : -1;
    h->gone_at = -1;
    h->usage_at = 0;
    *state = h;
    return 0;
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

static struct tby_syncer_consumer housekeeping_consumer(void *state)
{
    struct node_housekeeping *h = state;

    return (struct tby_syncer_consumer){ .name = "ipam", .ctx = h, .remove = on_remove,
                                         .record_prefix = TBY_IPAM_BLOCK_PREFIX,
                                         .record = on_record };
}

/* ---- the work ------------------------------------------------------------------------------ */

/* Gives up one empty block; false (logged, counted) when that failed. A block given up
 * leaves the table at once: until the syncer tells of its deletion, the next collection
 * would read it again for nothing. */
static bool retire(struct node_housekeeping *h, struct block *b, bool forget_claims,
                   const char *why)
{
    const struct tby_ipam_block_info *info = &b->info;
    char cidr[TBY_CIDR_STRLEN];
    struct tby_error err = { 0 };
    bool removed = false;

    tby_cidr_format(&info->cidr, cidr);
    if (tby_ipam_retire_block(h->ipam, &info->cidr, info->node, forget_claims, &removed,
                              &err) < 0) {
        h->stats.failures++;
        tby_log(TBY_LOG_WARNING, "ipam", "empty block not released block=%s node=%s "
                "error=\"%s\"", cidr, info->node ? info->node : "-", tby_error_str(&err));
        return false;
    }
    if (removed) {
        h->stats.blocks_released++;
        tby_log(TBY_LOG_DEBUG, "ipam", "empty block released block=%s node=%s why=%s", cidr,
                info->node ? info->node : "-", why);
        if (is_mine(h, info))
            at_most(&h->usage_at, node_now_ms());
        tby_hmap_remove(&h->blocks, &b->node);
        block_free(b);
    }
    return true;
}

/* The empty blocks of a deleted node; false when one could not be released. */
static bool release_node(struct node_housekeeping *h, const char *name, size_t *released)
{
    size_t blocks = 0, empty = 0, done = 0;
    uint64_t before = h->stats.blocks_released;
    bool ok = true;

    for (struct tby_hnode *n = tby_hmap_first(&h->blocks); n; n = tby_hmap_next(&h->blocks, n)) {
        const struct block *b = TBY_CONTAINER_OF(n, struct block, node);

        if (b->info.node && strcmp(b->info.node, name) == 0) {
            blocks++;
            empty += b->info.in_use == 0;
        }
    }
    for (struct tby_hnode *n = tby_hmap_first(&h->blocks), *next; ok && n; n = next) {
        struct block *b = TBY_CONTAINER_OF(n, struct block, node);

        next = tby_hmap_next(&h->blocks, n);
        if (!b->info.node || strcmp(b->info.node, name) != 0 || b->info.in_use)
            continue;
        /* with its last block the node's claims record goes too */
        done++;
        ok = retire(h, b, empty == blocks && done == empty, "node deleted");
    }
    *released = (size_t)(h->stats.blocks_released - before);
    return ok;
}

static void release_gone(struct node_housekeeping *h, int64_t now)
{
    h->gone_at = -1;
    while (h->gone.n) {
        char *name = h->gone.items[h->gone.n - 1];
        size_t removed = 0;

        if (!release_node(h, name, &removed)) {
            h->gone_at = now + 5 * SOON_MS;
            return;
        }
        tby_log(TBY_LOG_INFO, "ipam", "node deleted, empty blocks released node=%s blocks=%zu",
                name, removed);
        free(name);
        h->gone.n--;
    }
}

/* What the collection needs of the cluster, from the syncer's copy. */
struct cluster {
    struct tby_strv nodes;
    const struct tby_ippool **pools;
    size_t n_pools, cap_pools;
};

static int collect_cluster(void *ctx, const char *key, const struct tby_resource *res)
{
    struct cluster *c = ctx;

    (void)key;
    if (res && res->info->kind == TBY_KIND_NODE)
        return tby_strv_push(&c->nodes, res->meta.name);
    if (!res || res->info->kind != TBY_KIND_IPPOOL)
        return 0;
    if (TBY_GROW(c->pools, c->cap_pools, c->n_pools + 1) < 0)
        return -ENOMEM;
    c->pools[c->n_pools++] = res->spec.ippool;
    return 0;
}

/* IPAM's rule (work_retire_if_empty): a block stays while its node has a Node resource
 * and a pool of its size holds it. Virtual (load-balancer) blocks are not upkeep's. */
static bool keeps(const struct cluster *c, const struct tby_ipam_block_info *b)
{
    if (!b->usable)
        return true;
    if (!b->node || !tby_strv_contains(&c->nodes, b->node))
        return false;
    for (size_t i = 0; i < c->n_pools; i++)
        if (tby_cidr_contains_cidr(&c->pools[i]->cidr, &b->cidr) &&
            c->pools[i]->block_size == b->cidr.prefix_len)
            return true;
    return false;
}

static void collect(struct node_housekeeping *h, const struct tby_syncer *s, int64_t now)
{
    struct cluster c = { 0 };
    uint64_t before = h->stats.blocks_released;
    int r = tby_syncer_foreach(s, collect_cluster, &c);

    h->gc_at = h->interval_ms ? now + h->interval_ms : -1;
    h->stats.gc_runs++;
    if (r < 0) {
        h->stats.failures++;
        tby_log(TBY_LOG_WARNING, "ipam", "block collection failed error=\"out of memory\"");
    }
    for (struct tby_hnode *n = tby_hmap_first(&h->blocks), *next; r == 0 && n; n = next) {
        struct block *b = TBY_CONTAINER_OF(n, struct block, node);

        next = tby_hmap_next(&h->blocks, n);
        if (b->info.in_use == 0 && !keeps(&c, &b->info) &&
            !retire(h, b, false, "no node or no pool"))
            break;
    }
    if (h->stats.blocks_released > before)
        tby_log(TBY_LOG_INFO, "ipam", "blocks collected blocks=%llu",
                (unsigned long long)(h->stats.blocks_released - before));
    tby_strv_clear(&c.nodes);
    free(c.pools);
}

static void count_usage(struct node_housekeeping *h, int64_t now)
{
    h->usage_at = now + USAGE_EVERY_MS;
    h->stats.blocks = 0;
    h->stats.addresses = h->stats.in_use = 0;
    for (struct tby_hnode *n = tby_hmap_first(&h->blocks); n; n = tby_hmap_next(&h->blocks, n)) {
        const struct block *b = TBY_CONTAINER_OF(n, struct block, node);

        if (!is_mine(h, &b->info))
            continue;
        h->stats.blocks++;
        h->stats.addresses += b->info.size;
        h->stats.in_use += b->info.in_use;
    }
    h->stats.known = true;
}

/* Releases deleted nodes' empty blocks, collects blocks without a node or pool, and
 * counts this node's IPAM usage, when due. */
static void housekeeping_run(void *state, const struct node *n)
{
    struct node_housekeeping *h = state;
    bool online = tby_syncer_online(n->syncer);
    int64_t now = node_now_ms();

    if (now >= h->usage_at)
        count_usage(h, now);
    if (!online) { /* nothing can be released, and the copy may be behind: look again later */
        if (h->gone_at >= 0 && now >= h->gone_at)
            h->gone_at = now + SOON_MS;
        if (h->gc_at >= 0 && now >= h->gc_at)
            h->gc_at = now + SOON_MS;
        return;
    }
    if (h->gone_at >= 0 && now >= h->gone_at)
        release_gone(h, now);
    if (h->gc_at >= 0 && now >= h->gc_at)
        collect(h, n->syncer, now);
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
