/* policy.c — tabby-node's policy engine, a part (node.h): datastore changes into the
 * calculation (and the IP pools into natOutgoing), and the calculation into table inet
 * tabby, one transaction per batch of changes. A change made to the table by someone else
 * shows in nftables' notifications and is repaired; a read-back every resync interval
 * catches the rest. What such a change looked like is kept for /status, which also
 * compares the table with the calculation when asked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tabby/array.h"
#include "tabby/calc.h"
#include "tabby/cleanup.h"
#include "tabby/codec.h"
#include "tabby/endpointslice.h"
#include "tabby/enforce.h"
#include "tabby/log.h"
#include "tabby/nft.h"
#include "tabby/routes.h"
#include "tabby/ruleset.h"
#include "flow_log.h"
#include "node.h"
#include "node_config.h"
#include "policy_enforce.h"

struct node_policy_stats {
    bool programmed;          /* the kernel holds what the calculation wants */
    uint64_t syncs, failures;
    struct node_hist sync_hist;
    char last_error[TBY_ERROR_MAX];
    uint64_t foreign;         /* changes made by someone else, found differing */
    int64_t foreign_at;       /* when the last was found, monotonic ms */
    struct tby_strv foreign_diff; /* what differed then */
};

struct node_policy {
    struct tby_calc *calc;
    struct policy_enforce *enforce; /* what of each resource the calculation gets */
    unsigned caps;            /* what the datastore lets tabby enforce (enforce.h) */
    struct tby_nft *nft;      /* NULL in --dump mode */
    bool changed;             /* the calculation changed since the last sync */
    bool pools_changed;       /* natOutgoing needs computing again */
    uint64_t dp_generation;   /* of the dataplane settings it had (natOutgoingAddress, the
                               * host endpoints'; UINT64_MAX: none yet) */
    uint64_t addrs_generation; /* of the node's interfaces' addresses it had */
    bool foreign;             /* nftables said someone else changed the table */
    unsigned events;          /* resources applied since the last sync */
    int64_t retry_at;         /* after a failed sync, monotonic ms */
    struct node_backoff backoff;
    int64_t verify_at;        /* next periodic read-back, monotonic ms (0: never) */
    int resync_ms;
    struct node_policy_stats stats;
};

static void policy_stop(void *state)
{
    struct node_policy *p = state;

    if (!p)
        return;
    tby_nft_close(p->nft);
    tby_calc_free(p->calc);
    policy_enforce_free(p->enforce);
    tby_strv_clear(&p->stats.foreign_diff);
    free(p);
}

/* In --dump mode without the kernel: the calculation alone. */
static int policy_start(struct node *n, void **state, struct tby_error *err)
{
    struct node_policy *p = calloc(1, sizeof(*p));
    int r;

    if (!p)
        return tby_error_set(err, -ENOMEM, "out of memory");
    p->caps = n->store ? tby_enforce_caps(n->store) : 0;
    r = tby_calc_new(n->name, &p->calc);
    if (r == 0)
        r = policy_enforce_new(n->name, p->caps, &p->enforce);
    if (r < 0) {
        policy_stop(p);
        return tby_error_set(err, r, "out of memory");
    }
    if (!n->cfg.dump && (r = tby_nft_open(&p->nft, err)) < 0) {
        policy_stop(p);
        return r;
    }
    p->changed = true; /* the table's frame, even before any resource */
    p->pools_changed = true;
    p->dp_generation = UINT64_MAX;
    p->addrs_generation = UINT64_MAX;
    p->resync_ms = n->cfg.policy_resync_s * 1000;
    p->backoff = (struct node_backoff){ .first_ms = 500, .max_ms = 30000 };
    *state = p;
    return 0;
}

