#!/usr/bin/env bash
# cni_k8s.sh — the tabby CNI plugin in Kubernetes mode against the Kubernetes API server
# test double (tests/k8s/apiserver.py), run inside the node namespace: Namespaces,
# ServiceAccounts and Pods made with kubectl, the plugin called as containerd calls it
# (CNI_ARGS with K8S_POD_* only, Calico's network configuration from its manifest with
# only the types changed, so no labels in it), and the endpoint it records checked:
# labels, named ports and account from the pod, profiles kns./ksa., addresses from the
# pools the namespace's and the pod's annotations name; DEL leaving a newer sandbox's
# endpoint alone, a pod that is not there, an API that is unreachable, stalled or
# throttling (a clear error soon, and nothing half done: no veth, no address held),
# refused annotations and keys, Calico's ClusterInformation saying it is not ready.
#
# The datastore is sqlite (the configuration's "datastore" beside Calico's keys); on a
# build with the k8s: store, the last cases run on it too (the endpoint is the pod's
# status annotations), else they SKIP.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cni_lib.sh"
. "$T_TOP/tests/k8s/kapi.sh"

cni_begin cni_k8s
ctl apply -f - >/dev/null <<'EOF' || { fail setup "cannot apply the pools"; t_end; }
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: "blue"}
spec: {cidr: "10.30.0.0/24"}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: "green"}
spec: {cidr: "10.40.0.0/24"}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: "blue6"}
spec: {cidr: "fd30::/64"}
EOF
for tool in python3 kubectl jq; do
    if ! command -v "$tool" >/dev/null; then
        skip cni_k8s "$tool is not installed"
        t_end
    fi
done

# The API server in the node namespace, on its loopback: the plugin runs there too.
K=$T_TMP/kapi
t_on_exit kapi_stop_all
KAPI_EXEC="ip netns exec $(fab_name "$NODE")" kapi_start "$K" ||
    { fail cni_k8s "the API server test double did not start"; t_end; }
kc() { at "$NODE" kubectl --kubeconfig "$K/kubeconfig" --cache-dir "$K.kcache" "$@"; }
kcurl() {
    at "$NODE" curl -sS --cacert "$K/ca.crt" -H "Authorization: Bearer $(cat "$K/admin.token")" \
        -H 'Content-Type: application/json' -X "$1" "$(kapi_url "$K")$2" "${@:3}"
}
fault() { kcurl POST /_test/faults -d "$1" >/dev/null; }
no_faults() { kcurl DELETE /_test/faults >/dev/null; }

# Calico's conflist (manifests/calico.yaml) with "calico" → "tabby" and "calico-ipam" →
# "tabby-ipam"; the plugin gets its first entry as libcni hands it out (with the list's
# name and cniVersion), and the sqlite datastore of this run.
CONFLIST='{
  "name": "k8s-pod-network", "cniVersion": "1.0.0",
  "plugins": [
    { "type": "tabby", "log_level": "info", "log_file_path": "/var/log/calico/cni/cni.log",
      "datastore_type": "kubernetes", "nodename": "node-1", "mtu": 0,
      "ipam": { "type": "tabby-ipam" },
      "policy": { "type": "k8s" },
      "kubernetes": { "kubeconfig": "KUBECONFIG" } },
    { "type": "portmap", "snat": true, "capabilities": { "portMappings": true } } ] }'
# conf [JQ-FILTER [KUBECONFIG]]: that configuration, changed by the filter.
conf() {
    jq -c --arg store "$STORE" --arg kc "${2:-$K/kubeconfig}" \
        '.plugins[0] + {name, cniVersion} | .kubernetes.kubeconfig = $kc |
         .datastore = $store | '"${1:-.}" <<<"$CONFLIST"
}
CONF=$(conf)

