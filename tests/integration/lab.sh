#!/usr/bin/env bash
# lab.sh — the README's first command, as a test: examples/lab/lab builds a 3-node cluster
# in namespaces (BIRD and tabby-node on each node, pods through the tabby CNI plugin) in
# every mode it offers, and the test checks what a user would: pods on different nodes
# reach each other, the example policies block and allow what they say, natOutgoing
# shows the node's address to an outside host, and `lab down` leaves nothing behind.
# Modes: native BGP mesh, native with a top-of-rack router (FRR), VXLAN, VXLAN
# CrossSubnet, native on an etcd datastore, and on the Kubernetes API (the test double,
# tests/k8s/apiserver.py, in a namespace of the lab; native, and VXLAN for tunnel
# addresses from IPAM on custom resources): there pods are Pod objects, the example
# policies go in through tabbyctl as Kubernetes objects and a further one through kubectl,
# and the checks add what calico-node leaves in the API (the Nodes' annotations and
# NetworkUnavailable condition, ClusterInformation, the nodename files). And k8s_podman:
# the k8s mode with every node's tabby-node run by podman from the image, as the
# DaemonSet's pod of manifests/tabby.yaml (`lab up --runtime podman`; the pods wired by the
# plugin and conflist install-cni installed). LAB_MODES="k8s_podman …" runs only those
# modes. Needs root; never touches the host's namespace.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab_lib.sh"
t_begin lab
# A lab per mode, each with its own prefix and state folder, removed on exit.
lab_begin lab "tlt$$" bird socat

# The example policies allow TCP only: UDP to the default namespace's pods is blocked.
AFTER_POLICY_UDP="default/frontend default/api --
ops/monitor default/api --
default/backend default/database --
default/frontend ops/monitor ok
default/database ops/monitor ok"

# The packets counted by the nft rules that denied frontend -> database, as `lab explain
# --node n3` reads them (n3 runs the database).
denied_packets() {
    lab explain --node n3 default/frontend default/database 5432/TCP -o json 2>&1 | python3 -c '
import json, sys
t = json.load(sys.stdin)
print([s for s in t["steps"] if s["direction"] == "ingress"][0]["counter"]["packets"])'
}

# explain --node shows the kernel agree: the denying rule's counter grows with a probe.
explain_counter_checks() {
    local name=$1 before after
    before=$(denied_packets) || { fail "${name}_explain_counters" "$before"; return; }
    lab probe default/frontend default/database 5432/tcp >/dev/null 2>&1
    after=$(denied_packets)
    if [ "$after" -gt "$before" ] 2>/dev/null; then
        pass "${name}_explain_counters"
    else
        fail "${name}_explain_counters" "the denying rule counted $before, then $after packets"
    fi
}

# lab flows: n3's tabby-node names the default deny that dropped frontend -> database.
flows_checks() {
    local name=$1
    lab probe default/frontend default/database 5432/tcp >/dev/null 2>&1
    if t_wait 10 flows_name_the_deny; then
        pass "${name}_flows"
    else
        fail "${name}_flows" "$(lab flows n3 2>&1 | tail -5)"
    fi
}
flows_name_the_deny() {
    lab flows n3 -o json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert any(f.get("dport") == 5432 and "default deny" in f["policy"] for f in d["flows"])'
}

# nat_seen_as [ADDRESS]: the address the outside host saw frontend's connection come from
# (printed); true when it is ADDRESS.
nat_seen_as() {
    local seen
    seen=$(lab exec default/frontend socat -T1 - TCP:198.51.100.1:80 </dev/null 2>&1)
    echo "$seen"
    [ "$seen" = "${1:-}" ]
}

# LAB_MODES="k8s k8s_podman" runs only the modes named (all by default).
want_mode() { [ -z "${LAB_MODES:-}" ] || [[ " $LAB_MODES " == *" $1 "* ]]; }

# run_mode NAME UP_ARGS…: one lab through the whole story.
run_mode() {
    local name=$1 out
    shift
    want_mode "$name" || return 0
    CUR="$LAB_PREFIX$name"
    lab_up_with_pods "$name" "$@" || return
    PROTO=tcp expect_matrix "${name}_across_nodes" "$ALL_OPEN"
    PROTO=udp expect_matrix "${name}_across_nodes_udp" "$ALL_OPEN"
    out=$(lab ctl apply -f "$T_TOP/examples/default-deny.yaml" -f "$T_TOP/examples/db-access.yaml" \
        -f "$T_TOP/examples/api-allow.yaml" 2>&1) || fail "${name}_apply" "$out"
    PROTO=tcp expect_matrix "${name}_policy" "$AFTER_POLICY"
    PROTO=udp expect_matrix "${name}_policy_udp" "$AFTER_POLICY_UDP"
    PROTO=tcp explain_agrees "${name}_explain" "$AFTER_POLICY"
    PROTO=udp explain_agrees "${name}_explain_udp" "$AFTER_POLICY_UDP"
    [ "$name" = native ] && explain_counter_checks "$name"
    [ "$name" = native ] && flows_checks "$name"
    if t_wait 30 nat_seen_as 10.99.1.11; then
        pass "${name}_nat_outgoing"
    else
        fail "${name}_nat_outgoing" "outside host saw \"$(nat_seen_as)\", want 10.99.1.11"
    fi
    mode_checks "$name"
    [ "$name" = native ] && yaml_names_checks
    lab_down_check "${name}_down"
}

