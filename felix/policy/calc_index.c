/* calc_index.c — the label index (calc_index.h): endpoints and their effective labels,
 * from the WorkloadEndpoint, its namespace's labels and its profiles' labelsToApply, and
 * network sets, which rule selectors match as they match endpoints; which selectors they
 * match is calc_select.c's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "calc_index_internal.h"

/* ---- small indexes by name -------------------------------------------------------------- */

struct nsinfo {
    struct tby_hnode node;            /* in x->nss, by name */
    char *name;
    json_t *labels;                   /* NULL until the Namespace resource is seen */
    struct ep *eps;                   /* its endpoints */
};

struct profinfo {
    struct tby_hnode node;            /* in x->profs, by name */
    char *name;
    json_t *labels;                   /* labelsToApply */
};

static const char *ns_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct nsinfo, node)->name;
}

static struct nsinfo *ns_find(const struct calc_index *x, const char *name)
{
    struct tby_hnode *n = name ? tby_hmap_find_str(&x->nss, name, ns_find_key) : NULL;

    return n ? TBY_CONTAINER_OF(n, struct nsinfo, node) : NULL;
}

static struct nsinfo *ns_get(struct calc_index *x, const char *name)
{
    struct nsinfo *ns = ns_find(x, name);

    if (ns)
        return ns;
    ns = calloc(1, sizeof(*ns));
    if (!ns || !(ns->name = strdup(name)) ||
        tby_hmap_insert(&x->nss, &ns->node, tby_hash_str(name)) < 0) {
        if (ns)
            free(ns->name);
        free(ns);
        return NULL;
    }
    return ns;
}

static void ns_put_if_unused(struct calc_index *x, struct nsinfo *ns)
{
    if (ns->eps || ns->labels)
        return;
    tby_hmap_remove(&x->nss, &ns->node);
    free(ns->name);
    free(ns);
}

static const char *prof_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct profinfo, node)->name;
}

static struct profinfo *prof_find(const struct calc_index *x, const char *name)
{
    struct tby_hnode *n = tby_hmap_find_str(&x->profs, name, prof_find_key);

    return n ? TBY_CONTAINER_OF(n, struct profinfo, node) : NULL;
}

static const char *ep_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct ep, node)->key;
}

static struct ep *ep_find(const struct calc_index *x, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&x->eps, key, ep_find_key);

    return n ? TBY_CONTAINER_OF(n, struct ep, node) : NULL;
}

/* ---- effective labels ------------------------------------------------------------------- */

struct pairs {
    struct tby_label *v;
    size_t n, cap;
    struct tby_strv owned;    /* prefixed keys made here */
    bool oom;
};

static void pairs_add(struct pairs *p, const char *key, const char *value)
{
    if (p->oom || !key || !value)
        return;
    if (TBY_GROW(p->v, p->cap, p->n + 1) < 0) {
        p->oom = true;
        return;
    }
    p->v[p->n++] = (struct tby_label){ key, value };
}

static void pairs_add_prefixed(struct pairs *p, const char *prefix, const char *key,
                               const char *value)
{
    char *k = NULL;

    if (p->oom || asprintf(&k, "%s%s", prefix, key) < 0 ||
        tby_strv_push_take(&p->owned, k) < 0) {
        p->oom = true;
        return;
    }
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
    tby_strv_clear(&p->owned);
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
 * pods of a workload): the label array, pointing at strings of x->label_strs. */
struct labelset {
    struct tby_hnode node;            /* in x->labelsets, by content */
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

/* Frees a label set and lets go of its strings (of the first n pairs, for one being
 * built). */
static void labelset_free_n(struct calc_index *x, struct labelset *ls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        calc_strs_put(&x->label_strs, ls->v[i].key);
        calc_strs_put(&x->label_strs, ls->v[i].value);
    }
    free(ls);
}

static void labelset_free(struct calc_index *x, struct labelset *ls)
{
    labelset_free_n(x, ls, ls->n);
}

