#!/usr/bin/env bash
# bgp_tor.sh — a top-of-rack router run by FRR (another BGP implementation) in its own
# namespace, peered with two nodes through one global BGPPeer, the mesh off: the router
# learns exactly the pod blocks (not the fabric subnet, not a pool kept out of BGP), the
# nodes take nothing from it but pod blocks, and with a password the session only comes
# up with the right one.
set -u
. "$(dirname "$0")/lib.sh"
t_begin bgp-tor
. "$(dirname "$0")/bgp_lib.sh"
bgp_need bgp-tor bird ip vtysh python3 /usr/lib/frr/bgpd /usr/lib/frr/zebra

SECRETS=$T_TMP/secrets
mkdir -p "$SECRETS/bgp"
printf 'wrong-password\n' >"$SECRETS/bgp/tor"

{
    yaml_bgpconfig false
    yaml_pool default-pool 10.244.0.0/16
    yaml_pool private-pool 10.251.0.0/16 'disableBGPExport: true'
    yaml_node n1 10.0.0.1/24
    yaml_node n2 10.0.0.2/24
    cat <<'EOF'
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec:
  peerIP: 10.0.0.254
  asNumber: 65001
  password: {secretKeyRef: {name: bgp, key: tor}}
  # Both nodes are AS 64512: a route from one reaches the other as "65001 64512".
  numAllowedLocalASNumbers: 1
EOF
} | ctl apply -f - >/dev/null

bgp_fabric
bgp_host tor 10.0.0.254/24
for i in 1 2; do
    bgp_host "n$i" "10.0.0.$i/24"
    bgp_bird "n$i" "10.0.0.$i"
done
# The router also announces a default route and a prefix of its own: the nodes must
# not take them.
if ! bgp_frr tor "$(frr_head tor 65001 10.0.0.254)
 neighbor 10.0.0.1 remote-as 64512
 neighbor 10.0.0.1 password right-password
 neighbor 10.0.0.1 timers connect 1
 neighbor 10.0.0.2 remote-as 64512
 neighbor 10.0.0.2 password right-password
 neighbor 10.0.0.2 timers connect 1
 address-family ipv4 unicast
  network 0.0.0.0/0
  network 172.16.0.0/16
 exit-address-family"; then
    fail frr_starts "$(cat "$T_TMP/tor/frr/"*.log 2>/dev/null | tail -5)"
    t_end
fi

apply_nodes() {
    bgp_apply n1 --secrets-dir "$SECRETS" --block 10.244.1.0/26 --block 10.251.1.0/26 &&
        bgp_apply n2 --secrets-dir "$SECRETS" --block 10.244.2.0/26
}

# md5_failures NAME: TCP segments NAME's kernel dropped for a wrong MD5 signature.
md5_failures() {
    fab_in "$1" cat /proc/net/netstat | awk '/^TcpExt:/ {
        if (!seen) { for (i = 1; i <= NF; i++) col[i] = $i; seen = 1; next }
        for (i = 1; i <= NF; i++) if (col[i] == "TCPMD5Failure") print $i }'
}

# Every side has refused the other's connection attempts at least twice (the kernel
# drops a segment signed with the wrong password): the sessions had their chances.
attempts_refused() {
    local n
    for n in tor n1 n2; do [ "$(md5_failures "$n")" -ge 2 ] || return 1; done
}

test_wrong_password_keeps_the_session_down() {
    apply_nodes
    if ! t_wait 60 attempts_refused; then
        fail wrong_password_keeps_the_session_down "no refused attempt on every side: tor" \
            "$(md5_failures tor), n1 $(md5_failures n1), n2 $(md5_failures n2)"
    elif ! frr_established tor 10.0.0.1 && ! frr_established tor 10.0.0.2 &&
        grep -q 'password "wrong-password"' "$T_TMP/n1/bird.conf"; then
        pass wrong_password_keeps_the_session_down
    else
        fail wrong_password_keeps_the_session_down "a session is up with the wrong password"
    fi
}

test_right_password_brings_the_session_up() {
    printf 'right-password\n' >"$SECRETS/bgp/tor"
    apply_nodes
    if t_wait 40 frr_established tor 10.0.0.1 && t_wait 20 frr_established tor 10.0.0.2; then
        pass right_password_brings_the_session_up
    else
        fail right_password_brings_the_session_up \
            "$(frr_vtysh tor 'show bgp ipv4 unicast summary' 2>&1 | tail -5)"
    fi
}

tor_learned() { frr_prefixes tor | grep -v -x -e 0.0.0.0/0 -e 172.16.0.0/16; }
tor_learned_is() { [ "$(tor_learned)" = "$1" ]; }

# BIRD sends a session's whole export at once: once the router holds the pod blocks, a
# prefix that should not have gone out (the fabric, the pool kept out of BGP) is there too.
test_router_learns_exactly_the_pod_blocks() {
    local want got
    want=$(printf '10.244.1.0/26\n10.244.2.0/26\n')
    t_wait 30 tor_learned_is "$want"
    got=$(tor_learned)
    if [ "$got" = "$want" ]; then
        pass router_learns_exactly_the_pod_blocks
    else
        fail router_learns_exactly_the_pod_blocks "router has: $(echo $got)"
    fi
}

test_nodes_take_only_pod_blocks_from_the_router() {
    local want got
    want=$(printf '10.244.1.0/26\n10.244.2.0/26\n10.251.1.0/26\n')
    t_wait 30 bird_routes_are n1 "$want"
    got=$(bird_routes n1)
    if [ "$got" = "$want" ]; then
        pass nodes_take_only_pod_blocks_from_the_router
    else
        fail nodes_take_only_pod_blocks_from_the_router "n1 has: $(echo $got)"
    fi
}

test_node_status_shows_the_global_peer() {
    local out
    out=$(ctl node status --bird-socket "$T_TMP/n1/bird.ctl" --node-pid-file /nonexistent)
    if grep -q '^| 10.0.0.254 *| global *| up .*| Established *|$' <<<"$out"; then
        pass node_status_shows_the_global_peer
    else
        fail node_status_shows_the_global_peer "$out"
    fi
}

test_wrong_password_keeps_the_session_down
test_right_password_brings_the_session_up
test_router_learns_exactly_the_pod_blocks
test_nodes_take_only_pod_blocks_from_the_router
test_node_status_shows_the_global_peer
t_end
