#!/usr/bin/env bash
# cni_gc.sh — CNI 1.1.0's GC and STATUS of the tabby plugin (and through it tabby-ipam),
# run as a runtime runs them inside a node namespace: GC removes the endpoints, veths and
# addresses of the attachments the runtime no longer lists and nothing else (the pods
# still listed keep working; another network's, another node's and a lone IPAM
# allocation's fates are each checked), a second GC writes nothing, STATUS answers 0, 50
# or 51, both commands refuse a configuration older than 1.1.0, and cnitool drives them
# when it can.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cni_lib.sh"

cni_begin cni_gc
V=1.1.0
CONF=$(cni_conf $V)

# nocontainer COMMAND CONF [PLUGIN]: GC or STATUS as a runtime runs them, inside the
# node: no container ID, interface or namespace. Output in $OUT, status in $RC.
nocontainer() {
    OUT=$(printf '%s' "$2" | at "$NODE" env CNI_COMMAND="$1" CNI_PATH="$CNI_BIN" \
        "$CNI_BIN/${3:-tabby}" 2>"$T_TMP/stderr")
    RC=$?
    ERR=$(cat "$T_TMP/stderr")
}

# gc_conf POD…: the configuration with the pods' attachments (c-POD, eth0) as valid.
gc_conf() {
    jq -c '. + {"cni.dev/valid-attachments": [$ARGS.positional[] |
        {containerID: ("c-" + .), ifname: "eth0"}]}' --args "$@" <<<"$CONF"
}

# What GC may change, for the no-op check: every stored key with its revision, and the
# node's links.
state() {
    sqlite3 "$DB" "SELECT key, mod_rev FROM kv ORDER BY key;"
    at "$NODE" ip -o link show | awk '{ print $2 }'
}

assigned() { ctl ipam show --ip="$1" | grep -q "is in use"; }
has_wep() { ctl get wep -A -o name | grep -qx "workloadendpoints/$1"; }
has_link() { at "$NODE" ip link show dev "$1" >/dev/null 2>&1; }

declare -A IP HOST

test_add_at_1_1_0_answers_in_the_1_0_0_shape() {
    local i bad=
    for i in 1 2 3 4 5; do
        cni_add "g$i" "$CONF" || { bad+="g$i: $OUT "; continue; }
        IP[g$i]=$(address)
        HOST[g$i]=$(jq -r '.interfaces[0].name' <<<"$OUT")
        [ "$(jq -r .cniVersion <<<"$OUT")" = $V ] && [ "$(jq -r '.ips[0].version' <<<"$OUT")" = null ] &&
            [ "$(jq -r '.ips[0].interface' <<<"$OUT")" = 1 ] || bad+="g$i's result: $OUT "
    done
    if [ -z "$bad" ]; then pass add_at_1_1_0_answers_in_the_1_0_0_shape
    else fail add_at_1_1_0_answers_in_the_1_0_0_shape "$bad"; t_end; fi
}

# Beside the five pods: a pod of another network and one recorded for another node (both
# through this node's plugin, into the same datastore), an endpoint written by hand (no
# tabby/network annotation: not GC's), and an allocation that tabby-ipam made without the
# tabby plugin (so without an endpoint; only the delegated GC sees it).
test_gc_removes_exactly_the_stale_attachments() {
    local p bad= lone t=gc_removes_exactly_the_stale_attachments
    ctl apply -f - >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node1-k8s-hand-eth0, namespace: default}
spec: {node: node1, pod: hand, orchestrator: k8s, containerID: c-hand, endpoint: eth0,
       interfaceName: eth0, ipNetworks: [10.10.250.1/32]}
