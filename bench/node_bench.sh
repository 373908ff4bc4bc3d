#!/usr/bin/env bash
# node_bench.sh — tabby-node at scale, on three VXLAN nodes in network namespaces (root;
# nothing is changed in the root namespace):
#   - apply → enforcement: from the start of `tabbyctl apply` of a deny policy until a
#     prober in a pod on node 1 sees new connections to a server pod on each of the three
#     nodes refused (a new TCP connection every 10 ms per server); ROUNDS rounds, first
#     in a near-empty cluster, then with the load below;
#   - the load: ENDPOINTS workload endpoints (LOCAL of them on node 1, with their veths;
#     the rest on 100-endpoint nodes elsewhere) and POLICIES policies over their labels,
#     all held by every node's daemon;
#   - node 1's daemon restarted under that load: time to ready, resident memory (peak and
#     settled) and CPU while idle.
#
#   bench/node_bench.sh [ENDPOINTS [POLICIES [LOCAL [ROUNDS]]]]   (from the build folder;
#                                                     default 10000 1000 100 5)
set -u
. "$(dirname "$0")/node_bench_lib.sh"
nb_begin node-bench 10000 1000 100 "$@"
ROUNDS=${4:-5}

for i in 1 2 3; do nl_node "n$i" "10.0.0.$i/24"; done
nl_start_all n1 n2 n3
nl_pod n1 default client role=client
for i in 1 2 3; do nl_pod "n$i" default "s$i" app=server; done

# ---- apply → enforcement ---------------------------------------------------------------
for i in 1 2 3; do
    ip netns exec "$(pn_netns default "s$i")" python3 "$BENCH/node_probe.py" serve 8080 &
    PN_PIDS+=($!)
done
fifo=$T_TMP/probe.ctl
mkfifo "$fifo"
ip netns exec "$(pn_netns default client)" python3 "$BENCH/node_probe.py" "$fifo" \
    "$(pn_ip default s1):8080" "$(pn_ip default s2):8080" "$(pn_ip default s3):8080" \
    >"$T_TMP/probe.out" 2>&1 &
PN_PIDS+=($!)
exec 7>"$fifo"
probe_lines=0
# probe CMD…: sends a command, prints the prober's answer lines (up to "ok", "timeout" or
# "done"). Counts the lines read in this shell: call it with a redirection, not in $(…).
probe() {
    local line
    echo "$*" >&7
    while :; do
        # only whole lines: the prober may be half way through writing the next one
        if [ "$(wc -l <"$T_TMP/probe.out")" -le "$probe_lines" ]; then
            sleep 0.01
            continue
        fi
        line=$(sed -n "$((probe_lines + 1))p" "$T_TMP/probe.out")
        probe_lines=$((probe_lines + 1))
        echo "$line"
        case $line in ok | timeout | done) return ;; esac
    done
}
deny_yaml() {
    printf 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n'
    printf 'metadata: {name: bench-deny}\nspec:\n  order: 1\n  selector: app == "server"\n'
    printf '  ingress:\n  - {action: Deny, protocol: TCP, destination: {ports: [8080]}}\n'
}
# rounds LABEL: ROUNDS rounds of apply → enforced on all three; prints the figures.
rounds() {
    local label=$1 r t0 n node ms all=() worst=() per tool=()
    declare -A per_node
    for ((r = 0; r < ROUNDS; r++)); do
        pn_ctl delete globalnetworkpolicy bench-deny >/dev/null 2>&1
        probe expect open >"$T_TMP/answer" # not in $(…): probe counts lines read
        if [ "$(cat "$T_TMP/answer")" != ok ]; then
            fail "enforcement_$label" "servers not reachable before round $r"
            return 1
        fi
        deny_yaml >"$T_TMP/deny.yaml"
        t0=$(now_ms)
        pn_ctl apply -f "$T_TMP/deny.yaml" >/dev/null
        tool+=($(($(now_ms) - t0)))
        probe watch closed "$t0" >"$T_TMP/answer"
        n=0
        while read -r addr ms; do
            [ "$addr" = done ] && break
            for node in 1 2 3; do
                [ "$addr" = "$(pn_ip default "s$node"):8080" ] && per_node[$node]+="$ms "
            done
            all+=("$ms")
            [ "$ms" = timeout ] || n=$((n + 1))
        done <"$T_TMP/answer"
        [ "$n" = 3 ] || { fail "enforcement_$label" "$(tr '\n' ' ' <"$T_TMP/answer")"; return 1; }
    done
    for node in 1 2 3; do
        per=$(tr ' ' '\n' <<<"${per_node[$node]}" | grep . | sort -n)
        printf '  n%s: median %4s ms, max %4s ms  (%s)\n' "$node" \
            "$(sed -n "$(((ROUNDS + 1) / 2))p" <<<"$per")" "$(tail -1 <<<"$per")" \
            "$(tr '\n' ' ' <<<"$per")"
    done
    echo "  (tabbyctl apply itself took: ${tool[*]} ms)"
    worst=$(printf '%s\n' "${all[@]}" | sort -n | tail -1)
    pass "enforcement_$label (worst of $ROUNDS rounds on 3 nodes: $worst ms)"
}
echo "apply → enforcement on 3 nodes, $ROUNDS rounds, cluster of 4 pods:"
rounds small

