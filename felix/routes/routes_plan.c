/* routes_plan.c — the desired routing state from pools, nodes, blocks and endpoints:
 * which routes, which VTEP entries, which devices. Pure: no kernel, no I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/hmap.h"
#include "tabby/routes.h"
#include "tabby/digest.h"

struct builder {
    const struct tby_routes_input *in;
    const struct tby_node *self;        /* NULL: this node has no Node resource yet */
    struct tby_routes_plan *plan;
    size_t routes_cap;
    size_t vteps_cap;
};

static int fam_index(int family)
{
    return family == 6 ? 1 : 0;
}

#define warn(b, ...) tby_strv_pushf(&(b)->plan->warnings, __VA_ARGS__)

/* Grows *items (of `size` bytes each) to hold one more; returns the new slot. */
static void *grow(void **items, size_t *n, size_t *cap, size_t size)
{
    if (tby_grow(items, cap, *n + 1, size) < 0)
        return NULL;
    return memset((char *)*items + (*n)++ * size, 0, size);
}

static int push_route(struct builder *b, const struct tby_route *route)
{
    struct tby_route *slot = grow((void **)&b->plan->routes, &b->plan->n_routes,
                                  &b->routes_cap, sizeof(*slot));

    if (!slot)
        return -ENOMEM;
    *slot = *route;
    tby_cidr_mask(&slot->dst);
    return 0;
}

static const struct tby_node *find_node(const struct tby_routes_input *in, const char *name)
{
    for (size_t i = 0; name && i < in->n_nodes; i++)
        if (strcmp(in->nodes[i].name, name) == 0)
            return in->nodes[i].spec;
    return NULL;
}

static const struct tby_routes_pool *find_pool(const struct tby_routes_input *in,
                                               const struct tby_cidr *cidr)
{
    for (size_t i = 0; i < in->n_pools; i++)
        if (tby_cidr_contains_cidr(&in->pools[i].spec->cidr, cidr))
            return &in->pools[i];
    return NULL;
}

/* The node's address of a family, with its subnet. */
static const struct tby_cidr *node_cidr(const struct tby_node *node, int family)
{
    if (!node)
        return NULL;
    if (family == 4)
        return node->has_ipv4_address ? &node->ipv4_address : NULL;
    return node->has_ipv6_address ? &node->ipv6_address : NULL;
}

static const struct tby_ip *node_tunnel_addr(const struct tby_node *node, int family)
{
    if (family == 4)
        return node->has_vxlan_tunnel_addr ? &node->vxlan_tunnel_addr : NULL;
    return node->has_vxlan_tunnel_addr_v6 ? &node->vxlan_tunnel_addr_v6 : NULL;
}

static void node_mac(const char *name, const struct tby_node *node, int family, uint8_t mac[6])
{
    const char *text = family == 4 ? node->vxlan_tunnel_mac : node->vxlan_tunnel_mac_v6;

    if (!text || tby_mac_parse(text, mac) < 0)
        tby_vxlan_mac_for_node(name, family, mac);
}

/* ---- this node: devices ---------------------------------------------------------------- */

static bool pools_want_vxlan(const struct tby_routes_input *in, int family)
{
    for (size_t i = 0; i < in->n_pools; i++) {
        const struct tby_ippool *p = in->pools[i].spec;

        if (p->cidr.ip.family == family && p->vxlan_mode != TBY_ENCAP_NEVER)
            return true;
    }
    return false;
}

static int plan_vxlan_device(struct builder *b, int family)
{
    struct tby_vxlan_spec *spec = &b->plan->vxlan[fam_index(family)];
    const struct tby_cidr *own = node_cidr(b->self, family);
    const struct tby_ip *tunnel;

    if (!pools_want_vxlan(b->in, family))
        return 0;
    if (!own)
        return warn(b, "node %s has no IPv%d address, so its IPv%d VXLAN pools cannot be "
                    "used: no %s device", b->in->node_name, family, family,
                    family == 4 ? TBY_VXLAN_DEVICE : TBY_VXLAN6_DEVICE);
    spec->wanted = true;
    spec->local = own->ip;
    node_mac(b->in->node_name, b->self, family, spec->mac);
    tunnel = node_tunnel_addr(b->self, family);
    if (tunnel) {
        spec->has_tunnel_addr = true;
        spec->tunnel_addr = *tunnel;
        return 0;
    }
    return warn(b, "node %s has no IPv%d VXLAN tunnel address yet: %s gets no address",
                b->in->node_name, family, family == 4 ? TBY_VXLAN_DEVICE : TBY_VXLAN6_DEVICE);
}

