/* calc.c — the policy calculation's entry points (calc.h), and the wiring of its three
 * layers, through which data flows one way:
 *
 *   the label index (calc_index.h): endpoints, their labels, selectors and their members
 *     │ member and local-workload hooks
 *     ├──────────────────────────────▶ the policies (calc_policy.h): policy chains and the
 *     │                                  sets their rules match on
 *     │                                     │ applies and reordered hooks
 *     ▼                                     ▼
 *   the dispatch (calc_chains.h): base chains, the dispatch chains and their pages
 *
 * Beside the dispatch, host endpoints (calc_host.h) and the workloads' source check
 * (calc_spoof.h) hear of local endpoints through the same local hook.
 *
 * Each layer keeps its own state and reads the ones below through their headers; none
 * calls up into a layer above except through the hooks set here. */
#include <errno.h>
#include <stdlib.h>

#include "tabby/calc.h"
#include "calc_chains.h"
#include "calc_host.h"
#include "calc_index.h"
#include "calc_policy.h"
#include "calc_spoof.h"

struct tby_calc {
    struct tby_rs *rs;
    struct calc_index *index;
    struct calc_policies *policies;
    struct calc_dispatch *dispatch;
    bool unsettled;                   /* updates since the dispatch was last settled */
    struct calc_host *host;           /* host endpoints: beside the dispatch */
    struct calc_spoof *spoof;         /* workloads' source addresses: before it */
};

/* ---- the hooks ------------------------------------------------------------------------------ */

static int on_member(void *ctx, const struct calc_sel *s, const struct calc_ep *ep, bool joined)
{
    struct tby_calc *c = ctx;
    int r = calc_policies_member(c->policies, s, ep, joined);
    int d = ep->host_iface ? calc_host_member(c->host, s, ep, joined)
                           : calc_dispatch_member(c->dispatch, s, ep, joined);

    return r < 0 ? r : d;
}

static int on_local(void *ctx, const struct calc_ep *ep, bool present)
{
    struct tby_calc *c = ctx;

    int r;

    if (ep->host_iface)
        return calc_host_local(c->host, ep, present);
    r = calc_spoof_local(c->spoof, ep, present);
    return r < 0 ? r : calc_dispatch_local(c->dispatch, ep, present);
}

static int on_applies(void *ctx, const struct calc_pol *p, const struct calc_sel *s, bool add)
{
    struct tby_calc *c = ctx;
    /* a preDNAT or doNotTrack policy applies to host endpoints only, as Calico's */
    int r = p->pre_dnat || p->do_not_track ? 0 : calc_dispatch_applies(c->dispatch, p, s, add);
    int h = calc_host_applies(c->host, p, s, add);

    return r < 0 ? r : h;
}

static void on_reordered(void *ctx)
{
    calc_dispatch_reordered(((struct tby_calc *)ctx)->dispatch);
    calc_host_reordered(((struct tby_calc *)ctx)->host);
}

/* ---- the calculation ------------------------------------------------------------------------ */

