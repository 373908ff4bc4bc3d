/* calc_rules.c — one Calico rule compiled to nft rules: split by IP family (the address
 * sets are per family) and by port alternative (numeric ports, then each named port, since
 * nft cannot OR different lookups in one rule), each with a counter and a comment naming
 * the policy and rule. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "calc_policy_internal.h"

/* ---- rule entities ---------------------------------------------------------------------- */

void crule_clear(struct crule *r)
{
    struct centity *e[2] = { &r->src, &r->dst };

    for (int i = 0; i < 2; i++) {
        tby_sel_free(e[i]->sel);
        tby_sel_free(e[i]->not_sel);
        free(e[i]->nets.items);
        free(e[i]->not_nets.items);
        for (size_t k = 0; k < e[i]->ports.n; k++)
            free(e[i]->ports.items[k].name);
        for (size_t k = 0; k < e[i]->not_ports.n; k++)
            free(e[i]->not_ports.items[k].name);
        free(e[i]->ports.items);
        free(e[i]->not_ports.items);
        free(e[i]->svc);
    }
    memset(r, 0, sizeof(*r));
}

int sel_and_take(struct tby_sel *a, struct tby_sel *b, struct tby_sel **out, struct tby_error *err)
{
    int r = tby_sel_and(a, b, out, err);

    tby_sel_free(a);
    tby_sel_free(b);
    return r;
}

int sel_namespace(const char *ns, struct tby_sel **out, struct tby_error *err)
{
    _cleanup_free_ char *text = NULL;

    if (asprintf(&text, "projectcalico.org/namespace == '%s'", ns) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return tby_sel_parse(text, out, err);
}

/* A namespaceSelector as a selector over endpoints: keys prefixed pcns.; all() means
 * "any namespaced endpoint", global() "no namespaced endpoint" (Calico's reading). */
static int ns_selector(const struct tby_sel *ns_sel, struct tby_sel **out, struct tby_error *err)
{
    const char *canon = tby_sel_canonical(ns_sel);

    if (strcmp(canon, "all()") == 0)
        return tby_sel_parse("has(projectcalico.org/namespace)", out, err);
    if (strcmp(canon, "global()") == 0)
        return tby_sel_parse("!has(projectcalico.org/namespace)", out, err);
    return tby_sel_prefix_keys(ns_sel, "pcns.", out, err);
}

int centity_scope(struct centity *e, struct tby_sel *sel, struct tby_sel *ns_sel,
                  const char *ns, struct tby_error *err)
{
    struct tby_sel *scope = NULL;
    int r = 0;

    if (ns_sel)
        r = ns_selector(ns_sel, &scope, err);
    else if (ns && (sel || e->not_sel))
        r = sel_namespace(ns, &scope, err);
    tby_sel_free(ns_sel);
    if (r < 0) {
        tby_sel_free(sel);
        return r;
    }
    if (scope && sel)
        return sel_and_take(scope, sel, &e->sel, err);
    e->sel = scope ? scope : sel;
    return 0;
}

static int copy_cidrs(struct tby_cidr_list *dst, const struct tby_cidr_list *src)
{
    if (!src->n)
        return 0;
    dst->items = malloc(src->n * sizeof(*dst->items));
    if (!dst->items)
        return -ENOMEM;
    memcpy(dst->items, src->items, src->n * sizeof(*dst->items));
    dst->n = src->n;
    return 0;
}

int port_list_copy(struct tby_port_list *dst, const struct tby_port_list *src)
{
    if (!src->n)
        return 0;
    dst->items = calloc(src->n, sizeof(*dst->items));
    if (!dst->items)
        return -ENOMEM;
    for (size_t i = 0; i < src->n; i++) {
        dst->items[i] = src->items[i];
        dst->items[i].name = NULL;
        dst->n = i + 1;
        if (src->items[i].name && !(dst->items[i].name = strdup(src->items[i].name)))
            return -ENOMEM;
    }
    return 0;
}

int centity_copy_lists(struct centity *e, const struct tby_entity_rule *src)
{
    if (copy_cidrs(&e->nets, &src->nets) < 0 || copy_cidrs(&e->not_nets, &src->not_nets) < 0 ||
        port_list_copy(&e->ports, &src->ports) < 0 ||
        port_list_copy(&e->not_ports, &src->not_ports) < 0)
        return -ENOMEM;
    return 0;
}

/* ---- what rules hold on to -------------------------------------------------------------- */

static void fixset_put(struct calc_policies *pl, struct fixset *f)
{
    if (--f->refs > 0)
        return;
    tby_rs_set_del(pl->rs, f->set);
    tby_hmap_remove(&pl->fixsets, &f->node);
    free(f->key);
    free(f);
}

void holds_release(struct calc_policies *pl, struct holds *h)
{
    for (size_t i = 0; i < h->n_sels; i++) {
        sel_sets_unuse(pl, h->sels[i]);
        calc_sel_put(pl->index, h->sels[i]);
    }
    for (size_t i = 0; i < h->n_nps; i++)
        npset_put(pl, h->nps[i]);
    for (size_t i = 0; i < h->n_fix; i++)
        fixset_put(pl, h->fix[i]);
    for (size_t i = 0; i < h->n_svcs; i++)
        svc_sets_unuse(pl, h->svcs[i].svc, h->svcs[i].kind);
    free(h->svcs);
    free(h->sels);
    free(h->nps);
    free(h->fix);
    memset(h, 0, sizeof(*h));
}

/* The address set name of a selector for one family, held for the policy. */
static const char *sel_set(struct calc_policies *pl, struct holds *h, const struct tby_sel *sel,
                           int family)
{
    struct tby_sel *copy = NULL;
    struct tby_rs_set *const *sets;
    struct calc_sel *s;

    if (tby_sel_prefix_keys(sel, "", &copy, NULL) < 0)  /* a copy for the index to keep */
        return NULL;
    s = calc_sel_get(pl->index, copy);
    if (!s)
        return NULL;
    if (!(sets = sel_sets_use(pl, s)) || TBY_GROW(h->sels, h->cap_sels, h->n_sels + 1) < 0) {
        if (sets)
            sel_sets_unuse(pl, s);
        calc_sel_put(pl->index, s);
        return NULL;
    }
    h->sels[h->n_sels++] = s;
    return sets[family == 6]->name;
}

/* The set of kind k (SVC_ADDRS, SVC_PORTS) of a service for one family, held for the
 * policy. */
static const char *svc_set(struct calc_policies *pl, struct holds *h, const char *key, int k,
                           int family)
{
    struct psvc *s;

    if (TBY_GROW(h->svcs, h->cap_svcs, h->n_svcs + 1) < 0 || !(s = svc_sets_use(pl, key, k)))
        return NULL;
    h->svcs[h->n_svcs++] = (struct svc_use){ s, k };
    return svc_set_name(s, k, family);
}

static const char *fixset_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct fixset, node)->key;
}

