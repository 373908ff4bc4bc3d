/* diagnose_routes.c — the routes check: pods on other nodes can be reached. Every block
 * affine to another node needs a route here. Where tabby-node routes it itself (VXLAN,
 * IPIP without BIRD, CrossSubnet's direct routes: its routes plan, computed here from the
 * datastore as tabby-node computes it) the kernel must hold exactly that route; where BGP
 * does (native pools through BIRD, or whoever routes under backend none), some route must
 * cover the block that is neither the default route nor a blackhole. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "diagnose.h"

#define AREA "routing"
#define CHECK "routes"

int diag_make_plan(struct diag *d)
{
    const struct diag_cluster *c = &d->cluster;
    _cleanup_free_ struct tby_routes_pool *pools = calloc(c->pools.n + 1, sizeof(*pools));
    _cleanup_free_ struct tby_routes_node *nodes = calloc(c->nodes.n + 1, sizeof(*nodes));
    _cleanup_free_ const struct tby_wep **weps = calloc(c->weps.n + 1, sizeof(*weps));
    struct tby_routes_input in = { .node_name = d->set.node, .pools = pools,
                                   .n_pools = c->pools.n, .nodes = nodes,
                                   .n_nodes = c->nodes.n, .blocks = c->blocks,
                                   .n_blocks = c->n_blocks, .n_weps = c->weps.n,
                                   .ipip_routes_by_bgp = strcmp(d->set.backend, "bird") == 0 };
    struct tby_error err = { 0 };
    int r;

    if (!pools || !nodes || !weps)
        return -ENOMEM;
    for (size_t i = 0; i < c->pools.n; i++)
        pools[i] = (struct tby_routes_pool){ c->pools.items[i]->meta.name,
                                             c->pools.items[i]->spec.ippool };
    for (size_t i = 0; i < c->nodes.n; i++)
        nodes[i] = (struct tby_routes_node){ c->nodes.items[i]->meta.name,
                                             c->nodes.items[i]->spec.node };
    for (size_t i = 0; i < c->weps.n; i++)
        weps[i] = c->weps.items[i]->spec.wep;
    in.weps = weps;
    r = tby_routes_plan(&in, &d->plan, &err);
    d->has_plan = r == 0;
    return r;
}

/* The node a destination belongs to: the block's that holds it. */
static const char *owner(const struct diag_cluster *c, const struct tby_cidr *dst)
{
    for (size_t i = 0; i < c->n_blocks; i++)
        if (tby_cidr_contains_cidr(&c->blocks[i].cidr, dst))
            return c->blocks[i].node;
    return "?";
}

static bool node_exists(const struct diag_cluster *c, const char *name)
{
    for (size_t i = 0; i < c->nodes.n; i++)
        if (strcmp(c->nodes.items[i]->meta.name, name) == 0)
            return true;
    return false;
}

struct routes_run {
    struct diag *d;
    struct diag_list bad;
    size_t checked;
};

/* The device a planned route must go through: 0 any, -1 one that is missing. */
static int planned_dev(const struct diag_kernel *k, const struct tby_route *want)
{
    const char *name = NULL;
    const struct diag_link *l;

    if (want->kind == TBY_ROUTE_VXLAN)
        name = want->dst.ip.family == 6 ? TBY_VXLAN6_DEVICE : TBY_VXLAN_DEVICE;
    else if (want->kind == TBY_ROUTE_IPIP)
        name = TBY_IPIP_DEVICE;
    if (!name)
        return 0;
    return (l = diag_link_by_name(k, name)) ? l->index : -1;
}

