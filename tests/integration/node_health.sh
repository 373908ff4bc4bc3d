#!/usr/bin/env bash
# node_health.sh — what tabby-node tells an operator and a kubelet: /liveness, /readiness
# (ready only once the node is registered and its state programmed, and why not until
# then), /metrics in Prometheus' text format with the tabby_* series (endpoints, policies,
# rules, sync durations, BGP peers up, IPAM usage, errors), its log (one line per event,
# levels, key=value facts), and a clean stop on SIGTERM that leaves the kernel state in
# place. Two nodes in native BGP mode with BIRD; every request is made inside a node's
# namespace.
set -u
. "$(dirname "$0")/lib.sh"
t_begin node_health
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/node_lib.sh"
NL_BACKEND=bird
nl_init node_health bird

{
    printf 'apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\n'
    printf 'spec: {asNumber: 64512, nodeToNodeMeshEnabled: true}\n---\n'
    nl_pool default-pool 10.69.0.0/16
    printf 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n'
    printf 'metadata: {name: web}\nspec:\n  selector: app == "b"\n  ingress:\n'
    printf '  - {action: Allow, protocol: TCP, source: {selector: app == "a"}, '
    printf 'destination: {ports: [80]}}\n'
} | nl_apply
for i in 1 2; do
    nl_node "n$i" "10.0.0.$i/24"
    nl_bird "n$i"
done
nl_start_all n1

# ---- readiness follows registration ---------------------------------------------------
# n2 looks for its address on eth9, which it does not have yet: alive, not ready, and it
# says why; ready by itself once eth0 is renamed eth9. What it says first depends on how
# far it got (the datastore not read yet, the node not registered yet): read until the
# reason is the failed registration, and it must never say ready meanwhile.
IP_AUTODETECTION_METHOD=interface=eth9 TABBY_AUTODETECT_INTERVAL=2 NL_WAIT_READY=0 nl_start n2
if [ "$(nl_http n2 /liveness)" = "200 alive" ]; then
    pass liveness_answers_200
else
    fail liveness_answers_200 "$(nl_http n2 /liveness)"
fi
said=() # every distinct answer, in order
# says_why: true once /readiness names the failed registration, or says ready (a failure).
says_why() {
    local r
    r=$(nl_http n2 /readiness)
    [ "${#said[@]}" -gt 0 ] && [ "${said[${#said[@]} - 1]}" = "$r" ] || said+=("$r")
    [[ $r == '200 '* ]] || [[ $r =~ ^'503 not ready: node not registered: '.*eth9 ]]
}
if t_wait 20 says_why && ! printf '%s\n' "${said[@]}" | grep -q '^200 ' &&
    [ "$(nl_metric n2 tabby_ready)" = 0 ]; then
    pass not_ready_until_registered_and_says_why
else
    fail not_ready_until_registered_and_says_why "said: $(printf '[%s] ' "${said[@]}")"
fi
nl_in n2 ip link set eth0 down
nl_in n2 ip link set eth0 name eth9
nl_in n2 ip link set eth9 up
if t_wait 30 nl_ready n2 && [ "$(nl_metric n2 tabby_ready)" = 1 ] &&
    [ "$(nl_metric n2 tabby_node_registered)" = 1 ]; then
    pass ready_once_registered_and_programmed
else
    fail ready_once_registered_and_programmed "$(nl_http n2 /readiness)"
fi
nl_pod n1 default a app=a
nl_pod n2 default b app=b
peers_up() { [ "$(nl_metric "$1" 'tabby_bgp_peers{state="established"}')" = 1 ]; }
t_wait 30 peers_up n1
t_wait 10 peers_up n2
pn_expect a_reaches_b_across_nodes allow default a default b 80 TCP
pn_expect b_port_81_closed_by_policy deny default a default b 81 TCP
pn_check

# ---- metrics ---------------------------------------------------------------------------
# Status, type and the text format: every sample's metric has HELP and TYPE lines, every
# sample line is `name[{labels}] value`.
status=$(nl_in n1 curl -s -m 2 -o "$T_TMP/metrics" -w '%{http_code} %{content_type}' \
    http://127.0.0.1:9099/metrics)
if [[ $status == "200 text/plain; version=0.0.4"* ]] && python3 - "$T_TMP/metrics" <<'PY'
import re, sys
help, typ, bad = set(), set(), []
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? '
                    r'(-?[0-9.e+-]+|NaN|\+Inf)$')
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if line.startswith('# HELP '):
        help.add(line.split()[2])
    elif line.startswith('# TYPE '):
        typ.add(line.split()[2])
    else:
        m = sample.match(line)
        if not m:
            bad.append(line)
            continue
        name = re.sub(r'_(bucket|sum|count)$', '', m.group(1))
        if name not in help or name not in typ:
            if m.group(1) not in help or m.group(1) not in typ:
                bad.append(line)
