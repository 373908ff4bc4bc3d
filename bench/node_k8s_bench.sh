#!/usr/bin/env bash
# node_k8s_bench.sh — tabby-node on the k8s: datastore against sqlite, at scale (issue 14's
# bench). Two VXLAN nodes n1 and n2 in network namespaces (root; nothing is changed in the
# root namespace), PODS endpoints (LOCAL on each node, the rest on 100-endpoint nodes
# elsewhere) and POLICIES policies over their labels (bench/node_load.py, node_bench.sh's
# load). On k8s the endpoints are running Pods in the Kubernetes API server test double
# (tests/k8s/, as k8s_lib.sh runs it), written into its state before it starts; the
# policies are applied with tabbyctl on both stores. Per run and store:
#   - start → ready of each node's tabby-node with the load in place; resident memory
#     (settled and peak) once ready;
#   - CHANGES changes of each kind (pod added, pod label changed, policy added; see
#     node_change.py) → programmed in each node's nftables: p50/p90 over all of them;
#   - on k8s, the API load per node from the server's own counters (/_test/traffic, per
#     client address): requests and bytes at start, watches held, requests per second
#     and bytes per change during the changes; and the server's own CPU time then (the
#     test double is Python: it must not be what is measured).
# Then the figures of every run as ranges, the ratios k8s / sqlite, and the issue's goal
# (start to ready and memory within 10% of sqlite).
#
#   bench/node_k8s_bench.sh [RUNS [PODS [POLICIES [CHANGES]]]]   (from the build folder;
#                                                  default 3 10000 1000 20; LOCAL=100)
#   bench/node_k8s_bench.sh --one STORE PODS POLICIES CHANGES OUT.json   one run of one store
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" != --one ]; then
    RUNS=${1:-3}
    out=$(mktemp -d /tmp/node-k8s-bench-XXXXXX)
    for ((r = 1; r <= RUNS; r++)); do
        for store in sqlite k8s; do
            echo "== run $r, $store (load: $(cut -d' ' -f1-3 /proc/loadavg))"
            bash "$0" --one "$store" "${2:-10000}" "${3:-1000}" "${4:-20}" "$out/$store-$r.json" ||
                echo "run $r on $store failed"
        done
    done
    python3 "$BENCH/node_change.py" summary "$out"/*.json
    exit
fi
STORE=$2
PODS=$3
POLICIES=$4
CHANGES=$5
OUT=$6
LOCAL=${LOCAL:-100}
T_BUILD=${T_BUILD:-$PWD}
. "$BENCH/../tests/integration/lib.sh"
t_begin "node-k8s-bench-$STORE"
. "$BENCH/../tests/integration/podnet.sh"
. "$BENCH/../tests/integration/node_lib.sh"
. "$BENCH/../tests/integration/k8s_lib.sh"
NL_BACKEND=vxlan
nl_init node-k8s-bench python3

if [ "$STORE" = k8s ]; then
    # a long watch history: the load is written before any node watches
    kl_cluster node-k8s-bench --history 50000
else
    nl_node n1 10.0.0.1/24 && nl_node n2 10.0.0.2/24
    nl_pool default-pool 10.68.0.0/16 'vxlanMode: Always' | nl_apply
fi

# ---- the load -------------------------------------------------------------------------------
start=$(now_ms)
if [ "$STORE" = k8s ]; then
    kl_api_stop
    python3 "$BENCH/node_load.py" pods "$T_TMP/kapi-state.json" "$PODS" "$LOCAL" n1,n2 &&
        kl_api_start || { fail load "the pods"; t_end; }
else
    python3 "$BENCH/node_load.py" weps "$PODS" "$LOCAL" n1,n2 >"$T_TMP/weps.yaml"
    pn_ctl apply -f "$T_TMP/weps.yaml" >/dev/null || { fail load "the endpoints"; t_end; }
fi
# the policies after the endpoints: on k8s their namespaces come with the pods
python3 "$BENCH/node_load.py" policies "$POLICIES" >"$T_TMP/policies.yaml"
pn_ctl apply -f "$T_TMP/policies.yaml" >/dev/null || { fail load "the policies"; t_end; }
echo "load: $PODS endpoints ($LOCAL on each node), $POLICIES policies, written in $(($(now_ms) - start)) ms"

# ---- start → ready ----------------------------------------------------------------------------
kapi_pid=
if [ "$STORE" = k8s ]; then
    kapi_pid=${KAPI_PIDS[$KL_DIR]}
    kl_test DELETE traffic >/dev/null
fi
rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
declare -A READY START_CPU SERVER_MS
for node in n1 n2; do
    [ "$STORE" = k8s ] && seq=$(kl_test GET 'requests?since=1000000000000' | jq .next)
    start=$(now_ms)
    NL_READY_S=600 nl_start_all "$node"
    READY[$node]=$(($(now_ms) - start))
    # its CPU time until ready: what of the wait is its own work
    START_CPU[$node]=$(cpu_ticks "${PN_DAEMON[$node]}")
    # and the API server's time serving it meanwhile (its own clock, ms a request)
    SERVER_MS[$node]=0
    [ "$STORE" = k8s ] && SERVER_MS[$node]=$(kl_test GET "requests?since=$seq" |
        jq '[.requests[] | select(.user == "tabby-node" and .watch == false) | .ms] | add // 0')
    echo "$node ready after ${READY[$node]} ms:" \
        "$(grep 'policy programmed' "$T_TMP/tabby-node-$node.log" | tail -1 | sed 's/.*programmed //')"
done
if [ "$STORE" = k8s ]; then
    kl_test GET traffic >"$T_TMP/start-traffic.json"
fi
sleep 5 # settled: the freed memory of the first read given back
declare -A RSS HWM ANON
for node in n1 n2; do
    RSS[$node]=$(rss_kb "${PN_DAEMON[$node]}" VmRSS)
    ANON[$node]=$(rss_kb "${PN_DAEMON[$node]}" RssAnon)
    HWM[$node]=$(rss_kb "${PN_DAEMON[$node]}" VmHWM)
done

# ---- changes → nftables ------------------------------------------------------------------------
jq -n --arg store "$STORE" --arg n1 "$(pn_node_netns n1)" --arg n2 "$(pn_node_netns n2)" \
    --argjson changes "$CHANGES" --arg tmp "$T_TMP" --arg ctl "$TABBYCTL" --arg ds "$PN_STORE" \
    --arg url "https://$KL_IP:$KL_PORT" --arg dir "${KL_DIR:-}" '
    {store: $store, netns: {n1: $n1, n2: $n2}, changes: $changes, node: "n2", tmp: $tmp,
     timeout: 30, tabbyctl: [$ctl, "--store", $ds],
     api: {url: $url, ca: "\($dir)/ca.crt", token: "\($dir)/admin.token"}}' >"$T_TMP/change.json"
api_t0=
[ -n "$kapi_pid" ] && api_t0=$(cpu_ticks "$kapi_pid")
${PN_CTL_EXEC:-} python3 "$BENCH/node_change.py" "$T_TMP/change.json" >"$T_TMP/changes.json" ||
    { fail changes "$(tail -3 "$T_TMP/changes.json")"; t_end; }
api_cpu=0
[ -n "$kapi_pid" ] && api_cpu=$(($(cpu_ticks "$kapi_pid") - api_t0))

# ---- idle: 10 s without changes -------------------------------------------------------------------
[ "$STORE" = k8s ] && kl_test GET traffic >"$T_TMP/idle-before.json"
declare -A CPU0
for node in n1 n2; do CPU0[$node]=$(cpu_ticks "${PN_DAEMON[$node]}"); done
sleep 10
declare -A IDLE
for node in n1 n2; do IDLE[$node]=$(($(cpu_ticks "${PN_DAEMON[$node]}") - CPU0[$node])); done
[ "$STORE" = k8s ] && kl_test GET traffic >"$T_TMP/idle-after.json"
for f in start-traffic idle-before idle-after; do
    [ -s "$T_TMP/$f.json" ] || echo null >"$T_TMP/$f.json"
done

jq -n --arg store "$STORE" --argjson pods "$PODS" --argjson policies "$POLICIES" \
    --argjson r1 "${READY[n1]}" --argjson r2 "${READY[n2]}" \
    --argjson s1 "${RSS[n1]}" --argjson s2 "${RSS[n2]}" \
    --argjson h1 "${HWM[n1]}" --argjson h2 "${HWM[n2]}" \
    --argjson i1 "${IDLE[n1]}" --argjson i2 "${IDLE[n2]}" \
    --argjson c1 "${START_CPU[n1]}" --argjson c2 "${START_CPU[n2]}" \
    --argjson a1 "${ANON[n1]}" --argjson a2 "${ANON[n2]}" \
    --argjson m1 "${SERVER_MS[n1]}" --argjson m2 "${SERVER_MS[n2]}" \
    --argjson api_cpu "$api_cpu" --argjson hz "$(getconf CLK_TCK)" \
    --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --slurpfile changes "$T_TMP/changes.json" --slurpfile start "$T_TMP/start-traffic.json" \
    --slurpfile idle0 "$T_TMP/idle-before.json" --slurpfile idle1 "$T_TMP/idle-after.json" '
    {store: $store, pods: $pods, policies: $policies, load: $load, hz: $hz,
     ready_ms: {n1: $r1, n2: $r2}, rss_kb: {n1: $s1, n2: $s2}, hwm_kb: {n1: $h1, n2: $h2},
     idle_ticks: {n1: $i1, n2: $i2}, start_ticks: {n1: $c1, n2: $c2},
     anon_kb: {n1: $a1, n2: $a2}, start_server_ms: {n1: $m1, n2: $m2}, api_cpu_ticks: $api_cpu, changes: $changes[0],
     start_traffic: $start[0],
     idle_traffic: {before: $idle0[0], after: $idle1[0]},
     nodes: {n1: "10.67.0.11", n2: "10.67.0.12"}}' >"$OUT"
# the logs beside the figures (the scratch folder goes at exit)
for node in n1 n2; do cp "$T_TMP/tabby-node-$node.log" "${OUT%.json}.$node.log"; done
[ "$STORE" = k8s ] && cp "$KL_DIR.log" "${OUT%.json}.kapi.log"
pass "node_k8s_bench_$STORE ($(jq -c '[.changes.timeouts]' "$OUT") timeouts)"
t_end
