#!/usr/bin/env bash
# cri_containerd.sh — pods made by a real Kubernetes runtime: containerd's CRI plugin, driven
# over its gRPC API as the kubelet drives it (RunPodSandbox, PodSandboxStatus,
# StopPodSandbox, RemovePodSandbox with the pod's name, namespace and uid), runs tabby's
# CNI plugin itself with Kubernetes' CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME,
# K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID) on ADD and on DEL. Checked: the pod's
# WorkloadEndpoint (its namespace, pod, labels from the Pod in the Kubernetes API, the
# sandbox's id as container), an address from the pool that the runtime reports back, the
# pod's end of the veth inside the sandbox's network namespace and the node reaching it;
# stopping the sandbox runs DEL, which names the pod too and leaves nothing; a sandbox
# whose uid is not the Pod's is refused and leaves nothing; four sandboxes asked for at
# once get four addresses, and stopped at once leave nothing.
#
# containerd runs as its own instance (state, sockets and the sandboxes' network
# namespaces under the scratch folder, the CNI folders of this run) in a private mount
# namespace inside the node's network namespace; the plugin reads the Pod from the API
# server test double there, the endpoint goes to sqlite. The pause image is made here from
# busybox-static. The client is tests/integration/cri_client.py (python3-grpcio), its code
# generated at run time with grpc_tools (python3-grpc-tools) from the cri-api proto in the
# vendor tree of Debian's containerd source package (debsrc_lib.sh), kept in the build
# folder (tests/cri-api). SKIP, saying why, when a piece is missing.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers_lib.sh"
. "$(dirname "$0")/cni_lib.sh"
. "$(dirname "$0")/debsrc_lib.sh"
. "$T_TOP/tests/k8s/kapi.sh"

CASE=cri_sandbox_gets_a_kubernetes_pods_network
PY=/usr/bin/python3    # Debian's, which has python3-grpcio (not a pyenv shim)
cni_begin cri_containerd
cni_need "$CASE" "containerd, runc, busybox-static, jq, kubectl" containerd \
    containerd-shim-runc-v2 runc jq kubectl nsenter unshare
cni_need_busybox "$CASE"
if ! "$PY" -c 'import grpc, grpc_tools.protoc' 2>/dev/null; then
    skip "$CASE" "$PY cannot import grpc and grpc_tools (Debian packages python3-grpcio, python3-grpc-tools)"
    t_end
fi

# The CRI's proto (runtime.v1, which containerd 1.6 serves beside v1alpha2) from Debian's
# containerd source, without its gogoproto options (Go-only), compiled for Python.
API=$T_BUILD/tests/cri-api
cri_api() {
    local orig proto=vendor/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto
    [ -s "$API/gen/api_pb2_grpc.py" ] && return 0
    if [ -z "$(ls "$API"/src/containerd_*.orig.tar.* 2>/dev/null)" ]; then
        deb_source containerd "$API" || return 1
    fi
    orig=$(ls "$API"/src/containerd_*.orig.tar.* | head -1)
    rm -rf "$API/gen" && mkdir -p "$API/gen"
    if ! tar -xOf "$orig" --wildcards "*/$proto" >"$API/gen/full.proto" 2>"$API/gen.log"; then
        WHY="the containerd source package has no $proto"
        return 1
    fi
    sed -e '/gogo\.proto/d' -e '/(gogoproto\./d' "$API/gen/full.proto" >"$API/gen/api.proto"
    if ! (cd "$API/gen" && "$PY" -m grpc_tools.protoc -I. --python_out=. \
        --grpc_python_out=. api.proto) >>"$API/gen.log" 2>&1; then
        WHY="grpc_tools.protoc failed on $proto: $(tail -2 "$API/gen.log" | tr '\n' ' ')"
        rm -f "$API/gen/api_pb2_grpc.py"
        return 1
    fi
}
cri_api || { skip "$CASE" "$WHY"; t_end; }

