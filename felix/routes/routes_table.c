/* routes_table.c — the plan's routes against the main table: add what is missing,
 * replace what is ours but wrong, delete what is ours but no longer wanted, and leave
 * every other route alone. Ours means protocol TBY_ROUTES_PROTO. */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/rtnetlink.h>

#include "tabby/log.h"
#include "tabby/nl.h"
#include "routes_kernel.h"

/* The kernel's key for a route is (table, destination, tos, metric); IPv6 turns metric 0
 * into 1024, so that is what tabby asks for. */
static uint32_t our_metric(int family)
{
    return family == 6 ? 1024 : 0;
}

/* A main-table route that is ours, or that sits on a key ours could want. */
struct kroute {
    struct rtnl_route *route;   /* borrowed from the cache */
    struct tby_cidr dst;
    uint32_t metric;
    bool ours;
    bool wanted;
};

struct table {
    struct kroute *items;
    size_t n;
};

static int kroute_order(const void *pa, const void *pb)
{
    const struct kroute *a = pa, *b = pb;
    int c = tby_cidr_compare(&a->dst, &b->dst);

    if (c)
        return c;
    return a->metric < b->metric ? -1 : a->metric > b->metric;
}

static bool collectable(struct rtnl_route *rt, struct kroute *k)
{
    if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || rtnl_route_get_tos(rt) != 0 ||
        tby_nl_addr_to_cidr(rtnl_route_get_dst(rt), &k->dst) < 0)
        return false;
    k->route = rt;
    k->metric = rtnl_route_get_priority(rt);
    k->ours = rtnl_route_get_protocol(rt) == TBY_ROUTES_PROTO;
    k->wanted = false;
    return k->ours || k->metric == our_metric(k->dst.ip.family);
}

static int table_read(struct table *t, struct nl_cache *cache)
{
    int n = nl_cache_nitems(cache);

    t->n = 0;
    if (!(t->items = calloc((size_t)n + 1, sizeof(*t->items))))
        return -ENOMEM;
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o))
        if (collectable((struct rtnl_route *)o, &t->items[t->n]))
            t->n++;
    qsort(t->items, t->n, sizeof(*t->items), kroute_order);
    return 0;
}

static struct kroute *table_find(struct table *t, const struct tby_cidr *dst)
{
    struct kroute key = { .dst = *dst, .metric = our_metric(dst->ip.family) };

    return bsearch(&key, t->items, t->n, sizeof(*t->items), kroute_order);
}

/* ---- the wanted route in the kernel's terms ------------------------------------------- */

/* A device's index by name, asked of the kernel (SIOCGIFINDEX, one call each) rather than
 * looked up in a dump of every link: 10,000 local workloads mean 20,000 links with their
 * veths' peers, whose dump was ~12% of a restart's CPU (and libnl's rtnl_link_name2i over
 * that dump, a walk of every link per route, ~70% before that). 0 when it is not there. */
static int ifindex_of(const struct routes_run *run, const char *name)
{
    struct ifreq ifr = { 0 };
    size_t len = strlen(name);

    if (run->ifq < 0 || len >= IFNAMSIZ)
        return 0;
    memcpy(ifr.ifr_name, name, len);
    return ioctl(run->ifq, SIOCGIFINDEX, &ifr) == 0 ? ifr.ifr_ifindex : 0;
}

/* The device a planned route goes through; 0 when it is not there (yet). */
static int route_oif(const struct routes_run *run, const struct tby_route *want)
{
    int fi = want->dst.ip.family == 6;

    switch (want->kind) {
    case TBY_ROUTE_WORKLOAD:
        return ifindex_of(run, want->ifname);
    case TBY_ROUTE_VXLAN:
        return run->vxlan[fi];
    case TBY_ROUTE_DIRECT:
        return run->uplink[fi];
    case TBY_ROUTE_IPIP:
        return run->ipip;
    case TBY_ROUTE_BLACKHOLE:
        break;
    }
    return 0;
}

