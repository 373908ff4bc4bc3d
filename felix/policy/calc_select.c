/* calc_select.c — the selector index: one entry per distinct selector (by canonical text)
 * with the endpoints it matches, the index terms that find it when an endpoint comes or
 * changes (see struct keyent), and the kernel sets fed from its members (addresses, named
 * ports). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "calc_internal.h"

/* ---- labels ----------------------------------------------------------------------------- */

static int cmp_label_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct tby_label *)elem)->key);
}

static const char *ep_get(const void *ctx, const char *key)
{
    const struct ep *ep = ctx;
    const struct tby_label *l = bsearch(key, ep->labels, ep->n_labels, sizeof(*l), cmp_label_key);

    return l ? l->value : NULL;
}

struct tby_labels ep_label_view(const struct ep *ep)
{
    return (struct tby_labels){ .get = ep_get, .ctx = ep };
}

const char *hashed_name(char *buf, const char *prefix, const char *text)
{
    snprintf(buf, 64, "%s-%016llx", prefix, (unsigned long long)tby_hash_str(text));
    return buf;
}

/* ---- members and what they feed --------------------------------------------------------- */

static uint64_t ptr_hash(const void *p)
{
    return tby_hash_bytes(&p, sizeof(p), 0);
}

static struct member *member_find(const struct selent *s, const struct ep *ep)
{
    for (struct tby_hnode *n = tby_hmap_first_with_hash(&s->members, ptr_hash(ep)); n;
         n = tby_hmap_next_with_hash(n)) {
        struct member *m = TBY_CONTAINER_OF(n, struct member, node);

        if (m->ep == ep)
            return m;
    }
    return NULL;
}

bool selent_has(const struct selent *s, const struct ep *ep)
{
    return member_find(s, ep) != NULL;
}