# kcni COMMAND NAMESPACE POD [CONF] [CONTAINER] [UID]: the plugin as containerd runs it for
# the pod (netns $CNI_PFX-POD, container c-POD, the pod's uid). $OUT, $RC, $ERR, $MS.
kcni() {
    local cmd=$1 ns=$2 pod=$3 c=${4:-$CONF} cid=${5:-c-$3} uid=${6-} start
    [ $# -ge 6 ] || uid=$(kc get pod -n "$ns" "$pod" -o jsonpath='{.metadata.uid}' 2>/dev/null)
    local args="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$pod"
    args+=";K8S_POD_INFRA_CONTAINER_ID=$cid;K8S_POD_UID=$uid"
    start=$(now_ms)
    OUT=$(printf '%s' "$c" | at "$NODE" env CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" \
        CNI_NETNS="/run/netns/$CNI_PFX-$pod" CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" \
        CNI_ARGS="$args" "$CNI_BIN/tabby" 2>"$T_TMP/stderr")
    RC=$?
    MS=$(($(now_ms) - start))
    ERR=$(cat "$T_TMP/stderr")
}
# kadd NAMESPACE POD [CONF]: its netns and ADD; false when ADD fails.
kadd() {
    [ -e "/run/netns/$CNI_PFX-$2" ] || cni_ns "$2"
    kcni ADD "$1" "$2" "${3:-$CONF}"
    [ "$RC" = 0 ]
}
wep_name() { echo "node--1-k8s-${1//-/--}-eth0"; }
wep() { ctl get wep -n "$1" "$(wep_name "$2")" -o json 2>/dev/null; }
has_veth() { at "$NODE" ip -o link show | grep -q "$(jq -r '.spec.interfaceName' <<<"$1")"; }

# pod NAMESPACE NAME [ANNOTATIONS-YAML]: a pod scheduled on node-1.
pod() {
    kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $(yaml_str "$2")
  namespace: $(yaml_str "$1")
  labels: {app: "$2"}
  annotations: {${3:-}}
spec:
  nodeName: "node-1"
  containers: [{name: "main", image: "busybox"}]
EOF
}

kc apply -f - >/dev/null <<'EOF' || { fail setup "kubectl apply"; t_end; }
apiVersion: v1
kind: Namespace
metadata: {name: "shop", labels: {team: "ops"}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: "blue"
  annotations:
    cni.projectcalico.org/ipv4pools: '["blue"]'
    cni.projectcalico.org/ipv6pools: '["blue6"]'
---
apiVersion: v1
kind: Namespace
metadata:
  name: "bad"
  annotations: {cni.projectcalico.org/ipv4pools: 'blue'}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: "front", namespace: "shop"}
---
apiVersion: v1
kind: Pod
metadata:
  name: "web-0"
  namespace: "shop"
  labels: {app: "web", tier: "front"}
spec:
  nodeName: "node-1"
  serviceAccountName: "front"
  containers:
  - name: "web"
    image: "busybox"
    ports:
    - {name: "http", containerPort: 8080}
    - {containerPort: 9090}
    - {containerPort: 53, protocol: "UDP", hostPort: 5353}
  initContainers:
  - name: "init"
    image: "busybox"
    ports: [{name: "metrics", containerPort: 9100}]
EOF

# ---- ADD --------------------------------------------------------------------------------

test_add_takes_the_pods_labels_ports_and_account() {
    local w got want
    kadd shop web-0 || { fail add_takes_the_pods_labels_ports_and_account "ADD: $OUT"; return; }
    w=$(wep shop web-0)
    got=$(jq -c '[.metadata.labels, [.spec.ports[] | [.name, .protocol, .port, .hostPort]],
        .spec.profiles, .spec.serviceAccountName, .spec.containerID, .spec.pod,
        .spec.ipNetworks[0]]' <<<"$w")
    want=$(jq -nc --arg ip "$(address)/32" '[{"app":"web","projectcalico.org/namespace":"shop",
        "projectcalico.org/orchestrator":"k8s","projectcalico.org/serviceaccount":"front",
        "tier":"front"}, [["http","TCP",8080,null],[null,"UDP",53,5353],
        ["metrics","TCP",9100,null]], ["kns.shop","ksa.shop.front"], "front", "c-web-0",
        "web-0", $ip]')
    if [ "$(jq -S -c . <<<"$got")" != "$(jq -S -c . <<<"$want")" ]; then
        fail add_takes_the_pods_labels_ports_and_account "endpoint $got, want $want"
    else
        pass add_takes_the_pods_labels_ports_and_account
    fi
}

