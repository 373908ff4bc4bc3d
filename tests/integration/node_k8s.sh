#!/usr/bin/env bash
# node_k8s.sh — tabby-node on the k8s: datastore does what calico-node does there at start,
# checked in the API (the server is the project's test double, see k8s_lib.sh): two VXLAN
# nodes whose Node objects exist (as kubelets register them), pods whose addresses come
# from tabby-ipam on Calico's IPAM custom resources.
#   - ClusterInformation "default" made once for the cluster (datastoreReady true, a
#     32-digit GUID, tabby's version, clusterType "k8s,bgp,kdd"), however the nodes race;
#     so is the default IPv6 pool (CALICO_IPV6POOL_CIDR; the IPv4 one exists);
#   - each Node's projectcalico.org annotations (address, VXLAN tunnel address from IPAM,
#     VTEP MAC; the IPIP tunnel address while an IPIP pool exists), and its
#     NetworkUnavailable condition False (reason TabbyIsUp) only once the node has
#     programmed, other conditions untouched;
#   - the nodename file the CNI plugin reads, and the pods reach each other;
#   - datastoreReady false (an upgrade under way): a node starting then is not ready and
#     says why, changes nothing it programmed, and is ready once it is true again; Calico's
#     version string and GUID are kept; a running node seeing it turn false (its watch)
#     holds what it programmed until it is true again, then programs what came meanwhile.
# Needs root; never touches the host's namespace.
set -u
. "$(dirname "$0")/lib.sh"
t_begin node_k8s
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/node_lib.sh"
. "$(dirname "$0")/k8s_lib.sh"
NL_BACKEND=vxlan
nl_init node_k8s python3
kl_cluster node_k8s
# Both nodes at once: they race to make ClusterInformation, and the default IPv6 pool
# (the cluster has its IPv4 pool already).
export CLUSTER_TYPE=k8s,bgp NO_DEFAULT_POOLS= CALICO_IPV6POOL_CIDR=fd00:10:68::/48
# n1's start runs in a subshell: its daemon is not this shell's child, and stays up to the
# end (n2 is the one restarted below).
NL_WAIT_READY=0 nl_start n1 --ip-autodetection-method=interface=eth0 &
starting=$!
NL_WAIT_READY=0 nl_start n2 --ip-autodetection-method=interface=eth0
wait "$starting"
PN_DAEMON[n1]=$(cat "$T_TMP/tabby-node-n1.pid")
for node in n1 n2; do
    if ! t_wait 30 nl_ready "$node"; then
        fail "start_$node" "$(nl_http "$node" /readiness) $(tail -3 "$T_TMP/tabby-node-$node.log")"
        t_end
    fi
done
pass nodes_ready

# made_once CASE GOT WANT LOGGED: GOT is WANT, and one node's log says LOGGED.
made_once() {
    local created
    created=$(cat "$T_TMP"/tabby-node-n*.log | grep -c "$4")
    if [ "$2" = "$3" ] && [ "$created" = 1 ]; then
        pass "$1"
    else
        fail "$1" "$2; made by $created nodes"
    fi
}

# ---- the default pool ----------------------------------------------------------------------
made_once default_ipv6_pool_made_once_where_only_ipv4_had_one \
    "$(kl_kubectl get ippools.crd.projectcalico.org -o json |
        jq -c '[.items[] | {name: .metadata.name, cidr: .spec.cidr}] | sort_by(.name)' 2>&1)" \
    '[{"name":"default-ipv6-ippool","cidr":"fd00:10:68::/48"},{"name":"default-pool","cidr":"10.68.0.0/16"}]' \
    'default pool created'
unset NO_DEFAULT_POOLS CALICO_IPV6POOL_CIDR

# ---- ClusterInformation --------------------------------------------------------------------
info() { kl_kubectl get clusterinformations.crd.projectcalico.org default -o json 2>&1; }
made_once cluster_information_made_once \
    "$(info | jq -c '.spec | {datastoreReady, clusterType, calicoVersion,
                               guid: (.clusterGUID | test("^[0-9a-f]{32}$"))}' 2>&1)" \
    '{"datastoreReady":true,"clusterType":"k8s,bgp,kdd","calicoVersion":"tabby-0.1.0","guid":true}' \
    'ClusterInformation created'
GUID=$(info | jq -r .spec.clusterGUID)

