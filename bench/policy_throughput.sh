#!/usr/bin/env bash
# policy_throughput.sh — what policy costs per packet: TCP throughput (iperf3) between two
# pods on one node namespace, with no table, with tabby's table for N endpoints x M
# policies (the two pods among them, allowed to talk), and with the same table dispatching
# through a linear chain of interface rules, one chain per pod (iptables style).
# Each is measured as programmed (established traffic accepted first, as tabby does) and
# again with that shortcut removed, which makes every packet walk the dispatch.
# And new TCP connections per second (bench/conn-rate: connect, accept, reset), the cost
# that matters most: only a connection's first packet meets policy. The table is the worst
# case (policy-sync --worst): a tier before the default one that the pods walk and pass,
# and their allowing policy is the last of theirs. The ratio to no table is the goal of
# issue 16 (>= 0.9). Mode "ctonly" is the floor any stateful table pays: a forward hook with
# only the established-accept rule, which turns conntrack on in the node's namespace (no
# table has none); the last line gives tabby's figures against it too.
# Run from the build folder, as root; makes and removes its own namespaces.
#
#   N=10000 M=1000 SECONDS_PER_RUN=3 RUNS=3 bash ../bench/policy_throughput.sh
#   MODES="empty tabby" ...          only some tables (the linear ones are slow)
#   OTHER=path/to/policy-sync ...    also "other": the table another build emits (A/B of
#                                    two layouts, measured in the same rounds)
#   TABLES="name=file.nft ..." ...   also these tables, as given (experiments on a layout)
#   CONNS_ONLY=1 ...                 new connections only (no iperf3)
#   PERF=DIR ...                     record each mode's conn-rate runs with perf (cpu-clock,
#                                    whole machine) into DIR/MODE.data
#   COSTS=1 ...                      also "tabby-raw" (tabby's table with doNotTrack's raw
#                                    hooks, as a node with a doNotTrack policy has them) and
#                                    "tabby-nospoof" (without the anti-spoofing rules ahead of
#                                    the established accept: a bench-only table to price
#                                    them, never one tabby emits), and UDP packets/s
#   PPS=1 ...                        also packets/s of an established UDP flow of 64-byte
#                                    datagrams (iperf3 -u -b 0), the per-packet cost
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
ip netns exec "$(pn_netns default b)" ./bench/conn-rate --serve 9000 &
PN_PIDS+=($!)
sleep 0.5
PODS="--pod $(pn_ifname default a),10.70.0.1 --pod $(pn_ifname default b),10.70.0.2"

RUNS=${RUNS:-3}

# One iperf3 run, Gbit/s.
gbits() {
    ip netns exec "$(pn_netns default a)" iperf3 -c 10.70.0.2 -t "$SECONDS_PER_RUN" -f g \
        2>/dev/null | awk '/receiver/ { print $(NF-2) }'
}

# One UDP run of 64-byte datagrams, as fast as the client sends (an established flow:
# iperf3's server answers first): "packets/s received  client CPU ns per packet sent".
pps() {
    ip netns exec "$(pn_netns default a)" iperf3 -c 10.70.0.2 -u -b 0 -l 64 \
        -t "$SECONDS_PER_RUN" -J 2>/dev/null | python3 -c '
import json, sys
e = json.load(sys.stdin)["end"]
s = e["sum"]
cpu = e["cpu_utilization_percent"]["host_total"]
print("%d %.0f" % ((s["packets"] - s["lost_packets"]) / s["seconds"],
                   cpu / 100 * s["seconds"] * 1e9 / max(s["packets"], 1)))'
}

# One conn-rate run, connections per second.
conns() {
    ip netns exec "$(pn_netns default a)" ./bench/conn-rate --connect 10.70.0.2 9000 \
        "$SECONDS_PER_RUN"
}

