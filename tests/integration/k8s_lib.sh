# k8s_lib.sh — tabby-node's tests on the k8s: datastore (source after podnet.sh, once
# pn_init ran). The Kubernetes API server is the project's TEST DOUBLE
# (tests/k8s/apiserver.py): no kube-apiserver exists for these machines, and the double is
# held to kubectl and the official Python client by k8s_apiserver.sh. It runs in namespace
# "kapi" of the test's prefix, on a segment of its own ("kfab", 10.67.0.0/24) that each node
# joins with an interface kapi0; kubectl, tabbyctl and the IPAM plugin calls of the test
# run inside kapi, so the root namespace sends nothing at all. PN_STORE becomes
# k8s:<the server's admin kubeconfig>: pn_start_node, pn_ctl and pn_apply use the API, and
# pn_pod makes a Pod object (pods are the endpoints there).
#
#   kl_need NAME                skips the whole test unless kubectl, openssl, python3 and
#                               the double are there
#   kl_cluster NAME [ARGS…]     (after nl_init) kl_need, kl_start (ending the test when the
#                               server does not start), nodes n1 and n2 on the fabric at
#                               10.0.0.1 and .2 with their Node objects, and a VXLAN pool
#                               10.68.0.0/16: what node_k8s*.sh start from
#   kl_start [ARGS…]            the segment, the API server (ARGS: apiserver.py's), the CRDs
#   kl_join NODE N              NODE (a namespace already) on the segment as 10.67.0.N, and
#                               its Node object, as a kubelet registers it
#   kl_kubectl ARGS…            kubectl as the cluster's administrator (tabby-node runs as
#                               user tabby-node: PN_NODE_STORE)
#   kl_node_requests SEQ VERB   how many requests of VERB tabby-node made since SEQ (the
#                               log's "next" from kl_test GET requests)
#   kl_test METHOD WHAT [JSON]  the double's /_test/ interface (faults, watches, compact…)
#   kl_api_stop                 stops the server (it saves its state first)
#   kl_api_start [ARGS…]        starts it again on that state (--forget-history: with an
#                               empty watch history, as a real server restarting)
#   kl_pod_object NODE NS POD IP LABELS PORTS [ACCOUNT]   (IP: "IPV4" or "IPV4,IPV6")
#                               the Pod, scheduled on NODE, then its status with IP as a
#                               kubelet writes it (pn_pod calls it); LABELS and PORTS as
#                               pn_pod takes them, one container per named port; ACCOUNT
#                               its serviceAccountName
#   kl_pod_labels NS POD LABELS the Pod's labels become LABELS ("k=v,…"), through the API
#   kl_ns_labels NS LABELS      the same for a Namespace (kubernetes.io/metadata.name stays)
#   kl_split FILE KUBE CALICO   the documents of FILE (lists opened) for kubectl (Kubernetes
#                               kinds) and for tabbyctl (Calico's kinds) into two files
#   kl_write apply|delete FILE  each part of FILE written by its tool, then kl_settled
#   kl_podman                   from then on every node's tabby-node is the DaemonSet's pod of
#                               manifests/tabby.yaml played by podman from the image, as a
#                               kubelet would run it (examples/lab/kubelet.sh): the manifest
#                               applied, a token of kube-system/tabby-node, the image loaded
#                               (built once, kept in the build folder); PN_RUNTIME=podman makes
#                               pn_start_node / pn_stop_node play and stop that pod (its log
#                               followed into the node's tabby-node log, its backend none)
#   kl_settled                  waits (PN_WAIT) until every running tabby-node's last
#                               programming counts the policies and endpoints the API holds:
#                               writes on k8s: are one object each, and a node may program
#                               between two of them

KL_SERVER=${TABBY_K8S_APISERVER:-$T_TOP/tests/k8s/apiserver.py}
KL_IP=10.67.0.1
KL_PORT=6443
KAPI_SERVER=$KL_SERVER
# Here, not in a function: its `declare -A` would make the servers' table local to one.
# shellcheck source=../k8s/kapi.sh
[ -f "$(dirname "$KL_SERVER")/kapi.sh" ] && . "$(dirname "$KL_SERVER")/kapi.sh"

