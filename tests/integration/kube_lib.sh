# kube_lib.sh — the DaemonSet's pod of manifests/tabby.yaml run by a real container runtime
# (podman kube play) in lab nodes' network namespaces, on the API server test double.
# Source after lib.sh, containers_lib.sh and tests/k8s/kapi.sh, once t_fabric has run.
# The kubelet's part is examples/lab/kubelet.sh's (the lab's --runtime podman plays the
# same): what a kubelet would add is added and nothing else (kube_pod.py).
#
#   kl_podman                     this run's podman configuration and storage, all of it
#                                 removed on exit
#   kl_pm NODE ARGS…              podman in NODE's network namespace (nsenter --net: `ip
#                                 netns exec` mounts a fresh /sys, which hides the cgroups)
#   kl_image [IMAGE.SH ARGS…]     tools/image.sh into this run's storage (log: image.log);
#                                 without ARGS this build's image, loaded from the build
#                                 folder's archive when it is up to date (kp_image)
#   kl_cluster NODE LISTEN        the API server test double with RBAC in NODE's namespace,
#                                 listening on LISTEN (ADDR:0), the manifest applied,
#                                 tabby-node's service account folder (KL_SA) kept fresh as
#                                 the kubelet keeps it (kp_sa: KL_POD_TOKEN_SECONDS long,
#                                 default 3607; the server takes no shorter TokenRequest
#                                 than KL_MIN_TOKEN_SECONDS, default 600); kc is kubectl as
#                                 its admin
#   kl_pod NODE [IMAGE] [BACKEND] the DaemonSet's template as the kubelet would run it on
#                                 NODE, into $T_TMP/NODE/pod.yaml and configmap.yaml (the
#                                 ConfigMap's backend BACKEND when given); the node's host
#                                 folders are $T_TMP/NODE/host
#   kl_play NODE [ARGS…]          podman kube play of that pod in NODE's namespace (log:
#                                 NODE/play.log); ARGS e.g. --replace
#   kl_ctr NODE                   the name of NODE's tabby-node container
#   kl_k8s_pod NODE POD           the Pod default/POD (label app=POD) on NODE in the API,
#                                 and a namespace for it (fab_ns POD)
#   kl_cni NODE POD COMMAND       the plugin install-cni installed on NODE, for pod
#                                 default/POD in namespace POD (a fab_ns), as containerd's
#                                 CRI runs it; its answer in $T_TMP/cni.POD.COMMAND

# shellcheck source=../../examples/lab/kubelet.sh
. "$T_TOP/examples/lab/kubelet.sh"

kl_podman() {
    KL_PM=$T_TMP/podman
    kp_podman "$KL_PM"
    t_on_exit kl_podman_cleanup
}
kl_pm() { kp_pm "$@"; }
kl_podman_cleanup() { kp_cleanup "$T_TMP" "$T_TMP"/*/pod.yaml; }

# Without arguments, this build's image: built once, then loaded from the build folder's
# archive (tabby-node-image.tar) while that is newer than what it holds.
kl_image() {
    local version
    version=$(sed -n 's/^PACKAGE_VERSION = //p' "$T_BUILD/Makefile")
    if [ $# = 0 ]; then
        kp_image "$T_BUILD" "localhost/tabby-node:$version" "$T_BUILD/tabby-node-image.tar"
    else
        "$T_TOP/tools/image.sh" "$T_BUILD" "$@"
    fi >"$T_TMP/image.log" 2>&1
}

kl_cluster() {
    KL_API=$1
    KL_K=$T_TMP/kapi
    t_on_exit kapi_stop_all
    KAPI_EXEC="ip netns exec $(fab_name "$1")" kapi_start "$KL_K" --rbac --listen "$2" \
        --min-token-seconds "${KL_MIN_TOKEN_SECONDS:-600}" || return 1
    kc apply -f "$T_TOP/manifests/tabby.yaml" >"$T_TMP/apply.log" 2>&1 || return 1
    KL_SA=$T_TMP/sa
    KAPI_EXEC="ip netns exec $(fab_name "$1")" kp_sa "$KL_K" "$KL_SA" \
        "${KL_POD_TOKEN_SECONDS:-3607}"
}
kc() { fab_in "$KL_API" kubectl --kubeconfig "$KL_K/kubeconfig" --cache-dir "$KL_K.kcache" "$@"; }

kl_pod() {
    kp_pod "$1" "$T_TMP/$1" "$KL_SA" "$(kapi_url "$KL_K" | sed 's|^https://||; s|:[0-9]*$||')" \
        "$(kapi_port "$KL_K")" "${2:-}" "${3:-}"
}
kl_play() {
    local node=$1
    shift
    kp_play "$node" "$T_TMP/$node" "$@"
}
kl_ctr() { echo "tabby-node-$1-tabby-node"; }

kl_k8s_pod() {
    kc apply -f - >/dev/null <<EOF && fab_ns "$2" >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: "$2", namespace: "default", labels: {app: "$2"}}
spec: {nodeName: "$1", containers: [{name: "$2", image: "x"}]}
EOF
}

# The plugin install-cni installed, as containerd's CRI runs it (kp_cni).
kl_cni() {
    local node=$1 pod=$2 cid args uid
    uid=$(kc get pod -n default "$pod" -o jsonpath='{.metadata.uid}')
    cid=$(printf %s "$pod" | sha256sum | cut -c1-64)
    args="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$pod"
    args+=";K8S_POD_INFRA_CONTAINER_ID=$cid;K8S_POD_UID=$uid"
    kp_cni "$node" "$T_TMP/$node/host" "$3" "$cid" "/run/netns/$(fab_name "$pod")" "$args" \
        >"$T_TMP/cni.$pod.$3" 2>"$T_TMP/cni.$pod.$3.err"
}
