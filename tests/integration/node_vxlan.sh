#!/usr/bin/env bash
# node_vxlan.sh — three nodes in VXLAN mode (no BIRD): tabby-node makes vxlan.tabby (VNI
# 4096, UDP 4789), takes its tunnel address from IPAM, programs routes, ARP and FDB
# entries for the other nodes' VTEPs, and pods on different nodes reach each other over
# TCP and UDP. natOutgoing: an outside host sees a pod's traffic with its node's address,
# and the pod's own address once natOutgoing is off. An IPIP pool on a kernel without IPIP
# degrades the node (said in /readiness, the log and the metrics, naming the pool) without
# stopping it, and the node's IPIP tunnel address comes from IPAM all the same. CrossSubnet: a fourth node behind a router, in another subnet; pods reach
# it through the tunnel while traffic within the first subnet goes natively, unencapsulated.
set -u
. "$(dirname "$0")/lib.sh"
t_begin node_vxlan
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/node_lib.sh"
NL_BACKEND=vxlan
nl_init node_vxlan

nl_pool default-pool 10.66.0.0/16 'vxlanMode: Always, natOutgoing: true' | nl_apply
for i in 1 2 3; do nl_node "n$i" "10.0.0.$i/24"; done
nl_host out 10.0.0.100/24
nl_start_all n1 n2 n3
pass nodes_start_and_become_ready
nl_pod n1 default a app=a
nl_pod n2 default b app=b
nl_pod n3 default c app=c

vteps() { [ "$(nl_in "$1" ip neigh show dev vxlan.tabby nud permanent | wc -l)" = 2 ]; }
if t_wait 30 vteps n1 && t_wait 30 vteps n2 && t_wait 30 vteps n3; then
    pass every_node_knows_two_vteps
else
    fail every_node_knows_two_vteps "$(nl_state n1)"
fi
if nl_in n1 ip -d link show vxlan.tabby | grep -q 'vxlan id 4096 .*dstport 4789'; then
    pass vxlan_device_has_vni_4096_and_port_4789
else
    fail vxlan_device_has_vni_4096_and_port_4789 "$(nl_in n1 ip -d link show vxlan.tabby)"
fi

# node_field NODE FIELD: one field of a Node resource's spec.
node_field() { pn_ctl get node "$1" -o yaml | sed -n "s/^ *$2: //p" | tr -d "'\""; }
# On NODE, REMOTE's VTEP: an ARP entry for its tunnel address with its VXLAN MAC, an FDB
# entry sending that MAC to its node address, and a route to its block via the tunnel.
vtep_of() {
    local node=$1 remote=$2 tunnel mac addr
    tunnel=$(node_field "$remote" ipv4VXLANTunnelAddr)
    mac=$(node_field "$remote" vxlanTunnelMACAddr)
    addr=$(node_field "$remote" ipv4Address)
    [ -n "$tunnel" ] && [ -n "$mac" ] &&
        nl_in "$node" ip neigh show dev vxlan.tabby | grep -q "^$tunnel lladdr $mac PERMANENT" &&
        nl_in "$node" bridge fdb show dev vxlan.tabby | grep -q "^$mac dst ${addr%/*} " &&
        nl_in "$node" ip route show proto 80 | grep -q " via $tunnel dev vxlan.tabby onlink"
}
vteps_complete() { vtep_of n1 n2 && vtep_of n1 n3 && vtep_of n2 n1 && vtep_of n3 n2; }
if t_wait 30 vteps_complete; then
    pass remote_vteps_have_route_arp_and_fdb_entries
else
    fail remote_vteps_have_route_arp_and_fdb_entries "$(nl_state n1 | tr '\n' ';' | tail -c 600)"
