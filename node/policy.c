/* policy.c — tabby-node's policy engine: datastore changes into the calculation (and the
 * IP pools into natOutgoing), and the calculation into table inet tabby, one transaction
 * per batch of changes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "tabby/log.h"
#include "tabby/routes.h"
#include "node.h"

struct node_policy {
    struct tby_calc *calc;
    struct tby_nft *nft;      /* NULL in --dump mode */
    bool changed;             /* the calculation changed since the last sync */
    bool pools_changed;       /* natOutgoing needs computing again */
    unsigned events;          /* resources applied since the last sync */
    int64_t retry_at;         /* after a failed sync, monotonic ms */
    struct node_backoff backoff;
    int64_t verify_at;        /* next periodic read-back, monotonic ms (0: never) */
    int resync_ms;
    struct node_policy_stats stats;
};

int node_policy_new(const char *node_name, bool with_dataplane, int resync_s,
                    struct node_policy **out, struct tby_error *err)
{
    struct node_policy *p = calloc(1, sizeof(*p));
    int r;

    *out = NULL;
    if (!p)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = tby_calc_new(node_name, &p->calc);
    if (r < 0) {
        free(p);
        return tby_error_set(err, r, "out of memory");
    }
    if (with_dataplane && (r = tby_nft_open(&p->nft, err)) < 0) {
        node_policy_free(p);
        return r;
    }
    p->changed = true; /* the table's frame, even before any resource */
    p->pools_changed = true;
    p->resync_ms = resync_s * 1000;
    p->backoff = (struct node_backoff){ .first_ms = 500, .max_ms = 30000 };
    *out = p;
    return 0;
}

void node_policy_free(struct node_policy *p)
{
    if (!p)
        return;
    tby_nft_close(p->nft);
    tby_calc_free(p->calc);
    free(p);
}

struct tby_calc *node_policy_calc(struct node_policy *p)
{
    return p->calc;
}

const struct node_policy_stats *node_policy_stats(const struct node_policy *p)
{
    return &p->stats;
}

/* Kinds the calculation reads; the rest (Nodes, BGP, IPAM) must not cost a sync. */
static bool policy_reads(enum tby_kind kind)
{
    switch (kind) {
    case TBY_KIND_WORKLOADENDPOINT:
    case TBY_KIND_NAMESPACE:
    case TBY_KIND_PROFILE:
    case TBY_KIND_NETWORKPOLICY:
    case TBY_KIND_GLOBALNETWORKPOLICY:
    case TBY_KIND_K8S_NETWORKPOLICY:
        return true;
    default:
        return false;
    }
}

static void noted(struct node_policy *p, const struct tby_resource *res)
{
    if (res->info->kind == TBY_KIND_IPPOOL)
        p->pools_changed = p->changed = true;
    if (!policy_reads(res->info->kind))
        return;
    p->changed = true;
    p->events++;
}

static int on_update(void *ctx, const struct tby_resource *old, const struct tby_resource *res)
{
    struct node_policy *p = ctx;
    struct tby_error err = { 0 };
    int r = tby_calc_update(p->calc, res, &err);

    tby_log(TBY_LOG_DEBUG, "policy", "resource %s kind=%s name=%s%s%s", old ? "changed" : "added",
            res->info->name, res->meta.namespace ? res->meta.namespace : "",
            res->meta.namespace ? "/" : "", res->meta.name);
    if (r < 0)
        tby_log(TBY_LOG_ERROR, "policy", "calculation failed kind=%s name=%s error=\"%s\"",
                res->info->name, res->meta.name, tby_error_str(&err));
    noted(p, res);
    return r;
}

static int on_remove(void *ctx, const struct tby_resource *old)
{
    struct node_policy *p = ctx;
    struct tby_error err = { 0 };
    int r = tby_calc_remove(p->calc, old, &err);

    tby_log(TBY_LOG_DEBUG, "policy", "resource removed kind=%s name=%s%s%s", old->info->name,
            old->meta.namespace ? old->meta.namespace : "", old->meta.namespace ? "/" : "",
            old->meta.name);
    noted(p, old);
    return r;
}

struct tby_syncer_consumer node_policy_consumer(struct node_policy *p)
{
    return (struct tby_syncer_consumer){ .name = "policy", .ctx = p, .update = on_update,
                                         .remove = on_remove };
}

/* ---- natOutgoing ------------------------------------------------------------------------ */

struct pool_list {
    struct tby_routes_pool *v;
    size_t n, cap;
    int err;
};

static int collect_pool(void *ctx, const char *key, const struct tby_resource *res)
{
    struct pool_list *l = ctx;

    (void)key;
    if (!res || res->info->kind != TBY_KIND_IPPOOL)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct tby_routes_pool *v = reallocarray(l->v, cap, sizeof(*v));

        if (!v)
            return l->err = -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct tby_routes_pool){ res->meta.name, res->spec.ippool };
    return 0;
}

