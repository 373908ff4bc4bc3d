#!/usr/bin/env bash
# ipam_cni.sh — the tabby-ipam CNI plugin driven as a container runtime drives it:
# CNI_* variables and the network configuration on stdin. Results in the 1.0.0 and
# 0.3.x/0.4.0 shapes, repeated ADD and DEL, CHECK, VERSION, pool choice by annotation,
# namespace and configuration, given addresses, GC and STATUS (1.1.0), and every error
# with the spec's code and nothing left behind. Needs no root: IPAM alone touches no
# kernel state.
set -u
. "$(dirname "$0")/lib.sh"
t_begin ipam_cni

DB=$T_TMP/tabby.db
STORE="sqlite:$DB"
ctl() { "$TABBYCTL" --store "$STORE" "$@"; }
unset TABBY_STORE TABBY_CONFIG

# conf VERSION [IPAM-EXTRA-JSON] [TOP-EXTRA-JSON]: a network configuration.
conf() {
    local ipam_extra=${2:+,$2} top_extra=${3:+,$3}
    printf '{"cniVersion":"%s","name":"k8s-pod-network","type":"tabby","ipam":{"type":"tabby-ipam","datastore":"%s","nodename":"node1"%s}%s}' \
        "$1" "$STORE" "$ipam_extra" "$top_extra"
}

# cni COMMAND CONTAINER CONF [CNI_ARGS]: runs the plugin; output in $OUT, status in $RC.
cni() {
    OUT=$(printf '%s' "$3" | env CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_IFNAME=eth0 \
        CNI_NETNS=/var/run/netns/test CNI_PATH=/opt/cni/bin \
        CNI_ARGS="${4:-IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-$2}" \
        "$TABBY_IPAM" 2>"$T_TMP/stderr")
    RC=$?
}

# Everything stored, to prove a failed call changed nothing.
snapshot() { sqlite3 "$DB" "SELECT key, mod_rev FROM kv ORDER BY key;"; }

# expect_error NAME CODE FRAGMENT: the last call failed with that code and message.
expect_error() {
    local code msg
    code=$(jq -r .code <<<"$OUT" 2>/dev/null)
    msg=$(jq -r .msg <<<"$OUT" 2>/dev/null)
    if [ "$RC" = 0 ]; then
        fail "$1" "succeeded: $OUT"
    elif [ "$code" != "$2" ]; then
        fail "$1" "code $code, expected $2: $OUT"
    elif ! grep -qF -- "$3" <<<"$msg"; then
        fail "$1" "message \"$msg\" lacks \"$3\""
    else
        return 0
    fi
    return 1
}

address() { jq -r ".ips[$1].address" <<<"$OUT"; }

setup_pools() {
    cat >"$T_TMP/pools.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-a
spec:
  cidr: 10.10.0.0/16
  blockSize: 26
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-b
spec:
  cidr: 10.20.0.0/16
  blockSize: 26
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-v6
spec:
  cidr: fd00:10::/64
  blockSize: 122
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: tiny
spec:
  cidr: 10.30.0.0/30
  blockSize: 30
  assignmentMode: Manual
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-b
  annotations:
    cni.projectcalico.org/ipv4pools: '["pool-b"]'
YAML
    ctl apply -f "$T_TMP/pools.yaml" >/dev/null || { fail setup "cannot apply pools"; t_end; }
}

test_add_returns_a_1_0_0_result() {
    cni ADD c1 "$(conf 1.0.0)"
    if [ "$RC" = 0 ] && [ "$(jq -r .cniVersion <<<"$OUT")" = 1.0.0 ] &&
        [[ $(address 0) == 10.10.*/32 ]] && [ "$(jq -r '.ips[0].version' <<<"$OUT")" = null ] &&
        [ "$(jq -r '.routes[0].dst' <<<"$OUT")" = 0.0.0.0/0 ] &&
        ctl ipam show --ip="$(address 0 | cut -d/ -f1)" | grep -q "pod: pod-c1"; then
        pass add_returns_a_1_0_0_result
    else
        fail add_returns_a_1_0_0_result "rc=$RC $OUT"
    fi
}

