/* calc_host.c — host endpoints (calc_host.h): traffic to and from the node itself through
 * the interfaces HostEndpoints name, policed as Calico's felix polices it.
 *
 * input-hook (calc_chains.c) deals with workloads first: a packet from a local workload
 * to its own node has passed the workload's egress policy (from-wl) and then takes the
 * node's defaultEndpointToHostAction, the first rule of host-in (Calico's default Drop;
 * Return and Accept let it in: tabby's table has nothing after). Every other packet to
 * the node goes to its host endpoint's ingress chain: host-in sends the interface of a
 * named endpoint (`interfaceName: eth0`) to hin-if-<iface>, and any other interface to the
 * all-interfaces endpoint's (`interfaceName: "*"`, hin-any) when there is one. output-hook
 * does the same for the node's own packets leaving (host-out, hout-…), except those going
 * to a local workload, which the node may always reach (Calico's rule too).
 *
 * An endpoint's chain, as Calico's: the failsafe ports accept first (so that no policy cuts
 * SSH, BGP or the datastore), the verdict marks are cleared, then each tier with a policy
 * applying to the endpoint in that direction runs its policies in Calico's order while
 * none allowed or passed (an Allow accepts; the tier's end drops unless its defaultAction
 * is Pass), then its profiles in order, and what none allowed is dropped. A host endpoint
 * with no policy and no profile therefore drops everything but the failsafe ports,
 * Calico's default. Return traffic is accepted by the hooks' conntrack rule first.
 *
 * Host endpoints are few (one or two per node), so each has its own chain, rewritten
 * whole when something it says changes; no page or set per policy as for workloads. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/calc.h"
#include "tabby/cleanup.h"
#include "calc_host.h"
#include "calc_spoof.h"
#include "calc_untracked.h"

#define VERDICT_BITS (TBY_MARK_ACCEPT | TBY_MARK_PASS)
#define OUT_HOOK_CHAIN "output-hook"
#define PRE_HOOK_CHAIN "prerouting-hook"
#define FAILSAFE_IN "failsafe-in"
#define FAILSAFE_OUT "failsafe-out"

static const char *const dir_word[2] = { "ingress", "egress" };
/* An endpoint's chains: K_IN, K_OUT (the node's own traffic), K_FWD_IN, K_FWD_OUT
 * (forwarded traffic coming in by it, going out by it: applyOnForward policies), K_RAW_IN,
 * K_RAW_OUT (before conntrack: doNotTrack policies, calc_untracked.c), K_PRE. The
 * direction of kind k is k & 1 (DIR_IN, DIR_OUT). */
enum { K_IN, K_OUT, K_FWD_IN, K_FWD_OUT, K_RAW_IN, K_RAW_OUT, K_PRE, N_KINDS };
static const char *const ep_prefix[N_KINDS] = { "hin", "hout", "hfi", "hfo",
                                                "hrin", "hrout", "hpre" };
static const char *const dispatch_name[N_KINDS] = { CALC_HOST_CHAIN_IN, "host-out",
                                                    CALC_HOST_CHAIN_FWD_IN,
                                                    CALC_HOST_CHAIN_FWD_OUT,
                                                    CALC_UNTRACKED_CHAIN_IN,
                                                    CALC_UNTRACKED_CHAIN_OUT,
                                                    CALC_HOST_CHAIN_PRE };
#define IS_RAW(k) ((k) == K_RAW_IN || (k) == K_RAW_OUT)

/* A local host endpoint. */
struct hep {
    struct tby_hnode node;            /* in h->heps, by pointer */
    const struct calc_ep *ep;         /* the index's */
    char *chain[N_KINDS];             /* its chains (NULL while not written) */
    struct tby_rs_set *ifset;         /* its interfaces, for the dispatch (not "*") */
    struct tby_strv won;              /* the interfaces it governs, in ifset */
    bool on;                          /* it governs some (or is the "*" one used) */
};

/* A policy applying to a selector (the policy layer says when). */
struct hpol {
    const struct calc_pol *p;
    const struct calc_sel *s;
};

struct htier {
    char *name;
    bool has_order, pass;
    double order;
};

/* The sets of the failsafe ports' nets, one per net, filled when made. */
struct fs_sets {
    struct tby_rs_set **v;
    size_t n, cap;
};

struct calc_host {
    struct tby_rs *rs;
    struct tby_hmap heps;             /* struct hep */
    struct hpol *pols;
    size_t n_pols, cap_pols;
    struct htier *tiers;              /* stored Tiers */
    size_t n_tiers, cap_tiers;
    enum tby_felix_to_host to_host;   /* the node's merged FelixConfiguration's */
    struct tby_felix_port *failsafe[2];
    size_t n_failsafe[2];
    struct fs_sets fs_sets;           /* the sets the failsafe chains test */
    struct tby_host_addr *addrs;      /* the node's interfaces' (tby_calc_set_host_addrs) */
    size_t n_addrs;
    bool untracked;                   /* the doNotTrack part is written (untracked_part) */
    bool dirty;
};

