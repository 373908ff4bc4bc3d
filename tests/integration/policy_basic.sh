#!/usr/bin/env bash
# policy_basic.sh — tabby-node enforcing policy on real traffic: one node namespace with
# pods on veths (podnet.sh), policies applied through the datastore, TCP and UDP probes.
# Covers: no policy allows all; Kubernetes default deny; allow from a pod selector on one
# port; Calico Deny before Allow by order; egress deny; established connections survive
# a new policy; kill -9 and restart keeps the rules and programs only the difference; a
# table deleted by hand is repaired. Needs root; never touches the host's namespace.
set -u
. "$(dirname "$0")/lib.sh"
t_begin policy_basic
t_need_root policy_basic
. "$(dirname "$0")/podnet.sh"

if ! command -v socat >/dev/null; then
    skip policy_basic "socat is not installed"
    t_end
fi

pn_init
pn_node n1
pn_pod n1 default a 10.65.0.1 app=a
pn_pod n1 default b 10.65.0.2 app=b
pn_pod n1 default c 10.65.0.3 app=c
pn_pod n1 other d 10.65.1.1 app=d
for p in "default a" "default b" "default c" "other d"; do pn_serve $p 80 81 82; done

if ! pn_start_node n1; then
    fail start "tabby-node did not program: $(tail -5 "$T_TMP/tabby-node-n1.log")"
    t_end
fi
pass start

# ---- no policy: everything flows ----------------------------------------------------------
pn_expect no_policy_tcp allow default a default b 80 TCP
pn_expect no_policy_udp allow default a default b 81 UDP
pn_expect no_policy_cross_ns allow other d default c 80 TCP
pn_check

# ---- Kubernetes default deny ingress in default -------------------------------------------
pn_apply >/dev/null <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress]
YAML
pn_expect deny_same_ns deny default a default b 80 TCP
pn_expect deny_udp deny default a default b 81 UDP
pn_expect deny_from_other_ns deny other d default c 80 TCP
pn_expect other_ns_still_open allow default a other d 80 TCP
pn_check

# ---- allow from a pod selector, one port ---------------------------------------------------
pn_apply >/dev/null <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-a, namespace: default}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: a}}
    ports:
    - {protocol: TCP, port: 80}
YAML
pn_expect allow_selected_peer_port allow default a default b 80 TCP
pn_expect other_port_stays_closed deny default a default b 81 TCP
pn_expect other_protocol_stays_closed deny default a default b 80 UDP
pn_expect other_peer_stays_closed deny default c default b 80 TCP
pn_expect other_ns_peer_stays_closed deny other d default b 80 TCP
pn_check

# ---- Calico: Deny at order 100 before Allow at order 200 ------------------------------------
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-c, namespace: default}
spec:
  order: 200
  selector: app == 'c'
  ingress:
  - action: Allow
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-a-to-c, namespace: default}
spec:
  order: 100
  selector: app == 'c'
  ingress:
  - action: Deny
    source: {selector: app == 'a'}
YAML
pn_expect calico_deny_first deny default a default c 80 TCP
pn_expect calico_allow_after allow default b default c 80 TCP
pn_expect calico_allow_udp allow default b default c 81 UDP
pn_check
if ip netns exec "$(pn_node_netns n1)" nft list chain inet tabby pi-np/default/deny-a-to-c |
    grep -q 'counter packets [1-9].*comment "default/deny-a-to-c ingress 0"'; then
    pass counters_count_hits
else
    fail counters_count_hits "$(ip netns exec "$(pn_node_netns n1)" nft list chain inet tabby pi-np/default/deny-a-to-c)"
fi

# ---- egress deny ---------------------------------------------------------------------------
pn_apply >/dev/null <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: d-no-egress, namespace: other}
spec:
  podSelector: {matchLabels: {app: d}}
  policyTypes: [Egress]
YAML
pn_expect egress_denied deny other d default c 80 TCP
pn_expect ingress_to_egress_denied_pod allow default a other d 80 TCP
pn_check

# ---- an established connection survives a policy that denies new ones ---------------------
ip netns exec "$(pn_netns default a)" socat -u TCP-LISTEN:90,reuseaddr \
    OPEN:"$T_TMP/stream.out",creat,append 2>/dev/null &
PN_PIDS+=($!)
listening() { ip netns exec "$(pn_netns default a)" ss -Htln 'sport = :90' | grep -q .; }
t_wait 10 listening
# the default deny covers a: open it, start a stream, close it again
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-open, namespace: default}
spec:
  order: 1
  selector: app == 'a'
  ingress:
  - action: Allow
YAML
ip netns exec "$(pn_netns default b)" socat -u \
    SYSTEM:'while true; do echo tock; sleep 0.05; done' TCP:10.65.0.1:90 2>/dev/null &
PN_PIDS+=($!)
ticks() { local n; n=$(grep -c tock "$T_TMP/stream.out" 2>/dev/null); echo "${n:-0}"; }
more_than() { [ "$(ticks)" -gt "$1" ]; }
t_wait 10 more_than 0
pn_change delete networkpolicy a-open -n default >/dev/null
before=$(ticks)
if t_wait 10 more_than "$before"; then
    pass established_connection_survives
else
    fail established_connection_survives "stream stopped at $before lines"
fi
pn_expect new_connection_denied deny default b default a 80 TCP
pn_check

# ---- kill -9, restart: the rules stay, only the difference is programmed -------------------
pn_stop_node n1 KILL
pn_expect rules_stay_without_daemon deny default a default b 81 TCP
pn_check
pn_start_node n1
if grep 'policy programmed' "$T_TMP/tabby-node-n1.log" | tail -1 |
    grep -q ' messages=0 read_back=yes'; then
    pass restart_programs_nothing_when_nothing_changed
else
    fail restart_programs_nothing_when_nothing_changed "$(tail -1 "$T_TMP/tabby-node-n1.log")"
fi
pn_stop_node n1 KILL
pn_ctl delete knp b-from-a -n default >/dev/null
pn_start_node n1
line=$(grep 'policy programmed' "$T_TMP/tabby-node-n1.log" | tail -1)
messages=$(sed -n 's/.* messages=\([0-9]*\) .*/\1/p' <<<"$line")
if [ -n "$messages" ] && [ "$messages" -gt 0 ] && [ "$messages" -lt 12 ]; then
    pass restart_programs_only_the_change
else
    fail restart_programs_only_the_change "$line"
fi
pn_expect change_made_while_down_applies deny default a default b 80 TCP
pn_check

# ---- the table deleted by hand is repaired -------------------------------------------------
before=$(pn_programmed n1)
ip netns exec "$(pn_node_netns n1)" nft delete table inet tabby
if pn_wait_programmed n1 "$before" &&
    ip netns exec "$(pn_node_netns n1)" nft list chain inet tabby pi-knp/default/default-deny \
        >/dev/null 2>&1; then
    pass deleted_table_is_repaired
else
    fail deleted_table_is_repaired "$(tail -3 "$T_TMP/tabby-node-n1.log")"
fi
pn_expect repaired_table_enforces deny default a default b 80 TCP
pn_check

pn_stop_node n1 TERM
if ip netns exec "$(pn_node_netns n1)" nft list table inet tabby >/dev/null 2>&1; then
    pass stop_leaves_the_table
else
    fail stop_leaves_the_table "table gone after SIGTERM"
fi
t_end