YAML
    cni_add other "$(jq -c '.name = "other-net"' <<<"$CONF")" || { fail $t "ADD other: $OUT"; return; }
    IP[other]=$(address)
    cni_add far "$(jq -c '.nodename = "node2"' <<<"$CONF")" || { fail $t "ADD far: $OUT"; return; }
    IP[far]=$(address)
    cni ADD lone "$CONF" - tabby-ipam
    lone=$(address)
    [ "$RC" = 0 ] && assigned "$lone" || { fail $t "lone IPAM ADD: $OUT"; return; }

    nocontainer GC "$(gc_conf g1 g2 g3)"
    [ "$RC" = 0 ] && [ -z "$OUT" ] || { fail $t "GC: rc=$RC $OUT $ERR"; return; }
    for p in g4 g5; do
        has_wep "node1-k8s-$p-eth0" && bad+="$p's endpoint is left; "
        has_link "${HOST[$p]}" && bad+="$p's veth ${HOST[$p]} is left; "
        assigned "${IP[$p]}" && bad+="$p's ${IP[$p]} is still assigned; "
        at "$p" ip link show eth0 >/dev/null 2>&1 && bad+="$p still has eth0; "
    done
    assigned "$lone" && bad+="the lone allocation $lone is still assigned; "
    for p in g1 g2 g3; do
        has_wep "node1-k8s-$p-eth0" || bad+="$p's endpoint went; "
        has_link "${HOST[$p]}" || bad+="$p's veth went; "
        assigned "${IP[$p]}" || bad+="$p's address went; "
    done
    has_wep node1-k8s-other-eth0 && assigned "${IP[other]}" ||
        bad+="the other network's pod lost its endpoint or address; "
    has_wep node2-k8s-far-eth0 && assigned "${IP[far]}" ||
        bad+="node2's pod lost its endpoint or address; "
    has_wep node1-k8s-hand-eth0 && has_link eth0 ||
        bad+="the hand-written endpoint or the uplink went; "
    if [ -n "$bad" ]; then
        fail $t "$bad"
    elif ! pod_ping "$NODE" "${IP[g1]}" || ! pod_ping g1 "${IP[g2]}" || ! pod_ping g2 "${IP[g3]}" ||
        ! pod_ping g3 "${IP[g1]}"; then
        fail $t "the pods kept no longer reach each other and the node"
    else
        pass $t
    fi
}

test_gc_again_changes_nothing() {
    local before
    before=$(state)
    nocontainer GC "$(gc_conf g1 g2 g3)"
    if [ "$RC" != 0 ] || [ -n "$OUT" ]; then
        fail gc_again_changes_nothing "rc=$RC $OUT"
    elif [ "$(state)" != "$before" ]; then
        fail gc_again_changes_nothing "$(diff <(echo "$before") <(state) | tr '\n' ' ')"
    else
        pass gc_again_changes_nothing
    fi
}

# A malformed list, or a configuration before 1.1.0: an error, and nothing removed.
test_gc_refusals_change_nothing() {
    local before ok=1 t=gc_refusals_change_nothing
    before=$(state)
    nocontainer GC "$(jq -c '. + {"cni.dev/valid-attachments": [{"containerID": "c-g1"}]}' <<<"$CONF")"
    expect_error 7 "cni.dev/valid-attachments[0]" || { ok=0; fail $t "malformed list: $WHY"; }
    nocontainer GC "$(jq -c '.cniVersion = "1.0.0"' <<<"$(gc_conf)")"
    expect_error 1 "GC needs cniVersion 1.1.0" || { ok=0; fail $t "cniVersion 1.0.0: $WHY"; }
    [ "$(state)" = "$before" ] || { ok=0; fail $t "something changed"; }
    [ $ok = 1 ] && pass $t
}

