#!/usr/bin/env bash
# felix_config.sh — a FelixConfiguration changes a running node's dataplane, no restart:
# two nodes in VXLAN mode; vxlanVNI, vxlanPort and vxlanMTU remake vxlan.tabby (the pods
# still reach each other across it), natOutgoingAddress source-NATs pod traffic leaving the
# pools to that address instead of masquerading it, and removing the FelixConfiguration
# brings Calico's defaults back (VNI 4096, port 4789, masquerade). tabbyctl apply warns,
# naming them, about fields that only tune what tabby does not have, and refuses one that
# would change what traffic is allowed.
set -u
. "$(dirname "$0")/lib.sh"
t_begin felix_config
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/node_lib.sh"
NL_BACKEND=vxlan
nl_init felix_config

nl_pool default-pool 10.68.0.0/16 'vxlanMode: Always, natOutgoing: true' | nl_apply
for i in 1 2; do nl_node "n$i" "10.0.0.$i/24"; done
nl_host out 10.0.0.100/24
nl_start_all n1 n2
nl_pod n1 default a app=a
nl_pod n2 default b app=b

device() { nl_in "$1" ip -d link show vxlan.tabby 2>/dev/null | tr '\n' ' '; }
device_is() { device "$1" | grep -q "mtu $2 .*vxlan id $3 .*dstport $4"; }
if t_wait 30 device_is n1 1450 4096 4789 && t_wait 30 device_is n2 1450 4096 4789; then
    pass vxlan_device_starts_with_calico_s_defaults
else
    fail vxlan_device_starts_with_calico_s_defaults "$(device n1)"
fi

felix() {
    printf 'apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\n'
    printf 'metadata: {name: "%s"}\nspec: %s\n' "$1" "$2"
}

# ---- VXLAN's VNI, port and MTU ----------------------------------------------------------
felix default '{vxlanVNI: 5000, vxlanPort: 8472, vxlanMTU: 1300}' | nl_apply
if t_wait 30 device_is n1 1300 5000 8472 && t_wait 30 device_is n2 1300 5000 8472; then
    pass vxlan_vni_port_and_mtu_apply_live
else
    fail vxlan_vni_port_and_mtu_apply_live "$(device n1)"
fi
# the node's own wins over the default, field by field
felix node.n2 '{vxlanMTU: 1280}' | nl_apply
if t_wait 30 device_is n2 1280 5000 8472 && device_is n1 1300 5000 8472; then
    pass the_node_s_own_felixconfiguration_wins
else
    fail the_node_s_own_felixconfiguration_wins "$(device n2)"
fi
nl_expect_mesh 80 TCP default/a default/b
pn_check

# ---- natOutgoingAddress -------------------------------------------------------------------
nl_in n1 ip addr add 10.0.0.51/24 dev eth0
nl_echo_peer out
peer_seen() { nl_peer_seen default a 10.0.0.100; }
seen=$(peer_seen)
if [ "$seen" = 10.0.0.1 ]; then
    pass nat_outgoing_masquerades_by_default
else
    fail nat_outgoing_masquerades_by_default "outside saw '$seen'"
fi
felix default '{vxlanVNI: 5000, vxlanPort: 8472, vxlanMTU: 1300, natOutgoingAddress: "10.0.0.51"}' |
    nl_apply
snat_programmed() { nl_in n1 nft list chain inet tabby nat-postrouting | grep -q 'snat ip to 10.0.0.51'; }
seen=''
if t_wait 30 snat_programmed && seen=$(peer_seen) && [ "$seen" = 10.0.0.51 ]; then
    pass nat_outgoing_address_applies_live
else
    fail nat_outgoing_address_applies_live "outside saw '$seen'; $(nl_in n1 nft list chain inet tabby nat-postrouting 2>&1 | tr '\n' ' ')"
fi

# ---- removed: Calico's defaults again -------------------------------------------------------
pn_ctl delete felixconfiguration node.n2 default >/dev/null
masquerading() { nl_in n1 nft list chain inet tabby nat-postrouting | grep -q masquerade; }
seen=''
if t_wait 30 device_is n1 1450 4096 4789 && t_wait 30 device_is n2 1450 4096 4789 &&
    t_wait 30 masquerading && seen=$(peer_seen) && [ "$seen" = 10.0.0.1 ]; then
    pass removing_it_brings_the_defaults_back
else
    fail removing_it_brings_the_defaults_back "outside saw '$seen'; $(device n1)"
fi
nl_expect_mesh 80 TCP default/a default/b
pn_check

# ---- what tabbyctl apply says -------------------------------------------------------------
out=$(felix default '{bpfLogLevel: Debug, wireguardMTU: 1400, logSeverityScreen: Info}' |
    pn_ctl apply -f - 2>&1)
if [ $? = 0 ] && grep -q 'warning: FelixConfiguration default: spec.bpfLogLevel: accepted but not applied' <<<"$out" &&
    grep -q 'warning: FelixConfiguration default: spec.wireguardMTU: accepted but not applied' <<<"$out"; then
    pass apply_warns_naming_fields_that_only_tune_what_tabby_lacks
else
    fail apply_warns_naming_fields_that_only_tune_what_tabby_lacks "$out"
fi
if out=$(felix default '{wireguardEnabled: true}' | pn_ctl apply -f - 2>&1); then
    fail apply_refuses_a_field_that_changes_traffic "applied: $out"
elif grep -q 'spec.wireguardEnabled: is not enforced by tabby' <<<"$out" &&
    ! pn_ctl get felixconfiguration default -o yaml | grep -q wireguardEnabled; then
    pass apply_refuses_a_field_that_changes_traffic
else
    fail apply_refuses_a_field_that_changes_traffic "$out"
fi
t_end
