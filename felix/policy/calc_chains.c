/* calc_chains.c — the chains around the policies: the hooks' base chains and, per
 * direction, a dispatch chain that takes a packet through the tiers and policies applying
 * to its local workload, in Calico's order (docs/DISPATCH.md has the layout and the
 * semantics).
 *
 * Each selector that policies apply to has a set of the interfaces of the local endpoints
 * it matches (wl-<hash>, with the selector as its comment; struct dsel keeps it, fed as the
 * index reports members). The dispatch chain (to-wl for the receiver's ingress, from-wl
 * for the sender's egress) lets workloads no policy applies to go at once, then runs each
 * tier that applies to the packet's workload in tier order (`oifname @to-wl-tier-T jump
 * to-wl-tier-T`) while no policy has allowed it. A tier's chain runs each of its policies
 * whose set holds the packet's interface, in Calico's order, `oifname @wl-… jump pi-X`
 * (the rules sit in pages, see below), while no policy has allowed or passed the packet
 * (the policy chains say so in the packet mark), and ends with the tier's defaultAction:
 * Deny drops what no policy of the tier allowed or passed; Pass falls through to the next
 * tier. A packet no tier decided leaves the dispatch and is accepted (the endpoints'
 * profiles allow, see enforce.h).
 *
 * Why sets: a pod coming, going or changing labels then changes set elements only. Any
 * transaction that adds a rule with a jump, or a verdict-map element that jumps, makes the
 * kernel check every jump of the table again, which costs time in proportion to the table
 * (with a chain or a verdict-map element per pod, tens of milliseconds at 10,000 pods).
 * Rules change only when a policy comes, goes or changes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/buf.h"
#include "tabby/calc.h"
#include "tabby/cleanup.h"
#include "calc_chains.h"
#include "calc_host.h"
#include "calc_spoof.h"
#include "calc_untracked.h"

static const char *const dir_chain[2] = { TBY_CALC_CHAIN_TO_WL, TBY_CALC_CHAIN_FROM_WL };
static const char *const dir_selected[2] = { TBY_CALC_CHAIN_TO_WL "-selected",
                                             TBY_CALC_CHAIN_FROM_WL "-selected" };
static const char *const dir_word[2] = { "ingress", "egress" };

#define VERDICT_BITS (TBY_MARK_ACCEPT | TBY_MARK_PASS)

struct dpol;
struct page;

/* A tier: its policies' pages, per direction a chain and a set of the interfaces its
 * policies apply to (one reference per (workload, policy), as the selected sets). Exists
 * while a Tier is stored or a policy names it. While only one tier has policies of a
 * direction and no workload has a profile plan (the usual case: the default tier alone),
 * the selected set says the same as its set: that stays empty and the dispatch jumps to
 * the tier without testing it, so that a pod costs no more elements than without tiers. */
struct dtier {
    struct tby_hnode node;            /* in c->tiers, by name */
    char *name;
    bool stored;                      /* a Tier resource says what follows */
    bool has_order;
    double order;
    bool pass;                        /* defaultAction Pass (else Deny) */
    size_t n_pols;                    /* dpols in it */
    char *chain[2];                   /* "<dir>-tier-<name>": the chain and its set */
    struct tby_rs_set *set[2];
    struct tby_hmap pages[2];         /* struct page, by name */
    struct tby_hmap books[2];         /* struct page holding pages (see pages_write) */
    struct tby_rs_rule *jump[2];      /* the dispatch chain's jump to it (sealed) */
    struct tby_rs_rule *jump_all[2];  /* the same without the set: the only tier */
    struct tby_rs_rule *head;         /* clears PASS: a Pass of an earlier tier ends here */
    struct tby_rs_rule *deny[2];      /* its defaultAction Deny */
    struct tby_rs_rule *deny_log[2];  /* and its logging twin (ruleset.h) */
};

/* A selector some policy applies to: the interfaces of its local workloads, and those
 * policies. */
struct dsel {
    struct tby_hnode node;            /* in c->sels, by s->hash */
    const struct calc_sel *s;
    struct tby_rs_set *wl;            /* wl-<hash> */
    struct dpol **pols;               /* in no order */
    size_t n_pols, cap_pols;
    size_t n_reached[2];              /* of those, reached, per direction: while some is,
                                       * its workloads hold one reference in the direction's
                                       * selected set (one per selector, not per policy) */
};

/* A policy the dispatch runs, from when it applies to a selector until it stops. */
struct dpol {
    struct tby_hnode node;            /* in c->pols, by display_hash */
    const struct calc_pol *p;
    struct dsel *sel;
    struct dtier *tier;
    uint64_t display_hash;            /* tby_hash_str(p->display): where pages start */
    uint64_t serial;                  /* new for each dpol: what its dispatch rule says */
    bool reached;                     /* its workloads are in the selected sets */
    struct page *page[2];             /* the dispatch page running it, per direction */
};

/* A chain holding consecutive rules of a dispatch chain: a page of policy rules, or a
 * book of page jumps (a tier of many pages, see pages_write). */
struct page {
    struct tby_hnode node;
    char *name;
    uint64_t *serials;                /* the policies its rules run (a book: its pages'
                                       * ids), as last written */
    size_t n;
    uint64_t id;                      /* new for each page */
    struct tby_rs_set *set;           /* the interfaces of their local workloads */
    uint64_t seen;                    /* the last round that cut it */
    bool starts_book;                 /* its first policy starts a book */
    struct page *book;                /* the book holding it (NULL: the tier jumps to it) */
    struct tby_rs_rule *jump;         /* the dispatch chain's jump to it (sealed) */
};

/* ---- profiles: what decides after the tiers -------------------------------------------- */

enum prof_kind {
    PROF_NOOP,                        /* no rules that way: the next profile decides */
    PROF_ALLOW,                       /* one unconditional Allow (a namespace's profile) */
    PROF_RULED,                       /* rules: its chain runs */
};

/* A stored Profile, as the dispatch reads it. */
struct dprof {
    struct tby_hnode node;            /* in c->profs, by name */
    char *name;
    enum prof_kind kind[2];
};

/* What the profiles of some local workloads do in one direction: their ruled profiles'
 * chains in the workloads' order, then Allow (a profile allowing everything came next)
 * or Deny (none did). Workloads whose profiles say the same share one. */
struct plan {
    struct tby_hnode node;            /* in c->plans[d], by key */
    char *key;                        /* the chains, then "|allow" or "|drop" */
    char name[TBY_RS_HASHED_NAME_SIZE]; /* "<dir>-prof-<hash>": its chain and set */
    size_t refs;                      /* workloads */
    struct tby_rs_set *set;
    struct tby_rs_rule *jump;         /* the dispatch chain's jump to it (sealed) */
    bool written;
};

/* A local workload with a plan in some direction: its interface and plans (NULL: its
 * profiles allow everything, as namespaces' do, or say nothing). Workloads without one
 * have none, so that a pod costs no memory here. */
struct dlocal {
    struct tby_hnode node;            /* in c->locals, by interface */
    char *iface;
    struct plan *plan[2];
};

struct calc_dispatch {
    struct tby_rs *rs;
    struct tby_rs_set *local_wl;      /* local endpoints' interfaces */
    struct tby_rs_set *selected[2];   /* interfaces some policy applies to, per direction:
                                       * one reference per (workload, policy) */
    bool dirty;                       /* settle cuts the pages again */
    struct tby_hmap sels;             /* struct dsel */
    struct tby_hmap pols;             /* struct dpol */
    struct tby_hmap tiers;            /* struct dtier */
    bool multi[2];                    /* more than one tier has policies of the direction:
                                       * the tiers' sets are fed */
    struct tby_hmap profs;            /* struct dprof */
    struct tby_hmap locals;           /* struct dlocal, workloads with a plan */
    struct tby_hmap plans[2];         /* struct plan */
    struct tby_rs_rule *head[2];      /* the dispatch's fixed rule: shared, sealed */
    uint64_t serial;                  /* the last dpol serial handed out */
    uint64_t page_round;
    bool untracked;                   /* the hooks accept the doNotTrack mark */
};

/* ---- rules ------------------------------------------------------------------------------ */

/* Adds the matches m[0..n) to r (freeing r on failure). */
static struct tby_rs_rule *with_matches(struct tby_rs_rule *r, const struct tby_rs_match *m,
                                        size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        if (tby_rs_rule_match(r, &m[i]) < 0) {
            tby_rs_rule_free(r);
            r = NULL;
        }
    }
    return r;
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

/* Appends a sealed rule shared with other chains, taking a reference. */
static int push_shared(struct tby_rs_rules *l, struct tby_rs_rule *r)
{
    return tby_rs_rules_add(l, tby_rs_rule_ref(r));
}

/* tby_rs_rule_sealed, short for the builders below. */
static struct tby_rs_rule *sealed(struct tby_rs_rule *r)
{
    return tby_rs_rule_sealed(r);
}