static void planned(struct routes_run *m, const struct tby_route *want)
{
    const struct diag_kernel *k = &m->d->kernel;
    const struct diag_route *have = NULL;
    char w[TBY_ROUTE_STRLEN], h[DIAG_ROUTE_STRLEN], text[TBY_CIDR_STRLEN];
    int dev = planned_dev(k, want);

    for (size_t i = 0; i < k->n_routes && !have; i++)
        if (tby_cidr_equal(&k->routes[i].dst, &want->dst))
            have = &k->routes[i];
    m->checked++;
    tby_route_format(want, w);
    if (!have) {
        diag_list_add(&m->bad, tby_cidr_format(&want->dst, text), "%s (%s's): no route; "
                      "tabby-node routes it %s", text, owner(&m->d->cluster, &want->dst), w);
        return;
    }
    if (have->type != DIAG_ROUTE_UNICAST || !have->has_gateway ||
        !tby_ip_equal(&have->gateway, &want->gateway) || (dev && have->oif != dev))
        diag_list_add(&m->bad, tby_cidr_format(&want->dst, text), "%s (%s's): the kernel has "
                      "\"%s\", tabby-node routes it %s", text, owner(&m->d->cluster, &want->dst),
                      diag_route_format(k, have, h), w);
}

static bool in_plan(const struct tby_routes_plan *p, const struct tby_cidr *dst)
{
    for (size_t i = 0; i < p->n_routes; i++)
        if (tby_cidr_equal(&p->routes[i].dst, dst))
            return true;
    return false;
}

/* A block BGP routes (or someone else): some route must take its packets somewhere. */
static void covered(struct routes_run *m, const struct tby_routes_block *b)
{
    const struct diag_route *r = diag_route_covering(&m->d->kernel, &b->cidr, false);
    char text[TBY_CIDR_STRLEN], route[DIAG_ROUTE_STRLEN];

    m->checked++;
    if (!r)
        diag_list_add(&m->bad, tby_cidr_format(&b->cidr, text), "%s (%s's): no route (BGP: the "
                      "session with %s, or with the router between, is down, or %s does not "
                      "announce it)", text, b->node, b->node, b->node);
    else if (r->type != DIAG_ROUTE_UNICAST)
        diag_list_add(&m->bad, tby_cidr_format(&b->cidr, text), "%s (%s's): \"%s\" drops its "
                      "packets", text, b->node, diag_route_format(&m->d->kernel, r, route));
}

void diag_check_routes(struct diag *d)
{
    struct routes_run m = { .d = d, .bad = { &d->report, AREA, CHECK, DIAG_FAIL,
                                             "pods on other nodes are unreachable from here:" } };
    struct diag_result *res;

    if (diag_need_cluster(d, AREA, CHECK) || diag_need_kernel(d, AREA, CHECK))
        return;
    for (size_t i = 0; d->has_plan && i < d->plan.n_routes; i++) {
        enum tby_route_kind kind = d->plan.routes[i].kind;

        if (kind == TBY_ROUTE_VXLAN || kind == TBY_ROUTE_DIRECT || kind == TBY_ROUTE_IPIP)
            planned(&m, &d->plan.routes[i]);
    }
    for (size_t i = 0; i < d->cluster.n_blocks; i++) {
        const struct tby_routes_block *b = &d->cluster.blocks[i];

        if (strcmp(b->node, d->set.node) != 0 && node_exists(&d->cluster, b->node) &&
            !(d->has_plan && in_plan(&d->plan, &b->cidr)))
            covered(&m, b);
    }
    if (m.bad.res) {
        diag_action(m.bad.res, "routes tabby-node programs come back by themselves (see "
                    "node/tabby-node if not); BGP routes need the session named in "
                    "routing/bgp-sessions");
        return;
    }
    if (d->has_plan && d->plan.warnings.n) {
        res = diag_add(&d->report, AREA, CHECK, DIAG_WARN,
                       "every remote block is routed, but the route plan leaves things out:");
        for (size_t i = 0; i < d->plan.warnings.n; i++)
            diag_detail(res, "%s", d->plan.warnings.items[i]);
        diag_action(res, "each line says what is missing; usually a node that has not "
                    "registered its addresses yet");
        return;
    }
    diag_add(&d->report, AREA, CHECK, DIAG_OK, "%zu routes to other nodes' pods, all as they "
             "should be", m.checked);
}
