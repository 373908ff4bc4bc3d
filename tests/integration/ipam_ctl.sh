#!/usr/bin/env bash
# ipam_ctl.sh — tabbyctl ipam against a real sqlite datastore filled by the tabby-ipam
# plugin: show (per pool, per block, per address), release, configure, and check finding
# and repairing leaks and broken records. Needs no root.
set -u
. "$(dirname "$0")/lib.sh"
t_begin ipam_ctl

DB=$T_TMP/tabby.db
STORE="sqlite:$DB"
ctl() { "$TABBYCTL" --store "$STORE" "$@"; }
unset TABBY_STORE TABBY_CONFIG

# add NODE CONTAINER: one pod's address, printed without its prefix length.
add() {
    printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"tabby","ipam":{"type":"tabby-ipam","datastore":"%s","nodename":"%s"}}' \
        "$STORE" "$1" |
        env CNI_COMMAND=ADD CNI_CONTAINERID="$2" CNI_IFNAME=eth0 \
            CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-$2" "$TABBY_IPAM" |
        jq -r '.ips[0].address' | cut -d/ -f1
}

setup() {
    cat >"$T_TMP/pool.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: small
spec:
  cidr: 10.10.0.0/24
  blockSize: 28
YAML
    ctl apply -f "$T_TMP/pool.yaml" >/dev/null || { fail setup "cannot apply the pool"; t_end; }
    IP1=$(add node1 c1); add node1 c2 >/dev/null; add node1 c3 >/dev/null
    add node2 c4 >/dev/null; add node2 c5 >/dev/null
}

test_show_prints_usage_per_pool() {
    local out
    out=$(ctl ipam show)
    if grep -qE '^\| IP Pool +\| 10\.10\.0\.0/24 +\| +256 \| 5 \(2%\) +\| 251 \(98%\) +\|$' <<<"$out" &&
        grep -qE '^\| GROUPING \| +CIDR +\| IPS TOTAL \| IPS IN USE \| +IPS FREE +\|$' <<<"$out"; then
        pass show_prints_usage_per_pool
    else
        fail show_prints_usage_per_pool "$out"
    fi
}

test_show_blocks_names_nodes() {
    local out
    out=$(ctl ipam show --show-blocks)
    if [ "$(grep -cE '^\| Block +\| 10\.10\.0\.[0-9]+/28 +\| +16 \| 3 \(19%\) +\| 13 \(81%\) +\| node1 \|$' <<<"$out")" = 1 ] &&
        [ "$(grep -cE '^\| Block +\| 10\.10\.0\.[0-9]+/28 +\| +16 \| 2 \(12%\) +\| 14 \(88%\) +\| node2 \|$' <<<"$out")" = 1 ]; then
        pass show_blocks_names_nodes
    else
        fail show_blocks_names_nodes "$out"
    fi
}

test_show_ip_says_who_holds_it() {
    local out
    out=$(ctl ipam show --ip="$IP1")
    if grep -q "^IP $IP1 is in use$" <<<"$out" && grep -q "^  pod: pod-c1$" <<<"$out" &&
        grep -q "^  namespace: default$" <<<"$out" && grep -q "^  node: node1$" <<<"$out" &&
        grep -q "^Handle: k8s-pod-network.c1$" <<<"$out" &&
        grep -q "(affinity host:node1)" <<<"$out" &&
        ctl ipam show --ip=10.10.0.250 | grep -q "is not currently assigned" &&
        ctl ipam show --ip=172.16.0.1 | grep -q "not currently assigned (it is in no IP pool)"; then
        pass show_ip_says_who_holds_it
    else
        fail show_ip_says_who_holds_it "$out"
    fi
}

