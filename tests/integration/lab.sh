#!/usr/bin/env bash
# lab.sh — the README's first command, as a test: examples/lab/lab builds a 3-node cluster
# in namespaces (BIRD and tabby-node on each node, pods through the tabby CNI plugin) in
# every mode it offers, and the test checks what a user would: pods on different nodes
# reach each other, the example policies block and allow what they say, natOutgoing
# shows the node's address to an outside host, and `lab down` leaves nothing behind.
# Modes: native BGP mesh, native with a top-of-rack router (FRR), VXLAN, VXLAN
# CrossSubnet, and native on an etcd datastore. Needs root; never touches the host's
# namespace.
set -u
. "$(dirname "$0")/lib.sh"
t_begin lab
t_need_root lab

LAB_SCRIPT=$T_TOP/examples/lab/lab
export TABBY_BUILD=$T_BUILD
for tool in bird socat; do
    if ! command -v "$tool" >/dev/null; then
        skip lab "$tool is not installed"
        t_end
    fi
done

# A lab per mode, each with its own prefix and state folder, removed on exit.
LAB_PREFIX="tlt$$"
t_on_exit 'for l in $(ls "$T_TMP/labs" 2>/dev/null); do TABBY_LAB=$l TABBY_LAB_STATE=$T_TMP/labs/$l "$LAB_SCRIPT" down >/dev/null 2>&1; done'

lab() { TABBY_LAB=$CUR TABBY_LAB_STATE=$T_TMP/labs/$CUR "$LAB_SCRIPT" "$@"; }

# expect_matrix CASE EXPECTED: EXPECTED is one "from to ok|--" line per pair that matters.
# Policy and routes reach the nodes through the datastore's watch and BGP, so the check
# (all pairs at once, each probe giving up after 1 s) repeats for up to 5 seconds; the
# time until the cluster matched is printed.
expect_matrix() {
    local name=$1 expected=$2 from to want bad start now i=0 dir=$T_TMP/probes
    start=$(date +%s%N)
    while :; do
        rm -rf "$dir"; mkdir -p "$dir"
        i=0
        while read -r from to want; do
            [ -n "$from" ] || continue
            i=$((i + 1))
            ( if lab probe "$from" "$to" "$(lab_port "$to")" >/dev/null 2>&1; then got=ok; else got=--; fi
              [ "$got" = "$want" ] || echo " $from->$to:$got(want $want)" >"$dir/$i" ) &
        done <<<"$expected"
        wait
        bad=$(cat "$dir"/* 2>/dev/null | tr -d '\n')
        now=$(date +%s%N)
        [ -n "$bad" ] && [ $(((now - start) / 1000000)) -lt 5000 ] || break
        sleep 0.1
    done
    if [ -z "$bad" ]; then
        pass "$name"
        echo "# $name: as expected after $(((now - start) / 1000000)) ms"
    else
        fail "$name" "${bad# }"
        lab matrix
    fi
}
lab_port() { case $1 in */api) echo 8080/$PROTO ;; */database) echo 5432/$PROTO ;; *) echo 80/$PROTO ;; esac; }
PROTO=tcp

ALL_OPEN="default/frontend default/api ok
default/frontend default/database ok
default/api default/frontend ok
default/database default/api ok
ops/monitor default/database ok
default/database ops/monitor ok"

AFTER_POLICY="default/frontend default/api ok
default/backend default/api --
ops/monitor default/api ok
default/backend default/database ok
default/frontend default/database --
default/api default/frontend --
default/frontend ops/monitor ok"

# The example policies allow TCP only: UDP to the default namespace's pods is blocked.
AFTER_POLICY_UDP="default/frontend default/api --
ops/monitor default/api --
default/backend default/database --
default/frontend ops/monitor ok
default/database ops/monitor ok"