if bad:
    print('\n'.join(bad[:5]))
    sys.exit(1)
PY
then
    pass metrics_are_prometheus_text
else
    fail metrics_are_prometheus_text "$status"
fi
# metric_is SERIES OP VALUE: the series exists in the last scrape and compares as asked.
metric_is() {
    local v
    v=$(awk -v s="$1" '$1 == s { print $2 }' "$T_TMP/metrics")
    [ -n "$v" ] && awk -v v="$v" -v w="$3" "BEGIN { exit !(v $2 w) }" ||
        { echo "$1=${v:-absent} (want $2 $3)"; return 1; }
}
# metrics_hold NODE SERIES OP VALUE…: one scrape of NODE meets every condition.
metrics_hold() {
    local node=$1 bad=''
    shift
    nl_in "$node" curl -s -m 2 -o "$T_TMP/metrics" http://127.0.0.1:9099/metrics
    : >"$T_TMP/metric.why"
    while [ $# -gt 0 ]; do
        metric_is "$1" "$2" "$3" >>"$T_TMP/metric.why" || bad=1
        shift 3
    done
    [ -z "$bad" ]
}
# check_metrics NAME NODE SERIES OP VALUE…: the metrics come to meet the conditions. Some
# are counted now and then (IPAM usage, BGP sessions), so they are read until they do.
check_metrics() {
    local name=$1
    shift
    if t_wait 20 metrics_hold "$@"; then
        pass "$name"
    else
        fail "$name" "$(tr '\n' ' ' <"$T_TMP/metric.why")"
    fi
}
check_metrics metrics_count_endpoints n1 \
    'tabby_endpoints{scope="local"}' == 1 'tabby_endpoints{scope="total"}' == 2
check_metrics metrics_count_policies_and_rules n1 \
    tabby_policies == 1 tabby_nft_rules '>' 0 tabby_nft_chains '>' 0 tabby_nft_sets '>' 0
check_metrics metrics_time_the_syncs n1 \
    tabby_policy_sync_seconds_count '>' 0 tabby_policy_sync_seconds_sum '>' 0 \
    'tabby_policy_sync_seconds_bucket{le="+Inf"}' '>' 0 tabby_routes_apply_seconds_count '>' 0
check_metrics metrics_count_bgp_peers_up n1 \
    'tabby_bgp_peers{state="established"}' == 1 'tabby_bgp_peers{state="configured"}' == 1 \
    tabby_bird_up == 1 tabby_bgp_blocks == 1
check_metrics metrics_show_ipam_usage n1 \
    tabby_ipam_blocks == 1 tabby_ipam_addresses == 64 tabby_ipam_addresses_in_use == 1
check_metrics metrics_count_errors n1 \
    tabby_datastore_errors_total == 0 tabby_nft_commit_failures_total == 0 \
    tabby_route_failures_total == 0 tabby_bgp_failures_total == 0 \
    tabby_node_registration_failures_total == 0
check_metrics metrics_show_the_process n1 \
    tabby_process_resident_memory_bytes '>' 100000 tabby_process_cpu_seconds_total '>=' 0 \
    tabby_ready == 1 tabby_datastore_online == 1
# n2 failed to register for a while: counted.
check_metrics metrics_count_registration_failures n2 \
    tabby_node_registration_failures_total '>' 0
if [ "$(nl_http n1 /nowhere | cut -d' ' -f1)" = 404 ] &&
    [ "$(nl_in n1 curl -s -m 2 -o /dev/null -w '%{http_code}' -X POST \
        http://127.0.0.1:9099/metrics)" = 405 ]; then
    pass unknown_paths_and_methods_are_refused
else
    fail unknown_paths_and_methods_are_refused "$(nl_http n1 /nowhere)"
fi

# ---- FelixConfiguration ------------------------------------------------------------------
# Applied as it changes, no restart: Calico's Prometheus port (9091, /metrics alone) and
# the log level for every node, another port for n2 (its own FelixConfiguration wins);
# deleting n2's moves it back to the default's.
felix() {
    printf 'apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: %s}\n' "$1"
    printf 'spec: %s\n---\n' "$2"
}
metrics_on() {
    nl_in "$1" curl -sf -m 2 "http://127.0.0.1:$2/metrics" | grep -q '^tabby_ready 1$'
}
{
    felix default '{prometheusMetricsEnabled: true, prometheusMetricsHost: 127.0.0.1, logSeverityScreen: Debug}'
    felix node.n2 '{prometheusMetricsPort: 9092}'
} | nl_apply
if t_wait 20 metrics_on n1 9091 && t_wait 20 metrics_on n2 9092 && ! metrics_on n2 9091 &&
    [ "$(nl_in n1 curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:9091/readiness)" = 404 ] &&
    t_wait 10 grep -q ' debug   [a-z-]*: ' "$T_TMP/tabby-node-n1.log"; then
    pass "felixconfiguration_applies_without_restart (metrics on 9091, n2's own 9092, log level)"
else
    fail felixconfiguration_applies_without_restart "$(grep felix "$T_TMP"/tabby-node-n*.log | tail -3)"
fi
pn_ctl delete felixconfiguration node.n2 >/dev/null
if t_wait 20 metrics_on n2 9091 && ! metrics_on n2 9092; then
    pass felixconfiguration_node_removed_default_applies
else
    fail felixconfiguration_node_removed_default_applies "$(grep felix "$T_TMP/tabby-node-n2.log" | tail -3)"
fi
pn_ctl delete felixconfiguration default >/dev/null

# ---- SIGTERM ---------------------------------------------------------------------------
nl_state n1 >"$T_TMP/n1.before"
routes_before=$(nl_in n1 ip route show proto bird)
pid=${PN_DAEMON[n1]}
start=$(now_ms)
kill -TERM "$pid"
wait "$pid"
rc=$?
took=$(($(now_ms) - start))
unset "PN_DAEMON[n1]"
log=$T_TMP/tabby-node-n1.log
if [ "$rc" = 0 ] && [ "$took" -lt 3000 ] &&
    tail -2 "$log" | head -1 | grep -q ' info    node: stopping signal=Terminated$' &&
    tail -1 "$log" | grep -q ' info    node: stopped node=n1 (kernel state left in place)$'; then
    pass "sigterm_stops_cleanly (exit 0 after $took ms)"
else
    fail sigterm_stops_cleanly "exit $rc after $took ms: $(tail -2 "$log" | tr '\n' ';')"
fi
if [ ! -e "$T_TMP/tabby-node-n1.pid" ] && ! nl_in n1 curl -s -m 1 http://127.0.0.1:9099/liveness
then
    pass sigterm_removes_the_pid_file_and_closes_the_port
else
    fail sigterm_removes_the_pid_file_and_closes_the_port "$(ls "$T_TMP")"
fi
if nl_state n1 | diff "$T_TMP/n1.before" - >/dev/null &&
    [ "$(nl_in n1 ip route show proto bird)" = "$routes_before" ]; then
    pass sigterm_leaves_the_kernel_state
else
    fail sigterm_leaves_the_kernel_state "$(nl_state n1 | diff "$T_TMP/n1.before" - | head -c 400)"
fi
pn_expect policy_enforced_after_stop deny default a default b 81 TCP
pn_expect traffic_routed_after_stop allow default a default b 80 TCP
pn_check

# ---- the log ---------------------------------------------------------------------------
# Every line: a UTC timestamp, a level, a component, a message; events with their facts.
bad=$(grep -hvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (error|warning|info|debug) +[a-z-]+: [^ ].*$' \
    "$T_TMP"/tabby-node-n*.log)
if [ -z "$bad" ]; then
    pass log_is_one_line_per_event
else
    fail log_is_one_line_per_event "$(head -3 <<<"$bad")"
fi
want=('info    node: starting node=n1 store=sqlite:.* backend=bird ip=autodetect'
    'info    health: serving /liveness /readiness /metrics /status host=127.0.0.1 port=9099'
    'info    syncer: in sync resources=[0-9]+'
    'policy programmed .*ms='
    'error   register: node not registered node=n2 retry_ms=[0-9]+ error=".*eth9')
missing=''
for w in "${want[@]}"; do
    grep -qE "$w" "$T_TMP"/tabby-node-n*.log || missing+="[$w] "
done
if [ -z "$missing" ]; then
    pass log_says_events_with_key_facts
else
    fail log_says_events_with_key_facts "missing: $missing"
fi
t_end
