#!/usr/bin/env bash
# bgp_rr.sh — a route-reflector topology: one node with routeReflectorClusterID, two
# clients, the mesh off, and Calico's BGPPeer that peers every node with the reflectors.
# The clients only peer with the reflector, yet every node learns every block, with the
# owning node as next hop.
set -u
. "$(dirname "$0")/lib.sh"
t_begin bgp-rr
. "$(dirname "$0")/bgp_lib.sh"
bgp_need bgp-rr bird ip

{
    yaml_bgpconfig false
    yaml_pool default-pool 10.244.0.0/16
    yaml_node rr 10.0.0.10/24 'routeReflectorClusterID: 224.0.0.1' 'route-reflector: "true"'
    yaml_node c1 10.0.0.11/24
    yaml_node c2 10.0.0.12/24
    cat <<'EOF'
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: peer-with-route-reflectors}
spec:
  nodeSelector: all()
  peerSelector: route-reflector == 'true'
EOF
} | ctl apply -f - >/dev/null

bgp_fabric
bgp_host rr 10.0.0.10/24
bgp_host c1 10.0.0.11/24
bgp_host c2 10.0.0.12/24
bgp_bird rr 10.0.0.10
bgp_bird c1 10.0.0.11
bgp_bird c2 10.0.0.12

test_clients_peer_only_with_the_reflector() {
    bgp_apply rr --block 10.244.10.0/26
    bgp_apply c1 --block 10.244.11.0/26
    bgp_apply c2 --block 10.244.12.0/26
    if t_wait 30 sessions_up rr 2 && t_wait 10 sessions_up c1 1 &&
        t_wait 10 sessions_up c2 1 && ! grep -q 'neighbor 10.0.0.12' "$T_TMP/c1/bird.conf" &&
        grep -q 'rr client;' "$T_TMP/rr/bird.conf"; then
        pass clients_peer_only_with_the_reflector
    else
        fail clients_peer_only_with_the_reflector \
            "$(ctl node status --bird-socket "$T_TMP/rr/bird.ctl" 2>&1 | tail -8)"
    fi
}

test_routes_reach_every_node_via_their_owner() {
    local missing=""
    t_wait 20 has_route c1 10.244.12.0/26 "via 10.0.0.12" || missing="$missing c1:c2"
    t_wait 10 has_route c2 10.244.11.0/26 "via 10.0.0.11" || missing="$missing c2:c1"
    t_wait 10 has_route c1 10.244.10.0/26 "via 10.0.0.10" || missing="$missing c1:rr"
    t_wait 10 has_route rr 10.244.11.0/26 "via 10.0.0.11" || missing="$missing rr:c1"
    t_wait 10 has_route rr 10.244.12.0/26 "via 10.0.0.12" || missing="$missing rr:c2"
    if [ -z "$missing" ]; then
        pass routes_reach_every_node_via_their_owner
    else
        fail routes_reach_every_node_via_their_owner "missing:$missing"
    fi
}

test_reflected_withdrawal_reaches_the_other_client() {
    bgp_apply c2 # its block released
    if t_wait 10 no_route c1 10.244.12.0/26 && t_wait 5 no_route rr 10.244.12.0/26; then
        pass reflected_withdrawal_reaches_the_other_client
    else
        fail reflected_withdrawal_reaches_the_other_client "c1: $(bird_routes c1 | tr '\n' ' ')"
    fi
}

test_node_status_shows_node_specific_peers() {
    local out
    out=$(ctl node status --bird-socket "$T_TMP/rr/bird.ctl" --node-pid-file /nonexistent)
    if [ "$(grep -c '| node specific | up .*| Established *|$' <<<"$out")" = 2 ]; then
        pass node_status_shows_node_specific_peers
    else
        fail node_status_shows_node_specific_peers "$out"
    fi
}

test_clients_peer_only_with_the_reflector
test_routes_reach_every_node_via_their_owner
test_reflected_withdrawal_reaches_the_other_client
test_node_status_shows_node_specific_peers
t_end
