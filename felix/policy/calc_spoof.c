/* calc_spoof.c — anti-spoofing for local workloads (calc_spoof.h says what and why).
 *
 * The chain, entered by every packet in from a local workload before anything else:
 *
 *   iifname @from-wl-src-held (logging twin) counter drop          prefixes not allowed
 *   meta nfproto ipv4 iifname . ip saddr @from-wl-src-4 return     its own addresses
 *   meta nfproto ipv6 iifname . ip6 saddr @from-wl-src-6 return
 *   meta nfproto ipv6 ip6 saddr @from-wl-src-ll return             fe80::/10 and ::, for ND
 *   iifname @from-wl-src-if-<h> meta nfproto ipv4 ip saddr @from-wl-src-n4-<h> return
 *                                                      one workload's wider sources (and v6)
 *   (logging twin) counter drop                                    anything else
 *
 * Calico checks the same with the kernel's routes (a strict reverse-path check, and a rule
 * per allowed prefix before it); tabby reads the endpoints instead, so that the check does
 * not depend on the routes part having written the workload's route yet, and explain can
 * say the same from the datastore. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/calc.h"
#include "calc_spoof.h"

#define SET_LINK_LOCAL "from-wl-src-ll"

/* A local workload with wider sources: its rule's sets. */
struct wider {
    struct tby_hnode node;            /* in s->wider, by the endpoint's address */
    const struct calc_ep *ep;
    char *iface;
    char name[3][TBY_RS_HASHED_NAME_SIZE]; /* its interface set, IPv4 and IPv6 nets */
    bool has[2];                      /* nets of the family (4, 6) */
};

/* A local workload with allowSpoofedSourcePrefixes: held while they are not allowed. */
struct asker {
    struct tby_hnode node;            /* in s->askers, by the endpoint's address */
    const struct calc_ep *ep;
};

struct calc_spoof {
    struct tby_rs *rs;
    struct tby_rs_set *own[2];        /* from-wl-src-4, from-wl-src-6 */
    struct tby_rs_set *held;          /* from-wl-src-held */
    bool any;                         /* workloadSourceSpoofing Any */
    struct tby_hmap wider;            /* struct wider */
    struct tby_hmap askers;           /* struct asker */
    uint64_t serial;                  /* names the next wider's sets */
    bool dirty;
};

static uint64_t ep_hash(const struct calc_ep *ep)
{
    return tby_hash_bytes(&ep, sizeof(ep), 0);
}

/* ---- rules ------------------------------------------------------------------------------ */

static struct tby_rs_rule *rule(const struct tby_rs_match *m, size_t n, enum tby_rs_verdict v,
                                const char *comment)
{
    struct tby_rs_rule *r = tby_rs_rule_new();
    int err = r ? 0 : -ENOMEM;

    for (size_t i = 0; err == 0 && i < n; i++)
        err = tby_rs_rule_match(r, &m[i]);
    if (err == 0)
        err = tby_rs_rule_set_verdict(r, v, NULL);
    if (err == 0 && comment)
        err = tby_rs_rule_set_comment(r, comment);
    if (err < 0) {
        tby_rs_rule_free(r);
        return NULL;
    }
    return r;
}

/* meta nfproto F iifname . saddr @own-F return */
static struct tby_rs_rule *own_rule(uint8_t family)
{
    const struct tby_rs_match m[] = {
        { .type = TBY_RS_M_NFPROTO, .family = family },
        { .type = TBY_RS_M_IFNAME_ADDR_SET, .src = true, .family = family,
          .set = family == 4 ? CALC_SPOOF_SET_4 : CALC_SPOOF_SET_6 },
    };

    return rule(m, TBY_ARRAY_SIZE(m), TBY_RS_V_RETURN, NULL);
}

/* From (src) or to a held workload: logged and dropped. */
struct tby_rs_rule *calc_spoof_held_rule(bool src)
{
    const struct tby_rs_match m = { .type = TBY_RS_M_IFNAME_SET, .src = src,
                                    .set = CALC_SPOOF_SET_HELD };
    struct tby_rs_rule *r = rule(&m, 1, TBY_RS_V_DROP, CALC_SPOOF_HELD_COMMENT);