/* Replaces a chain's rules with the list's, or lets go of them when err says building
 * failed. */
static int chain_take_rules(struct tby_rs *rs, const char *name, enum tby_rs_hook hook,
                            struct tby_rs_rules *l, int err)
{
    return tby_rs_chain_write(rs, name, hook, l, err);
}

/* ---- local workloads and the policies applying to them ---------------------------------- */

static int dlocal_add(struct calc_dispatch *c, const struct calc_ep *ep);
static void dlocal_remove(struct calc_dispatch *c, const char *iface);

int calc_dispatch_local(struct calc_dispatch *c, const struct calc_ep *ep, bool present)
{
    if (present) {
        if (tby_rs_add_ifname(c->rs, c->local_wl, ep->iface) < 0)
            return -ENOMEM;
        return dlocal_add(c, ep);
    }
    dlocal_remove(c, ep->iface);
    tby_rs_remove_ifname(c->rs, c->local_wl, ep->iface);
    return 0;
}

/* The directions (bit d) in which some reached policy of ds applies. */
static unsigned dsel_dirs(const struct dsel *ds)
{
    return (ds->n_reached[0] > 0 ? 1u : 0u) | (ds->n_reached[1] > 0 ? 2u : 0u);
}

/* A workload enters (or leaves) the selected set of each direction in dirs (bit d) once:
 * a selector's workloads hold one reference there, whatever the number of its policies
 * (a reference per policy made a pod's arrival cost one step per policy of its
 * selectors). */
static int selected_feed(struct calc_dispatch *c, unsigned dirs, const struct calc_ep *ep,
                         bool add)
{
    int r = 0;

    if (!ep->local || !ep->iface)
        return 0;
    for (int d = 0; d < 2; d++) {
        if (!(dirs & (1u << d)))
            continue;
        if (!add)
            tby_rs_remove_ifname(c->rs, c->selected[d], ep->iface);
        else if (tby_rs_add_ifname(c->rs, c->selected[d], ep->iface) < 0)
            r = -ENOMEM;
    }
    return r;
}

/* dp's policy starts or stops applying to a workload: while more than one tier has
 * policies of a direction of the policy, the workload is in its tier's set once more, or
 * once less. */
static int tier_feed(struct calc_dispatch *c, const struct dpol *dp, const struct calc_ep *ep,
                     bool add)
{
    int r = 0;

    if (!ep->local || !ep->iface)
        return 0;
    for (int d = 0; d < 2; d++) {
        if (!(dp->p->types & calc_dir_type(d)) || !c->multi[d])
            continue;
        if (!add)
            tby_rs_remove_ifname(c->rs, dp->tier->set[d], ep->iface);
        else if (tby_rs_add_ifname(c->rs, dp->tier->set[d], ep->iface) < 0)
            r = -ENOMEM;
    }
    return r;
}

static struct dsel *dsel_find(const struct calc_dispatch *c, const struct calc_sel *s)
{
    for (struct tby_hnode *n = tby_hmap_first_with_hash(&c->sels, s->hash); n;
         n = tby_hmap_next_with_hash(n)) {
        struct dsel *ds = TBY_CONTAINER_OF(n, struct dsel, node);

        if (ds->s == s)
            return ds;
    }
    return NULL;
}

static struct dpol *dpol_find(const struct calc_dispatch *c, const struct calc_pol *p)
{
    for (struct tby_hnode *n = tby_hmap_first_with_hash(&c->pols, tby_hash_str(p->display));
         n; n = tby_hmap_next_with_hash(n)) {
        struct dpol *dp = TBY_CONTAINER_OF(n, struct dpol, node);

        if (dp->p == p)
            return dp;
    }
    return NULL;
}

/* A workload joins (or leaves) the page sets of the policies of ds. */
static void page_feed(struct calc_dispatch *c, const struct dsel *ds, const char *iface,
                      bool add)
{
    for (size_t i = 0; i < ds->n_pols; i++) {
        for (int d = 0; d < 2; d++) {
            struct page *pg = ds->pols[i]->page[d];

            for (; pg && pg->set; pg = pg->book) {
                if (!add) {
                    tby_rs_remove_ifname(c->rs, pg->set, iface);
                } else if (tby_rs_add_ifname(c->rs, pg->set, iface) < 0) {
                    pg->n = 0; /* out of memory: the next settle writes it afresh */
                    c->dirty = true;
                }
            }
        }
    }
}

int calc_dispatch_member(struct calc_dispatch *c, const struct calc_sel *s,
                         const struct calc_ep *ep, bool joined)
{
    struct dsel *ds = dsel_find(c, s);
    int r = 0;

    if (!ds)
        return 0;
    if (ep->local && ep->iface && ds->wl) {
        page_feed(c, ds, ep->iface, joined);
        if (!joined)
            tby_rs_remove_ifname(c->rs, ds->wl, ep->iface);
        else if (tby_rs_add_ifname(c->rs, ds->wl, ep->iface) < 0)
            r = -ENOMEM;
    }
    selected_feed(c, dsel_dirs(ds), ep, joined);
    for (size_t i = 0; (c->multi[0] || c->multi[1]) && i < ds->n_pols; i++)
        if (ds->pols[i]->reached)
            tier_feed(c, ds->pols[i], ep, joined);
    return r;
}

struct into_set {
    struct tby_rs *rs;
    struct tby_rs_set *set;
};

static int add_local_iface(void *ctx, const struct calc_ep *ep)
{
    const struct into_set *t = ctx;

    if (ep->local && ep->iface && tby_rs_add_ifname(t->rs, t->set, ep->iface) < 0)
        return -ENOMEM;
    return 0;
}

/* Adds the interfaces of the selector's local workloads to set. -ENOMEM. */
static int feed_local(struct calc_dispatch *c, const struct calc_sel *s, struct tby_rs_set *set)
{
    struct into_set t = { .rs = c->rs, .set = set };

    return calc_sel_foreach_member(s, add_local_iface, &t) < 0 ? -ENOMEM : 0;
}

struct reaching {
    struct calc_dispatch *c;
    const struct dpol *dp;
    unsigned dirs;                    /* the selected sets the workloads enter or leave */
    bool add;
    int err;
};

static int reach_one(void *ctx, const struct calc_ep *ep)
{
    struct reaching *g = ctx;

    if (selected_feed(g->c, g->dirs, ep, g->add) < 0 || tier_feed(g->c, g->dp, ep, g->add) < 0)
        g->err = -ENOMEM; /* carry on: each workload's reference counts */
    return 0;
}

/* The policy's workloads enter (add) or leave the selected sets: those of the directions
 * in which it is its selector's first reached policy (or last), and its tier's. */
static int reach(struct calc_dispatch *c, struct dpol *dp, bool add)
{
    struct dsel *ds = dp->sel;
    struct reaching g = { .c = c, .dp = dp, .add = add };
    unsigned before = dsel_dirs(ds);

    if (dp->reached == add)
        return 0;
    dp->reached = add;
    for (int d = 0; d < 2; d++)
        if (dp->p->types & calc_dir_type(d))
            ds->n_reached[d] = add ? ds->n_reached[d] + 1 : ds->n_reached[d] - 1;
    g.dirs = before ^ dsel_dirs(ds);
    if (g.dirs || c->multi[0] || c->multi[1])
        calc_sel_foreach_member(ds->s, reach_one, &g);
    return g.err;
}

static struct dsel *dsel_get(struct calc_dispatch *c, const struct calc_sel *s)
{
    struct dsel *ds = dsel_find(c, s);

    if (ds)
        return ds;
    if (!(ds = calloc(1, sizeof(*ds))))
        return NULL;
    ds->s = s;
    if (tby_hmap_insert(&c->sels, &ds->node, s->hash) < 0) {
        free(ds);
        return NULL;
    }
    return ds;
}

/* The selector's workload set exists while some policy applies to it. -ENOMEM. */
static int dsel_update_wl(struct calc_dispatch *c, struct dsel *ds)
{
    char name[TBY_RS_HASHED_NAME_SIZE], comment[TBY_RS_COMMENT_MAX + 1];

    if ((ds->n_pols > 0) == (ds->wl != NULL))
        return 0;
    if (!ds->n_pols) {
        tby_rs_set_del(c->rs, ds->wl);
        ds->wl = NULL;
        return 0;
    }
    tby_rs_hashed_name(name, "wl", ds->s->text);
    snprintf(comment, sizeof(comment), "local workloads: %s", ds->s->text);
    if (!(ds->wl = tby_rs_set_add(c->rs, name, TBY_RS_IFNAMES, comment)))
        return -ENOMEM;
    return feed_local(c, ds->s, ds->wl);
}

static void dsel_put_if_unused(struct calc_dispatch *c, struct dsel *ds)
{
    if (ds->n_pols > 0)
        return;
    dsel_update_wl(c, ds); /* only ever drops the set: cannot fail */
    tby_hmap_remove(&c->sels, &ds->node);
    free(ds->pols);
    free(ds);
}

