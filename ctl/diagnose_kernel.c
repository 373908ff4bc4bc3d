/* diagnose_kernel.c — what this network namespace holds, read once through rtnetlink
 * (libnl-route-3) into plain arrays the checks search: links (name, MTU, up, kind),
 * addresses, the main table's routes, and the neighbours (ARP/ND entries and bridge FDB
 * entries, which the VXLAN device keeps). Only dumps: nothing is changed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/nl.h"
#include "diagnose.h"

/* linux/if.h's, which cannot be included beside net/if.h */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

TBY_DEFINE_FREEP(struct nl_sock, nl_socket_free)

static int read_links(struct diag_kernel *k, struct nl_cache *cache)
{
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        struct rtnl_link *l = (struct rtnl_link *)o;
        const char *kind = rtnl_link_get_type(l);
        struct diag_link *d;

        if (TBY_GROW(k->links, k->cap_links, k->n_links + 1) < 0)
            return -ENOMEM;
        d = &k->links[k->n_links++];
        *d = (struct diag_link){ .index = rtnl_link_get_ifindex(l), .mtu = rtnl_link_get_mtu(l),
                                 .up = rtnl_link_get_flags(l) & IFF_UP,
                                 .lower_up = rtnl_link_get_flags(l) & IFF_LOWER_UP };
        snprintf(d->name, sizeof(d->name), "%s", rtnl_link_get_name(l));
        snprintf(d->kind, sizeof(d->kind), "%s", kind ? kind : "");
    }
    return 0;
}

static int read_addrs(struct diag_kernel *k, struct nl_cache *cache)
{
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;
        struct tby_cidr c;

        if (tby_nl_addr_to_cidr(rtnl_addr_get_local(a), &c) < 0)
            continue;
        if (TBY_GROW(k->addrs, k->cap_addrs, k->n_addrs + 1) < 0)
            return -ENOMEM;
        k->addrs[k->n_addrs++] = (struct diag_addr){ rtnl_addr_get_ifindex(a), c.ip };
    }
    return 0;
}

static enum diag_route_type route_type(uint8_t type)
{
    switch (type) {
    case RTN_UNICAST:
        return DIAG_ROUTE_UNICAST;
    case RTN_BLACKHOLE:
        return DIAG_ROUTE_BLACKHOLE;
    case RTN_UNREACHABLE:
    case RTN_PROHIBIT:
        return DIAG_ROUTE_UNREACHABLE;
    default:
        return DIAG_ROUTE_OTHER;
    }
}

static int read_routes(struct diag_kernel *k, struct nl_cache *cache)
{
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        struct rtnl_route *rt = (struct rtnl_route *)o;
        struct rtnl_nexthop *nh = rtnl_route_get_nnexthops(rt) ? rtnl_route_nexthop_n(rt, 0)
                                                                : NULL;
        struct tby_cidr gw;
        struct diag_route *d;

        if (rtnl_route_get_table(rt) != RT_TABLE_MAIN)
            continue;
        if (TBY_GROW(k->routes, k->cap_routes, k->n_routes + 1) < 0)
            return -ENOMEM;
        d = &k->routes[k->n_routes];
        *d = (struct diag_route){ .type = route_type(rtnl_route_get_type(rt)),
                                  .protocol = rtnl_route_get_protocol(rt) };
        if (tby_nl_addr_to_cidr(rtnl_route_get_dst(rt), &d->dst) < 0)
            continue;
        if (nh) {
            d->oif = rtnl_route_nh_get_ifindex(nh);
            d->has_gateway = tby_nl_addr_to_cidr(rtnl_route_nh_get_gateway(nh), &gw) == 0;
            d->gateway = gw.ip;
        }
        k->n_routes++;
    }
    return 0;
}

static int read_neighs(struct diag_kernel *k, struct nl_cache *cache)
{
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        struct rtnl_neigh *n = (struct rtnl_neigh *)o;
        struct nl_addr *ll = rtnl_neigh_get_lladdr(n);
        struct tby_cidr ip;
        struct diag_neigh *d;

        if (tby_nl_addr_to_cidr(rtnl_neigh_get_dst(n), &ip) < 0)
            continue; /* an FDB entry without a remote end: not a VTEP's */
        if (TBY_GROW(k->neighs, k->cap_neighs, k->n_neighs + 1) < 0)
            return -ENOMEM;
        d = &k->neighs[k->n_neighs++];
        *d = (struct diag_neigh){ .ifindex = rtnl_neigh_get_ifindex(n),
                                  .fdb = rtnl_neigh_get_family(n) == AF_BRIDGE, .ip = ip.ip };
        if (ll && nl_addr_get_len(ll) == 6) {
            d->has_mac = true;
            memcpy(d->mac, nl_addr_get_binary_addr(ll), 6);
        }
    }
    return 0;
}

