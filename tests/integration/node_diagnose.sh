#!/usr/bin/env bash
# node_diagnose.sh — `tabbyctl node diagnose` (through `lab diagnose`) on labs of the
# examples/lab script: a healthy lab passes every check (exit 0); then each thing an
# operator meets at 3 a.m. is broken in turn on a node — forwarding off, strict rp_filter,
# a route deleted, BIRD stopped on a peer, the uplink's MTU shrunk, an address leaked, a
# pod's veth down, BIRD's file edited by hand, the datastore out of reach, tabby-node
# stopped, a rule of table inet tabby deleted by hand, a VXLAN FDB entry or route gone —
# and diagnose must name exactly that: the checks that are not OK and the things they
# name, nothing else, and exit 1 when one FAILs. Each case waits (with a deadline) for the
# state it expects, repairs what it broke and waits for the lab to be healthy again.
# Native BGP mesh and VXLAN labs of three nodes. Needs root; never touches the host's
# namespace.
set -u
. "$(dirname "$0")/lib.sh"
t_begin node_diagnose
t_need_root node_diagnose

LAB_SCRIPT=$T_TOP/examples/lab/lab
export TABBY_BUILD=$T_BUILD
for tool in bird socat jq; do
    if ! command -v "$tool" >/dev/null; then
        skip node_diagnose "$tool is not installed"
        t_end
    fi
done

LAB_PREFIX="tnd$$"
t_on_exit 'for l in $(ls "$T_TMP/labs" 2>/dev/null); do TABBY_LAB=$l TABBY_LAB_STATE=$T_TMP/labs/$l "$LAB_SCRIPT" down >/dev/null 2>&1; done'
mkdir -p "$T_TMP/labs"

lab() { TABBY_LAB=$CUR TABBY_LAB_STATE=$T_TMP/labs/$CUR "$LAB_SCRIPT" "$@"; }
state() { echo "$T_TMP/labs/$CUR"; }
in_node() { ip netns exec "$CUR-$1" "${@:2}"; }

# diag NODE [ARGS…]: diagnose -o json into $T_TMP/diag.json, its exit status in DIAG_RC.
DIAG_RC=
diag() {
    local node=$1
    shift
    if [ -n "${DIAG_CMD:-}" ]; then
        in_node "$node" $DIAG_CMD -o json --timeout 2 "$@" >"$T_TMP/diag.json" 2>"$T_TMP/diag.err"
    else
        lab diagnose "$node" -o json --timeout 2 "$@" >"$T_TMP/diag.json" 2>"$T_TMP/diag.err"
    fi
    DIAG_RC=$?
}

# The checks that are not OK, "check:STATUS:item,item" (items sorted), one a line, sorted.
not_ok() {
    jq -r '.checks[] | select(.status != "OK") |
        "\(.check):\(.status):\(.items | sort | join(","))"' "$T_TMP/diag.json" 2>/dev/null | sort
}

# diag_says NODE WANT: diagnose reports exactly WANT (not_ok's lines, in any order) and
# exits 1 when WANT holds a FAIL, else 0. $REDO, when set, runs first: it breaks again
# what something repairs by itself.
diag_says() {
    if [ -n "${REDO:-}" ]; then eval "$REDO"; fi
    diag "$1"
    [ "$(not_ok)" = "$(printf '%s\n' "$2" | sed '/^$/d' | sort)" ] || return 1
    if grep -q ':FAIL:' <<<"$2"; then [ "$DIAG_RC" = 1 ]; else [ "$DIAG_RC" = 0 ]; fi
}

# expect_diag CASE NODE WANT [SECONDS]: PASS once diag_says NODE WANT (30 s at most).
expect_diag() {
    local name=$1 node=$2 want=$3 within=${4:-30} start
    start=$(now_ms)
    if t_wait "$within" diag_says "$node" "$want"; then
        pass "$name"
        echo "# $name: as expected after $(($(now_ms) - start)) ms"
    else
        fail "$name" "got [$(not_ok | paste -sd' ')] exit $DIAG_RC, want [$(printf '%s\n' "$want" |
            sed '/^$/d' | paste -sd' ')] exit $(grep -q ':FAIL:' <<<"$want" && echo 1 || echo 0)"
        lab diagnose "$node" 2>&1 | sed 's/^/# /'
    fi
}

