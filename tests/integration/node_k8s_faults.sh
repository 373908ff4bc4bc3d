#!/usr/bin/env bash
# node_k8s_faults.sh — tabby-node on the k8s: datastore when the Kubernetes API misbehaves
# (the server is the project's test double, see k8s_lib.sh, which injects the faults). Two
# VXLAN nodes; pods a, c on n1 and b on n2; a Calico policy (tabbyctl) lets only a into b,
# a Kubernetes policy (kubectl) lets only b into c. Every case watches both nodes' kernels
# (nft monitor, ip monitor route) from before the fault until the cluster has caught up,
# and asserts that nothing tabby-node programmed was removed meanwhile (fail-static), that
# traffic stayed as the policies say, and that a change made afterwards is programmed on
# both nodes (nothing lost).
#   - a dropped watch (connections cut mid-stream): watched again from where it was, no
#     type listed again;
#   - 410 Expired sent on every watch: each type listed again, no change told twice;
#   - the API server restarted while the nodes run, keeping its watch history, and again
#     losing it (410 on the watch that resumes: a relist);
#   - the API server away for $TABBY_K8S_AWAY_S seconds (default 60, the issue's figure; a
#     shorter time may be set where a run must be quick: what is checked — nothing torn
#     down, catching up after — does not depend on it): nodes alive, state and traffic
#     unchanged throughout, caught up after the server returns;
#   - 409 storms on writes: four tabby-ipam processes on two nodes allocating at once while
#     the server answers 40 IPAM block updates with 409 Conflict (no address twice, exact
#     counts, ipam check clean), and a node's Node write meeting five 409s in a row.
# While the server is away each node says it is not ready (datastore unreachable): the
# k8s: store's native list-and-watch tells tabby-node's syncer its informers lost it.
# Needs root; never touches the host's namespace.
set -u
. "$(dirname "$0")/lib.sh"
t_begin node_k8s_faults
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/node_lib.sh"
. "$(dirname "$0")/k8s_lib.sh"

AWAY_S=${TABBY_K8S_AWAY_S:-60}

NL_BACKEND=vxlan
nl_init node_k8s_faults python3
kl_cluster node_k8s_faults --bookmark-interval 1
for node in n1 n2; do
    if ! nl_start "$node" --ip-autodetection-method=interface=eth0; then
        fail "start_$node" "$(nl_http "$node" /readiness) $(tail -3 "$T_TMP/tabby-node-$node.log")"
        t_end
    fi
done
nl_pod n1 default a app=a && nl_pod n1 default c app=c && nl_pod n2 default b app=b ||
    { fail setup "pods not made: $(tail -3 "$T_TMP/tabby-node-n1.log")"; t_end; }
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-from-a, namespace: default}
spec:
  selector: app == 'b'
  ingress:
  - action: Allow
    source: {selector: app == 'a'}
YAML
pn_do kl_kubectl apply -f - >/dev/null <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-from-b, namespace: default}
spec:
  podSelector: {matchLabels: {app: c}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: b}}}]
YAML

# What the policies say, as probes: FROM TO PORT PROTO allow|deny.
EXPECTED="a b 80 TCP allow
c b 80 TCP deny
b c 81 UDP allow
a c 80 TCP deny
a b 81 UDP allow"
# traffic_as_expected: every probe of EXPECTED (and those added later) as it says.
traffic_as_expected() {
    local from to port proto want got bad=0
    while read -r from to port proto want; do
        if pn_probe default "$from" default "$to" "$port" "$proto"; then got=allow; else got=deny; fi
        [ "$got" = "$want" ] || { echo "$from->$to $port/$proto: $got, want $want"; bad=1; }
    done <<<"$EXPECTED"
    return $bad
}
if ! out=$(traffic_as_expected); then
    fail setup "the cluster does not work to begin with: $out"
    t_end
fi

# ---- watching the kernels -----------------------------------------------------------------
# mon_start: from now on, every nftables and route change on both nodes; mon_removed: what
# was removed since (nft "delete …", ip "Deleted …" lines), empty when nothing.
MON_PIDS=()
mon_start() {
    local node
    for node in n1 n2; do
        ip netns exec "$(fab_name "$node")" nft monitor >"$T_TMP/mon-$node.nft" 2>&1 &
        MON_PIDS+=($!)
        ip netns exec "$(fab_name "$node")" ip monitor route >"$T_TMP/mon-$node.ip" 2>&1 &
        MON_PIDS+=($!)
    done
    PN_PIDS+=("${MON_PIDS[@]}")
}
mon_removed() {
    local pid node
    for pid in "${MON_PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    MON_PIDS=()
    for node in n1 n2; do
        grep -E '^(delete|Deleted)' "$T_TMP/mon-$node.nft" "$T_TMP/mon-$node.ip" | head -3
    done
}

