/* register.c — this node's Node resource, a part (node.h), kept as calico-node's start-up
 * keeps it: the addresses it detects (IP / IP_AUTODETECTION_METHOD, IP6 /
 * IP6_AUTODETECTION_METHOD), its AS number, its VXLAN MAC, and its tunnel addresses (VXLAN
 * of each family, IPIP) from IPAM while a pool of the kind selects the node, as
 * calico-node's allocate-tunnel-addrs keeps them. Written with a compare-and-swap on the
 * Node's revision, so fields others own (labels, BGP settings, status) are kept; checked
 * again when the pools or the Node change and every autodetect interval (an address that
 * moved is followed).
 *
 * A check works from the syncer's copy: the Node, the pools, and the blocks holding the
 * tunnel addresses. The datastore is read only to write — the Node when it is to change
 * (read again for the compare-and-swap), IPAM when a tunnel address is to be taken or
 * given back (and once at start, to learn what the handles hold) — so a node whose
 * addresses stay put reads nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/autodetect.h"
#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/resource.h"
#include "tabby/routes.h"
#include "node.h"
#include "register_plan.h"

#define DEBOUNCE_MS 100

struct node_register_stats {
    bool registered;          /* the Node holds what this node detected */
    uint64_t writes, failures;
    char last_error[TBY_ERROR_MAX];
};

struct node_register {
    struct tby_store *store;
    struct tby_ipam *ipam;
    const struct node_config *cfg;
    const char *node;
    char *handle[NODE_TUNNELS]; /* IPAM handles of the tunnel addresses */
    struct tby_autodetect *method[2];
    bool tunnels;             /* this node routes its pools (backend not none) */
    bool released[NODE_TUNNELS]; /* the handle holds nothing: given back since last taken */
    int64_t next_at;
    struct node_backoff backoff;
    char said[2][TBY_CIDR_STRLEN]; /* the addresses last logged */
    struct node_register_stats stats;
};

/* What one pass found out. */
struct wanted {
    struct node_reg_facts f;        /* what the Node should say (register_plan.h) */
    struct tby_strv pools[NODE_TUNNELS]; /* the pools that give each tunnel address */
    char error[TBY_ERROR_MAX];      /* why something could not be detected */
};

static int fam_index(int family)
{
    return family == 6;
}

static void register_stop(void *state)
{
    struct node_register *g = state;

    if (!g)
        return;
    for (int i = 0; i < 2; i++)
        tby_autodetect_free(g->method[i]);
    for (int t = 0; t < NODE_TUNNELS; t++)
        free(g->handle[t]);
    free(g);
}