static int plan_self(struct builder *b)
{
    const struct tby_routes_input *in = b->in;
    struct tby_routes_plan *plan = b->plan;
    int r;

    for (int family = 4; family <= 6; family += 2) {
        const struct tby_cidr *own = node_cidr(b->self, family);

        if (own) {
            plan->has_node_ip[fam_index(family)] = true;
            plan->node_ip[fam_index(family)] = own->ip;
        }
        if ((r = plan_vxlan_device(b, family)) < 0)
            return r;
    }
    for (size_t i = 0; i < in->n_pools && !plan->ipip_pool; i++) {
        if (in->pools[i].spec->ipip_mode == TBY_ENCAP_NEVER)
            continue;
        if (!(plan->ipip_pool = strdup(in->pools[i].name)))
            return -ENOMEM;
        if (b->self && b->self->has_ipip_tunnel_addr)
            plan->ipip_tunnel_addr = b->self->ipip_tunnel_addr;
        else
            return warn(b, "node %s has no IPIP tunnel address yet: %s gets no address",
                        in->node_name, TBY_IPIP_DEVICE);
    }
    return 0;
}

/* ---- routes ------------------------------------------------------------------------------ */

static int plan_workload(struct builder *b, const struct tby_wep *wep)
{
    struct tby_route route = { .kind = TBY_ROUTE_WORKLOAD };
    int r;

    if (!wep->interface_name || strlen(wep->interface_name) >= IFNAMSIZ)
        return warn(b, "workload %s on this node has no usable interface name: no route",
                    wep->pod ? wep->pod : wep->workload ? wep->workload : "?");
    strcpy(route.ifname, wep->interface_name);
    for (size_t i = 0; i < wep->ip_networks.n; i++) {
        route.dst = wep->ip_networks.items[i];
        if ((r = push_route(b, &route)) < 0)
            return r;
    }
    return 0;
}

static const char *encap_name(enum tby_route_kind kind)
{
    return kind == TBY_ROUTE_VXLAN ? "VXLAN" : "IPIP";
}

/* The encapsulated route to dst on node `node`, whose address is node_ip. */
static int plan_encapsulated(struct builder *b, const struct tby_cidr *dst, const char *node,
                             const struct tby_node *remote, const struct tby_ip *node_ip,
                             enum tby_route_kind kind)
{
    int family = dst->ip.family;
    struct tby_route route = { .kind = kind, .dst = *dst, .gateway = *node_ip };
    const struct tby_ip *tunnel = node_tunnel_addr(remote, family);
    char buf[TBY_CIDR_STRLEN];

    if (kind == TBY_ROUTE_IPIP)
        return push_route(b, &route);
    if (!b->plan->vxlan[fam_index(family)].wanted)
        return 0; /* plan_vxlan_device said why */
    if (!tunnel)
        return warn(b, "node %s has no IPv%d VXLAN tunnel address yet: no route to %s",
                    node, family, tby_cidr_format(dst, buf));
    route.gateway = *tunnel;
    return push_route(b, &route);
}

/* The route to dst, on node `node` and in `pool`: encapsulated, direct, or none (native
 * routing is BIRD's). */
