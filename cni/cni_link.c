/* cni_link.c — the host side of a pod's veth pair, and what both sides share: sysctls,
 * routes, links (see cni_link.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/route/link/veth.h>

#include "tabby/log.h"
#include "tabby/nl.h"
#include "tabby/routes.h"
#include "cni_link.h"

#define LL_WAIT_STEP_US 2000
#define LL_WAIT_STEPS 500

/* ---- shared ---------------------------------------------------------------------------- */

struct nl_sock *cni_nl_open(struct tby_error *err)
{
    struct nl_sock *sk = nl_socket_alloc();
    int rc;

    if (!sk) {
        tby_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    if ((rc = nl_connect(sk, NETLINK_ROUTE)) < 0) {
        tby_error_set(err, tby_nl_errno(rc), "netlink: %s", nl_geterror(rc));
        nl_socket_free(sk);
        return NULL;
    }
    return sk;
}

int cni_sysctl(const char *path, const char *ifname, const char *value, struct tby_error *err)
{
    char full[256];
    size_t len = strlen(value);
    int fd, r = 0;

    memcpy(full, "/proc/sys/", 10);
    snprintf(full + 10, sizeof(full) - 10, path, ifname);
    fd = open(full, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, value, len) != (ssize_t)len)
        r = tby_error_set(err, -errno, "setting %s to %s: %s", full, value, strerror(errno));
    if (fd >= 0)
        close(fd);
    return r;
}

int cni_route_add(struct nl_sock *sk, int ifindex, const struct tby_cidr *dst,
                  const struct tby_ip *gw, int flags, struct tby_error *err)
{
    _cleanup_nl_route_ struct rtnl_route *rt = rtnl_route_alloc();
    _cleanup_nl_addr_ struct nl_addr *d = tby_nl_addr_from_cidr(dst);
    _cleanup_nl_addr_ struct nl_addr *g = gw ? tby_nl_addr_from_ip(gw, tby_ip_bits(gw)) : NULL;
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    char text[TBY_CIDR_STRLEN];
    int rc;

    if (!rt || !d || !nh || (gw && !g)) {
        if (nh)
            rtnl_route_nh_free(nh);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    rtnl_route_set_family(rt, (uint8_t)tby_nl_af(dst->ip.family));
    rtnl_route_set_dst(rt, d);
    rtnl_route_set_table(rt, RT_TABLE_MAIN);
    rtnl_route_set_protocol(rt, RTPROT_BOOT);
    rtnl_route_set_scope(rt, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    rtnl_route_nh_set_ifindex(nh, ifindex);
    if (g)
        rtnl_route_nh_set_gateway(nh, g);
    rtnl_route_add_nexthop(rt, nh);
    if ((rc = rtnl_route_add(sk, rt, flags)) < 0)
        return tby_error_set(err, tby_nl_errno(rc), "adding the route to %s: %s",
                             tby_cidr_format(dst, text), nl_geterror(rc));
    return 0;
}

static bool route_matches(struct rtnl_route *rt, const struct tby_cidr *dst,
                          const struct tby_ip *gw, int *oif)
{
    struct rtnl_nexthop *nh;
    struct tby_cidr have;

    if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || rtnl_route_get_nnexthops(rt) < 1 ||
        tby_nl_addr_to_cidr(rtnl_route_get_dst(rt), &have) < 0 || !tby_cidr_equal(&have, dst))
        return false;
    nh = rtnl_route_nexthop_n(rt, 0);
    *oif = rtnl_route_nh_get_ifindex(nh);
    return !gw || tby_nl_addr_is_ip(rtnl_route_nh_get_gateway(nh), gw);
}

int cni_route_find(struct nl_sock *sk, int ifindex, const struct tby_cidr *dst,
                   const struct tby_ip *gw, bool *found, int *other_ifindex,
                   struct tby_error *err)
{
    _cleanup_nl_cache_ struct nl_cache *cache = NULL;
    int rc = rtnl_route_alloc_cache(sk, tby_nl_af(dst->ip.family), 0, &cache);

    *found = false;
    *other_ifindex = 0;
    if (rc < 0)
        return tby_error_set(err, tby_nl_errno(rc), "reading routes: %s", nl_geterror(rc));
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        int oif = 0;

        if (!route_matches((struct rtnl_route *)o, dst, gw, &oif))
            continue;
        if (oif == ifindex)
            *found = true;
        else
            *other_ifindex = oif;
    }
    return 0;
}

int cni_link_up(struct nl_sock *sk, int ifindex, struct tby_error *err)
{
    _cleanup_nl_link_ struct rtnl_link *orig = rtnl_link_alloc();
    _cleanup_nl_link_ struct rtnl_link *change = rtnl_link_alloc();
    int rc;

    if (!orig || !change)
        return tby_error_set(err, -ENOMEM, "out of memory");
    rtnl_link_set_ifindex(orig, ifindex);
    rtnl_link_set_flags(change, IFF_UP);
    if ((rc = rtnl_link_change(sk, orig, change, 0)) < 0)
        return tby_error_set(err, tby_nl_errno(rc), "setting interface %d up: %s", ifindex,
                             nl_geterror(rc));
    return 0;
}

