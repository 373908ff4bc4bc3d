#!/usr/bin/env bash
# flows_throughput.sh — what denied-flow logging costs allowed traffic: one-way UDP from pod
# a to pod b on one node namespace, allowed by a policy whose Deny rules come first, so
# every allowed packet walks the deny rules and their logging twins (the packets are never
# answered: each stays ct state new and meets the policy, the worst case; an answered flow
# is accepted as established before any policy). Measured with tabby's table as programmed
# (log, then drop) and with the logging twins deleted (drop only), alternating, RUNS times
# each; prints the medians in packets/s and their ratio (goal >= 0.9).
# Run from the build folder, as root; makes and removes its own namespaces.
#
#   DENIES=10 SECONDS_PER_RUN=3 RUNS=3 bash ../bench/flows_throughput.sh
set -u
DENIES=${DENIES:-10}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
RUNS=${RUNS:-3}
T_BUILD=${T_BUILD:-$PWD}
. "$(dirname "$0")/../tests/integration/lib.sh"
t_begin flows_throughput
t_need_root flows_throughput
. "$(dirname "$0")/../tests/integration/podnet.sh"
command -v python3 >/dev/null || { echo "flows-throughput: needs python3"; exit 77; }

pn_init
pn_node n1
pn_pod n1 default a 10.71.0.1 app=a >/dev/null
pn_pod n1 default b 10.71.0.2 app=b >/dev/null
NODE=$(pn_node_netns n1)
B=$(pn_netns default b)
# b's sink: counts and drops before conntrack, so b never answers
ip netns exec "$B" nft -f - <<'NFT'
table inet sink {
    chain pre {
        type filter hook prerouting priority -400; policy accept;
        udp dport 5000 counter drop
    }
}
NFT

pn_start_node n1 || { echo "flows-throughput: tabby-node did not start"; exit 1; }
{
    printf 'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n'
    printf 'metadata: {name: b-udp, namespace: default}\n'
    printf "spec:\n  selector: app == 'b'\n  ingress:\n"
    for i in $(seq 1 "$DENIES"); do
        printf '  - action: Deny\n    protocol: TCP\n    destination: {ports: [%d]}\n' $((1000 + i))
    done
    printf '  - action: Allow\n    protocol: UDP\n    destination: {ports: [5000]}\n'
} | pn_apply >/dev/null
# fail-static: the table stays as programmed while the bench edits it
pn_stop_node n1

received() { ip netns exec "$B" nft list chain inet sink pre |
    sed -n 's/.*counter packets \([0-9]*\) .*/\1/p'; }
# One run: packets/s that reached b.
pps() {
    local r0 r1 t0 t1
    r0=$(received) t0=$(now_ms)
    ip netns exec "$(pn_netns default a)" python3 - "$SECONDS_PER_RUN" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for _ in range(256):
        s.sendto(b"x", ("10.71.0.2", 5000))
PY
    t1=$(now_ms) r1=$(received)
    echo $(( (r1 - r0) * 1000 / (t1 - t0) ))
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

CHAIN=pi-np/default/b-udp
twins() { ip netns exec "$NODE" nft -a list chain inet tabby "$CHAIN" |
    sed -n 's/.*log prefix "tby-deny:.*# handle \([0-9]*\)$/\1/p'; }
SAVED=$(ip netns exec "$NODE" nft list chain inet tabby "$CHAIN")
echo "flows-throughput: $DENIES Deny rules before the Allow; $(twins | wc -l) logging twins"
with=() without=()
for run in $(seq 1 "$RUNS"); do
    # with: the chain as tabby programs it
    ip netns exec "$NODE" nft -f - <<<"flush chain inet tabby $CHAIN
$(sed -n '/^\t\t/p' <<<"$SAVED" | sed "s|^\t*|add rule inet tabby $CHAIN |")"
    with+=("$(pps)")
    for h in $(twins); do ip netns exec "$NODE" nft delete rule inet tabby "$CHAIN" handle "$h"; done
    without+=("$(pps)")
done
w=$(printf '%s\n' "${with[@]}" | median)
wo=$(printf '%s\n' "${without[@]}" | median)
echo "flows-throughput: allowed UDP, packets/s (median of $RUNS x ${SECONDS_PER_RUN}s):"
echo "  with flow logging:    $w   (runs: ${with[*]})"
echo "  without flow logging: $wo   (runs: ${without[*]})"
awk -v w="$w" -v wo="$wo" 'BEGIN { printf "  ratio: %.3f (goal >= 0.9)\n", wo ? w / wo : 0 }'
t_end