/* ---- rules ------------------------------------------------------------------------------ */

static struct tby_rs_rule *mark_rule(uint32_t and_mask)
{
    struct tby_rs_rule *r = tby_rs_rule_new();

    if (r) {
        r->set_mark = true;
        r->mark_and = and_mask;
    }
    return r;
}

static const struct tby_rs_match no_pass = { .type = TBY_RS_M_MARK, .a = TBY_MARK_PASS };
static const struct tby_rs_match accepted = { .type = TBY_RS_M_MARK, .a = TBY_MARK_ACCEPT,
                                              .neg = true };

/* ---- FelixConfiguration ----------------------------------------------------------------- */

int calc_host_config(struct calc_host *h, const struct tby_calc_host_config *cfg)
{
    struct tby_felix_port *v[2] = { NULL, NULL };

    for (int d = 0; d < 2; d++) {
        if (cfg->n_failsafe[d] && !(v[d] = malloc(cfg->n_failsafe[d] * sizeof(*v[d])))) {
            free(v[0]);
            return -ENOMEM;
        }
        if (cfg->n_failsafe[d])
            memcpy(v[d], cfg->failsafe[d], cfg->n_failsafe[d] * sizeof(*v[d]));
    }
    for (int d = 0; d < 2; d++) {
        free(h->failsafe[d]);
        h->failsafe[d] = v[d];
        h->n_failsafe[d] = cfg->n_failsafe[d];
    }
    h->to_host = cfg->to_host;
    h->dirty = true;
    return 0;
}

void calc_host_net_set_name(const struct tby_cidr *net, char name[TBY_RS_HASHED_NAME_SIZE])
{
    char text[TBY_CIDR_STRLEN];

    tby_rs_hashed_name(name, "fs-net", tby_cidr_format(net, text));
}

static struct tby_rs_set *net_set(struct calc_host *h, const struct tby_cidr *net,
                                  struct fs_sets *used)
{
    char name[TBY_RS_HASHED_NAME_SIZE];
    struct tby_rs_set *s;

    calc_host_net_set_name(net, name);
    if (!(s = tby_rs_set_find(h->rs, name))) {
        s = tby_rs_set_add(h->rs, name, net->ip.family == 6 ? TBY_RS_NET6 : TBY_RS_NET4,
                           "a failsafe port's net");
        if (s && tby_rs_fill_nets(h->rs, s, net, 1) < 0) {
            tby_rs_set_del(h->rs, s);
            s = NULL;
        }
    }
    if (!s || TBY_GROW(used->v, used->cap, used->n + 1) < 0)
        return NULL;
    used->v[used->n++] = s;
    return s;
}

/* A failsafe port's rule: its destination port; with a net, as Calico's, only the peers
 * in it (the source coming in, the destination going out), of that family only. */
static struct tby_rs_rule *failsafe_rule(struct calc_host *h, int d,
                                         const struct tby_felix_port *p, struct fs_sets *used)
{
    uint8_t family = p->has_net ? p->net.ip.family : 0;
    struct tby_rs_match m[4] = {
        { .type = TBY_RS_M_NFPROTO, .family = family },
        { .type = TBY_RS_M_L4PROTO, .a = (uint32_t)p->protocol },
        { .type = TBY_RS_M_PORT, .a = p->port },
        { .type = TBY_RS_M_ADDR_SET, .family = family, .src = d == DIR_IN },
    };
    char comment[TBY_RS_COMMENT_MAX + 1], net[TBY_CIDR_STRLEN];
    struct tby_rs_set *s;
    int len = snprintf(comment, sizeof(comment), "failsafe %s %s %u", dir_word[d],
                       tby_protocol_name(p->protocol), p->port);

    if (!p->has_net)
        return tby_rs_rule_of(m + 1, 2, TBY_RS_V_ACCEPT, NULL, comment);
    if (!(s = net_set(h, &p->net, used)))
        return NULL;
    m[3].set = s->name;
    snprintf(comment + len, sizeof(comment) - (size_t)len, " %s %s",
             d == DIR_IN ? "from" : "to", tby_cidr_format(&p->net, net));
    return tby_rs_rule_of(m, 4, TBY_RS_V_ACCEPT, NULL, comment);
}

/* failsafe-in / failsafe-out: accept the failsafe ports (destination ports). */
static int failsafe_chain(struct calc_host *h, int d, struct fs_sets *used)
{
    struct tby_rs_rules l = { 0 };
    int err = 0;

    for (size_t i = 0; err == 0 && i < h->n_failsafe[d]; i++)
        err = tby_rs_rules_add(&l, failsafe_rule(h, d, &h->failsafe[d][i], used));
    return tby_rs_chain_write(h->rs, d == DIR_IN ? FAILSAFE_IN : FAILSAFE_OUT,
                              TBY_RS_HOOK_NONE, &l, err);
}