# in_net ADDR PREFIX: ADDR starts with PREFIX.
in_net() { [ "${1#"$2"}" != "$1" ]; }

test_pools_follow_the_namespace_and_the_pod() {
    local bad= stale
    pod blue a
    pod blue b "cni.projectcalico.org/ipv4pools: '[\"green\"]'"
    pod blue c "cni.projectcalico.org/ipFamilies: '[\"IPv4\", \"IPv6\"]'"
    pod blue d "cni.projectcalico.org/ipAddrs: '[\"10.30.0.77\"]'"
    pod shop e "cni.projectcalico.org/allowedSourcePrefixes: '[\"10.99.1.0/16\"]'"
    # The API wins over what the configuration says about the pod.
    stale=$(conf '.args.cni.labels = {"app": "stale"} |
        .args.cni.annotations = {"cni.projectcalico.org/ipv4pools": "[\"green\"]"}')
    kadd blue a "$stale" && in_net "$(address)" 10.30.0. &&
        [ "$(wep blue a | jq -r .metadata.labels.app)" = a ] || bad+="a (namespace's pool): $OUT; "
    kadd blue b && in_net "$(address)" 10.40.0. || bad+="b (pod's pool): $OUT; "
    kadd blue c && in_net "$(address 0)" 10.30.0. && in_net "$(address 1)" fd30:: ||
        bad+="c (both families): $OUT; "
    kadd blue d && [ "$(address)" = 10.30.0.77 ] || bad+="d (ipAddrs): $OUT; "
    kadd shop e &&
        [ "$(wep shop e | jq -c .spec.allowSpoofedSourcePrefixes)" = '["10.99.0.0/16"]' ] ||
        bad+="e (allowedSourcePrefixes): $OUT $(wep shop e); "
    if [ -n "$bad" ]; then fail pools_follow_the_namespace_and_the_pod "$bad"
    else pass pools_follow_the_namespace_and_the_pod; fi
}

# ---- DEL ---------------------------------------------------------------------------------

# A newer sandbox of the pod (another container) took the endpoint over: DEL of the older
# one releases only its own address. The endpoint's record says who holds it; on sqlite a
# pod annotation naming another container (Calico's, from before) does not overrule it.
test_del_leaves_a_newer_sandboxs_endpoint_alone() {
    local w before
    before=$(allocated)
    kcni ADD shop web-0 "$CONF" c-web-0-b
    [ "$RC" = 0 ] ||
        { fail del_leaves_a_newer_sandboxs_endpoint_alone "ADD of the newer: $OUT"; return; }
    w=$(wep shop web-0)
    kcni DEL shop web-0
    if [ "$RC" != 0 ]; then
        fail del_leaves_a_newer_sandboxs_endpoint_alone "DEL: $OUT"
    elif [ "$(wep shop web-0 | jq -r .spec.containerID)" != c-web-0-b ] || ! has_veth "$w"; then
        fail del_leaves_a_newer_sandboxs_endpoint_alone "the newer sandbox's endpoint or veth went"
    elif [ "$(allocated)" != "$before" ]; then
        fail del_leaves_a_newer_sandboxs_endpoint_alone \
            "the older container's address was not released ($before → $(allocated))"
    else
        kc annotate pod -n shop web-0 cni.projectcalico.org/containerID=calico-old >/dev/null
        kcni DEL shop web-0 "$CONF" c-web-0-b
        kc annotate pod -n shop web-0 cni.projectcalico.org/containerID- >/dev/null
        if [ "$RC" != 0 ] || [ -n "$(wep shop web-0)" ] || has_veth "$w"; then
            fail del_leaves_a_newer_sandboxs_endpoint_alone \
                "DEL of the holder left its endpoint: $OUT"
        else
            pass del_leaves_a_newer_sandboxs_endpoint_alone
        fi
    fi
}

test_del_of_every_pod_leaves_nothing() {
    local p failed=
    for p in blue/a blue/b blue/c blue/d shop/e; do
        kcni DEL "${p%/*}" "${p#*/}"
        [ "$RC" = 0 ] || failed+="$p: $OUT "
    done
    if [ -n "$failed" ]; then fail del_of_every_pod_leaves_nothing "$failed"
    elif ! nothing_left; then fail del_of_every_pod_leaves_nothing "$WHY"
    else pass del_of_every_pod_leaves_nothing; fi
}

# ---- failures: a clear error, and nothing done ----------------------------------------

# refused NAME CODE FRAGMENT: the last call failed so, and nothing is left.
refused() {
    if ! expect_error "$2" "$3"; then fail "$1" "$WHY"
    elif ! nothing_left; then fail "$1" "$WHY"
    else pass "$1"; fi
}

test_pod_not_found() {
    cni_ns ghost
    kcni ADD shop ghost "$CONF" c-ghost ""
    refused pod_not_found_is_a_clear_error 3 \
        "pod shop/ghost (K8S_POD_NAMESPACE, K8S_POD_NAME) does not exist"
    kcni DEL shop ghost "$CONF" c-ghost ""
    if [ "$RC" = 0 ]; then pass del_of_a_pod_not_found_goes_on
    else fail del_of_a_pod_not_found_goes_on "$OUT"; fi
}

test_another_pod_of_the_same_name() {
    kcni ADD shop web-0 "$CONF" c-web-0 0000-old-uid
    refused another_pod_of_the_same_name_is_refused 3 "is another pod now"
}

test_unreachable_api() {
    local closed
    # A kubeconfig naming a port nothing listens on.
    closed=$T_TMP/closed.kubeconfig
    sed 's|\(server: https://127.0.0.1:\)[0-9]*|\11|' "$K/kubeconfig" >"$closed"
    kcni ADD shop web-0 "$(conf . "$closed")"
    refused unreachable_api_changes_nothing 11 \
        "the Kubernetes API at https://127.0.0.1:1 cannot answer now"
    # DEL cannot tell whether the pod moved on to a newer sandbox: it stops.
    kadd shop web-0 || { fail unreachable_api_stops_del "ADD: $OUT"; return; }
    kcni DEL shop web-0 "$(conf . "$closed")"
    if ! expect_error 11 "cannot answer now"; then fail unreachable_api_stops_del "$WHY"
    elif [ -z "$(wep shop web-0)" ]; then fail unreachable_api_stops_del "the endpoint went"
    else pass unreachable_api_stops_del; fi
    kcni DEL shop web-0
}

# A CNI call must not hang: 5 s per request, then a clear error. (The pod's uid is read
# before the fault: kubectl would wait too.)
test_stalled_api_times_out() {
    local uid
    uid=$(kc get pod -n shop web-0 -o jsonpath='{.metadata.uid}')
    fault '{"path": "/pods/", "stall": 30, "times": 0}'
    kcni ADD shop web-0 "$CONF" c-web-0 "$uid"
    no_faults
    if [ "$MS" -gt 15000 ]; then
        fail stalled_api_times_out "ADD took $MS ms"
    else
        refused stalled_api_times_out 11 "cannot answer now"
        echo "    (ADD gave up after $MS ms)"
    fi
}

test_throttling_api_is_not_waited_for_long() {
    local n uid
    uid=$(kc get pod -n shop web-0 -o jsonpath='{.metadata.uid}')
    kcurl DELETE /_test/requests >/dev/null
    fault '{"path": "/pods/", "status": 429, "retryAfter": 30, "times": 0}'
    kcni ADD shop web-0 "$CONF" c-web-0 "$uid"
    no_faults
    n=$(kcurl GET /_test/requests | jq '[.requests[] | select(.path | test("/pods/"))] | length')
    if [ "$MS" -gt 10000 ] || [ "$n" -gt 3 ]; then
        fail throttling_api_is_not_waited_for_long "ADD took $MS ms and $n requests"
    else
        refused throttling_api_is_not_waited_for_long 11 "cannot answer now"
    fi
}

test_refused_annotations_change_nothing() {
    pod shop f "cni.projectcalico.org/floatingIPs: '[\"192.0.2.7\"]'"
    pod shop g "cni.projectcalico.org/ipAddrsNoIpam: '[\"10.10.9.9\"]'"
    pod bad h
    cni_ns f && cni_ns g && cni_ns h
    kcni ADD shop f
    refused floating_ips_are_refused 7 \
        "annotation cni.projectcalico.org/floatingIPs on pod shop/f: not supported"
    kcni ADD shop g
    refused ip_addrs_no_ipam_is_refused 7 \
        "annotation cni.projectcalico.org/ipAddrsNoIpam on pod shop/g: not supported"
    kcni ADD bad h
    refused malformed_namespace_annotation_names_the_namespace 7 \
        "annotation cni.projectcalico.org/ipv4pools on namespace bad: must be a JSON list"
    local hl
    hl=$(conf '.ipam = {"type": "host-local", "ranges": [[{"subnet": "10.50.0.0/24"}]],
        "dataDir": "'"$T_TMP"'/hl"}')
    kcni ADD shop web-0 "$hl"
    if [ "$RC" != 0 ]; then fail pods_without_ipam_wishes_take_any_ipam "host-local: $OUT"
    else pass pods_without_ipam_wishes_take_any_ipam; fi
    kcni DEL shop web-0 "$hl"
    kcni ADD blue a "$hl"
    refused pool_annotations_need_tabby_ipam 7 \
        "need ipam.type tabby-ipam: host-local cannot honour them"
}

test_calico_keys_tabby_does_not_honour() {
    kcni ADD shop web-0 "$(conf '.feature_control = {"floating_ips": true}')"
    refused calico_keys_that_change_behaviour_are_refused 7 \
        "feature_control.floating_ips: not supported"
    kcni ADD shop web-0 "$(conf '.windows_use_single_network = true | .qps = 50 |
        .num_queues = 2')"
    if [ "$RC" != 0 ]; then fail calico_keys_that_do_not_matter_are_ignored "$OUT"
    else pass calico_keys_that_do_not_matter_are_ignored; fi
    kcni DEL shop web-0
}

test_cluster_information_not_ready() {
    kc apply -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: "clusterinformations.crd.projectcalico.org"}
spec:
  group: "crd.projectcalico.org"
  scope: "Cluster"
  names:
    plural: "clusterinformations"
    singular: "clusterinformation"
    kind: "ClusterInformation"
    listKind: "ClusterInformationList"
  versions:
  - name: "v1"
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: "object", x-kubernetes-preserve-unknown-fields: true}}
EOF
    t_wait 10 kc get clusterinformations.crd.projectcalico.org ||
        { fail cluster_information_not_ready_says_try_again "the CRD is not served"; return; }
    kc apply -f - >/dev/null <<'EOF'