test_release_ip_frees_it_once() {
    local first second
    first=$(ctl ipam release --ip="$IP1")
    second=$(ctl ipam release --ip="$IP1"); local rc=$?
    if [ "$first" = "Successfully released IP address $IP1" ] && [ $rc = 0 ] &&
        grep -q "is not assigned: nothing to release" <<<"$second" &&
        ctl ipam show --ip="$IP1" | grep -q "not currently assigned" &&
        ctl ipam show | grep -q " 4 (2%) "; then
        pass release_ip_frees_it_once
    else
        fail release_ip_frees_it_once "$first / $second"
    fi
}

test_configure_sets_strict_affinity() {
    local out
    out=$(ctl ipam configure --strictaffinity=true)
    if [ "$out" = "Successfully set StrictAffinity to: true" ] &&
        ctl get ipamconfig default -o yaml | grep -q "strictAffinity: true" &&
        ctl ipam configure --strictaffinity=false >/dev/null &&
        ctl get ipamconfig default -o yaml | grep -q "strictAffinity: false" &&
        ! ctl ipam configure --strictaffinity=maybe 2>/dev/null; then
        pass configure_sets_strict_affinity
    else
        fail configure_sets_strict_affinity "$out"
    fi
}

# maxBlocksPerHost as calicoctl sets it: Calico's rule (it needs strictAffinity) holds,
# and IPAM stops claiming at the cap (test_ipam proves the cap; here that it is set).
test_configure_sets_max_blocks_per_host() {
    local out before
    ctl ipam configure --strictaffinity=false >/dev/null
    before=$(ctl get ipamconfig default -o json)
    out=$(ctl ipam configure --max-blocks-per-host=3 2>&1) &&
        { fail configure_sets_max_blocks_per_host "accepted without strictAffinity: $out"; return; }
    grep -qF "maxBlocksPerHost (3) requires strictAffinity to be true" <<<"$out" &&
        [ "$(ctl get ipamconfig default -o json)" = "$before" ] ||
        { fail configure_sets_max_blocks_per_host "refusal: $out"; return; }
    out=$(ctl ipam configure --strictaffinity=true --max-blocks-per-host=3)
    if [ "$out" = "$(printf 'Successfully set StrictAffinity to: true\nSuccessfully set MaxBlocksPerHost to: 3')" ] &&
        [ "$(ctl get ipamconfig default -o json | jq -c '.spec | [.strictAffinity, .maxBlocksPerHost]')" = "[true,3]" ] &&
        ! ctl ipam configure --max-blocks-per-host=-1 2>/dev/null &&
        ! ctl ipam configure --max-blocks-per-host=1000001 2>/dev/null &&
        ctl ipam configure --max-blocks-per-host=0 >/dev/null &&
        ctl ipam configure --strictaffinity=false >/dev/null; then
        pass configure_sets_max_blocks_per_host
    else
        fail configure_sets_max_blocks_per_host "$out"
    fi
}

# An address node2 takes (by name) from node1's block is listed as borrowed, as calicoctl
# ipam show --show-borrowed lists it; node1's own are not.
test_show_borrowed_lists_other_nodes_addresses() {
    local last base addr out
    last=${IP1##*.}; base=$((last & ~15)); addr=${IP1%.*}.$((base + 12))
    printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"tabby","ipam":{"type":"tabby-ipam","datastore":"%s","nodename":"node2"}}' \
        "$STORE" | env CNI_COMMAND=ADD CNI_CONTAINERID=borrower CNI_IFNAME=eth0 \
        CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=borrower;IP=$addr" \
        "$TABBY_IPAM" >/dev/null || { fail show_borrowed_lists_other_nodes_addresses "ADD $addr"; return; }
    out=$(ctl ipam show --show-borrowed)
    if grep -qE '^\| +IP +\| BORROWING-NODE \| +BLOCK +\| BLOCK OWNER \| TYPE \| ALLOCATED-TO \|$' <<<"$out" &&
        grep -qE "^\| ${addr//./\\.} \| node2 +\| ${IP1%.*}\.$base/28 +\| node1 +\| pod +\| ns1/borrower +\|\$" <<<"$out" &&
        [ "$(grep -c '^| [0-9]' <<<"$out")" = 1 ] && ctl ipam release --ip="$addr" >/dev/null &&
        [ "$(ctl ipam show --show-borrowed | grep -c '^| [0-9]')" = 0 ]; then
        pass show_borrowed_lists_other_nodes_addresses
    else
        fail show_borrowed_lists_other_nodes_addresses "$out"
    fi
}