/* Both failsafe chains, then the sets of nets they no longer test go. */
static int failsafe_chains(struct calc_host *h)
{
    struct fs_sets used = { 0 };
    int err = 0;

    for (int d = 0; err == 0 && d < 2; d++)
        err = failsafe_chain(h, d, &used);
    if (err < 0) {
        free(used.v); /* the old sets stay: the chains may still test them */
        return err;
    }
    for (size_t i = 0; i < h->fs_sets.n; i++) {
        bool kept = false;

        for (size_t j = 0; j < used.n && !kept; j++)
            kept = used.v[j] == h->fs_sets.v[i];
        if (!kept)
            tby_rs_set_del(h->rs, h->fs_sets.v[i]);
    }
    free(h->fs_sets.v);
    h->fs_sets = used;
    return 0;
}

/* The raw failsafe chains (calc_untracked.c), after failsafe_chains made the nets' sets. */
static int untracked_failsafe(struct calc_host *h)
{
    return calc_untracked_failsafe(h->rs, h->failsafe[DIR_IN], h->n_failsafe[DIR_IN],
                                   h->failsafe[DIR_OUT], h->n_failsafe[DIR_OUT]);
}

/* ---- endpoints -------------------------------------------------------------------------- */

static struct hep *hep_find(const struct calc_host *h, const struct calc_ep *ep)
{
    for (struct tby_hnode *n = tby_hmap_first_with_hash(&h->heps, tby_hash_bytes(&ep,
                                                                              sizeof(ep), 0));
         n; n = tby_hmap_next_with_hash(n)) {
        struct hep *he = TBY_CONTAINER_OF(n, struct hep, node);

        if (he->ep == ep)
            return he;
    }
    return NULL;
}

static bool is_any(const struct calc_ep *ep)
{
    return strcmp(ep->host_iface, "*") == 0;
}

/* Found by its expectedIPs: no interfaceName. */
static bool by_addr(const struct calc_ep *ep)
{
    return !*ep->host_iface;
}

/* What messages call it: its interface, or its name when found by its addresses. */
static const char *hep_label(const struct hep *he)
{
    return by_addr(he->ep) ? he->ep->host_name : he->ep->host_iface;
}

static void hep_drop_chain(struct calc_host *h, struct hep *he, int k)
{
    struct tby_rs_chain *c = he->chain[k] ? tby_rs_chain_find(h->rs, he->chain[k]) : NULL;

    if (c)
        tby_rs_chain_del(h->rs, c);
    free(he->chain[k]);
    he->chain[k] = NULL;
}

static void hep_drop_chains(struct calc_host *h, struct hep *he)
{
    for (int k = 0; k < N_KINDS; k++)
        hep_drop_chain(h, he, k);
    if (he->ifset)
        tby_rs_set_del(h->rs, he->ifset);
    he->ifset = NULL;
}

int calc_host_local(struct calc_host *h, const struct calc_ep *ep, bool present)
{
    struct hep *he = hep_find(h, ep);

    h->dirty = true;
    if (!present) {
        if (he) {
            hep_drop_chains(h, he);
            tby_hmap_remove(&h->heps, &he->node);
            tby_strv_clear(&he->won);
            free(he);
        }
        return 0;
    }
    if (he)
        return 0;
    if (!(he = calloc(1, sizeof(*he))))
        return -ENOMEM;
    he->ep = ep;
    if (tby_hmap_insert(&h->heps, &he->node, tby_hash_bytes(&ep, sizeof(ep), 0)) < 0) {
        free(he);
        return -ENOMEM;
    }
    return 0;
}

int calc_host_member(struct calc_host *h, const struct calc_sel *s, const struct calc_ep *ep,
                     bool joined)
{
    (void)joined;
    for (size_t i = 0; i < h->n_pols && !h->dirty; i++)
        if (h->pols[i].s == s && hep_find(h, ep))
            h->dirty = true;
    return 0;
}

void calc_host_touch(struct calc_host *h)
{
    h->dirty = true;
}

/* ---- policies and tiers ----------------------------------------------------------------- */

/* Whether some local host endpoint is one of s's members. */
static bool reaches_a_host(const struct calc_host *h, const struct calc_sel *s)
{
    for (struct tby_hnode *n = tby_hmap_first(&h->heps); n; n = tby_hmap_next(&h->heps, n))
        if (calc_sel_has_member(s, TBY_CONTAINER_OF(n, struct hep, node)->ep))
            return true;
    return false;
}