# One conn-rate run of a mode, under perf when asked (the first round only).
conns_of() {
    if [ -n "${PERF:-}" ] && [ ! -e "$PERF/$1.data" ]; then
        perf record -q -e cpu-clock -a -g -o "$PERF/$1.data" -- \
            ip netns exec "$(pn_netns default a)" ./bench/conn-rate --connect 10.70.0.2 9000 \
            "$SECONDS_PER_RUN" 2>/dev/null
    else
        conns
    fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# The table with its dispatch turned into iptables style: the dispatch chains test the
# interface rule by rule, and each interface has its own chain running its policies in
# turn (what the interface sets and the pages say), then the default deny.
linearize() {
    python3 -c '
import re, sys
text = sys.stdin.read().splitlines()
sets, chains, order, cur = {}, {}, [], None
for line in text:
    m = re.match(r"\tset (wl-\S+) \{.*elements = \{ (.*) \}; \}", line)
    if m:
        sets[m.group(1)] = re.findall(r"\"([^\"]+)\"", m.group(2))
    m = re.match(r"\tchain (\S+) \{", line)
    if m:
        cur = m.group(1); chains[cur] = []; order.append(cur); continue
    if cur and line == "\t}":
        cur = None; continue
    if cur:
        chains[cur].append(line.strip())

def policies(chain, kw):
    """(interface set, policy chain) pairs a dispatch chain runs, pages followed."""
    out = []
    for rule in chains[chain]:
        m = re.search(r"jump (\S+)$", rule)
        if not m:
            continue
        target = m.group(1)
        s = re.search(kw + r" @(\S+)", rule)
        if target in chains and target.startswith(chain.split("-wl")[0] + "-wl-"):
            out += policies(target, kw)  # a page
        elif s:
            out.append((s.group(1), target))
    return out

extra, body = [], {}
for d, kw in (("to-wl", "oifname"), ("from-wl", "iifname")):
    runs = policies(d, kw)
    ifaces = sorted({i for s, _ in runs for i in sets.get(s, [])})
    lines = ["meta mark set mark & 0xfffcffff"]
    for n, ifname in enumerate(ifaces):
        name = "lin-%s-%d" % (d, n)
        lines.append("%s \"%s\" goto %s" % (kw, ifname, name))
        extra.append((name, ["meta mark & 0x00030000 == 0 jump " + t for s, t in runs
                             if ifname in sets.get(s, [])] +
                            ["meta mark & 0x00030000 == 0 counter drop"]))
    body[d] = lines
for line in text:
    if line == "}":
        for name, rules in extra:
            print("\tchain %s {" % name)
            for r in rules:
                print("\t\t" + r)
            print("\t}")
        print(line)
        continue
    m = re.match(r"\tchain (\S+) \{", line)
    if m and m.group(1) in body:
        print(line)
        for r in body[m.group(1)]:
            print("\t\t" + r)
        cur = m.group(1)
        continue
    if cur in body:
        if line == "\t}":
            print(line); cur = None
        continue
    print(line)
' 
}

no_shortcut() { grep -v 'ct state established,related accept'; }

# The table as a node with a doNotTrack policy has it: the raw hooks (calc_untracked.c)
# before the table's end, their dispatch empty (no endpoint here).
with_raw() {
    awk '$0 == "}" {
        print "\tchain raw-prerouting-hook {"
        print "\t\ttype filter hook prerouting priority -300; policy accept;"
        print "\t\tmeta mark set mark & 0xfff8ffff"
        print "\t\tiifname @local-wl return"
        print "\t\tjump host-raw-in"
        print "\t}"
        print "\tchain raw-output-hook {"
        print "\t\ttype filter hook output priority -300; policy accept;"
        print "\t\tmeta mark set mark & 0xfff8ffff"
        print "\t\tjump host-raw-out"
        print "\t}"
        print "\tchain host-raw-in {\n\t}"
        print "\tchain host-raw-out {\n\t}"
    } { print }'
}

# Bench only: the hooks without anti-spoofing's rules ahead of the established accept
# (the jump to from-wl-src, forward's drop of what goes to a held endpoint).
no_spoof() { grep -v -e 'iifname @local-wl jump from-wl-src$' -e 'oifname @from-wl-src-held'; }

load() {
    ip netns exec "$NODE" nft delete table inet tabby 2>/dev/null
    ip netns exec "$NODE" nft -f "$1"
}

# shellcheck disable=SC2086
./bench/policy-sync --emit --worst -n "$N" -m "$M" $PODS >"$T_TMP/tabby.nft"
linearize <"$T_TMP/tabby.nft" >"$T_TMP/linear.nft"
no_shortcut <"$T_TMP/tabby.nft" >"$T_TMP/tabby-noct.nft"
no_shortcut <"$T_TMP/linear.nft" >"$T_TMP/linear-noct.nft"

cat >"$T_TMP/ctonly.nft" <<'EOF'
table inet tabby {
	chain forward-hook {
		type filter hook forward priority 0; policy accept;
		ct state established,related accept
	}
}
EOF

MODES=${MODES:-empty ctonly tabby linear tabby-noct linear-noct}
if [ -n "${COSTS:-}" ]; then
    with_raw <"$T_TMP/tabby.nft" >"$T_TMP/tabby-raw.nft"
    no_spoof <"$T_TMP/tabby.nft" >"$T_TMP/tabby-nospoof.nft"
    MODES="$MODES tabby-raw tabby-nospoof"
    PPS=1
fi
if [ -n "${OTHER:-}" ]; then
    # shellcheck disable=SC2086
    "$OTHER" --emit --worst -n "$N" -m "$M" $PODS >"$T_TMP/other.nft"
    no_shortcut <"$T_TMP/other.nft" >"$T_TMP/other-noct.nft"
    MODES="$MODES other other-noct"
fi
for t in ${TABLES:-}; do
    cp "${t#*=}" "$T_TMP/${t%%=*}.nft"
    MODES="$MODES ${t%%=*}"