static struct dtier *tier_get(struct calc_dispatch *c, const char *name);

static int dispatch_add(struct calc_dispatch *c, const struct calc_pol *p,
                        const struct calc_sel *s)
{
    struct dsel *ds = dsel_get(c, s);
    struct dpol *dp = NULL;

    if (!ds || TBY_GROW(ds->pols, ds->cap_pols, ds->n_pols + 1) < 0 ||
        !(dp = calloc(1, sizeof(*dp)))) {
        if (ds)
            dsel_put_if_unused(c, ds);
        return -ENOMEM;
    }
    dp->p = p;
    dp->sel = ds;
    if (!(dp->tier = tier_get(c, p->tier ? p->tier : TBY_TIER_DEFAULT))) {
        free(dp);
        dsel_put_if_unused(c, ds);
        return -ENOMEM;
    }
    dp->tier->n_pols++;
    dp->display_hash = tby_hash_str(p->display);
    dp->serial = ++c->serial;
    if (tby_hmap_insert(&c->pols, &dp->node, dp->display_hash) < 0) {
        dp->tier->n_pols--;
        free(dp);
        dsel_put_if_unused(c, ds);
        return -ENOMEM;
    }
    ds->pols[ds->n_pols++] = dp;
    c->dirty = true;
    if (dsel_update_wl(c, ds) < 0)
        return -ENOMEM;
    return reach(c, dp, true);
}

static void dispatch_remove(struct calc_dispatch *c, struct dpol *dp)
{
    struct dsel *ds = dp->sel;

    reach(c, dp, false);
    for (size_t i = 0; i < ds->n_pols; i++) {
        if (ds->pols[i] == dp) {
            ds->pols[i] = ds->pols[--ds->n_pols];
            break;
        }
    }
    tby_hmap_remove(&c->pols, &dp->node);
    dp->tier->n_pols--; /* an unused tier goes at the next settle, after the jumps to it */
    free(dp);
    c->dirty = true;
    dsel_put_if_unused(c, ds);
}

int calc_dispatch_applies(struct calc_dispatch *c, const struct calc_pol *p,
                          const struct calc_sel *s, bool add)
{
    struct dpol *dp;

    if (add)
        return dispatch_add(c, p, s);
    if ((dp = dpol_find(c, p)))
        dispatch_remove(c, dp);
    return 0;
}

void calc_dispatch_reordered(struct calc_dispatch *c)
{
    c->dirty = true;
}

/* ---- the dispatch chains ---------------------------------------------------------------- */

/* `iifname` (from the workload, egress) or `oifname` (to it) in a set. */
static struct tby_rs_match if_in(int d, const char *set, bool neg)
{
    return (struct tby_rs_match){ .type = TBY_RS_M_IFNAME_SET, .src = d == DIR_OUT,
                                  .neg = neg, .set = (char *)set };
}

static const struct tby_rs_match no_verdict = { .type = TBY_RS_M_MARK, .a = VERDICT_BITS };

/* ---- tiers --------------------------------------------------------------------------- */

static const struct tby_rs_match not_accepted = { .type = TBY_RS_M_MARK, .a = TBY_MARK_ACCEPT };

static const char *tier_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct dtier, node)->name;
}

static struct dtier *tier_find(const struct calc_dispatch *c, const char *name)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->tiers, name, tier_key);

    return n ? TBY_CONTAINER_OF(n, struct dtier, node) : NULL;
}

/* A tier nothing wrote: Calico's default tier, or one a policy names that is not stored
 * (unordered, so last, and Deny: it fails closed). */
static void tier_defaults(struct dtier *t)
{
    t->stored = false;
    t->has_order = strcmp(t->name, TBY_TIER_DEFAULT) == 0;
    t->order = t->has_order ? TBY_TIER_DEFAULT_ORDER : 0;
    t->pass = false;
}

static void tier_release(struct dtier *t)
{
    for (int d = 0; d < 2; d++) {
        tby_rs_rule_free(t->jump[d]);
        tby_rs_rule_free(t->jump_all[d]);
        tby_rs_rule_free(t->deny[d]);
        tby_rs_rule_free(t->deny_log[d]);
        free(t->chain[d]);
        tby_hmap_destroy(&t->pages[d]);
        tby_hmap_destroy(&t->books[d]);
    }
    tby_rs_rule_free(t->head);
    free(t->name);
    free(t);
}

/* The tier's fixed rules: the dispatch's jump to it, the head that clears PASS, the
 * default deny. */
static int tier_rules(struct dtier *t)
{
    struct tby_rs_rule *r;
    char comment[TBY_RS_COMMENT_MAX + 1];

    if ((r = tby_rs_rule_new())) {
        r->set_mark = true;
        r->mark_and = ~TBY_MARK_PASS;
    }
    if (!(t->head = sealed(r)))
        return -ENOMEM;
    for (int d = 0; d < 2; d++) {
        const struct tby_rs_match m[] = { not_accepted, if_in(d, t->chain[d], false) };

        t->jump[d] = sealed(tby_rs_rule_of(m, TBY_ARRAY_SIZE(m), TBY_RS_V_JUMP, t->chain[d],
                                           NULL));
        t->jump_all[d] = sealed(tby_rs_rule_of(NULL, 0, TBY_RS_V_JUMP, t->chain[d], NULL));
        snprintf(comment, sizeof(comment), "tier %s: default deny: no %s policy allowed or "
                 "passed it", t->name, dir_word[d]);
        if ((r = tby_rs_rule_of(&no_verdict, 1, TBY_RS_V_DROP, NULL, comment)))
            r->counter = true;
        t->deny[d] = sealed(r);
        t->deny_log[d] = t->deny[d] ? sealed(tby_rs_deny_log_rule(t->deny[d])) : NULL;
        if (!t->jump[d] || !t->jump_all[d] || !t->deny[d] || !t->deny_log[d])
            return -ENOMEM;
    }
    return 0;
}

/* The tier's set of direction d, made empty. */
static struct tby_rs_set *tier_set_new(struct calc_dispatch *c, const struct dtier *t, int d)
{
    char comment[TBY_RS_COMMENT_MAX + 1];

    snprintf(comment, sizeof(comment), "local workloads some %s policy of tier %s applies to",
             dir_word[d], t->name);
    return tby_rs_set_add(c->rs, t->chain[d], TBY_RS_IFNAMES, comment);
}

static struct dtier *tier_get(struct calc_dispatch *c, const char *name)
{
    struct dtier *t = tier_find(c, name);

    if (t)
        return t;
    if (!(t = calloc(1, sizeof(*t))) || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    tier_defaults(t);
    for (int d = 0; d < 2; d++) {
        tby_hmap_init(&t->pages[d]);
        tby_hmap_init(&t->books[d]);
        if (asprintf(&t->chain[d], "%s-tier-%s", dir_chain[d], name) < 0)
            t->chain[d] = NULL;
    }
    for (int d = 0; d < 2 && t->chain[0] && t->chain[1]; d++)
        t->set[d] = tier_set_new(c, t, d);
    if (!t->set[0] || !t->set[1] || tier_rules(t) < 0 ||
        tby_hmap_insert(&c->tiers, &t->node, tby_hash_str(name)) < 0) {
        for (int d = 0; d < 2; d++)
            if (t->set[d])
                tby_rs_set_del(c->rs, t->set[d]);
        tier_release(t);
        return NULL;
    }
    c->dirty = true;
    return t;
}

static void page_free(struct calc_dispatch *c, struct tby_hmap *in, struct page *pg);

/* Drops a tier no Tier resource and no policy keeps (its pages are gone already: the
 * last settle found no policy of it). */
static void tier_drop(struct calc_dispatch *c, struct dtier *t)
{
    for (int d = 0; d < 2; d++) {
        struct tby_rs_chain *chain = tby_rs_chain_find(c->rs, t->chain[d]);
        struct tby_hnode *h, *next;

        for (int b = 0; b < 2; b++) {
            struct tby_hmap *in = b ? &t->books[d] : &t->pages[d];

            for (h = tby_hmap_first(in); h; h = next) {
                next = tby_hmap_next(in, h);
                page_free(c, in, TBY_CONTAINER_OF(h, struct page, node));
            }
        }
        if (chain)
            tby_rs_chain_del(c->rs, chain);
        if (t->set[d])
            tby_rs_set_del(c->rs, t->set[d]);
    }
    tby_hmap_remove(&c->tiers, &t->node);
    tier_release(t);
}

int calc_dispatch_tier(struct calc_dispatch *c, const char *name, const struct tby_tier *tier)
{
    struct dtier *t = tier ? tier_get(c, name) : tier_find(c, name);

    if (!t)
        return tier ? -ENOMEM : 0;
    if (!tier) {
        tier_defaults(t);
    } else {
        t->stored = true;
        t->has_order = tier->has_order;
        t->order = tier->order;
        t->pass = tier->default_action == TBY_TIER_PASS;
    }
    c->dirty = true;
    return 0;
}

/* Calico's order of tiers: lower `order` first, unset last, then by name. */
static int tier_cmp(const struct dtier *a, const struct dtier *b)
{
    double oa = a->has_order ? a->order : INFINITY;
    double ob = b->has_order ? b->order : INFINITY;

    if (a == b)
        return 0;
    if (oa != ob)
        return oa < ob ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* While no verdict: the policy applies to the packet's workload, run it. */
static struct tby_rs_rule *policy_rule(const struct dpol *dp, int d)
{
    const struct tby_rs_match m[] = { no_verdict, if_in(d, dp->sel->wl->name, false) };

    return tby_rs_rule_of(m, TBY_ARRAY_SIZE(m), TBY_RS_V_JUMP, dp->p->chain[d], NULL);
}

/* ---- profiles after the tiers -----------------------------------------------------------
 *
 * For a packet no tier decided (no tier applies to its workload, or every tier that does
 * passed it) the workload's profiles decide, as Calico's do: in the workload's order, a
 * profile's Allow accepts, its Deny drops, and when none decided the packet is dropped.
 * A profile nothing stored is read as tabby always has: a namespace's (kns.*) allows
 * everything, any other says nothing; a workload whose profiles are all unstored and
 * none allows stays open, as before (Calico would drop: tabby's CNI always lists kns.*).
 * Workloads whose profiles do the same share a plan: a chain and a set; a workload
 * coming or going changes set elements only, unless it is the first with its plan. */

static const char *dprof_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct dprof, node)->name;
}

