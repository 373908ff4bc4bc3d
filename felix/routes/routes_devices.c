/* routes_devices.c — the devices pod routes go through: the uplink (found by the node's
 * address, never changed), the VXLAN devices (made, kept right, removed), and tunl0 for
 * IPIP (used when the kernel has it; this module cannot give a kernel IPIP). */
#include <errno.h>
#include <string.h>

#include <linux/if_addr.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/route/link/ipip.h>
#include <netlink/route/link/vxlan.h>

#include "tabby/log.h"
#include "tabby/nl.h"
#include "routes_kernel.h"

/* ---- the uplink --------------------------------------------------------------------- */

static void find_uplink(struct routes_run *run, int fi)
{
    const struct tby_ip *ip = &run->plan->node_ip[fi];

    if (!run->plan->has_node_ip[fi])
        return;
    for (struct nl_object *o = nl_cache_get_first(run->addrs); o; o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;

        if (tby_nl_addr_is_ip(rtnl_addr_get_local(a), ip)) {
            run->uplink[fi] = rtnl_addr_get_ifindex(a);
            return;
        }
    }
}

/* ---- addresses ---------------------------------------------------------------------- */

static int add_address(struct routes_run *run, int ifindex, const struct tby_ip *want,
                       const char *dev)
{
    _cleanup_nl_rtaddr_ struct rtnl_addr *a = rtnl_addr_alloc();
    _cleanup_nl_addr_ struct nl_addr *local = tby_nl_addr_from_ip(want, tby_ip_bits(want));
    char buf[TBY_IP_STRLEN];
    int rc;

    if (!a || !local)
        return routes_fail(run, -ENOMEM, "routes: out of memory");
    tby_ip_format(want, buf);
    rtnl_addr_set_ifindex(a, ifindex);
    rtnl_addr_set_local(a, local);
    if (want->family == 6)
        rtnl_addr_set_flags(a, IFA_F_NODAD); /* usable at once: nothing else owns it */
    if ((rc = rtnl_addr_add(run->r->sock, a, 0)) < 0) {
        rc = routes_errno(run, rc);
        return routes_fail(run, rc, "routes: cannot add address %s to %s: %s", buf, dev,
                           strerror(-rc));
    }
    run->st->links_changed++;
    tby_log(TBY_LOG_INFO, "routes", "address added dev=%s addr=%s", dev, buf);
    return 0;
}

/* The device's only address of want's family is want (/32 or /128); NULL family: none.
 * IPv6 link-local addresses are the kernel's and stay. */
static int sync_address(struct routes_run *run, int ifindex, int af, const struct tby_ip *want,
                        const char *dev)
{
    bool found = false;

    for (struct nl_object *o = nl_cache_get_first(run->addrs); o; o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;
        struct nl_addr *local = rtnl_addr_get_local(a);
        char buf[64];
        int rc;

        if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != af)
            continue;
        if (want && tby_nl_addr_is_ip(local, want) &&
            rtnl_addr_get_prefixlen(a) == (int)tby_ip_bits(want)) {
            found = true;
            continue;
        }
        if (af == AF_INET6 && rtnl_addr_get_scope(a) == RT_SCOPE_LINK)
            continue;
        nl_addr2str(local, buf, sizeof(buf));
        if ((rc = rtnl_addr_delete(run->r->sock, a, 0)) < 0) {
            rc = routes_errno(run, rc);
            routes_fail(run, rc, "routes: cannot remove address %s from %s: %s", buf, dev,
                        strerror(-rc));
            continue;
        }
        run->st->links_changed++;
        tby_log(TBY_LOG_INFO, "routes", "address removed dev=%s addr=%s", dev, buf);
    }
    return want && !found ? add_address(run, ifindex, want, dev) : 0;
}

/* ---- links -------------------------------------------------------------------------- */

struct rtnl_link *routes_link_get(struct routes_run *run, int ifindex, const char *name)
{
    struct rtnl_link *link = NULL;

    if ((ifindex <= 0 && !name) || rtnl_link_get_kernel(run->r->sock, ifindex, name, &link) < 0)
        return NULL;
    return link;
}

static int link_index(struct routes_run *run, const char *name)
{
    _cleanup_nl_link_ struct rtnl_link *link = routes_link_get(run, 0, name);

    return link ? rtnl_link_get_ifindex(link) : 0;
}