# healthy CASE NODE…: every check of every node named OK again (60 s at most each).
healthy() {
    local name=$1 node
    shift
    for node in "$@"; do
        expect_diag "${name}_${node}" "$node" "" 60
    done
}

up() {
    CUR=$LAB_PREFIX$1
    shift
    local out
    if ! out=$(lab up "$@" 2>&1); then
        fail "${CUR#"$LAB_PREFIX"}_up" "$out"
        return 1
    fi
    if ! out=$(lab pod add n1 default/a app=a 2>&1 && lab pod add n2 default/b app=b 2>&1 &&
        lab pod add n3 default/c app=c 2>&1); then
        fail "${CUR#"$LAB_PREFIX"}_pods" "$out"
        return 1
    fi
    VETH_A=$(lab ctl get wep n1-k8s-a-eth0 -n default -o json | jq -r .spec.interfaceName)
    IP_A=$(cat "$(state)/pods/default_a/ip")
}

# The block of node N (n2, n3), as the datastore has it.
block_of() {
    lab ctl ipam show --show-blocks 2>/dev/null | awk -F'|' -v n="$1" '
        $2 ~ /Block/ && $0 ~ " " n " " { gsub(/ /, "", $3); print $3; exit }'
}

# ---- native BGP mesh ----------------------------------------------------------------------

native() {
    local conf n2_block n3_block pid chain handle
    up native || return
    n2_block=$(block_of n2)
    n3_block=$(block_of n3)
    [ -n "$n2_block" ] && [ -n "$n3_block" ] || fail native_blocks "$(lab ctl ipam show --show-blocks 2>&1)"
    healthy native_healthy n1 n2 n3
    if out=$(lab diagnose n1) && grep -q '^0 FAIL, 0 WARN, 13 OK$' <<<"$out"; then
        pass native_text_says_all_ok
    else
        fail native_text_says_all_ok "$out"
    fi

    in_node n1 sysctl -qw net.ipv4.ip_forward=0
    expect_diag ip_forward_off n1 "ip-forward:FAIL:net.ipv4.ip_forward"
    in_node n1 sysctl -qw net.ipv4.ip_forward=1

    in_node n1 sysctl -qw "net.ipv4.conf.$VETH_A.rp_filter=1"
    expect_diag rp_filter_strict_on_a_pod n1 "rp-filter:FAIL:$VETH_A"
    in_node n1 sysctl -qw "net.ipv4.conf.$VETH_A.rp_filter=0"
    healthy after_sysctl n1

    # BIRD puts a deleted route back at its next scan (10 s): delete it before each look.
    REDO="in_node n1 ip route del $n2_block 2>/dev/null" \
        expect_diag route_deleted n1 "routes:FAIL:$n2_block"
    healthy after_route n1

    # BIRD stopped on n2: n1's session with it goes down, and with it the route to n2's block.
    kill "$(cat "$(state)/n2/bird.pid")"
    expect_diag bird_stopped_on_peer n1 "bgp-sessions:FAIL:10.99.1.12
routes:FAIL:$n2_block"
    lab_in=$(state)/n2
    in_node n2 bird -c "$lab_in/bird.conf" -s "$lab_in/bird.ctl" -P "$lab_in/bird.pid"
    healthy after_bird n1 n2

    in_node n1 ip link set eth0 mtu 1400
    expect_diag uplink_mtu_shrunk n1 "mtu:FAIL:$VETH_A"
    in_node n1 ip link set eth0 mtu 1500
    healthy after_mtu n1

    # An address whose endpoint is gone is a leak; the endpoint back, it is none.
    lab ctl get wep n1-k8s-a-eth0 -n default -o json |
        jq 'del(.metadata.resourceVersion, .metadata.uid, .metadata.creationTimestamp)' \
            >"$T_TMP/wep-a.json"
    lab ctl delete wep n1-k8s-a-eth0 -n default >/dev/null
    expect_diag address_leaked n1 "ipam:FAIL:$IP_A"
    lab ctl apply -f "$T_TMP/wep-a.json" >/dev/null
    healthy after_leak n1

    # A pod's veth down: the kernel drops its route, tabby-node cannot put it back (and
    # says it is degraded) until the veth is up again.
    in_node n1 ip link set "$VETH_A" down
    expect_diag pod_veth_down n1 "workloads:FAIL:default/a
tabby-node:WARN:tabby-node"
    in_node n1 ip link set "$VETH_A" up
    healthy after_veth n1

    conf=$(state)/n1/bird.conf
    cp "$conf" "$T_TMP/bird.conf.saved"
    echo "# edited by hand" >>"$conf"
    expect_diag bird_config_edited n1 "bird-config:FAIL:$conf"
    cp "$T_TMP/bird.conf.saved" "$conf"
    healthy after_bird_config n1

    # Another datastore URI than the lab's, where nothing answers: every check that needs
    # the cluster says it could not look.
    DIAG_CMD="$T_BUILD/tabbyctl --store etcd:http://10.99.1.201:2379 node diagnose --node n1
        --bird-socket $(state)/n1/bird.ctl --bird-config $(state)/n1/bird.conf
        --node-pid-file $(state)/n1/tabby-node.pid" \
        expect_diag datastore_unreachable n1 "datastore:FAIL:etcd:http://10.99.1.201:2379
bird-config:WARN:
ipam:WARN:
mtu:WARN:
routes:WARN:
vxlan:WARN:
workloads:WARN:"

    pid=$(cat "$(state)/n1/tabby-node.pid")
    kill -STOP "$pid"
    expect_diag tabby_node_stopped n1 "tabby-node:FAIL:tabby-node
policy-table:WARN:"
    kill -CONT "$pid"
    healthy after_stop n1

    # Last: tabby-node repairs the table at once and says so for an hour (a WARN: exit 0).
    # The first rule of the table, whichever chain holds it.
    read -r chain handle < <(in_node n1 nft -a list table inet tabby |
        awk '$1 == "chain" { c = $2 } /# handle/ && $1 != "chain" && c != "" { print c, $NF; exit }')
    in_node n1 nft delete rule inet tabby "$chain" handle "$handle"
    expect_diag nft_rule_deleted_by_hand n1 "policy-table:WARN:chain $chain"
    if jq -e --arg c "$chain" '.checks[] | select(.check == "policy-table") | .details[0] |
        startswith("chain " + $c + ": its rules differ")' "$T_TMP/diag.json" >/dev/null; then
        pass nft_rule_deleted_names_the_chain
    else
        fail nft_rule_deleted_names_the_chain "$(cat "$T_TMP/diag.json")"
    fi
    lab down >/dev/null 2>&1
}