kl_need() {
    local name=$1 cmd
    for cmd in kubectl openssl python3 jq; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            skip "$name" "$cmd is not installed"
            t_end
        fi
    done
    if [ ! -f "$KL_SERVER" ]; then
        skip "$name" "the API server test double ($KL_SERVER) is missing"
        t_end
    fi
}

kl_in() { fab_in kapi "$@"; }

kl_cluster() {
    local name=$1
    shift
    kl_need "$name"
    if ! kl_start "$@"; then
        fail setup "the API server did not start: $(tail -3 "$T_TMP/kapi.err" 2>/dev/null)"
        t_end
    fi
    nl_node n1 10.0.0.1/24 && nl_node n2 10.0.0.2/24 && kl_join n1 11 && kl_join n2 12 ||
        { fail setup "the nodes or their Node objects were not made"; t_end; }
    nl_pool default-pool 10.68.0.0/16 'vxlanMode: Always' | nl_apply
}

kl_start() {
    local token
    KL_DIR=$T_TMP/kapi
    t_on_exit kapi_stop_all
    fab_switch kfab && fab_host kapi kfab "$KL_IP/24" || return 1
    # tabby-node has a user of its own, so that the server's request log tells its requests
    # from the test's (kl_node_requests)
    token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s,tabby-node,tabby-node,"system:masters"\n' "$token" >"$T_TMP/kapi-tokens.csv"
    KL_ARGS=(--token-file "$T_TMP/kapi-tokens.csv" "$@")
    kl_api_start || return 1
    sed "s/^\(    token: \).*/\1$token/" "$KL_DIR/kubeconfig" >"$T_TMP/node.kubeconfig"
    grep -q "token: $token" "$T_TMP/node.kubeconfig" || return 1
    PN_STORE="k8s:$KL_DIR/kubeconfig"
    PN_NODE_STORE="k8s:$T_TMP/node.kubeconfig"
    PN_CTL_EXEC="ip netns exec $(fab_name kapi)"
    PN_K8S=1
    # and the IPAM plugin's host-wide lock, in the scratch folder
    export TABBY_IPAM_LOCK_FILE=$T_TMP/ipam.lock
    # Settings of the caller's own cluster must not leak in.
    unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT TABBY_STORE
    kl_kubectl apply -f "$T_TOP/manifests/crds.yaml" >/dev/null
}

kl_api_start() {
    KAPI_EXEC="ip netns exec $(fab_name kapi)" kapi_start "$KL_DIR" \
        --listen "$KL_IP:$KL_PORT" --state "$T_TMP/kapi-state.json" "${KL_ARGS[@]}" "$@" \
        </dev/null >/dev/null 2>&1
}

kl_api_stop() { kapi_stop "$KL_DIR"; }

kl_kubectl() { kl_in kubectl --kubeconfig "$KL_DIR/kubeconfig" --cache-dir "$KL_DIR.kcache" "$@"; }

kl_test() {
    local method=$1 what=$2
    kl_in curl -sS --cacert "$KL_DIR/ca.crt" \
        -H "Authorization: Bearer $(cat "$KL_DIR/admin.token")" \
        -H 'Content-Type: application/json' -X "$method" \
        "https://$KL_IP:$KL_PORT/_test/$what" ${3:+-d "$3"}
}

kl_node_requests() {
    kl_test GET "requests?since=$1" |
        jq --arg verb "$2" '[.requests[] | select(.user == "tabby-node" and .verb == $verb)] | length'
}

kl_join() {
    local node=$1 n=$2
    FAB_PORT="k-$node" fab_plug "$node" kfab kapi0 "10.67.0.$n/24" || return 1
    jq -n --arg name "$node" --arg ip "10.67.0.$n" '
        {apiVersion: "v1", kind: "Node",
         metadata: {name: $name, labels: {"kubernetes.io/hostname": $name,
                                          "kubernetes.io/os": "linux"}},
         status: {addresses: [{type: "InternalIP", address: $ip},
                              {type: "Hostname", address: $name}]}}' |
        kl_kubectl create -f - >/dev/null
}