# What each mode must show besides connectivity. Routes follow the pods' blocks through
# BGP or the datastore: each check waits (up to 30 s) for its state, then asserts it.
n1_routes() { ip netns exec "$CUR-n1" ip route 2>/dev/null; }
tor_routes() { ip netns exec "$CUR-tor" ip route 2>/dev/null; }
bgp_routes_ok() { local r; r=$(n1_routes); grep -q 'proto bird' <<<"$r" && ! grep -q vxlan <<<"$r"; }
mesh_peers_up() { [ "$(lab status 2>&1 | grep -c 'node-to-node mesh | up')" = 6 ]; }
tor_blocks_ok() { [ "$(tor_routes | grep -c '^10\.244\.')" -ge 3 ]; }
vxlan_routes_ok() { [ "$(n1_routes | grep -c 'dev vxlan.tabby')" = 2 ]; }
# n2 shares n1's subnet (plain route), n3 sits behind the fabric router (VXLAN).
crosssubnet_routes_ok() {
    local r
    r=$(n1_routes)
    grep -q 'via 10.99.1.12 dev eth0' <<<"$r" && [ "$(grep -c 'dev vxlan.tabby' <<<"$r")" = 1 ]
}

mode_checks() {
    local name=$1
    case $name in
    native|etcd|k8s|k8s_podman)
        expect_state "${name}_bgp_routes" 30 bgp_routes_ok n1_routes
        # `lab up` returned only once every session was Established.
        if mesh_peers_up; then pass "${name}_status_peers"; else fail "${name}_status_peers" "$(lab status 2>&1)"; fi ;;
    tor) expect_state tor_learns_blocks 30 tor_blocks_ok tor_routes ;;
    vxlan|k8s_vxlan) expect_state "${name}_routes" 30 vxlan_routes_ok n1_routes ;;
    crosssubnet) expect_state crosssubnet_routes 30 crosssubnet_routes_ok n1_routes ;;
    esac
    case $name in k8s*) k8s_checks "$name" ;; esac
}