# request_seq: where the server's request log is now (for kl_node_requests).
request_seq() { kl_test GET 'requests?since=1000000000000' | jq .next; }

# A pod that a's rule lets into b, added after a fault: programmed on both nodes.
NEW=0
add_pod() {
    local node=$1 pod=p$NEW
    NEW=$((NEW + 1))
    nl_pod "$node" default "$pod" app=a || return 1
    EXPECTED+=$'\n'"$pod b 80 TCP allow"$'\n'"$pod c 80 TCP deny"
    t_wait 30 traffic_as_expected
}

# caught_up CASE NODE: a new pod on NODE is programmed (and reaches b); nothing removed
# since mon_start; traffic as the policies say.
caught_up() {
    local name=$1 node=$2 removed start
    start=$(now_ms)
    if ! add_pod "$node"; then
        fail "${name}_catches_up" "the pod added after it: $(traffic_as_expected)"
    else
        pass "${name}_catches_up"
        echo "# $name: a pod added then reached b after $(($(now_ms) - start)) ms"
    fi
    removed=$(mon_removed)
    if ! cat "$T_TMP"/mon-n?.nft | grep -q '^add element'; then
        # the new pod's addresses went into sets: a monitor that saw nothing saw nothing
        fail "${name}_nothing_removed" "nft monitor recorded nothing, not even the new pod"
    elif [ -z "$removed" ]; then
        pass "${name}_nothing_removed"
    else
        fail "${name}_nothing_removed" "$(tr '\n' ';' <<<"$removed")"
    fi
}

# ---- a dropped watch ------------------------------------------------------------------------
mon_start
seq=$(request_seq)
out=$(kl_test POST watches/drop '{"reset": true}')
dropped=$(jq -r .dropped <<<"$out" 2>/dev/null)
caught_up watch_dropped n2
lists=$(kl_node_requests "$seq" list)
watches=$(kl_node_requests "$seq" watch)
if [ "$lists" = 0 ] && [ "$watches" -gt 0 ]; then
    pass "watch_dropped_resumes_without_listing ($dropped watches cut, $watches watches again)"
else
    fail watch_dropped_resumes_without_listing "$lists lists and $watches watches after the drop"
fi

# ---- 410 Expired --------------------------------------------------------------------------------
mon_start
seq=$(request_seq)
out=$(kl_test POST watches/expire '{}')
caught_up watch_expired n1
lists=$(kl_node_requests "$seq" list)
if [ "$lists" -gt 0 ]; then pass "watch_expired_relists ($(jq -r .expired <<<"$out") watches expired, $lists lists)"
else fail watch_expired_relists "no list after 410 Expired"; fi

# ---- the server restarted --------------------------------------------------------------------
# api_down_checks CASE: while the server is down: alive, state and traffic unchanged (and,
# with the native sync, not ready).
api_down_checks() {
    local name=$1 node out
    for node in n1 n2; do
        nl_state "$node" | diff "$T_TMP/$node.before" - >"$T_TMP/$node.diff" ||
            { fail "${name}_state_kept" "$node: $(head -5 "$T_TMP/$node.diff" | tr '\n' ' ')"; return; }
    done
    if ! out=$(traffic_as_expected); then fail "${name}_traffic_kept" "$out"; return; fi
    [ "$(nl_http n1 /liveness)" = "200 alive" ] || { fail "${name}_alive" "$(nl_http n1 /liveness)"; return; }
    return 0
}
not_ready_check() {
    local name=$1
    unready() { nl_http "$1" /readiness | grep -q '^503 .*datastore unreachable'; }
    if t_wait 30 unready n1 && t_wait 30 unready n2; then pass "${name}_not_ready_meanwhile"
    else fail "${name}_not_ready_meanwhile" "$(nl_http n1 /readiness)"; fi
}
# restart CASE [APISERVER ARGS…]
restart() {
    local name=$1
    shift
    for node in n1 n2; do nl_state "$node" >"$T_TMP/$node.before"; done
    mon_start
    kl_api_stop
    not_ready_check "$name"
    api_down_checks "$name" && pass "${name}_kept_while_down"
    if ! kl_api_start "$@"; then
        fail "${name}_server_back" "$(tail -3 "$T_TMP/kapi.err")"
        return
    fi
    caught_up "$name" n2
    if t_wait 30 nl_ready n1 && t_wait 30 nl_ready n2; then pass "${name}_ready_again"
    else fail "${name}_ready_again" "$(nl_http n1 /readiness) / $(nl_http n2 /readiness)"; fi
}
restart api_restarted
restart api_restarted_without_history --forget-history

