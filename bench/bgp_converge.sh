#!/usr/bin/env bash
# bgp_converge.sh — convergence: one node announces 1,000 blocks at once (one
# `tabbyctl bgp apply`); how long until all are kernel routes on the two other nodes of
# the mesh, and how long until all are gone again once withdrawn. Real BIRD in network
# namespaces (root); nothing is changed in the root namespace.
#
#   bench/bgp_converge.sh [BLOCKS]          (run from the build folder, or set T_BUILD)
set -u
T_BUILD=${T_BUILD:-$PWD}
. "$(dirname "$0")/../tests/integration/lib.sh"
t_begin bgp-converge
. "$(dirname "$0")/../tests/integration/bgp_lib.sh"
bgp_need bgp-converge bird ip
BLOCKS=${1:-1000}

bgp_mesh3 10.240.0.0/12
for i in 1 2 3; do bgp_apply "n$i"; done
t_wait 30 sessions_up n1 2 || { fail converge "the mesh did not come up"; t_end; }

args=()
for ((b = 0; b < BLOCKS; b++)); do
    a=$((b * 64)) # the b-th /26 of 10.240.0.0/12
    args+=(--block "10.$((240 + a / 65536)).$((a / 256 % 256)).$((a % 256))/26")
done
count() { in_ns "$1" ip route show proto bird | wc -l; }
both_at() { [ "$(count n2)" = "$1" ] && [ "$(count n3)" = "$1" ]; }
# Waits (polling every 10 ms) until n2 and n3 hold $1 BIRD routes; prints the ms taken.
time_until() {
    local start=$2
    until both_at "$1"; do
        [ $(($(now_ms) - start)) -gt 120000 ] && { echo timeout; return 1; }
        sleep 0.01
    done
    echo $(($(now_ms) - start))
}

start=$(now_ms)
bgp_apply n1 "${args[@]}"
applied=$(($(now_ms) - start))
announce=$(time_until "$BLOCKS" "$start")
start=$(now_ms)
bgp_apply n1
withdraw=$(time_until 0 "$start")

echo "$BLOCKS blocks announced by n1: render + apply ${applied} ms;" \
    "kernel routes on n2 and n3 after ${announce} ms"
echo "$BLOCKS blocks withdrawn by n1: routes gone from n2 and n3 after ${withdraw} ms"
if [ "$announce" != timeout ] && [ "$withdraw" != timeout ]; then
    pass "converge ($BLOCKS blocks: ${announce} ms announce, ${withdraw} ms withdraw)"
else
    fail converge "routes did not converge within 120 s"
fi
t_end
