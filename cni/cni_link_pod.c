/* cni_link_pod.c — the container side of a pod's veth pair: run on a thread inside the
 * container's network namespace by cni_netns_run (see cni_link.h). */
#include <errno.h>
#include <string.h>

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>

#include "tabby/nl.h"
#include "cni_link.h"

/* The container side's index and MAC. */
static int pod_link(struct nl_sock *sk, struct cni_pod *p, int *ifindex, bool *up,
                    struct tby_error *err)
{
    _cleanup_nl_link_ struct rtnl_link *link = NULL;
    int rc = rtnl_link_get_kernel(sk, 0, p->veth->ifname, &link);

    if (rc < 0)
        return tby_error_set(err, rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND ? -ENOENT
                                                                             : tby_nl_errno(rc),
                             "the container has no interface %s", p->veth->ifname);
    *ifindex = rtnl_link_get_ifindex(link);
    *up = rtnl_link_get_flags(link) & IFF_UP;
    nl_addr2str(rtnl_link_get_addr(link), p->mac, sizeof(p->mac));
    return 0;
}

static int pod_sysctls(const struct cni_pod *p, struct tby_error *err)
{
    const char *fwd = p->veth->allow_ip_forwarding ? "1" : "0";
    int r = 0;

    if (p->veth->v4)
        r = cni_sysctl("net/ipv4/ip_forward", NULL, fwd, err);
    if (r == 0 && p->veth->v6) {
        /* A namespace made with IPv6 off gets no link-local address, and so no route
         * to its gateway. */
        static const char *const on[] = { "net/ipv6/conf/all/disable_ipv6",
                                          "net/ipv6/conf/default/disable_ipv6",
                                          "net/ipv6/conf/lo/disable_ipv6" };

        for (size_t i = 0; r == 0 && i < TBY_ARRAY_SIZE(on); i++)
            r = cni_sysctl(on[i], NULL, "0", err);
        if (r == 0)
            r = cni_sysctl("net/ipv6/conf/%s/accept_dad", p->veth->ifname, "0", err);
        if (r == 0)
            r = cni_sysctl("net/ipv6/conf/all/forwarding", NULL, fwd, err);
    }
    return r;
}

static int add_address(struct nl_sock *sk, int ifindex, const struct tby_ip *ip,
                       struct tby_error *err)
{
    _cleanup_nl_rtaddr_ struct rtnl_addr *a = rtnl_addr_alloc();
    _cleanup_nl_addr_ struct nl_addr *local = tby_nl_addr_from_ip(ip, tby_ip_bits(ip));
    char text[TBY_IP_STRLEN];
    int rc;

    if (!a || !local)
        return tby_error_set(err, -ENOMEM, "out of memory");
    rtnl_addr_set_ifindex(a, ifindex);
    rtnl_addr_set_local(a, local);
    if (ip->family == 6)
        rtnl_addr_set_flags(a, IFA_F_NODAD);
    if ((rc = rtnl_addr_add(sk, a, 0)) < 0)
        return tby_error_set(err, tby_nl_errno(rc), "adding address %s: %s",
                             tby_ip_format(ip, text), nl_geterror(rc));
    return 0;
}

static int gateway_v4(struct tby_cidr *out)
{
    return tby_cidr_parse(CNI_GATEWAY_V4 "/32", 0, out, NULL);
}

