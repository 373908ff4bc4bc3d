/* routes.c — tabby-node's route manager, a part (node.h): the cluster's pools, nodes,
 * block affinities and workload endpoints (as the syncer holds them) into the kernel's
 * routes, VXLAN device and VTEP entries, converged by difference; repaired when netlink
 * says someone else touched them. Failures degrade (logged, retried), never stop the
 * daemon. Not started under backend none (routes are someone else's); under backend bird,
 * BIRD installs the routes of IPIP pools. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/codec.h"
#include "tabby/ipam.h"
#include "tabby/log.h"
#include "tabby/routes.h"
#include "node.h"

#define DEBOUNCE_MS 100

struct node_routes_stats {
    bool applied;             /* a plan made after the first complete read is in the kernel */
    size_t routes, vteps;     /* in the last plan */
    size_t warnings;
    uint64_t applies, changes, failures;
    struct node_hist apply_hist;
    char last_error[TBY_ERROR_MAX];  /* "" when the last apply went through */
};

struct node_routes {
    char *node;
    bool ipip_by_bgp;
    struct tby_routes *kernel;
    struct node_trigger trigger; /* the cluster changed since the last plan */
    bool has_plan;            /* the kernel side keeps a plan to re-apply */
    int64_t repair_at;        /* re-apply the last plan (notification, failure, period) */
    struct node_backoff backoff;
    int resync_ms;
    uint64_t dp_generation;   /* of the dataplane settings the last plan had */
    struct tby_strv warnings; /* the last plan's, sorted: said again only when they change */
    char logged_error[TBY_ERROR_MAX];
    struct node_routes_stats stats;
};

/* The resources it reads. */
static bool routes_read(enum tby_kind k)
{
    return k == TBY_KIND_IPPOOL || k == TBY_KIND_NODE || k == TBY_KIND_WORKLOADENDPOINT;
}

static void routes_stop(void *state)
{
    struct node_routes *r = state;

    if (!r)
        return;
    tby_routes_close(r->kernel); /* the kernel state stays */
    tby_strv_clear(&r->warnings);
    free(r->node);
    free(r);
}