    if (r)
        r->counter = true;
    return r;
}

static struct tby_rs_rule *link_local_rule(void)
{
    const struct tby_rs_match m[] = {
        { .type = TBY_RS_M_NFPROTO, .family = 6 },
        { .type = TBY_RS_M_ADDR_SET, .src = true, .family = 6, .set = SET_LINK_LOCAL },
    };

    return rule(m, TBY_ARRAY_SIZE(m), TBY_RS_V_RETURN, "link-local and unspecified: ND, MLD");
}

static struct tby_rs_rule *wider_rule(const struct wider *w, int fam)
{
    const struct tby_rs_match m[] = {
        { .type = TBY_RS_M_IFNAME_SET, .src = true, .set = (char *)w->name[0] },
        { .type = TBY_RS_M_NFPROTO, .family = fam == 0 ? 4 : 6 },
        { .type = TBY_RS_M_ADDR_SET, .src = true, .family = fam == 0 ? 4 : 6,
          .set = (char *)w->name[1 + fam] },
    };
    char comment[64];

    snprintf(comment, sizeof(comment), "allowed sources of %s", w->iface);
    return rule(m, TBY_ARRAY_SIZE(m), TBY_RS_V_RETURN, comment);
}

static int wider_cmp(const void *a, const void *b)
{
    const struct wider *x = *(struct wider *const *)a, *y = *(struct wider *const *)b;
    int c = strcmp(x->iface, y->iface);

    return c ? c : strcmp(x->name[0], y->name[0]);
}

/* The wider workloads, by interface: the chain reads the same whatever the order of events. */
static int wider_sorted(const struct calc_spoof *s, struct wider ***out, size_t *n)
{
    struct wider **v = calloc(tby_hmap_count(&s->wider) + 1, sizeof(*v));

    *out = v;
    *n = 0;
    if (!v)
        return -ENOMEM;
    for (struct tby_hnode *h = tby_hmap_first(&s->wider); h; h = tby_hmap_next(&s->wider, h))
        v[(*n)++] = TBY_CONTAINER_OF(h, struct wider, node);
    qsort(v, *n, sizeof(*v), wider_cmp);
    return 0;
}

int calc_spoof_settle(struct calc_spoof *s)
{
    struct tby_rs_rules l = { 0 };
    struct wider **v = NULL;
    size_t n = 0;
    int err;

    if (!s->dirty)
        return 0;
    err = wider_sorted(s, &v, &n);
    if (err == 0)
        err = tby_rs_rules_add_deny(&l, calc_spoof_held_rule(true));
    if (err == 0)
        err = tby_rs_rules_add(&l, own_rule(4));
    if (err == 0)
        err = tby_rs_rules_add(&l, own_rule(6));
    if (err == 0)
        err = tby_rs_rules_add(&l, link_local_rule());
    for (size_t i = 0; err == 0 && i < n; i++)
        for (int f = 0; err == 0 && f < 2; f++)
            if (v[i]->has[f])
                err = tby_rs_rules_add(&l, wider_rule(v[i], f));
    if (err == 0) {
        struct tby_rs_rule *drop = rule(NULL, 0, TBY_RS_V_DROP, CALC_SPOOF_DROP_COMMENT);

        if (drop)
            drop->counter = true;
        err = tby_rs_rules_add_deny(&l, drop);
    }
    free(v);
    err = tby_rs_chain_write(s->rs, TBY_CALC_CHAIN_WL_SRC, TBY_RS_HOOK_NONE, &l, err);
    if (err == 0)
        s->dirty = false;
    return err;
}

/* ---- workloads -------------------------------------------------------------------------- */

static void wider_release(struct calc_spoof *s, struct wider *w)
{
    for (int i = 0; i < 3; i++) {
        struct tby_rs_set *set = w->name[i][0] ? tby_rs_set_find(s->rs, w->name[i]) : NULL;

        if (set)
            tby_rs_set_del(s->rs, set);
    }
    free(w->iface);
    free(w);
}