/* Lets go of labels from pack_labels (NULL: none). */
static void labels_put(struct calc_index *x, const struct tby_label *labels)
{
    struct labelset *ls;

    if (!labels)
        return;
    ls = labelset_of(labels);
    if (--ls->refs > 0)
        return;
    tby_hmap_remove(&x->labelsets, &ls->node);
    labelset_free(x, ls);
}

/* The label set of the pairs, sorted by key (the last of equal keys wins): the one held
 * already when another endpoint has it. */
static int pack_labels(struct calc_index *x, struct pairs *p, struct tby_label **out,
                       size_t *n_out)
{
    size_t n = 0;
    struct labelset *ls;
    struct tby_label *v;
    uint64_t h;

    if (p->n) /* a host endpoint may have no label at all */
        qsort(p->v, p->n, sizeof(*p->v), cmp_pair);
    for (size_t i = 0; i < p->n; i++) {
        if (i + 1 < p->n && strcmp(p->v[i].key, p->v[i + 1].key) == 0)
            continue;
        p->v[n++] = p->v[i];
    }
    ls = calloc(1, sizeof(*ls) + n * sizeof(*v));
    if (!ls)
        return -ENOMEM;
    ls->refs = 1;
    ls->n = (uint32_t)n;
    v = ls->v;
    for (size_t i = 0; i < n; i++) {
        v[i].key = calc_strs_get(&x->label_strs, p->v[i].key);
        v[i].value = calc_strs_get(&x->label_strs, p->v[i].value);
        if (!v[i].key || !v[i].value) {
            labelset_free_n(x, ls, i + 1); /* puts of NULL do nothing */
            return -ENOMEM;
        }
    }
    h = labels_hash(v, n);
    for (struct tby_hnode *m = tby_hmap_first_with_hash(&x->labelsets, h); m;
         m = tby_hmap_next_with_hash(m)) {
        struct labelset *held = TBY_CONTAINER_OF(m, struct labelset, node);

        if (labels_same(held, ls)) {
            labelset_free(x, ls);
            held->refs++;
            *out = held->v;
            *n_out = n;
            return 0;
        }
    }
    if (tby_hmap_insert(&x->labelsets, &ls->node, h) < 0) {
        labelset_free(x, ls);
        return -ENOMEM;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* Precedence, lowest first: profiles' labelsToApply, the namespace's (pcns.), the
 * endpoint's own, then the ones Calico sets itself. */
static int build_labels(struct calc_index *x, const struct ep *ep, struct tby_label **out,
                        size_t *n)
{
    struct pairs p = { 0 };
    const struct nsinfo *ns = ns_find(x, ep->ns);
    int r;

    for (size_t i = 0; i < ep->profiles.n; i++) {
        const struct profinfo *pi = prof_find(x, ep->profiles.items[i]);

        if (pi && pi->labels)
            pairs_add_json(&p, NULL, pi->labels);
    }
    if (ep->ns) {
        pairs_add_prefixed(&p, "pcns.", "kubernetes.io/metadata.name", ep->ns);
        pairs_add_prefixed(&p, "pcns.", "projectcalico.org/name", ep->ns);
    }
    if (ns && ns->labels)
        pairs_add_json(&p, "pcns.", ns->labels);
    for (size_t i = 0; i < ep->n_own; i++)
        pairs_add(&p, ep->own[i].key, ep->own[i].value);
    pairs_add(&p, "projectcalico.org/namespace", ep->ns);
    pairs_add(&p, "projectcalico.org/orchestrator", ep->orchestrator);
    pairs_add(&p, "projectcalico.org/serviceaccount", ep->service_account);
    r = p.oom ? -ENOMEM : pack_labels(x, &p, out, n);
    pairs_free(&p);
    return r;
}

/* ---- endpoints -------------------------------------------------------------------------- */

static void ep_data_free(struct ep *ep)
{
    free(ep->v.iface);
    free(ep->v.host_iface);
    free(ep->v.host_name);
    free(ep->v.addrs);
    free(ep->v.nets);
    free(ep->v.src_nets);
    for (size_t i = 0; i < ep->v.n_ports; i++)
        free(ep->v.ports[i].name);
    free(ep->v.ports);
    free(ep->own);
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

/* The resource's own labels as one block (its string values; a jansson object per
 * endpoint cost several times as much). -ENOMEM. */
static int own_labels_from(struct ep *ep, const json_t *labels)
{
    size_t n = 0, bytes = 0;
    const char *key;
    json_t *v;
    char *s;

    json_object_foreach((json_t *)labels, key, v) {
        if (json_is_string(v)) {
            n++;
            bytes += strlen(key) + strlen(json_string_value(v)) + 2;
        }
    }
    ep->n_own = 0;
    if (n == 0)
        return 0;
    if (!(ep->own = malloc(n * sizeof(*ep->own) + bytes)))
        return -ENOMEM;
    s = (char *)(ep->own + n);
    json_object_foreach((json_t *)labels, key, v) {
        if (!json_is_string(v))
            continue;
        ep->own[ep->n_own].key = strcpy(s, key);
        s += strlen(s) + 1;
        ep->own[ep->n_own++].value = strcpy(s, json_string_value(v));
        s += strlen(s) + 1;
    }
    return 0;
}

static bool is_netset(const struct tby_resource *res)
{
    return res->info->kind == TBY_KIND_NETWORKSET ||
           res->info->kind == TBY_KIND_GLOBALNETWORKSET;
}

/* What a network set gives: its labels, its nets, and for a NetworkSet the profile of its
 * namespace (which Calico gives it, so that it inherits the namespace's labels). */
static int netset_data_from(struct ep *ep, const struct tby_resource *res)
{
    const struct tby_cidr_list *nets = &res->spec.networkset->nets;
    char *kns = NULL;

    ep->v.nets = calloc(nets->n + 1, sizeof(*ep->v.nets));
    if (!ep->v.nets || own_labels_from(ep, res->meta.labels) < 0)
        return -ENOMEM;
    memcpy(ep->v.nets, nets->items, nets->n * sizeof(*nets->items));
    ep->v.n_nets = nets->n;
    if (res->info->kind == TBY_KIND_NETWORKSET &&
        (asprintf(&kns, "kns.%s", res->meta.namespace) < 0 ||
         tby_strv_push_take(&ep->profiles, kns) < 0))
        return -ENOMEM;
    return 0;
}

/* An endpoint's named ports into v->ports (allocated for n). -ENOMEM. */
static int named_ports_from(struct calc_ep *v, const struct tby_endpoint_port *ports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!ports[i].name)
            continue;
        v->ports[v->n_ports] = (struct calc_port){ .proto = (uint8_t)ports[i].protocol,
                                                   .port = ports[i].port };
        if (!(v->ports[v->n_ports++].name = strdup(ports[i].name)))
            return -ENOMEM;
    }
    return 0;
}

/* What a host endpoint gives: its labels, profiles, expectedIPs, named ports, and on this
 * node its interface. */
static int hep_data_from(struct calc_index *x, struct ep *ep, const struct tby_resource *res)
{
    const struct tby_hep *h = res->spec.hep;
    struct calc_ep *v = &ep->v;
    bool oom = false;

    v->local = h->node && strcmp(h->node, x->node_name) == 0;
    v->host_iface = v->local ? dup_or_null(h->interface_name ? h->interface_name : "", &oom)
                             : NULL;
    v->host_name = v->local ? dup_or_null(res->meta.name, &oom) : NULL;
    v->addrs = calloc(h->n_expected_ips + 1, sizeof(*v->addrs));
    v->ports = calloc(h->n_ports + 1, sizeof(*v->ports));
    v->profiles = &ep->profiles;
    if (oom || own_labels_from(ep, res->meta.labels) < 0 || !v->addrs || !v->ports || tby_strv_copy(&ep->profiles, &h->profiles) < 0)
        return -ENOMEM;
    if (h->n_expected_ips)
        memcpy(v->addrs, h->expected_ips, h->n_expected_ips * sizeof(*v->addrs));
    v->n_addrs = h->n_expected_ips;
    return named_ports_from(v, h->ports, h->n_ports);
}

/* What a local workload may send from besides its addresses (the anti-spoofing check). */
static int src_nets_from(struct calc_ep *v, const struct tby_wep *w)
{
    size_t n = w->ip_networks.n + w->allow_spoofed_source_prefixes.n;

    if (n == 0)
        return 0;
    if (!(v->src_nets = calloc(n, sizeof(*v->src_nets))))
        return -ENOMEM;
    for (size_t i = 0; i < w->ip_networks.n; i++) {
        struct tby_cidr net = w->ip_networks.items[i];

        if (net.prefix_len == tby_ip_bits(&net.ip))
            continue;
        tby_cidr_mask(&net);
        v->src_nets[v->n_src_nets++] = net;
    }
    for (size_t i = 0; i < w->allow_spoofed_source_prefixes.n; i++)
        v->src_nets[v->n_src_nets++] = w->allow_spoofed_source_prefixes.items[i];
    v->n_prefixes = w->allow_spoofed_source_prefixes.n;
    return 0;
}

/* Fills what an endpoint takes from its WorkloadEndpoint (not key, namespace, labels), or
 * a network set or host endpoint from its resource. */
static int ep_data_from(struct calc_index *x, struct ep *ep, const struct tby_resource *res)
{
    const struct tby_wep *w = res->spec.wep;
    struct calc_ep *v = &ep->v;
    bool oom = false;

    if (is_netset(res))
        return netset_data_from(ep, res);
    if (res->info->kind == TBY_KIND_HOSTENDPOINT)
        return hep_data_from(x, ep, res);
    v->local = w->node && strcmp(w->node, x->node_name) == 0;
    v->iface = v->local ? dup_or_null(w->interface_name, &oom) : NULL;
    ep->orchestrator = dup_or_null(w->orchestrator, &oom);
    ep->service_account = dup_or_null(w->service_account_name, &oom);
    v->addrs = calloc(w->ip_networks.n + 1, sizeof(*v->addrs));
    v->ports = calloc(w->n_ports + 1, sizeof(*v->ports));
    v->profiles = &ep->profiles;
    if (oom || !v->addrs || !v->ports || tby_strv_copy(&ep->profiles, &w->profiles) < 0 ||
        own_labels_from(ep, res->meta.labels) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < w->ip_networks.n; i++) {
        const struct tby_cidr *cidr = &w->ip_networks.items[i];

        /* Sets hold addresses: a pod's networks are its /32 and /128. */
        if (cidr->prefix_len == tby_ip_bits(&cidr->ip))
            v->addrs[v->n_addrs++] = cidr->ip;
    }
    if (v->local && src_nets_from(v, w) < 0)
        return -ENOMEM;
    return named_ports_from(v, w->ports, w->n_ports);
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

/* The local hook hears of a local endpoint's interface once when it comes, and once when
 * it goes. */
static int local_came(struct calc_index *x, struct ep *ep)
{
    if (ep->told_local || !ep->v.local || (!ep->v.iface && !ep->v.host_iface))
        return 0;
    if (x->hooks.local(x->hooks.ctx, &ep->v, true) < 0)
        return -ENOMEM;
    ep->told_local = true;
    return 0;
}

static void local_goes(struct calc_index *x, struct ep *ep)
{
    if (!ep->told_local)
        return;
    x->hooks.local(x->hooks.ctx, &ep->v, false);
    ep->told_local = false;
}

static void ep_free(struct calc_index *x, struct ep *ep)
{
    ep_data_free(ep);
    labels_put(x, ep->labels);
    free(ep->key);
    free(ep->ns);
    free(ep);
}

static void ep_remove(struct calc_index *x, struct ep *ep)
{
    struct nsinfo *ns = ns_find(x, ep->ns);

    x->n_netsets -= ep->netset;
    sels_leave_all(x, ep);
    local_goes(x, ep);
    if (ns) {
        ns_unlink(ns, ep);
        ns_put_if_unused(x, ns);
    }
    x->n_local -= ep->v.local;
    tby_hmap_remove(&x->eps, &ep->node);
    ep_free(x, ep);
}

/* Namespaces hold no '~': a network set's key never meets an endpoint's. */
static char *ep_key(const struct tby_resource *res)
{
    char *k = NULL;
    int r;

    switch (res->info->kind) {
    case TBY_KIND_NETWORKSET:
        r = asprintf(&k, "~netset/%s/%s", res->meta.namespace, res->meta.name);
        break;
    case TBY_KIND_GLOBALNETWORKSET:
        r = asprintf(&k, "~gnetset/%s", res->meta.name);
        break;
    case TBY_KIND_HOSTENDPOINT:
        r = asprintf(&k, "~hep/%s", res->meta.name);
        break;
    default:
        r = asprintf(&k, "%s/%s", res->meta.namespace, res->meta.name);
        break;
    }
    return r < 0 ? NULL : k;
}

static int ep_create(struct calc_index *x, const struct tby_resource *res, char *key)
{
    struct ep *ep = calloc(1, sizeof(*ep));
    bool global = res->info->kind == TBY_KIND_GLOBALNETWORKSET ||
                  res->info->kind == TBY_KIND_HOSTENDPOINT;
    struct nsinfo *ns = NULL;

    if (!ep || (!global && (!(ep->ns = strdup(res->meta.namespace)) ||
                            !(ns = ns_get(x, ep->ns))))) {
        if (ep)
            free(ep->ns);
        free(ep);
        free(key);
        return -ENOMEM;
    }
    ep->key = key;
    ep->netset = is_netset(res);
    if (ns)
        ns_link(ns, ep);
    if (tby_hmap_insert(&x->eps, &ep->node, tby_hash_str(key)) < 0) {
        if (ns)
            ns_unlink(ns, ep);
        free(ep->ns);
        free(ep->key);
        free(ep);
        return -ENOMEM;
    }
    x->n_netsets += ep->netset;
    if (ep_data_from(x, ep, res) < 0 || build_labels(x, ep, &ep->labels, &ep->n_labels) < 0) {
        ep_remove(x, ep);
        return -ENOMEM;
    }
    x->n_local += ep->v.local;
    if (local_came(x, ep) < 0)
        return -ENOMEM;
    return sels_join_all(x, ep);
}

static bool same_strv(const struct tby_strv *a, const struct tby_strv *b)
{
    if (!a || !b || a->n != b->n)
        return a == b;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i], b->items[i]) != 0)
            return false;
    return true;
}