/* The pools' natOutgoing into the calculation (Calico's masquerade and all-pools sets). */
static int update_nat(struct node_policy *p, const struct tby_syncer *s)
{
    struct pool_list pools = { 0 };
    struct tby_nat_cidrs nat = { 0 };
    int r = tby_syncer_foreach(s, collect_pool, &pools);

    if (r == 0)
        r = tby_routes_nat_cidrs(pools.v, pools.n, &nat);
    if (r == 0)
        r = tby_calc_set_nat(p->calc, &nat.masquerade, &nat.pools);
    if (r == 0)
        tby_log(TBY_LOG_DEBUG, "policy", "natOutgoing pools=%zu masquerading=%zu", pools.n,
                nat.masquerade.n);
    tby_nat_cidrs_clear(&nat);
    free(pools.v);
    p->pools_changed = r < 0;
    return r;
}

/* ---- programming -------------------------------------------------------------------------- */

static void log_programmed(const struct node_policy *p, const struct tby_nft_stats *st)
{
    struct tby_calc_stats cs;
    size_t sets, elems, chains, rules;

    tby_calc_stats(p->calc, &cs);
    tby_rs_counts(tby_calc_ruleset(p->calc), &sets, &elems, &chains, &rules);
    tby_log(TBY_LOG_INFO, "policy", "policy programmed endpoints=%zu local=%zu policies=%zu "
            "sets=%zu elements=%zu chains=%zu rules=%zu events=%u messages=%zu "
            "read_back=%s%s ms=%.1f kernel_ms=%.1f",
            cs.endpoints, cs.local_endpoints, cs.policies, sets, elems, chains, rules,
            p->events, st->messages, st->read_back ? "yes" : "no",
            st->rebuilt ? " rebuilt=yes" : "", st->ms, st->kernel_ms);
}

static int sync_failed(struct node_policy *p, int r, int64_t now, const struct tby_error *err)
{
    p->retry_at = now + node_backoff_next(&p->backoff);
    p->stats.failures++;
    snprintf(p->stats.last_error, sizeof(p->stats.last_error), "%s", tby_error_str(err));
    tby_log(TBY_LOG_ERROR, "policy", "programming failed retry_ms=%d error=\"%s\"",
            p->backoff.cur_ms, tby_error_str(err));
    return r;
}

int node_policy_sync(struct node_policy *p, const struct tby_syncer *s)
{
    struct tby_nft_stats st = { 0 };
    struct tby_error err = { 0 };
    int64_t now = node_now_ms();
    bool verify = p->verify_at && now >= p->verify_at;
    int r;

    if (p->pools_changed && update_nat(p, s) < 0)
        tby_log(TBY_LOG_ERROR, "policy", "natOutgoing not computed: out of memory");
    if (!p->nft || (!p->changed && !verify && !tby_nft_needs_read_back(p->nft)) ||
        now < p->retry_at)
        return 0;
    if (verify)
        tby_nft_invalidate(p->nft);
    r = tby_nft_sync(p->nft, tby_calc_ruleset(p->calc), &st, &err);
    if (r < 0)
        return sync_failed(p, r, now, &err);
    if (p->changed || st.messages > 0)
        log_programmed(p, &st);
    if (verify && !p->changed && st.messages > 0)
        tby_log(TBY_LOG_WARNING, "policy", "table inet tabby had drifted, repaired messages=%zu",
                st.messages);
    p->stats.syncs++;
    p->stats.programmed = true;
    p->stats.last_error[0] = '\0';
    node_hist_add(&p->stats.sync_hist, st.ms);
    p->changed = false;
    p->events = 0;
    node_backoff_reset(&p->backoff);
    p->retry_at = 0;
    p->verify_at = p->resync_ms ? now + p->resync_ms : 0;
    return 0;
}

void node_policy_monitor(struct node_policy *p)
{
    int r = p->nft ? tby_nft_monitor_read(p->nft) : 0;

    if (r > 0)
        tby_log(TBY_LOG_WARNING, "policy", "table inet tabby changed outside tabby, repairing");
    else if (r < 0)
        tby_log(TBY_LOG_ERROR, "policy", "nftables notifications failed error=%d", r);
}

int node_policy_monitor_fd(const struct node_policy *p)
{
    return p->nft ? tby_nft_monitor_fd(p->nft) : -1;
}

int node_policy_timeout_ms(const struct node_policy *p)
{
    int64_t at = -1;

    if (!p->nft)
        return -1;
    if (p->retry_at && (p->changed || tby_nft_needs_read_back(p->nft)))
        at = p->retry_at;
    if (p->verify_at && (at < 0 || p->verify_at < at))
        at = p->verify_at;
    return node_ms_until(at);
}
