#!/bin/bash
# routes_vxlan.sh — two nodes on one segment with a VXLAN pool (IPv4 and IPv6): the
# route manager makes vxlan.tabby and vxlan-v6.tabby with their VTEP entries and routes,
# and pods on node a reach pods on node b through the tunnel (ping and TCP).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/routes_lib.sh"

lab_begin routes-vxlan

STATE=$T_TMP/state.yaml
cat >"$STATE" <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: vxlan-pool}
spec: {cidr: 10.65.0.0/16, vxlanMode: Always, natOutgoing: true}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: vxlan-pool-v6}
spec: {cidr: "fd65::/48", vxlanMode: Always}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: a}
spec:
  bgp: {ipv4Address: 192.168.1.11/24, ipv6Address: "fd00:1::11/64"}
  ipv4VXLANTunnelAddr: 10.65.0.0
  vxlanTunnelMACAddr: 66:de:a2:00:00:0a
  ipv6VXLANTunnelAddr: "fd65::"
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: b}
spec:
  bgp: {ipv4Address: 192.168.1.12/24, ipv6Address: "fd00:1::12/64"}
  ipv4VXLANTunnelAddr: 10.65.1.0
  vxlanTunnelMACAddr: 66:de:a2:00:00:0b
  ipv6VXLANTunnelAddr: "fd65:0:0:1::"
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: a-k8s-pa-eth0, namespace: default}
spec:
  node: a
  interfaceName: tbypa
  ipNetworks: [10.65.0.5/32, "fd65::5/128"]
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: b-k8s-pb-eth0, namespace: default}
spec:
  node: b
  interfaceName: tbypb
  ipNetworks: [10.65.1.5/32, "fd65:0:0:1::5/128"]
EOF
BLOCKS=(--block 10.65.0.0/26=a --block 10.65.1.0/26=b --block fd65::/122=a
        --block fd65:0:0:1::/122=b)

fab_switch fab
# a's default route leads nowhere: what the blackhole must keep its block's traffic from.
fab_node a fab 192.168.1.11/24 192.168.1.254 fd00:1::11/64
fab_node b fab 192.168.1.12/24 "" fd00:1::12/64
lab_pod a pa 10.65.0.5 fd65::5
lab_pod b pb 10.65.1.5 fd65:0:0:1::5

for node in a b; do
    if ! apply "$node" "$STATE" "${BLOCKS[@]}"; then
        fail vxlan-apply "node $node: $OUT"
        t_end
    fi
done
pass vxlan-apply

# The device as Calico makes vxlan.calico: VNI 4096, port 4789, no learning, local = the
# node's address, MTU 50 below the uplink's, the Node resource's MAC, the tunnel address.
dev=$(at a ip -d link show vxlan.tabby)
addr=$(at a ip -4 addr show dev vxlan.tabby)
why=""
for want in "vxlan id 4096" "dstport 4789" "nolearning" "local 192.168.1.11" "mtu 1450" \
    "link/ether 66:de:a2:00:00:0a" "state UNKNOWN"; do
    has "$dev" "$want" || why="$why [$want]"
done
has "$addr" "inet 10.65.0.0/32" || why="$why [address 10.65.0.0/32]"
[ -z "$why" ] && pass vxlan-device || fail vxlan-device "missing$why in: $dev $addr"

neigh=$(at a ip neigh show dev vxlan.tabby)
fdb=$(at a bridge fdb show dev vxlan.tabby)
if has "$neigh" "10.65.1.0 lladdr 66:de:a2:00:00:0b PERMANENT" &&
    has "$fdb" "66:de:a2:00:00:0b dst 192.168.1.12 self permanent"; then
    pass vxlan-vtep-entries
else
    fail vxlan-vtep-entries "neigh: $neigh; fdb: $fdb"
fi

r=$(routes a)
if has "$r" "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink" &&
    has "$r" "blackhole 10.65.0.0/26" && has "$r" "10.65.0.5 dev tbypa scope link"; then
    pass vxlan-routes
else
    fail vxlan-routes "$r"
fi

before=$(tx_packets a vxlan.tabby)
if pod_ping pa 10.65.1.5; then
    pass vxlan-pod-ping
else
    fail vxlan-pod-ping "pa cannot ping pb (10.65.1.5)"
fi
after=$(tx_packets a vxlan.tabby)
[ "$after" -gt "$before" ] && pass vxlan-traffic-is-encapsulated ||
    fail vxlan-traffic-is-encapsulated "vxlan.tabby sent nothing ($before → $after)"

pod_tcp pa pb 10.65.1.5 && pass vxlan-pod-tcp || fail vxlan-pod-tcp "no TCP from pa to pb"

# Traffic to an unallocated address of a's own block stops at a's blackhole rather than
# leaking out through the default route (the kernel answers a lookup that meets a
# blackhole with EINVAL).
got=$(at a ip route get 10.65.0.50 2>&1)
if has "$got" "Invalid argument" && has "$(at a ip route get 10.66.0.50)" "via 192.168.1.254"; then
    pass vxlan-own-block-blackholed
else
    fail vxlan-own-block-blackholed "$got"
fi

dev6=$(at a ip -d link show vxlan-v6.tabby)
if has "$dev6" "vxlan id 4096" && has "$dev6" "local fd00:1::11" && has "$dev6" "mtu 1430"; then
    pass vxlan-v6-device
else
    fail vxlan-v6-device "$dev6"
fi
if pod_ping pa fd65:0:0:1::5; then
    pass vxlan-v6-pod-ping
else
    fail vxlan-v6-pod-ping "pa cannot ping pb (fd65:0:0:1::5): $(routes a)"
fi

# The uplink's MTU drives the tunnel's.
at a ip link set eth0 mtu 1400
apply a "$STATE" "${BLOCKS[@]}"
mtu=$(at a cat /sys/class/net/vxlan.tabby/mtu)
[ "$mtu" = 1350 ] && pass vxlan-mtu-follows-uplink || fail vxlan-mtu-follows-uplink "mtu $mtu"

t_end
