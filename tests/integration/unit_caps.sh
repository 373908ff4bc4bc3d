#!/usr/bin/env bash
# unit_caps.sh — tabby-node does all its work with no more than tabby-node.service leaves
# it: the unit's CapabilityBoundingSet (read from dist/tabby-node.service.in) and
# NoNewPrivileges, applied by setpriv to tabby-node on two lab nodes (BGP through BIRD, a
# VXLAN pool, a policy): both become ready and program table inet tabby, the VXLAN device
# and routes, and BIRD's configuration (reloaded through its socket). Without
# CAP_NET_ADMIN the same start never becomes ready, so the restriction is real.
set -u
. "$(dirname "$0")/lib.sh"
t_begin unit_caps
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/node_lib.sh"
NL_BACKEND=bird
nl_init unit_caps bird setpriv

caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$T_TOP/dist/tabby-node.service.in")
if [ -z "$caps" ] || ! grep -qx 'NoNewPrivileges=yes' "$T_TOP/dist/tabby-node.service.in"; then
    fail unit_names_its_capabilities "no CapabilityBoundingSet= or NoNewPrivileges=yes"
    t_end
fi
# A tabby-node that runs the real one with only CAPS (setpriv's -all,+net_admin,… form).
confined() { # FILE CAPS…
    local file=$1 set=-all c
    shift
    for c in "$@"; do set="$set,+$(tr 'A-Z' 'a-z' <<<"${c#CAP_}")"; done
    printf '#!/bin/sh\nexec setpriv --bounding-set=%s --inh-caps=-all --no-new-privs %s "$@"\n' \
        "$set" "$TABBY_NODE" >"$file"
    chmod +x "$file"
}
# shellcheck disable=SC2086 # the unit's list, one capability a word
confined "$T_TMP/tabby-node-unit" $caps
confined "$T_TMP/tabby-node-weak" $(tr ' ' '\n' <<<"$caps" | grep -vx CAP_NET_ADMIN)
REAL_TABBY_NODE=$TABBY_NODE

{
    printf 'apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\n'
    printf 'spec: {asNumber: 64512, nodeToNodeMeshEnabled: true}\n---\n'
    nl_pool default-pool 10.71.0.0/16 'vxlanMode: Always'
    printf 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n'
    printf 'metadata: {name: web}\nspec:\n  selector: app == "b"\n  ingress:\n'
    printf '  - {action: Allow, protocol: TCP, source: {selector: app == "a"}}\n'
} | nl_apply
for i in 1 2 3; do
    nl_node "n$i" "10.0.0.$i/24"
    nl_bird "n$i"
done

TABBY_NODE=$T_TMP/tabby-node-unit
if nl_start n1 && nl_start n2; then
    pass ready_with_the_units_capabilities
else
    fail ready_with_the_units_capabilities "$(tail -3 "$T_TMP"/tabby-node-n[12].log)"
fi
# What it programmed: nftables, the VXLAN device with a route to the other node, BIRD.
programmed() {
    nl_state n1 >"$T_TMP/state"
    grep -q 'table inet tabby' "$T_TMP/state" && grep -q 'vxlan id 4096' "$T_TMP/state" &&
        grep -q 'onlink' "$T_TMP/state" && grep -q 'protocol bgp' "$T_TMP/n1/bird.conf" &&
        ip netns exec "$PN_PREFIX-n1" birdc -s "$T_TMP/n1/bird.ctl" show protocols |
        grep -q 'BGP .* up'
}
if t_wait 30 programmed; then
    pass programs_nftables_vxlan_routes_and_bird
else
    fail programs_nftables_vxlan_routes_and_bird "$(head -c 600 "$T_TMP/state")"
fi
# The capability it needs most, taken away: the same start is refused by the kernel.
TABBY_NODE=$T_TMP/tabby-node-weak NL_WAIT_READY=0 nl_start n3
refused() { grep -qi 'not permitted' "$T_TMP/tabby-node-n3.log"; }
if t_wait 30 refused && ! nl_ready n3; then
    pass without_cap_net_admin_it_cannot
else
    fail without_cap_net_admin_it_cannot "$(tail -3 "$T_TMP/tabby-node-n3.log")"
fi
TABBY_NODE=$REAL_TABBY_NODE
t_end