test_add_answers_older_result_versions() {
    local v ok=1
    for v in 0.3.0 0.3.1 0.4.0; do
        cni ADD "old-$v" "$(conf $v)"
        if [ "$RC" != 0 ] || [ "$(jq -r .cniVersion <<<"$OUT")" != "$v" ] ||
            [ "$(jq -r '.ips[0].version' <<<"$OUT")" != 4 ]; then
            ok=0
            fail add_answers_older_result_versions "$v: rc=$RC $OUT"
        fi
    done
    [ $ok = 1 ] && pass add_answers_older_result_versions
}

test_repeated_add_returns_the_same_address() {
    local first
    cni ADD again "$(conf 1.0.0)"; first=$(address 0)
    cni ADD again "$(conf 1.0.0)"
    if [ "$RC" = 0 ] && [ "$(address 0)" = "$first" ] && [ "$(jq '.ips | length' <<<"$OUT")" = 1 ]; then
        pass repeated_add_returns_the_same_address
    else
        fail repeated_add_returns_the_same_address "first $first, then rc=$RC $OUT"
    fi
}

test_dual_stack_add() {
    cni ADD dual "$(conf 1.0.0 '"assign_ipv6":"true"')"
    if [ "$RC" = 0 ] && [[ $(address 0) == 10.10.*/32 ]] && [[ $(address 1) == fd00:10::*/128 ]] &&
        [ "$(jq -r '.routes[1].dst' <<<"$OUT")" = ::/0 ]; then
        pass dual_stack_add
    else
        fail dual_stack_add "rc=$RC $OUT"
    fi
}

test_check_follows_the_allocation() {
    local ip
    cni ADD chk "$(conf 1.0.0)"; ip=$(address 0)
    cni CHECK chk "$(conf 1.0.0 '' "\"prevResult\":{\"ips\":[{\"address\":\"$ip\"}]}")"
    [ "$RC" = 0 ] || { fail check_follows_the_allocation "CHECK after ADD: $OUT"; return; }
    cni CHECK chk "$(conf 1.0.0 '' '"prevResult":{"ips":[{"address":"10.99.0.1/32"}]}')"
    expect_error check_follows_the_allocation 101 "10.99.0.1/32 is not allocated" || return
    cni CHECK chk "$(conf 0.3.1)"
    expect_error check_follows_the_allocation 1 "CHECK needs cniVersion 0.4.0" || return
    cni DEL chk "$(conf 1.0.0)"
    cni CHECK chk "$(conf 1.0.0)"
    expect_error check_follows_the_allocation 101 "holds no address" &&
        pass check_follows_the_allocation
}

test_del_is_idempotent() {
    local ip
    cni ADD gone "$(conf 1.0.0)"; ip=$(address 0 | cut -d/ -f1)
    cni DEL gone "$(conf 1.0.0)"; local rc1=$RC out1=$OUT
    cni DEL gone "$(conf 1.0.0)"
    if [ "$rc1" = 0 ] && [ -z "$out1" ] && [ "$RC" = 0 ] && [ -z "$OUT" ] &&
        ctl ipam show --ip="$ip" | grep -q "not currently assigned"; then
        pass del_is_idempotent
    else
        fail del_is_idempotent "first rc=$rc1 '$out1', second rc=$RC '$OUT'"
    fi
}

test_version_lists_supported_versions() {
    cni VERSION x '{"cniVersion":"1.0.0"}'
    if [ "$RC" = 0 ] && [ "$(jq -c .supportedVersions <<<"$OUT")" = '["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]' ]; then
        pass version_lists_supported_versions
    else
        fail version_lists_supported_versions "rc=$RC $OUT"
    fi
}

