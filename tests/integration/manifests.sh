#!/usr/bin/env bash
# manifests.sh — manifests/tabby.yaml (Kubernetes datastore) and tabby-etcd.yaml (etcd):
# generated from manifests/src/tabby.yaml.in and crds.yaml and up to date; the DaemonSet is
# what the issue asks (host network, system-node-critical, every taint tolerated,
# privileged, one node at a time, install-cni first, NODENAME from spec.nodeName, exec
# probes, the image of this version); `kubectl apply -f` takes each whole against the API
# server test double (a second apply changes nothing); with RBAC on, the ServiceAccounts
# may do what their ClusterRoles say and nothing broader (kubectl auth can-i). In both,
# the file tabby-node writes its node name to (CALICO_NODENAME_FILE) is on a hostPath, and
# the conflist's nodename_file names it as the host sees it.
set -u
. "$(dirname "$0")/lib.sh"
. "$T_TOP/tests/k8s/kapi.sh"
t_begin manifests
for tool in python3 kubectl jq; do
    command -v "$tool" >/dev/null || { skip manifests "$tool is not installed"; t_end; }
done
M=$T_TOP/manifests
if "$T_TOP/tools/manifests.sh" --check >"$T_TMP/check" 2>&1; then
    pass generated_files_up_to_date
else
    fail generated_files_up_to_date "$(cat "$T_TMP/check")"
fi

# The DaemonSet's pod template, as JSON.
python3 - "$M/tabby.yaml" >"$T_TMP/ds.json" <<'PY' || { fail setup "no DaemonSet"; t_end; }
import json, sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "DaemonSet":
        print(json.dumps(d))
PY
version=$(sed -n 's/^AC_INIT(\[tabby\], \[\([^]]*\)\].*/\1/p' "$T_TOP/configure.ac")
got=$(jq -r --arg v "localhost/tabby-node:$version" '[
    .spec.updateStrategy.rollingUpdate.maxUnavailable == 1,
    .spec.template.spec.hostNetwork == true,
    .spec.template.spec.priorityClassName == "system-node-critical",
    ([.spec.template.spec.tolerations[] | select(.operator == "Exists" and (.key == null))
      | .effect] | sort == ["NoExecute", "NoSchedule"]),
    .spec.template.spec.serviceAccountName == "tabby-node",
    .spec.template.spec.initContainers[0].command == ["tabby-node", "install-cni"],
    ([.spec.template.spec.initContainers[], .spec.template.spec.containers[]] |
      all(.securityContext.privileged == true and .image == $v)),
    (.spec.template.spec.containers[0].env[] | select(.name == "NODENAME")
      | .valueFrom.fieldRef.fieldPath == "spec.nodeName"),
    (.spec.template.spec.containers[0].env[] | select(.name == "DATASTORE_TYPE")
      | .value == "kubernetes"),
    ([.spec.template.spec.containers[0].env[] | select(.name | test("^(FELIX|CALICO_IPV[46]POOL)_"))
      | "\(.name)=\(.value)"] == ["CALICO_IPV4POOL_IPIP=Never", "CALICO_IPV4POOL_VXLAN=Never",
      "CALICO_IPV6POOL_CIDR=none", "FELIX_DEFAULTENDPOINTTOHOSTACTION=ACCEPT",
      "FELIX_HEALTHENABLED=true"]),
    .spec.template.spec.containers[0].livenessProbe.exec.command[0] == "/usr/lib/tabby/probe",
    .spec.template.spec.containers[0].readinessProbe.exec.command[1] == "ready",
    ([.spec.template.spec.volumes[].hostPath.path] | sort ==
      ["/etc/cni/net.d", "/lib/modules", "/opt/cni/bin", "/var/lib/tabby", "/var/run/tabby"])
    ] | map(tostring) | join(" ")' "$T_TMP/ds.json")
if [ "$got" = "$(printf 'true %.0s' $(seq 13) | sed 's/ $//')" ]; then
    pass daemonset_as_calico_node
else
    fail daemonset_as_calico_node "checks: $got"
fi

# ---- the nodename file: tabby-node's, on the host, where the plugins read it ----------
# Prints, per manifest, the host's path of tabby-node's CALICO_NODENAME_FILE (through its
# hostPath volume: "" when it is in no such volume) and the conflist's nodename_file.
nodename_paths() {
    python3 - "$1" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ds = next(d for d in docs if d["kind"] == "DaemonSet")["spec"]["template"]["spec"]
cm = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["cni_network_config"]
node = next(c for c in ds["containers"] if c["name"] == "tabby-node")
file = next((e.get("value") for e in node["env"] if e["name"] == "CALICO_NODENAME_FILE"), "")
vols = {v["name"]: v for v in ds["volumes"]}
host = ""
for m in node.get("volumeMounts", []):
    hp = vols[m["name"]].get("hostPath")
    if hp and file.startswith(m["mountPath"].rstrip("/") + "/") and not m.get("readOnly"):
        host = hp["path"].rstrip("/") + file[len(m["mountPath"].rstrip("/")):]
conf = json.loads(cm.replace("__CNI_MTU__", "0"))
print(host or "-", conf["plugins"][0].get("nodename_file", "-"))
PY
}
got=$(for f in tabby.yaml tabby-etcd.yaml; do nodename_paths "$M/$f"; done | tr '\n' ' ')
if [ "$got" = "/var/lib/tabby/nodename /var/lib/tabby/nodename \
/var/lib/tabby/nodename /var/lib/tabby/nodename " ]; then
    pass nodename_file_on_a_hostpath_named_in_the_conflist