# ---- the Nodes ----------------------------------------------------------------------------------
node_json() { kl_kubectl get node "$1" -o json 2>&1; }
bad=
for i in 1 2; do
    json=$(node_json "n$i")
    jq -e --arg ip "10.0.0.$i/24" '.metadata.annotations as $a |
        $a["projectcalico.org/IPv4Address"] == $ip and
        ($a["projectcalico.org/IPv4VXLANTunnelAddr"] | startswith("10.68.")) and
        ($a["projectcalico.org/VXLANTunnelMACAddr"] | test("^([0-9a-f]{2}:){5}[0-9a-f]{2}$")) and
        .metadata.labels["kubernetes.io/hostname"] == "n\($ip[7:8])"' <<<"$json" >/dev/null 2>&1 ||
        bad+="n$i: $(jq -c .metadata <<<"$json"); "
done
if [ -z "$bad" ]; then pass node_annotations_as_calico_node_writes_them
else fail node_annotations_as_calico_node_writes_them "$bad"; fi

# The condition, after the node's first programming and registration (the log's order).
condition_ok() {
    node_json "$1" | jq -e '[.status.conditions[] | select(.type == "NetworkUnavailable")] |
        length == 1 and .[0].status == "False" and .[0].reason == "TabbyIsUp"' >/dev/null
}
line_of() { grep -n "$2" "$T_TMP/tabby-node-$1.log" | head -1 | cut -d: -f1; }
bad=
for node in n1 n2; do
    t_wait 30 condition_ok "$node" || bad+="$node: $(node_json "$node" | jq -c .status.conditions); "
    cond=$(line_of "$node" 'NetworkUnavailable condition set')
    prog=$(line_of "$node" 'policy programmed')
    reg=$(line_of "$node" 'node registered')
    [ -n "$cond" ] && [ -n "$prog" ] && [ -n "$reg" ] && [ "$cond" -gt "$prog" ] &&
        [ "$cond" -gt "$reg" ] || bad+="$node: logged at lines $cond (programmed $prog, registered $reg); "
done
if [ -z "$bad" ] && [ "$(nl_metric n1 tabby_node_network_available)" = 1 ]; then
    pass network_unavailable_false_once_programmed
else
    fail network_unavailable_false_once_programmed "$bad"
fi

bad=
for node in n1 n2; do
    [ "$(cat "$T_TMP/nodename-$node" 2>&1)" = "$node" ] || bad+="$node: $(cat "$T_TMP/nodename-$node" 2>&1); "
done
if [ -z "$bad" ]; then pass nodename_files; else fail nodename_files "$bad"; fi

nl_pod n1 default a app=a && nl_pod n2 default b app=b || fail pods "$(tail -3 "$T_TMP"/tabby-node-n1.log)"
pn_expect a_reaches_b allow default a default b 80 TCP
pn_expect b_reaches_a allow default b default a 81 UDP
pn_check

# ---- datastoreReady false ---------------------------------------------------------------------------
# As Calico's upgrade leaves it, with Calico's version: n2, started meanwhile, is not
# ready, says why and keeps what it programmed; it follows once the flag is true again.
kl_kubectl patch clusterinformations.crd.projectcalico.org default --type=merge \
    -p '{"spec":{"datastoreReady":false,"calicoVersion":"v3.30.2"}}' >/dev/null
nl_state n2 >"$T_TMP/n2.before"
nl_stop n2
NL_WAIT_READY=0 nl_start n2 --ip-autodetection-method=interface=eth0
says_not_ready() {
    nl_http n2 /readiness | grep -q '^503 .*ClusterInformation default: datastoreReady is false'
}
if t_wait 30 says_not_ready; then pass not_ready_while_datastore_not_ready
else fail not_ready_while_datastore_not_ready "$(nl_http n2 /readiness)"; fi
if nl_state n2 | diff "$T_TMP/n2.before" - >"$T_TMP/n2.diff"; then
    pass nothing_changed_while_datastore_not_ready
else
    fail nothing_changed_while_datastore_not_ready "$(head -5 "$T_TMP/n2.diff" | tr '\n' ' ')"
fi
kl_kubectl patch clusterinformations.crd.projectcalico.org default --type=merge \
    -p '{"spec":{"datastoreReady":true}}' >/dev/null
start=$(now_ms)
if t_wait 30 nl_ready n2; then
    pass ready_once_datastore_ready
    echo "# n2 ready $(( $(now_ms) - start )) ms after datastoreReady became true"
else
    fail ready_once_datastore_ready "$(nl_http n2 /readiness)"