test_pools_follow_annotation_namespace_and_config() {
    local ann='"args":{"cni":{"annotations":{"cni.projectcalico.org/ipv4pools":"[\"pool-a\"]"}}}'
    cni ADD by-conf "$(conf 1.0.0 '"ipv4_pools":["pool-b"]')"
    [[ $(address 0) == 10.20.* ]] || { fail pools_follow "ipv4_pools: $OUT"; return; }
    cni ADD by-ns "$(conf 1.0.0)" "K8S_POD_NAMESPACE=team-b;K8S_POD_NAME=p"
    [[ $(address 0) == 10.20.* ]] || { fail pools_follow "namespace annotation: $OUT"; return; }
    cni ADD by-pod "$(conf 1.0.0 '"ipv4_pools":["pool-b"]' "$ann")" "K8S_POD_NAMESPACE=team-b;K8S_POD_NAME=p2"
    [[ $(address 0) == 10.10.* ]] || { fail pools_follow "pod annotation: $OUT"; return; }
    cni ADD by-cidr "$(conf 1.0.0 '"ipv4_pools":["10.20.0.0/16"]')"
    [[ $(address 0) == 10.20.* ]] || { fail pools_follow "pool by CIDR: $OUT"; return; }
    pass pools_follow_annotation_namespace_and_config
}

test_given_addresses() {
    local ann='"args":{"cni":{"annotations":{"cni.projectcalico.org/ipAddrs":"[\"10.10.200.7\"]"}}}'
    cni ADD given-1 "$(conf 1.0.0 '' "$ann")"
    [ "$(address 0)" = 10.10.200.7/32 ] || { fail given_addresses "ipAddrs: rc=$RC $OUT"; return; }
    cni ADD given-2 "$(conf 1.0.0 '' "$ann")"
    expect_error given_addresses 100 "10.10.200.7 is already in use (handle k8s-pod-network.given-1" || return
    cni ADD given-3 "$(conf 1.0.0 '' '"runtimeConfig":{"ips":["10.10.200.9/24"]}')"
    [ "$(address 0)" = 10.10.200.9/32 ] || { fail given_addresses "runtimeConfig.ips: $OUT"; return; }
    cni ADD given-4 "$(conf 1.0.0)" "IgnoreUnknown=1;IP=10.20.200.1"
    [ "$(address 0)" = 10.20.200.1/32 ] || { fail given_addresses "CNI_ARGS IP: $OUT"; return; }
    cni ADD given-5 "$(conf 1.0.0 '' '"args":{"cni":{"ips":["192.168.77.1"]}}')"
    expect_error given_addresses 7 "192.168.77.1 is not in any IPPool" && pass given_addresses
}

test_exhausted_pool_fails_with_its_name() {
    cni ADD tiny-1 "$(conf 1.0.0 '"ipv4_pools":["tiny"]')"
    local i
    for i in 2 3 4; do cni ADD "tiny-$i" "$(conf 1.0.0 '"ipv4_pools":["tiny"]')"; done
    cni ADD tiny-5 "$(conf 1.0.0 '"ipv4_pools":["tiny"]')"
    expect_error exhausted_pool_fails_with_its_name 100 "IPPool tiny (10.30.0.0/30): the pools are exhausted" &&
        pass exhausted_pool_fails_with_its_name
}