fi
if pn_ctl get node n3 -o yaml | grep -q 'ipv4VXLANTunnelAddr: 10\.66\.' &&
    pn_ctl ipam show --ip="$(pn_ctl get node n3 -o yaml | sed -n 's/.*ipv4VXLANTunnelAddr: //p')" |
    grep -q 'vxlan-tunnel-addr-n3'; then
    pass tunnel_address_comes_from_ipam
else
    fail tunnel_address_comes_from_ipam "$(pn_ctl get node n3 -o yaml)"
fi

nl_expect_mesh 80 TCP default/a default/b default/c
nl_expect_mesh 81 UDP default/a default/b default/c
pn_check

# ---- natOutgoing ------------------------------------------------------------------------
nl_bg out socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' 2>/dev/null
t_wait 20 nl_in out sh -c 'ss -ltn | grep -q :8080'
# The outside host routes the pool to node 1, so that un-masqueraded replies come back.
nl_in out ip route add 10.66.0.0/16 via 10.0.0.1
peer_seen() {
    ip netns exec "$(pn_netns default a)" socat -T 2 - TCP:10.0.0.100:8080,connect-timeout=2 \
        </dev/null 2>/dev/null
}
seen=$(peer_seen)
if [ "$seen" = 10.0.0.1 ]; then
    pass nat_outgoing_shows_the_node_address
else
    fail nat_outgoing_shows_the_node_address "outside saw '$seen'"
fi
seen=$(ip netns exec "$(pn_netns default b)" socat -T 2 - TCP:10.0.0.100:8080,connect-timeout=2 \
    </dev/null 2>/dev/null)
if [ "$seen" = 10.0.0.2 ]; then
    pass nat_outgoing_on_another_node_shows_that_node
else
    fail nat_outgoing_on_another_node_shows_that_node "outside saw '$seen'"
fi
pn_expect pod_to_pod_is_not_masqueraded allow default a default b 80 TCP
pn_check
nl_pool default-pool 10.66.0.0/16 'vxlanMode: Always, natOutgoing: false' | nl_apply
masq_gone() { ! nl_in n1 nft list chain inet tabby nat-postrouting >/dev/null 2>&1; }
seen=''
if t_wait 30 masq_gone && seen=$(peer_seen) && [ "$seen" = "$(pn_ip default a)" ]; then
    pass without_nat_outgoing_the_pod_address_is_seen
else
    fail without_nat_outgoing_the_pod_address_is_seen "outside saw '$seen'"
fi

# ---- IPIP without kernel support ------------------------------------------------------------
nl_pool ipip-pool 10.67.0.0/16 'ipipMode: Always' | nl_apply
degraded() { nl_http n1 /metrics | grep -q '^tabby_routes_degraded 1$'; }
ipip_said='IPIP pool ipip-pool needs the kernel.s ipip module'
if t_wait 30 degraded && nl_ready n1 &&
    nl_http n1 /readiness | grep -q "degraded: routes:.*$ipip_said" &&
    grep -q "warning routes: routes degraded .*$ipip_said" "$T_TMP/tabby-node-n1.log"; then
    pass ipip_pool_degrades_the_node_without_stopping_it
else
    fail ipip_pool_degrades_the_node_without_stopping_it "$(nl_http n1 /readiness)"
fi
pn_expect vxlan_still_routes_when_degraded allow default a default c 80 TCP
pn_check
# The IPIP tunnel address is taken all the same, as calico-node takes it: from the IPIP
# pool, under handle ipip-tunnel-addr-<node>, said in spec.bgp.ipv4IPIPTunnelAddr.
ipip_addr=
ipip_from_ipam() {
    ipip_addr=$(node_field n1 ipv4IPIPTunnelAddr)
    [[ $ipip_addr == 10.67.* ]] &&
        pn_ctl ipam show --ip="$ipip_addr" | grep -q '^Handle: ipip-tunnel-addr-n1$'
}
if t_wait 30 ipip_from_ipam; then
    pass ipip_tunnel_address_comes_from_ipam
else
    fail ipip_tunnel_address_comes_from_ipam "$(pn_ctl get node n1 -o yaml)"
