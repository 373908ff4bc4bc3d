/* calc.c — the policy calculation's entry points (calc.h): resources in, endpoints and
 * their effective labels, namespaces and profiles; policies are in calc_policy.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "calc_internal.h"

/* ---- small indexes by name -------------------------------------------------------------- */

static const char *ns_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct nsinfo, node)->name;
}

static struct nsinfo *ns_find(const struct tby_calc *c, const char *name)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->nss, name, ns_find_key);

    return n ? TBY_CONTAINER_OF(n, struct nsinfo, node) : NULL;
}

static struct nsinfo *ns_get(struct tby_calc *c, const char *name)
{
    struct nsinfo *ns = ns_find(c, name);

    if (ns)
        return ns;
    ns = calloc(1, sizeof(*ns));
    if (!ns || !(ns->name = strdup(name)) ||
        tby_hmap_insert(&c->nss, &ns->node, tby_hash_str(name)) < 0) {
        if (ns)
            free(ns->name);
        free(ns);
        return NULL;
    }
    return ns;
}

static void ns_put_if_unused(struct tby_calc *c, struct nsinfo *ns)
{
    if (ns->eps || ns->labels)
        return;
    tby_hmap_remove(&c->nss, &ns->node);
    free(ns->name);
    free(ns);
}

static const char *prof_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct profinfo, node)->name;
}

static struct profinfo *prof_find(const struct tby_calc *c, const char *name)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->profs, name, prof_find_key);

    return n ? TBY_CONTAINER_OF(n, struct profinfo, node) : NULL;
}

static const char *ep_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct ep, node)->key;
}

static struct ep *ep_find(const struct tby_calc *c, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&c->eps, key, ep_find_key);

    return n ? TBY_CONTAINER_OF(n, struct ep, node) : NULL;
}

/* ---- effective labels ------------------------------------------------------------------- */

struct pairs {
    struct tby_label *v;
    size_t n, cap;
    char **owned;             /* prefixed keys made here */
    size_t n_owned;
    bool oom;
};

static void pairs_add(struct pairs *p, const char *key, const char *value)
{
    if (p->oom || !key || !value)
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        struct tby_label *v = realloc(p->v, cap * sizeof(*v));

        if (!v) {
            p->oom = true;
            return;
        }
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = (struct tby_label){ key, value };
}

static void pairs_add_prefixed(struct pairs *p, const char *prefix, const char *key,
                               const char *value)
{
    char *k = NULL, **o;

    if (p->oom || asprintf(&k, "%s%s", prefix, key) < 0 ||
        !(o = realloc(p->owned, (p->n_owned + 1) * sizeof(*o)))) {
        free(k);
        p->oom = true;
        return;
    }
    p->owned = o;
    o[p->n_owned++] = k;
    pairs_add(p, k, value);
}

static void pairs_add_json(struct pairs *p, const char *prefix, const json_t *obj)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v) {
        if (!json_is_string(v))
            continue;
        if (prefix)
            pairs_add_prefixed(p, prefix, key, json_string_value(v));
        else
            pairs_add(p, key, json_string_value(v));
    }
}

static void pairs_free(struct pairs *p)
{
    for (size_t i = 0; i < p->n_owned; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p->v);
}

/* Stable: among equal keys the one added last (highest precedence) sorts last. */
static int cmp_pair(const void *a, const void *b)
{
    const struct tby_label *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    return c ? c : (x < y ? -1 : 1);
}

/* An endpoint's effective labels, shared by the endpoints that have the same ones (the
 * pods of a workload): one block, the label array, then the strings it points at. */
struct labelset {
    struct tby_hnode node;            /* in calc->labelsets, by content */
    uint32_t refs;
    uint32_t n;
    struct tby_label v[];
};

static struct labelset *labelset_of(const struct tby_label *v)
{
    return TBY_CONTAINER_OF(v, struct labelset, v);
}

static uint64_t labels_hash(const struct tby_label *v, size_t n)
{
    uint64_t h = n;

    for (size_t i = 0; i < n; i++) {
        h = tby_hash_bytes(v[i].key, strlen(v[i].key) + 1, h);
        h = tby_hash_bytes(v[i].value, strlen(v[i].value) + 1, h);
    }
    return h;
}

static bool labels_same(const struct labelset *a, const struct labelset *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].key, b->v[i].key) != 0 || strcmp(a->v[i].value, b->v[i].value) != 0)
            return false;
    return true;
}

/* Lets go of labels from pack_labels (NULL: none). */
static void labels_put(struct tby_calc *c, const struct tby_label *labels)
{
    struct labelset *ls;

    if (!labels)
        return;
    ls = labelset_of(labels);
    if (--ls->refs > 0)
        return;
    tby_hmap_remove(&c->labelsets, &ls->node);
    free(ls);
}