# The API server test double in the node, and the pod's Namespace and Pod there.
K=$T_TMP/kapi
t_on_exit kapi_stop_all
KAPI_EXEC="ip netns exec $(fab_name "$NODE")" kapi_start "$K" ||
    { fail "$CASE" "the API server test double did not start"; t_end; }
kc() { at "$NODE" kubectl --kubeconfig "$K/kubeconfig" --cache-dir "$K.kcache" "$@"; }
kc apply -f - >/dev/null <<'EOF' || { fail "$CASE" "kubectl apply of the pod"; t_end; }
apiVersion: v1
kind: Namespace
metadata: {name: "shop", labels: {team: "ops"}}
---
apiVersion: v1
kind: Pod
metadata: {name: "web", namespace: "shop", labels: {app: "web"}}
spec:
  nodeName: "node-1"
  containers: [{name: "main", image: "busybox"}]
EOF
UID_WEB=$(kc get pod -n shop web -o jsonpath='{.metadata.uid}')

# Calico's network list with tabby's types (as install-cni writes it), the sqlite store.
CD=$T_TMP/cd
mkdir -p "$CD/netd"
jq -n --arg store "$STORE" --arg kc "$K/kubeconfig" '{name: "k8s-pod-network",
    cniVersion: "1.0.0", plugins: [{type: "tabby", log_level: "debug",
    datastore_type: "kubernetes", datastore: $store, nodename: "node-1", mtu: 0,
    ipam: {type: "tabby-ipam"}, policy: {type: "k8s"}, kubernetes: {kubeconfig: $kc}}]}' \
    >"$CD/netd/10-tabby.conflist"