# An IPReservation's addresses are never chosen; asked for by name (ipAddrs), one is
# given, as Calico gives it.
test_reserved_addresses_are_not_handed_out() {
    local got=() i ann='"args":{"cni":{"annotations":{"cni.projectcalico.org/ipAddrs":"[\"10.40.0.1\"]"}}}'
    ctl apply -f - >/dev/null <<'YAML' || { fail reserved_addresses_are_not_handed_out "apply"; return; }
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: "resv"}
spec: {cidr: "10.40.0.0/29", blockSize: 29, assignmentMode: "Manual"}
---
apiVersion: projectcalico.org/v3
kind: IPReservation
metadata: {name: "gateways"}
spec: {reservedCIDRs: ["10.40.0.0/30", "10.40.0.5"]}
YAML
    for i in 1 2 3; do
        cni ADD "resv-$i" "$(conf 1.0.0 '"ipv4_pools":["resv"]')"
        [ "$RC" = 0 ] || { fail reserved_addresses_are_not_handed_out "ADD $i: $OUT"; return; }
        got+=("$(address 0)")
    done
    [ "$(printf '%s\n' "${got[@]}" | sort | tr '\n' ' ')" = "10.40.0.4/32 10.40.0.6/32 10.40.0.7/32 " ] ||
        { fail reserved_addresses_are_not_handed_out "got ${got[*]}"; return; }
    cni ADD resv-4 "$(conf 1.0.0 '"ipv4_pools":["resv"]')"
    expect_error reserved_addresses_are_not_handed_out 100 "IPPool resv (10.40.0.0/29)" || return
    cni ADD resv-named "$(conf 1.0.0 '' "$ann")"
    if [ "$RC" = 0 ] && [ "$(address 0)" = 10.40.0.1/32 ]; then
        pass reserved_addresses_are_not_handed_out
    else
        fail reserved_addresses_are_not_handed_out "ipAddrs of a reserved address: rc=$RC $OUT"
    fi
}

# bad NAME CODE FRAGMENT COMMAND CONF [ENV...]: fails with the code and changes nothing.
bad() {
    local name=$1 code=$2 frag=$3 cmd=$4 cfg=$5 before after
    shift 5
    before=$(snapshot)
    OUT=$(printf '%s' "$cfg" | env CNI_COMMAND="$cmd" CNI_CONTAINERID=bad1 CNI_IFNAME=eth0 "$@" \
        "$TABBY_IPAM" 2>/dev/null)
    RC=$?
    after=$(snapshot)
    if expect_error "$name" "$code" "$frag"; then
        if [ "$before" != "$after" ]; then fail "$name" "the datastore changed"; else pass "$name"; fi
    fi
}