# kl_labels_json "k=v,k2=v2": {"k":"v","k2":"v2"}
kl_labels_json() {
    local kv out='{}'
    for kv in ${1//,/ }; do
        out=$(jq -c --arg k "${kv%%=*}" --arg v "${kv#*=}" '. + {($k): $v}' <<<"$out")
    done
    echo "$out"
}

# kl_ports_json "name/PROTO/port,…": one container per port (two names may share a port).
kl_ports_json() {
    local p pname pproto pport out='[]' i=0
    for p in ${1//,/ }; do
        IFS=/ read -r pname pproto pport <<<"$p"
        out=$(jq -c --arg n "$pname" --arg proto "$pproto" --argjson port "$pport" \
            --arg c "c$i" '. + [{name: $c, image: "test",
                                 ports: [{name: $n, protocol: $proto, containerPort: $port}]}]' \
            <<<"$out")
        i=$((i + 1))
    done
    [ "$out" = '[]' ] && out='[{"name":"c0","image":"test"}]'
    echo "$out"
}

kl_ensure_namespace() {
    kl_kubectl get namespace "$1" >/dev/null 2>&1 || kl_kubectl create namespace "$1" >/dev/null
}

kl_pod_object() {
    local node=$1 ns=$2 pod=$3 ip=$4 labels=${5:-} ports=${6:-} sa=${7:-}
    kl_ensure_namespace "$ns" || return 1
    jq -n --arg ns "$ns" --arg name "$pod" --arg node "$node" --arg sa "$sa" \
        --argjson labels "$(kl_labels_json "$labels")" \
        --argjson containers "$(kl_ports_json "$ports")" '
        {apiVersion: "v1", kind: "Pod", metadata: {name: $name, namespace: $ns, labels: $labels},
         spec: ({nodeName: $node, containers: $containers} +
                if $sa == "" then {} else {serviceAccountName: $sa} end)}' |
        kl_kubectl create -f - >/dev/null || return 1
    kl_kubectl patch pod -n "$ns" "$pod" --subresource=status --type=merge -p "$(jq -cn \
        --arg ip "$ip" '($ip | split(",")) as $ips
            | {status: {phase: "Running", podIP: $ips[0], podIPs: [$ips[] | {ip: .}]}}')" \
        >/dev/null || return 1
    echo "pod $ns/$pod running"   # a change, for pn_do
}

# kl_relabel_args OLD NEW: kubectl label's arguments from labels OLD to NEW (JSON objects):
# every key of NEW with its value, and "key-" for those only OLD has.
kl_relabel_args() {
    jq -r --argjson old "$1" --argjson new "$2" -n '
        ($new | to_entries[] | "\(.key)=\(.value)"),
        ($old | keys[] | select($new[.] == null) | "\(.)-")'
}

kl_pod_labels() {
    local old args
    old=$(kl_kubectl get pod -n "$1" "$2" -o json | jq -c '.metadata.labels // {}') || return 1
    mapfile -t args < <(kl_relabel_args "$old" "$(kl_labels_json "$3")")
    kl_kubectl label pod -n "$1" "$2" --overwrite "${args[@]}"
}

kl_ns_labels() {
    local old args
    kl_ensure_namespace "$1" || return 1
    old=$(kl_kubectl get namespace "$1" -o json |
        jq -c '.metadata.labels // {} | del(.["kubernetes.io/metadata.name"])') || return 1
    mapfile -t args < <(kl_relabel_args "$old" "$(kl_labels_json "$2")")
    kl_kubectl label namespace "$1" --overwrite "${args[@]}"
}

# Kubernetes' own kinds (apiVersion v1 or networking.k8s.io/v1) go to kubectl, Calico's to
# tabbyctl; either file may end up empty. Debian's python3-yaml reads them.
kl_split() {
    /usr/bin/python3 - "$@" <<'EOF'
import json, sys, yaml
docs = []
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and str(d.get("kind", "")).endswith("List") and "items" in d:
        docs += d["items"] or []
    elif d:
        docs.append(d)
kube = [d for d in docs if d.get("apiVersion") in ("v1", "networking.k8s.io/v1")]
calico = [d for d in docs if d not in kube]
# As YAML documents in JSON's flow style: every string quoted (PyYAML would write a
# namespace y bare, which kubectl's YAML 1.1 reads as true), and a stream, not JSON (a
# file starting with "{" is one JSON object to kubectl).
for path, part in ((sys.argv[2], kube), (sys.argv[3], calico)):
    with open(path, "w") as f:
        f.write("".join("---\n" + json.dumps(d) + "\n" for d in part))
EOF
}

# kl_counted NODE ENDPOINTS POLICIES: NODE's last programming counted them.
kl_counted() {
    local line
    line=$(grep 'policy programmed' "$T_TMP/tabby-node-$1.log" | tail -1)
    [[ $line == *" endpoints=$2 "* && $line == *" policies=$3 "* ]]
}

kl_podman() {
    local version
    # shellcheck source=../../examples/lab/kubelet.sh
    . "$T_TOP/examples/lab/kubelet.sh"
    kp_podman "$T_TMP/podman"
    t_on_exit 'kp_cleanup "$T_TMP" "$T_TMP"/*/pod.yaml'
    version=$(sed -n 's/^PACKAGE_VERSION = //p' "$T_BUILD/Makefile")
    KL_IMAGE=localhost/tabby-node:$version
    kp_image "$T_BUILD" "$KL_IMAGE" "$T_BUILD/tabby-node-image.tar" >"$T_TMP/image.log" 2>&1 ||
        { echo "the image: $(tail -3 "$T_TMP/image.log")" >&2; return 1; }
    kl_kubectl apply -f "$T_TOP/manifests/tabby.yaml" >"$T_TMP/apply.log" 2>&1 ||
        { echo "the manifest: $(tail -3 "$T_TMP/apply.log")" >&2; return 1; }
    KAPI_EXEC="ip netns exec $(fab_name kapi)" kp_sa "$KL_DIR" "$T_TMP/sa" || return 1
    PN_RUNTIME=podman
}

# The node's pod played (again: the last one stopped by kl_node_pod_stop), and its
# container's log followed into the node's tabby-node log (PN_DAEMON: the follower).
kl_node_pod_start() {
    local node=$1 dir=$T_TMP/$1 before
    pn_count_programmed "$node"
    before=$PN_COUNT
    kp_pod "$node" "$dir" "$T_TMP/sa" "$KL_IP" "$KL_PORT" "$KL_IMAGE" none &&
        kp_play "$node" "$dir" || { echo "$node: $(tail -3 "$dir/play.log")" >&2; return 1; }
    kp_pm "$node" logs -f "tabby-node-$node-tabby-node" >>"$T_TMP/tabby-node-$node.log" 2>&1 &
    PN_DAEMON[$node]=$!
    pn_wait_programmed "$node" "$before"
}

kl_node_pod_stop() {
    local node=$1 sig=${2:-TERM}
    kp_pm "$node" kill -s "$sig" "tabby-node-$node-tabby-node" >/dev/null 2>&1
    kp_pm "$node" kube down "$T_TMP/$node/pod.yaml" >/dev/null 2>&1
    kill "${PN_DAEMON[$node]}" 2>/dev/null
    wait "${PN_DAEMON[$node]}" 2>/dev/null
    unset "PN_DAEMON[$node]"
}

kl_settled() {
    local e p=0 k node
    e=$(pn_ctl get wep -A -o name 2>/dev/null | grep -c .)
    for k in knp netpol gnp; do p=$((p + $(pn_ctl get "$k" -A -o name 2>/dev/null | grep -c .))); done
    for node in "${!PN_DAEMON[@]}"; do
        t_wait "$PN_WAIT" kl_counted "$node" "$e" "$p" || {
            echo "$node did not settle at endpoints=$e policies=$p:" \
                "$(grep 'policy programmed' "$T_TMP/tabby-node-$node.log" | tail -1)" >&2
            return 1
        }
    done
}

kl_write() {
    local verb=$1 file=$2 kube calico out r=0
    kube=$(mktemp "$T_TMP/kube-XXXXXX.yaml")
    calico=$(mktemp "$T_TMP/calico-XXXXXX.yaml")
    kl_split "$file" "$kube" "$calico" || return 1
    if [ -s "$kube" ]; then
        if [ "$verb" = delete ]; then out=$(kl_kubectl delete --ignore-not-found -f "$kube" 2>&1)
        else out=$(kl_kubectl apply -f "$kube" 2>&1); fi || { echo "$out" >&2; r=1; }
    fi
    if [ $r = 0 ] && [ -s "$calico" ]; then
        if [ "$verb" = delete ]; then out=$(pn_ctl delete -f "$calico" --skip-not-found 2>&1)
        else out=$(pn_ctl apply -f "$calico" 2>&1); fi || { echo "$out" >&2; r=1; }
    fi
    rm -f "$kube" "$calico"
    [ $r = 0 ] && kl_settled
}