int diag_kernel_read(struct diag_kernel *k)
{
    _cleanup_(nl_socket_freep) struct nl_sock *sk = nl_socket_alloc();
    _cleanup_nl_cache_ struct nl_cache *links = NULL, *addrs = NULL, *routes = NULL,
                                       *neighs = NULL;
    const char *what = "connect";
    int rc;

    if (!sk)
        return -ENOMEM;
    rc = nl_connect(sk, NETLINK_ROUTE);
    if (rc == 0 && (what = "links", rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links)) == 0 &&
        (what = "addresses", rc = rtnl_addr_alloc_cache(sk, &addrs)) == 0 &&
        (what = "routes", rc = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes)) == 0)
        /* iterating the families is what brings the bridge FDB entries along */
        what = "neighbours", rc = rtnl_neigh_alloc_cache_flags(sk, &neighs, NL_CACHE_AF_ITER);
    if (rc < 0) {
        snprintf(k->error, sizeof(k->error), "reading %s: %s", what,
                 strerror(-tby_nl_errno(rc)));
        return tby_nl_errno(rc);
    }
    if ((rc = read_links(k, links)) < 0 || (rc = read_addrs(k, addrs)) < 0 ||
        (rc = read_routes(k, routes)) < 0 || (rc = read_neighs(k, neighs)) < 0) {
        snprintf(k->error, sizeof(k->error), "out of memory");
        return rc;
    }
    k->read = true;
    return 0;
}

void diag_kernel_clear(struct diag_kernel *k)
{
    free(k->links);
    free(k->addrs);
    free(k->routes);
    free(k->neighs);
    *k = (struct diag_kernel){ 0 };
}

const struct diag_link *diag_link_by_name(const struct diag_kernel *k, const char *name)
{
    for (size_t i = 0; name && i < k->n_links; i++)
        if (strcmp(k->links[i].name, name) == 0)
            return &k->links[i];
    return NULL;
}

const struct diag_link *diag_link_by_index(const struct diag_kernel *k, int index)
{
    for (size_t i = 0; i < k->n_links; i++)
        if (k->links[i].index == index)
            return &k->links[i];
    return NULL;
}

const struct diag_link *diag_link_with_ip(const struct diag_kernel *k, const struct tby_ip *ip)
{
    for (size_t i = 0; i < k->n_addrs; i++)
        if (tby_ip_equal(&k->addrs[i].ip, ip))
            return diag_link_by_index(k, k->addrs[i].ifindex);
    return NULL;
}

const struct diag_route *diag_route_covering(const struct diag_kernel *k,
                                             const struct tby_cidr *dst, bool allow_default)
{
    const struct diag_route *best = NULL;

    for (size_t i = 0; i < k->n_routes; i++) {
        const struct diag_route *r = &k->routes[i];

        if (r->type == DIAG_ROUTE_OTHER || (!allow_default && r->dst.prefix_len == 0) ||
            !tby_cidr_contains_cidr(&r->dst, dst))
            continue;
        if (!best || r->dst.prefix_len > best->dst.prefix_len)
            best = r;
    }
    return best;
}

bool diag_need_kernel(struct diag *d, const char *area, const char *check)
{
    if (d->kernel.read)
        return false;
    diag_add(&d->report, area, check, DIAG_WARN, "not checked: %s", d->kernel.error);
    return true;
}

char *diag_route_format(const struct diag_kernel *k, const struct diag_route *r, char *buf)
{
    static const char *const types[] = { "", "blackhole ", "unreachable ", "" };
    const struct diag_link *dev = diag_link_by_index(k, r->oif);
    char dst[TBY_CIDR_STRLEN], gw[TBY_IP_STRLEN];
    int n;

    n = snprintf(buf, DIAG_ROUTE_STRLEN, "%s%s", types[r->type],
                 r->dst.prefix_len ? tby_cidr_format(&r->dst, dst) : "default");
    if (r->has_gateway && n < DIAG_ROUTE_STRLEN)
        n += snprintf(buf + n, DIAG_ROUTE_STRLEN - (size_t)n, " via %s",
                      tby_ip_format(&r->gateway, gw));
    if (dev && n < DIAG_ROUTE_STRLEN)
        snprintf(buf + n, DIAG_ROUTE_STRLEN - (size_t)n, " dev %s", dev->name);
    return buf;
}