static const char *dlocal_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct dlocal, node)->iface;
}

static const char *plan_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct plan, node)->key;
}

static enum prof_kind prof_kind(const struct calc_dispatch *c, const char *name, int d,
                                bool *stored)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->profs, name, dprof_key);

    *stored = *stored || n;
    if (n)
        return TBY_CONTAINER_OF(n, struct dprof, node)->kind[d];
    return strncmp(name, "kns.", 4) == 0 ? PROF_ALLOW : PROF_NOOP;
}

/* The plan's key for the profiles in direction d, or NULL (no plan: open). -ENOMEM. */
static int plan_key_of(const struct calc_dispatch *c, const struct tby_strv *profiles, int d,
                       char **out)
{
    _cleanup_buf_ struct tby_buf key = { 0 };
    const char *end = "|drop";
    bool ruled = false, stored = false;

    *out = NULL;
    for (size_t i = 0; i < profiles->n; i++) {
        enum prof_kind k = prof_kind(c, profiles->items[i], d, &stored);
        _cleanup_free_ char *id = NULL, *chain = NULL;

        if (k == PROF_ALLOW) {
            end = "|allow";
            break;
        }
        if (k == PROF_NOOP)
            continue;
        if (asprintf(&id, "pr/%s", profiles->items[i]) < 0 ||
            !(chain = calc_policy_chain_name(id, d)))
            return -ENOMEM;
        tby_buf_printf(&key, "%s%s", ruled ? " " : "", chain);
        ruled = true;
    }
    /* only profiles nothing stored, none allowing: open, as tabby always had it */
    if (!ruled && (!stored || strcmp(end, "|allow") == 0))
        return 0;
    if (tby_buf_adds(&key, end) < 0 || !(*out = strdup(key.data)))
        return -ENOMEM;
    return 0;
}

static void plan_release(struct plan *pl)
{
    tby_rs_rule_free(pl->jump);
    free(pl->key);
    free(pl);
}

/* The plan of key, made (set, jump) when new. Takes key. */
static struct plan *plan_get(struct calc_dispatch *c, int d, char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->plans[d], key, plan_key);
    char comment[TBY_RS_COMMENT_MAX + 1];
    struct plan *pl;

    if (n) {
        free(key);
        return TBY_CONTAINER_OF(n, struct plan, node);
    }
    if (!(pl = calloc(1, sizeof(*pl)))) {
        free(key);
        return NULL;
    }
    pl->key = key;
    snprintf(comment, sizeof(comment), "%s-prof", dir_chain[d]);
    tby_rs_hashed_name(pl->name, comment, key);
    snprintf(comment, sizeof(comment), "local workloads whose profiles run: %s", key);
    {
        const struct tby_rs_match m[] = { not_accepted, if_in(d, pl->name, false) };

        pl->jump = sealed(tby_rs_rule_of(m, TBY_ARRAY_SIZE(m), TBY_RS_V_JUMP, pl->name, NULL));
    }
    if (!pl->jump || !(pl->set = tby_rs_set_add(c->rs, pl->name, TBY_RS_IFNAMES, comment)) ||
        tby_hmap_insert(&c->plans[d], &pl->node, tby_hash_str(key)) < 0) {
        if (pl->set)
            tby_rs_set_del(c->rs, pl->set);
        plan_release(pl);
        return NULL;
    }
    c->dirty = true;
    return pl;
}

/* The plan's chain: each ruled profile while nothing allowed, then its end. */
static int plan_write(struct calc_dispatch *c, struct plan *pl)
{
    struct tby_rs_rules l = { 0 };
    const char *bar = strrchr(pl->key, '|');
    int err = 0;

    for (const char *p = pl->key; err == 0 && p < bar;) {
        size_t len = strcspn(p, " |");
        char chain[TBY_RS_NAME_MAX + 1];

        snprintf(chain, sizeof(chain), "%.*s", (int)len, p);
        err = tby_rs_rules_add(&l, tby_rs_rule_of(&not_accepted, 1, TBY_RS_V_JUMP, chain, NULL));
        p += len + (p[len] == ' ');
    }
    if (err == 0 && strcmp(bar, "|drop") == 0) {
        struct tby_rs_rule *r = tby_rs_rule_of(&not_accepted, 1, TBY_RS_V_DROP, NULL,
                                               "no profile allowed it");

        if (r)
            r->counter = true;
        err = tby_rs_rules_add_deny(&l, r);
    }
    pl->written = err == 0;
    return chain_take_rules(c->rs, pl->name, TBY_RS_HOOK_NONE, &l, err);
}

static void plan_drop(struct calc_dispatch *c, int d, struct plan *pl)
{
    struct tby_rs_chain *chain = tby_rs_chain_find(c->rs, pl->name);

    if (chain)
        tby_rs_chain_del(c->rs, chain);
    tby_rs_set_del(c->rs, pl->set);
    tby_hmap_remove(&c->plans[d], &pl->node);
    plan_release(pl);
}

/* The workload leaves its plan of direction d (an unused plan goes at the next settle). */
static void plan_leave(struct calc_dispatch *c, struct dlocal *dl, int d)
{
    struct plan *pl = dl->plan[d];

    if (!pl)
        return;
    tby_rs_remove_ifname(c->rs, pl->set, dl->iface);
    tby_rs_remove_ifname(c->rs, c->selected[d], dl->iface);
    dl->plan[d] = NULL;
    if (--pl->refs == 0)
        c->dirty = true;
}

static struct dlocal *dlocal_find(const struct calc_dispatch *c, const char *iface)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->locals, iface, dlocal_key);

    return n ? TBY_CONTAINER_OF(n, struct dlocal, node) : NULL;
}

static void dlocal_free(struct calc_dispatch *c, struct dlocal *dl)
{
    for (int d = 0; d < 2; d++)
        plan_leave(c, dl, d);
    tby_hmap_remove(&c->locals, &dl->node);
    free(dl->iface);
    free(dl);
}

/* The workload's plans, as its profiles now say: a record while it has one. -ENOMEM. */
static int plans_assign(struct calc_dispatch *c, const struct calc_ep *ep)
{
    struct dlocal *dl = dlocal_find(c, ep->iface);
    char *key[2] = { NULL, NULL };
    int err = 0;

    for (int d = 0; err == 0 && d < 2; d++)
        if (ep->profiles)
            err = plan_key_of(c, ep->profiles, d, &key[d]);
    if (err == 0 && !dl && (key[0] || key[1])) {
        if (!(dl = calloc(1, sizeof(*dl))) || !(dl->iface = strdup(ep->iface)) ||
            tby_hmap_insert(&c->locals, &dl->node, tby_hash_str(dl->iface)) < 0) {
            if (dl)
                free(dl->iface);
            free(dl);
            dl = NULL;
            err = -ENOMEM;
        }
    }
    for (int d = 0; err == 0 && dl && d < 2; d++) {
        struct plan *pl;

        if (key[d] && dl->plan[d] && strcmp(key[d], dl->plan[d]->key) == 0)
            continue;
        plan_leave(c, dl, d);
        if (!key[d])
            continue;
        if (!(pl = plan_get(c, d, TBY_STEAL(key[d]))) ||
            tby_rs_add_ifname(c->rs, pl->set, dl->iface) < 0 ||
            tby_rs_add_ifname(c->rs, c->selected[d], dl->iface) < 0) {
            err = -ENOMEM;
            break;
        }
        pl->refs++;
        dl->plan[d] = pl;
    }
    free(key[0]);
    free(key[1]);
    if (dl && !dl->plan[0] && !dl->plan[1])
        dlocal_free(c, dl);
    return err;
}