int calc_host_applies(struct calc_host *h, const struct calc_pol *p, const struct calc_sel *s,
                      bool add)
{
    if (!add) {
        for (size_t i = 0; i < h->n_pols; i++) {
            if (h->pols[i].p != p || h->pols[i].s != s)
                continue;
            h->pols[i] = h->pols[--h->n_pols];
            break;
        }
    } else {
        if (TBY_GROW(h->pols, h->cap_pols, h->n_pols + 1) < 0)
            return -ENOMEM;
        h->pols[h->n_pols++] = (struct hpol){ p, s };
    }
    if (reaches_a_host(h, s))
        h->dirty = true;
    return 0;
}

void calc_host_reordered(struct calc_host *h)
{
    h->dirty = true;
}

static struct htier *tier_find(const struct calc_host *h, const char *name)
{
    for (size_t i = 0; i < h->n_tiers; i++)
        if (strcmp(h->tiers[i].name, name) == 0)
            return &h->tiers[i];
    return NULL;
}

int calc_host_tier(struct calc_host *h, const char *name, const struct tby_tier *tier)
{
    struct htier *t = tier_find(h, name);

    h->dirty = true;
    if (!tier) {
        if (t) {
            free(t->name);
            *t = h->tiers[--h->n_tiers];
        }
        return 0;
    }
    if (!t) {
        if (TBY_GROW(h->tiers, h->cap_tiers, h->n_tiers + 1) < 0)
            return -ENOMEM;
        t = &h->tiers[h->n_tiers];
        if (!(t->name = strdup(name)))
            return -ENOMEM;
        h->n_tiers++;
    }
    t->has_order = tier->has_order;
    t->order = tier->order;
    t->pass = tier->default_action == TBY_TIER_PASS;
    return 0;
}

/* A tier's order and defaultAction; one no Tier stored is Calico's default tier (order
 * 1,000,000) or, named by a policy only, last and Deny. */
static void tier_of(const struct calc_host *h, const char *name, double *order, bool *pass)
{
    const struct htier *t = tier_find(h, name);

    *pass = t && t->pass;
    if (t)
        *order = t->has_order ? t->order : INFINITY;
    else
        *order = strcmp(name, TBY_TIER_DEFAULT) == 0 ? TBY_TIER_DEFAULT_ORDER : INFINITY;
}

/* Calico's order: tiers by order then name, in a tier policies by order (unset last) then
 * by name. */
static int hpol_cmp(const void *a, const void *b, void *ctx)
{
    const struct calc_pol *x = (*(const struct hpol *const *)a)->p;
    const struct calc_pol *y = (*(const struct hpol *const *)b)->p;
    double tx, ty, ox, oy;
    bool pass;
    int c;

    tier_of(ctx, x->tier, &tx, &pass);
    tier_of(ctx, y->tier, &ty, &pass);
    if (tx != ty)
        return tx < ty ? -1 : 1;
    if ((c = strcmp(x->tier, y->tier)) != 0)
        return c;
    ox = x->has_order ? x->order : INFINITY;
    oy = y->has_order ? y->order : INFINITY;
    if (ox != oy)
        return ox < oy ? -1 : 1;
    return strcmp(x->display, y->display);
}

/* ---- an endpoint's chains --------------------------------------------------------------- */

/* The policies applying to he in chains of kind k (forwarded traffic: applyOnForward
 * ones only), in Calico's order (the caller frees *out). */
static int hep_policies(struct calc_host *h, const struct hep *he, int k,
                        const struct hpol ***out, size_t *n)
{
    int d = k & 1;
    const struct hpol **v = malloc((h->n_pols + 1) * sizeof(*v));

    *out = v;
    *n = 0;
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < h->n_pols; i++) {
        const struct hpol *hp = &h->pols[i];
        bool dup = false;

        if (!(hp->p->types & calc_dir_type(d)) || hp->p->pre_dnat != (k == K_PRE) ||
            hp->p->do_not_track != IS_RAW(k) ||
            ((k == K_FWD_IN || k == K_FWD_OUT) && !hp->p->apply_on_forward) ||
            !calc_sel_has_member(hp->s, he->ep))
            continue;
        for (size_t j = 0; j < *n && !dup; j++)
            dup = v[j]->p == hp->p;
        if (!dup)
            v[(*n)++] = hp;
    }
    qsort_r(v, *n, sizeof(*v), hpol_cmp, h);
    return 0;
}

static int drop_with_log(struct tby_rs_rules *l, const struct tby_rs_match *m, size_t n,
                         const char *comment)
{
    struct tby_rs_rule *r = tby_rs_rule_of(m, n, TBY_RS_V_DROP, NULL, comment);

    if (r)
        r->counter = true;
    return tby_rs_rules_add_deny(l, r);
}

/* One tier's part of an endpoint chain: PASS cleared, its policies, its end. An Allow
 * accepts (the node's own traffic; preDNAT: this hook only, normal policy comes next) or
 * returns (forwarded: the workloads' dispatch and the other endpoint's chain come next).
 * A preDNAT tier's end drops nothing: normal policy decides, as Calico's. */