static bool same_addrs_ports(const struct calc_ep *a, const struct calc_ep *b)
{
    if (a->local != b->local || a->n_addrs != b->n_addrs || a->n_ports != b->n_ports ||
        a->n_nets != b->n_nets || a->n_src_nets != b->n_src_nets ||
        a->n_prefixes != b->n_prefixes)
        return false;
    if (a->n_src_nets &&
        memcmp(a->src_nets, b->src_nets, a->n_src_nets * sizeof(*a->src_nets)) != 0)
        return false;
    if (a->n_nets && memcmp(a->nets, b->nets, a->n_nets * sizeof(*a->nets)) != 0)
        return false;
    /* a local endpoint's profiles decide what the dispatch does after the tiers */
    if (a->local && !same_strv(a->profiles, b->profiles))
        return false;
    if ((a->iface || b->iface) && (!a->iface || !b->iface || strcmp(a->iface, b->iface) != 0))
        return false;
    if ((a->host_iface || b->host_iface) &&
        (!a->host_iface || !b->host_iface || strcmp(a->host_iface, b->host_iface) != 0))
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

    ep->v = fresh->v;
    ep->own = fresh->own;
    ep->n_own = fresh->n_own;
    ep->profiles = fresh->profiles;
    ep->orchestrator = fresh->orchestrator;
    ep->service_account = fresh->service_account;
    *fresh = keep;
    ep->v.profiles = &ep->profiles;
    fresh->v.profiles = &fresh->profiles;
}