# ---- the server away for a while ---------------------------------------------------------------
for node in n1 n2; do nl_state "$node" >"$T_TMP/$node.before"; done
mon_start
kl_api_stop
not_ready_check api_away
end=$((SECONDS + AWAY_S))
kept=1
while [ $SECONDS -lt "$end" ]; do
    api_down_checks api_away || { kept=0; break; }
    sleep 1   # between two rounds of checks; nothing waits on it
done
[ $kept = 1 ] && pass "api_away_${AWAY_S}s_nothing_torn_down"
kl_api_start || fail api_away_server_back "$(tail -3 "$T_TMP/kapi.err")"
# The client's reconnect backoff grows to 30 s while the server is away: give it that.
PN_WAIT=60 caught_up api_away n1
if t_wait 60 nl_ready n1 && t_wait 60 nl_ready n2; then pass api_away_ready_again
else fail api_away_ready_again "$(nl_http n1 /readiness) / $(nl_http n2 /readiness)"; fi

# ---- 409 storms -----------------------------------------------------------------------------------
# Four tabby-ipam processes, two per node, 25 addresses each, while 40 block updates are
# refused with 409 Conflict (besides the real conflicts of four writers).
kl_test POST faults '{"verb": "update", "path": "/ipamblocks/", "status": 409, "times": 40}' \
    >/dev/null
alloc() {
    local node=$1 who=$2 i
    for i in $(seq 1 25); do nl_ipam "$node" "storm-$who-$i" || echo "FAILED storm-$who-$i"; done
}
alloc n1 w1 >"$T_TMP/storm-1" &
s1=$!
alloc n1 w2 >"$T_TMP/storm-2" &
s2=$!
alloc n2 w3 >"$T_TMP/storm-3" &
s3=$!
alloc n2 w4 >"$T_TMP/storm-4"
wait $s1 $s2 $s3
hits=$(kl_test GET faults | jq '[.faults[] | select(.path == "/ipamblocks/") | .hits] | add // 0')
kl_test DELETE faults >/dev/null
addresses=$(cat "$T_TMP"/storm-? | grep -vc FAILED)
distinct=$(cat "$T_TMP"/storm-? | grep -v FAILED | sort -u | wc -l)
failed=$(cat "$T_TMP"/storm-? | grep -c FAILED)
handles=$(kl_kubectl get ipamhandles.crd.projectcalico.org -o name | grep -c 'storm-')
# ipam check names each of them as held by a handle no endpoint uses (no pod was made),
# and nothing else; released, the records are clean.
check=$(pn_ctl ipam check 2>&1)
leaks=$(grep -c '^leaked address: .* handle k8s-pod-network\.storm-' <<<"$check")
problems=$(grep -o 'Check complete: [0-9]* problem' <<<"$check" | grep -o '[0-9]*')
pn_ctl ipam check --release-leaks >/dev/null 2>&1
after=$(pn_ctl ipam check 2>&1)
if [ "$addresses" = 100 ] && [ "$distinct" = 100 ] && [ "$handles" = 100 ] &&
    [ "$leaks" = 100 ] && [ "$problems" = 100 ] && grep -q 'no problems found' <<<"$after" &&
    [ "$hits" -gt 0 ]; then
    pass "ipam_409_storm_4_writers (100 addresses, $hits injected conflicts)"
else
    fail ipam_409_storm_4_writers "$addresses addresses ($distinct distinct, $failed failed), $handles handles, $hits conflicts injected; check: $leaks leaks of $problems problems; after release: $(tail -1 <<<"$after")"
fi

# The Node's write: five 409s, then n2 (restarted with another AS number) writes it.
kl_test POST faults '{"verb": "update", "path": "/nodes/n2/status", "status": 409, "times": 5}' \
    >/dev/null
nl_stop n2
nl_start n2 --ip-autodetection-method=interface=eth0 --as 64513
as_written() {
    [ "$(kl_kubectl get node n2 -o jsonpath='{.metadata.annotations.projectcalico\.org/ASNumber}')" = 64513 ]
}
t_wait 60 as_written
hits=$(kl_test GET faults | jq '[.faults[] | select(.path == "/nodes/n2/status") | .hits] | add // 0')
if as_written && [ "$hits" = 5 ] && nl_ready n2; then
    pass node_write_through_409s
else
    fail node_write_through_409s "AS $(kl_kubectl get node n2 -o jsonpath='{.metadata.annotations}'), $hits conflicts; $(nl_http n2 /readiness)"
fi
kl_test DELETE faults >/dev/null
t_end
