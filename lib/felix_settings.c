/* felix_settings.c — the settings of a node's FelixConfiguration layers (felix_settings.h):
 * VXLAN's VNI, port and MTUs, the IPIP MTU, natOutgoingAddress, ipv6Support,
 * interfacePrefix, defaultEndpointToHostAction, workloadSourceSpoofing and the failsafe
 * ports, each from the first layer that sets it (FELIX_*, the node's, the default one),
 * else Calico's default. tabby-node's felix part recomputes them on every change and its
 * parts apply them when the generation moves; tabbyctl explain reads the node's. */
#include <stdio.h>
#include <string.h>

#include "tabby/felix_settings.h"
#include "tabby/model.h"
#include "tabby/routes.h"

void tby_felix_settings_defaults(struct tby_felix_settings *dp)
{
    uint64_t generation = dp->generation;

    memset(dp, 0, sizeof(*dp));
    dp->generation = generation;
    dp->vxlan_vni = TBY_VXLAN_VNI;
    dp->vxlan_port = TBY_VXLAN_PORT;
    dp->ipv6 = true;
    strcpy(dp->interface_prefix, "tby");
    dp->to_host = TBY_FELIX_TO_HOST_DROP;
    for (int d = 0; d < 2; d++) {
        size_t n;
        const struct tby_felix_port *v = tby_felix_default_failsafe(d == 1, &n);

        memcpy(dp->failsafe[d], v, n * sizeof(*v));
        dp->n_failsafe[d] = n;
    }
}

static void set_ports(const struct tby_felix_ports *p, struct tby_felix_port *out, size_t *n)
{
    *n = p->n < TBY_FELIX_PORTS_MAX ? p->n : TBY_FELIX_PORTS_MAX;
    memset(out, 0, TBY_FELIX_PORTS_MAX * sizeof(*out));
    if (*n)
        memcpy(out, p->items, *n * sizeof(*out));
}

/* Lays one layer over dp: what it sets wins (the layers go from the weakest up). */
static void lay(const struct tby_felixconfig *c, struct tby_felix_settings *dp)
{
    const struct tby_felix_ports *ports[2] = { &c->failsafe_in, &c->failsafe_out };

    if (c->vxlan_vni)
        dp->vxlan_vni = c->vxlan_vni;
    if (c->vxlan_port)
        dp->vxlan_port = c->vxlan_port;
    if (c->has_vxlan_mtu)
        dp->vxlan_mtu[0] = c->vxlan_mtu;
    if (c->has_vxlan_mtu6)
        dp->vxlan_mtu[1] = c->vxlan_mtu6;
    if (c->has_ipip_mtu)
        dp->ipip_mtu = c->ipip_mtu;
    if (c->has_nat_address) {
        dp->has_nat_address = true;
        dp->nat_address = c->nat_address;
    }
    if (c->has_ipv6_support)
        dp->ipv6 = c->ipv6_support;
    if (c->interface_prefix)
        snprintf(dp->interface_prefix, sizeof(dp->interface_prefix), "%s",
                 c->interface_prefix);
    if (c->to_host)
        dp->to_host = c->to_host;
    if (c->spoofing != TBY_FELIX_SPOOFING_UNSET)
        dp->spoofing_any = c->spoofing == TBY_FELIX_SPOOFING_ANY;
    for (int d = 0; d < 2; d++)
        if (ports[d]->set)
            set_ports(ports[d], dp->failsafe[d], &dp->n_failsafe[d]);
}

bool tby_felix_settings_merge(const struct tby_felixconfig *const *layers, size_t n,
                              struct tby_felix_settings *dp)
{
    struct tby_felix_settings want = { .generation = dp->generation };

    tby_felix_settings_defaults(&want);
    for (size_t i = n; i-- > 0;)
        if (layers[i])
            lay(layers[i], &want);
    if (memcmp(&want, dp, sizeof(want)) == 0)
        return false;
    want.generation = dp->generation + 1;
    *dp = want;
    return true;
}