int tby_calc_new(const char *node_name, struct tby_calc **out)
{
    struct tby_calc *c = calloc(1, sizeof(*c));
    const struct calc_index_hooks index_hooks = { .member = on_member, .local = on_local,
                                                  .ctx = c };
    const struct calc_policy_hooks policy_hooks = { .applies = on_applies,
                                                    .reordered = on_reordered, .ctx = c };

    *out = NULL;
    if (!c)
        return -ENOMEM;
    /* the host's chains first: input-hook jumps to host-in */
    if (!(c->rs = tby_rs_new()) || calc_host_new(c->rs, &c->host) < 0 ||
        calc_spoof_new(c->rs, &c->spoof) < 0 ||
        calc_dispatch_new(c->rs, &c->dispatch) < 0 ||
        calc_index_new(node_name, &index_hooks, &c->index) < 0 ||
        calc_policies_new(c->rs, c->index, &policy_hooks, &c->policies) < 0) {
        tby_calc_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void tby_calc_free(struct tby_calc *c)
{
    if (!c)
        return;
    /* The policies first: they let go of the selectors they hold and tell the dispatch. */
    calc_policies_free(c->policies);
    calc_index_free(c->index);
    calc_dispatch_free(c->dispatch);
    calc_host_free(c->host);
    calc_spoof_free(c->spoof);
    tby_rs_free(c->rs);
    free(c);
}

struct tby_rs *tby_calc_ruleset(struct tby_calc *calc)
{
    tby_calc_settle(calc, NULL); /* a failure is tried again at the next read */
    return calc->rs;
}

const char *tby_calc_policy_tier(const struct tby_calc *calc, const char *display)
{
    return calc_policies_tier_of(calc->policies, display);
}

/* The calculation's errors are -ENOMEM, the message set where it is found or here. */
static int failed(int r, struct tby_error *err)
{
    if (r == -ENOMEM && err && !err->msg[0])
        tby_error_set(err, r, "out of memory");
    return r;
}

/* The dispatch is settled once for any number of updates, when the ruleset is read: a
 * settle sorts every policy, so settling after each of M updates would cost M^2 log M
 * (54 s for a load of 10,000 policies). */
int tby_calc_settle(struct tby_calc *c, struct tby_error *err)
{
    int r;

    if (!c->unsettled)
        return 0;
    r = calc_dispatch_settle(c->dispatch);
    if (r == 0)
        r = calc_host_settle(c->host);
    if (r == 0) /* the raw hooks came or went (calc_untracked.c) */
        r = calc_dispatch_untracked(c->dispatch, calc_host_untracked(c->host));
    if (r == 0)
        r = calc_spoof_settle(c->spoof);
    c->unsettled = r < 0; /* the next read tries again */
    return failed(r, err);
}

static int replan(void *ctx, const struct calc_ep *ep)
{
    return ep->host_iface ? 0 : calc_dispatch_replan(ctx, ep); /* host_touch does those */
}

/* Profiles change rarely: a walk of the local endpoints listing it is fine. */
static int profile_changed(struct tby_calc *c, const char *name, const struct tby_profile *p)
{
    int r = calc_dispatch_profile(c->dispatch, name, p);

    calc_host_touch(c->host);
    if (r == 0)
        r = calc_index_foreach_local_with_profile(c->index, name, replan, c->dispatch);
    return r;
}

int tby_calc_update(struct tby_calc *calc, const struct tby_resource *res,
                    struct tby_error *err)
{
    int r = calc_index_update(calc->index, res);

    if (r == 0 && res->info->kind == TBY_KIND_TIER)
        r = calc_dispatch_tier(calc->dispatch, res->meta.name, res->spec.tier);
    if (r == 0 && res->info->kind == TBY_KIND_TIER)
        r = calc_host_tier(calc->host, res->meta.name, res->spec.tier);
    if (res->info->kind == TBY_KIND_HOSTENDPOINT)
        calc_host_touch(calc->host);
    if (r == 0)
        r = calc_policies_update(calc->policies, res, err);
    /* after the policy layer: the profile's chains are there before a jump to them */
    if (r == 0 && res->info->kind == TBY_KIND_PROFILE)
        r = profile_changed(calc, res->meta.name, res->spec.profile);
    calc->unsettled = true;
    return failed(r, err);
}

int tby_calc_endpointslice(struct tby_calc *calc, const char *ns, const char *name,
                           struct tby_eps *eps, struct tby_error *err)
{
    int r = calc_policies_endpointslice(calc->policies, ns, name, eps);

    calc->unsettled = true;
    return failed(r, err);
}

int tby_calc_remove(struct tby_calc *calc, const struct tby_resource *res,
                    struct tby_error *err)
{
    int r = calc_index_remove(calc->index, res);

    if (r == 0 && res->info->kind == TBY_KIND_TIER)
        r = calc_dispatch_tier(calc->dispatch, res->meta.name, NULL);
    if (r == 0 && res->info->kind == TBY_KIND_TIER)
        r = calc_host_tier(calc->host, res->meta.name, NULL);
    if (res->info->kind == TBY_KIND_HOSTENDPOINT)
        calc_host_touch(calc->host);
    if (r == 0 && res->info->kind == TBY_KIND_PROFILE)
        r = profile_changed(calc, res->meta.name, NULL);
    calc_policies_remove(calc->policies, res);
    calc->unsettled = true;
    return failed(r, err);
}

int tby_calc_set_host_addrs(struct tby_calc *calc, const struct tby_host_addr *v, size_t n)
{
    int r = calc_host_addrs(calc->host, v, n);

    calc->unsettled = true;
    return failed(r, NULL);
}

int tby_calc_set_host_config(struct tby_calc *calc, const struct tby_calc_host_config *cfg)
{
    int r = calc_host_config(calc->host, cfg);

    if (r == 0)
        r = calc_spoof_allow(calc->spoof, cfg->spoofing_any);
    calc->unsettled = true;
    return failed(r, NULL);
}

void tby_calc_stats(const struct tby_calc *calc, struct tby_calc_stats *out)
{
    calc_index_counts(calc->index, &out->endpoints, &out->local_endpoints, &out->selectors);
    out->policies = calc_policies_count(calc->policies);
}
