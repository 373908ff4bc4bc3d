# kube.sh — the lab's Kubernetes mode (`lab up --store k8s`), sourced by examples/lab/lab.
#
# The cluster's state lives in a Kubernetes API server: tests/k8s/apiserver.py, a TEST
# DOUBLE of kube-apiserver (no kube-apiserver can be installed on these machines; it serves
# the same HTTP API to kubectl and to tabby's client, see tests/k8s/README.md), run in its
# own namespace on the fabric at $STORE_IP:6443, over TLS, with RBAC enforced (kubectl and
# tabbyctl run in that namespace too: the machine's own namespace sends nothing). Calico's
# CRDs (manifests/crds.yaml) are applied to it, so tabby stores everything as Calico does
# in its KDD mode.
#
# Nothing of Kubernetes runs here but that API server: no kubelet, no controller manager,
# no container runtime. The lab plays their parts, and only those tabby depends on:
#   - the kubelet's: it registers a Node object per lab node (before tabby-node starts, as
#     a kubelet registers its node before the CNI DaemonSet's pod runs there); for a pod
#     it creates the Pod object, calls the CNI network list exactly as containerd does
#     (CNI_ARGS with K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID and
#     K8S_POD_UID only; the conflist in Calico's shape, each plugin in turn with the
#     previous result), then writes the pod's status (Running, podIP, podIPs) as the
#     kubelet does; DEL, then the Pod goes;
#   - the ServiceAccount controller's: a namespace the lab creates gets its `default`
#     ServiceAccount;
#   - the cluster administrator's: ServiceAccounts, the manifest's ClusterRoles
#     (manifests/tabby.yaml, the one source of tabby's rights) and their bindings for
#     tabby-node and the CNI plugin, a token for each through the
#     TokenRequest API, and a kubeconfig per role. Each node's tabby-node has a
#     ServiceAccount of its own (tabby-node-nI, all bound to the one ClusterRole) so that
#     the API server's request log tells the nodes apart; in a real cluster they share
#     one, with tokens bound to their pods.
# tabbyctl and `lab kubectl` act as the cluster's administrator (system:masters).
#
#   $KAPI                         the API server's state folder (CA, tokens, state.json)
#   kube_kubectl ARGS…            kubectl as the administrator
#   kube_start_apiserver          the namespace, the server, the CRDs, identities, Nodes
#   kube_apiserver_up [ARGS…]     (re)starts the server on the lab's state (--state)
#   kube_apiserver_down           stops it (it saves its state first); the lab stays up
#   kube_node_env I               the settings tabby-node of node I runs with
#   kube_ensure_namespace NS      the Namespace and its default ServiceAccount
#   kube_pod_create NS/NAME NODE SA LABELS PORTS
#                                 the Pod, scheduled on NODE; prints its uid
#   kube_pod_running NS/NAME NODE_IP POD_IP [POD_IP6]
#                                 the status a kubelet writes once the sandbox is up
#   kube_cni COMMAND NS/NAME      the node's network list, as containerd runs it

KAPI=$STATE/kapi
KAPI_PORT=6443
KAPI_SH=$TOP/tests/k8s/kapi.sh
# Tokens from TokenRequest live this long; tabby's client reads a token file again on a
# 401, but these are inline: the lab lasts less than that.
KUBE_TOKEN_TTL=8760h
# The token of tabby-node's pod (--runtime podman) lives this long, and is renewed as the
# kubelet renews a projected token (kubelet.sh's kp_sa); the API server takes no shorter
# TokenRequest than KUBE_MIN_TOKEN_SECONDS (its own default: 600).
KUBE_POD_TOKEN_SECONDS=${KUBE_POD_TOKEN_SECONDS:-3607}
KUBE_MIN_TOKEN_SECONDS=${KUBE_MIN_TOKEN_SECONDS:-600}
# shellcheck source=../../tests/k8s/kapi.sh
[ -f "$KAPI_SH" ] && . "$KAPI_SH"

kube_kubectl() {
    fab_in kapi kubectl --kubeconfig "$KAPI/kubeconfig" --cache-dir "$STATE/kubectl-cache" "$@"
}

kube_need_tools() {
    local t
    for t in kubectl openssl python3; do
        command -v "$t" >/dev/null || die "--store k8s needs $t"
    done
    [ -f "$KAPI_SH" ] || die "--store k8s needs the API server test double ($KAPI_SH)"
}