# ---- VXLAN ----------------------------------------------------------------------------------

vxlan() {
    local n2_block n3_block pid mac
    up vxlan --mode vxlan || return
    n3_block=$(block_of n3)
    healthy vxlan_healthy n1 n2 n3

    # The pool's encapsulation counts: 1480 carries a 1430-byte pod packet, not 1450.
    # tabby-node follows with vxlan.tabby's MTU; the pod's veth stays too large.
    in_node n1 ip link set eth0 mtu 1480
    expect_diag vxlan_uplink_mtu_below_veth_plus_overhead n1 "mtu:FAIL:$VETH_A"
    in_node n1 ip link set eth0 mtu 1500
    healthy after_vxlan_mtu n1

    # tabby-node repairs its FDB entries and routes at once: stopped, it cannot.
    pid=$(cat "$(state)/n1/tabby-node.pid")
    mac=$(in_node n1 bridge fdb show dev vxlan.tabby | awk '$3 == "10.99.1.12" { print $1 }')
    kill -STOP "$pid"
    in_node n1 bridge fdb del "$mac" dev vxlan.tabby dst 10.99.1.12
    expect_diag vxlan_fdb_entry_gone n1 "vxlan:FAIL:n2
tabby-node:FAIL:tabby-node
policy-table:WARN:"
    in_node n1 bridge fdb add "$mac" dev vxlan.tabby dst 10.99.1.12 self permanent
    in_node n1 ip route del "$n3_block"
    expect_diag vxlan_route_gone n1 "routes:FAIL:$n3_block
tabby-node:FAIL:tabby-node
policy-table:WARN:"
    kill -CONT "$pid"
    healthy after_vxlan_repair n1
    lab down >/dev/null 2>&1
}

native
vxlan
t_end
