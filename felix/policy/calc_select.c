/* calc_select.c — the selector half of the label index: one entry per distinct selector
 * (by canonical text) with the endpoints it matches, and the index terms that find it when
 * an endpoint comes or changes (see struct keyent). Each change of membership goes to the
 * member hook. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "calc_index_internal.h"

/* ---- labels ----------------------------------------------------------------------------- */

static int cmp_label_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct tby_label *)elem)->key);
}

static const char *ep_label(const void *ctx, const char *key)
{
    const struct ep *ep = ctx;
    const struct tby_label *l = bsearch(key, ep->labels, ep->n_labels, sizeof(*l), cmp_label_key);

    return l ? l->value : NULL;
}

static bool matches(const struct selent *s, const struct ep *ep)
{
    struct tby_labels view = { .get = ep_label, .ctx = ep };

    return tby_sel_match(s->sel, &view);
}

/* ---- members ---------------------------------------------------------------------------- */

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

/* ep joins s; the member hook hears of it unless s is being filled (tell). */
static int member_join(struct calc_index *x, struct selent *s, struct ep *ep, bool tell)
{
    struct member *m = calloc(1, sizeof(*m));

    if (!m)
        return -ENOMEM;
    m->ep = ep;
    if (tby_hmap_insert(&s->members, &m->node, ptr_hash(ep)) < 0) {
        free(m);
        return -ENOMEM;
    }
    return tell ? x->hooks.member(x->hooks.ctx, &s->v, &ep->v, true) : 0;
}

static void member_leave(struct calc_index *x, struct selent *s, struct member *m)
{
    x->hooks.member(x->hooks.ctx, &s->v, &m->ep->v, false); /* leaving never fails */
    tby_hmap_remove(&s->members, &m->node);
    free(m);
}

bool calc_sel_has_member(const struct calc_sel *cs, const struct calc_ep *ep)
{
    const struct selent *s = TBY_CONTAINER_OF(cs, struct selent, v);

    return member_find(s, TBY_CONTAINER_OF(ep, struct ep, v)) != NULL;
}

int calc_sel_foreach_member(const struct calc_sel *cs,
                            int (*fn)(void *ctx, const struct calc_ep *ep), void *ctx)
{
    const struct selent *s = TBY_CONTAINER_OF(cs, struct selent, v);

    for (struct tby_hnode *n = tby_hmap_first(&s->members); n; n = tby_hmap_next(&s->members, n)) {
        int r = fn(ctx, &TBY_CONTAINER_OF(n, struct member, node)->ep->v);

        if (r)
            return r;
    }
    return 0;
}

/* ---- the key index ---------------------------------------------------------------------- */

static const char *keyent_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct keyent, node)->key;
}

static struct keyent *keyent_find(const struct calc_index *x, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&x->keys, key, keyent_find_key);

    return n ? TBY_CONTAINER_OF(n, struct keyent, node) : NULL;
}

static int keyent_add(struct calc_index *x, const char *key, struct selent *s)
{
    struct keyent *k = keyent_find(x, key);

    if (!k) {
        k = calloc(1, sizeof(*k) + strlen(key) + 1);
        if (!k || tby_hmap_insert(&x->keys, &k->node, tby_hash_str(key)) < 0) {
            free(k);
            return -ENOMEM;
        }
        strcpy(k->key, key);
    }
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 1;
        struct selent **v = reallocarray(k->sels, cap, sizeof(*v));

        if (!v)
            return -ENOMEM;
        k->sels = v;
        k->cap = cap;
    }
    k->sels[k->n++] = s;
    return 0;
}

static void keyent_remove(struct calc_index *x, const char *key, struct selent *s)
{
    struct keyent *k = keyent_find(x, key);

    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        if (k->sels[i] == s) {
            k->sels[i] = k->sels[--k->n];
            break;
        }
    }
    if (k->n == 0) {
        tby_hmap_remove(&x->keys, &k->node);
        free(k->sels);
        free(k);
    }
}

/* The term of a label pair, "key=value": in buf when it fits, else allocated into *heap
 * (NULL when out of memory). Made for every label of every endpoint that comes or
 * changes: copied, not formatted (snprintf took a fifth of an endpoint's calculation). */