static int dlocal_add(struct calc_dispatch *c, const struct calc_ep *ep)
{
    return plans_assign(c, ep);
}

static void dlocal_remove(struct calc_dispatch *c, const char *iface)
{
    struct dlocal *dl = dlocal_find(c, iface);

    if (dl)
        dlocal_free(c, dl);
}

int calc_dispatch_replan(struct calc_dispatch *c, const struct calc_ep *ep)
{
    return plans_assign(c, ep);
}

static enum prof_kind kind_of_rules(const struct tby_rule_list *l)
{
    if (l->n == 0)
        return PROF_NOOP;
    return tby_rule_list_allows_all(l) ? PROF_ALLOW : PROF_RULED;
}

int calc_dispatch_profile(struct calc_dispatch *c, const char *name,
                          const struct tby_profile *profile)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->profs, name, dprof_key);
    struct dprof *dp = n ? TBY_CONTAINER_OF(n, struct dprof, node) : NULL;
    int err = 0;

    if (!profile && dp) {
        tby_hmap_remove(&c->profs, &dp->node);
        free(dp->name);
        free(dp);
    } else if (profile) {
        if (!dp && (!(dp = calloc(1, sizeof(*dp))) || !(dp->name = strdup(name)) ||
                    tby_hmap_insert(&c->profs, &dp->node, tby_hash_str(name)) < 0)) {
            if (dp)
                free(dp->name);
            free(dp);
            return -ENOMEM;
        }
        dp->kind[DIR_IN] = kind_of_rules(&profile->ingress);
        dp->kind[DIR_OUT] = kind_of_rules(&profile->egress);
    }
    return err;
}

/* The plans' jumps, in the order of their keys (a workload is in one plan a direction). */
static int plan_cmp(const void *a, const void *b)
{
    return strcmp((*(struct plan *const *)a)->key, (*(struct plan *const *)b)->key);
}

static int plans_write(struct calc_dispatch *c, int d, struct tby_rs_rules *l)
{
    size_t n = 0;
    struct plan **v = malloc((tby_hmap_count(&c->plans[d]) + 1) * sizeof(*v));
    int err = v ? 0 : -ENOMEM;

    for (struct tby_hnode *h = tby_hmap_first(&c->plans[d]); v && h;
         h = tby_hmap_next(&c->plans[d], h)) {
        struct plan *pl = TBY_CONTAINER_OF(h, struct plan, node);

        if (pl->refs)
            v[n++] = pl;
    }
    qsort(v, n, sizeof(*v), plan_cmp);
    for (size_t i = 0; err == 0 && i < n; i++) {
        if (!v[i]->written)
            err = plan_write(c, v[i]);
        if (err == 0)
            err = push_shared(l, v[i]->jump);
    }
    free(v);
    return err;
}

static bool plans_used(const struct calc_dispatch *c, int d)
{
    for (struct tby_hnode *h = tby_hmap_first(&c->plans[d]); h; h = tby_hmap_next(&c->plans[d], h))
        if (TBY_CONTAINER_OF(h, struct plan, node)->refs)
            return true;
    return false;
}

/* Plans no workload has any more go, once the dispatch no longer jumps to them. */
static void plans_sweep(struct calc_dispatch *c, int d)
{
    struct tby_hnode *h, *next;

    for (h = tby_hmap_first(&c->plans[d]); h; h = next) {
        struct plan *pl = TBY_CONTAINER_OF(h, struct plan, node);

        next = tby_hmap_next(&c->plans[d], h);
        if (!pl->refs)
            plan_drop(c, d, pl);
    }
}

/* ---- pages of the dispatch --------------------------------------------------------------
 *
 * The dispatch runs every policy of its direction, in Calico's order, cut into pages: a
 * chain of about PAGE_SPAN policy rules, and a set of the interfaces of the local
 * workloads any of them applies to (named as the chain; an interface is in it once per
 * policy of the page that applies to it, as set elements count their owners). The
 * dispatch chain jumps into a page only for a packet of one of those workloads, so a new
 * connection is tested against about M / PAGE_SPAN pages and the PAGE_SPAN policies of
 * each page its workload has policies in, and a workload coming, going or changing its
 * policies changes set elements only: no rule, so the kernel does not re-check the table.
 *
 * Where pages start depends only on the policies (one whose name hashes to 0 modulo
 * PAGE_SPAN starts one), so a policy coming or going changes one page or two, and a
 * restarted tabby-node cuts the same pages. A page is rewritten, rules and set, only when
 * its list of policies changed; a policy's serial changes with what its rule says. */

#define PAGE_SPAN 16

/* Calico's order: lower `order` first, unset last, then by name. */
static int pol_cmp(const struct calc_pol *a, const struct calc_pol *b)
{
    double oa = a->has_order ? a->order : INFINITY;
    double ob = b->has_order ? b->order : INFINITY;

    if (oa != ob)
        return oa < ob ? -1 : 1;
    return strcmp(a->display, b->display);
}

/* Tier by tier, in each the policies in Calico's order. */
static int dpol_cmp(const void *a, const void *b)
{
    const struct dpol *x = *(struct dpol *const *)a, *y = *(struct dpol *const *)b;
    int r = tier_cmp(x->tier, y->tier);

    return r ? r : pol_cmp(x->p, y->p);
}

static bool in_dispatch(const struct dpol *dp, int d)
{
    return (dp->p->types & calc_dir_type(d)) && dp->sel->wl;
}

/* The policies of direction d, tier by tier in Calico's order, into *out (the caller frees it);
 * dp->page[d] cleared. */
static int dispatch_policies(struct calc_dispatch *c, int d, struct dpol ***out, size_t *n_out)
{
    struct dpol **v = malloc((tby_hmap_count(&c->pols) + 1) * sizeof(*v));
    size_t n = 0;

    *out = v;
    *n_out = 0;
    if (!v)
        return -ENOMEM;
    for (struct tby_hnode *h = tby_hmap_first(&c->pols); h; h = tby_hmap_next(&c->pols, h)) {
        struct dpol *dp = TBY_CONTAINER_OF(h, struct dpol, node);

        dp->page[d] = NULL;
        if (in_dispatch(dp, d))
            v[n++] = dp;
    }
    qsort(v, n, sizeof(*v), dpol_cmp);
    *n_out = n;
    return 0;
}

static const char *page_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct page, node)->name;
}

static struct page *page_get(struct calc_dispatch *c, struct tby_hmap *in, int d,
                             const char *name)
{
    struct tby_hnode *n = tby_hmap_find_str(in, name, page_key);
    const struct tby_rs_match m[] = { no_verdict, if_in(d, name, false) };
    struct page *pg;

    if (n)
        return TBY_CONTAINER_OF(n, struct page, node);
    if (!(pg = calloc(1, sizeof(*pg))) || !(pg->name = strdup(name)) ||
        !(pg->jump = sealed(tby_rs_rule_of(m, TBY_ARRAY_SIZE(m), TBY_RS_V_JUMP, name, NULL))) ||
        tby_hmap_insert(in, &pg->node, tby_hash_str(name)) < 0) {
        if (pg) {
            tby_rs_rule_free(pg->jump);
            free(pg->name);
        }
        free(pg);
        return NULL;
    }
    pg->id = ++c->serial;
    return pg;
}

static void page_release(struct page *pg)
{
    tby_rs_rule_free(pg->jump);
    free(pg->serials);
    free(pg->name);
    free(pg);
}

static void page_free(struct calc_dispatch *c, struct tby_hmap *in, struct page *pg)
{
    struct tby_rs_chain *chain = tby_rs_chain_find(c->rs, pg->name);

    if (chain)
        tby_rs_chain_del(c->rs, chain);
    if (pg->set)
        tby_rs_set_del(c->rs, pg->set);
    tby_hmap_remove(in, &pg->node);
    page_release(pg);
}

static bool starts_page(const struct dpol *dp)
{
    return dp->display_hash % PAGE_SPAN == 0;
}

/* Whether pg was written from the n items (its policies, or a book's pages) as they are
 * now: serial(item) is what its rule said when written. */