static int tier_rules(struct calc_host *h, const struct hep *he, int k,
                      const struct hpol *const *pols, size_t n, struct tby_rs_rules *l)
{
    enum tby_rs_verdict allow = k == K_FWD_IN || k == K_FWD_OUT ? TBY_RS_V_RETURN
                                                                 : TBY_RS_V_ACCEPT;
    int d = k & 1;
    char comment[TBY_RS_COMMENT_MAX + 1];
    double order;
    bool pass;
    int err = tby_rs_rules_add(l, mark_rule(~TBY_MARK_PASS));

    tier_of(h, pols[0]->p->tier, &order, &pass);
    for (size_t i = 0; err == 0 && i < n; i++) {
        err = tby_rs_rules_add(l, tby_rs_rule_of(&no_pass, 1, TBY_RS_V_JUMP,
                                                 pols[i]->p->chain[d], NULL));
        if (err == 0)
            err = tby_rs_rules_add(l, IS_RAW(k) ? calc_untracked_allowed()
                                                : tby_rs_rule_of(&accepted, 1, allow, NULL,
                                                                 NULL));
    }
    if (err == 0 && !pass && k <= K_FWD_OUT) {
        snprintf(comment, sizeof(comment), "host endpoint %s%s tier %s: default deny: no %s "
                 "policy allowed or passed it", hep_label(he),
                 k >= K_FWD_IN ? " forward" : "", pols[0]->p->tier, dir_word[d]);
        err = drop_with_log(l, &no_pass, 1, comment);
    }
    return err;
}

/* The endpoint's profiles in its order, then the drop of what none allowed. */
static int profile_rules(struct calc_host *h, const struct hep *he, int d,
                         struct tby_rs_rules *l)
{
    const struct tby_strv *profiles = he->ep->profiles;
    char comment[TBY_RS_COMMENT_MAX + 1];
    int err = 0;

    for (size_t i = 0; err == 0 && profiles && i < profiles->n; i++) {
        _cleanup_free_ char *id = NULL, *chain = NULL;

        if (asprintf(&id, "pr/%s", profiles->items[i]) < 0 ||
            !(chain = calc_policy_chain_name(id, d)))
            return -ENOMEM;
        if (!tby_rs_chain_find(h->rs, chain))
            continue; /* a profile nothing stored says nothing */
        err = tby_rs_rules_add(l, tby_rs_rule_of(NULL, 0, TBY_RS_V_JUMP, chain, NULL));
        if (err == 0)
            err = tby_rs_rules_add(l, tby_rs_rule_of(&accepted, 1, TBY_RS_V_ACCEPT, NULL, NULL));
    }
    snprintf(comment, sizeof(comment), "host endpoint %s: no %s policy or profile allowed it",
             hep_label(he), dir_word[d]);
    return err < 0 ? err : drop_with_log(l, NULL, 0, comment);
}

/* The endpoint's chain of kind k: the node's own traffic: failsafe, tiers, profiles, drop;
 * forwarded: its applyOnForward policies' tiers only, none (no chain) letting it by;
 * preDNAT: failsafe, its preDNAT policies' tiers, what none decided goes on; as Calico's. */
static int hep_chain(struct calc_host *h, struct hep *he, int k)
{
    _cleanup_free_ const struct hpol **pols = NULL;
    struct tby_rs_rules l = { 0 };
    bool fwd = k >= K_FWD_IN; /* no profiles, no drop at the end */
    int d = k & 1;
    size_t n, i, j;
    int err = hep_policies(h, he, k, &pols, &n);

    if (err == 0 && fwd && (n == 0 || (IS_RAW(k) && is_any(he->ep)))) {
        /* (Calico ignores doNotTrack policies of an all-interfaces endpoint) */
        hep_drop_chain(h, he, k);
        return 0;
    }
    if (!he->chain[k] && err == 0) {
        char name[TBY_RS_HASHED_NAME_SIZE], prefix[16];

        snprintf(prefix, sizeof(prefix), "%s-a", ep_prefix[k]);
        if (is_any(he->ep))
            err = asprintf(&he->chain[k], "%s-any", ep_prefix[k]) < 0 ? -ENOMEM : 0;
        else if (by_addr(he->ep))
            err = (he->chain[k] = strdup(tby_rs_hashed_name(name, prefix, he->ep->host_name)))
                      ? 0
                      : -ENOMEM;
        else
            err = asprintf(&he->chain[k], "%s-if-%s", ep_prefix[k], he->ep->host_iface) < 0
                      ? -ENOMEM
                      : 0;
        if (err < 0)
            he->chain[k] = NULL;
    }
    if (err == 0 && (!fwd || k == K_PRE || IS_RAW(k)))
        err = tby_rs_rules_add(&l, tby_rs_rule_of(NULL, 0, TBY_RS_V_JUMP,
                                                  IS_RAW(k) ? calc_untracked_failsafe_chain(d)
                                                  : d == DIR_IN ? FAILSAFE_IN : FAILSAFE_OUT,
                                                  NULL));
    if (err == 0)
        err = tby_rs_rules_add(&l, mark_rule(~VERDICT_BITS));
    for (i = 0; err == 0 && i < n; i = j) {
        for (j = i + 1; j < n && strcmp(pols[j]->p->tier, pols[i]->p->tier) == 0; j++)
            ;
        err = tier_rules(h, he, k, pols + i, j - i, &l);
    }
    if (err == 0 && !fwd)
        err = profile_rules(h, he, d, &l);
    return tby_rs_chain_write(h->rs, he->chain[k], TBY_RS_HOOK_NONE, &l, err);
}