/* Re-reads an endpoint's labels; only selectors reading a changed key are evaluated. */
static int ep_relabel(struct calc_index *x, struct ep *ep)
{
    struct tby_label *old = ep->labels, *fresh;
    size_t n_old = ep->n_labels, n;
    int r;

    if (build_labels(x, ep, &fresh, &n) < 0)
        return -ENOMEM;
    ep->labels = fresh;
    ep->n_labels = n;
    r = sels_relabel(x, ep, old, n_old);
    labels_put(x, old);
    return r;
}

static int ep_change(struct calc_index *x, struct ep *ep, const struct tby_resource *res)
{
    struct ep fresh = { 0 };
    bool moved;
    int r = ep_data_from(x, &fresh, res);

    if (r < 0) {
        ep_data_free(&fresh);
        return r;
    }
    moved = !same_addrs_ports(&ep->v, &fresh.v);
    if (moved) {
        /* Addresses, ports or the interface changed: every set it feeds changes. */
        sels_leave_all(x, ep);
        local_goes(x, ep);
        x->n_local -= ep->v.local;
    }
    ep_swap_data(ep, &fresh);
    ep_data_free(&fresh);
    if (!moved)
        return ep_relabel(x, ep);
    x->n_local += ep->v.local;
    labels_put(x, ep->labels);
    ep->labels = NULL;
    ep->n_labels = 0;
    if (build_labels(x, ep, &ep->labels, &ep->n_labels) < 0 || local_came(x, ep) < 0)
        return -ENOMEM;
    return sels_join_all(x, ep);
}

