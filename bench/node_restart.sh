#!/usr/bin/env bash
# node_restart.sh — tabby-node restarted with a large table already programmed in its
# namespace (root; everything in network namespaces of this run's prefix):
#   - two VXLAN nodes, a pod on each (so n1 holds a route to n2's block), then the load:
#     ENDPOINTS workload endpoints (LOCAL of them on n1, with their veths) and POLICIES
#     policies (bench/node_load.py), programmed by n1's daemon;
#   - RUNS times: n1's daemon stopped (SIGTERM) and started again while bench/nft-deletes
#     (nftables' notifications) and `ip monitor route` watch n1's namespace; the time from
#     the start to /readiness answering 200, and every delete of a table, chain, rule, set
#     or element, and every route deleted, from before the stop until ready. Goal (issue
#     18): ready within 5 s, nothing deleted.
#
#   bench/node_restart.sh [ENDPOINTS [POLICIES [LOCAL [RUNS]]]]   (from the build folder;
#                                                       default 10000 10000 100 3)
#   RESTART_PRIO=rt: the restarted daemon runs at real-time priority (chrt -f 50), an
#     idle machine's wall time on a shared one; =alt: runs alternate, odd ones at the
#     normal priority, even ones at real-time. RESTART_PERF=FILE: the last run's daemon
#     under `perf record --call-graph dwarf` into FILE (its CPU time still its own).
set -u
. "$(dirname "$0")/node_bench_lib.sh"
PN_WAIT=${PN_WAIT:-600}
nb_begin node-restart 10000 10000 100 "$@"
RUNS=${4:-3}
GOAL_MS=5000

for i in 1 2; do nl_node "n$i" "10.0.0.$i/24"; done
nl_start_all n1 n2
nl_pod n1 default a app=a
nl_pod n2 default b app=b

python3 "$BENCH/node_load.py" calico "$ENDPOINTS" "$POLICIES" "$LOCAL" >"$T_TMP/load.yaml"
for ((i = 0; i < LOCAL; i++)); do
    printf 'link add tbb%08x type veth peer name tbq%08x\nlink set tbb%08x up\n' "$i" "$i" "$i"
done | nl_in n1 ip -batch -
start=$(now_ms)
pn_ctl apply -f "$T_TMP/load.yaml" >/dev/null || { fail load "tabbyctl apply failed"; t_end; }
applied=$(($(now_ms) - start))
# programmed: n1's last programming covered every endpoint (the load's and the two pods)
programmed() {
    grep 'policy programmed' "$T_TMP/tabby-node-n1.log" | tail -1 |
        grep -q "endpoints=$((ENDPOINTS + 2)) "
}
if ! t_wait 900 programmed; then
    fail load "n1 never programmed the load: $(tail -2 "$T_TMP/tabby-node-n1.log")"
    t_end
fi
echo "load: $ENDPOINTS endpoints ($LOCAL on n1), $POLICIES policies; tabbyctl apply" \
    "${applied} ms, programmed on n1 after $(($(now_ms) - start)) ms"
echo "table: $(grep 'policy programmed' "$T_TMP/tabby-node-n1.log" | tail -1 |
    grep -o 'local=.* rules=[0-9]*'); routes: $(nl_in n1 ip route show | wc -l)"

# bench/nft-deletes counts nftables' delete and add notifications in n1 (nft monitor would
# first read the whole ruleset, minutes at this size on a busy machine, and miss what came
# meanwhile); `ip monitor route` writes to $T_TMP/route.mon and is known to listen once it
# has printed a scratch route of its own (a blackhole in table 99, left out of the count).
NFT_DELETES=${NFT_DELETES:-$T_BUILD/bench/nft-deletes}
MARK_N=0
route_seen() {
    MARK_N=$((MARK_N + 1))
    nl_in n1 ip route replace blackhole "198.51.100.$((MARK_N % 250 + 1))/32" table 99 2>/dev/null
    grep -q 'table 99' "$T_TMP/route.mon"
}
watch_start() {
    nl_bg n1 "$NFT_DELETES" >"$T_TMP/nft.mon" 2>&1
    MON_NFT=$!
    nl_bg n1 stdbuf -oL ip monitor route >"$T_TMP/route.mon" 2>&1
    MON_IP=$!
    t_wait 20 grep -q listening "$T_TMP/nft.mon" && t_wait 20 route_seen
}
# stops the monitors; nft-deletes prints its counts as it goes
watch_stop() {
    kill "$MON_NFT" "$MON_IP" 2>/dev/null
    wait "$MON_NFT" "$MON_IP" 2>/dev/null
    nl_in n1 ip route flush table 99 2>/dev/null
}
count() { grep -o "$1=[0-9]*" | head -1 | cut -d= -f2; }

