#!/usr/bin/env bash
# cni_errors.sh — the tabby CNI plugin given bad input or failing half way: each call
# answers a CNI error document with the spec's code and a message naming the problem,
# exits non-zero, and leaves nothing behind (veth, route, address allocation, endpoint).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cni_lib.sh"

cni_begin cni_errors

# bad NAME CODE FRAGMENT: the last call failed so, and nothing is left.
bad() {
    if ! expect_error "$2" "$3"; then
        fail "$1" "$WHY"
    elif ! nothing_left; then
        fail "$1" "$WHY"
    else
        pass "$1"
    fi
}

test_malformed_json() {
    cni_ns json
    cni ADD json '{"cniVersion": "1.0.0", "name": '
    bad malformed_json_is_a_decode_error 6 "failed to decode the network configuration"
}

test_missing_netns() {
    cni ADD nonetns "$(cni_conf)" -
    bad missing_netns_is_an_environment_error 4 "CNI_NETNS is not set"
}

test_netns_that_does_not_exist() {
    cni ADD ghost "$(cni_conf)" /run/netns/"$CNI_PFX"-never-made
    bad netns_that_does_not_exist_is_an_environment_error 4 "CNI_NETNS: network namespace"
}

test_unknown_version() {
    cni_ns future
    cni ADD future "$(cni_conf 9.9.9)"
    bad unknown_cni_version_is_incompatible 1 "incompatible CNI versions: the configuration is 9.9.9"
}

test_missing_ipam() {
    cni_ns noipam
    cni ADD noipam '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"tabby"}'
    bad missing_ipam_is_invalid_configuration 7 "ipam: missing"
}

test_ipam_plugin_not_on_the_path() {
    cni_ns noplugin
    cni ADD noplugin "$(cni_conf 1.0.0 '' '{"type":"no-such-ipam"}')"
    bad ipam_plugin_not_on_cni_path_is_invalid_configuration 7 'plugin "no-such-ipam" not found in CNI_PATH'
}

test_unreachable_datastore() {
    cni_ns nostore
    cni ADD nostore "$(cni_conf | jq -c '.datastore = "etcd:http://127.0.0.1:1"')"
    bad unreachable_datastore_says_try_again 11 "unreachable"
}

# The datastore is asked before anything is made, so even an IPAM plugin that does not
# use it (host-local) is never run.
test_unreachable_datastore_with_host_local() {
    local conf
    cni_ns late
    conf=$(cni_conf 1.0.0 '' "{\"type\":\"host-local\",\"dataDir\":\"$T_TMP/hl\",\"ranges\":[[{\"subnet\":\"10.40.0.0/24\"}]]}" |
        jq -c '.datastore = "etcd:http://127.0.0.1:1"')
    cni ADD late "$conf"
    if expect_error 11 "unreachable" && [ -z "$(ls "$T_TMP/hl/k8s-pod-network" 2>/dev/null | grep '^10\.')" ]; then
        bad unreachable_datastore_allocates_nothing_with_host_local 11 "unreachable"
    else
        fail unreachable_datastore_allocates_nothing_with_host_local "${WHY:-host-local still holds $(ls "$T_TMP/hl/k8s-pod-network")}"
    fi
}

# The pod's address is already routed through another interface of the node: the veth,
# its routes and the allocation are undone.
test_route_conflict_undoes_the_add() {
    local conf
    cni_ns conflict
    conf=$(cni_conf 1.0.0 '' "{\"type\":\"host-local\",\"dataDir\":\"$T_TMP/hl2\",\"ranges\":[[{\"subnet\":\"10.41.0.0/24\",\"rangeStart\":\"10.41.0.5\",\"rangeEnd\":\"10.41.0.5\"}]]}")
    at "$NODE" ip route add 10.41.0.5/32 dev eth0
    cni ADD conflict "$conf"
    at "$NODE" ip route del 10.41.0.5/32 dev eth0
    if ls "$T_TMP/hl2/k8s-pod-network" 2>/dev/null | grep -q '^10\.'; then
        fail route_conflict_undoes_the_add "host-local still holds 10.41.0.5"
    elif at conflict ip link show eth0 >/dev/null 2>&1; then
        fail route_conflict_undoes_the_add "the pod still has eth0"
    else
        bad route_conflict_undoes_the_add 102 "already routed through eth0"
    fi
}

test_interface_already_in_the_container() {
    cni_ns taken
    at taken ip link add eth0 type veth peer name eth1
    cni ADD taken "$(cni_conf)"
    bad interface_already_in_the_container 102 "the container already has an interface named eth0"
}

test_pools_exhausted() {
    cni_ns full
    ctl apply -f - >/dev/null <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: tiny}
spec: {cidr: 10.50.0.0/32, blockSize: 32, assignmentMode: Manual}
EOF
    cni ADD full "$(cni_conf 1.0.0 '' '{"type":"tabby-ipam","ipv4_pools":["tiny"]}')"
    cni_ns full2
    cni ADD full2 "$(cni_conf 1.0.0 '' '{"type":"tabby-ipam","ipv4_pools":["tiny"]}')"
    expect_error 100 "tabby-ipam: " || { fail pools_exhausted_passes_the_ipam_error_on "$WHY"; return; }
    cni DEL full "$(cni_conf)"
    if nothing_left; then pass pools_exhausted_passes_the_ipam_error_on
    else fail pools_exhausted_passes_the_ipam_error_on "$WHY"; fi
}

test_bad_labels_undo_the_add() {
    cni_ns badlabel
    cni ADD badlabel "$(cni_conf 1.0.0 '"args":{"cni":{"labels":[{"key":"not a key","value":"x"}]}}')"
    bad bad_labels_undo_the_add 7 "not a key"
}

test_del_without_ipam_changes_nothing() {
    cni DEL noipam2 '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"tabby"}'
    bad del_without_ipam_is_invalid_configuration 7 "ipam: missing"
}

test_malformed_json
test_missing_netns
test_netns_that_does_not_exist
test_unknown_version
test_missing_ipam
test_ipam_plugin_not_on_the_path
test_unreachable_datastore
test_unreachable_datastore_with_host_local
test_route_conflict_undoes_the_add
test_interface_already_in_the_container
test_pools_exhausted
test_bad_labels_undo_the_add
test_del_without_ipam_changes_nothing
t_end
