#!/bin/bash
# routes_crosssubnet.sh — a VXLAN CrossSubnet pool across three nodes: a and b share
# 192.168.1.0/24, c sits behind a router in 192.168.2.0/24. Between a and b pod traffic
# goes unencapsulated by direct routes; to c it goes through vxlan.tabby (the router knows
# no pod addresses, so nothing else could carry it).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/routes_lib.sh"

lab_begin routes-crosssubnet

STATE=$T_TMP/state.yaml
node_doc() { # NAME ADDRESS TUNNEL MAC
    printf -- '---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: %s}\n' \
        "$(yaml_str "$1")"
    printf 'spec:\n  bgp: {ipv4Address: %s}\n  ipv4VXLANTunnelAddr: %s\n' "$2" "$3"
    printf '  vxlanTunnelMACAddr: %s\n' "$4"
}
wep_doc() { # NODE POD ADDRESS
    printf -- '---\napiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n'
    printf 'metadata: {name: %s, namespace: default}\n' "$(yaml_str "$1-k8s-$2-eth0")"
    printf 'spec: {node: %s, interfaceName: tby%s, ipNetworks: [%s/32]}\n' "$(yaml_str "$1")" \
        "$2" "$3"
}
{
    printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: cross}\n'
    printf 'spec: {cidr: 10.65.0.0/16, vxlanMode: CrossSubnet}\n'
    node_doc a 192.168.1.11/24 10.65.0.0 66:de:a2:00:00:0a
    node_doc b 192.168.1.12/24 10.65.1.0 66:de:a2:00:00:0b
    node_doc c 192.168.2.13/24 10.65.2.0 66:de:a2:00:00:0c
    wep_doc a pa 10.65.0.5
    wep_doc b pb 10.65.1.5
    wep_doc c pc 10.65.2.5
} >"$STATE"
BLOCKS=(--block 10.65.0.0/26=a --block 10.65.1.0/26=b --block 10.65.2.0/26=c)

fab_router rtr 192.168.1.1/24 192.168.2.1/24
fab_node a rtr/br1 192.168.1.11/24 192.168.1.1
fab_node b rtr/br1 192.168.1.12/24 192.168.1.1
fab_node c rtr/br2 192.168.2.13/24 192.168.2.1
lab_pod a pa 10.65.0.5
lab_pod b pb 10.65.1.5
lab_pod c pc 10.65.2.5

for node in a b c; do
    if ! apply "$node" "$STATE" "${BLOCKS[@]}"; then
        fail crosssubnet-apply "node $node: $OUT"
        t_end
    fi
done
pass crosssubnet-apply

r=$(routes a)
if has "$r" "10.65.1.0/26 via 192.168.1.12 dev eth0" &&
    has "$r" "10.65.2.0/26 via 10.65.2.0 dev vxlan.tabby onlink"; then
    pass crosssubnet-routes-same-subnet-direct-other-vxlan
else
    fail crosssubnet-routes-same-subnet-direct-other-vxlan "$r"
fi
r=$(routes c)
if has "$r" "10.65.0.0/26 via 10.65.0.0 dev vxlan.tabby onlink" &&
    has "$r" "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink"; then
    pass crosssubnet-routes-from-the-far-subnet-all-vxlan
else
    fail crosssubnet-routes-from-the-far-subnet-all-vxlan "$r"
fi

before=$(tx_packets a vxlan.tabby)
if pod_ping pa 10.65.1.5 && pod_tcp pa pb 10.65.1.5; then
    pass crosssubnet-same-subnet-traffic
else
    fail crosssubnet-same-subnet-traffic "pa cannot reach pb (10.65.1.5)"
fi
after=$(tx_packets a vxlan.tabby)
[ "$after" = "$before" ] && pass crosssubnet-same-subnet-not-encapsulated ||
    fail crosssubnet-same-subnet-not-encapsulated "vxlan.tabby sent $((after - before))"

before=$(tx_packets a vxlan.tabby)
if pod_ping pa 10.65.2.5 && pod_tcp pa pc 10.65.2.5 && pod_tcp pc pb 10.65.1.5; then
    pass crosssubnet-other-subnet-traffic
else
    fail crosssubnet-other-subnet-traffic "pods cannot reach pc across the router"
fi
after=$(tx_packets a vxlan.tabby)
[ "$after" -gt "$before" ] && pass crosssubnet-other-subnet-encapsulated ||
    fail crosssubnet-other-subnet-encapsulated "vxlan.tabby sent nothing ($before → $after)"

t_end