apiVersion: crd.projectcalico.org/v1
kind: ClusterInformation
metadata: {name: "default"}
spec: {datastoreReady: false}
EOF
    kcni ADD shop web-0
    refused cluster_information_not_ready_says_try_again 11 "datastoreReady: false"
    kc patch clusterinformations.crd.projectcalico.org default --type merge \
        -p '{"spec": {"datastoreReady": true}}' >/dev/null
    kcni ADD shop web-0
    if [ "$RC" != 0 ]; then fail cluster_information_ready_lets_add_through "$OUT"
    else pass cluster_information_ready_lets_add_through; fi
    kcni DEL shop web-0
}

# ---- on the k8s: store -------------------------------------------------------------------

pod_ip_annotation() {
    kc get pod -n shop web-0 -o json |
        jq -r '.metadata.annotations["cni.projectcalico.org/podIP"] // ""'
}

# On the k8s: store the endpoint is the pod: the plugin reads it once (its labels, and the
# endpoint's record), and writes it once.
pod_read_once() {
    local reqs
    reqs=$(kcurl GET /_test/requests | jq -c '[.requests[] |
        select(.path | test("/namespaces/shop/pods/web-0")) | "\(.verb) \(.path)"]')
    if [ "$(jq '[.[] | select(startswith("get "))] | length' <<<"$reqs")" = 1 ]; then
        pass "k8s_store_$1_reads_the_pod_once"
    else
        fail "k8s_store_$1_reads_the_pod_once" "requests $reqs"
    fi
}