else
    fail nodename_file_on_a_hostpath_named_in_the_conflist "host path, nodename_file: $got"
fi

# ---- kubectl apply against the API server test double, with RBAC on --------------------
K=$T_TMP/kapi
t_on_exit kapi_stop_all
kapi_start "$K" --rbac || { fail manifests "the API server test double did not start"; t_end; }
k() { kapi_kubectl "$K" "$@"; }
if k apply -f "$M/tabby.yaml" >"$T_TMP/apply1" 2>&1 &&
    [ "$(k get crd -o name | grep -c projectcalico.org)" = 17 ] &&
    k get ds -n kube-system tabby-node >/dev/null 2>&1 &&
    k apply -f "$M/tabby.yaml" >"$T_TMP/apply2" 2>&1 &&
    [ "$(grep -vc ' unchanged$' "$T_TMP/apply2")" = 0 ]; then
    pass kubectl_applies_tabby_yaml_idempotently
else
    fail kubectl_applies_tabby_yaml_idempotently "$(tail -3 "$T_TMP/apply1" "$T_TMP/apply2")"
fi
# can SA VERB RESOURCE [NAME]: kubectl auth can-i as that ServiceAccount of kube-system.
can() { k auth can-i --as "system:serviceaccount:kube-system:$1" "${@:2}" 2>/dev/null; }
answers=$(for q in "tabby-node create serviceaccounts/tabby-cni-plugin --subresource=token" \
    "tabby-node create serviceaccounts/tabby-node --subresource=token" \
    "tabby-node watch pods" "tabby-node update nodes --subresource=status" \
    "tabby-node update nodes" "tabby-node delete pods" "tabby-node get secrets" \
    "tabby-node create ipamblocks.crd.projectcalico.org" \
    "tabby-node create ippools.crd.projectcalico.org" \
    "tabby-cni-plugin patch pods --subresource=status" "tabby-cni-plugin get pods" \
    "tabby-cni-plugin list pods" "tabby-cni-plugin update ipamhandles.crd.projectcalico.org" \
    "tabby-cni-plugin create serviceaccounts/tabby-cni-plugin --subresource=token" \
    "tabby-node get configmaps/kubeadm-config -n kube-system" \
    "tabby-node get configmaps/tabby-config -n kube-system" \
    "tabby-node get configmaps/kubeadm-config -n default"; do
    # shellcheck disable=SC2086
    can $q; done | tr '\n' ' ')
if [ "$answers" = "yes no yes yes no no no yes yes yes yes no yes no yes no no " ]; then
    pass cluster_roles_grant_what_they_say_and_no_more
else
    fail cluster_roles_grant_what_they_say_and_no_more "answers: $answers"
fi

K2=$T_TMP/kapi2
kapi_start "$K2" || { fail manifests "the second API server did not start"; t_end; }
if kapi_kubectl "$K2" apply -f "$M/tabby-etcd.yaml" >"$T_TMP/apply3" 2>&1 &&
    [ "$(kapi_kubectl "$K2" get crd -o name | grep -c projectcalico.org)" = 0 ] &&
    [ "$(kapi_kubectl "$K2" get ds -n kube-system tabby-node \
        -o jsonpath='{.spec.template.spec.containers[0].env[0].value}')" = etcdv3 ] &&
    kapi_kubectl "$K2" get secret -n kube-system tabby-etcd-secrets >/dev/null 2>&1 &&
    # etcd's TLS files as calico-etcd.yaml has them: the Secret mounted (0400) in both
    # containers, the variables from the ConfigMap, the placeholders in the conflist
    [ "$(kapi_kubectl "$K2" get ds -n kube-system tabby-node -o json | jq -c '.spec.template.spec |
        [(.volumes[] | select(.name == "etcd-certs") | .secret | [.secretName, .defaultMode]),
         ([.initContainers[0], .containers[0]] | map(.volumeMounts[] |
             select(.name == "etcd-certs") | .mountPath)),
         (.containers[0].env | map(select(.name | startswith("ETCD_")) |
             .valueFrom.configMapKeyRef.key))]')" = \
        '[["tabby-etcd-secrets",256],["/calico-secrets","/calico-secrets"],["etcd_endpoints","etcd_ca","etcd_cert","etcd_key"]]' ] &&
    [ "$(kapi_kubectl "$K2" get cm -n kube-system tabby-config -o jsonpath='{.data.cni_network_config}' |
        grep -c '__ETCD_\(CA_CERT\|CERT\|KEY\)_FILE__')" = 3 ]; then
    pass kubectl_applies_tabby_etcd_yaml
else
    fail kubectl_applies_tabby_etcd_yaml "$(tail -3 "$T_TMP/apply3")"
fi
t_end