static int plan_remote(struct builder *b, const struct tby_cidr *dst, const char *node,
                       const struct tby_ippool *pool)
{
    enum tby_encap_mode mode = pool->vxlan_mode != TBY_ENCAP_NEVER ? pool->vxlan_mode
                                                                   : pool->ipip_mode;
    enum tby_route_kind kind = pool->vxlan_mode != TBY_ENCAP_NEVER ? TBY_ROUTE_VXLAN
                                                                   : TBY_ROUTE_IPIP;
    const struct tby_node *remote = find_node(b->in, node);
    const struct tby_cidr *own = node_cidr(b->self, dst->ip.family);
    const struct tby_cidr *theirs;
    char buf[TBY_CIDR_STRLEN];

    if (mode == TBY_ENCAP_NEVER || (kind == TBY_ROUTE_IPIP && b->in->ipip_routes_by_bgp))
        return 0;
    if (!remote)
        return warn(b, "%s is on node %s, which has no Node resource: no route",
                    tby_cidr_format(dst, buf), node);
    theirs = node_cidr(remote, dst->ip.family);
    if (!theirs)
        return warn(b, "node %s has no IPv%d address: no %s route to %s", node,
                    dst->ip.family, encap_name(kind), tby_cidr_format(dst, buf));
    if (mode == TBY_ENCAP_CROSS_SUBNET && own && tby_cidr_contains(own, &theirs->ip)) {
        struct tby_route route = { .kind = TBY_ROUTE_DIRECT, .dst = *dst,
                                   .gateway = theirs->ip };

        return push_route(b, &route);
    }
    return plan_encapsulated(b, dst, node, remote, &theirs->ip, kind);
}

static int plan_block(struct builder *b, const struct tby_routes_block *block)
{
    const struct tby_routes_pool *pool = find_pool(b->in, &block->cidr);
    char buf[TBY_CIDR_STRLEN];

    if (!pool)
        return warn(b, "block %s of node %s is in no IP pool: no route",
                    tby_cidr_format(&block->cidr, buf), block->node);
    if (strcmp(block->node, b->in->node_name) != 0)
        return plan_remote(b, &block->cidr, block->node, pool->spec);
    /* Our own block: with VXLAN no BIRD makes the blackhole that keeps traffic to its
     * unallocated addresses from leaking out through the default route. */
    if (pool->spec->vxlan_mode == TBY_ENCAP_NEVER)
        return 0;
    return push_route(b, &(struct tby_route){ .kind = TBY_ROUTE_BLACKHOLE,
                                              .dst = block->cidr });
}

static bool in_own_block(const struct tby_routes_input *in, const char *node,
                         const struct tby_cidr *net)
{
    for (size_t i = 0; i < in->n_blocks; i++)
        if (strcmp(in->blocks[i].node, node) == 0 &&
            tby_cidr_contains_cidr(&in->blocks[i].cidr, net))
            return true;
    return false;
}

/* A remote workload's addresses that its node borrowed from another node's block: the
 * block route would send them to the wrong node, so they get their own. */
static int plan_borrowed(struct builder *b, const struct tby_wep *wep)
{
    int r;

    for (size_t i = 0; i < wep->ip_networks.n; i++) {
        const struct tby_cidr *net = &wep->ip_networks.items[i];
        const struct tby_routes_pool *pool = find_pool(b->in, net);

        if (!pool || in_own_block(b->in, wep->node, net))
            continue;
        if ((r = plan_remote(b, net, wep->node, pool->spec)) < 0)
            return r;
    }
    return 0;
}

static int plan_routes(struct builder *b)
{
    const struct tby_routes_input *in = b->in;
    int r;

    for (size_t i = 0; i < in->n_weps; i++) {
        const struct tby_wep *wep = in->weps[i];

        if (!wep->node)
            continue;
        r = strcmp(wep->node, in->node_name) == 0 ? plan_workload(b, wep)
                                                  : plan_borrowed(b, wep);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < in->n_blocks; i++)
        if ((r = plan_block(b, &in->blocks[i])) < 0)
            return r;
    return 0;
}

/* ---- VTEPs ------------------------------------------------------------------------------- */

