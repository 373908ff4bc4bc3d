/* policy.c — tabby-node's policy engine: datastore changes into the calculation, and the
 * calculation into table inet tabby, one transaction per batch of changes. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "tabby/log.h"
#include "node.h"

#define RETRY_FIRST_MS 500
#define RETRY_MAX_MS 30000

int64_t node_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    p->resync_ms = resync_s * 1000;
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

static int on_update(void *ctx, const struct tby_resource *old, const struct tby_resource *res)
{
    struct node_policy *p = ctx;
    struct tby_error err = { 0 };
    int r = tby_calc_update(p->calc, res, &err);

    (void)old;
    tby_log(TBY_LOG_DEBUG, "policy", "resource %s kind=%s name=%s%s%s", old ? "changed" : "added",
            res->info->name, res->meta.namespace ? res->meta.namespace : "",
            res->meta.namespace ? "/" : "", res->meta.name);
    if (r < 0)
        tby_log(TBY_LOG_ERROR, "policy", "calculation failed kind=%s name=%s error=\"%s\"",
                res->info->name, res->meta.name, tby_error_str(&err));
    p->changed = true;
    p->events++;
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
    p->changed = true;
    p->events++;
    return r;
}

struct tby_syncer_consumer node_policy_consumer(struct node_policy *p)
{
    return (struct tby_syncer_consumer){ .name = "policy", .ctx = p, .update = on_update,
                                         .remove = on_remove };
}

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

int node_policy_sync(struct node_policy *p)
{
    struct tby_nft_stats st = { 0 };
    struct tby_error err = { 0 };
    int64_t now = node_now_ms();
    bool verify = p->verify_at && now >= p->verify_at;
    int r;

    if (!p->nft || (!p->changed && !verify && !tby_nft_needs_read_back(p->nft)) ||
        now < p->retry_at)
        return 0;
    if (verify)
        tby_nft_invalidate(p->nft);
    r = tby_nft_sync(p->nft, tby_calc_ruleset(p->calc), &st, &err);
    if (r < 0) {
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : RETRY_FIRST_MS;
        if (p->backoff_ms > RETRY_MAX_MS)
            p->backoff_ms = RETRY_MAX_MS;
        p->retry_at = now + p->backoff_ms;
        tby_log(TBY_LOG_ERROR, "policy", "programming failed retry_ms=%d error=\"%s\"",
                p->backoff_ms, tby_error_str(&err));
        return r;
    }
    if (p->changed || st.messages > 0)
        log_programmed(p, &st);
    if (verify && !p->changed && st.messages > 0)
        tby_log(TBY_LOG_WARNING, "policy", "table inet tabby had drifted, repaired messages=%zu",
                st.messages);
    p->changed = false;
    p->events = 0;
    p->backoff_ms = 0;
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

int node_policy_timeout_ms(const struct node_policy *p)
{
    int64_t now = node_now_ms(), at = -1;

    if (!p->nft)
        return -1;
    if (p->retry_at && (p->changed || tby_nft_needs_read_back(p->nft)))
        at = p->retry_at;
    if (p->verify_at && (at < 0 || p->verify_at < at))
        at = p->verify_at;
    if (at < 0)
        return -1;
    return at <= now ? 0 : (int)(at - now);
}
