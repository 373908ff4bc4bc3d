#!/usr/bin/env bash
# node_bgp.sh — three nodes on one fabric in native BGP mode, each running BIRD and
# tabby-node: the nodes register themselves, tabby-node configures BIRD into a full mesh,
# and pods on different nodes reach each other over TCP and UDP through the routes BIRD
# learned. Policy holds across nodes: an ingress deny on node 2 for a pod of node 1, an
# egress deny on node 3 towards a pod of node 1. `tabbyctl node status` and the metrics
# show the established sessions. Once started, a node reads the datastore only to write:
# while pods come and go, policies change and a fourth node joins, node 1's metrics count
# no range read and no new watch, and no get (it writes nothing).
set -u
. "$(dirname "$0")/lib.sh"
t_begin node_bgp
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/node_lib.sh"
NL_BACKEND=bird
nl_init node_bgp bird

{
    printf 'apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\n'
    printf 'spec: {asNumber: 64512, nodeToNodeMeshEnabled: true}\n---\n'
    nl_pool default-pool 10.65.0.0/16
} | nl_apply
for i in 1 2 3; do
    nl_node "n$i" "10.0.0.$i/24"
    nl_bird "n$i"
done
nl_start_all n1 n2 n3
pass nodes_start_and_become_ready
# n1's reads so far: what it took to start
reads() {
    nl_http n1 /metrics | awk '/^tabby_datastore_(reads|writes)_total/ { print $1 "=" $2 }' |
        paste -sd ' '
}
reads_at_start=$(reads)
nl_pod n1 default a app=a
nl_pod n2 default b app=b
nl_pod n3 default c app=c

# Each node learns the other two nodes' blocks from BIRD (its own is a blackhole).
learned() { [ "$(nl_in "$1" ip route show proto bird | grep -c ' via 10\.0\.0\.')" -ge 2 ]; }
if t_wait 30 learned n1 && t_wait 30 learned n2 && t_wait 30 learned n3; then
    pass every_node_learns_the_other_blocks
else
    fail every_node_learns_the_other_blocks "n1: $(nl_in n1 ip route show proto bird | tr '\n' ';')"
fi
if pn_ctl get node n2 -o yaml | grep -q 'ipv4Address: 10.0.0.2/24'; then
    pass node_registers_its_autodetected_address
else
    fail node_registers_its_autodetected_address "$(pn_ctl get node n2 -o yaml)"
fi

nl_expect_mesh 80 TCP default/a default/b default/c
nl_expect_mesh 81 UDP default/a default/b default/c
pn_check

# ---- policy across nodes ------------------------------------------------------------------
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-not-from-a, namespace: default}
spec:
  selector: app == 'b'
  ingress:
  - action: Deny
    source: {selector: app == 'a'}
  - action: Allow
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: c-not-to-a}
spec:
  selector: app == 'c'
  egress:
  - action: Deny
    destination: {selector: app == 'a'}
  - action: Allow
YAML
pn_expect ingress_deny_on_n2_for_a_pod_of_n1 deny default a default b 80 TCP
pn_expect ingress_deny_holds_for_udp deny default a default b 81 UDP
pn_expect other_node_still_reaches_b allow default c default b 80 TCP
pn_expect egress_deny_on_n3_towards_n1 deny default c default a 80 TCP
pn_expect denied_pods_other_direction_open allow default a default c 80 TCP
pn_expect b_reaches_a allow default b default a 81 UDP
pn_check

# BIRD's sessions are read every 10 s: each node is read until its count comes.
peers_up() { nl_http "$1" /metrics | grep -q '^tabby_bgp_peers{state="established"} 2$'; }
if t_wait 30 peers_up n1 && t_wait 30 peers_up n3; then
    pass metrics_count_established_bgp_sessions
else
    fail metrics_count_established_bgp_sessions "$(nl_http n1 /metrics | grep bgp)"
fi
endpoints() {
    nl_http n2 /metrics >"$T_TMP/n2.metrics"
    grep -q '^tabby_endpoints{scope="total"} 3$' "$T_TMP/n2.metrics" &&
        grep -q '^tabby_endpoints{scope="local"} 1$' "$T_TMP/n2.metrics"
}
if t_wait 20 endpoints; then
    pass metrics_count_endpoints
else
    fail metrics_count_endpoints "$(grep endpoints "$T_TMP/n2.metrics")"
fi

# `tabbyctl node status` inside a node: tabby-node running, both mesh peers Established
# (read until they are: each end comes up on its own time).
mesh_up() {
    nl_status n2 >"$T_TMP/n2.status"
    grep -q 'tabby-node is running' "$T_TMP/n2.status" &&
        [ "$(grep -cE '^\| 10\.0\.0\.[13] +\| node-to-node mesh \| up +\|.*\| Established' \
            "$T_TMP/n2.status")" = 2 ]
}
if t_wait 20 mesh_up; then
    pass node_status_shows_established_mesh_peers
else
    fail node_status_shows_established_mesh_peers "$(tr '\n' ';' <"$T_TMP/n2.status")"
fi

# ---- reads ---------------------------------------------------------------------------------
# More churn: a pod comes and goes, so does a policy for it, a node joins (n1 peers with
# it).
nl_pod n2 default d app=d
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: d-closed}
spec: {selector: app == 'd', ingress: [{action: Deny}]}
YAML
nl_unpod n2 default d
pn_change delete globalnetworkpolicy d-closed >/dev/null
nl_node n4 10.0.0.4/24
nl_bird n4
nl_start_all n4
nl_pod n4 default e app=e
n1_peers_n4() { nl_status n1 | grep -qE '^\| 10\.0\.0\.4 +\| node-to-node mesh'; }
learned4() { [ "$(nl_in n1 ip route show proto bird | grep -c ' via 10\.0\.0\.')" -ge 3 ]; }
if t_wait 30 n1_peers_n4 && t_wait 30 learned4; then
    pass a_node_that_joins_is_peered_with
else
    fail a_node_that_joins_is_peered_with "$(nl_status n1 | tr '\n' ';')"
fi
if [ "$(reads)" = "$reads_at_start" ]; then
    pass "after_start_nothing_is_read_but_the_watch ($reads_at_start)"
else
    fail after_start_nothing_is_read_but_the_watch "at start: $reads_at_start; now: $(reads)"
fi

# BIRD holds the only copy of remote blocks: the route manager programs none of them.
if [ -z "$(nl_in n1 ip route show proto 80 | grep -v ' dev tb')" ]; then
    pass remote_blocks_have_one_owner
else
    fail remote_blocks_have_one_owner "$(nl_in n1 ip route show proto 80)"
fi
t_end