static int delete_link(struct routes_run *run, struct rtnl_link *link, const char *why)
{
    const char *name = rtnl_link_get_name(link);
    int rc = rtnl_link_delete(run->r->sock, link);

    if (rc < 0) {
        rc = routes_errno(run, rc);
        return routes_fail(run, rc, "routes: cannot delete %s: %s", name, strerror(-rc));
    }
    run->st->links_changed++;
    tby_log(TBY_LOG_INFO, "routes", "device deleted dev=%s why=\"%s\"", name, why);
    return 0;
}

/* ---- VXLAN -------------------------------------------------------------------------- */

/* Why an existing device cannot be kept as the VXLAN device spec asks for, or NULL. What
 * it names cannot be changed on a live device, so the device is made again. */
static const char *vxlan_mismatch(struct rtnl_link *link, const struct tby_vxlan_spec *spec,
                                  int uplink)
{
    _cleanup_nl_addr_ struct nl_addr *local = NULL;
    const char *type = rtnl_link_get_type(link);
    uint32_t id = 0, port = 0, parent = 0;

    if (!type || strcmp(type, "vxlan") != 0)
        return "not a VXLAN device";
    if (rtnl_link_vxlan_get_id(link, &id) < 0 || id != spec->vni)
        return "another VNI";
    if (rtnl_link_vxlan_get_port(link, &port) < 0 || port != spec->port)
        return "another UDP port";
    if (rtnl_link_vxlan_get_learning(link) != 0)
        return "learning on";
    if (rtnl_link_vxlan_get_link(link, &parent) < 0 || (int)parent != uplink)
        return "another uplink";
    if (rtnl_link_vxlan_get_local(link, &local) < 0 || !tby_nl_addr_is_ip(local, &spec->local))
        return "another local address";
    return NULL;
}

static int vxlan_create(struct routes_run *run, int fi, unsigned mtu)
{
    const struct tby_vxlan_spec *spec = &run->plan->vxlan[fi];
    _cleanup_nl_link_ struct rtnl_link *link = rtnl_link_vxlan_alloc();
    _cleanup_nl_addr_ struct nl_addr *local = tby_nl_addr_from_ip(&spec->local,
                                                                  tby_ip_bits(&spec->local));
    _cleanup_nl_addr_ struct nl_addr *mac = tby_nl_addr_from_mac(spec->mac);
    const char *name = routes_vxlan_name(fi);
    int rc;

    if (!link || !local || !mac)
        return routes_fail(run, -ENOMEM, "routes: out of memory");
    rtnl_link_set_name(link, name);
    rtnl_link_vxlan_set_id(link, spec->vni);
    rtnl_link_vxlan_set_port(link, spec->port);
    rtnl_link_vxlan_set_learning(link, 0); /* the FDB comes from Node resources only */
    rtnl_link_vxlan_set_local(link, local);
    rtnl_link_vxlan_set_link(link, (uint32_t)run->uplink[fi]);
    rtnl_link_set_mtu(link, mtu);
    rtnl_link_set_addr(link, mac);
    rtnl_link_set_flags(link, IFF_UP);
    if ((rc = rtnl_link_add(run->r->sock, link, NLM_F_CREATE | NLM_F_EXCL)) < 0) {
        rc = routes_errno(run, rc);
        return routes_fail(run, rc, "routes: cannot create %s (ip link add type vxlan): %s",
                           name, strerror(-rc));
    }
    run->st->links_changed++;
    tby_log(TBY_LOG_INFO, "routes", "device created dev=%s vni=%u port=%u mtu=%u", name,
            spec->vni, spec->port, mtu);
    return 0;
}