static struct fixset *fixset_find(const struct calc_policies *pl, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&pl->fixsets, key, fixset_find_key);

    return n ? TBY_CONTAINER_OF(n, struct fixset, node) : NULL;
}

/* A shared interval set of fixed content, keyed by its text form (taking the buffer's
 * text). */
static struct fixset *fixset_get(struct calc_policies *pl, struct holds *h, struct tby_buf *text,
                                 enum tby_rs_set_type type)
{
    char *key = tby_buf_error(text) < 0 ? NULL : tby_buf_steal(text, NULL);
    char name[TBY_RS_HASHED_NAME_SIZE];
    struct fixset *f;

    if (!key)
        return NULL;
    if ((f = fixset_find(pl, key))) {
        free(key);
        f->refs++;
    } else {
        f = calloc(1, sizeof(*f));
        if (!f) {
            free(key);
            return NULL;
        }
        f->key = key;
        f->refs = 1;
        tby_rs_hashed_name(name,
                           type == TBY_RS_PORTS ? "port" : type == TBY_RS_NET6 ? "net6" : "net4",
                           key);
        f->set = tby_rs_set_add(pl->rs, name, type, NULL);
        if (!f->set || tby_hmap_insert(&pl->fixsets, &f->node, tby_hash_str(key)) < 0) {
            free(f->key);
            free(f);
            return NULL;
        }
    }
    if (TBY_GROW(h->fix, h->cap_fix, h->n_fix + 1) < 0) {
        fixset_put(pl, f);
        return NULL;
    }
    h->fix[h->n_fix++] = f;
    return f;
}

/* ---- nets and ports --------------------------------------------------------------------- */

static size_t count_family(const struct tby_cidr_list *l, int family)
{
    size_t n = 0;

    for (size_t i = 0; i < l->n; i++)
        n += l->items[i].ip.family == family;
    return n;
}

