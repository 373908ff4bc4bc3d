#!/usr/bin/env bash
# policy_throughput.sh — what policy costs per packet: TCP throughput (iperf3) between two
# pods on one node namespace, with no table, with tabby's table for N endpoints x M
# policies (the two pods among them, allowed to talk), and with the same table dispatching
# through a linear chain of interface rules instead of the verdict maps (iptables style).
# Each is measured as programmed (established traffic accepted first, as tabby does) and
# again with that shortcut removed, which makes every packet walk the dispatch.
# Run from the build folder, as root; makes and removes its own namespaces.
#
#   N=10000 M=1000 SECONDS_PER_RUN=3 RUNS=3 bash ../bench/policy_throughput.sh
set -u
N=${N:-10000}
M=${M:-1000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
T_BUILD=${T_BUILD:-$PWD}
. "$(dirname "$0")/../tests/integration/lib.sh"
t_begin policy_throughput
t_need_root policy_throughput
. "$(dirname "$0")/../tests/integration/podnet.sh"
command -v iperf3 >/dev/null || { echo "policy-throughput: needs iperf3 (apt-get install iperf3)"; exit 77; }

pn_init
pn_node n1
pn_pod n1 default a 10.70.0.1 >/dev/null
pn_pod n1 default b 10.70.0.2 >/dev/null
NODE=$(pn_node_netns n1)
ip netns exec "$(pn_netns default b)" iperf3 -s >/dev/null 2>&1 &
PN_PIDS+=($!)
sleep 0.5
PODS="--pod $(pn_ifname default a),10.70.0.1 --pod $(pn_ifname default b),10.70.0.2"

RUNS=${RUNS:-3}

# One iperf3 run, Gbit/s.
gbits() {
    ip netns exec "$(pn_netns default a)" iperf3 -c 10.70.0.2 -t "$SECONDS_PER_RUN" -f g \
        2>/dev/null | awk '/receiver/ { print $(NF-2) }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# The table with its verdict-map dispatch turned into one rule per interface.
linearize() {
    awk '
    /^\tmap (from|to)-wl \{/ {
        kw = ($2 == "from-wl") ? "iifname" : "oifname"
        n = split($0, parts, "elements = \\{ ")
        if (n > 1) {
            body = parts[2]; sub(/ \};.*/, "", body)
            count[kw] = split(body, el, ", ")
            for (i = 1; i <= count[kw]; i++) {
                split(el[i], kv, " : jump ")
                name[kw, i] = kv[1]; target[kw, i] = kv[2]
            }
        }
        print "\tmap " $2 " { type ifname : verdict; }"
        next
    }
    /^\t\t(iifname|oifname) vmap @/ {
        for (i = 1; i <= count[$1]; i++) print "\t\t" $1 " " name[$1, i] " jump " target[$1, i]
        next
    }
    { print }'
}

no_shortcut() { grep -v 'ct state established,related accept'; }

load() {
    ip netns exec "$NODE" nft delete table inet tabby 2>/dev/null
    ip netns exec "$NODE" nft -f "$1"
}

# shellcheck disable=SC2086
./bench/policy-sync --emit -n "$N" -m "$M" $PODS >"$T_TMP/tabby.nft"
linearize <"$T_TMP/tabby.nft" >"$T_TMP/linear.nft"
no_shortcut <"$T_TMP/tabby.nft" >"$T_TMP/tabby-noct.nft"
no_shortcut <"$T_TMP/linear.nft" >"$T_TMP/linear-noct.nft"

MODES="empty tabby linear tabby-noct linear-noct"
gbits >/dev/null # warm up
# Rounds through every mode, so that the machine's drift hits them all alike.
for r in $(seq "$RUNS"); do
    for mode in $MODES; do
        if [ "$mode" = empty ]; then
            ip netns exec "$NODE" nft delete table inet tabby 2>/dev/null
        else
            load "$T_TMP/$mode.nft"
        fi
        gbits >>"$T_TMP/$mode.gbits"
    done
done
ip netns exec "$NODE" nft delete table inet tabby 2>/dev/null
empty=$(median <"$T_TMP/empty.gbits")
printf 'policy-throughput: N=%d endpoints x M=%d policies, median of %d runs of %ss (Gbit/s, ratio to no table)\n' \
    "$N" "$M" "$RUNS" "$SECONDS_PER_RUN"
for mode in $MODES; do
    g=$(median <"$T_TMP/$mode.gbits")
    case $mode in
    empty) label="no table" ;;
    tabby) label="tabby (verdict maps)" ;;
    linear) label="linear chain" ;;
    tabby-noct) label="tabby, every packet dispatched" ;;
    linear-noct) label="linear chain, every packet dispatched" ;;
    esac
    printf '  %-38s %6s   %s%s\n' "$label" "$g" \
        "$(awk -v g="$g" -v e="$empty" 'BEGIN { printf "%.2f", g / e }')" \
        "$([ "$mode" = tabby ] && echo '   (goal >= 0.9)')"
done
exit 0