/* The routes of one family, each via its gateway. */
static int add_routes(struct nl_sock *sk, int ifindex, const struct cni_pod *p, int family,
                      struct tby_error *err)
{
    for (size_t i = 0; i < p->res->n_routes; i++) {
        const struct cni_route *rt = &p->res->routes[i];
        int r;

        if (rt->dst.ip.family != family)
            continue;
        r = cni_route_add(sk, ifindex, &rt->dst, rt->has_gw ? &rt->gw : NULL, NLM_F_EXCL,
                          err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int configure_v4_first(struct nl_sock *sk, int ifindex, struct cni_pod *p,
                              struct tby_error *err)
{
    struct tby_cidr gw;
    int r;

    for (size_t i = 0; i < p->res->n_ips; i++)
        if ((r = add_address(sk, ifindex, &p->res->ips[i].address.ip, err)) < 0)
            return r;
    if (!p->veth->v4)
        return 0;
    /* The gateway is on the link: proxy ARP on the host side answers for it. */
    gateway_v4(&gw);
    if ((r = cni_route_add(sk, ifindex, &gw, NULL, NLM_F_EXCL, err)) < 0)
        return r;
    return add_routes(sk, ifindex, p, 4, err);
}

int cni_pod_configure(void *pod, struct tby_error *err)
{
    struct cni_pod *p = pod;
    _cleanup_nl_sock_ struct nl_sock *sk = cni_nl_open(err);
    int ifindex, r;
    bool up;

    if (!sk)
        return err->code;
    if ((r = pod_link(sk, p, &ifindex, &up, err)) < 0)
        return r;
    if (p->routes_v6)
        return add_routes(sk, ifindex, p, 6, err);
    if ((r = pod_sysctls(p, err)) < 0)
        return r;
    if (!up && (r = cni_link_up(sk, ifindex, err)) < 0)
        return r;
    return configure_v4_first(sk, ifindex, p, err);
}

int cni_pod_delete(void *pod, struct tby_error *err)
{
    struct cni_pod *p = pod;
    _cleanup_nl_sock_ struct nl_sock *sk = cni_nl_open(err);

    if (!sk)
        return err->code;
    return cni_veth_delete(sk, p->veth->ifname, &p->deleted, err);
}

/* ---- CHECK ------------------------------------------------------------------------------- */

static int check_addresses(struct nl_sock *sk, int ifindex, const struct cni_pod *p,
                           struct tby_error *err)
{
    _cleanup_nl_cache_ struct nl_cache *cache = NULL;
    int rc = rtnl_addr_alloc_cache(sk, &cache);

    if (rc < 0)
        return tby_error_set(err, tby_nl_errno(rc), "reading addresses: %s", nl_geterror(rc));
    for (size_t i = 0; i < p->res->n_ips; i++) {
        const struct tby_cidr *want = &p->res->ips[i].address;
        char text[TBY_CIDR_STRLEN];
        bool found = false;

        for (struct nl_object *o = nl_cache_get_first(cache); o && !found;
             o = nl_cache_get_next(o)) {
            struct rtnl_addr *a = (struct rtnl_addr *)o;

            found = rtnl_addr_get_ifindex(a) == ifindex &&
                    rtnl_addr_get_prefixlen(a) == want->prefix_len &&
                    tby_nl_addr_is_ip(rtnl_addr_get_local(a), &want->ip);
        }
        if (!found)
            return tby_error_set(err, -ENOENT, "%s in the container has no address %s",
                                 p->veth->ifname, tby_cidr_format(want, text));
    }
    return 0;
}

static int check_route(struct nl_sock *sk, int ifindex, const struct cni_pod *p,
                       const struct tby_cidr *dst, const struct tby_ip *gw,
                       struct tby_error *err)
{
    char d[TBY_CIDR_STRLEN], g[TBY_IP_STRLEN];
    bool found;
    int oif;

    if (cni_route_find(sk, ifindex, dst, gw, &found, &oif, err) < 0)
        return err->code;
    if (!found)
        return tby_error_set(err, -ENOENT, "the container has no route to %s%s%s dev %s",
                             tby_cidr_format(dst, d), gw ? " via " : "",
                             gw ? tby_ip_format(gw, g) : "", p->veth->ifname);
    return 0;
}

static int check_routes(struct nl_sock *sk, int ifindex, const struct cni_pod *p,
                        struct tby_error *err)
{
    struct tby_cidr gw;
    int r = 0;

    if (p->veth->v4 && gateway_v4(&gw) == 0)
        r = check_route(sk, ifindex, p, &gw, NULL, err);
    for (size_t i = 0; r == 0 && i < p->res->n_routes; i++) {
        const struct cni_route *rt = &p->res->routes[i];

        r = check_route(sk, ifindex, p, &rt->dst, rt->has_gw ? &rt->gw : NULL, err);
    }
    return r;
}

int cni_pod_check(void *pod, struct tby_error *err)
{
    struct cni_pod *p = pod;
    _cleanup_nl_sock_ struct nl_sock *sk = cni_nl_open(err);
    char want[CNI_MAC_STRLEN];
    int ifindex, r;
    bool up;

    if (!sk)
        return err->code;
    memcpy(want, p->mac, sizeof(want));
    if ((r = pod_link(sk, p, &ifindex, &up, err)) < 0)
        return r;
    if (!up)
        return tby_error_set(err, -ENETDOWN, "%s in the container is down", p->veth->ifname);
    if (want[0] && strcasecmp(want, p->mac) != 0)
        return tby_error_set(err, -EINVAL, "%s in the container has MAC %s, not %s as ADD "
                             "reported", p->veth->ifname, p->mac, want);
    if ((r = check_addresses(sk, ifindex, p, err)) < 0)
        return r;
    return check_routes(sk, ifindex, p, err);
}
