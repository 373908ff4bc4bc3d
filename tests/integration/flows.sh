#!/usr/bin/env bash
# flows.sh — denied flows: tabby-node reads the NFLOG group its deny rules log to and
# `tabbyctl flows` names the policy, direction and rule that dropped each flow (a rule's
# Deny, and the default deny when no policy allowed it); /metrics counts denied packets
# per policy; a flood of denied packets is logged at the rule's limited rate, still
# dropped, and costs tabby-node bounded CPU and memory. Needs root; namespaces only.
set -u
. "$(dirname "$0")/lib.sh"
t_begin flows
t_need_root flows
. "$(dirname "$0")/podnet.sh"

if ! command -v socat >/dev/null || ! command -v python3 >/dev/null; then
    skip flows "socat or python3 is not installed"
    t_end
fi

pn_init
pn_node n1
pn_pod n1 default a 10.65.0.1 app=a
pn_pod n1 default b 10.65.0.2 app=b
pn_serve default b 80 81
NODE_NS=$(pn_node_netns n1)

if ! TABBY_HEALTH_PORT=9099 pn_start_node n1; then
    fail start "tabby-node did not program: $(tail -5 "$T_TMP/tabby-node-n1.log")"
    t_end
fi
pass start
ctl_flows() { ip netns exec "$NODE_NS" "$TABBYCTL" flows "$@"; }
if ! t_wait 10 grep -q 'recording denied flows' "$T_TMP/tabby-node-n1.log"; then
    skip flows "tabby-node cannot read NFLOG here: $(grep flows "$T_TMP/tabby-node-n1.log")"
    t_end
fi

pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-web-only, namespace: default}
spec:
  selector: app == 'b'
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [80]}
  - action: Deny
    protocol: TCP
    destination: {ports: [81]}
YAML
pn_expect web_allowed allow default a default b 80 TCP
pn_expect rule_denies deny default a default b 81 TCP
pn_expect default_denies deny default a default b 81 UDP
pn_check

# TCP 81 met rule 1 (Deny); UDP 81 no rule: the default deny.
shows() { ctl_flows --node n1 --denied >"$T_TMP/flows.out" 2>&1 && grep -Eq "$1" "$T_TMP/flows.out"; }
if t_wait 10 shows '10\.65\.0\.1 +10\.65\.0\.2 +TCP +81 +[0-9]+ +ingress +default +1 +default/b-web-only$'; then
    pass flows_name_policy_and_rule
else
    fail flows_name_policy_and_rule "$(cat "$T_TMP/flows.out")"
fi
if t_wait 10 shows '10\.65\.0\.1 +10\.65\.0\.2 +UDP +81 +[0-9]+ +ingress +default +- +tier default: default deny$'; then
    pass flows_name_the_default_deny
else
    fail flows_name_the_default_deny "$(cat "$T_TMP/flows.out")"
fi
sed 's/^/    /' "$T_TMP/flows.out"
if grep -q ' 80 ' "$T_TMP/flows.out"; then
    fail allowed_flows_not_logged "$(cat "$T_TMP/flows.out")"
else
    pass allowed_flows_not_logged
fi
ctl_flows --node n1 -o json >"$T_TMP/flows.json"
if python3 - "$T_TMP/flows.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["node"] == "n1" and d["recording"], d
assert any(f["policy"] == "default/b-web-only" and f["rule"] == 1 and f["dport"] == 81
           and f["tier"] == "default"
           and f["proto"] == "TCP" and f["direction"] == "ingress" and f["verdict"] == "deny"
           for f in d["flows"]), d["flows"]
PY
then pass flows_json; else fail flows_json "$(cat "$T_TMP/flows.json")"; fi
if ctl_flows --node n2 >"$T_TMP/wrong.out" 2>&1; then
    fail flows_wrong_node_refused "exit 0"
elif grep -q 'is node "n1", not "n2"' "$T_TMP/wrong.out"; then
    pass flows_wrong_node_refused
else
    fail flows_wrong_node_refused "$(cat "$T_TMP/wrong.out")"
fi
metric() { ip netns exec "$NODE_NS" curl -s -m 2 http://127.0.0.1:9099/metrics |
    sed -n "s/^tabby_denied_packets_total{policy=\"$1\"} //p"; }
n=$(metric 'default\/b-web-only')
if [ "${n:-0}" -ge 1 ]; then pass metrics_count_denied_per_policy
else fail metrics_count_denied_per_policy "tabby_denied_packets_total{policy=\"default/b-web-only\"}: '${n:-}'"; fi

# ---- another tier: its Deny names it ------------------------------------------------------
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.no-82}
spec:
  tier: security
  selector: app == 'b'
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination: {ports: [82]}
  - action: Pass
YAML
pn_expect tier_denies deny default a default b 82 TCP
pn_expect tier_passes allow default a default b 80 TCP
pn_check
if t_wait 10 shows 'TCP +82 +[0-9]+ +ingress +security +0 +security\.no-82$'; then
    pass flows_name_the_tier
else
    fail flows_name_the_tier "$(cat "$T_TMP/flows.out")"
fi

# ---- --follow prints each flow once its interval closes -----------------------------------
ctl_flows --node n1 --follow >"$T_TMP/follow.out" 2>&1 &
FOLLOW=$!
PN_PIDS+=($FOLLOW)
t_wait 5 grep -q '^START' "$T_TMP/follow.out"
pn_probe default a default b 81 TCP
if t_wait 15 grep -Eq 'TCP +81 .*default/b-web-only$' "$T_TMP/follow.out"; then
    pass follow_prints_new_flows