/* Fails for a bad autodetection method. */
static int register_start(struct node *n, void **state, struct tby_error *err)
{
    const struct node_config *cfg = &n->cfg;
    struct node_register *g = calloc(1, sizeof(*g));
    int r = 0;

    for (int t = 0; g && r == 0 && t < NODE_TUNNELS; t++) {
        if (asprintf(&g->handle[t], "%s%s", node_tunnel_kinds[t].handle_prefix, n->name) < 0) {
            g->handle[t] = NULL;
            r = -ENOMEM;
        }
    }
    if (!g || r < 0) {
        register_stop(g);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    g->store = n->store;
    g->ipam = n->ipam;
    g->cfg = cfg;
    g->node = n->name;
    g->tunnels = cfg->backend != NODE_BACKEND_NONE;
    g->backoff = (struct node_backoff){ .first_ms = 1000,
                                        .max_ms = cfg->autodetect_interval_s * 1000 };
    r = tby_autodetect_parse(cfg->v[NODE_IP_METHOD], &g->method[0], err);
    if (r < 0)
        tby_error_prefix(err, "IP_AUTODETECTION_METHOD");
    if (r == 0 && (r = tby_autodetect_parse(cfg->v[NODE_IP6_METHOD], &g->method[1], err)) < 0)
        tby_error_prefix(err, "IP6_AUTODETECTION_METHOD");
    if (r < 0) {
        register_stop(g);
        return r;
    }
    *state = g;
    return 0;
}

/* ---- what changed ---------------------------------------------------------------------- */

static void soon(struct node_register *g)
{
    int64_t at = node_now_ms() + DEBOUNCE_MS;

    if (at < g->next_at)
        g->next_at = at;
}

static bool concerns(struct node_register *g, const struct tby_resource *res)
{
    return res->info->kind == TBY_KIND_IPPOOL ||
           (res->info->kind == TBY_KIND_NODE && strcmp(res->meta.name, g->node) == 0);
}

static int on_update(void *ctx, const struct tby_resource *old, const struct tby_resource *res)
{
    (void)old;
    if (concerns(ctx, res))
        soon(ctx);
    return 0;
}

static int on_remove(void *ctx, const struct tby_resource *old)
{
    if (concerns(ctx, old))
        soon(ctx);
    return 0;
}

static struct tby_syncer_consumer register_consumer(void *state)
{
    /* the blocks are held for the tunnel addresses, not a reason to check at once */
    return (struct tby_syncer_consumer){ .name = "register", .ctx = state, .update = on_update,
                                         .remove = on_remove,
                                         .record_prefix = TBY_IPAM_BLOCK_PREFIX };
}

struct node_find {
    const char *name;
    const struct tby_resource *found;
};

static int find_node(void *ctx, const char *key, const struct tby_resource *res)
{
    struct node_find *f = ctx;

    (void)key;
    if (res && res->info->kind == TBY_KIND_NODE && strcmp(res->meta.name, f->name) == 0) {
        f->found = res;
        return 1;
    }
    return 0;
}

/* This node's Node as the syncer holds it, or NULL. */
static const struct tby_resource *cached_node(const struct node_register *g,
                                              const struct tby_syncer *s)
{
    struct node_find f = { .name = g->node };

    tby_syncer_foreach(s, find_node, &f);
    return f.found;
}

/* ---- detection ------------------------------------------------------------------------------ */

static void detect(struct node_register *g, int family, struct wanted *w)
{
    const char *setting = g->cfg->v[family == 4 ? NODE_IP : NODE_IP6];
    struct tby_autodetect_result res;
    struct tby_error err = { 0 };
    int i = fam_index(family);

    if (strcmp(setting, "none") == 0)
        return; /* the Node's address of this family is not this node's to manage */
    if (strcmp(setting, "autodetect") != 0) {
        w->f.has_addr[i] = tby_cidr_parse(setting, 0, &w->f.addr[i], NULL) == 0;
        return;
    }
    if (tby_autodetect_run(g->method[i], family, &res, &err) < 0) {
        snprintf(w->error, sizeof(w->error), "IPv%d autodetection (%s): %s", family,
                 g->cfg->v[family == 4 ? NODE_IP_METHOD : NODE_IP6_METHOD],
                 tby_error_str(&err));
        return;
    }
    w->f.has_addr[i] = true;
    w->f.addr[i] = res.address;
}

struct pool_collect {
    struct wanted *w;
    const struct tby_resource *node; /* this node's Node, for pools' nodeSelector */
};

static int collect_tunnel_pool(void *ctx, const char *key, const struct tby_resource *res)
{
    struct pool_collect *c = ctx;
    int r = 0;

    (void)key;
    if (!res || res->info->kind != TBY_KIND_IPPOOL)
        return 0;
    for (int t = 0; r == 0 && t < NODE_TUNNELS; t++)
        if (node_register_tunnel_pool(res->spec.ippool, t, c->node))
            r = tby_strv_push(&c->w->pools[t], res->meta.name);
    return r;
}

/* ---- the tunnel addresses ----------------------------------------------------------------- */

/* The handle's address of the family when it lies in one of `pools`. */
static bool held_in_pools(const struct tby_ipam_result *held, int family,
                          const struct tby_strv *pools, const struct tby_syncer *s,
                          struct tby_ip *out);

struct pool_find {
    const char *name;
    struct tby_cidr cidr;
    bool found;
};

static int find_pool(void *ctx, const char *key, const struct tby_resource *res)
{
    struct pool_find *f = ctx;

    (void)key;
    if (res && res->info->kind == TBY_KIND_IPPOOL && strcmp(res->meta.name, f->name) == 0) {
        f->cidr = res->spec.ippool->cidr;
        f->found = true;
        return 1;
    }
    return 0;
}

static bool held_in_pools(const struct tby_ipam_result *held, int family,
                          const struct tby_strv *pools, const struct tby_syncer *s,
                          struct tby_ip *out)
{
    for (size_t i = 0; i < held->n; i++) {
        if (held->items[i].ip.family != family)
            continue;
        for (size_t j = 0; j < pools->n; j++) {
            struct pool_find f = { .name = pools->items[j] };

            tby_syncer_foreach(s, find_pool, &f);
            if (f.found && tby_cidr_contains(&f.cidr, &held->items[i].ip)) {
                *out = held->items[i].ip;
                return true;
            }
        }
    }
    return false;
}

struct holder_find {
    const struct tby_ip *ip;
    const char *handle;
};

static int holds(void *ctx, const struct tby_kv *kv)
{
    const struct holder_find *h = ctx;

    return tby_ipam_block_holds(kv, h->ip, h->handle);
}

/* The tunnel address the cached Node says, when the cached blocks have it allocated to
 * the handle and it lies in one of the tunnel's pools: nothing to ask IPAM. */
static bool tunnel_in_cache(const struct node_register *g, enum node_tunnel t,
                            const struct tby_syncer *s, const struct wanted *w,
                            struct tby_ip *out)
{
    const struct tby_resource *node = cached_node(g, s);
    const struct tby_ip *says = node ? node_register_tunnel_addr(node->spec.node, t) : NULL;
    struct tby_ipam_result said = { .n = 1 };
    struct tby_ipam_addr addr = { 0 };
    struct holder_find h = { .ip = &addr.ip, .handle = g->handle[t] };

    if (!says)
        return false;
    addr.ip = *says;
    said.items = &addr;
    return held_in_pools(&said, node_tunnel_kinds[t].family, &w->pools[t], s, out) &&
           tby_syncer_foreach_record(s, TBY_IPAM_BLOCK_PREFIX, holds, &h) == 1;
}

/* Keeps the address the handle holds while it is in one of the tunnel's pools; otherwise
 * gives it back and takes a new one from those pools (Tunnel use). */
static int tunnel_address(struct node_register *g, enum node_tunnel t,
                          const struct tby_syncer *s, struct wanted *w, struct tby_error *err)
{
    const struct node_tunnel_kind *k = &node_tunnel_kinds[t];
    struct tby_ipam_result held = { 0 }, got = { 0 };
    struct tby_ipam_request req = { .handle = g->handle[t], .use = TBY_POOL_USE_TUNNEL,
                                    .attrs.type = k->attr_type,
                                    .num_v4 = k->family == 4, .num_v6 = k->family == 6,
                                    .v4_pools = k->family == 4 ? &w->pools[t] : NULL,
                                    .v6_pools = k->family == 6 ? &w->pools[t] : NULL };
    int r;

    if (tunnel_in_cache(g, t, s, w, &w->f.tunnel[t])) {
        w->f.has_tunnel[t] = true;
        return 0;
    }
    g->released[t] = false;
    r = tby_ipam_ips_by_handle(g->ipam, g->handle[t], &held, err);

    if (r == 0 && held_in_pools(&held, k->family, &w->pools[t], s, &w->f.tunnel[t])) {
        w->f.has_tunnel[t] = true;
    } else if (r == 0) {
        if (held.n)
            r = tby_ipam_release_handle(g->ipam, g->handle[t], NULL, err);
        if (r == 0)
            r = tby_ipam_auto_assign(g->ipam, &req, &got, err);
        if (r == 0 && got.n) {
            w->f.has_tunnel[t] = true;
            w->f.tunnel[t] = got.items[0].ip;
        }
    }
    tby_ipam_result_clear(&held);
    tby_ipam_result_clear(&got);
    return r < 0 ? tby_error_prefix(err, "%s tunnel address (IPAM handle %s)", k->name,
                                    g->handle[t])
                 : 0;
}

static int tunnels(struct node_register *g, const struct tby_syncer *s, struct wanted *w,
                   struct tby_error *err)
{
    int r = 0;

    for (int t = 0; r == 0 && t < NODE_TUNNELS; t++) {
        if (g->tunnels && w->pools[t].n) {
            r = tunnel_address(g, t, s, w, err);
        } else if (!g->released[t]) {
            /* this node alone takes addresses for its handles: once given back, the
             * handle holds nothing until the next tunnel_address */
            r = tby_ipam_release_handle(g->ipam, g->handle[t], NULL, err);
            g->released[t] = r == 0;
        }
    }
    return r;
}

/* ---- the Node --------------------------------------------------------------------------- */

/* Writes the Node when it differs from what this node wants: judged on the syncer's copy,
 * then on the stored Node, read for the compare-and-swap. *written says whether it did.
 * -ECANCELED: someone else wrote it meanwhile (read again and retry). */
static int write_node(struct node_register *g, const struct tby_syncer *s,
                      const struct wanted *w, bool *written, struct tby_error *err)
{
    _cleanup_(tby_resource_freep) struct tby_resource *old = NULL;
    struct tby_resource_list list = { 0 };
    struct tby_resource *res = NULL;
    int r = node_register_plan(cached_node(g, s), &w->f, &res, err);

    *written = false;
    if (r < 0 || !res)
        return r;
    tby_resource_free(TBY_STEAL(res));
    r = tby_catalog_get(g->store, tby_kind_info(TBY_KIND_NODE), NULL, g->node, &old, err);
    if (r < 0 && r != -ENOENT)
        return r;
    r = node_register_plan(old, &w->f, &res, err);
    if (r < 0 || !res)
        return r;
    r = tby_resource_list_push(&list, res);
    if (r < 0)
        tby_resource_free(res);
    else
        r = tby_catalog_write(g->store, &list, old ? TBY_WRITE_REPLACE : TBY_WRITE_CREATE, NULL,
                              err);
    tby_resource_list_clear(&list);
    *written = r == 0;
    return r;
}

/* ---- a pass ----------------------------------------------------------------------------- */

static void log_written(struct node_register *g, const struct wanted *w)
{
    char a[2][TBY_CIDR_STRLEN] = { "-", "-" };
    char t[NODE_TUNNELS][TBY_IP_STRLEN] = { "-", "-", "-" };

    for (int i = 0; i < NODE_TUNNELS; i++)
        if (w->f.has_tunnel[i])
            tby_ip_format(&w->f.tunnel[i], t[i]);
    for (int i = 0; i < 2; i++) {
        if (w->f.has_addr[i])
            tby_cidr_format(&w->f.addr[i], a[i]);
        if (w->f.has_addr[i] && g->said[i][0] && strcmp(g->said[i], a[i]) != 0)
            tby_log(TBY_LOG_WARNING, "register", "node address changed node=%s old=%s new=%s",
                    g->node, g->said[i], a[i]);
        memcpy(g->said[i], a[i], sizeof(g->said[i]));
    }
    tby_log(TBY_LOG_INFO, "register", "node registered node=%s ipv4=%s ipv6=%s vxlan_tunnel=%s "
            "vxlan_tunnel6=%s ipip_tunnel=%s", g->node, a[0], a[1], t[NODE_TUNNEL_VXLAN],
            t[NODE_TUNNEL_VXLAN6], t[NODE_TUNNEL_IPIP]);
}

static void wanted_clear(struct wanted *w)
{
    for (int t = 0; t < NODE_TUNNELS; t++)
        tby_strv_clear(&w->pools[t]);
}

static void failed(struct node_register *g, int64_t now, const char *why)
{
    bool repeated = strcmp(g->stats.last_error, why) == 0;

    g->stats.failures++;
    g->stats.registered = false;
    g->next_at = now + node_backoff_next(&g->backoff);
    tby_log(repeated ? TBY_LOG_DEBUG : TBY_LOG_ERROR, "register", "node not registered node=%s "
            "retry_ms=%d error=\"%s\"", g->node, g->backoff.cur_ms, why);
    snprintf(g->stats.last_error, sizeof(g->stats.last_error), "%s", why);
}

/* Detects the addresses and writes what changed into the Node (a compare-and-swap that
 * keeps every field it does not own), when due: at start, when the pools or the Node
 * changed, and every autodetect interval. */
static void register_run(void *state, const struct node *n)
{
    struct node_register *g = state;
    const struct tby_syncer *s = n->syncer;
    int64_t now = node_now_ms();
    struct tby_error err = { 0 };
    struct wanted w = { .f = { .node = g->node, .has_as = g->cfg->has_as,
                               .as_number = g->cfg->as_number } };
    struct pool_collect pc = { .w = &w };
    bool written = false;
    int r;

    if (now < g->next_at)
        return;
    if (!tby_syncer_in_sync(s) || !tby_syncer_online(s)) {
        g->next_at = now + 1000; /* the pools are not known (or not current): later */
        return;
    }
    detect(g, 4, &w);
    detect(g, 6, &w);
    pc.node = cached_node(g, s);
    r = tby_syncer_foreach(s, collect_tunnel_pool, &pc);
    w.f.vxlan[0] = w.pools[NODE_TUNNEL_VXLAN].n > 0;
    w.f.vxlan[1] = w.pools[NODE_TUNNEL_VXLAN6].n > 0;
    if (r == 0)
        r = tunnels(g, s, &w, &err);
    if (r == 0)
        r = write_node(g, s, &w, &written, &err);
    if (r == -ECANCELED) /* written by someone else meanwhile: read it again */
        g->next_at = now + DEBOUNCE_MS;
    else if (r < 0 || w.error[0])
        failed(g, now, r < 0 ? tby_error_str(&err) : w.error);
    if (r == 0 && written)
        log_written(g, &w);
    if (r == 0) {
        g->stats.writes += written;
        if (!w.error[0]) {
            g->stats.registered = true;
            g->stats.last_error[0] = '\0';
            node_backoff_reset(&g->backoff);
            g->next_at = now + g->cfg->autodetect_interval_s * 1000LL;
        }
    }
    wanted_clear(&w);
}

static int register_timeout_ms(const void *state)
{
    const struct node_register *g = state;

    return node_ms_until(g->next_at);
}

/* ---- what it says ----------------------------------------------------------------------- */

/* Not registered blocks readiness: the routes and BGP of every node are made from the
 * Nodes. Before a first attempt it says "yet"; after a failure, why. */
static bool register_ready(const void *state, char *why, size_t size)
{
    const struct node_register_stats *st = &((const struct node_register *)state)->stats;

    return st->registered || node_not_ready(why, size, "node not registered", st->last_error);
}

static void register_metrics(const void *state, struct tby_buf *out)
{
    const struct node_register_stats *st = &((const struct node_register *)state)->stats;

    node_gauge(out, "tabby_node_registered", "1 while the Node resource holds what this node "
                                           "detected.", st->registered);
    node_counter(out, "tabby_node_registration_failures_total", "Failed Node registrations.",
                 (double)st->failures);
}

const struct node_part node_register_part = {
    .name = "register",
    .start = register_start,
    .stop = register_stop,
    .consumer = register_consumer,
    .timeout_ms = register_timeout_ms,
    .run = register_run,
    .ready = register_ready,
    .metrics = register_metrics,
};