/* ---- the dispatch ----------------------------------------------------------------------- */

/* The endpoints by name, Calico's order of choice between them. */
static int hep_cmp(const void *a, const void *b)
{
    const struct hep *x = *(struct hep *const *)a, *y = *(struct hep *const *)b;
    int c = strcmp(x->ep->host_name, y->ep->host_name);

    return c ? c : (x->ep < y->ep ? -1 : x->ep > y->ep);
}

/* Another endpoint that governs names he's interface: its chains and set are that one's. */
static bool shares_names(struct hep *const *v, size_t n, const struct hep *he)
{
    for (size_t i = 0; i < n && !by_addr(he->ep); i++)
        if (v[i] != he && v[i]->on && strcmp(v[i]->ep->host_iface, he->ep->host_iface) == 0)
            return true;
    return false;
}

/* he's interface set holds won (reference counted: a set named for an interface may be
 * another endpoint's too, in turn). -ENOMEM. */
static int hep_ifset(struct calc_host *h, struct hep *he, struct tby_strv *won)
{
    char name[TBY_RS_HASHED_NAME_SIZE + 8];
    int err = 0;

    if (!he->ifset && won->n) {
        if (by_addr(he->ep))
            tby_rs_hashed_name(name, "hifa", he->ep->host_name);
        else
            snprintf(name, sizeof(name), "hif-%s", he->ep->host_iface);
        if (!(he->ifset = tby_rs_set_add(h->rs, name, TBY_RS_IFNAMES,
                                         by_addr(he->ep) ? "the interfaces holding a host "
                                                           "endpoint's expectedIPs"
                                                         : "a host endpoint's interface")))
            return -ENOMEM;
    }
    for (size_t i = 0; err == 0 && i < won->n; i++)
        if (!tby_strv_contains(&he->won, won->items[i]))
            err = tby_rs_add_ifname(h->rs, he->ifset, won->items[i]) == -ENOMEM ? -ENOMEM : 0;
    for (size_t i = 0; err == 0 && i < he->won.n; i++)
        if (!tby_strv_contains(won, he->won.items[i]))
            tby_rs_remove_ifname(h->rs, he->ifset, he->won.items[i]);
    if (err == 0) {
        tby_strv_clear(&he->won);
        he->won = *won;
        *won = (struct tby_strv){ 0 };
    }
    return err;
}

/* he governs won now (none: it goes off; its chains and set go, unless another endpoint
 * naming its interface uses them now). -ENOMEM. */
static int hep_govern(struct calc_host *h, struct hep *const *v, size_t n, struct hep *he,
                      struct tby_strv *won)
{
    struct tby_strv none = { 0 };

    if (he->on)
        return is_any(he->ep) ? 0 : hep_ifset(h, he, won);
    if (!he->ifset && !he->chain[K_IN])
        return 0;
    if (he->ifset && hep_ifset(h, he, &none) < 0)
        return -ENOMEM;
    if (!is_any(he->ep) && !shares_names(v, n, he)) { /* an off "*" one: another is on */
        hep_drop_chains(h, he);
        return 0;
    }
    for (int k = 0; k < N_KINDS; k++) {
        free(he->chain[k]);
        he->chain[k] = NULL;
    }
    he->ifset = NULL;
    return 0;
}

/* Which endpoint governs which interface (calc_host_resolve), the first "*" one all the
 * others. -ENOMEM. */
static int resolve(struct calc_host *h, struct hep *const *v, size_t n)
{
    _cleanup_free_ const struct calc_ep **eps = calloc(n + 1, sizeof(*eps));
    _cleanup_free_ struct tby_strv *won = calloc(n + 1, sizeof(*won));
    bool any = false;
    int err = eps && won ? 0 : -ENOMEM;

    for (size_t i = 0; err == 0 && i < n; i++)
        eps[i] = v[i]->ep;
    if (err == 0)
        err = calc_host_resolve(eps, n, h->addrs, h->n_addrs, won);
    for (size_t i = 0; err == 0 && i < n; i++) {
        v[i]->on = is_any(v[i]->ep) ? !any : won[i].n > 0;
        any = any || is_any(v[i]->ep);
    }
    for (size_t i = 0; err == 0 && i < n; i++)
        err = hep_govern(h, v, n, v[i], &won[i]);
    for (size_t i = 0; won && i < n; i++)
        tby_strv_clear(&won[i]);
    return err;
}

