/* diagnose_vxlan.c — the vxlan check, where a VXLAN pool routes through this node: the
 * device (vxlan.tabby, vxlan-v6.tabby) is there and up, and for every remote VTEP the
 * routes plan names (computed here from the datastore as tabby-node computes it) the
 * device has the ARP/ND entry (tunnel address → the VTEP's MAC) and the FDB entry (the
 * MAC → the node's address) that VXLAN needs to send anything there. */
#include <stdio.h>
#include <string.h>

#include "diagnose.h"

#define AREA "routing"
#define CHECK "vxlan"

struct vxlan_run {
    struct diag *d;
    struct diag_list bad;
    size_t vteps;
};

static const struct diag_neigh *find(const struct diag_kernel *k, int ifindex, bool fdb,
                                     const struct tby_ip *ip, const uint8_t mac[6])
{
    for (size_t i = 0; i < k->n_neighs; i++) {
        const struct diag_neigh *n = &k->neighs[i];

        if (n->ifindex == ifindex && n->fdb == fdb && n->has_mac &&
            (fdb ? memcmp(n->mac, mac, 6) == 0 : tby_ip_equal(&n->ip, ip)))
            return n;
    }
    return NULL;
}

static void vtep(struct vxlan_run *m, const struct diag_link *dev, const struct tby_vtep *v)
{
    const struct diag_kernel *k = &m->d->kernel;
    const struct diag_neigh *arp = find(k, dev->index, false, &v->tunnel_addr, v->mac);
    const struct diag_neigh *fdb = find(k, dev->index, true, NULL, v->mac);
    char mac[TBY_MAC_STRLEN], ip[TBY_IP_STRLEN], node_ip[TBY_IP_STRLEN], got[TBY_MAC_STRLEN];

    m->vteps++;
    tby_mac_format(v->mac, mac);
    tby_ip_format(&v->tunnel_addr, ip);
    tby_ip_format(&v->node_ip, node_ip);
    if (!arp)
        diag_list_add(&m->bad, v->node, "%s's VTEP: no ARP entry %s lladdr %s on %s", v->node,
                      ip, mac, dev->name);
    else if (memcmp(arp->mac, v->mac, 6) != 0)
        diag_list_add(&m->bad, v->node, "%s's VTEP: ARP entry %s has lladdr %s, not %s",
                      v->node, ip, tby_mac_format(arp->mac, got), mac);
    if (!fdb)
        diag_list_add(&m->bad, v->node, "%s's VTEP: no FDB entry %s dst %s on %s", v->node,
                      mac, node_ip, dev->name);
    else if (!tby_ip_equal(&fdb->ip, &v->node_ip))
        diag_list_add(&m->bad, v->node, "%s's VTEP: FDB entry %s sends to %s, not %s", v->node,
                      mac, tby_ip_format(&fdb->ip, ip), node_ip);
}

static void device(struct vxlan_run *m, int fi)
{
    const char *name = fi ? TBY_VXLAN6_DEVICE : TBY_VXLAN_DEVICE;
    const struct diag_link *dev = diag_link_by_name(&m->d->kernel, name);
    const struct tby_routes_plan *p = &m->d->plan;

    if (!p->vxlan[fi].wanted)
        return;
    if (!dev) {
        diag_list_add(&m->bad, name, "%s is missing", name);
        return;
    }
    if (!dev->up)
        diag_list_add(&m->bad, name, "%s is down", name);
    for (size_t i = 0; i < p->n_vteps; i++)
        if (p->vteps[i].tunnel_addr.family == (fi ? 6 : 4))
            vtep(m, dev, &p->vteps[i]);
}

/* The devices the plan wants, as the OK line names them. */
static const char *devices_in_use(const struct tby_routes_plan *p)
{
    if (p->vxlan[0].wanted && p->vxlan[1].wanted)
        return TBY_VXLAN_DEVICE " and " TBY_VXLAN6_DEVICE;
    return p->vxlan[1].wanted ? TBY_VXLAN6_DEVICE : TBY_VXLAN_DEVICE;
}

void diag_check_vxlan(struct diag *d)
{
    struct vxlan_run m = { .d = d, .bad = { &d->report, AREA, CHECK, DIAG_FAIL,
                                            "VXLAN cannot reach every node it should:" } };

    if (diag_need_cluster(d, AREA, CHECK) || diag_need_kernel(d, AREA, CHECK))
        return;
    if (!d->has_plan || (!d->plan.vxlan[0].wanted && !d->plan.vxlan[1].wanted)) {
        diag_add(&d->report, AREA, CHECK, DIAG_OK, "not used: no VXLAN pool routes through "
                 "this node");
        return;
    }
    device(&m, 0);
    device(&m, 1);
    if (m.bad.res) {
        diag_action(m.bad.res, "tabby-node programs these and repairs them when they change; if "
                    "they stay wrong, see node/tabby-node and its log (routes:)");
        return;
    }
    diag_add(&d->report, AREA, CHECK, DIAG_OK, "%s up, neighbour and FDB entries for all %zu "
             "remote VTEP%s", devices_in_use(&d->plan), m.vteps, m.vteps == 1 ? "" : "s");
}
