#!/usr/bin/env bash
# kube_play.sh — the DaemonSet's pod run by a real container runtime: the pod template of
# manifests/tabby.yaml itself (not a copy) becomes a Pod that `podman kube play` runs in a
# node's network namespace (hostNetwork: the namespace's links), from the image that
# tools/image.sh builds, on the Kubernetes datastore of the API server test double (RBAC
# on, the manifest applied with kubectl). What the kubelet would add is added and nothing
# else: the service account folder and KUBERNETES_SERVICE_HOST/PORT, spec.nodeName for the
# fieldRefs, the ConfigMap (podman's --configmap), and the node's own folders for the
# hostPath volumes (and podman's annotation keeping the init container). Then: install-cni puts the plugins, the conflist and the plugins'
# kubeconfig into the node's folders; tabby-node registers the node, starts BIRD and
# reports ready through the DaemonSet's own readiness probe; nothing it asked the API for
# was forbidden to its ServiceAccount.
#
# SKIP when podman, runc, catatonit, kubectl or python3-yaml is missing.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers_lib.sh"
. "$T_TOP/tests/k8s/kapi.sh"
t_begin kube_play
t_need_root
for tool in podman runc catatonit kubectl jq python3 nsenter; do
    command -v "$tool" >/dev/null || [ -x "/usr/libexec/podman/$tool" ] ||
        { skip kube_play "$tool is not installed"; t_end; }
done
python3 -c 'import yaml' 2>/dev/null || { skip kube_play "python3-yaml is not installed"; t_end; }

t_fabric "tkp$$"
fab_switch sw && fab_node n1 sw 10.61.0.1/24 || { fail setup "no node namespace"; t_end; }
NS=$(fab_name n1)
at() { fab_in n1 "$@"; }

# ---- the image, in this run's podman storage ----------------------------------------------
PM=$T_TMP/podman
ct_podman_conf "$PM"
export CONTAINERS_CONF=$PM/containers.conf CONTAINERS_STORAGE_CONF=$PM/storage.conf
pm() { nsenter --net="/run/netns/$NS" podman "$@"; }
podman_cleanup() {
    pm kube down "$T_TMP/pod.yaml" >/dev/null 2>&1
    pm rm -f -a -t 0 >/dev/null 2>&1
    pm pod rm -f -a >/dev/null 2>&1
    pm system reset -f >/dev/null 2>&1
    findmnt -rn -o TARGET | grep "^$T_TMP" | sort -r | xargs -r umount -l 2>/dev/null
}
t_on_exit podman_cleanup
version=$(sed -n 's/^AC_INIT(\[tabby\], \[\([^]]*\)\].*/\1/p' "$T_TOP/configure.ac")
if ! "$T_TOP/tools/image.sh" "$T_BUILD" >"$T_TMP/image.log" 2>&1; then
    fail kube_play "the image was not built: $(tail -3 "$T_TMP/image.log")"
    t_end
fi

# ---- the cluster: the API server in the node's namespace, the manifest applied ------------
K=$T_TMP/kapi
t_on_exit kapi_stop_all
KAPI_EXEC="ip netns exec $NS" kapi_start "$K" --rbac ||
    { fail kube_play "the API server test double did not start"; t_end; }
kc() { at kubectl --kubeconfig "$K/kubeconfig" --cache-dir "$K.kcache" "$@"; }
kc apply -f "$T_TOP/manifests/tabby.yaml" >"$T_TMP/apply.log" 2>&1 &&
    printf 'apiVersion: v1\nkind: Node\nmetadata: {name: "n1"}\n' | kc apply -f - >/dev/null &&
    printf 'apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata: {name: "pool"}\n%s\n' \
        'spec: {cidr: "10.62.0.0/16", blockSize: 26, ipipMode: Never, vxlanMode: Never}' |
    kc apply -f - >/dev/null ||
    { fail kube_play "setup: $(tail -3 "$T_TMP/apply.log")"; t_end; }
SA=$T_TMP/sa
KAPI_EXEC="ip netns exec $NS" kapi_sa_folder "$K" kube-system tabby-node "$SA" ||
    { fail kube_play "setup: no token for tabby-node"; t_end; }

# ---- the Pod: the DaemonSet's template as the kubelet would run it -----------------------
HOST=$T_TMP/host
mkdir -p "$HOST/lib/modules"  # the one hostPath the manifest expects to exist
python3 - "$T_TOP/manifests/tabby.yaml" "$T_TMP" "$HOST" "$SA" "$(kapi_port "$K")" <<'PY' ||
import sys, yaml
manifest, tmp, host, sa, port = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(manifest)) if d]
ds = next(d for d in docs if d["kind"] == "DaemonSet")
cm = next(d for d in docs if d["kind"] == "ConfigMap")
spec = ds["spec"]["template"]["spec"]
for v in spec["volumes"]:                  # the node's own folders
    if "hostPath" in v:
        v["hostPath"]["path"] = host + v["hostPath"]["path"]