# The runtime's plugin folder: CNI_BIN's, tabby behind a wrapper that records each call's
# command and CNI_ARGS (the environment is all a plugin is told) in $CD/calls.
mkdir -p "$CD/bin"
for p in "$CNI_BIN"/*; do ln -s "$(readlink -f "$p")" "$CD/bin/"; done
rm "$CD/bin/tabby"
printf '#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID $CNI_ARGS" >>%s\nexec %s "$@"\n' \
    "$CD/calls" "$TABBY" >"$CD/bin/tabby"
chmod +x "$CD/bin/tabby"
ct_containerd_cri_conf "$CD" "$CD/bin" "$CD/netd" localhost/tabby-pause:1
ct_busybox_image "$CD" localhost/tabby-pause:1 '["/bin/sleep","2147483647"]'

# containerd in the node, in a mount namespace of its own (its mounts go with it; libcni's
# result cache there is a tmpfs). unshare and nsenter exec, so $! is containerd's pid; the
# plugin's standard error (its debug log) lands in containerd.log.
# (`ip netns exec` would mount a fresh /sys and hide the cgroups runc needs.)
nsenter --net="/run/netns/$(fab_name "$NODE")" unshare -m --propagation private \
    sh -c 'mkdir -p /var/lib/cni && mount -t tmpfs tabby-test /var/lib/cni &&
        exec containerd --config "$1/config.toml"' sh "$CD" >"$CD/containerd.log" 2>&1 &
CDPID=$!
# in_cd CMD…: CMD in containerd's mount and network namespaces.
in_cd() { nsenter -t "$CDPID" -m -n "$@"; }
cri() { in_cd "$PY" "$T_TOP/tests/integration/cri_client.py" --socket "$CD/containerd.sock" \
    --api "$API/gen" "$@"; }
# On exit, before the node and what runs there go: every sandbox stopped and removed
# through containerd, so that no pause process outlives the test.
t_on_exit_first 'kill -0 "$CDPID" 2>/dev/null && cri clean 2>/dev/null; kill "$CDPID" 2>/dev/null'
if ! t_wait 60 cri version; then
    fail "$CASE" "containerd's CRI does not answer: $(tail -5 "$CD/containerd.log")"
    t_end
fi
if ! in_cd ctr --address "$CD/containerd.sock" -n k8s.io images import "$CD/image.tar" \
    >"$CD/import.log" 2>&1; then
    fail "$CASE" "ctr images import of the pause image: $(tail -2 "$CD/import.log")"
    t_end
fi

wep() { ctl get wep -n shop -o json 2>/dev/null | jq -c '.items[]? // .'; }
# kube_args COMMAND ID UID: true when every call COMMAND of the plugin for sandbox ID
# (one at least) had Kubernetes' CNI_ARGS for shop/web with that uid; WHY says otherwise.
kube_args() {
    local calls line key
    calls=$(grep "^$1 $2 " "$CD/calls" 2>/dev/null)
    WHY="$1 for $2 called with: ${calls:-nothing}"
    [ -n "$calls" ] || return 1
    while read -r line; do
        for key in K8S_POD_NAMESPACE=shop K8S_POD_NAME=web K8S_POD_INFRA_CONTAINER_ID=$2 \
            K8S_POD_UID=$3; do
            [[ ";${line##* };" == *";$key;"* ]] || return 1
        done
    done <<<"$calls"
}

# all_gone: no sandbox, and nothing of a pod left on the node or in the datastore (WHY).
all_gone() {
    local left
    left=$(cri list | tr '\n' ' ')
    nothing_left || return 1
    WHY="sandboxes left: $left"
    [ -z "$left" ]
}

test_sandbox_gets_a_kubernetes_pods_network() {
    local w got want ip inside veth
    if ! SID=$(cri run shop web "$UID_WEB" 2>"$T_TMP/run.err"); then
        fail "$CASE" "RunPodSandbox: $(cat "$T_TMP/run.err")"
        return 1
    fi
    STATUS=$(cri status "$SID")
    w=$(wep)
    ip=$(jq -r .ip <<<"$STATUS")
    got=$(jq -c '[.metadata.namespace, .metadata.labels, .spec.pod, .spec.containerID,
        .spec.ipNetworks, .spec.profiles]' <<<"$w")
    want=$(jq -nc --arg sid "$SID" --arg ip "$ip/32" '["shop", {"app": "web",
        "projectcalico.org/namespace": "shop", "projectcalico.org/orchestrator": "k8s",
        "projectcalico.org/serviceaccount": "default"}, "web", $sid, [$ip],
        ["kns.shop", "ksa.shop.default"]]')
    veth=$(jq -r .spec.interfaceName <<<"$w")
    inside=$(in_cd nsenter --net="$(jq -r .netns <<<"$STATUS")" ip -o -4 addr show eth0 2>&1)
    if ! kube_args ADD "$SID" "$UID_WEB"; then
        fail "$CASE" "$WHY"
    elif [[ $ip != 10.10.* ]]; then
        fail "$CASE" "the runtime reports no pool address: $STATUS"
    elif [ "$(jq -S -c . <<<"$got")" != "$(jq -S -c . <<<"$want")" ]; then
        fail "$CASE" "endpoint $got, want $want"
    elif ! ctl ipam show --ip="$ip" | grep -q 'is in use'; then
        fail "$CASE" "IPAM does not hold $ip: $(ctl ipam show --ip="$ip")"
    elif [[ $inside != *" inet $ip/32 "* ]]; then
        fail "$CASE" "the sandbox's netns has not $ip on eth0: $inside"
    elif ! at "$NODE" ip -o link show "$veth" >/dev/null 2>&1; then
        fail "$CASE" "no host side $veth in the node"
    elif ! pod_ping "$NODE" "$ip"; then
        fail "$CASE" "the node does not reach the pod at $ip"
    else
        pass "$CASE"
    fi
}

test_stop_runs_del_with_the_pods_namespace() {
    local name=cri_stop_runs_del_with_the_pods_namespace
    [ -n "${SID:-}" ] || { skip "$name" "no sandbox ran"; return; }
    if ! cri stop "$SID" 2>"$T_TMP/stop.err"; then
        fail "$name" "StopPodSandbox: $(cat "$T_TMP/stop.err")"
        return
    fi
    if ! kube_args DEL "$SID" "$UID_WEB"; then
        fail "$name" "$WHY"
    elif ! nothing_left; then
        fail "$name" "after StopPodSandbox: $WHY"
    elif ! cri remove "$SID" 2>"$T_TMP/rm.err"; then
        fail "$name" "RemovePodSandbox: $(cat "$T_TMP/rm.err")"
    elif ! all_gone; then
        fail "$name" "after RemovePodSandbox: $WHY"
    else
        pass "$name"
    fi
}

test_sandbox_of_another_uid_is_refused() {
    local name=cri_sandbox_of_another_uid_is_refused
    if cri run shop web 00000000-0000-0000-0000-000000000bad >/dev/null 2>"$T_TMP/run.err"; then
        fail "$name" "RunPodSandbox succeeded for a uid that is not the Pod's"
    elif ! grep -q 'K8S_POD_UID' "$T_TMP/run.err"; then
        fail "$name" "RunPodSandbox failed, not for the uid: $(cat "$T_TMP/run.err")"
    elif ! all_gone; then
        fail "$name" "$WHY"
    else
        pass "$name"
    fi
}

# As a kubelet starting a node's pods: sandboxes of 4 pods asked for at once, so containerd
# runs 4 ADDs in parallel (IPAM's compare-and-swap under contention); then stopped at once.
test_parallel_sandboxes_get_distinct_addresses() {
    local name=cri_parallel_sandboxes_get_distinct_addresses i pids=() ips bad= uids
    for i in 1 2 3 4; do
        printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: "p%s", namespace: "shop"}\nspec: {nodeName: "node-1", containers: [{name: "main", image: "busybox"}]}\n' "$i"
    done | kc apply -f - >/dev/null || { fail "$name" "kubectl apply of the pods"; return; }
    uids=$(kc get pods -n shop -o json)
    for i in 1 2 3 4; do
        cri run shop "p$i" "$(jq -r --arg p "p$i" '.items[] | select(.metadata.name == $p) |
            .metadata.uid' <<<"$uids")" >"$T_TMP/p$i.id" 2>&1 &
        pids+=($!)
    done
    for i in 1 2 3 4; do wait "${pids[$((i - 1))]}" || bad+="p$i: $(cat "$T_TMP/p$i.id"); "; done
    [ -z "$bad" ] || { fail "$name" "RunPodSandbox: $bad"; return; }
    ips=$(cri status $(cat "$T_TMP"/p[1-4].id) | jq -r .ip)
    pids=()
    if [ "$(grep -c '^10\.10\.' <<<"$ips")" != 4 ] || [ "$(sort -u <<<"$ips" | wc -l)" != 4 ]; then
        fail "$name" "addresses not 4 distinct ones of the pool: $(tr '\n' ' ' <<<"$ips")"
    elif [ "$(ctl get wep -n shop -o name | wc -l)" != 4 ]; then
        fail "$name" "endpoints: $(ctl get wep -n shop -o name | tr '\n' ' ')"
    else
        for i in 1 2 3 4; do
            { cri stop "$(cat "$T_TMP/p$i.id")" && cri remove "$(cat "$T_TMP/p$i.id")"; } &
            pids+=($!)
        done
        for i in 1 2 3 4; do wait "${pids[$((i - 1))]}" || bad+="p$i "; done
        if [ -n "$bad" ]; then
            fail "$name" "Stop/RemovePodSandbox failed for $bad"
        elif ! all_gone; then
            fail "$name" "after stopping them at once: $WHY"
        else
            pass "$name"
        fi
    fi
}

test_sandbox_gets_a_kubernetes_pods_network
test_stop_runs_del_with_the_pods_namespace
test_sandbox_of_another_uid_is_refused
test_parallel_sandboxes_get_distinct_addresses
t_end