# kube_apiserver_up [ARGS…]: the API server in the lab's kapi namespace, on the lab's state
# (objects, revision and watch history, kept across restarts; --forget-history drops the
# history as a real server restarting its watch cache does).
kube_apiserver_up() {
    KAPI_EXEC="ip netns exec $(fab_name kapi)" kapi_start "$KAPI" --listen "$STORE_IP:$KAPI_PORT" \
        --rbac --state "$KAPI/state.json" --min-token-seconds "$KUBE_MIN_TOKEN_SECONDS" "$@" \
        </dev/null >/dev/null 2>&1 || return 1
    echo "${KAPI_PIDS[$KAPI]}" >"$KAPI.pid"
}

kube_apiserver_down() {
    local pid end=$((SECONDS + 30))
    pid=$(cat "$KAPI.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $end ] || { kill -9 "$pid" 2>/dev/null; break; }
        sleep 0.1
    done
    rm -f "$KAPI.pid" "$KAPI/port"
}

# ---- identities ------------------------------------------------------------------------

# The ClusterRoles are the manifest's (manifests/tabby.yaml, KDD-LAYOUT §7.3), so that the
# lab runs with exactly the rights a cluster gives tabby: tabby-node's, and the CNI
# plugin's tabby-cni-plugin, as JSON documents.
kube_roles() {
    python3 - "$TOP/manifests/tabby.yaml" <<'EOF'
import json, sys, yaml
with open(sys.argv[1]) as f:
    for doc in yaml.safe_load_all(f):
        if doc and doc.get("kind") == "ClusterRole":
            print(json.dumps(doc))
EOF
}

# kube_account NAME ROLE: a ServiceAccount in kube-system bound to the ClusterRole.
kube_account() {
    jq -n --arg name "$1" --arg role "$2" '
        {apiVersion: "v1", kind: "ServiceAccount", metadata: {name: $name, namespace: "kube-system"}},
        {apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding",
         metadata: {name: $name},
         roleRef: {apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: $role},
         subjects: [{kind: "ServiceAccount", name: $name, namespace: "kube-system"}]}'
}

# kube_kubeconfig ACCOUNT FILE: a kubeconfig with a token of the ServiceAccount.
kube_kubeconfig() {
    local token
    token=$(kube_kubectl create token "$1" -n kube-system --duration "$KUBE_TOKEN_TTL") || return 1
    (umask 077; cat >"$2") <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://$STORE_IP:$KAPI_PORT
    certificate-authority: $KAPI/ca.crt
users:
- name: $1
  user:
    token: $token
contexts:
- name: lab
  context: {cluster: lab, user: $1}
current-context: lab
EOF
}

kube_identities() {
    local i
    {
        kube_roles
        kube_account tabby-cni tabby-cni-plugin
        for i in $(seq 1 "$NODES"); do kube_account "tabby-node-n$i" tabby-node; done
    } | kube_kubectl apply -f - >/dev/null || return 1
    mkdir -p "$STATE/cni"
    kube_kubeconfig tabby-cni "$STATE/cni/kubeconfig" || return 1
    for i in $(seq 1 "$NODES"); do
        mkdir -p "$STATE/n$i"
        kube_kubeconfig "tabby-node-n$i" "$STATE/n$i/kubeconfig" || return 1
    done
}

# ---- nodes -----------------------------------------------------------------------------

# The Node objects a kubelet would register: name, hostname label, the node's address.
kube_nodes() {
    local i
    for i in $(seq 1 "$NODES"); do
        jq -n --arg name "n$i" --arg ip "$(node_ip "$i")" \
            --arg ip6 "$(if ipv6_on; then node_ip6 "$i"; fi)" '
            {apiVersion: "v1", kind: "Node",
             metadata: {name: $name, labels: {"kubernetes.io/hostname": $name,
                                              "kubernetes.io/os": "linux"}},
             status: {addresses: ([{type: "InternalIP", address: $ip}] +
                                  if $ip6 != "" then [{type: "InternalIP", address: $ip6}]
                                  else [] end + [{type: "Hostname", address: $name}]),
                      conditions: [{type: "Ready", status: "True", reason: "KubeletReady",
                                    message: "the lab plays this node'"'"'s kubelet"}]}}'
    done | kube_kubectl create -f - >/dev/null
}

# kube_conflist I: node I's /etc/cni/net.d/10-tabby.conflist: Calico's manifest's, with
# tabby's types; the node name comes from the file tabby-node writes. Dual stack (--ipv6):
# IPAM assigns both families, as Calico's dual-stack manifests set it.
kube_conflist() {
    jq -n --arg nodename "$STATE/n$1/nodename" --arg kc "$STATE/cni/kubeconfig" \
        --arg v6 "$(ipv6_on && echo true || echo false)" '
        {name: "k8s-pod-network", cniVersion: "1.0.0",
         plugins: [{type: "tabby", log_level: "info", datastore_type: "kubernetes",
                    nodename_file: $nodename, mtu: 0,
                    ipam: {type: "tabby-ipam", assign_ipv4: "true", assign_ipv6: $v6},
                    policy: {type: "k8s"}, kubernetes: {kubeconfig: $kc}},
                   {type: "portmap", snat: true, capabilities: {portMappings: true}}]}'
}

# As calico-node's DaemonSet sets them: the datastore type, the kubeconfig (here the node's
# own ServiceAccount's), the cluster's types for ClusterInformation.
kube_node_env() {
    echo "DATASTORE_TYPE=kubernetes KUBECONFIG=$STATE/n$1/kubeconfig CLUSTER_TYPE=k8s,bgp"
}

kube_start_apiserver() {
    local i
    kube_need_tools
    mkdir -p "$KAPI"
    attach kapi 1 "$STORE_IP"
    kube_apiserver_up || die "the Kubernetes API server did not start (see $KAPI.err)"
    kube_kubectl apply -f "$TOP/manifests/crds.yaml" >/dev/null ||
        die "applying manifests/crds.yaml failed"
    kube_identities || die "making the ServiceAccounts, roles and kubeconfigs failed"
    kube_nodes || die "registering the Node objects failed"
    # --runtime podman: the manifest, as an operator applies it, and the token folder the
    # kubelet mounts into tabby-node's pod (its ServiceAccount's), renewed as the kubelet
    # renews it (kp_sa)
    if [ "$RUNTIME" = podman ]; then
        kube_kubectl apply -f "$TOP/manifests/tabby.yaml" >"$STATE/apply.log" 2>&1 ||
            die "applying manifests/tabby.yaml failed (see $STATE/apply.log)"
        KAPI_EXEC="ip netns exec $(fab_name kapi)" kp_sa "$KAPI" "$STATE/sa" \
            "$KUBE_POD_TOKEN_SECONDS" || die "no token for ServiceAccount kube-system/tabby-node"
    fi
    for i in $(seq 1 "$NODES"); do
        mkdir -p "$STATE/n$i/net.d"
        kube_conflist "$i" >"$STATE/n$i/net.d/10-tabby.conflist"
    done
}

# ---- namespaces and pods ---------------------------------------------------------------------

kube_ensure_namespace() {
    kube_kubectl get namespace "$1" >/dev/null 2>&1 ||
        kube_kubectl create namespace "$1" >/dev/null || return 1
    kube_ensure_account "$1" default
}

# kube_ensure_account NS NAME
kube_ensure_account() {
    kube_kubectl get serviceaccount -n "$1" "$2" >/dev/null 2>&1 ||
        kube_kubectl create serviceaccount -n "$1" "$2" >/dev/null
}

# kube_pod_create NS/NAME NODE ACCOUNT LABELS PORTS: the Pod, scheduled on NODE, with the
# labels (a JSON object) and its container's ports (a JSON array of {name, protocol,
# port}); prints its uid.
kube_pod_create() {
    jq -n --arg ns "${1%%/*}" --arg name "${1#*/}" --arg node "$2" --arg sa "$3" \
        --argjson labels "$4" --argjson ports "$5" '
        {apiVersion: "v1", kind: "Pod",
         metadata: {name: $name, namespace: $ns, labels: $labels},
         spec: {nodeName: $node, serviceAccountName: $sa,
                containers: [{name: "main", image: "lab",
                              ports: [$ports[] | {name, protocol, containerPort: .port}]}]}}' |
        kube_kubectl create -f - >/dev/null || return 1
    kube_kubectl get pod -n "${1%%/*}" "${1#*/}" -o jsonpath='{.metadata.uid}'
}

# kube_pod_running NS/NAME NODE_IP POD_IP [POD_IP6]: what the kubelet writes once the
# sandbox runs.
kube_pod_running() {
    local patch
    patch=$(jq -cn --arg host "$2" --arg ip "$3" --arg ip6 "${4:-}" \
        --arg now "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '
        {status: {phase: "Running", hostIP: $host, hostIPs: [{ip: $host}], podIP: $ip,
                  podIPs: ([{ip: $ip}] + if $ip6 != "" then [{ip: $ip6}] else [] end),
                  startTime: $now,
                  conditions: [{type: "Ready", status: "True", lastTransitionTime: $now}],
                  containerStatuses: [{name: "main", image: "lab", imageID: "", ready: true,
                                       started: true, restartCount: 0,
                                       state: {running: {startedAt: $now}}}]}}')
    kube_kubectl patch pod -n "${1%%/*}" "${1#*/}" --subresource=status --type=merge \
        -p "$patch" >/dev/null
}

# kube_cni COMMAND NS/NAME: runs the node's network list as containerd (libcni) does:
# ADD calls each plugin in order, each given the one before's result as prevResult; DEL
# calls them in reverse, each given the ADD's result. Each plugin sees its own entry with
# the list's name and cniVersion, and runtimeConfig for the capabilities it declares
# (portMappings: the pod declares no host ports). Prints the ADD's result; the plugins'
# own log lines go to the node's cni.log, as a runtime keeps them. IPAM's host-wide lock
# (taken on k8s:, as Calico's) is the node's own: each lab node is a host.
kube_cni() {
    local command=$1 pod=$2 dir node conflist n i order prev conf type out
    dir=$(pod_dir "$pod")
    node=$(cat "$dir/node")
    if [ "$RUNTIME" = podman ]; then kube_cni_installed "$@"; return; fi
    conflist=$(cat "$STATE/$node/net.d/10-tabby.conflist")
    n=$(jq '.plugins | length' <<<"$conflist")
    if [ "$command" = ADD ]; then order=$(seq 0 $((n - 1))); prev=;
    else order=$(seq $((n - 1)) -1 0); prev=$(cat "$dir/result.json" 2>/dev/null || true); fi
    for i in $order; do
        conf=$(jq -c --argjson i "$i" --argjson prev "${prev:-null}" '
            .plugins[$i] + {name, cniVersion}
            | if .capabilities.portMappings then .runtimeConfig = {portMappings: []} else . end
            | if $prev then .prevResult = $prev else . end' <<<"$conflist")
        type=$(jq -r .type <<<"$conf")
        out=$(fab_in "$node" env CNI_COMMAND="$command" CNI_CONTAINERID="$(cat "$dir/id")" \
            CNI_NETNS="/run/netns/$(pod_ns "$pod")" CNI_IFNAME=eth0 \
            CNI_PATH="$BUILD:/usr/lib/cni:/opt/cni/bin" \
            TABBY_IPAM_LOCK_FILE="$STATE/$node/ipam.lock" \
            CNI_ARGS="K8S_POD_INFRA_CONTAINER_ID=$(cat "$dir/id");K8S_POD_UID=$(cat "$dir/uid");IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod%%/*};K8S_POD_NAME=${pod#*/}" \
            "$(kube_plugin "$type")" <<<"$conf" 2>>"$STATE/$node/cni.log") ||
            { printf '%s: %s\n' "$type" "$out"; return 1; }
        [ "$command" = DEL ] || prev=$out
    done
    [ "$command" = DEL ] || printf '%s\n' "$prev"
}

# --runtime podman: the plugin and conflist install-cni installed on the pod's node, called
# as containerd's CRI calls it (kubelet.sh's kp_cni).
kube_cni_installed() {
    local dir node
    dir=$(pod_dir "$2")
    node=$(cat "$dir/node")
    kp_cni "$node" "$STATE/$node/host" "$1" "$(cat "$dir/id")" "/run/netns/$(pod_ns "$2")" \
        "K8S_POD_INFRA_CONTAINER_ID=$(cat "$dir/id");K8S_POD_UID=$(cat "$dir/uid");IgnoreUnknown=1;K8S_POD_NAMESPACE=${2%%/*};K8S_POD_NAME=${2#*/}" \
        2>>"$STATE/$node/cni.log"
}

# kube_plugin TYPE: where CNI_PATH finds it.
kube_plugin() {
    local d
    for d in "$BUILD" /usr/lib/cni /opt/cni/bin; do
        [ -x "$d/$1" ] && { echo "$d/$1"; return; }
    done
    echo "$1"
}
