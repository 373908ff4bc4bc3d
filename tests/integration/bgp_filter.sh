#!/usr/bin/env bash
# bgp_filter.sh — BGPFilter and reachableBy against real BIRD (rendered by tabby) and FRR,
# in namespaces. Nodes n1 and n2 mesh; n1 peers with a top-of-rack router (FRR) that
# announces a default route, a prefix outside the pools and pod-pool prefixes. Without
# filters the router learns n1's blocks and n2's (reflected), and n1 takes the pool prefixes
# only; with a BGPFilter the router learns only what its export rules let through (Equal,
# source RemotePeers) and n1 takes what its import rules say (Equal Accept outside the
# pools, In with a prefix length, NotIn, NotEqual, interface). A peer whose filter is
# deleted is left out. A second router behind a gateway is reachable only through the
# route reachableBy makes.
set -u
. "$(dirname "$0")/lib.sh"
t_begin bgp-filter
. "$(dirname "$0")/bgp_lib.sh"
bgp_need bgp-filter bird birdc ip vtysh python3 /usr/lib/frr/bgpd /usr/lib/frr/zebra

peer_tor() {
    printf '%s\nkind: BGPPeer\nmetadata: {name: tor}\nspec: {node: n1, peerIP: 10.0.0.254, asNumber: 65001%s}\n---\n' \
        "$V3" "${1:+, filters: [$1]}"
}
peer_far() {
    printf '%s\nkind: BGPPeer\nmetadata: {name: far}\nspec: {node: n1, peerIP: 192.168.50.2, asNumber: 65002%s}\n---\n' \
        "$V3" "${1:+, reachableBy: $1}"
}
FILTER="$V3
kind: BGPFilter
metadata: {name: tor-policy}
spec:
  exportV4:
  - {cidr: 10.244.2.0/26, matchOperator: Equal, action: Reject}
  - {source: RemotePeers, action: Reject}
  importV4:
  - {cidr: 10.244.7.0/24, matchOperator: Equal, interface: 'eth*', action: Reject}
  - {cidr: 10.244.6.0/24, matchOperator: Equal, interface: 'nomatch*', action: Reject}
  - {cidr: 172.16.0.0/16, matchOperator: Equal, action: Accept}
  - {cidr: 10.244.0.0/16, matchOperator: In, prefixLength: {min: 25}, action: Reject}
  - {cidr: 10.0.0.0/8, matchOperator: NotIn, action: Reject}
---"

{
    yaml_bgpconfig true
    yaml_pool default-pool 10.244.0.0/16
    yaml_node n1 10.0.0.1/24
    yaml_node n2 10.0.0.2/24
    peer_tor
    peer_far
} | ctl apply -f - >/dev/null

bgp_fabric
for i in 1 2; do
    bgp_host "n$i" "10.0.0.$i/24"
    bgp_bird "n$i" "10.0.0.$i"
done
bgp_host tor 10.0.0.254/24
# gw: on the fabric and on a segment of its own with the far router behind it; n1 has no
# route to that segment (no default route either).
bgp_host gw 10.0.0.253/24
fab_forward gw
fab_ns far
fab_link gw eth1 far eth0
fab_in gw ip addr add 192.168.50.1/24 dev eth1
fab_in far ip addr add 192.168.50.2/24 dev eth0
fab_in far ip route add default via 192.168.50.1

if ! bgp_frr tor "$(frr_head tor 65001 10.0.0.254)
 neighbor 10.0.0.1 remote-as 64512
 neighbor 10.0.0.1 timers connect 1
 address-family ipv4 unicast
  network 0.0.0.0/0
  network 172.16.0.0/16
  network 10.244.6.0/24
  network 10.244.7.0/24
  network 10.244.8.0/24
  network 10.244.9.0/26
 exit-address-family" || ! bgp_frr far "$(frr_head far 65002 192.168.50.2)
 neighbor 10.0.0.1 remote-as 64512
 neighbor 10.0.0.1 ebgp-multihop 4
 neighbor 10.0.0.1 timers connect 1"; then
    fail frr_starts "$(cat "$T_TMP"/*/frr/*.log 2>/dev/null | tail -5)"
    t_end
fi

apply_nodes() {
    bgp_apply n1 --block 10.244.1.0/26 --block 10.244.2.0/26 2>"$T_TMP/apply.err" &&
        bgp_apply n2 --block 10.244.3.0/26 2>>"$T_TMP/apply.err"
}