static int plan_vtep(struct builder *b, const struct tby_routes_node *node, int family)
{
    const struct tby_cidr *ip = node_cidr(node->spec, family);
    const struct tby_ip *tunnel = node_tunnel_addr(node->spec, family);
    struct tby_vtep *vtep;

    if (!ip || !tunnel)
        return 0; /* routes through it were warned about, if any */
    vtep = grow((void **)&b->plan->vteps, &b->plan->n_vteps, &b->vteps_cap, sizeof(*vtep));
    if (!vtep)
        return -ENOMEM;
    vtep->tunnel_addr = *tunnel;
    vtep->node_ip = ip->ip;
    node_mac(node->name, node->spec, family, vtep->mac);
    return (vtep->node = strdup(node->name)) ? 0 : -ENOMEM;
}

static int plan_vteps(struct builder *b)
{
    int r;

    for (size_t i = 0; i < b->in->n_nodes; i++) {
        const struct tby_routes_node *node = &b->in->nodes[i];

        if (strcmp(node->name, b->in->node_name) == 0)
            continue;
        for (int family = 4; family <= 6; family += 2)
            if (b->plan->vxlan[fam_index(family)].wanted &&
                (r = plan_vtep(b, node, family)) < 0)
                return r;
    }
    return 0;
}

/* ---- sorting and duplicates ------------------------------------------------------------- */

static int route_order(const void *pa, const void *pb)
{
    const struct tby_route *a = pa, *b = pb;
    int c = tby_cidr_compare(&a->dst, &b->dst);

    return c ? c : (int)a->kind - (int)b->kind; /* a local workload wins over the rest */
}

static bool route_same(const struct tby_route *a, const struct tby_route *b)
{
    return a->kind == b->kind && tby_ip_equal(&a->gateway, &b->gateway) &&
           strcmp(a->ifname, b->ifname) == 0;
}

/* One route per destination: the first after sorting. */
static int dedup_routes(struct builder *b)
{
    struct tby_routes_plan *plan = b->plan;
    size_t kept = 0;
    int r;

    if (plan->n_routes)
        qsort(plan->routes, plan->n_routes, sizeof(*plan->routes), route_order);
    for (size_t i = 0; i < plan->n_routes; i++) {
        const struct tby_route *prev = kept ? &plan->routes[kept - 1] : NULL;
        const struct tby_route *cur = &plan->routes[i];
        char a[TBY_ROUTE_STRLEN], c[TBY_ROUTE_STRLEN];

        if (!prev || !tby_cidr_equal(&prev->dst, &cur->dst)) {
            plan->routes[kept++] = *cur;
            continue;
        }
        if (!route_same(prev, cur) &&
            (r = warn(b, "two routes for one destination: keeping \"%s\", not \"%s\"",
                      tby_route_format(prev, a), tby_route_format(cur, c))) < 0)
            return r;
    }
    plan->n_routes = kept;
    return 0;
}

static int vtep_order(const void *pa, const void *pb)
{
    const struct tby_vtep *a = pa, *b = pb;

    return tby_ip_compare(&a->tunnel_addr, &b->tunnel_addr);
}

/* Two VTEPs may share neither a tunnel address (one ARP entry) nor a MAC (one FDB
 * entry): the later ones in name order are dropped. */
static const struct tby_vtep *vtep_clash(const struct tby_routes_plan *plan, size_t kept,
                                         const struct tby_vtep *v)
{
    for (size_t i = 0; i < kept; i++) {
        const struct tby_vtep *k = &plan->vteps[i];

        if (k->tunnel_addr.family == v->tunnel_addr.family &&
            (tby_ip_equal(&k->tunnel_addr, &v->tunnel_addr) || !memcmp(k->mac, v->mac, 6)))
            return k;
    }
    return NULL;
}

static int dedup_vteps(struct builder *b)
{
    struct tby_routes_plan *plan = b->plan;
    size_t kept = 0;
    int r = 0;

    for (size_t i = 0; i < plan->n_vteps; i++) {
        struct tby_vtep *v = &plan->vteps[i];
        const struct tby_vtep *k = vtep_clash(plan, kept, v);

        if (!k) {
            plan->vteps[kept++] = *v;
            continue;
        }
        if (r == 0)
            r = warn(b, "nodes %s and %s share a VXLAN tunnel address or MAC: %s is left out",
                     k->node, v->node, v->node);
        free(v->node);
    }
    plan->n_vteps = kept;
    if (kept)
        qsort(plan->vteps, kept, sizeof(*plan->vteps), vtep_order);
    return r;
}