else
    fail follow_prints_new_flows "$(cat "$T_TMP/follow.out")"
fi
kill "$FOLLOW" 2>/dev/null

# ---- a flood: logged at a bounded rate, all dropped, tabby-node's cost bounded --------------
pid=${PN_DAEMON[n1]}
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
drops() { ip netns exec "$NODE_NS" nft list chain inet tabby pi-np/default/b-web-only |
    sed -n 's/.*counter packets \([0-9]*\) .*drop comment "default\/b-web-only ingress 1".*/\1/p'; }
logged() { ip netns exec "$NODE_NS" curl -s -m 2 http://127.0.0.1:9099/flows |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["packets"])'; }
SECS=5
cpu0=$(cpu) rss0=$(rss) drops0=$(drops) logged0=$(logged) t0=$(now_ms)
sent=$(ip netns exec "$(pn_netns default a)" python3 - "$SECS" <<'PY'
import socket, struct, sys, time
# TCP SYNs to the denied port from 64 source ports, with a good checksum (conntrack would
# call a bad one invalid, and the invalid rule would drop it before policy)
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
def syn(sport):
    h = struct.pack("!HHIIBBHHH", sport, 81, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = socket.inet_aton("10.65.0.1") + socket.inet_aton("10.65.0.2") + struct.pack("!BBH", 0, 6, len(h))
    return h[:16] + struct.pack("!H", csum(pseudo + h)) + h[18:]
pkts = [syn(p) for p in range(30000, 30064)]
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
end = time.time() + float(sys.argv[1])
n = 0
while time.time() < end:
    for p in pkts:
        raw.sendto(p, ("10.65.0.2", 0))
    n += len(pkts)
print(n)
PY
)
t1=$(now_ms)
t_wait 5 test "$(logged)" -gt "$logged0"
cpu1=$(cpu) rss1=$(rss) drops1=$(drops) logged1=$(logged)
el=$(( (t1 - t0) ))
ticks=$(getconf CLK_TCK)
cpu_ms=$(( (cpu1 - cpu0) * 1000 / ticks ))
dropped=$(( ${drops1:-0} - ${drops0:-0} ))
nlogged=$(( logged1 - logged0 ))
bound=$(( (50 * el / 1000) + 100 + 50 ))
echo "flood: sent=$sent dropped=$dropped logged=$nlogged (bound $bound) in ${el} ms; tabby-node cpu ${cpu_ms} ms, rss ${rss0} -> ${rss1} kB"
if [ "$dropped" -ge "$sent" ] && [ "$sent" -gt 1000 ]; then pass flood_all_dropped
else fail flood_all_dropped "sent $sent, dropped $dropped"; fi
if [ "$nlogged" -le "$bound" ] && [ "$nlogged" -ge 1 ]; then pass flood_logged_at_bounded_rate
else fail flood_logged_at_bounded_rate "logged $nlogged, bound $bound"; fi
if [ "$cpu_ms" -le $(( el / 10 )) ]; then pass flood_cpu_bounded
else fail flood_cpu_bounded "tabby-node used $cpu_ms ms of CPU in $el ms"; fi
if [ $(( rss1 - rss0 )) -le 4096 ]; then pass flood_memory_bounded
else fail flood_memory_bounded "rss $rss0 -> $rss1 kB"; fi

# ---- the group taken by someone else: the node works on, says it records nothing ----------
pn_stop_node n1
ip netns exec "$NODE_NS" python3 - 2>&1 >"$T_TMP/holder.out" <<'PY' &
import socket, struct, time
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.bind((0, 0))
# NFULNL_MSG_CONFIG of NFNL_SUBSYS_ULOG: NFULA_CFG_CMD bind, group 7001
body = struct.pack("=BBH", 0, 0, socket.htons(7001)) + struct.pack("=HHB3x", 5, 1, 1)
s.send(struct.pack("=IHHII", 16 + len(body), (4 << 8) | 1, 1 | 4, 1, 0) + body)
s.recv(4096)
print("bound", flush=True)
time.sleep(600)
PY
PN_PIDS+=($!)
t_wait 10 grep -q bound "$T_TMP/holder.out"
if ! TABBY_HEALTH_PORT=9099 pn_start_node n1; then
    fail restart_without_nflog "tabby-node did not program: $(tail -5 "$T_TMP/tabby-node-n1.log")"
    t_end
fi
pn_expect still_denies_without_nflog deny default a default b 81 TCP
pn_expect still_allows_without_nflog allow default a default b 80 TCP
pn_check
ctl_flows --node n1 >"$T_TMP/nolog.out" 2>&1
if grep -q 'records no flows: cannot read NFLOG group 7001' "$T_TMP/nolog.out" &&
    ip netns exec "$NODE_NS" curl -s -m 2 http://127.0.0.1:9099/metrics |
        grep -q '^tabby_denied_flows_recording 0$' &&
    ip netns exec "$NODE_NS" curl -s -m 2 http://127.0.0.1:9099/readiness | grep -qx ready; then
    pass without_nflog_says_so_and_stays_ready
else
    fail without_nflog_says_so_and_stays_ready "$(cat "$T_TMP/nolog.out"; ip netns exec "$NODE_NS" curl -s -m 2 http://127.0.0.1:9099/readiness)"
fi

t_end
