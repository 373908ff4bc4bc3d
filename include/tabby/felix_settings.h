/* felix_settings.h — the settings a node's FelixConfiguration layers give it, merged: each
 * field from the first layer that sets it (FELIX_*, "node.<name>", "default"), else
 * Calico's default. One merge for all who ask: tabby-node's felix part (felix.c), whose
 * parts then apply them, and tabbyctl explain, which evaluates what a node would do
 * (defaultEndpointToHostAction, workloadSourceSpoofing).
 *
 * Needs model.h's FelixConfiguration; the settings are plain values (the caller owns the
 * struct; nothing in it is allocated). */
#ifndef TABBY_FELIX_SETTINGS_H
#define TABBY_FELIX_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tabby/model.h"
#include "tabby/net.h"

struct tby_felix_settings {
    uint64_t generation;                /* moved on by tby_felix_settings_merge when the
                                         * settings changed: users apply them again */
    uint32_t vxlan_vni;                 /* vxlanVNI: 4096 */
    uint16_t vxlan_port;                /* vxlanPort: 4789 */
    unsigned vxlan_mtu[2];              /* vxlanMTU, vxlanMTUV6; 0: the uplink's less the
                                         * encapsulation */
    unsigned ipip_mtu;                  /* ipipMTU; 0: the same */
    bool has_nat_address;
    struct tby_ip nat_address;          /* natOutgoingAddress: SNAT to it, not masquerade */
    bool ipv6;                          /* ipv6Support: true */
    char interface_prefix[64];          /* interfacePrefix: "tby" */
    enum tby_felix_to_host to_host;     /* defaultEndpointToHostAction: Drop */
    /* failsafe{In,Out}boundHostPorts: Calico's defaults unless set ([] is none) */
    struct tby_felix_port failsafe[2][TBY_FELIX_PORTS_MAX]; /* inbound, outbound */
    size_t n_failsafe[2];
    bool spoofing_any;                  /* workloadSourceSpoofing: Disabled (false) */
};

/* Calico's defaults (the generation is kept). */
void tby_felix_settings_defaults(struct tby_felix_settings *s);
/* The settings the FelixConfiguration layers give (layers[0] wins; NULL: absent) into s;
 * true, with the generation moved on, when they changed. */
bool tby_felix_settings_merge(const struct tby_felixconfig *const *layers, size_t n,
                              struct tby_felix_settings *s);

#endif