static bool written_from(const struct page *pg, void *const *items, size_t n,
                         uint64_t (*serial)(const void *item))
{
    if (pg->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (pg->serials[i] != serial(items[i]))
            return false;
    return true;
}

static uint64_t dpol_serial(const void *item)
{
    return ((const struct dpol *)item)->serial;
}

static uint64_t page_id(const void *item)
{
    return ((const struct page *)item)->id;
}

static const char page_comment[] = "local workloads the policies of this page apply to";

/* Fills the set of a page or book afresh: the local workloads of the policies pols[0..n),
 * one reference per (workload, policy). -ENOMEM. */
static int page_refill(struct calc_dispatch *c, struct page *pg, const char *comment,
                       struct dpol **pols, size_t n)
{
    int err = 0;

    if (pg->set)
        tby_rs_set_del(c->rs, pg->set); /* drops every element; those that stay come back */
    if (!(pg->set = tby_rs_set_add(c->rs, pg->name, TBY_RS_IFNAMES, comment)))
        return -ENOMEM;
    for (size_t i = 0; err == 0 && i < n; i++)
        err = feed_local(c, pols[i]->sel->s, pg->set);
    return err;
}

/* Writes the page's rules and fills its set afresh. */
static int page_write(struct calc_dispatch *c, int d, struct page *pg, struct dpol **pols,
                      size_t n)
{
    struct tby_rs_rules l = { 0 };
    uint64_t *serials = malloc((n + 1) * sizeof(*serials));
    int err = serials ? page_refill(c, pg, page_comment, pols, n) : -ENOMEM;

    for (size_t i = 0; err == 0 && i < n; i++) {
        serials[i] = pols[i]->serial;
        err = tby_rs_rules_add(&l, policy_rule(pols[i], d));
    }
    free(pg->serials);
    pg->serials = serials;
    pg->n = err == 0 ? n : 0; /* a failed page is written again next time */
    return chain_take_rules(c->rs, pg->name, TBY_RS_HOOK_NONE, &l, err);
}

/* ---- books: pages of pages --------------------------------------------------------------
 *
 * A tier of more than BOOK_SPAN pages jumps to books instead: a book is a chain of jumps
 * to about BOOK_SPAN consecutive pages, with a set of the interfaces of the workloads its
 * policies apply to (one reference per (workload, policy), as the pages' sets). A new
 * connection then tests about M / (PAGE_SPAN * BOOK_SPAN) book rules, BOOK_SPAN page rules
 * in each book its workload has policies in and PAGE_SPAN policy rules in each such page,
 * instead of M / PAGE_SPAN page rules: at 1,000 policies in a tier 4 + 16 + 16 rules for a
 * workload with one policy, not 63 + 16. A book starts at a page whose first policy's name
 * hashes to 0 modulo PAGE_SPAN * BOOK_SPAN, so a policy coming or going rewrites its page,
 * whose references move in its book's set (page_rewrite): the book is written afresh only
 * when its list of pages changes. */

#define BOOK_SPAN 16

static const char book_comment[] = "local workloads the policies of this book apply to";

/* The page's references (one per (workload, policy)) enter or leave its book's set. */
static int book_take(struct calc_dispatch *c, struct page *bk, const struct page *pg, bool add)
{
    int err = 0;

    if (!pg->set || !bk->set)
        return 0;
    for (const struct tby_rs_elem *e = tby_rs_elems_first(&pg->set->elems); e;
         e = tby_rs_elems_next(&pg->set->elems, e)) {
        char iface[TBY_RS_KEY_MAX + 1];

        snprintf(iface, sizeof(iface), "%.*s", (int)e->len, (const char *)e->key);
        for (uint32_t r = 0; r < e->refs; r++) {
            if (!add)
                tby_rs_remove_ifname(c->rs, bk->set, iface);
            else if (tby_rs_add_ifname(c->rs, bk->set, iface) < 0)
                err = -ENOMEM;
        }
    }
    return err;
}

/* Writes the book's jumps to pages[0..n) and fills its set afresh from their policies
 * pols[0..n_pols). */
static int book_write(struct calc_dispatch *c, struct page *bk, struct page **pages, size_t n,
                      struct dpol **pols, size_t n_pols)
{
    struct tby_rs_rules l = { 0 };
    uint64_t *ids = malloc((n + 1) * sizeof(*ids));
    int err = ids ? page_refill(c, bk, book_comment, pols, n_pols) : -ENOMEM;

    for (size_t i = 0; err == 0 && i < n; i++) {
        ids[i] = pages[i]->id;
        err = push_shared(&l, pages[i]->jump);
    }
    free(bk->serials);
    bk->serials = ids;
    bk->n = err == 0 ? n : 0;
    return chain_take_rules(c->rs, bk->name, TBY_RS_HOOK_NONE, &l, err);
}

/* Rewrites a page whose policies changed; in a book, its references move in the book's
 * set (a book whose pages stay the same is not written again). */
static int page_rewrite(struct calc_dispatch *c, int d, struct page *pg, struct dpol **pols,
                        size_t n)
{
    struct page *bk = pg->book;
    int err;

    if (bk)
        book_take(c, bk, pg, false);
    err = page_write(c, d, pg, pols, n);
    if (bk && err == 0)
        err = book_take(c, bk, pg, true);
    if (bk && err < 0)
        bk->n = 0; /* written afresh next time */
    return err;
}

/* Binds pages[0..n) (the tier's, in order; first[i]: the index in pols of page i's first
 * policy) into books, writes the books that changed and pushes a jump to each onto the
 * tier's rules; or, for a tier of few pages, pushes the pages' jumps. Drops the books no
 * longer cut. */
static int books_write(struct calc_dispatch *c, struct dtier *t, int d, struct page **pages,
                       const size_t *first, size_t n, struct dpol **pols, size_t n_pols,
                       struct tby_rs_rules *l)
{
    uint64_t round = ++c->page_round;
    struct tby_hnode *h, *next;
    int err = 0;

    for (size_t i = 0; n <= BOOK_SPAN && err == 0 && i < n; i++) {
        pages[i]->book = NULL;
        err = push_shared(l, pages[i]->jump);
    }
    for (size_t i = 0, j; n > BOOK_SPAN && err == 0 && i < n; i = j) {
        char name[TBY_RS_HASHED_NAME_SIZE], prefix[32];
        size_t end;
        struct page *bk;

        for (j = i + 1; j < n && !pages[j]->starts_book; j++)
            ;
        end = j < n ? first[j] : n_pols;
        snprintf(prefix, sizeof(prefix), "%s-book", dir_chain[d]);
        tby_rs_hashed_name(name, prefix, pages[i]->name);
        if (!(bk = page_get(c, &t->books[d], d, name)))
            return -ENOMEM;
        bk->seen = round;
        for (size_t k = i; k < j; k++)
            pages[k]->book = bk;
        if (!written_from(bk, (void *const *)(pages + i), j - i, page_id))
            err = book_write(c, bk, pages + i, j - i, pols + first[i], end - first[i]);
        if (err == 0)
            err = push_shared(l, bk->jump);
    }
    for (h = tby_hmap_first(&t->books[d]); err == 0 && h; h = next) {
        struct page *bk = TBY_CONTAINER_OF(h, struct page, node);

        next = tby_hmap_next(&t->books[d], h);
        if (bk->seen != round)
            page_free(c, &t->books[d], bk);
    }
    return err;
}

/* The name of the page starting at dp: the default tier's keep the names they had before
 * tiers ("to-wl-first", "to-wl-<hash>"), another tier's have the tier in theirs. */
static void page_name(char *name, const struct dtier *t, int d, const struct dpol *dp,
                      bool first)
{
    char key[TBY_RS_NAME_MAX + 1];

    if (strcmp(t->name, TBY_TIER_DEFAULT) == 0 && first) {
        snprintf(name, TBY_RS_HASHED_NAME_SIZE, "%s-first", dir_chain[d]);
    } else if (strcmp(t->name, TBY_TIER_DEFAULT) == 0) {
        tby_rs_hashed_name(name, dir_chain[d], dp->p->display);
    } else {
        snprintf(key, sizeof(key), "%s/%s", t->name, first ? "" : dp->p->display);
        tby_rs_hashed_name(name, dir_chain[d], key);
    }
}

/* Cuts the tier's policies into pages, writes the pages that changed, pushes a jump to
 * each (or to their books) onto the tier's rules and drops the pages no longer cut. */
static int pages_write(struct calc_dispatch *c, struct dtier *t, int d, struct dpol **pols,
                       size_t n, struct tby_rs_rules *l)
{
    uint64_t round = ++c->page_round;
    struct tby_hnode *h, *next;
    struct page **pages = malloc((n + 1) * sizeof(*pages));
    size_t *first = malloc((n + 1) * sizeof(*first)), n_pages = 0;
    int err = pages && first ? 0 : -ENOMEM;

    for (size_t i = 0, j; err == 0 && i < n; i = j) {
        char name[TBY_RS_HASHED_NAME_SIZE];
        struct page *pg;

        for (j = i + 1; j < n && !starts_page(pols[j]); j++)
            ;
        page_name(name, t, d, pols[i], i == 0 && !starts_page(pols[0]));
        if (!(pg = page_get(c, &t->pages[d], d, name))) {
            err = -ENOMEM;
            break;
        }
        pg->seen = round;
        pg->starts_book = pols[i]->display_hash % (PAGE_SPAN * BOOK_SPAN) == 0;
        pages[n_pages] = pg;
        first[n_pages++] = i;
        for (size_t k = i; k < j; k++)
            pols[k]->page[d] = pg;
        if (!written_from(pg, (void *const *)(pols + i), j - i, dpol_serial))
            err = page_rewrite(c, d, pg, pols + i, j - i);
    }
    if (err == 0)
        err = books_write(c, t, d, pages, first, n_pages, pols, n, l);
    for (h = tby_hmap_first(&t->pages[d]); err == 0 && h; h = next) {
        struct page *pg = TBY_CONTAINER_OF(h, struct page, node);

        next = tby_hmap_next(&t->pages[d], h);
        if (pg->seen != round)
            page_free(c, &t->pages[d], pg);
    }
    free(pages);
    free(first);
    return err;
}

/* The dispatch chain's own rule, made once: the verdict marks are cleared. Workloads no
 * policy applies to never come in: the hooks jump here for "<chain>-selected" only. */
static int dispatch_fixed(struct calc_dispatch *c, int d)
{
    struct tby_rs_rule *r = tby_rs_rule_new();

    if (r) {
        r->set_mark = true;
        r->mark_and = ~VERDICT_BITS;
    }
    c->head[d] = sealed(r);
    return c->head[d] ? 0 : -ENOMEM;
}

/* A tier's chain in direction d: PASS cleared, its pages, its defaultAction. n == 0: the
 * tier has no policy of that direction, its chain and pages go. */
static int tier_chain(struct calc_dispatch *c, struct dtier *t, int d, struct dpol **pols,
                      size_t n)
{
    struct tby_rs_rules l = { 0 };
    struct tby_rs_chain *chain;
    int err = 0;

    if (n == 0) {
        err = pages_write(c, t, d, pols, 0, &l);
        if ((chain = tby_rs_chain_find(c->rs, t->chain[d])))
            tby_rs_chain_del(c->rs, chain);
        return err;
    }
    err = push_shared(&l, t->head);
    if (err == 0)
        err = pages_write(c, t, d, pols, n, &l);
    if (err == 0 && !t->pass) /* logged (rate-limited), then dropped */
        err = push_shared(&l, t->deny_log[d]);
    if (err == 0 && !t->pass)
        err = push_shared(&l, t->deny[d]);
    return chain_take_rules(c->rs, t->chain[d], TBY_RS_HOOK_NONE, &l, err);
}

/* More than one tier has policies of direction d (multi) or not any more: the tiers' sets
 * are filled from their policies' workloads, or emptied. Rare: a second tier comes, or
 * goes. */
static int tiers_feed(struct calc_dispatch *c, int d, bool multi)
{
    int err = 0;

    c->multi[d] = multi;
    for (struct tby_hnode *h = tby_hmap_first(&c->tiers); h; h = tby_hmap_next(&c->tiers, h)) {
        struct dtier *t = TBY_CONTAINER_OF(h, struct dtier, node);

        tby_rs_set_del(c->rs, t->set[d]); /* drops every element */
        if (!(t->set[d] = tier_set_new(c, t, d)))
            err = -ENOMEM;
    }
    for (struct tby_hnode *h = tby_hmap_first(&c->pols); err == 0 && multi && h;
         h = tby_hmap_next(&c->pols, h)) {
        struct dpol *dp = TBY_CONTAINER_OF(h, struct dpol, node);

        if (dp->reached && (dp->p->types & calc_dir_type(d)))
            err = feed_local(c, dp->sel->s, dp->tier->set[d]);
    }
    if (err < 0)
        c->multi[d] = !multi; /* the next settle tries again */
    return err;
}

/* to-wl / from-wl: workloads no policy applies to go at once; the others go through the
 * tiers that apply to them, in order, while no policy has allowed the packet. */
static int dispatch_chain(struct calc_dispatch *c, int d)
{
    _cleanup_free_ struct dpol **pols = NULL;
    struct tby_rs_rules l = { 0 };
    size_t n_pols;
    int err = dispatch_policies(c, d, &pols, &n_pols);
    /* the tiers' sets are needed when to-wl-selected holds more than the one tier's
     * workloads: another tier's, or those of a profile plan */
    bool multi = err == 0 && n_pols > 0 &&
                 (pols[0]->tier != pols[n_pols - 1]->tier || plans_used(c, d));

    if (err == 0 && multi != c->multi[d])
        err = tiers_feed(c, d, multi);
    if (err == 0)
        err = push_shared(&l, c->head[d]);
    for (size_t i = 0, j; err == 0 && i < n_pols; i = j) {
        for (j = i + 1; j < n_pols && pols[j]->tier == pols[i]->tier; j++)
            ;
        err = tier_chain(c, pols[i]->tier, d, pols + i, j - i);
        if (err == 0)
            err = push_shared(&l, multi ? pols[i]->tier->jump[d] : pols[i]->tier->jump_all[d]);
    }
    if (err == 0)
        err = plans_write(c, d, &l);
    /* tiers without a policy of this direction */
    for (struct tby_hnode *h = tby_hmap_first(&c->tiers); err == 0 && h;
         h = tby_hmap_next(&c->tiers, h)) {
        struct dtier *t = TBY_CONTAINER_OF(h, struct dtier, node);
        bool has = false;

        for (size_t i = 0; i < n_pols && !has; i++)
            has = pols[i]->tier == t;
        if (!has)
            err = tier_chain(c, t, d, NULL, 0);
    }
    return chain_take_rules(c->rs, dir_chain[d], TBY_RS_HOOK_NONE, &l, err);
}

int calc_dispatch_settle(struct calc_dispatch *c)
{
    struct tby_hnode *h, *next;
    int err = 0;

    if (!c->dirty)
        return 0;
    for (int d = 0; d < 2; d++)
        if (dispatch_chain(c, d) < 0)
            err = -ENOMEM;
    for (h = tby_hmap_first(&c->tiers); err == 0 && h; h = next) {
        struct dtier *t = TBY_CONTAINER_OF(h, struct dtier, node);

        next = tby_hmap_next(&c->tiers, h);
        if (!t->stored && t->n_pols == 0)
            tier_drop(c, t);
    }
    for (int d = 0; err == 0 && d < 2; d++)
        plans_sweep(c, d);
    c->dirty = err < 0; /* the next try starts over */
    return err;
}

/* ---- the hooks -------------------------------------------------------------------------- */

/* r, also for packets in from (src) or out to an interface of the set. */
static struct tby_rs_rule *on_ifs(struct tby_rs_rule *r, bool src, const char *set)
{
    struct tby_rs_match ifs = { .type = TBY_RS_M_IFNAME_SET, .src = src, .set = (char *)set };

    if (r && tby_rs_rule_match(r, &ifs) < 0) {
        tby_rs_rule_free(r);
        return NULL;
    }
    return r;
}

/* A rule for packets in from (src) or out to a local workload's interface. */
static struct tby_rs_rule *wl_rule(bool src)
{
    return on_ifs(tby_rs_rule_new(), src, TBY_CALC_SET_LOCAL_WL);
}

/* ct state & bits, for packets in from (1) or out to (0) a local workload, or any (-1).
 * The state is tested before the interface: it is a compare, the interface a hash lookup,
 * and every new connection's first packet meets these rules (established went first). */
static struct tby_rs_rule *ct_rule(uint32_t bits, enum tby_rs_verdict v, int wl)
{
    struct tby_rs_rule *r = tby_rs_rule_new();
    struct tby_rs_match m = { .type = TBY_RS_M_CT_STATE, .a = bits };

    if (r && tby_rs_rule_match(r, &m) < 0) {
        tby_rs_rule_free(r);
        return NULL;
    }
    if (wl >= 0)
        r = on_ifs(r, wl == 1, TBY_CALC_SET_LOCAL_WL);
    if (r)
        r->counter = v == TBY_RS_V_DROP;
    return verdict_rule(r, v, NULL, NULL);
}

/* icmpv6 type t from a pod to its node: accepted whatever the pod's egress policy, as
 * Calico's workload-to-host chain does, or IPv6 would break under an egress default deny.
 * From workloads only: what reaches the node by its own interfaces is not theirs. */
static struct tby_rs_rule *nd_rule(uint32_t t)
{
    struct tby_rs_rule *r = wl_rule(true);
    const struct tby_rs_match m[] = {
        { .type = TBY_RS_M_NFPROTO, .family = 6 },
        { .type = TBY_RS_M_L4PROTO, .a = TBY_PROTO_ICMPV6 },
        { .type = TBY_RS_M_ICMP, .family = 6, .a = t },
    };

    return verdict_rule(with_matches(r, m, TBY_ARRAY_SIZE(m)), TBY_RS_V_ACCEPT, NULL, NULL);
}

/* The ICMPv6 types Calico lets a workload send its node before policy: multicast listener
 * query, report and done (MLD 130-132), router solicitation 133, neighbour solicitation
 * 135 and advertisement 136. Not router advertisements (134): a pod is no router. */
static int nd_rules(struct tby_rs_rules *l)
{
    static const uint32_t types[] = { 130, 131, 132, 133, 135, 136 };
    int err = 0;

    for (size_t i = 0; err == 0 && i < TBY_ARRAY_SIZE(types); i++)
        err = tby_rs_rules_add(l, nd_rule(types[i]));
    return err;
}

static int hook_chain(struct tby_rs *rs, const char *name, enum tby_rs_hook hook,
                      bool untracked)
{
    struct tby_rs_rules l = { 0 };
    int err;

    /* A workload's packets first show that their source is the workload's (calc_spoof.h):
     * before conntrack, or a forged source would pass as the reply of another's flow. */
    err = tby_rs_rules_add(&l, verdict_rule(wl_rule(true), TBY_RS_V_JUMP,
                                            TBY_CALC_CHAIN_WL_SRC, NULL));
    /* Return traffic of allowed connections first: policy decides only new flows. Invalid
     * packets are dropped for workloads only: the node's own traffic is not ours to judge. */
    if (err == 0 && hook == TBY_RS_HOOK_FORWARD) /* as Calico drops a missing endpoint's */
        err = tby_rs_rules_add_deny(&l, calc_spoof_held_rule(false));
    if (err == 0)
        err = tby_rs_rules_add(&l, ct_rule(TBY_CT_ESTABLISHED | TBY_CT_RELATED,
                                           TBY_RS_V_ACCEPT, -1));
    if (err == 0)
        err = tby_rs_rules_add(&l, ct_rule(TBY_CT_INVALID, TBY_RS_V_DROP, 1));
    if (err == 0 && hook == TBY_RS_HOOK_FORWARD)
        err = tby_rs_rules_add(&l, ct_rule(TBY_CT_INVALID, TBY_RS_V_DROP, 0));
    if (err == 0 && hook == TBY_RS_HOOK_INPUT)
        err = nd_rules(&l);
    /* host endpoints' applyOnForward, unless a doNotTrack policy allowed it (Calico's) */
    if (err == 0 && hook == TBY_RS_HOOK_FORWARD)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(&calc_untracked_not_allowed, untracked ? 1 : 0,
                                                  TBY_RS_V_JUMP, CALC_HOST_CHAIN_FWD_IN, NULL));
    /* Into the dispatch only the workloads some policy or profile plan applies to: one
     * lookup for a new connection's packet where testing local-wl here and the selected
     * set there took two. */
    if (err == 0)
        err = tby_rs_rules_add(&l, verdict_rule(on_ifs(tby_rs_rule_new(), true,
                                                       dir_selected[1]),
                                                TBY_RS_V_JUMP, TBY_CALC_CHAIN_FROM_WL, NULL));
    /* Host to local pod (output) is always allowed; pod to host (input) passes the pod's
     * egress policy and then defaultEndpointToHostAction (host-in's first rule). */
    if (err == 0 && hook == TBY_RS_HOOK_FORWARD)
        err = tby_rs_rules_add(&l, verdict_rule(on_ifs(tby_rs_rule_new(), false,
                                                       dir_selected[0]),
                                                TBY_RS_V_JUMP, TBY_CALC_CHAIN_TO_WL, NULL));
    if (err == 0 && hook == TBY_RS_HOOK_FORWARD)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(NULL, 0, TBY_RS_V_JUMP,
                                                  CALC_HOST_CHAIN_FWD_OUT, NULL));
    /* then defaultEndpointToHostAction and the host endpoints (calc_host.c) */
    if (err == 0 && hook == TBY_RS_HOOK_INPUT && untracked) /* a doNotTrack Allow's */
        err = tby_rs_rules_add(&l, calc_untracked_accept());
    if (err == 0 && hook == TBY_RS_HOOK_INPUT)
        err = tby_rs_rules_add(&l, tby_rs_rule_of(NULL, 0, TBY_RS_V_JUMP, CALC_HOST_CHAIN_IN,
                                                  NULL));
    return chain_take_rules(rs, name, hook, &l, err);
}

