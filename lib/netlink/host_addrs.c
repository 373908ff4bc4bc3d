/* host_addrs.c — this namespace's interfaces' addresses, and the socket telling of their
 * changes (host_addrs.h). An interface's addresses are, as Felix's interface monitor takes
 * them, the destinations of the local routes (type local, table local) going out by it,
 * not the addresses configured on it: an IPv6 address still tentative (DAD pending, as on
 * an interface without carrier) or failed has no local route yet and is not the
 * interface's; one on a link set down keeps its local route (IPv4; the kernel removes the
 * IPv6 ones) and is. The link's state plays no part, as in Felix, which tracks a down
 * interface's addresses so as to police it before it comes up. The loopback's local
 * routes count like any other (127.0.0.0/8 too, as its network address). The socket's
 * messages are only sorted (tells_of_addrs): one that may change the addresses means
 * "read again", which is simpler than keeping a cache in step and costs one dump per
 * change of the node's addresses, which are rare; the other routes' changes are skipped. */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/rtnetlink.h>
#include <netlink/netlink.h>

#include "tabby/host_addrs.h"
#include "tabby/nl.h"

struct tby_host_addrs_watch {
    struct nl_sock *sock;
};

static int by_name_then_ip(const void *pa, const void *pb)
{
    const struct tby_host_addr *a = pa, *b = pb;
    int c = strcmp(a->ifname, b->ifname);

    return c ? c : memcmp(&a->ip, &b->ip, sizeof(a->ip));
}

/* The route's destination, when it is a local route of table local with an interface. */
static bool local_dst(struct rtnl_route *r, struct tby_cidr *c, int *ifindex)
{
    struct rtnl_nexthop *nh;

    if (rtnl_route_get_table(r) != RT_TABLE_LOCAL || rtnl_route_get_type(r) != RTN_LOCAL ||
        rtnl_route_get_nnexthops(r) < 1 || !(nh = rtnl_route_nexthop_n(r, 0)) ||
        (*ifindex = rtnl_route_nh_get_ifindex(nh)) <= 0)
        return false;
    return tby_nl_addr_to_cidr(rtnl_route_get_dst(r), c) == 0;
}

/* Names come from the kernel per route (if_indextoname) rather than from a dump of every
 * link: a node with 10,000 pods has 20,000 links and a handful of addresses that matter. */
static int collect(struct nl_cache *routes, struct tby_host_addr **out, size_t *n)
{
    struct tby_host_addr *v = calloc((size_t)nl_cache_nitems(routes) + 1, sizeof(*v));

    *out = v;
    *n = 0;
    if (!v)
        return -ENOMEM;
    for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
        struct tby_cidr c;
        int ifindex;

        if (!local_dst((struct rtnl_route *)o, &c, &ifindex) ||
            !if_indextoname((unsigned)ifindex, v[*n].ifname))
            continue;
        v[(*n)++].ip = c.ip;
    }
    qsort(v, *n, sizeof(*v), by_name_then_ip);
    return 0;
}

int tby_host_addrs_read(struct tby_host_addr **out, size_t *n, struct tby_error *err)
{
    _cleanup_nl_cache_ struct nl_cache *routes = NULL;
    struct nl_sock *sock = nl_socket_alloc();
    int rc;

    *out = NULL;
    *n = 0;
    if (!sock)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if ((rc = nl_connect(sock, NETLINK_ROUTE)) < 0 ||
        (rc = rtnl_route_alloc_cache(sock, AF_UNSPEC, 0, &routes)) < 0) {
        nl_socket_free(sock);
        rc = tby_nl_errno(rc);
        return tby_error_set(err, rc, "cannot read the interfaces' addresses: %s",
                             strerror(-rc));
    }
    nl_socket_free(sock);
    if (collect(routes, out, n) < 0) {
        free(*out);
        *out = NULL;
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

int tby_host_addrs_watch_open(struct tby_host_addrs_watch **out, struct tby_error *err)
{
    _cleanup_(tby_host_addrs_watch_freep) struct tby_host_addrs_watch *w = calloc(1, sizeof(*w));
    int rc;

    *out = NULL;
    if (!w || !(w->sock = nl_socket_alloc()))
        return tby_error_set(err, -ENOMEM, "out of memory");
    nl_socket_disable_seq_check(w->sock);
    if ((rc = nl_connect(w->sock, NETLINK_ROUTE)) < 0 ||
        (rc = nl_socket_add_memberships(w->sock, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
                                        RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
                                        0)) < 0 ||
        (rc = nl_socket_set_nonblocking(w->sock)) < 0) {
        rc = tby_nl_errno(rc);
        return tby_error_set(err, rc, "cannot watch the interfaces' addresses: %s",
                             strerror(-rc));
    }
    *out = TBY_STEAL(w);
    return 0;
}

void tby_host_addrs_watch_free(struct tby_host_addrs_watch *w)
{
    if (!w)
        return;
    if (w->sock)
        nl_socket_free(w->sock);
    free(w);
}

int tby_host_addrs_watch_fd(const struct tby_host_addrs_watch *w)
{
    return nl_socket_get_fd(w->sock);
}

/* Whether the messages in buf may change the addresses: a link's or an address's change,
 * or a local route's of table local (the kernel tells of an IPv6 address whose DAD is
 * done before it adds its local route). The other routes' are many and say nothing. */
static bool tells_of_addrs(const void *buf, size_t len)
{
    for (const struct nlmsghdr *h = buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        const struct rtmsg *rt = NLMSG_DATA(h);

        if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE)
            return true;
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*rt)) && rt->rtm_table == RT_TABLE_LOCAL &&
            rt->rtm_type == RTN_LOCAL)
            return true;
    }
    return false;
}

bool tby_host_addrs_watch_drain(struct tby_host_addrs_watch *w)
{
    union {
        struct nlmsghdr h;
        char bytes[8192];
    } buf;
    bool came = false;
    ssize_t r;

    while ((r = recv(nl_socket_get_fd(w->sock), &buf, sizeof(buf), MSG_DONTWAIT)) != 0) {
        if (r > 0) {
            came = came || tells_of_addrs(&buf, (size_t)r);
            continue;
        }
        if (errno == EINTR)
            continue;
        return came || errno == ENOBUFS; /* overflowed: something was lost */
    }
    return came;
}