/* ---- the plan ---------------------------------------------------------------------------- */

/* FelixConfiguration's settings of the devices. */
static void plan_devices(const struct tby_routes_input *in, struct tby_routes_plan *plan)
{
    for (int fi = 0; fi < 2; fi++) {
        plan->vxlan[fi].vni = in->vxlan_vni ? in->vxlan_vni : TBY_VXLAN_VNI;
        plan->vxlan[fi].port = in->vxlan_port ? in->vxlan_port : TBY_VXLAN_PORT;
        plan->vxlan[fi].mtu = in->vxlan_mtu[fi];
    }
    plan->ipip_mtu = in->ipip_mtu;
}

/* ipv6Support false: nothing of IPv6 is routed, as Felix without IPv6 routes nothing. */
static void drop_ipv6(struct tby_routes_plan *plan)
{
    size_t kept = 0;

    for (size_t i = 0; i < plan->n_routes; i++)
        if (plan->routes[i].dst.ip.family != 6)
            plan->routes[kept++] = plan->routes[i];
    plan->n_routes = kept;
    kept = 0;
    for (size_t i = 0; i < plan->n_vteps; i++) {
        if (plan->vteps[i].tunnel_addr.family == 6)
            free(plan->vteps[i].node);
        else
            plan->vteps[kept++] = plan->vteps[i];
    }
    plan->n_vteps = kept;
    plan->vxlan[1].wanted = false;
}

int tby_routes_plan(const struct tby_routes_input *in, struct tby_routes_plan *out,
                    struct tby_error *err)
{
    struct builder b = { .in = in, .plan = out };
    int r;

    memset(out, 0, sizeof(*out));
    if (!in->node_name || !*in->node_name)
        return tby_error_set(err, -EINVAL, "routes: this node's name is not set");
    b.self = find_node(in, in->node_name);
    if ((r = plan_self(&b)) < 0 || (r = plan_routes(&b)) < 0 || (r = plan_vteps(&b)) < 0 ||
        (r = dedup_routes(&b)) < 0 || (r = dedup_vteps(&b)) < 0) {
        tby_routes_plan_clear(out);
        return tby_error_set(err, r, "routes: out of memory planning routes");
    }
    plan_devices(in, out);
    if (in->no_ipv6)
        drop_ipv6(out);
    return 0;
}

void tby_routes_plan_clear(struct tby_routes_plan *plan)
{
    for (size_t i = 0; i < plan->n_vteps; i++)
        free(plan->vteps[i].node);
    free(plan->vteps);
    free(plan->routes);
    free(plan->ipip_pool);
    tby_strv_clear(&plan->warnings);
    memset(plan, 0, sizeof(*plan));
}

int tby_routes_plan_copy(struct tby_routes_plan *dst, const struct tby_routes_plan *src)
{
    struct tby_routes_plan copy = *src;

    copy.warnings = (struct tby_strv){ 0 };
    copy.routes = NULL;
    copy.vteps = NULL;
    copy.ipip_pool = NULL;
    copy.n_vteps = 0;
    tby_routes_plan_clear(dst);
    if (src->n_routes) {
        if (!(copy.routes = reallocarray(NULL, src->n_routes, sizeof(*copy.routes))))
            goto oom;
        memcpy(copy.routes, src->routes, src->n_routes * sizeof(*copy.routes));
    }
    if (src->ipip_pool && !(copy.ipip_pool = strdup(src->ipip_pool)))
        goto oom;
    if (src->n_vteps && !(copy.vteps = calloc(src->n_vteps, sizeof(*copy.vteps))))
        goto oom;
    for (; copy.n_vteps < src->n_vteps; copy.n_vteps++) {
        copy.vteps[copy.n_vteps] = src->vteps[copy.n_vteps];
        if (!(copy.vteps[copy.n_vteps].node = strdup(src->vteps[copy.n_vteps].node)))
            goto oom;
    }
    *dst = copy;
    return 0;
oom:
    tby_routes_plan_clear(&copy);
    return -ENOMEM;
}