/* ---- the whole ------------------------------------------------------------------------ */

int calc_dispatch_new(struct tby_rs *rs, struct calc_dispatch **out)
{
    struct calc_dispatch *c = calloc(1, sizeof(*c));
    char comment[96];

    *out = c;
    if (!c)
        return -ENOMEM;
    c->rs = rs;
    tby_hmap_init(&c->sels);
    tby_hmap_init(&c->pols);
    tby_hmap_init(&c->tiers);
    tby_hmap_init(&c->profs);
    tby_hmap_init(&c->locals);
    tby_hmap_init(&c->plans[0]);
    tby_hmap_init(&c->plans[1]);
    c->local_wl = tby_rs_set_add(rs, TBY_CALC_SET_LOCAL_WL, TBY_RS_IFNAMES, NULL);
    if (!c->local_wl)
        return -ENOMEM;
    for (int d = 0; d < 2; d++) {
        snprintf(comment, sizeof(comment), "local workloads some %s policy applies to",
                 dir_word[d]);
        if (!(c->selected[d] = tby_rs_set_add(rs, dir_selected[d], TBY_RS_IFNAMES, comment)) ||
            dispatch_fixed(c, d) < 0)
            return -ENOMEM;
    }
    c->dirty = true;
    if (calc_dispatch_settle(c) < 0 ||
        hook_chain(rs, TBY_CALC_CHAIN_FORWARD, TBY_RS_HOOK_FORWARD, false) < 0)
        return -ENOMEM;
    return hook_chain(rs, TBY_CALC_CHAIN_INPUT, TBY_RS_HOOK_INPUT, false);
}