test_errors_have_the_specs_codes_and_leave_nothing() {
    bad malformed_json 6 "failed to decode" ADD '{"cniVersion": '
    bad not_an_object 6 "not a JSON object" ADD '[1,2]'
    bad unknown_version 1 "incompatible CNI versions: the configuration is 2.0.0" ADD "$(conf 2.0.0)"
    bad missing_version 7 "cniVersion: missing" ADD '{"name":"n","ipam":{}}'
    bad missing_name 7 "name: missing" ADD '{"cniVersion":"1.0.0","ipam":{}}'
    bad missing_ipam 7 "ipam: missing" ADD '{"cniVersion":"1.0.0","name":"n"}'
    bad bad_assign_flag 7 "ipam.assign_ipv4: must be true or false" ADD "$(conf 1.0.0 '"assign_ipv4":"maybe"')"
    bad nothing_to_assign 7 "both false" ADD "$(conf 1.0.0 '"assign_ipv4":false')"
    bad pools_not_a_list 7 "ipam.ipv4_pools: must be a list" ADD "$(conf 1.0.0 '"ipv4_pools":"pool-a"')"
    bad unknown_pool 7 'IPPool "nope" not found' ADD "$(conf 1.0.0 '"ipv4_pools":["nope"]')"
    bad v6_pool_for_v4 7 "IPPool pool-v6 is an IPv6 pool" ADD "$(conf 1.0.0 '"ipv4_pools":["pool-v6"]')"
    bad bad_annotation 7 "must be a JSON list of strings" ADD \
        "$(conf 1.0.0 '' '"args":{"cni":{"annotations":{"cni.projectcalico.org/ipv4pools":"pool-a"}}}')"
    bad missing_command 4 "CNI_COMMAND is not set" "" "$(conf 1.0.0)"
    bad unknown_command 4 'CNI_COMMAND "FROB"' FROB "$(conf 1.0.0)"
    bad missing_container 4 "CNI_CONTAINERID is not set" ADD "$(conf 1.0.0)" CNI_CONTAINERID=
    bad bad_container_id 4 'CNI_CONTAINERID "../x"' ADD "$(conf 1.0.0)" CNI_CONTAINERID=../x
    bad bad_cni_args 4 "CNI_ARGS" ADD "$(conf 1.0.0)" CNI_ARGS=novalue
    bad unreachable_etcd 11 "unreachable" ADD \
        "$(conf 1.0.0 | sed 's#sqlite:[^"]*#etcd:http://127.0.0.1:1#')"
    bad unopenable_sqlite 11 "is unreachable" ADD \
        "$(conf 1.0.0 | sed 's#sqlite:[^"]*#sqlite:/proc/tabby/none.db#')"
    bad unreachable_on_del 11 "unreachable" DEL \
        "$(conf 1.0.0 | sed 's#sqlite:[^"]*#etcd:http://127.0.0.1:1#')"
    bad gc_before_1_1_0 1 "GC needs cniVersion 1.1.0 or later, the configuration is 1.0.0" GC \
        "$(conf 1.0.0)"
    bad status_before_1_1_0 1 "STATUS needs cniVersion 1.1.0" STATUS "$(conf 1.0.0)"
    bad gc_with_a_malformed_list 7 "cni.dev/valid-attachments[0]: must hold" GC \
        "$(conf 1.1.0 '' '"cni.dev/valid-attachments":[{"containerID":"c1"}]')"
    bad gc_unreachable 11 "unreachable" GC \
        "$(conf 1.1.0 | sed 's#sqlite:[^"]*#etcd:http://127.0.0.1:1#')"
    bad status_unreachable_etcd 50 "unreachable" STATUS \
        "$(conf 1.1.0 | sed 's#sqlite:[^"]*#etcd:http://127.0.0.1:1#')"
    bad status_unopenable_sqlite 50 "is unreachable" STATUS \
        "$(conf 1.1.0 | sed 's#sqlite:[^"]*#sqlite:/proc/tabby/none.db#')"
}

# nocontainer COMMAND CONF: GC or STATUS as a runtime runs them (no container, interface
# or namespace).
nocontainer() {
    OUT=$(printf '%s' "$2" | env CNI_COMMAND="$1" CNI_PATH=/opt/cni/bin "$TABBY_IPAM" \
        2>"$T_TMP/stderr")
    RC=$?
}

# gc VALID-JSON-LIST: GC with that cni.dev/valid-attachments.
gc() { nocontainer GC "$(conf 1.1.0 '' "\"cni.dev/valid-attachments\":$1")"; }

# quiet_and_unchanged NAME BEFORE: the last call succeeded, printed nothing and wrote
# nothing (the datastore is still BEFORE, a snapshot).
quiet_and_unchanged() {
    if [ "$RC" = 0 ] && [ -z "$OUT" ] && [ "$(snapshot)" = "$2" ]; then
        pass "$1"
    else
        fail "$1" "rc=$RC $OUT, or the datastore changed"
    fi
}

# The handles that hold addresses.
handles() {
    sqlite3 "$DB" "SELECT substr(key, 24) FROM kv WHERE key LIKE '/tabby/v1/ipam/handles/%'
        ORDER BY key;" | tr '\n' ' '
}

# In a datastore of its own: gc-1 … gc-4 on node1, gc-n2 on node2 and gc-other on another
# network; gc-1 and gc-2 (with another interface name: IPAM keeps a container's handle
# whatever its interfaces) are still valid.
test_gc_releases_only_this_nodes_stale_handles_of_the_network() {
    local STORE=sqlite:$T_TMP/gc.db DB=$T_TMP/gc.db c ip3 want got before t
    ctl apply -f - >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: gc-pool}