# ---- the load ---------------------------------------------------------------------------
# Endpoints labelled app=app-<i%50>, role=r-<i%20> in 10 namespaces; policy j lets role
# r-<j%20> reach app-<j%50> on one of 100 ports.
python3 "$BENCH/node_load.py" calico "$ENDPOINTS" "$POLICIES" "$LOCAL" >"$T_TMP/load.yaml"
# The local endpoints' host-side veths (their peers stay in the node: nobody sends).
for ((i = 0; i < LOCAL; i++)); do
    printf 'link add tbb%08x type veth peer name tbq%08x\nlink set tbb%08x up\n' "$i" "$i" "$i"
done | nl_in n1 ip -batch -
start=$(now_ms)
pn_ctl apply -f "$T_TMP/load.yaml" >/dev/null
applied=$(($(now_ms) - start))
# programmed NODE: the last policy programming covered every endpoint.
programmed() {
    grep 'policy programmed' "$T_TMP/tabby-node-$1.log" | tail -1 |
        grep -q "endpoints=$((ENDPOINTS + 4)) "
}
t_wait 120 programmed n1 && t_wait 60 programmed n2 && t_wait 60 programmed n3
loaded=$(($(now_ms) - start))
echo "load: $ENDPOINTS endpoints ($LOCAL on n1), $POLICIES policies;" \
    "tabbyctl apply ${applied} ms, programmed on all 3 nodes after ${loaded} ms"
echo "apply → enforcement on 3 nodes, $ROUNDS rounds, under the load:"
rounds loaded

# ---- node 1 restarted under the load: memory and idle CPU ---------------------------------
nl_stop n1
start=$(now_ms)
nl_start_all n1
ready=$(($(now_ms) - start))
pid=${PN_DAEMON[n1]}
rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
sleep 5 # settled: the freed memory of the first read given back
hwm=$(rss_kb "$pid" VmHWM)
rss=$(rss_kb "$pid" VmRSS)
anon=$(rss_kb "$pid" RssAnon)
t1=$(cpu_ticks "$pid")
sleep 10
t2=$(cpu_ticks "$pid")
hz=$(getconf CLK_TCK)
cpu=$(awk -v t="$((t2 - t1))" -v hz="$hz" 'BEGIN { printf "%.2f", 100 * t / hz / 10 }')
line=$(grep 'policy programmed' "$T_TMP/tabby-node-n1.log" | tail -1 | sed 's/.*programmed //')
echo "n1 restarted with the load: ready after ${ready} ms ($line)"
printf 'n1 resident memory: %d MB settled (%d MB anonymous), %d MB peak; goal <= 30 MB\n' \
    $((rss / 1024)) $((anon / 1024)) $((hwm / 1024))
echo "n1 idle CPU: ${cpu} % of one core over 10 s ($((t2 - t1)) ticks at $hz Hz)"
pass "memory_and_idle_cpu (${rss} kB settled, ${cpu} % CPU)"
t_end