done
[ -n "${CONNS_ONLY:-}" ] && MODES=$(echo "$MODES" | tr ' ' '\n' | grep -v noct | tr '\n' ' ')
gbits >/dev/null # warm up
# Rounds through every mode, so that the machine's drift hits them all alike.
for r in $(seq "$RUNS"); do
    for mode in $MODES; do
        if [ "$mode" = empty ]; then
            ip netns exec "$NODE" nft delete table inet tabby 2>/dev/null
        else
            load "$T_TMP/$mode.nft"
        fi
        [ -n "${CONNS_ONLY:-}" ] || gbits >>"$T_TMP/$mode.gbits"
        [ -z "${PPS:-}" ] || case $mode in *noct) ;; *) pps >>"$T_TMP/$mode.pps" ;; esac
        case $mode in
        *noct) ;;
        *) conns_of "$mode" | tee -a "$T_TMP/$mode.conns-cpu" | cut -d' ' -f1 \
               >>"$T_TMP/$mode.conns" ;;
        esac
    done
done
ip netns exec "$NODE" nft delete table inet tabby 2>/dev/null
[ -n "${CONNS_ONLY:-}" ] || {
empty=$(median <"$T_TMP/empty.gbits")
printf 'policy-throughput: N=%d endpoints x M=%d policies, median of %d runs of %ss (Gbit/s, ratio to no table)\n' \
    "$N" "$M" "$RUNS" "$SECONDS_PER_RUN"
for mode in $MODES; do
    g=$(median <"$T_TMP/$mode.gbits")
    case $mode in
    empty) label="no table" ;;
    tabby) label="tabby (interface sets)" ;;
    linear) label="linear chain" ;;
    tabby-noct) label="tabby, every packet dispatched" ;;
    linear-noct) label="linear chain, every packet dispatched" ;;
    other) label="other build" ;;
    other-noct) label="other build, every packet dispatched" ;;
    ctonly) label="conntrack only (the floor)" ;;
    tabby-raw) label="tabby with doNotTrack's raw hooks" ;;
    tabby-nospoof) label="tabby without anti-spoofing (bench)" ;;
    *) label=$mode ;;
    esac
    printf '  %-38s %6s   %s%s\n' "$label" "$g" \
        "$(awk -v g="$g" -v e="$empty" 'BEGIN { printf "%.2f", g / e }')" \
        "$([ "$mode" = tabby ] && echo '   (goal >= 0.9)')"
done
}
# The client's CPU time per connection (its connect() carries the SYN through the node):
# the ratio empty/mode is the connection rate of an otherwise idle CPU, steadier than
# the rate itself on a busy machine.
cpu_of() { cut -d' ' -f2 <"$T_TMP/$1.conns-cpu"; }
range() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo ".." hi }'; }
printf 'policy-throughput: new TCP connections (conn-rate), median of %d runs of %ss (range):\n' \
    "$RUNS" "$SECONDS_PER_RUN"
printf '  %-24s %8s %6s %16s   %10s %6s   %s\n' "" "conn/s" "ratio" "" "CPU us/conn" "ratio" ""
for mode in $MODES; do
    [ -f "$T_TMP/$mode.conns" ] || continue
    c=$(median <"$T_TMP/$mode.conns")
    u=$(cpu_of "$mode" | median)
    printf '  %-24s %8s %6s %16s   %10s %6s   %s%s\n' "$mode" "$c" \
        "$(awk -v c="$c" -v e="$(median <"$T_TMP/empty.conns")" 'BEGIN { printf "%.2f", c / e }')" \
        "($(range <"$T_TMP/$mode.conns"))" "$u" \
        "$(awk -v u="$u" -v e="$(cpu_of empty | median)" 'BEGIN { printf "%.2f", e / u }')" \
        "($(cpu_of "$mode" | range))" "$([ "$mode" = tabby ] && echo '   (goal >= 0.9)')"
done
if [ -n "${PPS:-}" ]; then
    printf 'policy-throughput: established UDP, 64-byte datagrams, median of %d runs of %ss (range):\n' \
        "$RUNS" "$SECONDS_PER_RUN"
    printf '  %-24s %9s %22s   %14s %18s\n' "" "packets/s" "" "client ns/pkt" ""
    for mode in $MODES; do
        [ -f "$T_TMP/$mode.pps" ] || continue
        printf '  %-24s %9s %22s   %14s %18s\n' "$mode" \
            "$(cut -d' ' -f1 <"$T_TMP/$mode.pps" | median)" \
            "($(cut -d' ' -f1 <"$T_TMP/$mode.pps" | range))" \
            "$(cut -d' ' -f2 <"$T_TMP/$mode.pps" | median)" \
            "($(cut -d' ' -f2 <"$T_TMP/$mode.pps" | range))"
    done
fi
if [ -f "$T_TMP/ctonly.conns" ] && [ -f "$T_TMP/tabby.conns" ]; then
    printf '  tabby against conntrack only: conn/s %s, CPU %s\n' \
        "$(awk -v c="$(median <"$T_TMP/tabby.conns")" -v e="$(median <"$T_TMP/ctonly.conns")" \
            'BEGIN { printf "%.2f", c / e }')" \
        "$(awk -v u="$(cpu_of tabby | median)" -v e="$(cpu_of ctonly | median)" \
            'BEGIN { printf "%.2f", e / u }')"
fi
exit 0