static int ep_update(struct calc_index *x, const struct tby_resource *res)
{
    char *key = ep_key(res);
    struct ep *ep;

    if (!key)
        return -ENOMEM;
    ep = ep_find(x, key);
    if (!ep)
        return ep_create(x, res, key);
    free(key);
    return ep_change(x, ep, res);
}

static void ep_forget(struct calc_index *x, const struct tby_resource *res)
{
    _cleanup_free_ char *key = ep_key(res);
    struct ep *ep = key ? ep_find(x, key) : NULL;

    if (ep)
        ep_remove(x, ep);
}

/* ---- namespaces and profiles ------------------------------------------------------------ */

static int ns_set_labels(struct calc_index *x, const char *name, const json_t *labels)
{
    struct nsinfo *ns = ns_get(x, name);
    int r = 0;

    if (!ns)
        return -ENOMEM;
    json_decref(ns->labels);
    ns->labels = labels ? json_incref((json_t *)labels) : NULL;
    for (struct ep *ep = ns->eps; r == 0 && ep; ep = ep->ns_next)
        r = ep_relabel(x, ep);
    ns_put_if_unused(x, ns);
    return r;
}

static int prof_set_labels(struct calc_index *x, const char *name, const json_t *labels)
{
    struct profinfo *p = prof_find(x, name);
    int r = 0;

    if (!p && labels) {
        p = calloc(1, sizeof(*p));
        if (!p || !(p->name = strdup(name)) ||
            tby_hmap_insert(&x->profs, &p->node, tby_hash_str(name)) < 0) {
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
        tby_hmap_remove(&x->profs, &p->node);
        free(p->name);
        free(p);
    }
    /* Profiles change rarely: a scan for the endpoints naming it is fine. */
    for (struct tby_hnode *n = tby_hmap_first(&x->eps); r == 0 && n;
         n = tby_hmap_next(&x->eps, n)) {
        struct ep *ep = TBY_CONTAINER_OF(n, struct ep, node);

        if (tby_strv_contains(&ep->profiles, name))
            r = ep_relabel(x, ep);
    }
    return r;
}

/* ---- the index --------------------------------------------------------------------------- */

int calc_index_new(const char *node_name, const struct calc_index_hooks *hooks,
                   struct calc_index **out)
{
    struct calc_index *x = calloc(1, sizeof(*x));

    *out = NULL;
    if (!x)
        return -ENOMEM;
    x->hooks = *hooks;
    tby_hmap_init(&x->eps);
    tby_hmap_init(&x->nss);
    tby_hmap_init(&x->profs);
    tby_hmap_init(&x->labelsets);
    calc_strs_init(&x->label_strs);
    tby_hmap_init(&x->sels);
    tby_hmap_init(&x->keys);
    if (!(x->node_name = strdup(node_name))) {
        calc_index_free(x);
        return -ENOMEM;
    }
    *out = x;
    return 0;
}

void calc_index_free(struct calc_index *x)
{
    struct tby_hnode *n, *next;

    if (!x)
        return;
    sels_free_all(x);
    for (n = tby_hmap_first(&x->eps); n; n = next) {
        next = tby_hmap_next(&x->eps, n);
        ep_free(x, TBY_CONTAINER_OF(n, struct ep, node));
    }
    for (n = tby_hmap_first(&x->nss); n; n = next) {
        struct nsinfo *ns = TBY_CONTAINER_OF(n, struct nsinfo, node);

        next = tby_hmap_next(&x->nss, n);
        json_decref(ns->labels);
        free(ns->name);
        free(ns);
    }
    for (n = tby_hmap_first(&x->profs); n; n = next) {
        struct profinfo *p = TBY_CONTAINER_OF(n, struct profinfo, node);

        next = tby_hmap_next(&x->profs, n);
        json_decref(p->labels);
        free(p->name);
        free(p);
    }
    tby_hmap_destroy(&x->eps);
    tby_hmap_destroy(&x->nss);
    tby_hmap_destroy(&x->profs);
    tby_hmap_destroy(&x->labelsets); /* empty: every endpoint let go */
    calc_strs_destroy(&x->label_strs); /* empty with them */
    tby_hmap_destroy(&x->sels);
    tby_hmap_destroy(&x->keys);
    free(x->node_name);
    free(x);
}

int calc_index_update(struct calc_index *x, const struct tby_resource *res)
{
    switch (res->info->kind) {
    case TBY_KIND_WORKLOADENDPOINT:
    case TBY_KIND_HOSTENDPOINT:
    case TBY_KIND_NETWORKSET:
    case TBY_KIND_GLOBALNETWORKSET:
        return ep_update(x, res);
    case TBY_KIND_NAMESPACE:
        return ns_set_labels(x, res->meta.name, res->meta.labels);
    case TBY_KIND_PROFILE:
        return prof_set_labels(x, res->meta.name, res->spec.profile->labels_to_apply);
    default:
        return 0;
    }
}

int calc_index_remove(struct calc_index *x, const struct tby_resource *res)
{
    switch (res->info->kind) {
    case TBY_KIND_WORKLOADENDPOINT:
    case TBY_KIND_HOSTENDPOINT:
    case TBY_KIND_NETWORKSET:
    case TBY_KIND_GLOBALNETWORKSET:
        ep_forget(x, res);
        return 0;
    case TBY_KIND_NAMESPACE:
        return ns_set_labels(x, res->meta.name, NULL);
    case TBY_KIND_PROFILE:
        return prof_set_labels(x, res->meta.name, NULL);
    default:
        return 0;
    }
}

void calc_index_counts(const struct calc_index *x, size_t *endpoints, size_t *local,
                       size_t *selectors)
{
    *endpoints = tby_hmap_count(&x->eps) - x->n_netsets;
    *local = x->n_local;
    *selectors = tby_hmap_count(&x->sels);
}

int calc_index_foreach_local_with_profile(struct calc_index *x, const char *name,
                                          int (*fn)(void *ctx, const struct calc_ep *ep),
                                          void *ctx)
{
    int r = 0;

    for (struct tby_hnode *n = tby_hmap_first(&x->eps); r == 0 && n;
         n = tby_hmap_next(&x->eps, n)) {
        struct ep *ep = TBY_CONTAINER_OF(n, struct ep, node);

        if (ep->told_local && tby_strv_contains(&ep->profiles, name))
            r = fn(ctx, &ep->v);
    }
    return r;
}