# run_mode NAME UP_ARGS…: one lab through the whole story.
run_mode() {
    local name=$1 out ns_left
    shift
    CUR="$LAB_PREFIX$name"
    mkdir -p "$T_TMP/labs"
    chmod 0711 "$T_TMP" "$T_TMP/labs"   # FRR drops to user frr and must reach its files
    if ! out=$(lab up "$@" 2>&1); then
        fail "${name}_up" "$out"
        lab down >/dev/null 2>&1
        return
    fi
    pass "${name}_up"
    if ! out=$(lab ns label ops team=ops 2>&1 &&
        lab pod add n1 default/frontend app=frontend --port http:80/tcp 2>&1 &&
        lab pod add n1 default/backend app=backend --port http:80/tcp 2>&1 &&
        lab pod add n2 default/api app=api --port http:8080/tcp 2>&1 &&
        lab pod add n3 default/database app=database --port pg:5432/tcp 2>&1 &&
        lab pod add n3 ops/monitor app=monitor --port http:80/tcp 2>&1); then
        fail "${name}_pods" "$out"
        lab down >/dev/null 2>&1
        return
    fi
    pass "${name}_pods"
    PROTO=tcp expect_matrix "${name}_across_nodes" "$ALL_OPEN"
    PROTO=udp expect_matrix "${name}_across_nodes_udp" "$ALL_OPEN"
    out=$(lab ctl apply -f "$T_TOP/examples/default-deny.yaml" -f "$T_TOP/examples/db-access.yaml" \
        -f "$T_TOP/examples/api-allow.yaml" 2>&1) || fail "${name}_apply" "$out"
    PROTO=tcp expect_matrix "${name}_policy" "$AFTER_POLICY"
    PROTO=udp expect_matrix "${name}_policy_udp" "$AFTER_POLICY_UDP"
    out=$(lab exec default/frontend socat -T1 - TCP:198.51.100.1:80 </dev/null 2>&1)
    if [ "$out" = 10.99.1.11 ]; then pass "${name}_nat_outgoing"; else fail "${name}_nat_outgoing" "outside host saw \"$out\", want 10.99.1.11"; fi
    mode_checks "$name"
    lab down >/dev/null 2>&1
    ns_left=$(ip netns list | awk '{print $1}' | grep "^$CUR-" || true)
    if [ -z "$ns_left" ] && [ ! -e "$T_TMP/labs/$CUR" ]; then pass "${name}_down"; else fail "${name}_down" "left behind: $ns_left"; fi
}

# What each mode must show besides connectivity.
mode_checks() {
    local name=$1 routes
    routes=$(ip netns exec "$CUR-n1" ip route 2>/dev/null)
    case $name in
    native|etcd)
        if grep -q 'proto bird' <<<"$routes" && ! grep -q vxlan <<<"$routes"; then pass "${name}_bgp_routes"; else fail "${name}_bgp_routes" "$routes"; fi
        out=$(lab status 2>&1)
        if [ "$(grep -c 'node-to-node mesh | up' <<<"$out")" = 6 ]; then pass "${name}_status_peers"; else fail "${name}_status_peers" "$out"; fi ;;
    tor)
        local tor_routes
        tor_routes=$(ip netns exec "$CUR-tor" ip route 2>/dev/null)
        if [ "$(grep -c '^10\.244\.' <<<"$tor_routes")" -ge 3 ]; then pass tor_learns_blocks; else fail tor_learns_blocks "$tor_routes"; fi ;;
    vxlan)
        if [ "$(grep -c 'dev vxlan.tabby' <<<"$routes")" = 2 ]; then pass vxlan_routes; else fail vxlan_routes "$routes"; fi ;;
    crosssubnet)
        # n2 shares n1's subnet (plain route), n3 sits behind the fabric router (VXLAN).
        if grep -q 'via 10.99.1.12 dev eth0' <<<"$routes" && [ "$(grep -c 'dev vxlan.tabby' <<<"$routes")" = 1 ]; then
            pass crosssubnet_routes
        else
            fail crosssubnet_routes "$routes"
        fi ;;
    esac
}

run_mode native
if [ -x /usr/lib/frr/bgpd ]; then run_mode tor --tor; else skip tor "FRR is not installed"; fi
run_mode vxlan --mode vxlan
run_mode crosssubnet --mode vxlan-crosssubnet
if command -v etcd >/dev/null; then run_mode etcd --store etcd; else skip etcd "etcd is not installed (etcd-server)"; fi
t_end