/* ---- text -------------------------------------------------------------------------------- */

char *tby_route_format(const struct tby_route *route, char *buf)
{
    char dst[TBY_CIDR_STRLEN], gw[TBY_IP_STRLEN];
    const char *vxlan = route->dst.ip.family == 6 ? TBY_VXLAN6_DEVICE : TBY_VXLAN_DEVICE;

    tby_cidr_format(&route->dst, dst);
    tby_ip_format(&route->gateway, gw);
    switch (route->kind) {
    case TBY_ROUTE_WORKLOAD:
        snprintf(buf, TBY_ROUTE_STRLEN, "%s dev %s scope link", dst, route->ifname);
        break;
    case TBY_ROUTE_VXLAN:
        snprintf(buf, TBY_ROUTE_STRLEN, "%s via %s dev %s onlink", dst, gw, vxlan);
        break;
    case TBY_ROUTE_DIRECT:
        snprintf(buf, TBY_ROUTE_STRLEN, "%s via %s", dst, gw);
        break;
    case TBY_ROUTE_IPIP:
        snprintf(buf, TBY_ROUTE_STRLEN, "%s via %s dev %s onlink", dst, gw, TBY_IPIP_DEVICE);
        break;
    case TBY_ROUTE_BLACKHOLE:
        snprintf(buf, TBY_ROUTE_STRLEN, "blackhole %s", dst);
        break;
    }
    return buf;
}

/* ---- MACs --------------------------------------------------------------------------------- */

void tby_vxlan_mac_for_node(const char *node_name, int family, uint8_t mac[6])
{
    /* A node's name has at most 253 characters (a DNS subdomain, as Kubernetes names
     * nodes); a longer one is hashed cut short, the same on every node. */
    char hashed[300];
    uint8_t digest[TBY_SHA1_LEN];
    int len = snprintf(hashed, sizeof(hashed), "%s%s", node_name, family == 6 ? "-v6" : "");

    tby_sha1(hashed, len < (int)sizeof(hashed) ? (size_t)len : sizeof(hashed) - 1, digest);
    mac[0] = 0x66;
    memcpy(mac + 1, digest, 5);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

int tby_mac_parse(const char *text, uint8_t mac[6])
{
    if (strlen(text) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        const char *p = text + 3 * i;
        int hi = hex_digit(p[0]), lo = hex_digit(p[1]);

        if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':'))
            return -EINVAL;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

char *tby_mac_format(const uint8_t mac[6], char *buf)
{
    snprintf(buf, TBY_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
             mac[3], mac[4], mac[5]);
    return buf;
}

/* ---- natOutgoing --------------------------------------------------------------------------- */

static int cidr_push(struct tby_cidr_list *list, const struct tby_cidr *cidr)
{
    struct tby_cidr *grown = reallocarray(list->items, list->n + 1, sizeof(*grown));

    if (!grown)
        return -ENOMEM;
    list->items = grown;
    list->items[list->n++] = *cidr;
    return 0;
}

int tby_routes_nat_cidrs(const struct tby_routes_pool *pools, size_t n_pools,
                         struct tby_nat_cidrs *out)
{
    int r = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n_pools && r == 0; i++) {
        const struct tby_ippool *p = pools[i].spec;

        r = cidr_push(&out->pools, &p->cidr);
        if (r == 0 && p->nat_outgoing)
            r = cidr_push(&out->masquerade, &p->cidr);
    }
    if (r < 0)
        tby_nat_cidrs_clear(out);
    return r;
}

void tby_nat_cidrs_clear(struct tby_nat_cidrs *cidrs)
{
    free(cidrs->masquerade.items);
    free(cidrs->pools.items);
    memset(cidrs, 0, sizeof(*cidrs));
}