test_status() {
    local hole
    nocontainer STATUS "$CONF"
    if [ "$RC" = 0 ] && [ -z "$OUT" ]; then pass status_is_ready
    else fail status_is_ready "rc=$RC $OUT $ERR"; fi
    # A datastore path that cannot be reached: its folder would have to be a file.
    : >"$T_TMP/not-a-folder"
    hole=$(jq -c --arg s "sqlite:$T_TMP/not-a-folder/tabby.db" '.datastore = $s' <<<"$CONF")
    nocontainer STATUS "$hole"
    expect_error 50 "is unreachable" && pass status_without_the_datastore_is_not_available ||
        fail status_without_the_datastore_is_not_available "$WHY"
    nocontainer STATUS "$(jq -c '.datastore = "etcd:http://127.0.0.1:1"' <<<"$CONF")"
    expect_error 50 "is unreachable" && pass status_with_etcd_down_is_not_available ||
        fail status_with_etcd_down_is_not_available "$WHY"
    nocontainer STATUS "$(jq -c '.cniVersion = "1.0.0"' <<<"$CONF")"
    expect_error 1 "STATUS needs cniVersion 1.1.0" && pass status_before_1_1_0_is_refused ||
        fail status_before_1_1_0_is_refused "$WHY"
}

# Last: the pools go, so no ADD could get an address. tabby's own datastore answers, so
# its answer is the IPAM plugin's (the spec: STATUS is delegated like ADD's work).
test_status_without_a_pool_is_limited_connectivity() {
    ctl delete ippool pool-v4 >/dev/null && ctl delete ippool pool-v6 >/dev/null
    nocontainer STATUS "$CONF"
    expect_error 51 "tabby-ipam: no address can be assigned on node node1" &&
        pass status_without_a_pool_is_limited_connectivity ||
        fail status_without_a_pool_is_limited_connectivity "$WHY"
    nocontainer STATUS "$CONF" tabby-ipam
    expect_error 51 "no IPv4 IPPool" && pass ipam_status_without_a_pool_is_limited_connectivity ||
        fail ipam_status_without_a_pool_is_limited_connectivity "$WHY"
}

# cnitool 1.2 has gc and status (libcni's GCNetworkList, GetStatusNetworkList); the one
# cni_cnitool.sh builds from Debian's source (1.1.2) has only add, check and del.
test_cnitool_gc_and_status() {
    local tool=$T_BUILD/tests/cnitool/cnitool netd=$T_TMP/netd net=tbygc$$
    if [ ! -x "$tool" ]; then
        skip cnitool_gc_and_status "cnitool is not built (tests/integration/cni_cnitool.sh builds it)"
        return
    fi
    if ! "$tool" --help 2>&1 | grep -qw gc || ! "$tool" --help 2>&1 | grep -qw status; then
        skip cnitool_gc_and_status "this cnitool has no gc and status commands (they came with cnitool 1.2; Debian's golang-github-appc-cni is older)"
        return
    fi
    mkdir -p "$netd"
    ctl apply -f "$T_TMP/pools.yaml" >/dev/null
    jq -n --arg net "$net" --argjson p "$(jq -c 'del(.cniVersion, .name)' <<<"$CONF")" \
        '{cniVersion: "1.1.0", name: $net, plugins: [$p]}' >"$netd/$net.conflist"
    t_on_exit "rm -f /var/lib/cni/results/$net-*"
    cni_ns tool1
    tool() {
        OUT=$(at "$NODE" env NETCONFPATH="$netd" CNI_PATH="$CNI_BIN" \
            CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=tool1" \
            "$tool" "$1" "$net" "/run/netns/$CNI_PFX-tool1" 2>&1)
        RC=$?
    }
    tool status
    [ "$RC" = 0 ] || { fail cnitool_gc_and_status "status: $OUT"; return; }
    tool add
    [ "$RC" = 0 ] || { fail cnitool_gc_and_status "add: $OUT"; return; }
    # cnitool's gc lists no valid attachment: everything of the network on this node goes.
    tool gc
    if [ "$RC" != 0 ]; then fail cnitool_gc_and_status "gc: $OUT"
    elif has_wep node1-k8s-tool1-eth0; then fail cnitool_gc_and_status "the endpoint is left"
    else pass cnitool_gc_and_status; fi
}

test_add_at_1_1_0_answers_in_the_1_0_0_shape
test_gc_removes_exactly_the_stale_attachments
test_gc_again_changes_nothing
test_gc_refusals_change_nothing
test_status
test_status_without_a_pool_is_limited_connectivity
test_cnitool_gc_and_status
t_end