/* The sets of a workload's wider sources: its interface, its nets of each family. */
static int wider_fill(struct calc_spoof *s, struct wider *w)
{
    static const char *const prefix[3] = { "from-wl-src-if", "from-wl-src-n4",
                                           "from-wl-src-n6" };
    struct tby_cidr *nets = calloc(w->ep->n_src_nets + 1, sizeof(*nets));
    char text[64], comment[64];
    int err = nets ? 0 : -ENOMEM;

    snprintf(text, sizeof(text), "%s/%llu", w->iface, (unsigned long long)++s->serial);
    snprintf(comment, sizeof(comment), "allowed sources of %s", w->iface);
    for (int i = 0; i < 3; i++)
        tby_rs_hashed_name(w->name[i], prefix[i], text);
    for (int f = 0; err == 0 && f < 2; f++) {
        size_t n = 0;
        struct tby_rs_set *set;

        for (size_t i = 0; i < w->ep->n_src_nets; i++)
            if (w->ep->src_nets[i].ip.family == (f == 0 ? 4 : 6))
                nets[n++] = w->ep->src_nets[i];
        if (n == 0)
            continue;
        w->has[f] = true;
        set = tby_rs_set_add(s->rs, w->name[1 + f], f == 0 ? TBY_RS_NET4 : TBY_RS_NET6,
                             comment);
        err = set ? tby_rs_refill_nets(s->rs, set, nets, n) : -ENOMEM;
    }
    free(nets);
    if (err == 0) {
        struct tby_rs_set *ifs = tby_rs_set_add(s->rs, w->name[0], TBY_RS_IFNAMES, comment);

        err = ifs ? tby_rs_add_ifname(s->rs, ifs, w->iface) : -ENOMEM;
    }
    return err;
}

static int wider_add(struct calc_spoof *s, const struct calc_ep *ep)
{
    struct wider *w = calloc(1, sizeof(*w));
    int err;

    if (!w || !(w->iface = strdup(ep->iface))) {
        free(w);
        return -ENOMEM;
    }
    w->ep = ep;
    err = wider_fill(s, w);
    if (err == 0)
        err = tby_hmap_insert(&s->wider, &w->node, ep_hash(ep));
    if (err < 0) {
        wider_release(s, w);
        return err;
    }
    s->dirty = true;
    return 0;
}

static void wider_remove(struct calc_spoof *s, const struct calc_ep *ep)
{
    for (struct tby_hnode *h = tby_hmap_first_with_hash(&s->wider, ep_hash(ep)); h;
         h = tby_hmap_next_with_hash(h)) {
        struct wider *w = TBY_CONTAINER_OF(h, struct wider, node);

        if (w->ep == ep) {
            tby_hmap_remove(&s->wider, h);
            wider_release(s, w);
            s->dirty = true;
            return;
        }
    }
}

static bool held(const struct calc_spoof *s, const struct calc_ep *ep)
{
    return ep->n_prefixes > 0 && !s->any;
}

/* What the check holds of a workload comes (present) or goes, as s->any says now. */
static int ep_sources(struct calc_spoof *s, const struct calc_ep *ep, bool present)
{
    int err = 0;

    if (held(s, ep)) {
        if (!present)
            tby_rs_remove_ifname(s->rs, s->held, ep->iface);
        else
            err = tby_rs_add_ifname(s->rs, s->held, ep->iface);
        return err;
    }
    for (size_t i = 0; i < ep->n_addrs; i++) {
        struct tby_rs_set *set = s->own[ep->addrs[i].family == 4 ? 0 : 1];

        if (!present)
            tby_rs_remove_ifname_addr(s->rs, set, ep->iface, &ep->addrs[i]);
        else if (err == 0)
            err = tby_rs_add_ifname_addr(s->rs, set, ep->iface, &ep->addrs[i]);
    }
    if (!present)
        wider_remove(s, ep);
    else if (err == 0 && ep->n_src_nets > 0)
        err = wider_add(s, ep);
    return err;
}

static struct asker *asker_find(const struct calc_spoof *s, const struct calc_ep *ep)
{
    for (struct tby_hnode *h = tby_hmap_first_with_hash(&s->askers, ep_hash(ep)); h;
         h = tby_hmap_next_with_hash(h)) {
        struct asker *a = TBY_CONTAINER_OF(h, struct asker, node);

        if (a->ep == ep)
            return a;
    }
    return NULL;
}