static const char *net_set(struct calc_policies *pl, struct holds *h,
                           const struct tby_cidr_list *l, int family)
{
    _cleanup_buf_ struct tby_buf key = { 0 };
    char buf[TBY_CIDR_STRLEN];
    struct fixset *fs;

    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].ip.family == family)
            tby_buf_printf(&key, "%s,", tby_cidr_format(&l->items[i], buf));
    fs = fixset_get(pl, h, &key, family == 6 ? TBY_RS_NET6 : TBY_RS_NET4);
    if (!fs)
        return NULL;
    if (fs->refs == 1 && tby_rs_fill_nets(pl->rs, fs->set, l->items, l->n) < 0)
        return NULL;
    return fs->set->name;
}

static size_t count_numeric(const struct tby_port_list *l)
{
    size_t n = 0;

    for (size_t i = 0; i < l->n; i++)
        n += l->items[i].name == NULL;
    return n;
}

static int port_match(struct calc_policies *pl, struct holds *h, struct tby_rs_rule *r,
                      const struct tby_port_list *l, bool src, bool neg)
{
    struct tby_rs_match m = { .src = src, .neg = neg };
    _cleanup_free_ uint16_t (*ranges)[2] = malloc((l->n + 1) * sizeof(*ranges));
    _cleanup_buf_ struct tby_buf key = { 0 };
    size_t n = 0;
    struct fixset *fs;

    if (!ranges)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i].name)
            continue;
        ranges[n][0] = l->items[i].first;
        ranges[n++][1] = l->items[i].last;
    }
    if (n == 1) {
        m.type = TBY_RS_M_PORT;
        m.a = ranges[0][0];
        m.b = ranges[0][1];
        m.has_b = m.b != m.a;
        return tby_rs_rule_match(r, &m);
    }
    for (size_t i = 0; i < n; i++)
        tby_buf_printf(&key, "%u-%u,", ranges[i][0], ranges[i][1]);
    if (!(fs = fixset_get(pl, h, &key, TBY_RS_PORTS)))
        return -ENOMEM;
    if (fs->refs == 1 && tby_rs_fill_ports(pl->rs, fs->set, (const uint16_t (*)[2])ranges, n) < 0)
        return -ENOMEM;
    m.type = TBY_RS_M_PORT_SET;
    m.set = fs->set->name;
    return tby_rs_rule_match(r, &m);
}

/* The named-port set for (selector or all(), protocol, name), held for the policy. */
static const char *np_set(struct calc_policies *pl, struct holds *h, const struct tby_sel *sel,
                          uint8_t proto, const char *name, int family)
{
    struct tby_sel *copy = NULL;
    struct calc_sel *s;
    struct npset *np;

    if ((sel ? tby_sel_prefix_keys(sel, "", &copy, NULL)
             : tby_sel_parse("all()", &copy, NULL)) < 0)
        return NULL;
    if (!(s = calc_sel_get(pl->index, copy)))
        return NULL;
    np = npset_get(pl, s, proto, name);
    calc_sel_put(pl->index, s); /* the named-port set holds the selector */
    if (!np || TBY_GROW(h->nps, h->cap_nps, h->n_nps + 1) < 0) {
        npset_put(pl, np);
        return NULL;
    }
    h->nps[h->n_nps++] = np;
    return np->set[family == 6]->name;
}

/* ---- one nft rule ----------------------------------------------------------------------- */

struct emit {
    struct calc_policies *pl;
    struct holds *h;
    const struct crule *r;
    int family;               /* 0: the rule matches no family-specific field */
};

static int add(struct tby_rs_rule *rule, struct tby_rs_match m)
{
    return tby_rs_rule_match(rule, &m);
}

/* ip(6) s/daddr [!=] @set, for a set name got by get (NULL: out of memory). */
static int addr_set_match(struct tby_rs_rule *rule, struct tby_rs_match m, const char *name,
                          bool neg)
{
    if (!name)
        return -ENOMEM;
    m.type = TBY_RS_M_ADDR_SET;
    m.set = (char *)name;
    m.neg = neg;
    return add(rule, m);
}

/* A source service: its endpoints' addresses; a destination service: their addresses with
 * the slices' ports (address . protocol . port), as Calico matches them. */
