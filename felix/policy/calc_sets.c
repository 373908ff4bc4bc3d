/* calc_sets.c — the sets the policies' rules match on that follow selectors' members: the
 * addresses of the endpoints a selector matches and the nets of the network sets it
 * matches, in one CIDR interval set per family (sel-<hash>-4/-6, as Calico's selector IP
 * sets hold both), and named-port sets (np-<hash>-4/-6: address . protocol . the port a
 * name stands for on each endpoint).
 * The index tells calc_policies_member who joins and leaves; a record per selector in
 * use (struct psel) says which sets that feeds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "calc_policy_internal.h"

/* What the policy layer feeds from one selector's members. */
struct psel {
    struct tby_hnode node;            /* in pl->psels, by s->hash */
    const struct calc_sel *s;
    uint32_t set_refs;                /* uses of the address sets */
    struct tby_rs_set *set[2];        /* address sets (IPv4, IPv6) while set_refs > 0 */
    struct npset **nps;               /* named-port sets of this selector */
    size_t n_nps, cap_nps;
};

/* ---- what members feed ----------------------------------------------------------------- */

static int np_feed(struct tby_rs *rs, struct npset *np, const struct calc_ep *ep, bool add)
{
    for (size_t i = 0; i < ep->n_ports; i++) {
        const struct calc_port *p = &ep->ports[i];

        if (p->proto != np->proto || strcmp(p->name, np->port_name) != 0)
            continue;
        for (size_t k = 0; k < ep->n_addrs; k++) {
            struct tby_rs_set *set = np->set[ep->addrs[k].family == 6];

            if (!add)
                tby_rs_remove_addr_port(rs, set, &ep->addrs[k], p->proto, p->port);
            else if (tby_rs_add_addr_port(rs, set, &ep->addrs[k], p->proto, p->port) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static int net_feed(struct tby_rs *rs, struct tby_rs_set *const set[2],
                    const struct tby_cidr *net, bool add)
{
    struct tby_rs_set *s = set[net->ip.family == 6];

    return add ? tby_rs_add_net(rs, s, net) : tby_rs_remove_net(rs, s, net);
}

/* An endpoint's addresses (as /32 and /128) or a network set's nets. Taking them out goes
 * on past a failure (out of memory), which it returns. */
static int addr_feed(struct tby_rs *rs, struct tby_rs_set *const set[2], const struct calc_ep *ep,
                     bool add)
{
    int r = 0;

    for (size_t k = 0; (r == 0 || !add) && k < ep->n_addrs + ep->n_nets; k++) {
        struct tby_cidr host = { .prefix_len = 0 };
        const struct tby_cidr *net = &host;
        int e;

        if (k < ep->n_addrs)
            host = (struct tby_cidr){ ep->addrs[k], (uint8_t)tby_ip_bits(&ep->addrs[k]) };
        else
            net = &ep->nets[k - ep->n_addrs];
        e = net_feed(rs, set, net, add);
        if (r == 0)
            r = e;
    }
    return r;
}

/* ---- per-selector records ---------------------------------------------------------------- */

static struct psel *psel_find(const struct calc_policies *pl, const struct calc_sel *s)
{
    for (struct tby_hnode *n = tby_hmap_first_with_hash(&pl->psels, s->hash); n;
         n = tby_hmap_next_with_hash(n)) {
        struct psel *ps = TBY_CONTAINER_OF(n, struct psel, node);

        if (ps->s == s)
            return ps;
    }
    return NULL;
}

static struct psel *psel_get(struct calc_policies *pl, const struct calc_sel *s)
{
    struct psel *ps = psel_find(pl, s);

    if (ps)
        return ps;
    if (!(ps = calloc(1, sizeof(*ps))))
        return NULL;
    ps->s = s;
    if (tby_hmap_insert(&pl->psels, &ps->node, s->hash) < 0) {
        free(ps);
        return NULL;
    }
    return ps;
}

/* Goes when nothing is fed from the selector any more. */
static void psel_trim(struct calc_policies *pl, struct psel *ps)
{
    if (ps->set_refs > 0 || ps->n_nps > 0)
        return;
    tby_hmap_remove(&pl->psels, &ps->node);
    free(ps->nps);
    free(ps);
}

int calc_policies_member(struct calc_policies *pl, const struct calc_sel *s,
                         const struct calc_ep *ep, bool joined)
{
    struct psel *ps = psel_find(pl, s);
    int r = 0;

    if (!ps)
        return 0;
    if (ps->set_refs)
        r = addr_feed(pl->rs, ps->set, ep, joined);
    for (size_t i = 0; (r == 0 || !joined) && i < ps->n_nps; i++)
        r = np_feed(pl->rs, ps->nps[i], ep, joined);
    return r;
}

/* ---- address sets -------------------------------------------------------------------------- */

struct fill {
    struct tby_rs *rs;
    struct tby_rs_set *const *set;    /* address sets */
    struct npset *np;                 /* or a named-port set */
};

static int fill_one(void *ctx, const struct calc_ep *ep)
{
    const struct fill *f = ctx;

    return f->np ? np_feed(f->rs, f->np, ep, true) : addr_feed(f->rs, f->set, ep, true);
}

static struct tby_rs_set *addr_set(struct tby_rs *rs, const char *prefix, const char *key,
                                   int v6, const char *comment)
{
    char name[TBY_RS_HASHED_NAME_SIZE], full[TBY_RS_HASHED_NAME_SIZE + 16];

    tby_rs_hashed_name(name, prefix, key);
    snprintf(full, sizeof(full), "%s-%d", name, v6 ? 6 : 4);
    return tby_rs_set_add(rs, full, v6 ? TBY_RS_NET6 : TBY_RS_NET4, comment);
}

struct tby_rs_set *const *sel_sets_use(struct calc_policies *pl, const struct calc_sel *s)
{
    struct psel *ps = psel_get(pl, s);
    struct fill f = { .rs = pl->rs };

    if (!ps)
        return NULL;
    if (ps->set_refs++ > 0)
        return ps->set;
    for (int v6 = 0; v6 < 2; v6++) {
        if (!(ps->set[v6] = addr_set(pl->rs, "sel", s->text, v6, s->text))) {
            sel_sets_unuse(pl, s);
            return NULL;
        }
    }
    f.set = ps->set;
    if (calc_sel_foreach_member(s, fill_one, &f) < 0) {
        sel_sets_unuse(pl, s);
        return NULL;
    }
    return ps->set;
}

void sel_sets_unuse(struct calc_policies *pl, const struct calc_sel *s)
{
    struct psel *ps = psel_find(pl, s);

    if (!ps || ps->set_refs == 0 || --ps->set_refs > 0)
        return;
    for (int v6 = 0; v6 < 2; v6++) {
        if (ps->set[v6])
            tby_rs_set_del(pl->rs, ps->set[v6]);
        ps->set[v6] = NULL;
    }
    psel_trim(pl, ps);
}

/* ---- named-port sets ------------------------------------------------------------------- */

static const char *npset_find_key(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct npset, node)->key;
}

static struct npset *npset_find(const struct calc_policies *pl, const char *key)
{
    struct tby_hnode *n = tby_hmap_find_str(&pl->npsets, key, npset_find_key);

    return n ? TBY_CONTAINER_OF(n, struct npset, node) : NULL;
}

static int npset_attach(struct calc_policies *pl, struct npset *np)
{
    struct psel *ps = psel_get(pl, np->sel);
    struct fill f = { .rs = pl->rs, .np = np };

    if (!ps || TBY_GROW(ps->nps, ps->cap_nps, ps->n_nps + 1) < 0) {
        if (ps)
            psel_trim(pl, ps);
        return -ENOMEM;
    }
    ps->nps[ps->n_nps++] = np;
    for (int v6 = 0; v6 < 2; v6++) {
        char name[TBY_RS_HASHED_NAME_SIZE], full[TBY_RS_HASHED_NAME_SIZE + 16];

        tby_rs_hashed_name(name, "np", np->key);
        snprintf(full, sizeof(full), "%s-%d", name, v6 ? 6 : 4);
        np->set[v6] = tby_rs_set_add(pl->rs, full,
                                     v6 ? TBY_RS_ADDR6_PROTO_PORT : TBY_RS_ADDR4_PROTO_PORT,
                                     np->key + strlen(np->sel->text) + 1);
        if (!np->set[v6])
            return -ENOMEM;
    }
    return calc_sel_foreach_member(np->sel, fill_one, &f) < 0 ? -ENOMEM : 0;
}

struct npset *npset_get(struct calc_policies *pl, struct calc_sel *s, uint8_t proto,
                        const char *name)
{
    _cleanup_free_ char *key = NULL;
    struct npset *np;

    if (asprintf(&key, "%s\x1f%u:%s on %s", s->text, proto, name, s->text) < 0)
        return NULL;
    if ((np = npset_find(pl, key))) {
        np->refs++;
        return np;
    }
    if (!(np = calloc(1, sizeof(*np))))
        return NULL;
    np->refs = 1;
    np->sel = s;
    calc_sel_hold(s);
    np->proto = proto;
    np->key = TBY_STEAL(key);
    np->port_name = strdup(name);
    if (!np->port_name || tby_hmap_insert(&pl->npsets, &np->node, tby_hash_str(np->key)) < 0) {
        calc_sel_put(pl->index, s);
        free(np->port_name);
        free(np->key);
        free(np);
        return NULL;
    }
    if (npset_attach(pl, np) < 0) {
        npset_put(pl, np);
        return NULL;
    }
    return np;
}

void npset_put(struct calc_policies *pl, struct npset *np)
{
    struct psel *ps;

    if (!np || --np->refs > 0)
        return;
    if ((ps = psel_find(pl, np->sel))) {
        for (size_t i = 0; i < ps->n_nps; i++) {
            if (ps->nps[i] == np) {
                ps->nps[i] = ps->nps[--ps->n_nps];
                break;
            }
        }
        psel_trim(pl, ps);
    }
    for (int v6 = 0; v6 < 2; v6++)
        if (np->set[v6])
            tby_rs_set_del(pl->rs, np->set[v6]);
    tby_hmap_remove(&pl->npsets, &np->node);
    calc_sel_put(pl->index, np->sel);
    free(np->port_name);
    free(np->key);
    free(np);
}