/* Kinds the calculation reads; the rest (Nodes, BGP, IPAM) must not cost a sync. */
static bool policy_reads(enum tby_kind kind)
{
    switch (kind) {
    case TBY_KIND_WORKLOADENDPOINT:
    case TBY_KIND_HOSTENDPOINT:
    case TBY_KIND_NAMESPACE:
    case TBY_KIND_PROFILE:
    case TBY_KIND_NETWORKPOLICY:
    case TBY_KIND_GLOBALNETWORKPOLICY:
    case TBY_KIND_K8S_NETWORKPOLICY:
    case TBY_KIND_NETWORKSET:
    case TBY_KIND_GLOBALNETWORKSET:
    case TBY_KIND_TIER:
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
    int r = policy_enforce_update(p->enforce, p->calc, res, &err);

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
    int r = policy_enforce_remove(p->enforce, p->calc, old, &err);

    tby_log(TBY_LOG_DEBUG, "policy", "resource removed kind=%s name=%s%s%s", old->info->name,
            old->meta.namespace ? old->meta.namespace : "", old->meta.namespace ? "/" : "",
            old->meta.name);
    noted(p, old);
    return r;
}

/* An EndpointSlice record (k8s: only) came, changed or went: rules naming its Service
 * follow. A record that does not decode counts as gone (its endpoints match nothing). */
static int on_slice(void *ctx, const char *key, const struct tby_kv *kv)
{
    struct node_policy *p = ctx;
    const char *rest = key + strlen(TBY_EPS_PREFIX), *slash = strchr(rest, '/');
    _cleanup_free_ char *ns = slash ? strndup(rest, (size_t)(slash - rest)) : NULL;
    _cleanup_json_ json_t *obj = kv ? json_loadb(kv->value, kv->value_len, 0, NULL) : NULL;
    struct tby_eps *eps = NULL;
    struct tby_error err = { 0 };
    int r;

    if (!slash)
        return 0;
    if (!ns)
        return -ENOMEM;
    if (obj && tby_eps_decode(obj, &eps, &err) == -ENOMEM)
        return -ENOMEM;
    if (kv && !eps)
        tby_log(TBY_LOG_WARNING, "policy", "EndpointSlice left out key=%s error=\"%s\"", key,
                err.msg[0] ? tby_error_str(&err) : "not JSON");
    r = tby_calc_endpointslice(p->calc, ns, slash + 1, eps, &err);
    if (r < 0)
        tby_log(TBY_LOG_ERROR, "policy", "calculation failed EndpointSlice=%s/%s error=\"%s\"",
                ns, slash + 1, tby_error_str(&err));
    p->changed = true;
    p->events++;
    return r;
}

/* On a datastore that knows Services, their EndpointSlices are records of the syncer's. */
static struct tby_syncer_consumer policy_consumer(void *state)
{
    struct node_policy *p = state;
    bool services = p->caps & TBY_ENFORCE_SERVICES;

    return (struct tby_syncer_consumer){ .name = "policy", .ctx = state, .update = on_update,
                                         .remove = on_remove,
                                         .record_prefix = services ? TBY_EPS_PREFIX : NULL,
                                         .record = services ? on_slice : NULL };
}

/* ---- natOutgoing ------------------------------------------------------------------------ */

struct pool_list {
    struct tby_routes_pool *v;
    size_t n, cap;
};

static int collect_pool(void *ctx, const char *key, const struct tby_resource *res)
{
    struct pool_list *l = ctx;

    (void)key;
    if (!res || res->info->kind != TBY_KIND_IPPOOL)
        return 0;
    if (TBY_GROW(l->v, l->cap, l->n + 1) < 0)
        return -ENOMEM;
    l->v[l->n++] = (struct tby_routes_pool){ res->meta.name, res->spec.ippool };
    return 0;
}

/* The pools' natOutgoing into the calculation (Calico's masquerade and all-pools sets). */
static int update_nat(struct node_policy *p, const struct node *n)
{
    const struct tby_syncer *s = n->syncer;
    const struct tby_felix_settings *dp = &n->cfg.dp;
    struct pool_list pools = { 0 };
    struct tby_nat_cidrs nat = { 0 };
    int r = tby_syncer_foreach(s, collect_pool, &pools);

    if (r == 0)
        r = tby_routes_nat_cidrs(pools.v, pools.n, &nat);
    if (r == 0)
        r = tby_calc_set_nat_to(p->calc, &nat.masquerade, &nat.pools,
                                dp->has_nat_address ? &dp->nat_address : NULL);
    if (r == 0)
        tby_log(TBY_LOG_DEBUG, "policy", "natOutgoing pools=%zu masquerading=%zu", pools.n,
                nat.masquerade.n);
    tby_nat_cidrs_clear(&nat);
    free(pools.v);
    p->pools_changed = r < 0;
    return r;
}

/* The host endpoints' settings, as the felix part merged them (FELIX_*, the node's
 * FelixConfiguration, the default one, Calico's defaults), into the calculation. */
static int update_host_config(struct node_policy *p, const struct node *n)
{
    const struct tby_felix_settings *dp = &n->cfg.dp;
    const struct tby_calc_host_config cfg = {
        .to_host = dp->to_host,
        .failsafe = { dp->failsafe[0], dp->failsafe[1] },
        .n_failsafe = { dp->n_failsafe[0], dp->n_failsafe[1] },
        .spoofing_any = dp->spoofing_any,
    };
    int r = tby_calc_set_host_config(p->calc, &cfg);

    if (r < 0)
        tby_log(TBY_LOG_ERROR, "policy", "host endpoints' settings not applied: out of memory");
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

/* Compares the table with the calculation (tby_nft_check). Differences found while the
 * calculation has nothing new to program, after a first sync, are someone else's change:
 * counted and kept, since the next sync repairs them. false when it could not look. */
static bool compare_table(struct node_policy *p, struct tby_nft_check *out)
{
    struct tby_error err = { 0 };

    if (tby_nft_check(p->nft, tby_calc_ruleset(p->calc), out, &err) < 0) {
        tby_log(TBY_LOG_ERROR, "policy", "reading table inet tabby back failed error=\"%s\"",
                tby_error_str(&err));
        return false;
    }
    if (!out->differences.n || p->changed || !p->stats.programmed)
        return true;
    p->stats.foreign++;
    p->stats.foreign_at = node_now_ms();
    tby_strv_clear(&p->stats.foreign_diff);
    p->stats.foreign_diff = out->differences;
    out->differences = (struct tby_strv){ 0 };
    tby_log(TBY_LOG_WARNING, "policy", "table inet tabby differs from what tabby programmed "
            "differences=%zu first=\"%s\"", p->stats.foreign_diff.n,
            p->stats.foreign_diff.items[0]);
    return true;
}

static bool note_foreign(struct node_policy *p)
{
    struct tby_nft_check c;
    bool looked = compare_table(p, &c);

    p->foreign = false;
    if (looked)
        tby_nft_check_clear(&c);
    return looked;
}

/* Programs what changed (the IP pools' natOutgoing from s), when something did and a
 * retry is not pending. */
static int sync_table(struct node_policy *p, const struct node *n)
{
    struct tby_nft_stats st = { 0 };
    struct tby_error err = { 0 };
    int64_t now = node_now_ms();
    bool verify = p->verify_at && now >= p->verify_at;
    bool looked = false;
    int r;

    if (n->cfg.host_addrs_generation != p->addrs_generation &&
        tby_calc_set_host_addrs(p->calc, n->cfg.host_addrs, n->cfg.n_host_addrs) == 0) {
        p->addrs_generation = n->cfg.host_addrs_generation;
        p->changed = true;
    }
    if (n->cfg.dp.generation != p->dp_generation && update_host_config(p, n) == 0) {
        p->dp_generation = n->cfg.dp.generation;  /* natOutgoingAddress may have moved too */
        p->pools_changed = p->changed = true;
    }
    if (p->pools_changed && update_nat(p, n) < 0)
        tby_log(TBY_LOG_ERROR, "policy", "natOutgoing not computed: out of memory");
    /* A change of someone else's, before it is repaired: what it did, for /status. */
    if (p->nft && !p->changed && (verify || p->foreign) && now >= p->retry_at)
        looked = note_foreign(p);
    if (!p->nft || (!p->changed && !verify && !tby_nft_needs_read_back(p->nft)) ||
        now < p->retry_at)
        return 0;
    if (verify && !looked)
        tby_nft_invalidate(p->nft);
    /* the dispatch is written once for the events since the last sync */
    if (tby_calc_settle(p->calc, &err) < 0)
        tby_log(TBY_LOG_ERROR, "policy", "calculation failed error=\"%s\"", tby_error_str(&err));
    err = (struct tby_error){ 0 };
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

/* The read-back interval may change (FelixConfiguration): the next one is due then. */
static void follow_resync(struct node_policy *p, const struct node *n)
{
    int ms = n->cfg.policy_resync_s * 1000;

    if (ms == p->resync_ms)
        return;
    p->resync_ms = ms;
    if (p->stats.programmed)
        p->verify_at = ms ? node_now_ms() + ms : 0;
}

static void policy_run(void *state, const struct node *n)
{
    follow_resync(state, n);
    sync_table(state, n);
}

/* nftables' notifications: a foreign change schedules a repair. */
static void policy_input(void *state)
{
    struct node_policy *p = state;
    int r = p->nft ? tby_nft_monitor_read(p->nft) : 0;

    if (r > 0) {
        tby_log(TBY_LOG_WARNING, "policy", "table inet tabby changed outside tabby, repairing");
        p->foreign = true;
    }
    else if (r < 0)
        tby_log(TBY_LOG_ERROR, "policy", "nftables notifications failed error=%d", r);
}

static int policy_fd(const void *state)
{
    const struct node_policy *p = state;

    return p->nft ? tby_nft_monitor_fd(p->nft) : -1;
}

static int policy_timeout_ms(const void *state)
{
    const struct node_policy *p = state;
    int64_t at = -1;

    if (!p->nft)
        return -1;
    if (p->retry_at && (p->changed || tby_nft_needs_read_back(p->nft)))
        at = p->retry_at;
    if (p->verify_at && (at < 0 || p->verify_at < at))
        at = p->verify_at;
    return node_ms_until(at);
}

/* ---- what it says ----------------------------------------------------------------------- */

static bool policy_ready(const void *state, char *why, size_t size)
{
    const struct node_policy_stats *st = &((const struct node_policy *)state)->stats;

    return st->programmed || node_not_ready(why, size, "policy not programmed", st->last_error);
}

/* Programming that fails, else resources not enforced as written (the count, one named). */
static bool policy_degraded(const void *state, char *why, size_t size)
{
    const struct node_policy *p = state;
    struct policy_enforce_counts c;
    char example[TBY_ERROR_MAX];

    if (p->stats.last_error[0]) {
        snprintf(why, size, "policy: %s", p->stats.last_error);
        return true;
    }
    if (!policy_enforce_example(p->enforce, example, sizeof(example)))
        return false;
    policy_enforce_counts(p->enforce, &c);
    snprintf(why, size, "policy: %zu resource%s not enforced as written (denied in their "
             "place), such as %s", c.fail_closed, c.fail_closed == 1 ? "" : "s", example);
    return true;
}

static void policy_metrics(const void *state, struct tby_buf *out)
{
    const struct node_policy *p = state;
    const struct node_policy_stats *ps = &p->stats;
    struct policy_enforce_counts ec;
    struct tby_calc_stats cs;
    size_t sets, elems, chains, rules;

    tby_calc_stats(p->calc, &cs);
    policy_enforce_counts(p->enforce, &ec);
    tby_rs_counts(tby_calc_ruleset(p->calc), &sets, &elems, &chains, &rules);
    tby_buf_printf(out, "# HELP tabby_endpoints Workload endpoints known, this node's and all.\n"
               "# TYPE tabby_endpoints gauge\ntabby_endpoints{scope=\"local\"} %zu\n"
               "tabby_endpoints{scope=\"total\"} %zu\n", cs.local_endpoints, cs.endpoints);
    node_gauge(out, "tabby_policies", "Policies known (Calico and Kubernetes).",
               (double)cs.policies);
    node_gauge(out, "tabby_policy_fail_closed", "Resources tabby cannot enforce as written, "
               "programmed as a stand-in that denies in their place.", (double)ec.fail_closed);
    node_gauge(out, "tabby_selectors", "Distinct selectors indexed.", (double)cs.selectors);
    node_gauge(out, "tabby_nft_sets", "Sets and maps in table inet tabby.", (double)sets);
    node_gauge(out, "tabby_nft_set_elements", "Set and map elements in table inet tabby.",
               (double)elems);
    node_gauge(out, "tabby_nft_chains", "Chains in table inet tabby.", (double)chains);
    node_gauge(out, "tabby_nft_rules", "Rules in table inet tabby.", (double)rules);
    node_counter(out, "tabby_nft_commits_total", "nftables transactions committed.",
                 (double)ps->syncs);
    node_counter(out, "tabby_nft_commit_failures_total", "nftables transactions refused.",
                 (double)ps->failures);
    node_hist_write(out, "tabby_policy_sync_seconds", "Time to program a policy change.",
                    &ps->sync_hist);
}

/* /status: the table compared with the calculation now (a difference is repaired by the
 * next turn of the loop), and the last change someone else made to it. */
static int policy_status(void *state, const struct node *n, json_t *out)
{
    struct node_policy *p = state;
    const struct node_policy_stats *st = &p->stats;
    struct tby_nft_check c;
    json_t *table, *outside;

    (void)n;
    tby_enc_bool(out, "programmed", st->programmed);
    tby_enc_bool(out, "pending", p->changed);
    tby_enc_string(out, "last_error", st->last_error);
    if (p->nft && (table = json_object())) {
        size_t sets, elems, chains, rules;

        tby_rs_counts(tby_calc_ruleset(p->calc), &sets, &elems, &chains, &rules);
        tby_enc_int(table, "sets", (int64_t)sets);
        tby_enc_int(table, "elements", (int64_t)elems);
        tby_enc_int(table, "chains", (int64_t)chains);
        tby_enc_int(table, "rules", (int64_t)rules);
        if (compare_table(p, &c)) {
            tby_enc_bool(table, "present", c.present);
            tby_enc_bool(table, "equal", c.differences.n == 0 && c.present);
            tby_enc_true(table, "rebuild", c.rebuild);
            tby_enc_strv(table, "differences", &c.differences);
            tby_enc_string(table, "commands", c.commands);
            tby_enc_true(table, "commands_cut", c.commands_cut);
            tby_nft_check_clear(&c);
        } else {
            tby_enc_string(table, "error", "reading the table back failed (see the log)");
        }
        json_object_set_new(out, "table", table);
    }
    if (st->foreign && (outside = json_object())) {
        tby_enc_int(outside, "count", (int64_t)st->foreign);
        json_object_set_new(outside, "seconds_ago",
                            json_real((double)(node_now_ms() - st->foreign_at) / 1000.0));
        tby_enc_strv(outside, "differences", &st->foreign_diff);
        json_object_set_new(out, "changed_outside", outside);
    }
    return 0;
}

/* ---- one-shot modes ------------------------------------------------------------------------ */

/* --dump: the table as nft text (natOutgoing computed from the pools first). */
static int policy_dump(void *state, const struct node *n, FILE *out, struct tby_error *err)
{
    struct node_policy *p = state;
    int r;

    sync_table(p, n); /* no dataplane: computes natOutgoing only */
    r = tby_rs_render(tby_calc_ruleset(p->calc), out);
    return r < 0 ? tby_error_set(err, r, "writing the table: %s", strerror(-r)) : 0;
}

/* Every run makes table inet tabby first: its presence says a node programmed here. */
static bool policy_holds_state(void)
{
    _cleanup_(tby_nft_closep) struct tby_nft *nft = NULL;
    struct tby_error err = { 0 };
    bool exists = false;

    if (tby_nft_open(&nft, &err) < 0 || tby_nft_table_exists(nft, &exists, &err) < 0)
        return true; /* cannot tell: assume there is something to keep */
    return exists;
}

static int policy_cleanup(struct tby_error *err)
{
    _cleanup_(tby_nft_closep) struct tby_nft *nft = NULL;
    int r = tby_nft_open(&nft, err);

    if (r == 0)
        r = tby_nft_delete_table(nft, err);
    if (r == 0)
        tby_log(TBY_LOG_INFO, "node", "table inet tabby deleted");
    return r;
}

/* A tier's default deny names its tier ("tier T: default deny: …"); a rule its policy
 * ("POLICY DIR INDEX"), whose tier the calculation knows. */
static const char *policy_deny_rule(const void *state, const char *id, const char **tier)
{
    const struct node_policy *p = state;
    const char *rule = tby_rs_find_deny(tby_calc_ruleset(p->calc), id);
    static char name[FLOW_LOG_TEXT];
    char policy[FLOW_LOG_TEXT];

    *tier = NULL;
    if (!rule)
        return NULL;
    if (strncmp(rule, "tier ", 5) == 0 && strchr(rule, ':')) {
        snprintf(name, sizeof(name), "%.*s", (int)(strchr(rule, ':') - rule - 5), rule + 5);
        *tier = name;
        return rule;
    }
    flow_log_policy_of(rule, policy, sizeof(policy));
    *tier = tby_calc_policy_tier(p->calc, policy);
    return rule;
}

const struct node_part node_policy_part = {
    .name = "policy",
    .start = policy_start,
    .stop = policy_stop,
    .consumer = policy_consumer,
    .fd = policy_fd,
    .input = policy_input,
    .timeout_ms = policy_timeout_ms,
    .run = policy_run,
    .ready = policy_ready,
    .degraded = policy_degraded,
    .metrics = policy_metrics,
    .status = policy_status,
    .dump = policy_dump,
    .deny_rule = policy_deny_rule,
    .holds_state = policy_holds_state,
    .cleanup = policy_cleanup,
};