/* MTU, MAC and up: what can change on a live device. */
static int vxlan_update(struct routes_run *run, struct rtnl_link *have, int fi, unsigned mtu)
{
    const struct tby_vxlan_spec *spec = &run->plan->vxlan[fi];
    _cleanup_nl_link_ struct rtnl_link *change = rtnl_link_alloc();
    _cleanup_nl_addr_ struct nl_addr *mac = tby_nl_addr_from_mac(spec->mac);
    bool any = false;
    int rc;

    if (!change || !mac)
        return routes_fail(run, -ENOMEM, "routes: out of memory");
    if (rtnl_link_get_mtu(have) != mtu) {
        rtnl_link_set_mtu(change, mtu);
        any = true;
    }
    if (!tby_nl_addr_is_mac(rtnl_link_get_addr(have), spec->mac)) {
        rtnl_link_set_addr(change, mac);
        any = true;
    }
    if (!(rtnl_link_get_flags(have) & IFF_UP)) {
        rtnl_link_set_flags(change, IFF_UP);
        any = true;
    }
    if (!any)
        return 0;
    if ((rc = rtnl_link_change(run->r->sock, have, change, 0)) < 0) {
        rc = routes_errno(run, rc);
        return routes_fail(run, rc, "routes: cannot update %s: %s", routes_vxlan_name(fi),
                           strerror(-rc));
    }
    run->st->links_changed++;
    tby_log(TBY_LOG_INFO, "routes", "device updated dev=%s mtu=%u", routes_vxlan_name(fi), mtu);
    return 0;
}

/* Makes or updates the device; 0 with run->vxlan[fi] set when it is there. */
static int vxlan_device(struct routes_run *run, struct rtnl_link *have, int fi)
{
    const struct tby_vxlan_spec *spec = &run->plan->vxlan[fi];
    _cleanup_nl_link_ struct rtnl_link *uplink = routes_link_get(run, run->uplink[fi], NULL);
    const char *name = routes_vxlan_name(fi);
    const char *why;
    unsigned mtu;
    char buf[TBY_IP_STRLEN];
    int rc;

    if (!uplink)
        return routes_fail(run, -ENODEV, "routes: this node's address %s is on no device in "
                           "this network namespace, so %s cannot be made",
                           tby_ip_format(&spec->local, buf), name);
    mtu = rtnl_link_get_mtu(uplink);
    if (mtu < 1280 + TBY_VXLAN_OVERHEAD_V6) /* IPv6's minimum MTU, inside the tunnel */
        return routes_fail(run, -ERANGE, "routes: uplink %s has MTU %u, too small to carry "
                           "%s", rtnl_link_get_name(uplink), mtu, name);
    mtu -= fi ? TBY_VXLAN_OVERHEAD_V6 : TBY_VXLAN_OVERHEAD_V4;
    if (spec->mtu)  /* vxlanMTU(V6): as configured, as Felix sets it */
        mtu = spec->mtu;
    if (have && (why = vxlan_mismatch(have, spec, run->uplink[fi])) &&
        (rc = delete_link(run, have, why)) < 0)
        return rc;
    rc = have && !why ? vxlan_update(run, have, fi, mtu) : vxlan_create(run, fi, mtu);
    if (rc < 0)
        return rc;
    run->vxlan[fi] = have && !why ? rtnl_link_get_ifindex(have) : link_index(run, name);
    return 0;
}

static int vxlan_sync(struct routes_run *run, int fi)
{
    const struct tby_vxlan_spec *spec = &run->plan->vxlan[fi];
    _cleanup_nl_link_ struct rtnl_link *have = routes_link_get(run, 0, routes_vxlan_name(fi));
    int rc;

    if (!spec->wanted)
        return have ? delete_link(run, have, "no VXLAN pool") : 0;
    if ((rc = vxlan_device(run, have, fi)) < 0 || !run->vxlan[fi])
        return rc;
    return sync_address(run, run->vxlan[fi], fi ? AF_INET6 : AF_INET,
                        spec->has_tunnel_addr ? &spec->tunnel_addr : NULL,
                        routes_vxlan_name(fi));
}

/* ---- IPIP --------------------------------------------------------------------------- */

/* tunl0 exists whenever the kernel has IPIP (the module makes it in every namespace);
 * asking for one is what loads the module where it can be loaded. */
static int ipip_make(struct routes_run *run)
{
    _cleanup_nl_link_ struct rtnl_link *link = rtnl_link_ipip_alloc();
    const char *pool = run->plan->ipip_pool;
    int rc;

    if (!link)
        return routes_fail(run, -ENOMEM, "routes: out of memory");
    rtnl_link_set_name(link, TBY_IPIP_DEVICE);
    rc = rtnl_link_add(run->r->sock, link, NLM_F_CREATE);
    if (rc == 0 || rc == -NLE_EXIST)
        return 0;
    rc = routes_errno(run, rc);
    if (rc == -EOPNOTSUPP)
        return routes_fail(run, rc, "IPIP pool %s needs the kernel's ipip module, which this "
                           "kernel does not have (ip link add type ipip: %s); use vxlanMode "
                           "instead", pool, strerror(-rc));
    return routes_fail(run, rc, "IPIP pool %s needs device %s, which cannot be made (ip link "
                       "add type ipip: %s)", pool, TBY_IPIP_DEVICE, strerror(-rc));
}