# prio_of RUN: the priority run RUN starts at (normal or rt)
prio_of() {
    case ${RESTART_PRIO:-normal} in
    rt) echo rt ;;
    alt) if (($1 % 2)); then echo normal; else echo rt; fi ;;
    *) echo normal ;;
    esac
}
# wrap_node RUN: TABBY_NODE for run RUN, a script that execs the daemon (same pid: the
# pid file still names the daemon itself when perf is its parent)
wrap_node() {
    local w=$T_TMP/tabby-node-run$1 pre=""
    [ "$(prio_of "$1")" = rt ] && pre="chrt -f 50 "
    if [ -n "${RESTART_PERF:-}" ] && [ "$1" = "$RUNS" ]; then
        pre="${pre}perf record -q -F 499 --call-graph dwarf,16384 -o $RESTART_PERF -- "
    fi
    printf '#!/bin/sh\nexec %s%s "$@"\n' "$pre" "$TABBY_NODE" >"$w"
    chmod +x "$w"
    echo "$w"
}

times=()
rt_times=()
cpus=()
bad=0
for ((r = 1; r <= RUNS; r++)); do
    if ! watch_start; then
        fail "restart_$r" "nft-deletes or ip monitor did not start: $(head -c 300 "$T_TMP/nft.mon")" \
            "/ $(head -c 300 "$T_TMP/route.mon")"
        watch_stop
        continue
    fi
    nl_stop n1
    lines=$(wc -l <"$T_TMP/tabby-node-n1.log")
    start=$(now_ms)
    if ! NL_READY_S=120 TABBY_NODE=$(wrap_node "$r") nl_start n1; then
        fail "restart_$r" "not ready within 120 s: $(tail -2 "$T_TMP/tabby-node-n1.log")"
        watch_stop
        continue
    fi
    ms=$(($(now_ms) - start))
    # the daemon's CPU time until ready (user + system ticks): steadier than the wall
    # time on a shared machine
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' \
        "/proc/$(cat "$T_TMP/tabby-node-n1.pid")/stat")
    watch_stop
    prio=$(prio_of "$r")
    if [ "$prio" = rt ]; then rt_times+=("$ms"); else times+=("$ms"); fi
    cpus+=("$cpu")
    counts=$(grep '^deleted' "$T_TMP/nft.mon")
    gone=$(($(count tables <<<"$counts") + $(count chains <<<"$counts") +
        $(count rules <<<"$counts") + $(count sets <<<"$counts") +
        $(count element_messages <<<"$counts") + $(count lost <<<"$counts")))
    routes=$(grep '^Deleted' "$T_TMP/route.mon" | grep -vc 'table 99')
    line=$(grep 'policy programmed' "$T_TMP/tabby-node-n1.log" | tail -1 |
        grep -o 'read_back=[a-z]* ms=[0-9.]* kernel_ms=[0-9.]*')
    echo "restart $r ($prio priority): ready after $ms ms, CPU $cpu ms (goal $GOAL_MS: ratio $(awk -v a="$ms" \
        -v g="$GOAL_MS" 'BEGIN { printf "%.2f", a / g }')); nft deletes $gone, routes deleted $routes;" \
        "first programming: ${line:-?}"
    echo "  nft-deletes: ${counts:-no counts}"
    # where the time went: the daemon's own lines from its start until ready
    tail -n +"$((lines + 1))" "$T_TMP/tabby-node-n1.log" | grep -v 'route added' |
        cut -c12-23,24-200 | sed 's/^/    /' | head -"${LOG_LINES:-12}"
    if [ "$gone" != 0 ] || [ "$routes" != 0 ]; then
        bad=1
        grep '^Deleted' "$T_TMP/route.mon" | grep -v 'table 99' | head -5
    fi
done
[ ${#cpus[@]} -gt 0 ] || t_end
# range NAME VALUES...: "NAME: MIN-MAX ms over N runs", nothing without values
range() {
    local name=$1 sorted
    shift
    [ $# -gt 0 ] || return 0
    sorted=$(printf '%s\n' "$@" | sort -n)
    echo "$name: $(head -1 <<<"$sorted")-$(tail -1 <<<"$sorted") ms over $# runs"
}
range "ready after restart (wall, normal priority)" "${times[@]}"
range "ready after restart (wall, real-time priority)" "${rt_times[@]}"
range "CPU time until ready" "${cpus[@]}"
echo "(goal <= $GOAL_MS ms)"
if [ "$bad" = 0 ]; then
    pass "restart_keeps_everything (${#cpus[@]} runs: nothing deleted in nftables or the routes)"
else
    fail restart_keeps_everything "something was deleted during a restart (above)"
fi
t_end