/* ---- making the pair ----------------------------------------------------------------------- */

static struct rtnl_link *veth_request(const struct cni_veth *v)
{
    static const uint8_t host_mac[6] = { 0xee, 0xee, 0xee, 0xee, 0xee, 0xee };
    struct rtnl_link *link = rtnl_link_veth_alloc();
    _cleanup_nl_addr_ struct nl_addr *mac = tby_nl_addr_from_mac(host_mac);
    struct rtnl_link *peer;

    if (!link || !mac) {
        if (link)
            rtnl_link_put(link);
        return NULL;
    }
    peer = rtnl_link_veth_get_peer(link);
    rtnl_link_set_name(link, v->host);
    rtnl_link_set_addr(link, mac);
    rtnl_link_set_name(peer, v->ifname);
    rtnl_link_set_ns_fd(peer, v->netns_fd);
    if (v->mtu) {
        rtnl_link_set_mtu(link, v->mtu);
        rtnl_link_set_mtu(peer, v->mtu);
    }
    /* The host side comes up at once, saving a request, unless IPv6 needs DAD off before
     * its link-local address appears. Not the peer: the kernel configures it before the
     * pair is joined, and a veth without its peer cannot open (ENOTCONN). */
    if (!v->v6)
        rtnl_link_set_flags(link, IFF_UP);
    rtnl_link_put(peer);
    return link;
}

static bool link_exists(struct nl_sock *sk, const char *name)
{
    _cleanup_nl_link_ struct rtnl_link *link = NULL;

    return rtnl_link_get_kernel(sk, 0, name, &link) == 0;
}

int cni_veth_create(struct nl_sock *sk, const struct cni_veth *v, struct tby_error *err)
{
    _cleanup_nl_link_ struct rtnl_link *link = veth_request(v);
    bool deleted = false;
    int rc;

    if (!link)
        return tby_error_set(err, -ENOMEM, "out of memory");
    rc = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
    if (rc == -NLE_EXIST && link_exists(sk, v->host)) {
        /* A veth left by this pod's earlier sandbox: Calico replaces it too. */
        tby_log(TBY_LOG_INFO, "cni", "replacing an earlier veth dev=%s", v->host);
        if (cni_veth_delete(sk, v->host, &deleted, err) < 0)
            return err->code;
        rc = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
    }
    if (rc == -NLE_EXIST)
        return tby_error_set(err, -EEXIST, "the container already has an interface named %s",
                             v->ifname);
    if (rc < 0)
        return tby_error_set(err, tby_nl_errno(rc), "creating the veth pair %s/%s: %s",
                             v->host, v->ifname, nl_geterror(rc));
    return 0;
}

/* ---- the host side ------------------------------------------------------------------------- */

static int host_sysctls(const struct cni_veth *v, struct tby_error *err)
{
    static const char *const v4[][2] = {
        { "net/ipv4/conf/%s/route_localnet", "1" }, /* NAT to the host's own addresses */
        { "net/ipv4/neigh/%s/proxy_delay", "0" },   /* answer ARP at once */
        { "net/ipv4/conf/%s/proxy_arp", "1" },      /* ... for 169.254.1.1 */
        { "net/ipv4/conf/%s/forwarding", "1" },
    };
    static const char *const v6[][2] = {
        { "net/ipv6/conf/%s/disable_ipv6", "0" },
        { "net/ipv6/conf/%s/accept_dad", "0" },     /* a point-to-point link: no one to clash */
        { "net/ipv6/conf/%s/proxy_ndp", "1" },
        { "net/ipv6/conf/%s/forwarding", "1" },
    };
    struct tby_error ignored = { 0 };
    int r = 0;

    for (size_t i = 0; r == 0 && v->v4 && i < TBY_ARRAY_SIZE(v4); i++)
        r = cni_sysctl(v4[i][0], v->host, v4[i][1], err);
    for (size_t i = 0; r == 0 && v->v6 && i < TBY_ARRAY_SIZE(v6); i++)
        r = cni_sysctl(v6[i][0], v->host, v6[i][1], err);
    /* Without IPv6 in the kernel there are no router advertisements to refuse. */
    if (r == 0 && cni_sysctl("net/ipv6/conf/%s/accept_ra", v->host, "0", &ignored) < 0 &&
        ignored.code != -ENOENT)
        tby_log(TBY_LOG_WARNING, "cni", "cannot refuse router advertisements dev=%s: %s",
                v->host, tby_error_str(&ignored));
    return r;
}

int cni_veth_host_setup(struct nl_sock *sk, const struct cni_veth *v, int *ifindex,
                        struct tby_error *err)
{
    _cleanup_nl_link_ struct rtnl_link *link = NULL;
    int rc = rtnl_link_get_kernel(sk, 0, v->host, &link);

    if (rc < 0)
        return tby_error_set(err, tby_nl_errno(rc), "the new veth %s: %s", v->host,
                             nl_geterror(rc));
    *ifindex = rtnl_link_get_ifindex(link);
    if ((rc = host_sysctls(v, err)) < 0)
        return rc;
    return v->v6 ? cni_link_up(sk, *ifindex, err) : 0;
}

