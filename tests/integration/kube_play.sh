#!/usr/bin/env bash
# kube_play.sh — the DaemonSet's pod run by a real container runtime: the pod template of
# manifests/tabby.yaml itself (not a copy) becomes a Pod that `podman kube play` runs in a
# node's network namespace (hostNetwork: the namespace's links), from the image that
# tools/image.sh builds, on the Kubernetes datastore of the API server test double (RBAC
# on, the manifest applied with kubectl). What the kubelet would add is added and nothing
# else: the service account folder and KUBERNETES_SERVICE_HOST/PORT, spec.nodeName for the
# fieldRefs, the ConfigMap (podman's --configmap), and the node's own folders for the
# hostPath volumes (and podman's annotation keeping the init container). Then: install-cni
# puts the plugins, the conflist and the plugins' kubeconfig into the node's folders;
# tabby-node registers the node, starts BIRD and reports ready through the DaemonSet's own
# readiness probe; a pod is wired by the installed plugin through the installed conflist
# and kubeconfig; nothing either ServiceAccount asked the API for was forbidden (the rules
# this run did not exercise are listed).
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
    conf=$(jq -c '.plugins[0] | [.nodename, .mtu, .kubernetes.kubeconfig]' \
        "$NET/10-tabby.conflist")
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
status=$(pm exec "$CTR" birdcl -s /var/run/tabby/bird.ctl show status 2>&1 |
    grep -c 'Router ID is 10.61.0.1')
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

# ---- a pod through what install-cni installed ------------------------------------------
# The plugin runs as containerd's CRI runs it: from the node's /opt/cni/bin with the
# node's /etc/cni/net.d/10-tabby.conflist (its first plugin, with the list's name and
# version) and so the kubeconfig install-cni wrote there, seen through a private mount
# namespace in which the node's folders are mounted at those paths (its IPAM lock file too
# is the node's: TABBY_IPAM_LOCK_FILE, not the machine's /var/run/tabby).
kc apply -f - >/dev/null <<EOF || fail setup "cannot create the pod"
apiVersion: v1
kind: Pod
metadata: {name: "web", namespace: "default", labels: {app: "web"}}
spec: {nodeName: "n1", containers: [{name: "web", image: "x"}]}
EOF
fab_ns p1 >/dev/null || fail setup "no pod namespace"
uid=$(kc get pod -n default web -o jsonpath='{.metadata.uid}')
cid=$(printf 'c%.0s' $(seq 64))
args="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web"
args+=";K8S_POD_INFRA_CONTAINER_ID=$cid;K8S_POD_UID=$uid"
# cni COMMAND: the installed plugin for pod default/web; its answer in $T_TMP/cni.COMMAND.
cni() {
    at unshare -m bash -c '
        mount -t tmpfs kube-play /opt && mkdir -p /opt/cni/bin &&
            mount --bind "$1/opt/cni/bin" /opt/cni/bin &&
            mount --bind "$1/etc/cni/net.d" /etc/cni/net.d || exit 99
        jq -c ".plugins[0] + {name, cniVersion}" /etc/cni/net.d/10-tabby.conflist |
            TABBY_IPAM_LOCK_FILE=$1/ipam.lock \
            CNI_COMMAND=$2 CNI_CONTAINERID=$3 CNI_NETNS=$4 CNI_IFNAME=eth0 \
            CNI_PATH=/opt/cni/bin CNI_ARGS="$5" /opt/cni/bin/tabby' \
        cni "$HOST" "$1" "$cid" "/run/netns/$(fab_name p1)" "$args" \
        >"$T_TMP/cni.$1" 2>"$T_TMP/cni.$1.err"
}
pod_ip() {
    kc get pod -n default web -o jsonpath='{.metadata.annotations.cni\.projectcalico\.org/podIP}'
}
if [ ! -d /etc/cni/net.d ]; then
    skip pod_wired_through_the_installed_conflist "/etc/cni/net.d does not exist to mount over"
elif cni ADD; then
    ip=$(jq -r '.ips[0].address' "$T_TMP/cni.ADD" 2>/dev/null)
    ann=$(pod_ip)
    if [[ $ip == 10.62.* ]] && [ "$ann" = "$ip" ] && fab_in p1 ip -4 -o addr show dev eth0 |
        grep -q "${ip%/*}" && cni DEL &&
        [ -z "$(pod_ip)" ]
    then
        pass pod_wired_through_the_installed_conflist
    else
        fail pod_wired_through_the_installed_conflist "ADD: $ip, annotation: $ann, DEL: \
$(tail -2 "$T_TMP/cni.DEL" 2>/dev/null)"
    fi
else
    fail pod_wired_through_the_installed_conflist "ADD: $(cat "$T_TMP/cni.ADD") \
$(tail -3 "$T_TMP/cni.ADD.err")"
fi

# ---- least privilege: nothing asked for was forbidden; which rules this run used ----------
# Requests end up in /_test/requests when they end; watches still open are in /_test/watches.
for what in requests watches; do
    at curl -sS --cacert "$K/ca.crt" -H "Authorization: Bearer $(cat "$K/admin.token")" \
        "$(kapi_url "$K")/_test/$what" >"$T_TMP/$what.json"
done
python3 - "$T_TOP/manifests/tabby.yaml" "$T_TMP/requests.json" "$T_TMP/watches.json" \
    >"$T_TMP/rbac" <<'PY'
import json, sys, yaml
roles = {d["metadata"]["name"]: d["rules"] for d in yaml.safe_load_all(open(sys.argv[1]))
         if d and d["kind"] == "ClusterRole"}
reqs = [dict(r, verb="watch" if r.get("watch") else r["verb"])
        for r in json.load(open(sys.argv[2]))["requests"]]
w = json.load(open(sys.argv[3]))
reqs += [{"verb": "watch", "path": x["path"], "user": x["user"], "status": 200}
         for x in (w.get("watches", []) if isinstance(w, dict) else w)]
def parse(path):
    seg = [s for s in path.split("?")[0].split("/") if s]
    if seg[:2] == ["api", "v1"]:
        group, seg = "", seg[2:]
    elif seg[:1] == ["apis"] and len(seg) >= 3:
        group, seg = seg[1], seg[3:]
    else:
        return None
    if seg[:1] == ["watch"]:
        seg = seg[1:]
    if len(seg) > 2 and seg[0] == "namespaces":
        seg = seg[2:]
    return group, seg[0] + ("/" + seg[2] if len(seg) > 2 else "")
for account, rules in roles.items():
    user = "system:serviceaccount:kube-system:" + account
    mine = [(r["verb"], parse(r["path"]), r["status"]) for r in reqs if r["user"] == user]
    for verb, what, status in mine:
        if status == 403:
            print(f"FORBIDDEN {account} {verb} {what}")
    unused = []
    for rule in rules:
        for g in rule["apiGroups"]:
            for res in rule["resources"]:
                for v in rule["verbs"]:
                    if not any(w == (g, res) and vb == v for vb, w, _ in mine):
                        unused.append(f"{v} {res}{'.' + g if g else ''}")
    print(f"UNUSED {account}: {', '.join(unused) or 'none'}")
PY
grep '^UNUSED' "$T_TMP/rbac" | sed 's/^UNUSED/rules not exercised by this run:/'
if [ -s "$T_TMP/rbac" ] && ! grep -q '^FORBIDDEN' "$T_TMP/rbac"; then
    pass nothing_forbidden_to_either_account
else
    fail nothing_forbidden_to_either_account "$(grep '^FORBIDDEN' "$T_TMP/rbac" | tr '\n' ';')"
fi
t_end
