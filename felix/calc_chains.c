/* calc_chains.c — the chains around the policies: the hooks' base chains, and for each
 * local endpoint and direction the ordered policy list, turned into a chain shared by
 * every endpoint with the same list and reached through the interface verdict maps.
 *
 * Why shared: the endpoint chain depends only on the list (pods of one deployment share
 * it), so a new pod costs a map element, not a chain; the number of chains follows the
 * number of distinct lists, not of pods. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "calc_internal.h"

/* ---- policy lists ----------------------------------------------------------------------- */

/* Calico's order: lower `order` first, unset last, then by name. */
static int pol_cmp(const struct pol *a, const struct pol *b)
{
    double oa = a->has_order ? a->order : INFINITY;
    double ob = b->has_order ? b->order : INFINITY;

    if (oa != ob)
        return oa < ob ? -1 : 1;
    return strcmp(a->display, b->display);
}

void ep_mark_dirty(struct tby_calc *c, struct ep *ep)
{
    if (ep->dirty)
        return;
    ep->dirty = true;
    ep->dirty_next = c->dirty;
    c->dirty = ep;
}

static void list_insert(struct ep *ep, int d, struct pol *p)
{
    struct pol **v = ep->pols[d];
    size_t n = ep->n_pols[d], at = n;
    struct pol **nv;

    for (size_t i = 0; i < n; i++) {
        if (v[i] == p)
            return;
        if (at == n && pol_cmp(p, v[i]) < 0)
            at = i;
    }
    nv = realloc(v, (n + 1) * sizeof(*nv));
    if (!nv) {
        /* Leaving the policy out would open traffic it restricts: fail closed by making
         * the list look changed; settle logs and drops on the next try. */
        tby_log(TBY_LOG_ERROR, "felix", "out of memory adding policy endpoint=%s", ep->key);
        return;
    }
    memmove(nv + at + 1, nv + at, (n - at) * sizeof(*nv));
    nv[at] = p;
    ep->pols[d] = nv;
    ep->n_pols[d] = n + 1;
}

static void list_remove(struct ep *ep, int d, struct pol *p)
{
    for (size_t i = 0; i < ep->n_pols[d]; i++) {
        if (ep->pols[d][i] == p) {
            memmove(ep->pols[d] + i, ep->pols[d] + i + 1, (ep->n_pols[d] - i - 1) * sizeof(p));
            ep->n_pols[d]--;
            return;
        }
    }
}

static unsigned type_of(int d)
{
    return d == DIR_IN ? TBY_POLICY_INGRESS : TBY_POLICY_EGRESS;
}

void ep_policy_add(struct tby_calc *c, struct ep *ep, struct pol *p)
{
    for (int d = 0; d < 2; d++)
        if (p->types & type_of(d))
            list_insert(ep, d, p);
    ep_mark_dirty(c, ep);
}

void ep_policy_remove(struct tby_calc *c, struct ep *ep, struct pol *p)
{
    for (int d = 0; d < 2; d++)
        list_remove(ep, d, p);
    ep_mark_dirty(c, ep);
}

/* ---- rules ------------------------------------------------------------------------------ */

static struct tby_rs_rule *rule_mark_test(uint32_t bits, bool set)
{
    struct tby_rs_rule *r = tby_rs_rule_new();
    struct tby_rs_match m = { .type = TBY_RS_M_MARK, .a = bits, .neg = set };

    if (r && tby_rs_rule_match(r, &m) < 0) {
        tby_rs_rule_free(r);
        return NULL;
    }
    return r;
}

/* Appends a sealed rule to a growing array; takes r (freed on failure). */
static int push_rule(struct tby_rs_rule ***v, size_t *n, struct tby_rs_rule *r)
{
    struct tby_rs_rule **nv;

    if (!r || tby_rs_rule_seal(r) < 0 || !(nv = realloc(*v, (*n + 1) * sizeof(*nv)))) {
        tby_rs_rule_free(r);
        return -ENOMEM;
    }
    nv[(*n)++] = r;
    *v = nv;
    return 0;
}

static void rules_free(struct tby_rs_rule **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tby_rs_rule_free(v[i]);
    free(v);
}

static struct tby_rs_rule *verdict_rule(struct tby_rs_rule *r, enum tby_rs_verdict v,
                                        const char *target, const char *comment)
{
    if (r && (tby_rs_rule_set_verdict(r, v, target) < 0 ||
              tby_rs_rule_set_comment(r, comment) < 0)) {
        tby_rs_rule_free(r);
        return NULL;
    }
    return r;
}

