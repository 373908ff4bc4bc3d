/* cni_link.h — a pod's veth pair wired the way Calico wires it (private to cni/), through
 * libnl-route-3 and /proc/sys.
 *
 * Host side (the namespace the plugin runs in): named by tby_veth_name, MAC
 * ee:ee:ee:ee:ee:ee (every pod sees the same gateway MAC), proxy ARP so it answers for
 * 169.254.1.1 without holding that address, forwarding on, route_localnet, proxy_delay 0,
 * accept_ra 0, for IPv6 proxy NDP, forwarding and no DAD; a /32 (/128) route per pod
 * address through it, protocol "boot" (never tabby-node's TBY_ROUTES_PROTO: tabby-node
 * adopts these, and would delete its own stale-looking ones).
 *
 * Container side (CNI_NETNS): CNI_IFNAME, made in place by the same netlink request as
 * the host side, so there is no moment with both ends in one namespace and no rename;
 * its addresses as /32 (/128), a link route to 169.254.1.1 and the routes (by default
 * 0.0.0.0/0) via 169.254.1.1; for IPv6 the routes go via the host side's link-local
 * address.
 *
 * Owns: nothing between calls; kernel objects it makes are undone by deleting the host
 * side (the kernel removes the peer and every route through either end).
 */
#ifndef TABBY_CNI_LINK_H
#define TABBY_CNI_LINK_H

#include <net/if.h>
#include <stdbool.h>

#include <netlink/socket.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/net.h"
#include "cni_result.h"

#define CNI_HOST_MAC "ee:ee:ee:ee:ee:ee"
#define CNI_GATEWAY_V4 "169.254.1.1"

struct cni_veth {
    const char *host;           /* the host side's name */
    const char *ifname;         /* the container side's name (CNI_IFNAME) */
    int netns_fd;               /* the container's network namespace */
    unsigned mtu;
    bool v4;                    /* the pod has IPv4 addresses */
    bool v6;                    /* ... IPv6 ones */
    bool allow_ip_forwarding;   /* the pod may forward (container_settings) */
};

/* A netlink socket in the calling thread's namespace. NULL when it cannot be made. */
struct nl_sock *cni_nl_open(struct tby_error *err);
TBY_DEFINE_FREEP(struct nl_sock, nl_socket_free)
#define _cleanup_nl_sock_ _cleanup_(nl_socket_freep)

/* ---- host side ------------------------------------------------------------------------ */

/* Makes the pair. A host side of the same name (a pod's earlier sandbox) is deleted
 * first. A container that already has CNI_IFNAME is -EEXIST. */
int cni_veth_create(struct nl_sock *sk, const struct cni_veth *v, struct tby_error *err);
/* Sysctls, then up; *ifindex is the host side's index. */
int cni_veth_host_setup(struct nl_sock *sk, const struct cni_veth *v, int *ifindex,
                        struct tby_error *err);
/* The /32 (/128) routes to the pod. A route to an address that another interface holds
 * is -EEXIST naming that interface. */
int cni_veth_host_routes(struct nl_sock *sk, int ifindex, const struct cni_result *res,
                         struct tby_error *err);
/* The host side's IPv6 link-local address, waiting (up to a second) for the kernel to
 * make it. */
int cni_veth_host_ll(struct nl_sock *sk, int ifindex, struct tby_ip *out,
                     struct tby_error *err);
/* Deletes the host side (and so its peer). 0 also when there is none; *deleted says. */
int cni_veth_delete(struct nl_sock *sk, const char *name, bool *deleted,
                    struct tby_error *err);
/* CHECK: the host side exists, is up, has the fixed MAC and a route to each address. */
int cni_veth_host_check(struct nl_sock *sk, const char *name, const struct cni_result *res,
                        struct tby_error *err);

/* ---- container side: each is a function for cni_netns_run ------------------------------ */

struct cni_pod {
    const struct cni_veth *veth;
    const struct cni_result *res;   /* the addresses, and the routes' destinations */
    bool routes_v6;                 /* second pass: the IPv6 routes via gw6 */
    struct tby_ip gw6;              /* the host side's link-local address */
    char mac[CNI_MAC_STRLEN];       /* out: the container side's MAC */
    bool deleted;                   /* out (cni_pod_delete): there was one to delete */
};

/* Sysctls, up, addresses, the IPv4 routes; or, with routes_v6, the IPv6 routes. */
int cni_pod_configure(void *pod, struct tby_error *err);
/* Deletes CNI_IFNAME (and so the host side): 0 also when there is none. */
int cni_pod_delete(void *pod, struct tby_error *err);
/* CHECK: CNI_IFNAME is up with res's MAC, addresses and routes. */
int cni_pod_check(void *pod, struct tby_error *err);

/* ---- shared by both sides --------------------------------------------------------------- */

/* Writes value to /proc/sys/<path>, where path may hold one %s for an interface name. */
int cni_sysctl(const char *path, const char *ifname, const char *value, struct tby_error *err);
/* dst via gw (NULL: a link route) dev ifindex, protocol boot, main table. flags:
 * NLM_F_EXCL or 0. */
int cni_route_add(struct nl_sock *sk, int ifindex, const struct tby_cidr *dst,
                  const struct tby_ip *gw, int flags, struct tby_error *err);
/* Whether the main table has dst (with gw, when given) through ifindex. */
int cni_route_find(struct nl_sock *sk, int ifindex, const struct tby_cidr *dst,
                   const struct tby_ip *gw, bool *found, int *other_ifindex,
                   struct tby_error *err);
/* Sets a link up by index. */
int cni_link_up(struct nl_sock *sk, int ifindex, struct tby_error *err);

#endif