test_usage_errors() {
    local ok=1 args
    for args in "" "frob" "show --ip=not-an-ip" "show --ip=10.0.0.1 --show-blocks" "release" \
        "check extra" "show --show-blocks --show-borrowed" "configure" \
        "configure --max-blocks-per-host=x"; do
        # shellcheck disable=SC2086
        ctl ipam $args >/dev/null 2>&1
        [ $? = 2 ] || { ok=0; fail usage_errors "ipam $args did not exit 2"; }
    done
    [ $ok = 1 ] && pass usage_errors
}

test_check_finds_and_releases_leaks() {
    local out rc
    # No WorkloadEndpoint uses the pods' addresses: all four are leaks.
    out=$(ctl ipam check); rc=$?
    if [ $rc != 1 ] || [ "$(grep -c '^leaked address: ' <<<"$out")" != 4 ] ||
        ! grep -q "Found 2 blocks, 4 handles, 4 allocated addresses." <<<"$out"; then
        fail check_finds_and_releases_leaks "first check rc=$rc: $out"; return
    fi
    out=$(ctl ipam check --release-leaks); rc=$?
    if [ $rc != 0 ] || ! grep -q "4 problem(s) found, 4 repaired" <<<"$out"; then
        fail check_finds_and_releases_leaks "repair rc=$rc: $out"; return
    fi
    out=$(ctl ipam check); rc=$?
    if [ $rc = 0 ] && grep -q "no problems found" <<<"$out" && ctl ipam show | grep -q " 0 (0%) "; then
        pass check_finds_and_releases_leaks
    else
        fail check_finds_and_releases_leaks "after repair rc=$rc: $out"
    fi
}

test_check_repairs_broken_records() {
    local out rc
    add node1 t1 >/dev/null
    # Break what transactions keep consistent: drop the handle record, skew the free count
    # (a key's value is that of the change it points at).
    sqlite3 "$DB" "DELETE FROM kv WHERE key = '/tabby/v1/ipam/handles/k8s-pod-network.t1';
        UPDATE changes SET value = replace(value, '\"tabby.dev/free\":\"15\"', '\"tabby.dev/free\":\"3\"')
        WHERE seq IN (SELECT seq FROM kv WHERE key LIKE '/tabby/v1/ipam/affinities/node1/%');"
    out=$(ctl ipam check); rc=$?
    if [ $rc != 1 ] || ! grep -q "^handle record mismatch: handle k8s-pod-network.t1: it has no record" <<<"$out" ||
        ! grep -q "^affinity record mismatch: block 10.10.0.*: its affinity record for node node1 counts other free" <<<"$out"; then
        fail check_repairs_broken_records "check rc=$rc: $out"; return
    fi
    ctl ipam check --release-leaks >/dev/null
    out=$(ctl ipam check); rc=$?
    if [ $rc = 0 ] && grep -q "no problems found" <<<"$out"; then
        pass check_repairs_broken_records
    else
        fail check_repairs_broken_records "after repair rc=$rc: $out"
    fi
}

setup
test_show_prints_usage_per_pool
test_show_blocks_names_nodes
test_show_ip_says_who_holds_it
test_release_ip_frees_it_once
test_configure_sets_strict_affinity
test_configure_sets_max_blocks_per_host
test_show_borrowed_lists_other_nodes_addresses
test_usage_errors
test_check_finds_and_releases_leaks
test_check_repairs_broken_records
t_end
