/* calc_services.c — the sets rules naming a Kubernetes Service match on, fed from the
 * service's EndpointSlices (endpointslice.h) as Calico's felix feeds them:
 *   - a destination service (egress): every endpoint address with every port of its
 *     slice, as address . protocol . port (svc-<hash>-4/-6);
 *   - a source service (ingress): every endpoint address (svca-<hash>-4/-6).
 * A slice coming, changing or going adds and takes back its own elements (the ruleset
 * counts references, so an address two slices list stays while either does): set elements
 * change, never rules. A service is known by "<namespace>/<name>"; its record (struct psvc)
 * lives while a slice names it or a rule uses its sets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/endpointslice.h"
#include "calc_policy_internal.h"

/* One slice as last told, and the service it feeds. */
struct pslice {
    struct tby_hnode node;            /* in pl->slices, by key */
    char *key;                        /* "<namespace>/<name>" of the slice */
    struct tby_eps *eps;
    struct psvc *svc;                 /* NULL: the slice names no service */
};

struct psvc {
    struct tby_hnode node;            /* in pl->svcs, by key */
    char *key;                        /* "<namespace>/<name>" of the service */
    struct pslice **slices;
    size_t n_slices, cap_slices;
    uint32_t refs[2];                 /* uses of the sets: SVC_ADDRS, SVC_PORTS */
    struct tby_rs_set *set[2][2];     /* [SVC_ADDRS or SVC_PORTS][IPv4, IPv6] */
};

/* ---- what a slice feeds ---------------------------------------------------------------- */

/* Adds (or takes back) the slice's elements in the sets of kind k. Taking back goes on past
 * a failure. */
static int feed(struct tby_rs *rs, const struct psvc *s, int k, const struct tby_eps *eps,
                bool add)
{
    int r = 0;

    for (size_t i = 0; (r == 0 || !add) && i < eps->n_addrs; i++) {
        const struct tby_ip *ip = &eps->addrs[i];
        struct tby_rs_set *set = s->set[k][ip->family == 6];

        if (k == SVC_ADDRS) {
            if (!add)
                tby_rs_remove_addr(rs, set, ip);
            else
                r = tby_rs_add_addr(rs, set, ip);
            continue;
        }
        for (size_t p = 0; (r == 0 || !add) && p < eps->n_ports; p++) {
            if (!add)
                tby_rs_remove_addr_port(rs, set, ip, eps->ports[p].proto, eps->ports[p].port);
            else
                r = tby_rs_add_addr_port(rs, set, ip, eps->ports[p].proto, eps->ports[p].port);
        }
    }
    return r;
}

static int feed_used(struct tby_rs *rs, const struct psvc *s, const struct tby_eps *eps,
                     bool add)
{
    int r = 0;

    for (int k = 0; k < 2; k++)
        if (s->refs[k] && feed(rs, s, k, eps, add) < 0 && r == 0)
            r = -ENOMEM;
    return r;
}

/* ---- service records ------------------------------------------------------------------- */

static const char *svc_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct psvc, node)->key;
}

static struct psvc *svc_find(const struct calc_policies *pl, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&pl->svcs, key, svc_key);

    return n ? TBY_CONTAINER_OF(n, struct psvc, node) : NULL;
}

static struct psvc *svc_get(struct calc_policies *pl, const char *key)
{
    struct psvc *s = svc_find(pl, key);

    if (s)
        return s;
    if (!(s = calloc(1, sizeof(*s))) || !(s->key = strdup(key)) ||
        tby_hmap_insert(&pl->svcs, &s->node, tby_hash_str(key)) < 0) {
        if (s)
            free(s->key);
        free(s);
        return NULL;
    }
    return s;
}

/* Goes when no slice names the service and no rule uses its sets. */
static void svc_trim(struct calc_policies *pl, struct psvc *s)
{
    if (s->n_slices || s->refs[SVC_ADDRS] || s->refs[SVC_PORTS])
        return;
    tby_hmap_remove(&pl->svcs, &s->node);
    free(s->slices);
    free(s->key);
    free(s);
}

static void svc_detach(struct calc_policies *pl, struct pslice *ps)
{
    struct psvc *s = ps->svc;

    if (!s)
        return;
    feed_used(pl->rs, s, ps->eps, false);
    for (size_t i = 0; i < s->n_slices; i++) {
        if (s->slices[i] == ps) {
            s->slices[i] = s->slices[--s->n_slices];
            break;
        }
    }
    ps->svc = NULL;
    svc_trim(pl, s);
}

static int svc_attach(struct calc_policies *pl, struct pslice *ps, const char *key)
{
    struct psvc *s = svc_get(pl, key);

    if (!s)
        return -ENOMEM;
    if (TBY_GROW(s->slices, s->cap_slices, s->n_slices + 1) < 0) {
        svc_trim(pl, s);
        return -ENOMEM;
    }
    s->slices[s->n_slices++] = ps;
    ps->svc = s;
    return feed_used(pl->rs, s, ps->eps, true);
}