spec: {cidr: 10.60.0.0/24, blockSize: 28}
YAML
    for c in gc-1 gc-2 gc-4; do cni ADD "$c" "$(conf 1.1.0)"; done
    cni ADD gc-3 "$(conf 1.1.0)"
    ip3=$(address 0 | cut -d/ -f1)
    cni ADD gc-n2 "$(conf 1.1.0 | sed 's/"node1"/"node2"/')"
    cni ADD gc-other "$(conf 1.1.0 | sed 's/"k8s-pod-network"/"other-net"/')"
    gc '[{"containerID":"gc-1","ifname":"eth0"},{"containerID":"gc-2","ifname":"net1"}]'
    want="k8s-pod-network.gc-1 k8s-pod-network.gc-2 k8s-pod-network.gc-n2 other-net.gc-other "
    got=$(handles)
    t=gc_releases_only_this_nodes_stale_handles_of_the_network
    if [ "$RC" != 0 ] || [ -n "$OUT" ]; then
        fail $t "rc=$RC $OUT"
    elif [ "$got" != "$want" ] || ! ctl ipam show --ip="$ip3" | grep -q "not currently assigned"; then
        fail $t "handles left: $got; want $want; $ip3: $(ctl ipam show --ip="$ip3" | head -1)"
    else
        pass $t
    fi
    before=$(snapshot)
    gc '[{"containerID":"gc-1","ifname":"eth0"},{"containerID":"gc-2","ifname":"net1"}]'
    quiet_and_unchanged gc_again_writes_nothing "$before"
    # Without the list no attachment is valid any more (as libcni sends it without args).
    nocontainer GC "$(conf 1.1.0)"
    got=$(handles)
    t=gc_without_a_list_releases_the_networks_every_handle_on_the_node
    if [ "$RC" = 0 ] && [ "$got" = "k8s-pod-network.gc-n2 other-net.gc-other " ]; then
        pass $t
    else
        fail $t "rc=$RC $OUT; left: $got"
    fi
}

test_status_says_whether_add_could_get_addresses() {
    local before
    before=$(snapshot)
    nocontainer STATUS "$(conf 1.1.0)"
    quiet_and_unchanged status_is_ready_and_writes_nothing "$before"
    nocontainer STATUS "$(conf 1.1.0 '"ipv4_pools":["tiny"]')"
    expect_error status_with_exhausted_pools_is_limited_connectivity 51 "the pools are exhausted" &&
        pass status_with_exhausted_pools_is_limited_connectivity
    nocontainer STATUS "$(conf 1.1.0 | sed "s#$STORE#sqlite:$T_TMP/empty.db#")"
    expect_error status_without_a_pool_is_limited_connectivity 51 "no IPv4 IPPool" &&
        pass status_without_a_pool_is_limited_connectivity
}

test_store_is_consistent_after_all_of_it() {
    local out
    out=$(ctl ipam check 2>&1)
    # The pods here have no WorkloadEndpoints, so their addresses count as leaked; nothing
    # else may be wrong.
    if grep -vE "^(Checking|Found|Check complete|leaked address)" <<<"$out" | grep -q . ||
        ! grep -q "^Found .* blocks" <<<"$out"; then
        fail store_is_consistent_after_all_of_it "$out"
    else
        pass store_is_consistent_after_all_of_it
    fi
}

setup_pools
test_add_returns_a_1_0_0_result
test_add_answers_older_result_versions
test_repeated_add_returns_the_same_address
test_dual_stack_add
test_check_follows_the_allocation
test_del_is_idempotent
test_version_lists_supported_versions
test_pools_follow_annotation_namespace_and_config
test_given_addresses
test_exhausted_pool_fails_with_its_name
test_reserved_addresses_are_not_handed_out
test_errors_have_the_specs_codes_and_leave_nothing
test_status_says_whether_add_could_get_addresses
test_gc_releases_only_this_nodes_stale_handles_of_the_network
test_store_is_consistent_after_all_of_it
t_end