static int add_nexthop(struct rtnl_route *rt, const struct tby_route *want, int oif)
{
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    _cleanup_nl_addr_ struct nl_addr *gw = NULL;

    if (!nh)
        return -ENOMEM;
    rtnl_route_nh_set_ifindex(nh, oif);
    if (want->kind != TBY_ROUTE_WORKLOAD) {
        if (!(gw = tby_nl_addr_from_ip(&want->gateway, tby_ip_bits(&want->gateway)))) {
            rtnl_route_nh_free(nh);
            return -ENOMEM;
        }
        rtnl_route_nh_set_gateway(nh, gw);
    }
    /* Onlink: the tunnel's far end is on no subnet of the tunnel device. */
    if (want->kind == TBY_ROUTE_VXLAN || want->kind == TBY_ROUTE_IPIP)
        rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
    rtnl_route_add_nexthop(rt, nh);
    return 0;
}

/* The route as the kernel should hold it; *out stays NULL while its device is missing. */
static int route_build(const struct routes_run *run, const struct tby_route *want,
                       struct rtnl_route **out)
{
    _cleanup_nl_route_ struct rtnl_route *rt = rtnl_route_alloc();
    _cleanup_nl_addr_ struct nl_addr *dst = tby_nl_addr_from_cidr(&want->dst);
    bool blackhole = want->kind == TBY_ROUTE_BLACKHOLE;
    int oif = blackhole ? 0 : route_oif(run, want);

    *out = NULL;
    if (!rt || !dst)
        return -ENOMEM;
    if (!blackhole && oif <= 0)
        return 0;
    rtnl_route_set_family(rt, (uint8_t)tby_nl_af(want->dst.ip.family));
    rtnl_route_set_table(rt, RT_TABLE_MAIN);
    rtnl_route_set_protocol(rt, TBY_ROUTES_PROTO);
    rtnl_route_set_priority(rt, our_metric(want->dst.ip.family));
    rtnl_route_set_dst(rt, dst);
    rtnl_route_set_type(rt, blackhole ? RTN_BLACKHOLE : RTN_UNICAST);
    rtnl_route_set_scope(rt, want->kind == TBY_ROUTE_WORKLOAD ? RT_SCOPE_LINK
                                                              : RT_SCOPE_UNIVERSE);
    if (!blackhole && add_nexthop(rt, want, oif) < 0)
        return -ENOMEM;
    *out = TBY_STEAL(rt);
    return 0;
}

static bool nexthop_equal(struct rtnl_route *a, struct rtnl_route *b)
{
    struct rtnl_nexthop *x, *y;
    struct nl_addr *gx, *gy;

    if (rtnl_route_get_nnexthops(a) != 1 || rtnl_route_get_nnexthops(b) != 1)
        return false;
    x = rtnl_route_nexthop_n(a, 0);
    y = rtnl_route_nexthop_n(b, 0);
    gx = rtnl_route_nh_get_gateway(x);
    gy = rtnl_route_nh_get_gateway(y);
    return rtnl_route_nh_get_ifindex(x) == rtnl_route_nh_get_ifindex(y) &&
           (!gx == !gy) && (!gx || nl_addr_cmp(gx, gy) == 0) &&
           ((rtnl_route_nh_get_flags(x) ^ rtnl_route_nh_get_flags(y)) & RTNH_F_ONLINK) == 0;
}

/* Whether the kernel's route does what the wanted one would. IPv6 has no route scopes
 * and gives blackholes a device (lo) of its own choosing. */
static bool route_equal(struct rtnl_route *have, struct rtnl_route *want)
{
    if (rtnl_route_get_type(have) != rtnl_route_get_type(want))
        return false;
    if (rtnl_route_get_family(want) == AF_INET &&
        rtnl_route_get_scope(have) != rtnl_route_get_scope(want))
        return false;
    return rtnl_route_get_type(want) == RTN_BLACKHOLE || nexthop_equal(have, want);
}

