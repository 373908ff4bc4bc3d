/* host_addrs.h — the addresses this network namespace's interfaces hold, and a netlink
 * socket that says when they change: what resolves a HostEndpoint given by its
 * expectedIPs alone to the interface holding one of them, as Felix does.
 *
 * In lib/netlink/libtabby-netlink.la (libnl-route-3). Owns: the array tby_host_addrs_read
 * returns (the caller frees it with free()), and struct tby_host_addrs_watch (freed with
 * tby_host_addrs_watch_free).
 */
#ifndef TABBY_HOST_ADDRS_H
#define TABBY_HOST_ADDRS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/net.h"

/* One address of one interface. */
struct tby_host_addr {
    char ifname[IFNAMSIZ];
    struct tby_ip ip;
};

/* Every IPv4 and IPv6 address of this namespace's interfaces, as Felix takes them: the
 * destinations of the local routes of table local, by the interface they go out by
 * (loopback's too; up or down; an IPv6 address still tentative has none), sorted by
 * interface name then address. -errno with err filled. */
int tby_host_addrs_read(struct tby_host_addr **out, size_t *n, struct tby_error *err);

/* A socket told of every address, link and route change (RTNLGRP_IPV4_IFADDR,
 * _IPV6_IFADDR, _LINK, _IPV4_ROUTE, _IPV6_ROUTE). -errno with err filled. */
struct tby_host_addrs_watch;
int tby_host_addrs_watch_open(struct tby_host_addrs_watch **out, struct tby_error *err);
void tby_host_addrs_watch_free(struct tby_host_addrs_watch *w);
TBY_DEFINE_FREEP(struct tby_host_addrs_watch, tby_host_addrs_watch_free)
int tby_host_addrs_watch_fd(const struct tby_host_addrs_watch *w);
/* Reads what waits on the socket, never blocking: true when something came that may
 * change the addresses (a link, an address, a local route of table local), or the socket
 * overflowed: read them again. */
bool tby_host_addrs_watch_drain(struct tby_host_addrs_watch *w);

#endif