tor_learned() { frr_prefixes tor | grep -v -x -e 0.0.0.0/0 -e 172.16.0.0/16 -e '10.244.[6-9].0/2[46]'; }
tor_learned_is() { [ "$(tor_learned)" = "$1" ]; }
tor_not_established() { ! frr_established tor 10.0.0.1; }
# The prefixes n1's BIRD took from the router (its import filter's verdicts), sorted.
n1_from_tor() {
    birdc -s "$T_TMP/n1/bird.ctl" show route protocol Node_10_0_0_254 |
        awk '$1 ~ /^[0-9]+\./ {print $1}' | sort
}
n1_from_tor_is() { [ "$(n1_from_tor)" = "$1" ]; }

test_without_filters_the_router_and_node_take_the_defaults() {
    local want_tor want_n1
    apply_nodes
    want_tor=$(printf '10.244.1.0/26\n10.244.2.0/26\n10.244.3.0/26\n')
    want_n1=$(printf '10.244.6.0/24\n10.244.7.0/24\n10.244.8.0/24\n10.244.9.0/26\n')
    if t_wait 60 tor_learned_is "$want_tor" && t_wait 30 n1_from_tor_is "$want_n1"; then
        pass without_filters_the_router_and_node_take_the_defaults
    else
        fail without_filters_the_router_and_node_take_the_defaults \
            "router has: $(echo $(tor_learned)); n1 took: $(echo $(n1_from_tor))"
    fi
}

test_export_filter_limits_what_the_router_learns() {
    { printf '%s\n' "$FILTER"; peer_tor tor-policy; } | ctl apply -f - >/dev/null
    apply_nodes
    if t_wait 60 tor_learned_is "10.244.1.0/26"; then
        pass "export_filter_limits_what_the_router_learns (Equal Reject; source RemotePeers Reject)"
    else
        fail export_filter_limits_what_the_router_learns "router has: $(echo $(tor_learned))"
    fi
}

test_import_filter_decides_before_the_pools() {
    local want
    # 172.16/16 accepted although outside the pools; 10.244.7/24 rejected on its
    # interface, 10.244.6/24 not (another interface); 10.244.9/26 rejected by length;
    # the default route by NotIn; 10.244.8/24 falls through to tabby's pool rule.
    want=$(printf '10.244.6.0/24\n10.244.8.0/24\n172.16.0.0/16\n')
    if t_wait 60 n1_from_tor_is "$want"; then
        pass "import_filter_decides_before_the_pools (Equal Accept, interface, In with length, NotIn)"
    else
        fail import_filter_decides_before_the_pools "n1 took: $(echo $(n1_from_tor))"
    fi
}

test_peer_without_its_filter_is_left_out() {
    ctl delete bgpfilter tor-policy >/dev/null
    apply_nodes
    if grep -q 'BGPPeer tor: filter tor-policy: no such BGPFilter' "$T_TMP/apply.err" &&
        ! grep -q 'Node_10_0_0_254' "$T_TMP/n1/bird.conf" && t_wait 60 tor_not_established; then
        pass peer_without_its_filter_is_left_out
    else
        fail peer_without_its_filter_is_left_out "$(cat "$T_TMP/apply.err")"
    fi
}

test_without_reachable_by_the_far_router_is_out_of_reach() {
    if ! fab_in n1 ip route get 192.168.50.2 >/dev/null 2>&1 && ! frr_established far 10.0.0.1; then
        pass without_reachable_by_the_far_router_is_out_of_reach
    else
        fail without_reachable_by_the_far_router_is_out_of_reach "$(fab_in n1 ip route get 192.168.50.2 2>&1)"
    fi
}

test_reachable_by_routes_to_the_peer_through_its_gateway() {
    peer_far 10.0.0.253 | ctl apply -f - >/dev/null
    apply_nodes
    if t_wait 30 has_route n1 192.168.50.2 "via 10.0.0.253" && t_wait 60 frr_established far 10.0.0.1; then
        pass reachable_by_routes_to_the_peer_through_its_gateway
    else
        fail reachable_by_routes_to_the_peer_through_its_gateway \
            "route: $(fab_in n1 ip route show 192.168.50.2); $(frr_vtysh far 'show bgp summary' 2>&1 | tail -3)"
    fi
}

test_without_filters_the_router_and_node_take_the_defaults
test_export_filter_limits_what_the_router_learns
test_import_filter_decides_before_the_pools
test_peer_without_its_filter_is_left_out
test_without_reachable_by_the_far_router_is_out_of_reach
test_reachable_by_routes_to_the_peer_through_its_gateway
t_end