static int np_feed(struct tby_calc *c, struct npset *np, const struct ep *ep, bool add)
{
    for (size_t i = 0; i < ep->n_ports; i++) {
        const struct ep_port *p = &ep->ports[i];

        if (p->proto != np->proto || strcmp(p->name, np->port_name) != 0)
            continue;
        for (size_t k = 0; k < ep->n_addrs; k++) {
            struct tby_rs_set *set = np->set[ep->addrs[k].family == 6];

            if (!add)
                tby_rs_remove_addr_port(c->rs, set, &ep->addrs[k], p->proto, p->port);
            else if (tby_rs_add_addr_port(c->rs, set, &ep->addrs[k], p->proto, p->port) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static int addr_feed(struct tby_calc *c, struct tby_rs_set *const set[2], const struct ep *ep,
                     bool add)
{
    for (size_t k = 0; k < ep->n_addrs; k++) {
        struct tby_rs_set *s = set[ep->addrs[k].family == 6];

        if (!add)
            tby_rs_remove_addr(c->rs, s, &ep->addrs[k]);
        else if (tby_rs_add_addr(c->rs, s, &ep->addrs[k]) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* A local member's interface joins or leaves the selector's workload set, and the sets of
 * the dispatch pages of its policies. */
static int wl_feed(struct tby_calc *c, struct selent *s, struct ep *ep, bool add)
{
    if (!s->wl)
        return 0;
    calc_page_feed(c, s, ep, add);
    if (add)
        return tby_rs_add_ifname(c->rs, s->wl, ep->iface) < 0 ? -ENOMEM : 0;
    tby_rs_remove_ifname(c->rs, s->wl, ep->iface);
    return 0;
}

int selent_update_wl(struct tby_calc *c, struct selent *s)
{
    char name[64], comment[TBY_RS_COMMENT_MAX + 1];

    if ((s->n_pols > 0) == (s->wl != NULL))
        return 0;
    if (!s->n_pols) {
        tby_rs_set_del(c->rs, s->wl);
        s->wl = NULL;
        return 0;
    }
    hashed_name(name, "wl", tby_sel_canonical(s->sel));
    snprintf(comment, sizeof(comment), "local workloads: %s", tby_sel_canonical(s->sel));
    if (!(s->wl = tby_rs_set_add(c->rs, name, TBY_RS_IFNAMES, comment)))
        return -ENOMEM;
    return selent_feed_local(c, s, s->wl);
}

int selent_feed_local(struct tby_calc *c, const struct selent *s, struct tby_rs_set *set)
{
    for (struct tby_hnode *n = tby_hmap_first(&s->members); n; n = tby_hmap_next(&s->members, n)) {
        const struct ep *ep = TBY_CONTAINER_OF(n, struct member, node)->ep;

        if (ep->local && ep->iface && tby_rs_add_ifname(c->rs, set, ep->iface) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int member_join(struct tby_calc *c, struct selent *s, struct ep *ep)
{
    struct member *m = calloc(1, sizeof(*m));
    int r = 0;

    if (!m)
        return -ENOMEM;
    m->ep = ep;
    if (tby_hmap_insert(&s->members, &m->node, ptr_hash(ep)) < 0) {
        free(m);
        return -ENOMEM;
    }
    if (s->set_refs)
        r = addr_feed(c, s->set, ep, true);
    for (size_t i = 0; r == 0 && i < s->n_nps; i++)
        r = np_feed(c, s->nps[i], ep, true);
    if (r == 0 && ep->local && ep->iface)
        r = wl_feed(c, s, ep, true);
    for (size_t i = 0; ep->local && i < s->n_pols; i++)
        ep_policy_add(c, ep, s->pols[i]);
    return r;
}

static void member_leave(struct tby_calc *c, struct selent *s, struct member *m)
{
    struct ep *ep = m->ep;

    if (s->set_refs)
        addr_feed(c, s->set, ep, false);
    for (size_t i = 0; i < s->n_nps; i++)
        np_feed(c, s->nps[i], ep, false);
    if (ep->local && ep->iface)
        wl_feed(c, s, ep, false);
    for (size_t i = 0; ep->local && i < s->n_pols; i++)
        ep_policy_remove(c, ep, s->pols[i]);
    tby_hmap_remove(&s->members, &m->node);
    free(m);
}

/* ---- the key index ---------------------------------------------------------------------- */

static const char *keyent_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct keyent, node)->key;
}

static struct keyent *keyent_find(const struct tby_calc *c, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->keys, key, keyent_find_key);

    return n ? TBY_CONTAINER_OF(n, struct keyent, node) : NULL;
}

static int keyent_add(struct tby_calc *c, const char *key, struct selent *s)
{
    struct keyent *k = keyent_find(c, key);
    struct selent **v;

    if (!k) {
        k = calloc(1, sizeof(*k));
        if (!k || !(k->key = strdup(key)) ||
            tby_hmap_insert(&c->keys, &k->node, tby_hash_str(key)) < 0) {
            if (k)
                free(k->key);
            free(k);
            return -ENOMEM;
        }
    }
    v = realloc(k->sels, (k->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    k->sels = v;
    k->sels[k->n++] = s;
    return 0;
}

static void keyent_remove(struct tby_calc *c, const char *key, struct selent *s)
{
    struct keyent *k = keyent_find(c, key);

    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        if (k->sels[i] == s) {
            k->sels[i] = k->sels[--k->n];
            break;
        }
    }
    if (k->n == 0) {
        tby_hmap_remove(&c->keys, &k->node);
        free(k->sels);
        free(k->key);
        free(k);
    }
}

/* The term of a label pair, "key=value": in buf when it fits, else allocated into *heap
 * (NULL when out of memory). */
static const char *pair_term(char *buf, size_t size, const char *key, const char *value,
                             char **heap)
{
    *heap = NULL;
    if ((size_t)snprintf(buf, size, "%s=%s", key, value) < size)
        return buf;
    return asprintf(heap, "%s=%s", key, value) < 0 ? NULL : *heap;
}

static int unindexed_add(struct tby_calc *c, struct selent *s)
{
    if (c->n_unindexed == c->cap_unindexed) {
        size_t cap = c->cap_unindexed ? 2 * c->cap_unindexed : 32;
        struct selent **v = realloc(c->unindexed, cap * sizeof(*v));

        if (!v)
            return -ENOMEM;
        c->unindexed = v;
        c->cap_unindexed = cap;
    }
    s->unindexed_at = c->n_unindexed;
    c->unindexed[c->n_unindexed++] = s;
    return 0;
}

static void unindexed_remove(struct tby_calc *c, struct selent *s)
{
    size_t at = s->unindexed_at;

    if (at >= c->n_unindexed || c->unindexed[at] != s)
        return;
    c->unindexed[at] = c->unindexed[--c->n_unindexed];
    c->unindexed[at]->unindexed_at = at;
}

/* Files s under its terms (add) or takes it out of them. Taking out never fails. */
static int selent_index(struct tby_calc *c, struct selent *s, bool add)
{
    const struct tby_label *req;
    const char *const *keys;
    size_t nr = tby_sel_required(s->sel, &req), nk = tby_sel_keys(s->sel, &keys);
    int r = 0;

    s->indexed = nr > 0;
    for (size_t i = 0; r == 0 && i < nr; i++) {
        char buf[256], *heap;
        const char *term = pair_term(buf, sizeof(buf), req[i].key, req[i].value, &heap);

        if (!term)
            r = -ENOMEM;
        else if (add)
            r = keyent_add(c, term, s);
        else
            keyent_remove(c, term, s);
        free(heap);
    }
    for (size_t i = 0; r == 0 && !s->indexed && i < nk; i++) {
        if (add)
            r = keyent_add(c, keys[i], s);
        else
            keyent_remove(c, keys[i], s);
    }
    if (r == 0 && !s->indexed)
        r = add ? unindexed_add(c, s) : (unindexed_remove(c, s), 0);
    return r;
}

/* ---- visiting the selectors an event may concern ---------------------------------------- */

typedef int (*visit_fn)(struct tby_calc *c, struct selent *s, struct ep *ep);

/* Each selector once per event (c->visit). */
static int visit_list(struct tby_calc *c, struct selent *const *v, size_t n, struct ep *ep,
                      visit_fn fn)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i]->seen == c->visit)
            continue;
        v[i]->seen = c->visit;
        if (fn(c, v[i], ep) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int visit_term(struct tby_calc *c, const char *term, struct ep *ep, visit_fn fn)
{
    struct keyent *k = keyent_find(c, term);

    return k ? visit_list(c, k->sels, k->n, ep, fn) : 0;
}

/* The indexed selectors that may match a label set: those filed under one of its pairs. */
static int visit_pairs(struct tby_calc *c, const struct tby_label *labels, size_t n,
                       struct ep *ep, visit_fn fn)
{
    for (size_t i = 0; i < n; i++) {
        char buf[256], *heap;
        const char *term = pair_term(buf, sizeof(buf), labels[i].key, labels[i].value, &heap);
        int r = term ? visit_term(c, term, ep, fn) : -ENOMEM;

        free(heap);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Every selector that may match the endpoint's labels. */
static int visit_candidates(struct tby_calc *c, struct ep *ep, visit_fn fn)
{
    c->visit++;
    if (visit_list(c, c->unindexed, c->n_unindexed, ep, fn) < 0)
        return -ENOMEM;
    return visit_pairs(c, ep->labels, ep->n_labels, ep, fn);
}

/* ---- selector entries ------------------------------------------------------------------- */

static const char *selent_key(const struct tby_hnode *n)
{
    return tby_sel_canonical(TBY_CONTAINER_OF(n, struct selent, node)->sel);
}

static struct selent *selent_find(const struct tby_calc *c, const char *canonical)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->sels, canonical, selent_key);

    return n ? TBY_CONTAINER_OF(n, struct selent, node) : NULL;
}

static void selent_free(struct tby_calc *c, struct selent *s)
{
    struct tby_hnode *n, *next;

    selent_index(c, s, false);
    for (n = tby_hmap_first(&s->members); n; n = next) {
        next = tby_hmap_next(&s->members, n);
        free(TBY_CONTAINER_OF(n, struct member, node));
    }
    tby_hmap_destroy(&s->members);
    tby_sel_free(s->sel);
    free(s->pols);
    free(s->nps);
    free(s);
}

/* Evaluates a new entry against every endpoint (nothing uses it yet, so joining feeds
 * nothing). */
static int selent_fill(struct tby_calc *c, struct selent *s)
{
    for (struct tby_hnode *n = tby_hmap_first(&c->eps); n; n = tby_hmap_next(&c->eps, n)) {
        struct ep *ep = TBY_CONTAINER_OF(n, struct ep, node);
        struct tby_labels view = ep_label_view(ep);

        if (tby_sel_match(s->sel, &view) && member_join(c, s, ep) < 0)
            return -ENOMEM;
    }
    return 0;
}

struct selent *selent_get(struct tby_calc *c, struct tby_sel *sel)
{
    struct selent *s = selent_find(c, tby_sel_canonical(sel));

    if (s) {
        tby_sel_free(sel);
        s->refs++;
        return s;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        tby_sel_free(sel);
        return NULL;
    }
    s->sel = sel;
    s->refs = 1;
    s->unindexed_at = SIZE_MAX;
    tby_hmap_init(&s->members);
    if (tby_hmap_insert(&c->sels, &s->node, tby_hash_str(tby_sel_canonical(sel))) < 0) {
        selent_free(c, s);
        return NULL;
    }
    if (selent_index(c, s, true) < 0 || selent_fill(c, s) < 0) {
        selent_put(c, s);
        return NULL;
    }
    return s;
}

void selent_put(struct tby_calc *c, struct selent *s)
{
    if (!s || --s->refs > 0)
        return;
    tby_hmap_remove(&c->sels, &s->node);
    selent_free(c, s);
}

static struct tby_rs_set *addr_set(struct tby_calc *c, const char *prefix, const char *key,
                                   int v6, const char *comment)
{
    char name[64], full[80];

    hashed_name(name, prefix, key);
    snprintf(full, sizeof(full), "%s-%d", name, v6 ? 6 : 4);
    return tby_rs_set_add(c->rs, full, v6 ? TBY_RS_ADDR6 : TBY_RS_ADDR4, comment);
}

int selent_use_sets(struct tby_calc *c, struct selent *s)
{
    const char *canon = tby_sel_canonical(s->sel);

    if (s->set_refs++ > 0)
        return 0;
    for (int v6 = 0; v6 < 2; v6++) {
        s->set[v6] = addr_set(c, "sel", canon, v6, canon);
        if (!s->set[v6])
            return -ENOMEM;
    }
    for (struct tby_hnode *n = tby_hmap_first(&s->members); n; n = tby_hmap_next(&s->members, n))
        if (addr_feed(c, s->set, TBY_CONTAINER_OF(n, struct member, node)->ep, true) < 0)
            return -ENOMEM;
    return 0;
}

void selent_unuse_sets(struct tby_calc *c, struct selent *s)
{
    if (s->set_refs == 0 || --s->set_refs > 0)
        return;
    for (int v6 = 0; v6 < 2; v6++) {
        if (s->set[v6])
            tby_rs_set_del(c->rs, s->set[v6]);
        s->set[v6] = NULL;
    }
}

/* ---- named-port sets -------------------------------------------------------------------- */

static const char *npset_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct npset, node)->key;
}

static struct npset *npset_find(const struct tby_calc *c, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->npsets, key, npset_find_key);

    return n ? TBY_CONTAINER_OF(n, struct npset, node) : NULL;
}

static int npset_attach(struct tby_calc *c, struct npset *np)
{
    struct npset **v = realloc(np->sel->nps, (np->sel->n_nps + 1) * sizeof(*v));
    const char *canon = tby_sel_canonical(np->sel->sel);

    if (!v)
        return -ENOMEM;
    np->sel->nps = v;
    v[np->sel->n_nps++] = np;
    for (int v6 = 0; v6 < 2; v6++) {
        char name[64], full[80];

        hashed_name(name, "np", np->key);
        snprintf(full, sizeof(full), "%s-%d", name, v6 ? 6 : 4);
        np->set[v6] = tby_rs_set_add(c->rs, full,
                                     v6 ? TBY_RS_ADDR6_PROTO_PORT : TBY_RS_ADDR4_PROTO_PORT,
                                     np->key + strlen(canon) + 1);
        if (!np->set[v6])
            return -ENOMEM;
    }
    for (struct tby_hnode *n = tby_hmap_first(&np->sel->members); n;
         n = tby_hmap_next(&np->sel->members, n))
        if (np_feed(c, np, TBY_CONTAINER_OF(n, struct member, node)->ep, true) < 0)
            return -ENOMEM;
    return 0;
}

struct npset *npset_get(struct tby_calc *c, struct selent *s, uint8_t proto, const char *name)
{
    _cleanup_free_ char *key = NULL;
    struct npset *np;

    if (asprintf(&key, "%s\x1f%u:%s on %s", tby_sel_canonical(s->sel), proto, name,
                 tby_sel_canonical(s->sel)) < 0)
        return NULL;
    if ((np = npset_find(c, key))) {
        np->refs++;
        return np;
    }
    if (!(np = calloc(1, sizeof(*np))))
        return NULL;
    np->refs = 1;
    np->sel = s;
    s->refs++;
    np->proto = proto;
    np->key = TBY_STEAL(key);
    np->port_name = strdup(name);
    if (!np->port_name || tby_hmap_insert(&c->npsets, &np->node, tby_hash_str(np->key)) < 0) {
        selent_put(c, s);
        free(np->port_name);
        free(np->key);
        free(np);
        return NULL;
    }
    if (npset_attach(c, np) < 0) {
        npset_put(c, np);
        return NULL;
    }
    return np;
}

void npset_put(struct tby_calc *c, struct npset *np)
{
    struct selent *s;

    if (!np || --np->refs > 0)
        return;
    s = np->sel;
    for (size_t i = 0; i < s->n_nps; i++) {
        if (s->nps[i] == np) {
            s->nps[i] = s->nps[--s->n_nps];
            break;
        }
    }
    for (int v6 = 0; v6 < 2; v6++)
        if (np->set[v6])
            tby_rs_set_del(c->rs, np->set[v6]);
    tby_hmap_remove(&c->npsets, &np->node);
    selent_put(c, s);
    free(np->port_name);
    free(np->key);
    free(np);
}

/* ---- endpoints coming, going and changing labels ---------------------------------------- */

static int join_if_match(struct tby_calc *c, struct selent *s, struct ep *ep)
{
    struct tby_labels view = ep_label_view(ep);

    return tby_sel_match(s->sel, &view) ? member_join(c, s, ep) : 0;
}

static int leave_if_member(struct tby_calc *c, struct selent *s, struct ep *ep)
{
    struct member *m = member_find(s, ep);

    if (m)
        member_leave(c, s, m);
    return 0;
}

/* Membership follows the labels again. */
static int revisit(struct tby_calc *c, struct selent *s, struct ep *ep)
{
    struct tby_labels view = ep_label_view(ep);
    struct member *m = member_find(s, ep);
    bool now = tby_sel_match(s->sel, &view);

    if (now && !m)
        return member_join(c, s, ep);
    if (!now && m)
        member_leave(c, s, m);
    return 0;
}

int sels_join_all(struct tby_calc *c, struct ep *ep)
{
    return visit_candidates(c, ep, join_if_match);
}

/* Every selector it is a member of is a candidate for its labels. */
void sels_leave_all(struct tby_calc *c, struct ep *ep)
{
    visit_candidates(c, ep, leave_if_member); /* leaving never fails */
}

int sels_relabel(struct tby_calc *c, struct ep *ep, const struct tby_label *old, size_t n_old)
{
    size_t i = 0, j = 0;

    c->visit++;
    /* Unindexed selectors: those reading a key whose value differs. Both label lists are
     * sorted: walk them together to find those keys. */
    while (i < n_old || j < ep->n_labels) {
        int cmp = i == n_old ? 1 : j == ep->n_labels ? -1 : strcmp(old[i].key, ep->labels[j].key);
        const char *key = cmp <= 0 ? old[i].key : ep->labels[j].key;
        bool differ = cmp != 0 || strcmp(old[i].value, ep->labels[j].value) != 0;

        if (differ && visit_term(c, key, ep, revisit) < 0)
            return -ENOMEM;
        i += cmp <= 0;
        j += cmp >= 0;
    }
    /* Indexed ones: those the endpoint may have matched, and those it may match now. */
    if (visit_pairs(c, old, n_old, ep, revisit) < 0)
        return -ENOMEM;
    return visit_pairs(c, ep->labels, ep->n_labels, ep, revisit);
}