/* The jump to a policy's chain; after the first policy only while no earlier one passed.
 * Made once per policy and direction, shared by every endpoint chain listing it. */
static struct tby_rs_rule *jump_rule(struct pol *p, int d, bool guarded)
{
    struct tby_rs_rule *r;

    if (p->jump[d][guarded])
        return p->jump[d][guarded];
    r = guarded ? rule_mark_test(TBY_MARK_PASS, false) : tby_rs_rule_new();
    r = verdict_rule(r, TBY_RS_V_JUMP, p->chain[d], NULL);
    if (r && tby_rs_rule_seal(r) < 0) {
        tby_rs_rule_free(r);
        r = NULL;
    }
    p->jump[d][guarded] = r;
    return r;
}

void pol_jumps_free(struct pol *p)
{
    for (int d = 0; d < 2; d++)
        for (int g = 0; g < 2; g++) {
            tby_rs_rule_free(p->jump[d][g]);
            p->jump[d][g] = NULL;
        }
}

/* Appends a shared sealed rule, taking a reference. */
static int push_shared(struct tby_rs_rule ***v, size_t *n, struct tby_rs_rule *r)
{
    struct tby_rs_rule **nv;

    if (!r || !(nv = realloc(*v, (*n + 1) * sizeof(*nv))))
        return -ENOMEM;
    nv[(*n)++] = tby_rs_rule_ref(r);
    *v = nv;
    return 0;
}

/* The endpoint chain for a policy list: each policy's chain in turn until one allows
 * (return to the hook, which goes on to the other endpoint's chain), denies (dropped
 * there) or passes (skips to the profile, which allows); then default deny. Every rule
 * is shared with other endpoint chains, so a chain costs its array of pointers. */
static int endpoint_rules(struct tby_calc *c, struct pol *const *pols, size_t n, int d,
                          struct tby_rs_rule ***out, size_t *n_out)
{
    int err;

    *out = NULL;
    *n_out = 0;
    err = push_shared(out, n_out, c->rule_clear);
    for (size_t i = 0; err == 0 && i < n; i++) {
        err = push_shared(out, n_out, jump_rule(pols[i], d, i > 0));
        if (err == 0)
            err = push_shared(out, n_out, c->rule_allowed);
    }
    if (err == 0)
        err = push_shared(out, n_out, c->rule_deny);
    return err;
}

static int shared_rules(struct tby_calc *c)
{
    struct tby_rs_rule *r = tby_rs_rule_new();

    if (r) {
        r->set_mark = true;
        r->mark_and = ~(TBY_MARK_ACCEPT | TBY_MARK_PASS);
    }
    c->rule_clear = r;
    c->rule_allowed = verdict_rule(rule_mark_test(TBY_MARK_ACCEPT, true), TBY_RS_V_RETURN, NULL,
                                   NULL);
    r = rule_mark_test(TBY_MARK_PASS, false);
    if (r)
        r->counter = true;
    c->rule_deny = verdict_rule(r, TBY_RS_V_DROP, NULL, "default deny: no policy allowed it");
    if (!c->rule_clear || !c->rule_allowed || !c->rule_deny ||
        tby_rs_rule_seal(c->rule_clear) < 0 || tby_rs_rule_seal(c->rule_allowed) < 0 ||
        tby_rs_rule_seal(c->rule_deny) < 0)
        return -ENOMEM;
    return 0;
}

void calc_shared_rules_free(struct tby_calc *c)
{
    tby_rs_rule_free(c->rule_clear);
    tby_rs_rule_free(c->rule_allowed);
    tby_rs_rule_free(c->rule_deny);
}

/* ---- shared endpoint chains ------------------------------------------------------------- */

static const char *epchain_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct epchain, node)->name;
}

static struct epchain *epchain_find(const struct tby_calc *c, const char *name)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->chains, name, epchain_find_key);

    return n ? TBY_CONTAINER_OF(n, struct epchain, node) : NULL;
}

static void epchain_put(struct tby_calc *c, struct epchain *e)
{
    struct tby_rs_chain *chain;

    if (!e || --e->refs > 0)
        return;
    chain = tby_rs_chain_find(c->rs, e->name);
    if (chain)
        tby_rs_chain_del(c->rs, chain);
    tby_hmap_remove(&c->chains, &e->node);
    free(e->name);
    free(e->signature);
    free(e);
}