static int route_conflict(struct nl_sock *sk, int ifindex, const struct tby_cidr *dst,
                          struct tby_error *err)
{
    _cleanup_nl_link_ struct rtnl_link *other = NULL;
    char text[TBY_CIDR_STRLEN];
    bool found;
    int oif;

    if (cni_route_find(sk, ifindex, dst, NULL, &found, &oif, err) < 0)
        return err->code;
    if (found)
        return 0;
    rtnl_link_get_kernel(sk, oif, NULL, &other);
    return tby_error_set(err, -EEXIST, "the pod's address %s is already routed through %s: "
                         "another interface holds it", tby_cidr_format(dst, text),
                         other ? rtnl_link_get_name(other) : "another interface");
}

int cni_veth_host_routes(struct nl_sock *sk, int ifindex, const struct cni_result *res,
                         struct tby_error *err)
{
    for (size_t i = 0; i < res->n_ips; i++) {
        struct tby_cidr host = { res->ips[i].address.ip,
                                 (uint8_t)tby_ip_bits(&res->ips[i].address.ip) };
        int r = cni_route_add(sk, ifindex, &host, NULL, NLM_F_EXCL, err);

        if (r == -EEXIST)
            r = route_conflict(sk, ifindex, &host, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int find_ll(struct nl_sock *sk, int ifindex, struct tby_ip *out, bool *found,
                   struct tby_error *err)
{
    _cleanup_nl_cache_ struct nl_cache *cache = NULL;
    int rc = rtnl_addr_alloc_cache(sk, &cache);

    *found = false;
    if (rc < 0)
        return tby_error_set(err, tby_nl_errno(rc), "reading addresses: %s", nl_geterror(rc));
    for (struct nl_object *o = nl_cache_get_first(cache); o && !*found;
         o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;
        struct tby_cidr c;

        if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET6 ||
            rtnl_addr_get_scope(a) != RT_SCOPE_LINK ||
            (rtnl_addr_get_flags(a) & IFA_F_TENTATIVE) ||
            tby_nl_addr_to_cidr(rtnl_addr_get_local(a), &c) < 0)
            continue;
        *out = c.ip;
        *found = true;
    }
    return 0;
}

int cni_veth_host_ll(struct nl_sock *sk, int ifindex, struct tby_ip *out,
                     struct tby_error *err)
{
    bool found = false;

    /* The kernel adds it once both ends are up, shortly after. */
    for (int i = 0; i < LL_WAIT_STEPS; i++) {
        if (find_ll(sk, ifindex, out, &found, err) < 0)
            return err->code;
        if (found)
            return 0;
        usleep(LL_WAIT_STEP_US);
    }
    return tby_error_set(err, -EADDRNOTAVAIL, "the host side of the veth has no IPv6 "
                         "link-local address (is IPv6 disabled on this node?)");
}

int cni_veth_delete(struct nl_sock *sk, const char *name, bool *deleted,
                    struct tby_error *err)
{
    _cleanup_nl_link_ struct rtnl_link *link = rtnl_link_alloc();
    int rc;

    *deleted = false;
    if (!link)
        return tby_error_set(err, -ENOMEM, "out of memory");
    rtnl_link_set_name(link, name);
    rc = rtnl_link_delete(sk, link);
    if (rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND)
        return 0;
    if (rc < 0)
        return tby_error_set(err, tby_nl_errno(rc), "deleting %s: %s", name, nl_geterror(rc));
    *deleted = true;
    return 0;
}

int cni_veth_host_check(struct nl_sock *sk, const char *name, const struct cni_result *res,
                        struct tby_error *err)
{
    _cleanup_nl_link_ struct rtnl_link *link = NULL;
    char mac[CNI_MAC_STRLEN];
    int ifindex;

    if (rtnl_link_get_kernel(sk, 0, name, &link) < 0)
        return tby_error_set(err, -ENOENT, "the host side of the veth, %s, is missing", name);
    ifindex = rtnl_link_get_ifindex(link);
    if (!(rtnl_link_get_flags(link) & IFF_UP))
        return tby_error_set(err, -ENETDOWN, "the host side of the veth, %s, is down", name);
    nl_addr2str(rtnl_link_get_addr(link), mac, sizeof(mac));
    if (strcasecmp(mac, CNI_HOST_MAC) != 0)
        return tby_error_set(err, -EINVAL, "%s has MAC %s, not %s", name, mac, CNI_HOST_MAC);
    for (size_t i = 0; i < res->n_ips; i++) {
        struct tby_cidr host = { res->ips[i].address.ip,
                                 (uint8_t)tby_ip_bits(&res->ips[i].address.ip) };
        char text[TBY_CIDR_STRLEN];
        bool found;
        int oif;

        if (cni_route_find(sk, ifindex, &host, NULL, &found, &oif, err) < 0)
            return err->code;
        if (!found)
            return tby_error_set(err, -ENOENT, "the node has no route to %s through %s",
                                 tby_cidr_format(&host, text), name);
    }
    return 0;
}