/* ---- writing ------------------------------------------------------------------------------ */

enum route_op { ROUTE_ADD, ROUTE_REPLACE, ROUTE_DELETE };

static void route_write(struct routes_run *run, struct rtnl_route *rt, enum route_op op,
                        const char *text, unsigned *count)
{
    static const char *const verb[] = { "add", "replace", "delete" };
    static const char *const done[] = { "added", "replaced", "deleted" };
    /* Adding never takes a key over: a route that appeared meanwhile is someone's. */
    int flags = NLM_F_CREATE | (op == ROUTE_ADD ? NLM_F_EXCL : NLM_F_REPLACE);
    int rc = op == ROUTE_DELETE ? rtnl_route_delete(run->r->sock, rt, 0)
                                : rtnl_route_add(run->r->sock, rt, flags);

    if (rc < 0) {
        rc = routes_errno(run, rc);
        routes_fail(run, rc, "routes: cannot %s route %s: %s", verb[op], text, strerror(-rc));
        return;
    }
    (*count)++;
    tby_log(TBY_LOG_INFO, "routes", "route %s route=\"%s\"", done[op], text);
}

static void sync_route(struct routes_run *run, struct table *t, const struct tby_route *want)
{
    _cleanup_nl_route_ struct rtnl_route *rt = NULL;
    struct kroute *have = table_find(t, &want->dst);
    char text[TBY_ROUTE_STRLEN];

    tby_route_format(want, text);
    if (route_build(run, want, &rt) < 0) {
        routes_fail(run, -ENOMEM, "routes: out of memory");
        return;
    }
    if (have)
        have->wanted = true;
    if (!rt) {
        run->st->routes_pending++;
        tby_log(TBY_LOG_DEBUG, "routes", "route waits for its device route=\"%s\"", text);
    } else if (!have) {
        route_write(run, rt, ROUTE_ADD, text, &run->st->routes_added);
    } else if (route_equal(have->route, rt)) {
        run->st->routes_adopted += !have->ours;
    } else if (have->ours) {
        route_write(run, rt, ROUTE_REPLACE, text, &run->st->routes_replaced);
    } else {
        run->st->routes_conflicting++;
        tby_log(TBY_LOG_WARNING, "routes", "destination held by a route tabby did not make, "
                "left alone proto=%u route=\"%s\"", rtnl_route_get_protocol(have->route), text);
    }
}

static void delete_unwanted(struct routes_run *run, struct table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        char text[TBY_CIDR_STRLEN + 16];

        if (!t->items[i].ours || t->items[i].wanted)
            continue;
        tby_cidr_format(&t->items[i].dst, text);
        route_write(run, t->items[i].route, ROUTE_DELETE, text, &run->st->routes_deleted);
    }
}

int routes_table(struct routes_run *run)
{
    _cleanup_nl_cache_ struct nl_cache *cache = NULL;
    struct table t = { 0 };
    int rc = rtnl_route_alloc_cache(run->r->sock, AF_UNSPEC, 0, &cache);

    if (rc < 0) {
        rc = routes_errno(run, rc);
        return routes_fail(run, rc, "routes: cannot read the routing table: %s", strerror(-rc));
    }
    if (table_read(&t, cache) < 0) {
        free(t.items);
        return routes_fail(run, -ENOMEM, "routes: out of memory");
    }
    if ((run->ifq = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
        rc = -errno;
        free(t.items);
        return routes_fail(run, rc, "routes: cannot open a socket to find devices: %s",
                           strerror(-rc));
    }
    for (size_t i = 0; i < run->plan->n_routes; i++)
        sync_route(run, &t, &run->plan->routes[i]);
    delete_unwanted(run, &t);
    close(run->ifq);
    run->ifq = -1;
    free(t.items);
    return 0;
}