static int epchain_program(struct tby_calc *c, struct epchain *e, struct ep *ep, int d)
{
    struct tby_rs_chain *chain = tby_rs_chain_add(c->rs, e->name, TBY_RS_HOOK_NONE);
    struct tby_rs_rule **rules;
    size_t n;

    if (!chain)
        return -ENOMEM;
    if (endpoint_rules(c, ep->pols[d], ep->n_pols[d], d, &rules, &n) < 0) {
        rules_free(rules, n);
        return -ENOMEM;
    }
    return tby_rs_chain_set_rules(c->rs, chain, rules, n);
}

static struct epchain *epchain_get(struct tby_calc *c, struct ep *ep, int d, char *signature)
{
    char name[64];
    struct epchain *e;

    hashed_name(name, d == DIR_IN ? "tw" : "fw", signature);
    e = epchain_find(c, name);
    if (e) {
        if (strcmp(e->signature, signature) != 0)
            tby_log(TBY_LOG_ERROR, "felix", "endpoint chain name collision chain=%s", name);
        free(signature);
        e->refs++;
        return e;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->name = strdup(name)) ||
        tby_hmap_insert(&c->chains, &e->node, tby_hash_str(name)) < 0) {
        if (e)
            free(e->name);
        free(e);
        free(signature);
        return NULL;
    }
    e->signature = signature;
    e->refs = 1;
    if (epchain_program(c, e, ep, d) < 0) {
        epchain_put(c, e);
        return NULL;
    }
    return e;
}

