/* autodetect_kernel.c — IP autodetection against this network namespace: its interfaces
 * and addresses for the enumerating methods, a route lookup for can-reach. */
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <linux/rtnetlink.h>
#include <netlink/netlink.h>

#include "tabby/nl.h"
#include "autodetect_method.h"

/* This namespace's addresses, read once. Only interfaces holding an address can give one,
 * so the links are looked up one by one from the addresses rather than all dumped: a node
 * with 10,000 pods has 20,000 links and a handful of addresses. */
struct snapshot {
    struct nl_sock *sock;
    int kernel_errno;
    struct nl_cache *addrs;
};

static void snapshot_clear(struct snapshot *s)
{
    if (s->addrs)
        nl_cache_free(s->addrs);
    if (s->sock)
        nl_socket_free(s->sock);
}

static int snapshot_read(struct snapshot *s, struct tby_error *err)
{
    int rc;

    memset(s, 0, sizeof(*s));
    if (!(s->sock = nl_socket_alloc()))
        return tby_error_set(err, -ENOMEM, "out of memory");
    tby_nl_keep_errno(s->sock, &s->kernel_errno);
    if ((rc = nl_connect(s->sock, NETLINK_ROUTE)) < 0 ||
        (rc = rtnl_addr_alloc_cache(s->sock, &s->addrs)) < 0) {
        rc = tby_nl_errno(rc);
        return tby_error_set(err, rc, "IP autodetection: cannot read the interfaces: %s",
                             strerror(-rc));
    }
    return 0;
}

/* ---- the enumerating methods ----------------------------------------------------------- */

struct iface_list {
    struct tby_autodetect_iface *items;
    size_t n;
    struct tby_cidr *addrs;
    char (*names)[IFNAMSIZ];
};

static bool global_scope(struct rtnl_addr *a)
{
    return rtnl_addr_get_scope(a) == RT_SCOPE_UNIVERSE;
}

static int by_int(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;

    return (a > b) - (a < b);
}

/* Global-scope addresses of one link, appended at addrs + *used. */
static void collect_addrs(const struct snapshot *s, int ifindex, struct tby_cidr *addrs,
                          size_t *used)
{
    for (struct nl_object *o = nl_cache_get_first(s->addrs); o; o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;

        if (rtnl_addr_get_ifindex(a) == ifindex && global_scope(a) &&
            tby_nl_addr_to_cidr(rtnl_addr_get_local(a), &addrs[*used]) == 0)
            (*used)++;
    }
}

/* The indexes of the links holding a global-scope address, in order, each once. */
static size_t holders(const struct snapshot *s, int *idx)
{
    size_t n = 0, k = 0;

    for (struct nl_object *o = nl_cache_get_first(s->addrs); o; o = nl_cache_get_next(o))
        if (global_scope((struct rtnl_addr *)o))
            idx[n++] = rtnl_addr_get_ifindex((struct rtnl_addr *)o);
    qsort(idx, n, sizeof(*idx), by_int);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || idx[k - 1] != idx[i])
            idx[k++] = idx[i];
    return k;
}

/* The interfaces holding a global address in index order, each with its addresses in the
 * kernel's order; one gone meanwhile is left out. */
static int list_ifaces(const struct snapshot *s, struct iface_list *out)
{
    size_t n_addrs = (size_t)nl_cache_nitems(s->addrs), used = 0, n;
    _cleanup_free_ int *idx = calloc(n_addrs + 1, sizeof(*idx));

    out->items = calloc(n_addrs + 1, sizeof(*out->items));
    out->addrs = calloc(n_addrs + 1, sizeof(*out->addrs));
    out->names = calloc(n_addrs + 1, sizeof(*out->names));
    if (!idx || !out->items || !out->addrs || !out->names)
        return -ENOMEM;
    n = holders(s, idx);
    for (size_t i = 0; i < n; i++) {
        _cleanup_nl_link_ struct rtnl_link *link = NULL;
        struct tby_autodetect_iface *iface = &out->items[out->n];
        size_t first = used;

        if (rtnl_link_get_kernel(s->sock, idx[i], NULL, &link) < 0 || !rtnl_link_get_name(link))
            continue;
        snprintf(out->names[out->n], IFNAMSIZ, "%s", rtnl_link_get_name(link));
        iface->name = out->names[out->n];
        iface->up = rtnl_link_get_flags(link) & IFF_UP;
        collect_addrs(s, idx[i], out->addrs, &used);
        iface->addrs = out->addrs + first;
        iface->n_addrs = used - first;
        out->n++;
    }
    return 0;
}