static const char *pair_term(char *buf, size_t size, const char *key, const char *value,
                             char **heap)
{
    size_t kl = strlen(key), vl = strlen(value);
    char *t = buf;

    *heap = NULL;
    if (kl + vl + 2 > size && !(t = *heap = malloc(kl + vl + 2)))
        return NULL;
    memcpy(t, key, kl);
    t[kl] = '=';
    memcpy(t + kl + 1, value, vl + 1);
    return t;
}

static int unindexed_add(struct calc_index *x, struct selent *s)
{
    if (TBY_GROW(x->unindexed, x->cap_unindexed, x->n_unindexed + 1) < 0)
        return -ENOMEM;
    s->unindexed_at = x->n_unindexed;
    x->unindexed[x->n_unindexed++] = s;
    return 0;
}

static void unindexed_remove(struct calc_index *x, struct selent *s)
{
    size_t at = s->unindexed_at;

    if (at >= x->n_unindexed || x->unindexed[at] != s)
        return;
    x->unindexed[at] = x->unindexed[--x->n_unindexed];
    x->unindexed[at]->unindexed_at = at;
}

/* Files s under its terms (add) or takes it out of them. Taking out never fails. */
static int selent_index(struct calc_index *x, struct selent *s, bool add)
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
            r = keyent_add(x, term, s);
        else
            keyent_remove(x, term, s);
        free(heap);
    }
    for (size_t i = 0; r == 0 && !s->indexed && i < nk; i++) {
        if (add)
            r = keyent_add(x, keys[i], s);
        else
            keyent_remove(x, keys[i], s);
    }
    if (r == 0 && !s->indexed)
        r = add ? unindexed_add(x, s) : (unindexed_remove(x, s), 0);
    return r;
}

/* ---- visiting the selectors an event may concern ---------------------------------------- */

typedef int (*visit_fn)(struct calc_index *x, struct selent *s, struct ep *ep);