static int service_match(const struct emit *e, struct tby_rs_rule *rule,
                         const struct centity *ent, bool src)
{
    int k = src ? SVC_ADDRS : SVC_PORTS;
    struct tby_rs_match m = { .type = src ? TBY_RS_M_ADDR_SET : TBY_RS_M_ADDR_PROTO_PORT,
                              .src = src, .family = (uint8_t)e->family };

    if (!(m.set = (char *)svc_set(e->pl, e->h, ent->svc, k, e->family)))
        return -ENOMEM;
    return add(rule, m);
}

static int entity_matches(const struct emit *e, struct tby_rs_rule *rule,
                          const struct centity *ent, bool src)
{
    struct tby_rs_match m = { .src = src, .family = (uint8_t)e->family };

    if (ent->sel &&
        addr_set_match(rule, m, sel_set(e->pl, e->h, ent->sel, e->family), false) < 0)
        return -ENOMEM;
    if (ent->not_sel &&
        addr_set_match(rule, m, sel_set(e->pl, e->h, ent->not_sel, e->family), true) < 0)
        return -ENOMEM;
    if (count_family(&ent->nets, e->family) &&
        addr_set_match(rule, m, net_set(e->pl, e->h, &ent->nets, e->family), false) < 0)
        return -ENOMEM;
    if (count_family(&ent->not_nets, e->family) &&
        addr_set_match(rule, m, net_set(e->pl, e->h, &ent->not_nets, e->family), true) < 0)
        return -ENOMEM;
    return ent->svc ? service_match(e, rule, ent, src) : 0;
}