# On the Kubernetes API: what a Kubernetes user and calico-node's readers see there.
k8s_node_json() { lab kubectl get node "$1" -o json 2>&1; }
k8s_policies() { lab kubectl get networkpolicies -A -o name 2>&1 | sort | paste -sd' ' -; }
k8s_checks() {
    local name=$1 i json out want mon
    out=$(k8s_policies)
    want="networkpolicy.networking.k8s.io/api-allow networkpolicy.networking.k8s.io/db-access networkpolicy.networking.k8s.io/default-deny"
    if [ "$out" = "$want" ]; then pass "${name}_kubectl_sees_tabbyctls_policies"
    else fail "${name}_kubectl_sees_tabbyctls_policies" "$out"; fi
    # Every node: Calico's annotations, NetworkUnavailable False, the nodename file.
    out=
    for i in 1 2 3; do
        json=$(k8s_node_json "n$i")
        # the DaemonSet sets no AS: its nodes take the cluster's (BGPConfiguration)
        jq -e --arg ip "10.99.1.1$i/24" --arg asn "$([ "$name" = k8s_podman ] || echo 64512)" '
            .metadata.annotations["projectcalico.org/IPv4Address"] == $ip and
            (.metadata.annotations["projectcalico.org/ASNumber"] // "") == $asn and
            ([.status.conditions[] | select(.type == "NetworkUnavailable" and
              .status == "False" and .reason == "TabbyIsUp")] | length == 1)' \
            <<<"$json" >/dev/null 2>&1 || out+="n$i: $(jq -c '[.metadata.annotations,
                .status.conditions]' <<<"$json" 2>&1); "
        [ "$name" = k8s_podman ] || [ "$(cat "$T_TMP/labs/$CUR/n$i/nodename" 2>&1)" = "n$i" ] ||
            out+="n$i's nodename file: $(cat "$T_TMP/labs/$CUR/n$i/nodename" 2>&1); "
    done
    if [ -z "$out" ]; then pass "${name}_nodes_as_calico_node_leaves_them"
    else fail "${name}_nodes_as_calico_node_leaves_them" "$out"; fi
    if [ "$name" = k8s_vxlan ]; then
        out=$(k8s_node_json n1 | jq -r '.metadata.annotations["projectcalico.org/IPv4VXLANTunnelAddr"] // "none"')
        if [[ $out == 10.244.* ]]; then pass "${name}_tunnel_address_from_ipam"
        else fail "${name}_tunnel_address_from_ipam" "IPv4VXLANTunnelAddr: $out"; fi
    fi
    # The lab's rights are the manifest's, not a copy of its own: the nodes and plugins
    # above ran with exactly what a cluster gives them.
    want=$(python3 -c 'import json, sys, yaml
print(json.dumps({d["metadata"]["name"]: d["rules"] for d in yaml.safe_load_all(open(sys.argv[1]))
                  if d and d.get("kind") == "ClusterRole"}, sort_keys=True))' \
        "$T_TOP/manifests/tabby.yaml" 2>&1)
    out=$(lab kubectl get clusterroles tabby-node tabby-cni-plugin -o json 2>&1 |
        jq -S -c '[.items[] | {(.metadata.name): .rules}] | add' 2>&1)
    if [ "$(jq -S -c . <<<"$out" 2>&1)" = "$(jq -S -c . <<<"$want" 2>&1)" ]; then
        pass "${name}_cluster_roles_are_the_manifests"
    else
        fail "${name}_cluster_roles_are_the_manifests" "$out, manifest: $want"
    fi
    out=$(lab kubectl get clusterinformations.crd.projectcalico.org default -o json 2>&1 |
        jq -c '.spec | {datastoreReady, clusterType, guid: (.clusterGUID | length)}' 2>&1)
    if [ "$out" = '{"datastoreReady":true,"clusterType":"k8s,bgp,kdd","guid":32}' ]; then
        pass "${name}_cluster_information"
    else
        fail "${name}_cluster_information" "$out"
    fi
    # A policy through kubectl: monitor loses its way to api (the namespace ops is team=ops).
    out=$(lab kubectl apply -f - 2>&1 <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-frontend-only, namespace: default}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: frontend}}}]
YAML
    ) || fail "${name}_kubectl_apply" "$out"
    out=$(lab kubectl delete networkpolicy -n default api-allow 2>&1) ||
        fail "${name}_kubectl_delete" "$out"
    PROTO=tcp expect_matrix "${name}_kubectl_policy" "default/frontend default/api ok
ops/monitor default/api --"
    # Relabelling the Pod (through the API) takes frontend's access away.
    out=$(lab pod label default/frontend app=web 2>&1) || fail "${name}_pod_label" "$out"
    PROTO=tcp expect_matrix "${name}_pod_relabelled" "default/frontend default/api --"
    # The API server away: what the nodes programmed stays; back, they follow changes again.
    out=$(lab api stop 2>&1) || fail "${name}_api_stop" "$out"
    PROTO=tcp expect_matrix "${name}_api_away_nothing_torn_down" "ops/monitor default/api --
default/database ops/monitor ok
default/frontend default/api --"
    out=$(lab api start 2>&1 && lab pod label default/frontend app=frontend 2>&1) ||
        fail "${name}_api_start" "$out"
    PROTO=tcp expect_matrix "${name}_api_back_changes_follow" "default/frontend default/api ok"
    # A rule naming a Service follows its EndpointSlice, which tabby-node lists and watches
    # with its least-privilege role: database's egress denies service ops/mon (first) while
    # monitor's port is its endpoint, and nothing once the slice is gone.
    mon=$(lab kubectl get pod -n ops monitor -o jsonpath='{.status.podIP}' 2>&1)
    out=$(lab ctl apply -f - 2>&1 <<'YAML'
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: database-not-to-mon, namespace: default}
spec:
  order: 10
  selector: app == 'database'
  types: [Egress]
  egress:
  - {action: Deny, destination: {services: {name: mon, namespace: ops}}}
  - {action: Allow}
YAML
    ) || fail "${name}_services_policy" "$out"
    out=$(lab kubectl apply -f - 2>&1 <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: mon-1, namespace: ops, labels: {kubernetes.io/service-name: mon}}