fi
pn_ctl delete ippool ipip-pool >/dev/null
recovered() { nl_http n1 /metrics | grep -q '^tabby_routes_degraded 0$'; }
if t_wait 70 recovered && [ "$(nl_http n1 /readiness)" = "200 ready" ]; then
    pass node_recovers_once_the_ipip_pool_goes
else
    fail node_recovers_once_the_ipip_pool_goes "$(nl_http n1 /readiness)"
fi
ipip_given_back() {
    [ -z "$(node_field n1 ipv4IPIPTunnelAddr)" ] &&
        pn_ctl ipam show --ip="$ipip_addr" | grep -q 'is not currently assigned'
}
if [ -n "$ipip_addr" ] && t_wait 30 ipip_given_back; then
    pass ipip_tunnel_address_is_given_back_with_the_last_ipip_pool
else
    fail ipip_tunnel_address_is_given_back_with_the_last_ipip_pool \
        "$ipip_addr: $(pn_ctl ipam show --ip="$ipip_addr" 2>&1 | head -2 | tr '\n' ';')"
fi

# ---- CrossSubnet --------------------------------------------------------------------------
# n4 lives in 10.0.1.0/24 behind router rt, which knows the node subnets and no pod
# addresses: what reaches a pod across it must be encapsulated.
nl_fabric fab2
nl_router rt 10.0.0.254/24 fab 10.0.1.254/24 fab2
for i in 1 2 3; do nl_in "n$i" ip route add 10.0.1.0/24 via 10.0.0.254; done
nl_node n4 10.0.1.4/24 fab2
nl_in n4 ip route add 10.0.0.0/24 via 10.0.1.254
nl_start_all n4
nl_pod n4 default d app=d
nl_pool default-pool 10.66.0.0/16 'vxlanMode: CrossSubnet' | nl_apply
# route_dev NODE NS POD: the device NODE sends the pod's traffic through.
route_dev() { nl_in "$1" ip -o route get "$(pn_ip "$2" "$3")" | sed -n 's/.* dev \([^ ]*\).*/\1/p'; }
cross() {
    [ "$(route_dev n1 default b)" = eth0 ] && [ "$(route_dev n1 default d)" = vxlan.tabby ] &&
        [ "$(route_dev n4 default a)" = vxlan.tabby ] && [ "$(route_dev n2 default c)" = eth0 ]
}
if t_wait 30 cross; then
    pass crosssubnet_routes_natively_within_the_subnet_and_tunnels_across
else
    fail crosssubnet_routes_natively_within_the_subnet_and_tunnels_across \
        "n1: $(nl_in n1 ip route show proto 80 | tr '\n' ';')"
fi
if nl_in n1 ip route show proto 80 | grep -q "$(node_field n2 ipv4Address | cut -d/ -f1) dev eth0"
then
    pass crosssubnet_native_route_goes_via_the_node_address
else
    fail crosssubnet_native_route_goes_via_the_node_address "$(nl_in n1 ip route show proto 80)"
fi
nl_expect_mesh 80 TCP default/a default/b default/d
nl_expect_mesh 81 UDP default/a default/d
pn_check
# The tunnel's packet counter on n1 moves for a pod across the router, not for one beside.
vx_tx() { nl_in n1 cat /sys/class/net/vxlan.tabby/statistics/tx_packets; }
before=$(vx_tx)
for _ in 1 2 3; do pn_probe default a default b 80 TCP; done
same=$(($(vx_tx) - before))
before=$(vx_tx)
pn_probe default a default d 80 TCP
across=$(($(vx_tx) - before))
if [ "$same" = 0 ] && [ "$across" -gt 0 ]; then
    pass crosssubnet_encapsulates_only_across_subnets
else
    fail crosssubnet_encapsulates_only_across_subnets "tunnel packets: within $same, across $across"
fi
t_end