/* The label set of the pairs, sorted by key (the last of equal keys wins): the one held
 * already when another endpoint has it. */
static int pack_labels(struct tby_calc *c, struct pairs *p, struct tby_label **out,
                       size_t *n_out)
{
    size_t n = 0, bytes = 0;
    struct labelset *ls;
    struct tby_label *v;
    uint64_t h;
    char *s;

    qsort(p->v, p->n, sizeof(*p->v), cmp_pair);
    for (size_t i = 0; i < p->n; i++) {
        if (i + 1 < p->n && strcmp(p->v[i].key, p->v[i + 1].key) == 0)
            continue;
        p->v[n++] = p->v[i];
        bytes += strlen(p->v[i].key) + strlen(p->v[i].value) + 2;
    }
    ls = malloc(sizeof(*ls) + n * sizeof(*v) + bytes + 1);
    if (!ls)
        return -ENOMEM;
    ls->refs = 1;
    ls->n = (uint32_t)n;
    v = ls->v;
    s = (char *)(v + n);
    for (size_t i = 0; i < n; i++) {
        v[i].key = strcpy(s, p->v[i].key);
        s += strlen(s) + 1;
        v[i].value = strcpy(s, p->v[i].value);
        s += strlen(s) + 1;
    }
    h = labels_hash(v, n);
    for (struct tby_hnode *m = tby_hmap_first_with_hash(&c->labelsets, h); m;
         m = tby_hmap_next_with_hash(m)) {
        struct labelset *held = TBY_CONTAINER_OF(m, struct labelset, node);

        if (labels_same(held, ls)) {
            free(ls);
            held->refs++;
            *out = held->v;
            *n_out = n;
            return 0;
        }
    }
    if (tby_hmap_insert(&c->labelsets, &ls->node, h) < 0) {
        free(ls);
        return -ENOMEM;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* Precedence, lowest first: profiles' labelsToApply, the namespace's (pcns.), the
 * endpoint's own, then the ones Calico sets itself. */
static int build_labels(struct tby_calc *c, const struct ep *ep, struct tby_label **out,
                        size_t *n)
{
    struct pairs p = { 0 };
    const struct nsinfo *ns = ns_find(c, ep->ns);
    int r;

    for (size_t i = 0; i < ep->profiles.n; i++) {
        const struct profinfo *pi = prof_find(c, ep->profiles.items[i]);

        if (pi && pi->labels)
            pairs_add_json(&p, NULL, pi->labels);
    }
    pairs_add_prefixed(&p, "pcns.", "kubernetes.io/metadata.name", ep->ns);
    pairs_add_prefixed(&p, "pcns.", "projectcalico.org/name", ep->ns);
    if (ns && ns->labels)
        pairs_add_json(&p, "pcns.", ns->labels);
    if (ep->own_labels)
        pairs_add_json(&p, NULL, ep->own_labels);
    pairs_add(&p, "projectcalico.org/namespace", ep->ns);
    pairs_add(&p, "projectcalico.org/orchestrator", ep->orchestrator);
    pairs_add(&p, "projectcalico.org/serviceaccount", ep->service_account);
    r = p.oom ? -ENOMEM : pack_labels(c, &p, out, n);
    pairs_free(&p);
    return r;
}

/* ---- endpoints -------------------------------------------------------------------------- */

static void ep_data_free(struct ep *ep)
{
    free(ep->iface);
    free(ep->addrs);
    for (size_t i = 0; i < ep->n_ports; i++)
        free(ep->ports[i].name);
    free(ep->ports);
    json_decref(ep->own_labels);
    tby_strv_clear(&ep->profiles);
    free(ep->orchestrator);
    free(ep->service_account);
}

static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        *oom = true;
    return d;
}

/* Fills what an endpoint takes from its WorkloadEndpoint (not key, namespace, labels). */
static int ep_data_from(struct tby_calc *c, struct ep *ep, const struct tby_resource *res)
{
    const struct tby_wep *w = res->spec.wep;
    bool oom = false;

    ep->local = w->node && strcmp(w->node, c->node_name) == 0;
    ep->iface = ep->local ? dup_or_null(w->interface_name, &oom) : NULL;
    ep->orchestrator = dup_or_null(w->orchestrator, &oom);
    ep->service_account = dup_or_null(w->service_account_name, &oom);
    ep->own_labels = json_incref(res->meta.labels);
    ep->addrs = calloc(w->ip_networks.n + 1, sizeof(*ep->addrs));
    ep->ports = calloc(w->n_ports + 1, sizeof(*ep->ports));
    if (oom || !ep->addrs || !ep->ports || tby_strv_copy(&ep->profiles, &w->profiles) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < w->ip_networks.n; i++) {
        const struct tby_cidr *cidr = &w->ip_networks.items[i];

        /* Sets hold addresses: a pod's networks are its /32 and /128. */
        if (cidr->prefix_len == tby_ip_bits(&cidr->ip))
            ep->addrs[ep->n_addrs++] = cidr->ip;
    }
    for (size_t i = 0; i < w->n_ports; i++) {
        if (!w->ports[i].name)
            continue;
        ep->ports[ep->n_ports] = (struct ep_port){ .proto = (uint8_t)w->ports[i].protocol,
                                                   .port = w->ports[i].port };
        if (!(ep->ports[ep->n_ports++].name = strdup(w->ports[i].name)))
            return -ENOMEM;
    }
    return 0;
}

static void ns_link(struct nsinfo *ns, struct ep *ep)
{
    ep->ns_prev = NULL;
    ep->ns_next = ns->eps;
    if (ns->eps)
        ns->eps->ns_prev = ep;
    ns->eps = ep;
}

static void ns_unlink(struct nsinfo *ns, struct ep *ep)
{
    if (ep->ns_prev)
        ep->ns_prev->ns_next = ep->ns_next;
    else
        ns->eps = ep->ns_next;
    if (ep->ns_next)
        ep->ns_next->ns_prev = ep->ns_prev;
}

static void ep_remove(struct tby_calc *c, struct ep *ep)
{
    struct nsinfo *ns = ns_find(c, ep->ns);

    sels_leave_all(c, ep);
    ep_chains_drop(c, ep);
    ep_local_wl(c, ep, false);
    if (ns) {
        ns_unlink(ns, ep);
        ns_put_if_unused(c, ns);
    }
    c->n_local -= ep->local;
    tby_hmap_remove(&c->eps, &ep->node);
    ep_data_free(ep);
    labels_put(c, ep->labels);
    free(ep->key);
    free(ep->ns);
    free(ep);
}

static char *ep_key(const struct tby_resource *res)
{
    char *k = NULL;

    return asprintf(&k, "%s/%s", res->meta.namespace, res->meta.name) < 0 ? NULL : k;
}

static int ep_create(struct tby_calc *c, const struct tby_resource *res, char *key)
{
    struct ep *ep = calloc(1, sizeof(*ep));
    struct nsinfo *ns;

    if (!ep || !(ep->ns = strdup(res->meta.namespace)) || !(ns = ns_get(c, ep->ns))) {
        if (ep)
            free(ep->ns);
        free(ep);
        free(key);
        return -ENOMEM;
    }
    ep->key = key;
    ns_link(ns, ep);
    if (tby_hmap_insert(&c->eps, &ep->node, tby_hash_str(key)) < 0) {
        ns_unlink(ns, ep);
        free(ep->ns);
        free(ep->key);
        free(ep);
        return -ENOMEM;
    }
    if (ep_data_from(c, ep, res) < 0 || build_labels(c, ep, &ep->labels, &ep->n_labels) < 0) {
        ep_remove(c, ep);
        return -ENOMEM;
    }
    c->n_local += ep->local;
    if (ep_local_wl(c, ep, true) < 0)
        return -ENOMEM;
    return sels_join_all(c, ep);
}

static bool same_addrs_ports(const struct ep *a, const struct ep *b)
{
    if (a->local != b->local || a->n_addrs != b->n_addrs || a->n_ports != b->n_ports)
        return false;
    if ((a->iface || b->iface) && (!a->iface || !b->iface || strcmp(a->iface, b->iface) != 0))
        return false;
    if (a->n_addrs && memcmp(a->addrs, b->addrs, a->n_addrs * sizeof(*a->addrs)) != 0)
        return false;
    for (size_t i = 0; i < a->n_ports; i++)
        if (a->ports[i].proto != b->ports[i].proto || a->ports[i].port != b->ports[i].port ||
            strcmp(a->ports[i].name, b->ports[i].name) != 0)
            return false;
    return true;
}

static void ep_swap_data(struct ep *ep, struct ep *fresh)
{
    struct ep keep = *ep;

    ep->local = fresh->local;
    ep->iface = fresh->iface;
    ep->addrs = fresh->addrs;
    ep->n_addrs = fresh->n_addrs;
    ep->ports = fresh->ports;
    ep->n_ports = fresh->n_ports;
    ep->own_labels = fresh->own_labels;
    ep->profiles = fresh->profiles;
    ep->orchestrator = fresh->orchestrator;
    ep->service_account = fresh->service_account;
    *fresh = keep;
}

/* Re-reads an endpoint's labels; only selectors reading a changed key are evaluated. */
static int ep_relabel(struct tby_calc *c, struct ep *ep)
{
    struct tby_label *old = ep->labels, *fresh;
    size_t n_old = ep->n_labels, n;
    int r;

    if (build_labels(c, ep, &fresh, &n) < 0)
        return -ENOMEM;
    ep->labels = fresh;
    ep->n_labels = n;
    r = sels_relabel(c, ep, old, n_old);
    labels_put(c, old);
    return r;
}

static int ep_change(struct tby_calc *c, struct ep *ep, const struct tby_resource *res)
{
    struct ep fresh = { 0 };
    bool moved;
    int r = ep_data_from(c, &fresh, res);

    if (r < 0) {
        ep_data_free(&fresh);
        return r;
    }
    moved = !same_addrs_ports(ep, &fresh);
    if (moved) {
        /* Addresses, ports or the interface changed: every set it feeds changes. */
        sels_leave_all(c, ep);
        ep_chains_drop(c, ep);
        ep_local_wl(c, ep, false);
        c->n_local -= ep->local;
    }
    ep_swap_data(ep, &fresh);
    ep_data_free(&fresh);
    if (!moved)
        return ep_relabel(c, ep);
    c->n_local += ep->local;
    labels_put(c, ep->labels);
    ep->labels = NULL;
    ep->n_labels = 0;
    if (build_labels(c, ep, &ep->labels, &ep->n_labels) < 0 || ep_local_wl(c, ep, true) < 0)
        return -ENOMEM;
    return sels_join_all(c, ep);
}

static int wep_update(struct tby_calc *c, const struct tby_resource *res)
{
    char *key = ep_key(res);
    struct ep *ep;

    if (!key)
        return -ENOMEM;
    ep = ep_find(c, key);
    if (!ep)
        return ep_create(c, res, key);
    free(key);
    return ep_change(c, ep, res);
}

static void wep_remove(struct tby_calc *c, const struct tby_resource *res)
{
    _cleanup_free_ char *key = ep_key(res);
    struct ep *ep = key ? ep_find(c, key) : NULL;

    if (ep)
        ep_remove(c, ep);
}

/* ---- namespaces and profiles ------------------------------------------------------------ */

static int ns_set_labels(struct tby_calc *c, const char *name, const json_t *labels)
{
    struct nsinfo *ns = ns_get(c, name);
    int r = 0;

    if (!ns)
        return -ENOMEM;
    json_decref(ns->labels);
    ns->labels = labels ? json_incref((json_t *)labels) : NULL;
    for (struct ep *ep = ns->eps; r == 0 && ep; ep = ep->ns_next)
        r = ep_relabel(c, ep);
    ns_put_if_unused(c, ns);
    return r;
}

static int prof_set_labels(struct tby_calc *c, const char *name, const json_t *labels)
{
    struct profinfo *p = prof_find(c, name);
    int r = 0;

    if (!p && labels) {
        p = calloc(1, sizeof(*p));
        if (!p || !(p->name = strdup(name)) ||
            tby_hmap_insert(&c->profs, &p->node, tby_hash_str(name)) < 0) {
            if (p)
                free(p->name);
            free(p);
            return -ENOMEM;
        }
    }
    if (!p)
        return 0;
    json_decref(p->labels);
    p->labels = labels ? json_incref((json_t *)labels) : NULL;
    if (!labels) {
        tby_hmap_remove(&c->profs, &p->node);
        free(p->name);
        free(p);
    }
    /* Profiles change rarely: a scan for the endpoints naming it is fine. */
    for (struct tby_hnode *n = tby_hmap_first(&c->eps); r == 0 && n; n = tby_hmap_next(&c->eps, n)) {
        struct ep *ep = TBY_CONTAINER_OF(n, struct ep, node);

        if (tby_strv_contains(&ep->profiles, name))
            r = ep_relabel(c, ep);
    }
    return r;
}

/* ---- the calculation -------------------------------------------------------------------- */

int tby_calc_new(const char *node_name, struct tby_calc **out)
{
    struct tby_calc *c = calloc(1, sizeof(*c));

    *out = NULL;
    if (!c)
        return -ENOMEM;
    tby_hmap_init(&c->eps);
    tby_hmap_init(&c->sels);
    tby_hmap_init(&c->keys);
    tby_hmap_init(&c->pols);
    tby_hmap_init(&c->nss);
    tby_hmap_init(&c->profs);
    tby_hmap_init(&c->fixsets);
    tby_hmap_init(&c->npsets);
    tby_hmap_init(&c->labelsets);
    tby_hmap_init(&c->pages[0]);
    tby_hmap_init(&c->pages[1]);
    c->node_name = strdup(node_name);
    c->rs = tby_rs_new();
    if (!c->node_name || !c->rs || calc_base_chains(c) < 0) {
        tby_calc_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void tby_calc_free(struct tby_calc *c)
{
    struct tby_hnode *n, *next;

    if (!c)
        return;
    pol_free_all(c);
    for (n = tby_hmap_first(&c->eps); n; n = next) {
        next = tby_hmap_next(&c->eps, n);
        ep_remove(c, TBY_CONTAINER_OF(n, struct ep, node));
    }
    for (n = tby_hmap_first(&c->nss); n; n = next) {
        struct nsinfo *ns = TBY_CONTAINER_OF(n, struct nsinfo, node);

        next = tby_hmap_next(&c->nss, n);
        json_decref(ns->labels);
        free(ns->name);
        free(ns);
    }
    for (n = tby_hmap_first(&c->profs); n; n = next) {
        struct profinfo *p = TBY_CONTAINER_OF(n, struct profinfo, node);

        next = tby_hmap_next(&c->profs, n);
        json_decref(p->labels);
        free(p->name);
        free(p);
    }
    tby_hmap_destroy(&c->eps);
    tby_hmap_destroy(&c->sels);
    tby_hmap_destroy(&c->keys);
    tby_hmap_destroy(&c->pols);
    tby_hmap_destroy(&c->nss);
    tby_hmap_destroy(&c->profs);
    tby_hmap_destroy(&c->fixsets);
    tby_hmap_destroy(&c->npsets);
    tby_hmap_destroy(&c->labelsets); /* empty: every endpoint let go */
    free(c->unindexed);               /* empty: every selector let go */
    calc_dispatch_free(c);
    tby_rs_free(c->rs);
    free(c->node_name);
    free(c);
}

void tby_calc_freep(struct tby_calc **calc)
{
    tby_calc_free(*calc);
    *calc = NULL;
}

struct tby_rs *tby_calc_ruleset(struct tby_calc *calc)
{
    return calc->rs;
}

static int dispatch_update(struct tby_calc *c, const struct tby_resource *res,
                           struct tby_error *err)
{
    switch (res->info->kind) {
    case TBY_KIND_WORKLOADENDPOINT:
        return wep_update(c, res);
    case TBY_KIND_NAMESPACE:
        return ns_set_labels(c, res->meta.name, res->meta.labels);
    case TBY_KIND_PROFILE:
        return prof_set_labels(c, res->meta.name, res->spec.profile->labels_to_apply);
    case TBY_KIND_NETWORKPOLICY:
    case TBY_KIND_GLOBALNETWORKPOLICY:
    case TBY_KIND_K8S_NETWORKPOLICY:
        return calc_policy_update(c, res, err);
    default:
        return 0;
    }
}

int tby_calc_update(struct tby_calc *calc, const struct tby_resource *res,
                    struct tby_error *err)
{
    int r = dispatch_update(calc, res, err);
    int s = calc_settle(calc);

    if (r == 0 && s < 0)
        r = s;
    if (r == -ENOMEM && err && !err->msg[0])
        tby_error_set(err, r, "out of memory");
    return r;
}

int tby_calc_remove(struct tby_calc *calc, const struct tby_resource *res,
                    struct tby_error *err)
{
    int r = 0;

    switch (res->info->kind) {
    case TBY_KIND_WORKLOADENDPOINT:
        wep_remove(calc, res);
        break;
    case TBY_KIND_NAMESPACE:
        r = ns_set_labels(calc, res->meta.name, NULL);
        break;
    case TBY_KIND_PROFILE:
        r = prof_set_labels(calc, res->meta.name, NULL);
        break;
    case TBY_KIND_NETWORKPOLICY:
    case TBY_KIND_GLOBALNETWORKPOLICY:
    case TBY_KIND_K8S_NETWORKPOLICY:
        calc_policy_remove(calc, res);
        break;
    default:
        break;
    }
    if (calc_settle(calc) < 0)
        r = -ENOMEM;
    return r < 0 ? tby_error_set(err, r, "out of memory") : 0;
}

void tby_calc_stats(const struct tby_calc *calc, struct tby_calc_stats *out)
{
    out->endpoints = tby_hmap_count(&calc->eps);
    out->local_endpoints = calc->n_local;
    out->policies = tby_hmap_count(&calc->pols);
    out->selectors = tby_hmap_count(&calc->sels);
}