addressType: IPv4
endpoints: [{addresses: ["$mon"]}]
ports: [{port: 80, protocol: TCP}]
YAML
    ) || fail "${name}_endpointslice" "$out"
    PROTO=tcp expect_matrix "${name}_service_endpoint_denied" "default/database ops/monitor --"
    out=$(lab kubectl delete endpointslice -n ops mon-1 2>&1) || fail "${name}_endpointslice_delete" "$out"
    PROTO=tcp expect_matrix "${name}_service_without_endpoints_denies_nothing" \
        "default/database ops/monitor ok"
    out=$(lab ctl delete networkpolicy database-not-to-mon -n default 2>&1) ||
        fail "${name}_services_policy_delete" "$out"
    out=$(lab pod del default/backend 2>&1 && lab ctl ipam check 2>&1)
    if grep -q 'no problems found' <<<"$out" && ! lab kubectl get pod -n default backend >/dev/null 2>&1
    then
        pass "${name}_pod_del_leaves_ipam_clean"
    else
        fail "${name}_pod_del_leaves_ipam_clean" "$out"
    fi
}

# Names and values that YAML 1.1 reads bare as booleans, null or numbers (namespaces y, n,
# on, off; a pod named null; label values yes, no, 1.0) stay strings through the lab, the
# CNI plugin and tabbyctl: pods are made, labelled, reach each other and are deleted.
yaml_names_checks() {
    local out labels
    if out=$(lab ns label on team=yes 2>&1 && lab ns label off v=1.0 2>&1 &&
        lab pod add n1 y/null app=yes v=1.0 --port http:80/tcp 2>&1 &&
        lab pod add n2 n/a app=no 2>&1 && lab pod add n3 on/b app=on 2>&1 &&
        lab pod add n1 off/c app=off 2>&1); then
        pass yaml_names_pods
    else
        fail yaml_names_pods "$out"
        return
    fi
    labels=$(lab ctl get wep n1-k8s-null-eth0 -n y -o json 2>&1 |
        jq -c '.metadata.labels | {app, v, ns: .["projectcalico.org/namespace"]}' 2>&1)
    out=$(lab ctl get ns on -o json 2>&1 | jq -r .metadata.labels.team 2>&1)
    out+=" $(lab ctl get ns off -o json 2>&1 | jq -r .metadata.labels.v 2>&1)"
    if [ "$labels" = '{"app":"yes","v":"1.0","ns":"y"}' ] && [ "$out" = "yes 1.0" ]; then
        pass yaml_names_labels_stay_strings
    else
        fail yaml_names_labels_stay_strings "endpoint y/null: $labels; namespaces on, off: $out"
    fi
    PROTO=tcp expect_matrix yaml_names_reach_each_other "y/null n/a ok
n/a on/b ok
on/b off/c ok
off/c y/null ok"
    out=$(lab pod label y/null app=no 2>&1 && lab ns label y team=off 2>&1 &&
        lab ctl get wep n1-k8s-null-eth0 -n y -o json | jq -r .metadata.labels.app 2>&1)
    if [ "$out" = "$(printf 'WorkloadEndpoint y/n1-k8s-null-eth0 labeled\nNamespace y labeled\nno')" ]; then
        pass yaml_names_relabel
    else
        fail yaml_names_relabel "$out"
    fi
    if out=$(lab pod del y/null 2>&1 && lab pod del n/a 2>&1) &&
        ! lab ctl get wep n1-k8s-null-eth0 -n y >/dev/null 2>&1; then
        pass yaml_names_pod_del
    else
        fail yaml_names_pod_del "$out"
    fi
}

run_mode native
if [ -x /usr/lib/frr/bgpd ]; then run_mode tor --tor; else skip tor "FRR is not installed"; fi
run_mode vxlan --mode vxlan
run_mode crosssubnet --mode vxlan-crosssubnet
if command -v etcd >/dev/null; then run_mode etcd --store etcd; else skip etcd "etcd is not installed (etcd-server)"; fi
if ! command -v kubectl >/dev/null; then
    skip k8s "kubectl is not installed"
elif [ ! -f "$T_TOP/tests/k8s/apiserver.py" ]; then
    skip k8s "the API server test double (tests/k8s/apiserver.py) is missing"
else
    run_mode k8s --store k8s
    run_mode k8s_vxlan --store k8s --mode vxlan
    # tabby-node from the image, the DaemonSet's pod of manifests/tabby.yaml played by podman
    missing=
    for tool in podman runc nsenter; do command -v "$tool" >/dev/null || missing+=" $tool"; done
    [ -x /usr/libexec/podman/catatonit ] || command -v catatonit >/dev/null ||
        missing+=" catatonit"
    python3 -c 'import yaml' 2>/dev/null || missing+=" python3-yaml"
    if [ -n "$missing" ]; then skip k8s_podman "not installed:$missing"
    else run_mode k8s_podman --store k8s --runtime podman; fi
fi
t_end