static int routes_start(struct node *n, void **state, struct tby_error *err)
{
    struct node_routes *r;
    int rc;

    if (n->cfg.backend == NODE_BACKEND_NONE)
        return 0;
    if (!(r = calloc(1, sizeof(*r))) || !(r->node = strdup(n->name))) {
        free(r);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    rc = tby_routes_open(&r->kernel, err);
    if (rc < 0) {
        routes_stop(r);
        return rc;
    }
    r->ipip_by_bgp = n->cfg.backend == NODE_BACKEND_BIRD;
    r->trigger = (struct node_trigger){ .debounce_ms = DEBOUNCE_MS, .reads = routes_read };
    r->resync_ms = n->cfg.route_resync_s * 1000;
    r->backoff = (struct node_backoff){ .first_ms = 1000, .max_ms = 60000 };
    r->repair_at = -1;
    *state = r;
    return 0;
}

/* ---- what changed ---------------------------------------------------------------------- */

static struct tby_syncer_consumer routes_consumer(void *state)
{
    struct node_routes *r = state;

    /* every node's block affinities: remote blocks are routed to their nodes */
    return node_trigger_consumer(&r->trigger, "routes", TBY_IPAM_AFFINITY_PREFIX);
}

/* ---- the plan's input, from what the syncer holds ---------------------------------------- */

struct input {
    struct tby_routes_input in;
    struct tby_routes_pool *pools;
    struct tby_routes_node *nodes;
    const struct tby_wep **weps;
    struct tby_routes_block *blocks;
    size_t cap_pools, cap_nodes, cap_weps, cap_blocks;
    struct tby_strv block_nodes; /* the blocks' node names (records hold them unended) */
};

static int add_block(void *ctx, const struct tby_kv *kv)
{
    struct input *x = ctx;
    struct tby_ipam_affinity aff;
    char *name;

    /* a claim still pending, or a record marked deleted, routes nothing yet */
    if (tby_ipam_affinity_decode(kv, &aff) < 0 || !tby_ipam_affinity_routable(&aff))
        return 0;
    if (TBY_GROW(x->blocks, x->cap_blocks, x->in.n_blocks + 1) < 0 ||
        !(name = strndup(aff.node, aff.node_len)) ||
        tby_strv_push_take(&x->block_nodes, name) < 0)
        return -ENOMEM;
    x->blocks[x->in.n_blocks++] = (struct tby_routes_block){ aff.block, name };
    return 0;
}

static int collect(void *ctx, const char *key, const struct tby_resource *res)
{
    struct input *x = ctx;

    (void)key;
    switch (res ? res->info->kind : TBY_KIND_COUNT) {
    case TBY_KIND_IPPOOL:
        if (TBY_GROW(x->pools, x->cap_pools, x->in.n_pools + 1) < 0)
            return -ENOMEM;
        x->pools[x->in.n_pools++] = (struct tby_routes_pool){ res->meta.name, res->spec.ippool };
        return 0;
    case TBY_KIND_NODE:
        if (TBY_GROW(x->nodes, x->cap_nodes, x->in.n_nodes + 1) < 0)
            return -ENOMEM;
        x->nodes[x->in.n_nodes++] = (struct tby_routes_node){ res->meta.name, res->spec.node };
        return 0;
    case TBY_KIND_WORKLOADENDPOINT:
        if (TBY_GROW(x->weps, x->cap_weps, x->in.n_weps + 1) < 0)
            return -ENOMEM;
        x->weps[x->in.n_weps++] = res->spec.wep;
        return 0;
    default:
        return 0;
    }
}

static void input_clear(struct input *x)
{
    free(x->pools);
    free(x->nodes);
    free(x->weps);
    free(x->blocks);
    tby_strv_clear(&x->block_nodes);
}

static int gather(struct node_routes *r, const struct node *n, struct input *x)
{
    const struct tby_syncer *s = n->syncer;
    const struct tby_felix_settings *dp = &n->cfg.dp;
    int rc;

    memset(x, 0, sizeof(*x));
    rc = tby_syncer_foreach(s, collect, x);
    if (rc == 0)
        rc = tby_syncer_foreach_record(s, TBY_IPAM_AFFINITY_PREFIX, add_block, x);
    x->in.node_name = r->node;
    x->in.pools = x->pools;
    x->in.nodes = x->nodes;
    x->in.weps = (const struct tby_wep *const *)x->weps;
    x->in.blocks = x->blocks;
    x->in.ipip_routes_by_bgp = r->ipip_by_bgp;
    x->in.vxlan_vni = dp->vxlan_vni;
    x->in.vxlan_port = dp->vxlan_port;
    x->in.vxlan_mtu[0] = dp->vxlan_mtu[0];
    x->in.vxlan_mtu[1] = dp->vxlan_mtu[1];
    x->in.ipip_mtu = dp->ipip_mtu;
    x->in.no_ipv6 = !dp->ipv6;
    r->dp_generation = dp->generation;
    return rc;
}

/* ---- applying ---------------------------------------------------------------------------- */

/* Warnings are said when they change, not on every plan. */
static void log_warnings(struct node_routes *r, struct tby_routes_plan *plan)
{
    bool same = plan->warnings.n == r->warnings.n;

    tby_strv_sort(&plan->warnings);
    for (size_t i = 0; same && i < plan->warnings.n; i++)
        same = strcmp(plan->warnings.items[i], r->warnings.items[i]) == 0;
    r->stats.warnings = plan->warnings.n;
    if (same)
        return;
    for (size_t i = 0; i < plan->warnings.n; i++)
        if (!tby_strv_contains(&r->warnings, plan->warnings.items[i]))
            tby_log(TBY_LOG_WARNING, "routes", "%s", plan->warnings.items[i]);
    tby_strv_clear(&r->warnings);
    r->warnings = plan->warnings;
    plan->warnings = (struct tby_strv){ 0 };
}

static void applied(struct node_routes *r, const char *what, const struct tby_routes_stats *st,
                    double ms)
{
    unsigned changes = tby_routes_stats_changes(st);

    r->stats.applies++;
    r->stats.changes += changes;
    node_hist_add(&r->stats.apply_hist, ms);
    /* The route manager says each change; this is the summary, for debugging. */
    if (changes || st->routes_conflicting)
        tby_log(TBY_LOG_DEBUG, "routes", "routes %s routes=%zu vteps=%zu changes=%u added=%u "
                "replaced=%u deleted=%u adopted=%u conflicting=%u pending=%u neighs=%u fdbs=%u "
                "links=%u ms=%.1f", what, r->stats.routes, r->stats.vteps, changes,
                st->routes_added, st->routes_replaced, st->routes_deleted, st->routes_adopted,
                st->routes_conflicting, st->routes_pending, st->neighs_set + st->neighs_deleted,
                st->fdbs_set + st->fdbs_deleted, st->links_changed, ms);
}

/* A part that failed (IPIP without kernel support, a device refused) degrades the node:
 * said once per distinct error, retried with backoff, the rest stays applied. */
static void apply_done(struct node_routes *r, int rc, const struct tby_error *err)
{
    if (rc == 0) {
        if (r->stats.last_error[0])
            tby_log(TBY_LOG_INFO, "routes", "routes recovered");
        r->stats.last_error[0] = r->logged_error[0] = '\0';
        r->stats.applied = true;
        node_backoff_reset(&r->backoff);
        r->repair_at = r->resync_ms ? node_now_ms() + r->resync_ms : -1;
        return;
    }
    r->stats.failures++;
    snprintf(r->stats.last_error, sizeof(r->stats.last_error), "%s", tby_error_str(err));
    tby_log(strcmp(r->logged_error, r->stats.last_error) ? TBY_LOG_WARNING : TBY_LOG_DEBUG,
            "routes", "routes degraded retry_ms=%d error=\"%s\"", node_backoff_next(&r->backoff),
            r->stats.last_error);
    snprintf(r->logged_error, sizeof(r->logged_error), "%s", r->stats.last_error);
    /* What went through counts: the node is routed, if degraded. */
    r->stats.applied = true;
    r->repair_at = node_now_ms() + r->backoff.cur_ms;
}

static void plan_and_apply(struct node_routes *r, const struct node *n)
{
    struct input x;
    struct tby_routes_plan plan = { 0 };
    struct tby_routes_stats st = { 0 };
    struct tby_error err = { 0 };
    int64_t start = node_now_ms();
    int rc = gather(r, n, &x);

    r->trigger.dirty = false;
    if (rc == 0)
        rc = tby_routes_plan(&x.in, &plan, &err);
    input_clear(&x);
    if (rc < 0) {
        tby_log(TBY_LOG_ERROR, "routes", "no plan error=\"%s\"",
                rc == -ENOMEM ? "out of memory" : tby_error_str(&err));
        node_trigger_set(&r->trigger);
        return;
    }
    log_warnings(r, &plan);
    r->stats.routes = plan.n_routes;
    r->stats.vteps = plan.n_vteps;
    rc = tby_routes_apply(r->kernel, &plan, &st, &err);
    r->has_plan = true;
    applied(r, "programmed", &st, (double)(node_now_ms() - start));
    apply_done(r, rc, &err);
    tby_routes_plan_clear(&plan);
}

static void repair(struct node_routes *r)
{
    struct tby_routes_stats st = { 0 };
    struct tby_error err = { 0 };
    int64_t start = node_now_ms();
    int rc = tby_routes_resync(r->kernel, &st, &err);

    applied(r, "repaired", &st, (double)(node_now_ms() - start));
    apply_done(r, rc, &err);
}

/* Plans and applies when the cluster changed (debounced), from what the syncer holds;
 * nothing while it is offline (an empty plan would remove everything). */
static void routes_run(void *state, const struct node *n)
{
    struct node_routes *r = state;
    const struct tby_syncer *s = n->syncer;
    int64_t now = node_now_ms();

    /* The read-back interval may change (FelixConfiguration): the next one is due then,
     * unless a retry after a failure is. */
    if (n->cfg.route_resync_s * 1000 != r->resync_ms) {
        r->resync_ms = n->cfg.route_resync_s * 1000;
        if (r->stats.applied && !r->stats.last_error[0])
            r->repair_at = r->resync_ms ? now + r->resync_ms : -1;
    }

    /* A FelixConfiguration changed the devices or IPv6: planned again. */
    if (n->cfg.dp.generation != r->dp_generation && !r->trigger.dirty)
        node_trigger_set(&r->trigger);

    /* Offline, nothing new is planned (fail-static): what is programmed stays until the
     * datastore answers again and the syncer has read it whole. */
    if (node_trigger_due(&r->trigger, now)) {
        if (tby_syncer_online(s)) {
            plan_and_apply(r, n);
            return;
        }
        r->trigger.due = now + 1000;
    }
    if (r->has_plan && r->repair_at >= 0 && now >= r->repair_at)
        repair(r);
}

/* Netlink notifications: repairs what someone else changed. */
static void routes_input(void *state)
{
    struct node_routes *r = state;
    struct tby_error err = { 0 };
    bool resync = false;

    if (tby_routes_events(r->kernel, &resync, &err) < 0)
        tby_log(TBY_LOG_ERROR, "routes", "netlink notifications failed error=\"%s\"",
                tby_error_str(&err));
    /* A pending retry after a failure keeps its backoff; otherwise repair now. */
    if (resync && r->has_plan && !r->stats.last_error[0])
        r->repair_at = node_now_ms();
}

static int routes_fd(const void *state)
{
    const struct node_routes *r = state;

    return tby_routes_event_fd(r->kernel);
}

static int routes_timeout_ms(const void *state)
{
    const struct node_routes *r = state;
    int t = node_trigger_timeout_ms(&r->trigger);

    if (r->has_plan)
        t = node_min_timeout(t, node_ms_until(r->repair_at));
    return t;
}

/* ---- what it says ----------------------------------------------------------------------- */

static bool routes_ready(const void *state, char *why, size_t size)
{
    const struct node_routes *r = state;

    /* a failed apply counts: what went through is routed, and degraded says the rest */
    return r->stats.applied || node_not_ready(why, size, "routes not programmed", "");
}

static bool routes_degraded(const void *state, char *why, size_t size)
{
    const struct node_routes *r = state;

    if (!r->stats.last_error[0])
        return false;
    snprintf(why, size, "routes: %s", r->stats.last_error);
    return true;
}

static void routes_metrics(const void *state, struct tby_buf *out)
{
    const struct node_routes_stats *rs = &((const struct node_routes *)state)->stats;

    node_gauge(out, "tabby_routes", "Routes tabby-node programs (protocol 80).",
               (double)rs->routes);
    node_gauge(out, "tabby_vxlan_vteps", "Remote VXLAN tunnel endpoints programmed.",
               (double)rs->vteps);
    node_gauge(out, "tabby_route_warnings", "What the last route plan had to leave out.",
               (double)rs->warnings);
    node_gauge(out, "tabby_routes_degraded", "1 while part of the routes could not be applied.",
               rs->last_error[0] != '\0');
    node_counter(out, "tabby_route_applies_total", "Route plans applied or repaired.",
                 (double)rs->applies);
    node_counter(out, "tabby_route_changes_total",
                 "Kernel writes of routes, neighbours, FDB, links.", (double)rs->changes);
    node_counter(out, "tabby_route_failures_total", "Route applies that failed in part.",
                 (double)rs->failures);
    node_hist_write(out, "tabby_routes_apply_seconds", "Time to apply a route plan.",
                    &rs->apply_hist);
}

/* /status: whether the plan is in the kernel, what failed, what the plan left out. */
static int routes_status(void *state, const struct node *n, json_t *out)
{
    const struct node_routes *r = state;

    (void)n;
    tby_enc_bool(out, "applied", r->stats.applied);
    tby_enc_string(out, "last_error", r->stats.last_error);
    tby_enc_strv(out, "warnings", &r->warnings);
    tby_enc_int(out, "routes", (int64_t)r->stats.routes);
    tby_enc_int(out, "vteps", (int64_t)r->stats.vteps);
    return 0;
}

const struct node_part node_routes_part = {
    .name = "routes",
    .start = routes_start,
    .stop = routes_stop,
    .consumer = routes_consumer,
    .fd = routes_fd,
    .input = routes_input,
    .timeout_ms = routes_timeout_ms,
    .run = routes_run,
    .ready = routes_ready,
    .degraded = routes_degraded,
    .metrics = routes_metrics,
    .status = routes_status,
};