/* The list of policy chains, which names the shared chain. */
static char *signature_of(const struct ep *ep, int d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    fputs(d == DIR_IN ? "in" : "out", f);
    for (size_t i = 0; i < ep->n_pols[d]; i++)
        fprintf(f, "|%s", ep->pols[d][i]->chain[d]);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int settle_dir(struct tby_calc *c, struct ep *ep, int d)
{
    struct epchain *old = ep->chain[d], *e = NULL;

    if (ep->n_pols[d] > 0) {
        char *sig = signature_of(ep, d);

        if (old && sig && strcmp(sig, old->signature) == 0) {
            free(sig);
            return tby_rs_vmap_set(c->rs, c->vmap[d], ep->iface, old->name);
        }
        if (!sig || !(e = epchain_get(c, ep, d, sig)))
            return -ENOMEM;
    }
    ep->chain[d] = e;
    if (tby_rs_vmap_set(c->rs, c->vmap[d], ep->iface, e ? e->name : NULL) < 0)
        return -ENOMEM;
    epchain_put(c, old);
    return 0;
}

int calc_settle(struct tby_calc *c)
{
    int err = 0;

    while (c->dirty) {
        struct ep *ep = c->dirty;

        c->dirty = ep->dirty_next;
        ep->dirty = false;
        ep->dirty_next = NULL;
        if (!ep->local || !ep->iface)
            continue;
        for (int d = 0; d < 2; d++)
            if (settle_dir(c, ep, d) < 0)
                err = -ENOMEM;
    }
    return err;
}

void ep_chains_drop(struct tby_calc *c, struct ep *ep)
{
    for (int d = 0; d < 2; d++) {
        if (ep->iface)
            tby_rs_vmap_set(c->rs, c->vmap[d], ep->iface, NULL);
        epchain_put(c, ep->chain[d]);
        ep->chain[d] = NULL;
        free(ep->pols[d]);
        ep->pols[d] = NULL;
        ep->n_pols[d] = 0;
    }
}

int ep_local_wl(struct tby_calc *c, struct ep *ep, bool in)
{
    if (in == ep->in_wl || (in && (!ep->local || !ep->iface)))
        return 0;
    if (!in) {
        tby_rs_remove_ifname(c->rs, c->local_wl, ep->iface);
        ep->in_wl = false;
        return 0;
    }
    if (tby_rs_add_ifname(c->rs, c->local_wl, ep->iface) < 0)
        return -ENOMEM;
    ep->in_wl = true;
    return 0;
}

/* ---- the hooks -------------------------------------------------------------------------- */

/* ct state & bits, for packets in from (iif) or out to (oif) a local workload when
 * wl says so (-1: any packet). */
static struct tby_rs_rule *ct_rule(uint32_t bits, enum tby_rs_verdict v, int wl)
{
    struct tby_rs_rule *r = tby_rs_rule_new();
    struct tby_rs_match ifs = { .type = TBY_RS_M_IFNAME_SET, .src = wl == 1,
                                .set = TBY_CALC_SET_LOCAL_WL };
    struct tby_rs_match m = { .type = TBY_RS_M_CT_STATE, .a = bits };

    if (r && ((wl >= 0 && tby_rs_rule_match(r, &ifs) < 0) || tby_rs_rule_match(r, &m) < 0)) {
        tby_rs_rule_free(r);
        return NULL;
    }
    if (r)
        r->counter = v == TBY_RS_V_DROP;
    return verdict_rule(r, v, NULL, NULL);
}

/* icmpv6 type t from a pod to its node: accepted whatever the pod's egress policy, as
 * Calico does, or IPv6 would break under an egress default deny. */
static struct tby_rs_rule *nd_rule(uint32_t t)
{
    struct tby_rs_rule *r = tby_rs_rule_new();
    const struct tby_rs_match m[] = {
        { .type = TBY_RS_M_NFPROTO, .family = 6 },
        { .type = TBY_RS_M_L4PROTO, .a = TBY_PROTO_ICMPV6 },
        { .type = TBY_RS_M_ICMP, .family = 6, .a = t },
    };

    for (size_t i = 0; r && i < TBY_ARRAY_SIZE(m); i++) {
        if (tby_rs_rule_match(r, &m[i]) < 0) {
            tby_rs_rule_free(r);
            r = NULL;
        }
    }
    return verdict_rule(r, TBY_RS_V_ACCEPT, NULL, NULL);
}

/* Neighbour discovery and multicast listener messages (MLD 130-132 and 143, router and
 * neighbour solicitation 133 and 135, neighbour advertisement 136). */
static int nd_rules(struct tby_rs_rule ***v, size_t *n)
{
    static const uint32_t types[] = { 130, 131, 132, 133, 135, 136, 143 };
    int err = 0;

    for (size_t i = 0; err == 0 && i < TBY_ARRAY_SIZE(types); i++)
        err = push_rule(v, n, nd_rule(types[i]));
    return err;
}

static int hook_chain(struct tby_calc *c, const char *name, enum tby_rs_hook hook)
{
    struct tby_rs_chain *chain = tby_rs_chain_add(c->rs, name, hook);
    struct tby_rs_rule **v = NULL;
    size_t n = 0;
    int err;

    if (!chain)
        return -ENOMEM;
    /* Return traffic of allowed connections first: policy decides only new flows. Invalid
     * packets are dropped for workloads only: the node's own traffic is not ours to judge. */
    err = push_rule(&v, &n, ct_rule(TBY_CT_ESTABLISHED | TBY_CT_RELATED, TBY_RS_V_ACCEPT, -1));
    if (err == 0)
        err = push_rule(&v, &n, ct_rule(TBY_CT_INVALID, TBY_RS_V_DROP, 1));
    if (err == 0 && hook == TBY_RS_HOOK_FORWARD)
        err = push_rule(&v, &n, ct_rule(TBY_CT_INVALID, TBY_RS_V_DROP, 0));
    if (err == 0 && hook == TBY_RS_HOOK_INPUT)
        err = nd_rules(&v, &n);
    if (err == 0)
        err = push_rule(&v, &n, verdict_rule(tby_rs_rule_new(), TBY_RS_V_VMAP_IIF,
                                             TBY_CALC_MAP_FROM_WL, NULL));
    /* Host to local pod (output) is always allowed; pod to host (input) passes the pod's
     * egress policy and is then accepted, as Calico's DefaultEndpointToHostAction=Accept. */
    if (err == 0 && hook == TBY_RS_HOOK_FORWARD)
        err = push_rule(&v, &n, verdict_rule(tby_rs_rule_new(), TBY_RS_V_VMAP_OIF,
                                             TBY_CALC_MAP_TO_WL, NULL));
    if (err < 0) {
        rules_free(v, n);
        return err;
    }
    return tby_rs_chain_set_rules(c->rs, chain, v, n);
}

int calc_base_chains(struct tby_calc *c)
{
    if (shared_rules(c) < 0)
        return -ENOMEM;
    c->vmap[DIR_IN] = tby_rs_set_add(c->rs, TBY_CALC_MAP_TO_WL, TBY_RS_IFNAME_VMAP, NULL);
    c->vmap[DIR_OUT] = tby_rs_set_add(c->rs, TBY_CALC_MAP_FROM_WL, TBY_RS_IFNAME_VMAP, NULL);
    c->local_wl = tby_rs_set_add(c->rs, TBY_CALC_SET_LOCAL_WL, TBY_RS_IFNAMES, NULL);
    if (!c->vmap[DIR_IN] || !c->vmap[DIR_OUT] || !c->local_wl)
        return -ENOMEM;
    if (hook_chain(c, TBY_CALC_CHAIN_FORWARD, TBY_RS_HOOK_FORWARD) < 0)
        return -ENOMEM;
    return hook_chain(c, TBY_CALC_CHAIN_INPUT, TBY_RS_HOOK_INPUT);
}