/* ---- slices ------------------------------------------------------------------------------ */

static const char *slice_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct pslice, node)->key;
}

static void slice_drop(struct calc_policies *pl, struct pslice *ps)
{
    svc_detach(pl, ps);
    tby_hmap_remove(&pl->slices, &ps->node);
    tby_eps_free(ps->eps);
    free(ps->key);
    free(ps);
}

/* The new slice feeds its elements before the old one takes its own back, so an element
 * both hold never leaves the set: a slice changing changes only what differs. */
int calc_policies_endpointslice(struct calc_policies *pl, const char *ns, const char *name,
                                struct tby_eps *eps)
{
    _cleanup_(tby_eps_freep) struct tby_eps *taken = eps;
    _cleanup_free_ char *key = NULL, *svc = NULL;
    struct tby_hnode *old;
    struct pslice *ps;
    int r = 0;

    if (asprintf(&key, "%s/%s", ns, name) < 0)
        return -ENOMEM;
    old = tby_hmap_find_str(&pl->slices, key, slice_key);
    if (!taken) {
        if (old)
            slice_drop(pl, TBY_CONTAINER_OF(old, struct pslice, node));
        return 0;
    }
    if (taken->service && asprintf(&svc, "%s/%s", ns, taken->service) < 0)
        return -ENOMEM;
    if (!(ps = calloc(1, sizeof(*ps))))
        return -ENOMEM;
    ps->key = TBY_STEAL(key);
    ps->eps = TBY_STEAL(taken);
    if (svc)
        r = svc_attach(pl, ps, svc);
    if (old)
        slice_drop(pl, TBY_CONTAINER_OF(old, struct pslice, node));
    if (tby_hmap_insert(&pl->slices, &ps->node, tby_hash_str(ps->key)) < 0) {
        svc_detach(pl, ps);
        tby_eps_free(ps->eps);
        free(ps->key);
        free(ps);
        return -ENOMEM;
    }
    return r;
}

void calc_services_free(struct calc_policies *pl)
{
    struct tby_hnode *n, *next;

    for (n = tby_hmap_first(&pl->slices); n; n = next) {
        next = tby_hmap_next(&pl->slices, n);
        slice_drop(pl, TBY_CONTAINER_OF(n, struct pslice, node));
    }
    tby_hmap_destroy(&pl->slices);
    tby_hmap_destroy(&pl->svcs);  /* empty: every policy and slice let go */
}

/* ---- sets rules use -------------------------------------------------------------------- */

static struct tby_rs_set *svc_set(struct tby_rs *rs, const struct psvc *s, int k, int v6)
{
    static const struct {
        const char *prefix;
        enum tby_rs_set_type type[2];
    } kinds[2] = {
        [SVC_ADDRS] = { "svca", { TBY_RS_ADDR4, TBY_RS_ADDR6 } },
        [SVC_PORTS] = { "svc", { TBY_RS_ADDR4_PROTO_PORT, TBY_RS_ADDR6_PROTO_PORT } },
    };
    char name[TBY_RS_HASHED_NAME_SIZE], full[TBY_RS_HASHED_NAME_SIZE + 16];
    char comment[300];

    tby_rs_hashed_name(name, kinds[k].prefix, s->key);
    snprintf(full, sizeof(full), "%s-%d", name, v6 ? 6 : 4);
    snprintf(comment, sizeof(comment), "service %s", s->key);
    return tby_rs_set_add(rs, full, kinds[k].type[v6], comment);
}

struct psvc *svc_sets_use(struct calc_policies *pl, const char *key, int k)
{
    struct psvc *s = svc_get(pl, key);

    if (!s)
        return NULL;
    if (s->refs[k]++ > 0)
        return s;
    for (int v6 = 0; v6 < 2; v6++) {
        if (!(s->set[k][v6] = svc_set(pl->rs, s, k, v6))) {
            svc_sets_unuse(pl, s, k);
            return NULL;
        }
    }
    for (size_t i = 0; i < s->n_slices; i++) {
        if (feed(pl->rs, s, k, s->slices[i]->eps, true) < 0) {
            svc_sets_unuse(pl, s, k);
            return NULL;
        }
    }
    return s;
}

const char *svc_set_name(const struct psvc *s, int k, int family)
{
    return s->set[k][family == 6]->name;
}

void svc_sets_unuse(struct calc_policies *pl, struct psvc *s, int k)
{
    if (s->refs[k] == 0 || --s->refs[k] > 0)
        return;
    for (int v6 = 0; v6 < 2; v6++) {
        if (s->set[k][v6])
            tby_rs_set_del(pl->rs, s->set[k][v6]);
        s->set[k][v6] = NULL;
    }
    svc_trim(pl, s);
}