int calc_host_addrs(struct calc_host *h, const struct tby_host_addr *v, size_t n)
{
    struct tby_host_addr *copy = malloc((n + 1) * sizeof(*copy));

    if (!copy)
        return -ENOMEM;
    if (n)
        memcpy(copy, v, n * sizeof(*v));
    free(h->addrs);
    h->addrs = copy;
    h->n_addrs = n;
    h->dirty = true;
    return 0;
}

/* host-in / host-out (host-fwd-in / -out): each endpoint's interface to its chain (goto:
 * its end is the verdict), the others to the all-interfaces endpoint's, or on. */
static int dispatch_chain(struct calc_host *h, struct hep **v, size_t n, int k)
{
    int d = k & 1;
    struct tby_rs_rules l = { 0 };
    const struct hep *any = NULL;
    int err = 0;

    if (k == K_IN) {
        /* a workload's packet to its own node: its egress policy passed (from-wl) */
        const struct tby_rs_match wl = { .type = TBY_RS_M_IFNAME_SET, .src = true,
                                         .set = TBY_CALC_SET_LOCAL_WL };
        enum tby_felix_to_host a = h->to_host;
        const char *why = a == TBY_FELIX_TO_HOST_DROP     ? "defaultEndpointToHostAction Drop"
                          : a == TBY_FELIX_TO_HOST_RETURN ? "defaultEndpointToHostAction Return"
                                                          : "defaultEndpointToHostAction Accept";
        enum tby_rs_verdict verdict = a == TBY_FELIX_TO_HOST_DROP ? TBY_RS_V_DROP
                                                                  : TBY_RS_V_ACCEPT;

        err = tby_rs_rules_add(&l, tby_rs_rule_of(&wl, 1, verdict, NULL, why));
    }
    for (size_t i = 0; err == 0 && i < n; i++) {
        struct tby_rs_match m = { .type = TBY_RS_M_IFNAME_SET, .src = d == DIR_IN };

        if (!v[i]->on || !v[i]->chain[k])
            continue;
        if (is_any(v[i]->ep)) {
            any = v[i];
            continue;
        }
        m.set = v[i]->ifset->name;
        err = tby_rs_rules_add(&l, tby_rs_rule_of(&m, 1, TBY_RS_V_GOTO, v[i]->chain[k], NULL));
    }
    if (err == 0 && any)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(NULL, 0, TBY_RS_V_GOTO, any->chain[k], NULL));
    return tby_rs_chain_write(h->rs, dispatch_name[k], TBY_RS_HOOK_NONE, &l, err);
}

/* output-hook: a workload held for its allowSpoofedSourcePrefixes (calc_spoof.c) is as if
 * missing, so nothing reaches it, the node's own packets neither (as forward-hook); then
 * return traffic; the node reaches its local workloads always; the rest goes through the
 * host endpoints. */
static int out_hook(struct tby_rs *rs, bool untracked)
{
    const struct tby_rs_match est = { .type = TBY_RS_M_CT_STATE,
                                      .a = TBY_CT_ESTABLISHED | TBY_CT_RELATED };
    const struct tby_rs_match wl = { .type = TBY_RS_M_IFNAME_SET,
                                     .set = TBY_CALC_SET_LOCAL_WL };
    struct tby_rs_rules l = { 0 };
    int err = tby_rs_rules_add_deny(&l, calc_spoof_held_rule(false));

    if (err == 0)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(&est, 1, TBY_RS_V_ACCEPT, NULL, NULL));

    if (err == 0 && untracked) /* what a doNotTrack policy allowed (calc_untracked.c) */
        err = tby_rs_rules_add(&l, calc_untracked_accept());
    if (err == 0)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(&wl, 1, TBY_RS_V_ACCEPT, NULL, NULL));
    if (err == 0)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(NULL, 0, TBY_RS_V_JUMP, dispatch_name[K_OUT],
                                                  NULL));
    return tby_rs_chain_write(rs, OUT_HOOK_CHAIN, TBY_RS_HOOK_OUTPUT, &l, err);
}

/* prerouting-hook, before DNAT: return traffic first; workloads' packets are not a host
 * endpoint's; the rest meets the preDNAT policies of the endpoint it comes in by. */