fi
spec=$(info | jq -c '.spec | [.calicoVersion, .clusterGUID == "'"$GUID"'"]')
if [ "$spec" = '["v3.30.2",true]' ]; then pass calicos_version_and_guid_kept
else fail calicos_version_and_guid_kept "$spec"; fi

# ---- datastoreReady turning false under a running node ----------------------------------------
# As Felix stops when it turns false: n1, ready and programming, hears it through its watch
# (no restart, no polling), is not ready, and holds what it programmed while a policy for
# its pod a comes (it hears of it); once the flag is true again it programs it.
nl_state n1 >"$T_TMP/n1.before"
events=$(nl_metric n1 tabby_datastore_events_total)
kl_kubectl patch clusterinformations.crd.projectcalico.org default --type=merge \
    -p '{"spec":{"datastoreReady":false}}' >/dev/null
n1_says_not_ready() {
    nl_http n1 /readiness | grep -q '^503 .*ClusterInformation default: datastoreReady is false'
}
if t_wait 30 n1_says_not_ready; then pass not_ready_once_datastore_turns_not_ready
else fail not_ready_once_datastore_turns_not_ready "$(nl_http n1 /readiness)"; fi
cat <<'EOF' | nl_apply
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: "held-deny"}
spec: {selector: "app == 'a'", types: ["Ingress"], ingress: [{action: "Deny"}]}
EOF
heard() { [ "$(nl_metric n1 tabby_datastore_events_total)" -ge $((events + 2)) ]; }
t_wait 30 heard
if nl_state n1 | diff "$T_TMP/n1.before" - >"$T_TMP/n1.diff"; then
    pass held_what_it_programmed_while_datastore_not_ready
else
    fail held_what_it_programmed_while_datastore_not_ready "$(head -5 "$T_TMP/n1.diff" | tr '\n' ' ')"
fi
kl_kubectl patch clusterinformations.crd.projectcalico.org default --type=merge \
    -p '{"spec":{"datastoreReady":true}}' >/dev/null
programmed_held() { nl_ready n1 && nl_state n1 | grep -q 'held-deny'; }
if t_wait 30 programmed_held; then pass programs_once_datastore_ready_again
else fail programs_once_datastore_ready_again "$(nl_http n1 /readiness)"; fi
pn_ctl delete globalnetworkpolicy held-deny >/dev/null

# ---- the IPIP tunnel address ----------------------------------------------------------------
# As calico-node on KDD: from the IPIP pool's IPAM (handle ipip-tunnel-addr-<node>, type
# ipipTunnelAddress), in the Node's projectcalico.org/IPv4IPIPTunnelAddr annotation; gone
# with the last IPIP pool.
nl_pool ipip-pool 10.69.0.0/16 'ipipMode: Always' | nl_apply
ipip_ann() {
    node_json n1 | jq -r '.metadata.annotations["projectcalico.org/IPv4IPIPTunnelAddr"] // ""'
}
ipip_addr=
ipip_annotated() {
    ipip_addr=$(ipip_ann)
    [[ $ipip_addr == 10.69.* ]] &&
        pn_ctl ipam show --ip="$ipip_addr" | grep -q '^Handle: ipip-tunnel-addr-n1$' &&
        [ "$(ipip_attrs)" = '{"node":"n1","type":"ipipTunnelAddress"}' ]
}
# The allocation's attributes in Calico's IPAMBlock, as calico-node sets them.
ipip_attrs() {
    kl_kubectl get ipamblocks.crd.projectcalico.org -o json | jq -c '[.items[].spec.attributes[]
        | select(.handle_id == "ipip-tunnel-addr-n1")][0].secondary'
}
if t_wait 30 ipip_annotated; then
    pass ipip_tunnel_address_annotated_from_ipam
else
    fail ipip_tunnel_address_annotated_from_ipam \
        "$(node_json n1 | jq -c .metadata.annotations) $(ipip_attrs)"
fi
pn_ctl delete ippool ipip-pool >/dev/null
ipip_unannotated() {
    [ -z "$(ipip_ann)" ] && pn_ctl ipam show --ip="$ipip_addr" | grep -q 'not currently assigned'
}
if [ -n "$ipip_addr" ] && t_wait 30 ipip_unannotated; then
    pass ipip_annotation_and_address_go_with_the_last_ipip_pool
else
    fail ipip_annotation_and_address_go_with_the_last_ipip_pool \
        "$(node_json n1 | jq -c .metadata.annotations)"
fi
t_end
