#!/bin/bash
# routes_ipip.sh — an IPIP pool on a kernel without IPIP fails with a message that says
# what is missing and what to do instead, while everything else (a VXLAN pool beside
# it, workload routes) is still programmed. What IPIP would route, and the address tunl0
# would have, is visible in the plan.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/routes_lib.sh"

lab_begin routes-ipip

fab_ns probe
if at probe ip link add tby-probe type ipip 2>/dev/null ||
    at probe ip link show tunl0 >/dev/null 2>&1; then
    skip ipip-missing-module-message "this kernel has IPIP"
    skip ipip-failure-spares-the-rest "this kernel has IPIP"
    skip ipip-plan-renders-tunl0-routes "this kernel has IPIP"
    t_end
fi

pool() { # NAME CIDR VXLAN IPIP
    printf -- '---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: %s}\n' \
        "$(yaml_str "$1")"
    printf 'spec: {cidr: %s, vxlanMode: %s, ipipMode: %s}\n' "$2" "$3" "$4"
}
nodes() {
    printf -- '---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: a}\n'
    printf 'spec: {bgp: {ipv4Address: 192.168.1.11/24, ipv4IPIPTunnelAddr: 10.66.0.1},\n'
    printf '       ipv4VXLANTunnelAddr: 10.65.0.0}\n'
    printf -- '---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: b}\n'
    printf 'spec: {bgp: {ipv4Address: 192.168.1.12/24}, ipv4VXLANTunnelAddr: 10.65.1.0}\n'
    printf -- '---\napiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n'
    printf 'metadata: {name: a-k8s-pa-eth0, namespace: default}\n'
    printf 'spec: {node: a, interfaceName: tbypa, ipNetworks: [10.65.0.5/32]}\n'
}
{ pool default-ipip 10.66.0.0/16 Never Always; nodes; } >"$T_TMP/ipip.yaml"
{ pool vxlan 10.65.0.0/16 Always Never; pool default-ipip 10.66.0.0/16 Never CrossSubnet
  nodes; } >"$T_TMP/both.yaml"
BLOCKS=(--block 10.65.0.0/26=a --block 10.65.1.0/26=b --block 10.66.1.0/26=b)

fab_switch fab
fab_node a fab 192.168.1.11/24
lab_pod a pa 10.65.0.5

expected="IPIP pool default-ipip needs the kernel's ipip module, which this kernel does not \
have (ip link add type ipip: Operation not supported); use vxlanMode instead"

# The message is the whole of what the driver says: the last line, and nothing after it.
driver a apply a "$T_TMP/ipip.yaml" "${BLOCKS[@]}"
if [ "$RC" = 1 ] && [ "$(echo "$OUT" | tail -1)" = "$expected" ]; then
    pass ipip-missing-module-message
else
    fail ipip-missing-module-message "exit $RC: $OUT"
fi

driver a apply a "$T_TMP/both.yaml" "${BLOCKS[@]}"
r=$(routes a)
if [ "$RC" = 1 ] && [ "$(echo "$OUT" | tail -1)" = "$expected" ] &&
    at a ip link show vxlan.tabby >/dev/null &&
    has "$r" "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink" &&
    has "$r" "10.65.0.5 dev tbypa scope link" && ! at a ip link show tunl0 >/dev/null 2>&1
then
    pass ipip-failure-spares-the-rest
else
    fail ipip-failure-spares-the-rest "exit $RC: $OUT // $r"
fi

# b shares a's subnet: CrossSubnet IPIP would route it directly; Always through tunl0,
# which would have the IPIP tunnel address registration gave a (spec.bgp.ipv4IPIPTunnelAddr).
driver a plan a "$T_TMP/both.yaml" "${BLOCKS[@]}"
plan_cross=$OUT
driver a plan a "$T_TMP/ipip.yaml" "${BLOCKS[@]}"
if has "$plan_cross" "route 10.66.1.0/26 via 192.168.1.12"$'\n' &&
    has "$OUT" "route 10.66.1.0/26 via 192.168.1.12 dev tunl0 onlink" &&
    has "$OUT" "ipip pool default-ipip" && has "$OUT" "device tunl0 address 10.66.0.1" &&
    ! has "$OUT" "no IPIP tunnel address"; then
    pass ipip-plan-renders-tunl0-routes
else
    fail ipip-plan-renders-tunl0-routes "$plan_cross // $OUT"
fi

t_end
