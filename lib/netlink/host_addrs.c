/* host_addrs.c — this namespace's interfaces' addresses, and the socket telling of their
 * changes (host_addrs.h). The socket's messages are not parsed: any of them means "read
 * again", which is simpler than keeping a cache in step and costs one dump per change of
 * the node's addresses, which are rare. */
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

/* Names come from the kernel per address (SIOCGIFNAME) rather than from a dump of every
 * link: a node with 10,000 pods has 20,000 links and a handful of addresses that matter. */
static int collect(struct nl_cache *addrs, struct tby_host_addr **out, size_t *n)
{
    struct tby_host_addr *v = calloc((size_t)nl_cache_nitems(addrs) + 1, sizeof(*v));

    *out = v;
    *n = 0;
    if (!v)
        return -ENOMEM;
    for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;
        struct tby_cidr c;

        if (tby_nl_addr_to_cidr(rtnl_addr_get_local(a), &c) < 0 ||
            !if_indextoname((unsigned)rtnl_addr_get_ifindex(a), v[*n].ifname))
            continue;
        v[(*n)++].ip = c.ip;
    }
    qsort(v, *n, sizeof(*v), by_name_then_ip);
    return 0;
}

int tby_host_addrs_read(struct tby_host_addr **out, size_t *n, struct tby_error *err)
{
    _cleanup_nl_cache_ struct nl_cache *addrs = NULL;
    struct nl_sock *sock = nl_socket_alloc();
    int rc;

    *out = NULL;
    *n = 0;
    if (!sock)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if ((rc = nl_connect(sock, NETLINK_ROUTE)) < 0 ||
        (rc = rtnl_addr_alloc_cache(sock, &addrs)) < 0) {
        nl_socket_free(sock);
        rc = tby_nl_errno(rc);
        return tby_error_set(err, rc, "cannot read the interfaces' addresses: %s",
                             strerror(-rc));
    }
    nl_socket_free(sock);
    if (collect(addrs, out, n) < 0) {
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
                                        RTNLGRP_LINK, 0)) < 0 ||
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

bool tby_host_addrs_watch_drain(struct tby_host_addrs_watch *w)
{
    char buf[8192];
    bool came = false;
    ssize_t r;

    while ((r = recv(nl_socket_get_fd(w->sock), buf, sizeof(buf), MSG_DONTWAIT)) != 0) {
        if (r > 0) {
            came = true;
            continue;
        }
        if (errno == EINTR)
            continue;
        return came || errno == ENOBUFS; /* overflowed: something was lost */
    }
    return came;
}