static int pre_hook(struct tby_rs *rs, bool untracked)
{
    const struct tby_rs_match est = { .type = TBY_RS_M_CT_STATE,
                                      .a = TBY_CT_ESTABLISHED | TBY_CT_RELATED };
    const struct tby_rs_match wl = { .type = TBY_RS_M_IFNAME_SET, .src = true,
                                     .set = TBY_CALC_SET_LOCAL_WL };
    struct tby_rs_rules l = { 0 };
    int err = tby_rs_rules_add(&l, tby_rs_rule_of(&est, 1, TBY_RS_V_ACCEPT, NULL, NULL));

    if (err == 0 && untracked) /* what a doNotTrack policy allowed (calc_untracked.c) */
        err = tby_rs_rules_add(&l, calc_untracked_accept());
    if (err == 0)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(&wl, 1, TBY_RS_V_RETURN, NULL, NULL));
    if (err == 0)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(NULL, 0, TBY_RS_V_JUMP, CALC_HOST_CHAIN_PRE,
                                                  NULL));
    return tby_rs_chain_write(rs, PRE_HOOK_CHAIN, TBY_RS_HOOK_PREROUTING, &l, err);
}

/* The doNotTrack part (calc_untracked.c: the raw hooks, their dispatch, the raw failsafe
 * chains, the later hooks' accept of what it allowed) only while some endpoint has an
 * untracked chain; dropped with the last, in the same journal, so in the same batch. */
static int untracked_part(struct calc_host *h, struct hep **v, size_t n)
{
    bool on = false;
    int err = 0;

    for (size_t i = 0; i < n; i++)
        on = on || (v[i]->on && (v[i]->chain[K_RAW_IN] || v[i]->chain[K_RAW_OUT]));
    if (on) {
        err = untracked_failsafe(h);
        for (int k = K_RAW_IN; err == 0 && k <= K_RAW_OUT; k++)
            err = dispatch_chain(h, v, n, k);
        if (err == 0)
            err = calc_untracked_hooks(h->rs);
    } else {
        calc_untracked_drop(h->rs);
        for (int k = K_RAW_IN; k <= K_RAW_OUT; k++) {
            struct tby_rs_chain *c = tby_rs_chain_find(h->rs, dispatch_name[k]);

            if (c)
                tby_rs_chain_del(h->rs, c);
        }
    }
    if (err == 0)
        err = pre_hook(h->rs, on);
    if (err == 0)
        err = out_hook(h->rs, on);
    if (err == 0)
        h->untracked = on;
    return err;
}

bool calc_host_untracked(const struct calc_host *h)
{
    return h->untracked;
}

int calc_host_settle(struct calc_host *h)
{
    _cleanup_free_ struct hep **v = NULL;
    size_t n = 0;
    int err = 0;

    if (!h->dirty)
        return 0;
    v = malloc((tby_hmap_count(&h->heps) + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (struct tby_hnode *x = tby_hmap_first(&h->heps); x; x = tby_hmap_next(&h->heps, x))
        v[n++] = TBY_CONTAINER_OF(x, struct hep, node);
    qsort(v, n, sizeof(*v), hep_cmp);
    err = failsafe_chains(h);
    if (err == 0)
        err = resolve(h, v, n);
    /* (an endpoint whose interface changes leaves and comes again: its name stays) */
    for (size_t i = 0; err == 0 && i < n; i++)
        for (int k = 0; err == 0 && k < N_KINDS && v[i]->on; k++)
            err = hep_chain(h, v[i], k);
    for (int k = 0; err == 0 && k < N_KINDS; k++)
        if (!IS_RAW(k))
            err = dispatch_chain(h, v, n, k);
    if (err == 0)
        err = untracked_part(h, v, n);
    h->dirty = err < 0;
    return err;
}

/* ---- the whole -------------------------------------------------------------------------- */

int calc_host_new(struct tby_rs *rs, struct calc_host **out)
{
    struct calc_host *h = calloc(1, sizeof(*h));
    struct tby_calc_host_config calico = { .to_host = TBY_FELIX_TO_HOST_DROP };

    *out = h;
    if (!h)
        return -ENOMEM;
    h->rs = rs;
    tby_hmap_init(&h->heps);
    for (int d = 0; d < 2; d++)
        calico.failsafe[d] = tby_felix_default_failsafe(d == DIR_OUT, &calico.n_failsafe[d]);
    return calc_host_config(h, &calico) < 0 || calc_host_settle(h) < 0 ? -ENOMEM : 0;
}

void calc_host_free(struct calc_host *h)
{
    struct tby_hnode *n, *next;

    if (!h)
        return;
    for (n = tby_hmap_first(&h->heps); n; n = next) {
        struct hep *he = TBY_CONTAINER_OF(n, struct hep, node);

        next = tby_hmap_next(&h->heps, n);
        for (int k = 0; k < N_KINDS; k++)
            free(he->chain[k]);
        tby_strv_clear(&he->won);
        free(he);
    }
    tby_hmap_destroy(&h->heps);
    for (size_t i = 0; i < h->n_tiers; i++)
        free(h->tiers[i].name);
    free(h->tiers);
    free(h->pols);
    for (int d = 0; d < 2; d++)
        free(h->failsafe[d]);
    free(h->fs_sets.v);
    free(h->addrs);
    free(h);
}