/* Each selector once per event (x->visit). */
static int visit_list(struct calc_index *x, struct selent *const *v, size_t n, struct ep *ep,
                      visit_fn fn)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i]->seen == x->visit)
            continue;
        v[i]->seen = x->visit;
        if (fn(x, v[i], ep) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int visit_term(struct calc_index *x, const char *term, struct ep *ep, visit_fn fn)
{
    struct keyent *k = keyent_find(x, term);

    return k ? visit_list(x, k->sels, k->n, ep, fn) : 0;
}

/* The indexed selectors that may match a label set: those filed under one of its pairs. */
static int visit_pairs(struct calc_index *x, const struct tby_label *labels, size_t n,
                       struct ep *ep, visit_fn fn)
{
    for (size_t i = 0; i < n; i++) {
        char buf[256], *heap;
        const char *term = pair_term(buf, sizeof(buf), labels[i].key, labels[i].value, &heap);
        int r = term ? visit_term(x, term, ep, fn) : -ENOMEM;

        free(heap);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Every selector that may match the endpoint's labels. */
static int visit_candidates(struct calc_index *x, struct ep *ep, visit_fn fn)
{
    x->visit++;
    if (visit_list(x, x->unindexed, x->n_unindexed, ep, fn) < 0)
        return -ENOMEM;
    return visit_pairs(x, ep->labels, ep->n_labels, ep, fn);
}

/* ---- selector entries ------------------------------------------------------------------- */

static const char *selent_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct selent, node)->v.text;
}

static struct selent *selent_find(const struct calc_index *x, const char *canonical)
{
    struct tby_hnode *n = tby_hmap_find_str(&x->sels, canonical, selent_key);

    return n ? TBY_CONTAINER_OF(n, struct selent, node) : NULL;
}

static void selent_free(struct calc_index *x, struct selent *s)
{
    struct tby_hnode *n, *next;

    selent_index(x, s, false);
    for (n = tby_hmap_first(&s->members); n; n = next) {
        next = tby_hmap_next(&s->members, n);
        free(TBY_CONTAINER_OF(n, struct member, node));
    }
    tby_hmap_destroy(&s->members);
    tby_sel_free(s->sel);
    free(s);
}

/* Evaluates a new entry against every endpoint (nothing uses it yet: the hook is not
 * told). */
static int selent_fill(struct calc_index *x, struct selent *s)
{
    for (struct tby_hnode *n = tby_hmap_first(&x->eps); n; n = tby_hmap_next(&x->eps, n)) {
        struct ep *ep = TBY_CONTAINER_OF(n, struct ep, node);

        if (matches(s, ep) && member_join(x, s, ep, false) < 0)
            return -ENOMEM;
    }
    return 0;
}

struct calc_sel *calc_sel_get(struct calc_index *x, struct tby_sel *sel)
{
    struct selent *s = selent_find(x, tby_sel_canonical(sel));

    if (s) {
        tby_sel_free(sel);
        s->refs++;
        return &s->v;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        tby_sel_free(sel);
        return NULL;
    }
    s->sel = sel;
    s->v.text = tby_sel_canonical(sel);
    s->v.hash = tby_hash_str(s->v.text);
    s->refs = 1;
    s->unindexed_at = SIZE_MAX;
    tby_hmap_init(&s->members);
    if (tby_hmap_insert(&x->sels, &s->node, s->v.hash) < 0) {
        selent_free(x, s);
        return NULL;
    }
    if (selent_index(x, s, true) < 0 || selent_fill(x, s) < 0) {
        calc_sel_put(x, &s->v);
        return NULL;
    }
    return &s->v;
}

void calc_sel_hold(struct calc_sel *cs)
{
    TBY_CONTAINER_OF(cs, struct selent, v)->refs++;
}

void calc_sel_put(struct calc_index *x, struct calc_sel *cs)
{
    struct selent *s = cs ? TBY_CONTAINER_OF(cs, struct selent, v) : NULL;

    if (!s || --s->refs > 0)
        return;
    tby_hmap_remove(&x->sels, &s->node);
    selent_free(x, s);
}

void sels_free_all(struct calc_index *x)
{
    struct tby_hnode *n, *next;

    for (n = tby_hmap_first(&x->sels); n; n = next) {
        next = tby_hmap_next(&x->sels, n);
        tby_hmap_remove(&x->sels, n);
        selent_free(x, TBY_CONTAINER_OF(n, struct selent, node));
    }
    free(x->unindexed);
    x->unindexed = NULL;
}

/* ---- endpoints coming, going and changing labels ---------------------------------------- */

static int join_if_match(struct calc_index *x, struct selent *s, struct ep *ep)
{
    return matches(s, ep) ? member_join(x, s, ep, true) : 0;
}

static int leave_if_member(struct calc_index *x, struct selent *s, struct ep *ep)
{
    struct member *m = member_find(s, ep);

    if (m)
        member_leave(x, s, m);
    return 0;
}

/* Membership follows the labels again. */
static int revisit(struct calc_index *x, struct selent *s, struct ep *ep)
{
    struct member *m = member_find(s, ep);
    bool now = matches(s, ep);

    if (now && !m)
        return member_join(x, s, ep, true);
    if (!now && m)
        member_leave(x, s, m);
    return 0;
}

int sels_join_all(struct calc_index *x, struct ep *ep)
{
    return visit_candidates(x, ep, join_if_match);
}

/* Every selector it is a member of is a candidate for its labels. */
void sels_leave_all(struct calc_index *x, struct ep *ep)
{
    visit_candidates(x, ep, leave_if_member); /* leaving never fails */
}

int sels_relabel(struct calc_index *x, struct ep *ep, const struct tby_label *old, size_t n_old)
{
    size_t i = 0, j = 0;

    x->visit++;
    /* Unindexed selectors: those reading a key whose value differs. Both label lists are
     * sorted: walk them together to find those keys. */
    while (i < n_old || j < ep->n_labels) {
        int cmp = i == n_old ? 1 : j == ep->n_labels ? -1 : strcmp(old[i].key, ep->labels[j].key);
        const char *key = cmp <= 0 ? old[i].key : ep->labels[j].key;
        bool differ = cmp != 0 || strcmp(old[i].value, ep->labels[j].value) != 0;

        if (differ && visit_term(x, key, ep, revisit) < 0)
            return -ENOMEM;
        i += cmp <= 0;
        j += cmp >= 0;
    }
    /* Indexed ones: those the endpoint may have matched, and those it may match now. */
    if (visit_pairs(x, old, n_old, ep, revisit) < 0)
        return -ENOMEM;
    return visit_pairs(x, ep->labels, ep->n_labels, ep, revisit);
}