static int not_ports(const struct emit *e, struct tby_rs_rule *rule, const struct centity *ent,
                     bool src)
{
    if (count_numeric(&ent->not_ports) &&
        port_match(e->pl, e->h, rule, &ent->not_ports, src, true) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < ent->not_ports.n; i++) {
        const char *name = ent->not_ports.items[i].name;
        struct tby_rs_match m = { .type = TBY_RS_M_ADDR_PROTO_PORT, .src = src, .neg = true,
                                  .family = (uint8_t)e->family };

        if (!name)
            continue;
        if (!(m.set = (char *)np_set(e->pl, e->h, ent->sel, (uint8_t)e->r->protocol, name,
                                     e->family)) || add(rule, m) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* alt: -1 no port match, 0 the numeric ports, k > 0 the k-th named port. */
static int port_alt(const struct emit *e, struct tby_rs_rule *rule, const struct centity *ent,
                    bool src, int alt)
{
    struct tby_rs_match m = { .type = TBY_RS_M_ADDR_PROTO_PORT, .src = src,
                              .family = (uint8_t)e->family };
    int k = 0;

    if (alt < 0)
        return 0;
    if (alt == 0)
        return port_match(e->pl, e->h, rule, &ent->ports, src, false);
    for (size_t i = 0; i < ent->ports.n; i++) {
        if (!ent->ports.items[i].name || ++k != alt)
            continue;
        m.set = (char *)np_set(e->pl, e->h, ent->sel, (uint8_t)e->r->protocol,
                               ent->ports.items[i].name, e->family);
        return m.set ? add(rule, m) : -ENOMEM;
    }
    return 0;
}

static int head_matches(const struct emit *e, struct tby_rs_rule *rule)
{
    const struct crule *r = e->r;
    struct tby_rs_match m = { .family = (uint8_t)e->family };

    if (e->family && add(rule, (struct tby_rs_match){ .type = TBY_RS_M_NFPROTO,
                                                       .family = (uint8_t)e->family }) < 0)
        return -ENOMEM;
    if (r->protocol && add(rule, (struct tby_rs_match){ .type = TBY_RS_M_L4PROTO,
                                                         .a = (uint32_t)r->protocol }) < 0)
        return -ENOMEM;
    if (r->not_protocol &&
        add(rule, (struct tby_rs_match){ .type = TBY_RS_M_L4PROTO, .neg = true,
                                         .a = (uint32_t)r->not_protocol }) < 0)
        return -ENOMEM;
    m.type = TBY_RS_M_ICMP;
    if (r->icmp.has_type) {
        m.a = r->icmp.type;
        m.b = r->icmp.code;
        m.has_b = r->icmp.has_code;
        if (add(rule, m) < 0)
            return -ENOMEM;
    }
    if (r->not_icmp.has_type) {
        m.a = r->not_icmp.type;
        m.b = r->not_icmp.code;
        m.has_b = r->not_icmp.has_code;
        m.neg = true;
        if (add(rule, m) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int action_of(struct tby_rs_rule *rule, enum tby_action a)
{
    rule->counter = true;
    switch (a) {
    case TBY_ACTION_ALLOW:
    case TBY_ACTION_PASS:
        rule->set_mark = true;
        rule->mark_xor = a == TBY_ACTION_ALLOW ? TBY_MARK_ACCEPT : TBY_MARK_PASS;
        rule->mark_and = ~rule->mark_xor;
        return tby_rs_rule_set_verdict(rule, TBY_RS_V_RETURN, NULL);
    case TBY_ACTION_DENY:
        return tby_rs_rule_set_verdict(rule, TBY_RS_V_DROP, NULL);
    case TBY_ACTION_LOG:
        return tby_rs_rule_set_log(rule, "tabby-policy: ");
    }
    return 0;
}

static int emit_one(const struct emit *e, int src_alt, int dst_alt, const char *comment,
                    struct tby_rs_rules *rules)
{
    _cleanup_(tby_rs_rule_freep) struct tby_rs_rule *rule = tby_rs_rule_new();

    if (!rule || head_matches(e, rule) < 0 || entity_matches(e, rule, &e->r->src, true) < 0 ||
        entity_matches(e, rule, &e->r->dst, false) < 0 ||
        port_alt(e, rule, &e->r->src, true, src_alt) < 0 ||
        port_alt(e, rule, &e->r->dst, false, dst_alt) < 0 ||
        not_ports(e, rule, &e->r->src, true) < 0 || not_ports(e, rule, &e->r->dst, false) < 0 ||
        action_of(rule, e->r->action) < 0 || tby_rs_rule_set_comment(rule, comment) < 0)
        return -ENOMEM;
    if (e->r->action == TBY_ACTION_DENY) /* logged (rate-limited), then dropped */
        return tby_rs_rules_add_deny(rules, TBY_STEAL(rule));
    return tby_rs_rules_add(rules, TBY_STEAL(rule));
}

/* ---- families and alternatives ---------------------------------------------------------- */

static bool entity_needs_family(const struct centity *ent)
{
    return ent->sel || ent->not_sel || ent->nets.n || ent->not_nets.n || ent->svc ||
           ent->ports.n > count_numeric(&ent->ports) ||
           ent->not_ports.n > count_numeric(&ent->not_ports);
}

bool crule_nets_fit(const struct crule *r, int family)
{
    const struct tby_cidr_list *lists[] = { &r->src.nets, &r->src.not_nets, &r->dst.nets,
                                            &r->dst.not_nets };

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (lists[i]->n && !count_family(lists[i], family))
            return false;
    return true;
}

/* Whether the rule can match packets of `family` at all. */
static bool family_fits(const struct crule *r, int family)
{
    if (r->ip_version && r->ip_version != family)
        return false;
    if (r->protocol == TBY_PROTO_ICMP && family != 4)
        return false;
    if (r->protocol == TBY_PROTO_ICMPV6 && family != 6)
        return false;
    return crule_nets_fit(r, family);
}

/* Numeric ports (alternative 0) when any, then each named port (1..k); -1 when the entity
 * has no ports at all. */
static int alt_count(const struct centity *ent, int *first)
{
    size_t named = ent->ports.n - count_numeric(&ent->ports);

    *first = count_numeric(&ent->ports) ? 0 : 1;
    if (ent->ports.n == 0) {
        *first = -1;
        return -1;
    }
    return (int)named;
}

int calc_compile_rule(struct calc_policies *pl, const struct crule *r, const char *comment,
                      struct holds *holds, struct tby_rs_rules *rules)
{
    struct emit e = { .pl = pl, .h = holds, .r = r };
    bool need_family = r->ip_version || r->protocol == TBY_PROTO_ICMP ||
                       r->protocol == TBY_PROTO_ICMPV6 || r->icmp.has_type ||
                       r->not_icmp.has_type || entity_needs_family(&r->src) ||
                       entity_needs_family(&r->dst);
    int s0, s1, d0, d1;

    if (r->skip)
        return 0;
    s1 = alt_count(&r->src, &s0);
    d1 = alt_count(&r->dst, &d0);
    for (int fam = need_family ? 4 : 0; fam <= (need_family ? 6 : 0); fam += 2) {
        if (fam && !family_fits(r, fam))
            continue;
        e.family = fam;
        for (int sa = s0; sa <= s1; sa++)
            for (int da = d0; da <= d1; da++)
                if (emit_one(&e, sa, da, comment, rules) < 0)
                    return -ENOMEM;
    }
    return 0;
}