spec["volumes"].append({"name": "sa", "hostPath": {"path": sa, "type": "Directory"}})
for c in spec["initContainers"] + spec["containers"]:
    for e in c.get("env", []):             # the kubelet resolves spec.nodeName
        ref = e.get("valueFrom", {}).get("fieldRef", {})
        if ref.get("fieldPath") == "spec.nodeName":
            e.pop("valueFrom")
            e["value"] = "n1"
    c.setdefault("env", []).extend([{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                                    {"name": "KUBERNETES_SERVICE_PORT", "value": port}])
    c.setdefault("volumeMounts", []).append(
        {"name": "sa", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
         "readOnly": True})
# podman 4.3 removes a "once" init container when it exits and races its own clean-up
# ("cannot remove container … as it is running"): keep it, as the kubelet does.
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "tabby-node-n1", "namespace": "kube-system",
                    "labels": ds["spec"]["template"]["metadata"]["labels"],
                    "annotations": {"io.podman.annotations.init.container.type": "always"}},
       "spec": spec}
yaml.safe_dump(pod, open(tmp + "/pod.yaml", "w"), sort_keys=False)
yaml.safe_dump(cm, open(tmp + "/configmap.yaml", "w"), sort_keys=False)
PY
    { fail kube_play "setup: cannot make the Pod from the DaemonSet"; t_end; }

# From the scratch folder: podman 4.3 builds an image from a folder of the image's name
# in its working folder (the build folder has a file tabby-node), whatever --build says.
if ! (cd "$T_TMP" && timeout 300 nsenter --net="/run/netns/$NS" podman kube play \
    --configmap "$T_TMP/configmap.yaml" "$T_TMP/pod.yaml" >"$T_TMP/play.log" 2>&1); then
    fail podman_kube_play_runs_the_daemonset_pod "$(tail -5 "$T_TMP/play.log")"
    t_end
fi
pass podman_kube_play_runs_the_daemonset_pod
CTR=tabby-node-n1-tabby-node

# ---- install-cni: into the node's folders ----------------------------------------------
BIN=$HOST/opt/cni/bin NET=$HOST/etc/cni/net.d
if t_wait 60 test -s "$NET/10-tabby.conflist" && [ -x "$BIN/tabby" ] && [ -x "$BIN/tabby-ipam" ]
then
    conf=$(jq -c '.plugins[0] | [.nodename, .mtu, .kubernetes.kubeconfig]' "$NET/10-tabby.conflist")
    who=$(kc --kubeconfig "$NET/tabby-kubeconfig" auth whoami \
        -o jsonpath='{.status.userInfo.username}' 2>&1)
    if [ "$conf" = '["n1",0,"/etc/cni/net.d/tabby-kubeconfig"]' ] &&
        [ "$who" = system:serviceaccount:kube-system:tabby-cni-plugin ]; then
        pass install_cni_fills_the_nodes_cni_folders
    else
        fail install_cni_fills_the_nodes_cni_folders "conflist: $conf, kubeconfig: $who"
    fi
else
    fail install_cni_fills_the_nodes_cni_folders "$(pm logs tabby-node-n1-install-cni 2>&1 |
        tail -3)"
fi

# ---- tabby-node: ready by the DaemonSet's own probe -------------------------------------
probe() { pm exec "$CTR" /usr/lib/tabby/probe ready; }
start=$(now_ms)
if t_wait 120 probe; then
    pass tabby_node_ready_by_its_readiness_probe
    echo "ready $(($(now_ms) - start)) ms after the pod was played"
else
    fail tabby_node_ready_by_its_readiness_probe "$(probe 2>&1 | tail -1); $(pm logs "$CTR" \
        2>&1 | grep -v 'BIRD configuration not applied' | tail -8)"
fi
ann=$(kc get node n1 -o jsonpath='{.metadata.annotations.projectcalico\.org/IPv4Address}')
status=$(pm exec "$CTR" birdcl -s /var/run/tabby/bird.ctl show status 2>&1 | grep -c 'Router ID is 10.61.0.1')
if [ "$ann" = 10.61.0.1/24 ] && [ "$status" = 1 ] && pm exec "$CTR" /usr/lib/tabby/probe live; then
    pass node_registered_and_bird_driven
else
    fail node_registered_and_bird_driven "annotation: $ann, BIRD: $status"
fi
# Only the node's namespace was programmed: the table is there, in n1.
if at nft list table inet tabby >/dev/null 2>&1; then
    pass dataplane_in_the_nodes_namespace
else
    fail dataplane_in_the_nodes_namespace "no table inet tabby in $NS"
fi

# ---- least privilege: nothing tabby-node asked for was forbidden ------------------------
forbidden=$(at curl -sS --cacert "$K/ca.crt" -H "Authorization: Bearer $(cat "$K/admin.token")" \
    "$(kapi_url "$K")/_test/requests" | jq -r '[.requests[] |
    select((.user // "" | startswith("system:serviceaccount:kube-system:")) and .status == 403)
    | "\(.user) \(.verb) \(.path)"] | unique | join("; ")')
if [ -z "$forbidden" ]; then
    pass nothing_forbidden_to_tabby_node
else
    fail nothing_forbidden_to_tabby_node "$forbidden"
fi
t_end
