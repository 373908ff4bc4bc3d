# kube_lib.sh — the DaemonSet's pod of manifests/tabby.yaml run by a real container runtime
# (podman kube play) in lab nodes' network namespaces, on the API server test double.
# Source after lib.sh, containers_lib.sh and tests/k8s/kapi.sh, once t_fabric has run.
# What the kubelet would add is added and nothing else: the service account folder and
# KUBERNETES_SERVICE_HOST/PORT, spec.nodeName for the fieldRefs, the ConfigMap (podman's
# --configmap), and the node's own folders for the hostPath volumes (and podman's
# annotation keeping the init container).
#
#   kl_podman                     this run's podman configuration and storage, all of it
#                                 removed on exit
#   kl_pm NODE ARGS…              podman in NODE's network namespace (nsenter --net: `ip
#                                 netns exec` mounts a fresh /sys, which hides the cgroups)
#   kl_image [IMAGE.SH ARGS…]     tools/image.sh into this run's storage (log: image.log)
#   kl_cluster NODE LISTEN        the API server test double with RBAC in NODE's namespace,
#                                 listening on LISTEN (ADDR:0), the manifest applied, a
#                                 token for tabby-node (KL_SA); kc is kubectl as its admin
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

kl_podman() {
    KL_PM=$T_TMP/podman
    ct_podman_conf "$KL_PM"
    export CONTAINERS_CONF=$KL_PM/containers.conf CONTAINERS_STORAGE_CONF=$KL_PM/storage.conf
    t_on_exit kl_podman_cleanup
}
kl_pm() {
    local node=$1
    shift
    nsenter --net="/run/netns/$(fab_name "$node")" podman "$@"
}
kl_podman_cleanup() {
    local pod
    for pod in "$T_TMP"/*/pod.yaml; do
        [ -f "$pod" ] && podman kube down "$pod" >/dev/null 2>&1
    done
    podman rm -f -a -t 0 >/dev/null 2>&1
    podman pod rm -f -a >/dev/null 2>&1
    podman system reset -f >/dev/null 2>&1
    findmnt -rn -o TARGET | grep "^$T_TMP" | sort -r | xargs -r umount -l 2>/dev/null
}

kl_image() { "$T_TOP/tools/image.sh" "$T_BUILD" "$@" >"$T_TMP/image.log" 2>&1; }

kl_cluster() {
    KL_API=$1
    KL_K=$T_TMP/kapi
    t_on_exit kapi_stop_all
    KAPI_EXEC="ip netns exec $(fab_name "$1")" kapi_start "$KL_K" --rbac --listen "$2" ||
        return 1
    kc apply -f "$T_TOP/manifests/tabby.yaml" >"$T_TMP/apply.log" 2>&1 || return 1
    KL_SA=$T_TMP/sa
    KAPI_EXEC="ip netns exec $(fab_name "$1")" kapi_sa_folder "$KL_K" kube-system tabby-node \
        "$KL_SA"
}
kc() { fab_in "$KL_API" kubectl --kubeconfig "$KL_K/kubeconfig" --cache-dir "$KL_K.kcache" "$@"; }

kl_pod() {
    local node=$1 dir=$T_TMP/$1 host
    host=$(kapi_url "$KL_K")
    host=${host#https://}
    mkdir -p "$dir/host/lib/modules" # the one hostPath the manifest expects to exist
    python3 - "$T_TOP/manifests/tabby.yaml" "$dir" "$KL_SA" "$node" "${host%:*}" \
        "$(kapi_port "$KL_K")" "${2:-}" "${3:-}" <<'PY'
import sys, yaml
manifest, dir, sa, node, api_host, port, image, backend = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(manifest)) if d]
ds = next(d for d in docs if d["kind"] == "DaemonSet")
cm = next(d for d in docs if d["kind"] == "ConfigMap")
if backend:
    cm["data"]["tabby_backend"] = backend
spec = ds["spec"]["template"]["spec"]
for v in spec["volumes"]:                  # the node's own folders
    if "hostPath" in v:
        v["hostPath"]["path"] = dir + "/host" + v["hostPath"]["path"]
spec["volumes"].append({"name": "sa", "hostPath": {"path": sa, "type": "Directory"}})
for c in spec["initContainers"] + spec["containers"]:
    if image:
        c["image"] = image
    for e in c.get("env", []):             # the kubelet resolves spec.nodeName
        ref = e.get("valueFrom", {}).get("fieldRef", {})
        if ref.get("fieldPath") == "spec.nodeName":
            e.pop("valueFrom")
            e["value"] = node
    c.setdefault("env", []).extend([{"name": "KUBERNETES_SERVICE_HOST", "value": api_host},
                                    {"name": "KUBERNETES_SERVICE_PORT", "value": port}])
    c.setdefault("volumeMounts", []).append(
        {"name": "sa", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
         "readOnly": True})
# podman 4.3 removes a "once" init container when it exits and races its own clean-up
# ("cannot remove container … as it is running"): keep it, as the kubelet does.
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "tabby-node-" + node, "namespace": "kube-system",
                    "labels": ds["spec"]["template"]["metadata"]["labels"],
                    "annotations": {"io.podman.annotations.init.container.type": "always"}},
       "spec": spec}
yaml.safe_dump(pod, open(dir + "/pod.yaml", "w"), sort_keys=False)
yaml.safe_dump(cm, open(dir + "/configmap.yaml", "w"), sort_keys=False)
PY
}

# From the scratch folder: podman 4.3 builds an image from a folder of the image's name
# in its working folder (the build folder has a file tabby-node), whatever --build says.
kl_play() {
    local node=$1 dir=$T_TMP/$1
    shift
    (cd "$T_TMP" && timeout 300 nsenter --net="/run/netns/$(fab_name "$node")" podman kube \
        play "$@" --configmap "$dir/configmap.yaml" "$dir/pod.yaml" >"$dir/play.log" 2>&1)
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

# The plugin runs as containerd's CRI runs it: from the node's /opt/cni/bin with the
# node's /etc/cni/net.d/10-tabby.conflist (its first plugin, with the list's name and
# version) and so the kubeconfig install-cni wrote there, seen through a private mount
# namespace in which the node's folders are mounted at those paths (its IPAM lock file too
# is the node's: TABBY_IPAM_LOCK_FILE, not the machine's /var/run/tabby).
kl_cni() {
    local node=$1 pod=$2 cid args uid
    uid=$(kc get pod -n default "$pod" -o jsonpath='{.metadata.uid}')
    cid=$(printf %s "$pod" | sha256sum | cut -c1-64)
    args="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$pod"
    args+=";K8S_POD_INFRA_CONTAINER_ID=$cid;K8S_POD_UID=$uid"
    fab_in "$node" unshare -m bash -c '
        mount -t tmpfs kube-play /opt && mkdir -p /opt/cni/bin &&
            mount --bind "$1/opt/cni/bin" /opt/cni/bin &&
            mount --bind "$1/etc/cni/net.d" /etc/cni/net.d || exit 99
        jq -c ".plugins[0] + {name, cniVersion}" /etc/cni/net.d/10-tabby.conflist |
            TABBY_IPAM_LOCK_FILE=$1/ipam.lock \
            CNI_COMMAND=$2 CNI_CONTAINERID=$3 CNI_NETNS=$4 CNI_IFNAME=eth0 \
            CNI_PATH=/opt/cni/bin CNI_ARGS="$5" /opt/cni/bin/tabby' \
        cni "$T_TMP/$node/host" "$3" "$cid" "/run/netns/$(fab_name "$pod")" "$args" \
        >"$T_TMP/cni.$pod.$3" 2>"$T_TMP/cni.$pod.$3.err"
}