/* The workloads with prefixes, so that workloadSourceSpoofing changing finds them. */
static int askers_note(struct calc_spoof *s, const struct calc_ep *ep, bool present)
{
    struct asker *a = ep->n_prefixes ? asker_find(s, ep) : NULL;

    if (!ep->n_prefixes)
        return 0;
    if (!present) {
        if (a) {
            tby_hmap_remove(&s->askers, &a->node);
            free(a);
        }
        return 0;
    }
    if (a)
        return 0;
    if (!(a = calloc(1, sizeof(*a))))
        return -ENOMEM;
    a->ep = ep;
    return tby_hmap_insert(&s->askers, &a->node, ep_hash(ep));
}

int calc_spoof_local(struct calc_spoof *s, const struct calc_ep *ep, bool present)
{
    int err = askers_note(s, ep, present);

    if (err == 0)
        err = ep_sources(s, ep, present);
    /* a bad interface name (the index hands on what the datastore says) checks nothing */
    return err == -EINVAL ? 0 : err;
}

int calc_spoof_allow(struct calc_spoof *s, bool any)
{
    int err = 0;

    if (any == s->any)
        return 0;
    for (int pass = 0; pass < 2; pass++) {
        for (struct tby_hnode *h = tby_hmap_first(&s->askers); h;
             h = tby_hmap_next(&s->askers, h)) {
            int r = ep_sources(s, TBY_CONTAINER_OF(h, struct asker, node)->ep, pass == 1);

            if (r < 0 && r != -EINVAL)
                err = r;
        }
        if (pass == 0)
            s->any = any;
    }
    return err;
}

/* ---- the whole -------------------------------------------------------------------------- */

int calc_spoof_new(struct tby_rs *rs, struct calc_spoof **out)
{
    static const struct tby_cidr link_local[] = {
        { .ip = { .family = 6, .bytes = { 0xfe, 0x80 } }, .prefix_len = 10 },
        { .ip = { .family = 6 }, .prefix_len = 128 },
    };
    struct calc_spoof *s = calloc(1, sizeof(*s));
    struct tby_rs_set *ll;

    *out = s;
    if (!s)
        return -ENOMEM;
    s->rs = rs;
    tby_hmap_init(&s->wider);
    tby_hmap_init(&s->askers);
    s->own[0] = tby_rs_set_add(rs, CALC_SPOOF_SET_4, TBY_RS_IFNAME_ADDR4,
                               "local workloads' interfaces and IPv4 addresses");
    s->own[1] = tby_rs_set_add(rs, CALC_SPOOF_SET_6, TBY_RS_IFNAME_ADDR6,
                               "local workloads' interfaces and IPv6 addresses");
    ll = tby_rs_set_add(rs, SET_LINK_LOCAL, TBY_RS_NET6, "sources any workload may use");
    s->held = tby_rs_set_add(rs, CALC_SPOOF_SET_HELD, TBY_RS_IFNAMES,
                             "local workloads whose allowSpoofedSourcePrefixes are not allowed");
    if (!s->own[0] || !s->own[1] || !ll || !s->held ||
        tby_rs_fill_nets(rs, ll, link_local, TBY_ARRAY_SIZE(link_local)) < 0)
        return -ENOMEM;
    s->dirty = true;
    return calc_spoof_settle(s);
}

void calc_spoof_free(struct calc_spoof *s)
{
    struct tby_hnode *h, *next;

    if (!s)
        return;
    for (h = tby_hmap_first(&s->wider); h; h = next) {
        struct wider *w = TBY_CONTAINER_OF(h, struct wider, node);

        next = tby_hmap_next(&s->wider, h);
        free(w->iface);
        free(w);
    }
    tby_hmap_destroy(&s->wider);
    for (h = tby_hmap_first(&s->askers); h; h = next) {
        next = tby_hmap_next(&s->askers, h);
        free(TBY_CONTAINER_OF(h, struct asker, node));
    }
    tby_hmap_destroy(&s->askers);
    free(s);
}