/* Sets tunl0 up or down, unless it already is. */
static int ipip_set_up(struct routes_run *run, struct rtnl_link *have, bool up)
{
    _cleanup_nl_link_ struct rtnl_link *change = NULL;
    int rc;

    if (!(rtnl_link_get_flags(have) & IFF_UP) == !up)
        return 0;
    if (!(change = rtnl_link_alloc()))
        return routes_fail(run, -ENOMEM, "routes: out of memory");
    if (up)
        rtnl_link_set_flags(change, IFF_UP);
    else
        rtnl_link_unset_flags(change, IFF_UP);
    if ((rc = rtnl_link_change(run->r->sock, have, change, 0)) < 0) {
        rc = routes_errno(run, rc);
        return routes_fail(run, rc, "routes: cannot set %s %s: %s", TBY_IPIP_DEVICE,
                           up ? "up" : "down", strerror(-rc));
    }
    run->st->links_changed++;
    if (!up)
        tby_log(TBY_LOG_INFO, "routes", "device set down dev=%s", TBY_IPIP_DEVICE);
    return 0;
}

/* ipipMTU: tunl0's MTU as configured (0: left as it is). */
static int ipip_set_mtu(struct routes_run *run, struct rtnl_link *have, unsigned mtu)
{
    _cleanup_nl_link_ struct rtnl_link *change = NULL;
    int rc;

    if (!mtu || rtnl_link_get_mtu(have) == mtu)
        return 0;
    if (!(change = rtnl_link_alloc()))
        return routes_fail(run, -ENOMEM, "routes: out of memory");
    rtnl_link_set_mtu(change, mtu);
    if ((rc = rtnl_link_change(run->r->sock, have, change, 0)) < 0) {
        rc = routes_errno(run, rc);
        return routes_fail(run, rc, "routes: cannot set %s's MTU to %u: %s", TBY_IPIP_DEVICE,
                           mtu, strerror(-rc));
    }
    run->st->links_changed++;
    tby_log(TBY_LOG_INFO, "routes", "device updated dev=%s mtu=%u", TBY_IPIP_DEVICE, mtu);
    return 0;
}

/* tby_routes_uninstall: tunl0 cannot be deleted (it is the ipip module's, in every
 * namespace), so it is given back as the module makes it: no IPv4 address, down. */
static int ipip_release(struct routes_run *run)
{
    _cleanup_nl_link_ struct rtnl_link *have = NULL;

    if (rtnl_link_get_kernel(run->r->sock, 0, TBY_IPIP_DEVICE, &have) < 0)
        return 0;
    sync_address(run, rtnl_link_get_ifindex(have), AF_INET, NULL, TBY_IPIP_DEVICE);
    return ipip_set_up(run, have, false);
}

static int ipip_sync(struct routes_run *run)
{
    const struct tby_ip *addr = &run->plan->ipip_tunnel_addr;
    _cleanup_nl_link_ struct rtnl_link *have = NULL;
    int rc;

    if (!run->plan->ipip_pool)
        return run->uninstall ? ipip_release(run) : 0;
    if (!link_index(run, TBY_IPIP_DEVICE) && (rc = ipip_make(run)) < 0)
        return rc;
    if (rtnl_link_get_kernel(run->r->sock, 0, TBY_IPIP_DEVICE, &have) < 0)
        return routes_fail(run, -ENODEV, "routes: %s vanished", TBY_IPIP_DEVICE);
    run->ipip = rtnl_link_get_ifindex(have);
    if ((rc = ipip_set_up(run, have, true)) < 0 ||
        (rc = ipip_set_mtu(run, have, run->plan->ipip_mtu)) < 0)
        return rc;
    return sync_address(run, run->ipip, AF_INET, addr->family ? addr : NULL, TBY_IPIP_DEVICE);
}

int routes_devices(struct routes_run *run)
{
    for (int fi = 0; fi < 2; fi++) {
        find_uplink(run, fi);
        vxlan_sync(run, fi);
    }
    ipip_sync(run);
    return run->first_error;
}