# Calico's conflist as it is (no "datastore": the k8s: store with its kubeconfig), and
# Calico's CRDs in the API. What is tested is the endpoint, which is the pod there: the
# addresses come from host-local, so that the case does not depend on IPAM's own k8s:
# support.
test_on_the_k8s_store() {
    local c ann uid
    if [ ! -f "$T_TOP/lib/store_k8s.c" ] || [ ! -f "$T_TOP/manifests/crds.yaml" ]; then
        skip calico_conflist_on_the_k8s_store "this build has no k8s: store"
        return
    fi
    kc apply -f "$T_TOP/manifests/crds.yaml" >/dev/null &&
        t_wait 20 kc get ippools.crd.projectcalico.org ||
        { fail calico_conflist_on_the_k8s_store "cannot apply Calico's CRDs"; return; }
    c=$(conf 'del(.datastore) | .ipam = {"type": "host-local",
        "ranges": [[{"subnet": "10.60.0.0/24"}]], "dataDir": "'"$T_TMP"'/hl-k8s"}')
    uid=$(kc get pod -n shop web-0 -o jsonpath='{.metadata.uid}')
    [ -e "/run/netns/$CNI_PFX-web-0" ] || cni_ns web-0
    kcurl DELETE /_test/requests >/dev/null
    kcni ADD shop web-0 "$c" c-web-0 "$uid"
    [ "$RC" = 0 ] || { fail calico_conflist_on_the_k8s_store "ADD: $OUT"; return; }
    pod_read_once ADD
    ann=$(kc get pod -n shop web-0 -o json | jq -c '.metadata.annotations |
        [.["cni.projectcalico.org/podIP"], .["cni.projectcalico.org/containerID"]]')
    if [ "$ann" != "[\"$(address)/32\",\"c-web-0\"]" ]; then
        fail calico_conflist_on_the_k8s_store "pod annotations $ann"
        return
    fi
    kcni DEL shop web-0 "$c" c-older
    ann=$(pod_ip_annotation)
    if [ "$RC" != 0 ] || [ -z "$ann" ]; then
        fail calico_conflist_on_the_k8s_store "DEL of an older sandbox emptied the pod: $OUT"
        return
    fi
    kcurl DELETE /_test/requests >/dev/null
    kcni DEL shop web-0 "$c" c-web-0 "$uid"
    pod_read_once DEL
    ann=$(pod_ip_annotation)
    if [ "$RC" != 0 ] || [ -n "$ann" ]; then
        fail calico_conflist_on_the_k8s_store "DEL left podIP $ann: $OUT"
    else
        pass calico_conflist_on_the_k8s_store
    fi
}

# On the k8s: store the endpoint is written through the store, whose requests get the
# plugin's timeout too: a stalled write is a clear error within it, not a hang.
test_stalled_store_write_times_out() {
    local c
    [ -f "$T_TOP/lib/store_k8s.c" ] || return 0
    c=$(conf 'del(.datastore) | .ipam = {"type": "host-local",
        "ranges": [[{"subnet": "10.61.0.0/24"}]], "dataDir": "'"$T_TMP"'/hl-stall"}')
    fault '{"verb": "PATCH", "path": "/pods/web-0/status", "stall": 30, "times": 0}'
    kcni ADD shop web-0 "$c" c-stall
    no_faults
    if [ "$MS" -gt 15000 ]; then
        fail stalled_store_write_times_out "ADD took $MS ms"
    elif [ "$RC" = 0 ]; then
        fail stalled_store_write_times_out "ADD succeeded: $OUT"
    else
        pass stalled_store_write_times_out
        echo "    (ADD gave up after $MS ms: $(echo "$OUT" | jq -r .msg 2>/dev/null))"
    fi
    kcni DEL shop web-0 "$c" c-stall
}

test_add_takes_the_pods_labels_ports_and_account
test_pools_follow_the_namespace_and_the_pod
test_del_leaves_a_newer_sandboxs_endpoint_alone
test_del_of_every_pod_leaves_nothing
test_pod_not_found
test_another_pod_of_the_same_name
test_unreachable_api
test_stalled_api_times_out
test_throttling_api_is_not_waited_for_long
test_refused_annotations_change_nothing
test_calico_keys_tabby_does_not_honour
test_cluster_information_not_ready
test_on_the_k8s_store
test_stalled_store_write_times_out
t_end
