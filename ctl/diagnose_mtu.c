/* diagnose_mtu.c — the MTU check: a pod's packet must fit through every link it crosses.
 * The uplink (the interface holding this node's address) carries everything; a pool that
 * encapsulates (VXLAN, IPIP; CrossSubnet counted as encapsulating, as the CNI plugin
 * does) takes its overhead from every packet of its pods, so a pod's veth may be at most
 * the uplink's MTU less that, and the tunnel devices likewise. A larger one makes large
 * packets vanish (or fragment) on the way: connections that open and then hang. */
#include <stdio.h>
#include <string.h>

#include "diagnose.h"

#define AREA "kernel"
#define CHECK "mtu"

/* This node's uplink: the link holding its Node's IPv4 (else IPv6) address. */
static const struct diag_link *uplink(const struct diag *d)
{
    const struct tby_node *self = d->cluster.self ? d->cluster.self->spec.node : NULL;

    if (!self)
        return NULL;
    if (self->has_ipv4_address)
        return diag_link_with_ip(&d->kernel, &self->ipv4_address.ip);
    if (self->has_ipv6_address)
        return diag_link_with_ip(&d->kernel, &self->ipv6_address.ip);
    return NULL;
}

struct mtu_run {
    struct diag *d;
    const struct diag_link *up;
    struct diag_list bad;
    size_t veths, tunnels;
};

static void tunnels(struct mtu_run *m)
{
    const struct diag_link *vx = diag_link_by_name(&m->d->kernel, TBY_VXLAN_DEVICE);
    const struct diag_link *ipip = diag_link_by_name(&m->d->kernel, TBY_IPIP_DEVICE);

    m->tunnels = (vx != NULL) + (ipip != NULL);
    if (vx && vx->mtu + TBY_VXLAN_OVERHEAD_V4 > m->up->mtu)
        diag_list_add(&m->bad, vx->name, "%s: MTU %u, more than %u - %d (VXLAN)", vx->name,
                      vx->mtu, m->up->mtu, TBY_VXLAN_OVERHEAD_V4);
    if (ipip && ipip->mtu + TBY_IPIP_OVERHEAD > m->up->mtu)
        diag_list_add(&m->bad, ipip->name, "%s: MTU %u, more than %u - %d (IPIP)", ipip->name,
                      ipip->mtu, m->up->mtu, TBY_IPIP_OVERHEAD);
}

static void veths(struct mtu_run *m)
{
    const struct diag_cluster *c = &m->d->cluster;

    for (size_t i = 0; i < c->weps.n; i++) {
        const struct tby_resource *res = c->weps.items[i];
        const struct tby_wep *w = res->spec.wep;
        const struct diag_link *veth = diag_link_by_name(&m->d->kernel, w->interface_name);
        const struct tby_ippool *pool;
        unsigned over;

        if (!diag_wep_is_on(res, m->d->set.node) || !veth || !w->ip_networks.n)
            continue;
        m->veths++;
        pool = diag_cluster_pool_of(c, &w->ip_networks.items[0].ip);
        over = pool ? tby_pool_encap_overhead(pool, w->ip_networks.items[0].ip.family) : 0;
        if (veth->mtu + over > m->up->mtu && over)
            diag_list_add(&m->bad, veth->name, "%s (pod %s/%s): MTU %u, more than %u - %u (its "
                          "pool's encapsulation)", veth->name, res->meta.namespace,
                          w->pod ? w->pod : res->meta.name, veth->mtu, m->up->mtu, over);
        else if (veth->mtu > m->up->mtu)
            diag_list_add(&m->bad, veth->name, "%s (pod %s/%s): MTU %u, more than the uplink's "
                          "%u", veth->name, res->meta.namespace,
                          w->pod ? w->pod : res->meta.name, veth->mtu, m->up->mtu);
    }
}

void diag_check_mtu(struct diag *d)
{
    struct mtu_run m = { .d = d, .bad = { &d->report, AREA, CHECK, DIAG_FAIL } };

    if (diag_need_cluster(d, AREA, CHECK) || diag_need_kernel(d, AREA, CHECK))
        return;
    if (!(m.up = uplink(d))) {
        diag_add(&d->report, AREA, CHECK, DIAG_WARN, "not checked: no interface here holds "
                 "the address of Node %s", d->set.node);
        return;
    }
    snprintf(m.bad.found, sizeof(m.bad.found), "MTUs larger than the uplink %s (%u) carries: "
             "large packets of these pods are lost on the way", m.up->name, m.up->mtu);
    tunnels(&m);
    veths(&m);
    if (m.bad.res) {
        diag_action(m.bad.res, "give the pods' veths and tunnels the uplink's MTU less the "
                    "encapsulation (the CNI configuration's mtu, or 0 to detect; pods made "
                    "after the change get it), or raise the uplink's MTU back");
        return;
    }
    diag_add(&d->report, AREA, CHECK, DIAG_OK, "uplink %s %u: %zu pod veth%s%s within it, "
             "each pool's encapsulation counted", m.up->name, m.up->mtu, m.veths,
             m.veths == 1 ? "" : "s", m.tunnels ? " and the tunnels" : "");
}
