/* nl.h — tabby's side of libnl-route-3, for every program that talks rtnetlink (the
 * route manager of felix/routes/, IP autodetection, the CNI plugin's veths): tabby's
 * addresses (net.h) to libnl's struct nl_addr and back, libnl's error codes to errnos,
 * and scope cleanup for libnl objects.
 *
 * Lives in lib/netlink/libtabby-netlink.la, apart from lib/libtabby.la, so that only the
 * programs that use it need libnl. Owns nothing: the nl_addr values returned are new
 * references, which the caller puts (nl_addr_put, or a `_cleanup_nl_addr_` local).
 */
#ifndef TABBY_NL_H
#define TABBY_NL_H

#include <stdbool.h>
#include <stdint.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include "tabby/cleanup.h"
#include "tabby/net.h"

/* AF_INET or AF_INET6 for family 4 or 6. */
int tby_nl_af(int family);
/* An address with prefix length prefix_len; NULL when out of memory. */
struct nl_addr *tby_nl_addr_from_ip(const struct tby_ip *ip, unsigned prefix_len);
struct nl_addr *tby_nl_addr_from_cidr(const struct tby_cidr *cidr);
struct nl_addr *tby_nl_addr_from_mac(const uint8_t mac[6]);
/* An IPv4/IPv6 nl_addr (a zero-length one is the family's zero address, as libnl gives
 * for a default route). -EAFNOSUPPORT for other families or a NULL address. */
int tby_nl_addr_to_cidr(const struct nl_addr *addr, struct tby_cidr *out);
bool tby_nl_addr_is_ip(const struct nl_addr *addr, const struct tby_ip *ip);
bool tby_nl_addr_is_mac(const struct nl_addr *addr, const uint8_t mac[6]);
/* libnl's error codes are not errnos: the nearest errno, negative. */
int tby_nl_errno(int nl_error);
/* libnl folds several of the kernel's errnos (EHOSTUNREACH, ENETUNREACH, …) into one code
 * of its own. This makes the socket keep the kernel's errno of each error answer in
 * *kept, for tby_nl_errno_kept. */
void tby_nl_keep_errno(struct nl_sock *sk, int *kept);
/* tby_nl_errno, or the kept errno where libnl's code says no more than "failure"; clears
 * *kept. */
int tby_nl_errno_kept(int nl_error, int *kept);

TBY_DEFINE_FREEP(struct nl_addr, nl_addr_put)
TBY_DEFINE_FREEP(struct nl_cache, nl_cache_free)
TBY_DEFINE_FREEP(struct rtnl_link, rtnl_link_put)
TBY_DEFINE_FREEP(struct rtnl_route, rtnl_route_put)
TBY_DEFINE_FREEP(struct rtnl_neigh, rtnl_neigh_put)
TBY_DEFINE_FREEP(struct rtnl_addr, rtnl_addr_put)

#define _cleanup_nl_addr_ _cleanup_(nl_addr_putp)
#define _cleanup_nl_cache_ _cleanup_(nl_cache_freep)
#define _cleanup_nl_link_ _cleanup_(rtnl_link_putp)
#define _cleanup_nl_route_ _cleanup_(rtnl_route_putp)
#define _cleanup_nl_neigh_ _cleanup_(rtnl_neigh_putp)
#define _cleanup_nl_rtaddr_ _cleanup_(rtnl_addr_putp)

#endif