static int enumerate(const struct tby_autodetect *m, int family, const struct snapshot *s,
                     struct tby_autodetect_result *out, struct tby_error *err)
{
    struct iface_list list = { 0 };
    int rc = list_ifaces(s, &list);

    if (rc == 0)
        rc = tby_autodetect_choose(m, family, list.items, list.n, out, err);
    else
        tby_error_set(err, rc, "out of memory");
    free(list.items);
    free(list.addrs);
    free(list.names);
    return rc;
}

/* ---- can-reach ----------------------------------------------------------------------- */

static int resolve_target(const struct tby_autodetect *m, int family, struct tby_ip *ip,
                          struct tby_error *err)
{
    struct addrinfo hints = { .ai_family = tby_nl_af(family), .ai_socktype = SOCK_DGRAM };
    struct addrinfo *res = NULL;
    int rc;

    if (tby_ip_parse(m->target, ip, NULL) == 0) {
        if (ip->family == family)
            return 0;
        return tby_error_set(err, -EINVAL, "IP autodetection method \"%s\": %s is not an "
                             "IPv%d address", m->text, m->target, family);
    }
    if ((rc = getaddrinfo(m->target, NULL, &hints, &res)) != 0)
        return tby_error_set(err, -EHOSTUNREACH, "IP autodetection method \"%s\": cannot "
                             "resolve %s to an IPv%d address: %s", m->text, m->target, family,
                             gai_strerror(rc));
    memset(ip, 0, sizeof(*ip));
    ip->family = (uint8_t)family;
    if (family == 4)
        memcpy(ip->bytes, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
    else
        memcpy(ip->bytes, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, 16);
    freeaddrinfo(res);
    return 0;
}

/* The address `src` with its prefix length, and its interface. */
static int describe_source(const struct snapshot *s, const struct tby_ip *src,
                           struct tby_autodetect_result *out)
{
    for (struct nl_object *o = nl_cache_get_first(s->addrs); o; o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;
        const char *name;

        if (!tby_nl_addr_is_ip(rtnl_addr_get_local(a), src))
            continue;
        name = if_indextoname((unsigned)rtnl_addr_get_ifindex(a), out->ifname);
        out->address.ip = *src;
        out->address.prefix_len = (uint8_t)rtnl_addr_get_prefixlen(a);
        return name ? 0 : -ENODEV;
    }
    return -ENOENT;
}

static int can_reach(const struct tby_autodetect *m, int family, struct snapshot *s,
                     struct tby_autodetect_result *out, struct tby_error *err)
{
    _cleanup_nl_route_ struct rtnl_route *route = NULL;
    _cleanup_nl_addr_ struct nl_addr *dst = NULL;
    struct tby_cidr src;
    struct tby_ip target;
    char buf[TBY_IP_STRLEN];
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = resolve_target(m, family, &target, err)) < 0)
        return rc;
    if (!(dst = tby_nl_addr_from_ip(&target, tby_ip_bits(&target))))
        return tby_error_set(err, -ENOMEM, "out of memory");
    if ((rc = rtnl_route_lookup(s->sock, dst, &route)) < 0) {
        rc = tby_nl_errno_kept(rc, &s->kernel_errno);
        return tby_error_set(err, rc, "IP autodetection method \"%s\": no route to %s: %s",
                             m->text, tby_ip_format(&target, buf), strerror(-rc));
    }
    if (tby_nl_addr_to_cidr(rtnl_route_get_pref_src(route), &src) < 0)
        return tby_error_set(err, -EADDRNOTAVAIL, "IP autodetection method \"%s\": the kernel "
                             "names no source address towards %s", m->text,
                             tby_ip_format(&target, buf));
    if (describe_source(s, &src.ip, out) < 0)
        return tby_error_set(err, -EADDRNOTAVAIL, "IP autodetection method \"%s\": source "
                             "address %s is on no interface", m->text,
                             tby_ip_format(&src.ip, buf));
    return 0;
}

int tby_autodetect_run(const struct tby_autodetect *m, int family,
                       struct tby_autodetect_result *out, struct tby_error *err)
{
    struct snapshot s;
    int rc;

    memset(out, 0, sizeof(*out));
    if (family != 4 && family != 6)
        return tby_error_set(err, -EINVAL, "IP autodetection: family must be 4 or 6, not %d",
                             family);
    if ((rc = snapshot_read(&s, err)) == 0)
        rc = m->kind == AUTODETECT_CAN_REACH ? can_reach(m, family, &s, out, err)
                                              : enumerate(m, family, &s, out, err);
    snapshot_clear(&s);
    return rc;
}