int calc_dispatch_untracked(struct calc_dispatch *c, bool on)
{
    int err;

    if (on == c->untracked)
        return 0;
    err = hook_chain(c->rs, TBY_CALC_CHAIN_FORWARD, TBY_RS_HOOK_FORWARD, on);
    if (err == 0)
        err = hook_chain(c->rs, TBY_CALC_CHAIN_INPUT, TBY_RS_HOOK_INPUT, on);
    if (err == 0)
        c->untracked = on;
    return err;
}

void calc_dispatch_free(struct calc_dispatch *c)
{
    struct tby_hnode *h, *next;

    if (!c)
        return;
    for (int d = 0; d < 2; d++) {
        tby_rs_rule_free(c->head[d]);
    }
    for (h = tby_hmap_first(&c->tiers); h; h = next) {
        struct dtier *t = TBY_CONTAINER_OF(h, struct dtier, node);

        next = tby_hmap_next(&c->tiers, h);
        for (int d = 0; d < 2; d++) {
            struct tby_hnode *ph, *pnext;

            for (int b = 0; b < 2; b++) {
                struct tby_hmap *in = b ? &t->books[d] : &t->pages[d];

                for (ph = tby_hmap_first(in); ph; ph = pnext) {
                    pnext = tby_hmap_next(in, ph);
                    tby_hmap_remove(in, ph);
                    page_release(TBY_CONTAINER_OF(ph, struct page, node));
                }
            }
        }
        tier_release(t);
    }
    tby_hmap_destroy(&c->tiers);
    for (int d = 0; d < 2; d++) {
        for (h = tby_hmap_first(&c->plans[d]); h; h = next) {
            next = tby_hmap_next(&c->plans[d], h);
            plan_release(TBY_CONTAINER_OF(h, struct plan, node));
        }
        tby_hmap_destroy(&c->plans[d]);
    }
    for (h = tby_hmap_first(&c->locals); h; h = next) {
        struct dlocal *dl = TBY_CONTAINER_OF(h, struct dlocal, node);

        next = tby_hmap_next(&c->locals, h);
        free(dl->iface);
        free(dl);
    }
    tby_hmap_destroy(&c->locals);
    for (h = tby_hmap_first(&c->profs); h; h = next) {
        struct dprof *dp = TBY_CONTAINER_OF(h, struct dprof, node);

        next = tby_hmap_next(&c->profs, h);
        free(dp->name);
        free(dp);
    }
    tby_hmap_destroy(&c->profs);
    for (h = tby_hmap_first(&c->pols); h; h = next) {
        next = tby_hmap_next(&c->pols, h);
        free(TBY_CONTAINER_OF(h, struct dpol, node));
    }
    for (h = tby_hmap_first(&c->sels); h; h = next) {
        struct dsel *ds = TBY_CONTAINER_OF(h, struct dsel, node);

        next = tby_hmap_next(&c->sels, h);
        free(ds->pols);
        free(ds);
    }
    tby_hmap_destroy(&c->pols);
    tby_hmap_destroy(&c->sels);
    free(c);
}
