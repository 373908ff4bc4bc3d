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
# readiness probe and writes its node name to the node's /var/lib/tabby/nodename, the
# file the conflist's nodename_file names; with 20 s tokens, the kubelet's part renews the
# pod's and tabby-node the plugins' past three lifetimes (each renewal within half a
# token's life of the one before), with no request answered 401; a
# pod is wired by the installed plugin through the installed conflist, kubeconfig and
# nodename file; nothing either ServiceAccount asked the API for was forbidden (the rules
# this run did not exercise are listed).
#
# SKIP when podman, runc, catatonit, kubectl or python3-yaml is missing.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers_lib.sh"
. "$T_TOP/tests/k8s/kapi.sh"
. "$(dirname "$0")/kube_lib.sh"
t_begin kube_play
t_need_root
for tool in podman runc catatonit kubectl jq python3 nsenter; do
    command -v "$tool" >/dev/null || [ -x "/usr/libexec/podman/$tool" ] ||
        { skip kube_play "$tool is not installed"; t_end; }
done
python3 -c 'import yaml' 2>/dev/null || { skip kube_play "python3-yaml is not installed"; t_end; }

t_fabric "tkp$$"
fab_switch sw && fab_node n1 sw 10.61.0.1/24 || { fail setup "no node namespace"; t_end; }
at() { fab_in n1 "$@"; }

# ---- the image, in this run's podman storage ----------------------------------------------
kl_podman
pm() { kl_pm n1 "$@"; }
if ! kl_image; then
    fail kube_play "the image was not built: $(tail -3 "$T_TMP/image.log")"
    t_end
fi

# ---- the cluster: the API server in the node's namespace, the manifest applied ------------
# Tokens of 20 s (the server takes 10 s and more): the pod's, renewed by the kubelet's part
# (kp_sa), and the plugins', which tabby-node renews (TABBY_CNI_TOKEN_SECONDS, this test's).
TOKEN_SECONDS=20
export KP_POD_ENV="TABBY_CNI_TOKEN_SECONDS=$TOKEN_SECONDS"
KL_POD_TOKEN_SECONDS=$TOKEN_SECONDS KL_MIN_TOKEN_SECONDS=10 kl_cluster n1 127.0.0.1:0 ||
    { fail kube_play "the API server or the manifest: $(tail -3 "$T_TMP/apply.log")"; t_end; }
sa_made=$(now_ms)   # the pod's first token
printf 'apiVersion: v1\nkind: Node\nmetadata: {name: "n1"}\n' | kc apply -f - >/dev/null &&
    printf 'apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata: {name: "pool"}\n%s\n' \
        'spec: {cidr: "10.62.0.0/16", blockSize: 26, ipipMode: Never, vxlanMode: Never}' |
    kc apply -f - >/dev/null || { fail kube_play "setup: the node or the pool"; t_end; }

# ---- the Pod: the DaemonSet's template as the kubelet would run it -----------------------
kl_pod n1 || { fail kube_play "setup: cannot make the Pod from the DaemonSet"; t_end; }
if ! kl_play n1; then
    fail podman_kube_play_runs_the_daemonset_pod "$(tail -5 "$T_TMP/n1/play.log")"
    t_end
fi
pass podman_kube_play_runs_the_daemonset_pod
K=$KL_K
CTR=$(kl_ctr n1)
HOST=$T_TMP/n1/host

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
    fail dataplane_in_the_nodes_namespace "no table inet tabby in $(fab_name n1)"
fi

# ---- tokens: the pod's renewed by the kubelet, the plugins' by tabby-node ------------------
# Past three lifetimes of the pod's first token, tabby-node still renews the plugins'
# token (each renewal is a request with its own token of the moment), the API server
# answered no request 401, and the plugins' kubeconfig holds a token it takes.
renewals() { pm logs "$CTR" 2>&1 | grep -c "renewed the CNI plugins' token"; }
# three_lives: three lifetimes of the pod's first token have gone by; renewed_after N:
# a renewal after the first N.
three_lives() { [ $(($(now_ms) - sa_made)) -ge $((3 * TOKEN_SECONDS * 1000)) ]; }
renewed_after() { [ "$(renewals)" -gt "$1" ]; }
n0=$(renewals)
if t_wait $((3 * TOKEN_SECONDS + 5)) three_lives && late=$(renewals) &&
    t_wait $((TOKEN_SECONDS / 2 + 5)) renewed_after "$late"; then
    unauthorized=$(at curl -sS --cacert "$K/ca.crt" -H "Authorization: Bearer \
$(cat "$K/admin.token")" "$(kapi_url "$K")/_test/requests?since=0" |
        jq '[.requests[] | select(.status == 401)] | length')
    who=$(kc --kubeconfig "$NET/tabby-kubeconfig" auth whoami \
        -o jsonpath='{.status.userInfo.username}' 2>&1)
    # The gaps between renewals: each within half a token's life (20 s tokens: every 5 s,
    # as the token is never more than 20 s from expiry), plus the API's answer on a
    # loaded machine. Their number depends on when tabby-node started, not on the test.
    gaps=$(pm logs "$CTR" 2>&1 | grep "renewed the CNI plugins' token" | cut -d' ' -f1 |
        python3 -c 'import sys, datetime as d
t = [d.datetime.fromisoformat(l.strip().rstrip("Z")) for l in sys.stdin if l.strip()]
g = [(b - a).total_seconds() for a, b in zip(t, t[1:])]
print(f"{min(g):.1f} {max(g):.1f} {(t[-1] - t[0]).total_seconds():.0f}" if g else "- - -")')
    read -r gap_min gap_max span <<<"$gaps"
    if [ "$unauthorized" = 0 ] && [ "$who" = system:serviceaccount:kube-system:tabby-cni-plugin ] &&
        [ "$gap_max" != - ] && python3 -c "import sys; sys.exit(not $gap_max <= $TOKEN_SECONDS / 2 + 5)"
    then
        pass tokens_renewed_past_their_life
        echo "$(renewals) renewals of the plugins' token, over ${span} s from tabby-node's first," \
            "${gap_min}-${gap_max} s apart; the pod's first token made $((($(now_ms) - sa_made) / 1000)) s ago"
    else
        fail tokens_renewed_past_their_life "401 answers: $unauthorized, whoami: $who, gaps \
between renewals ${gap_min}-${gap_max} s"
    fi
else
    fail tokens_renewed_past_their_life "renewals: $n0, then $(renewals); $(pm logs "$CTR" 2>&1 |
        grep -i token | tail -3)"
fi

# ---- the nodename file: on the node's host folder, as the conflist names it --------------
nodename_file_written() { [ "$(cat "$HOST/var/lib/tabby/nodename" 2>/dev/null)" = n1 ]; }
named=$(jq -r '.plugins[0].nodename_file' "$NET/10-tabby.conflist" 2>/dev/null)
if [ "$named" = /var/lib/tabby/nodename ] && t_wait 30 nodename_file_written; then
    pass nodename_file_on_the_host_where_the_conflist_names_it
else
    fail nodename_file_on_the_host_where_the_conflist_names_it "conflist: $named, file: \
$(cat "$HOST/var/lib/tabby/nodename" 2>&1)"
fi

# ---- a pod through what install-cni installed ------------------------------------------
kl_k8s_pod n1 web || fail setup "cannot create the pod"
cni() { kl_cni n1 web "$1"; }
pod_ip() {
    kc get pod -n default web -o jsonpath='{.metadata.annotations.cni\.projectcalico\.org/podIP}'
}
if [ ! -d /etc/cni/net.d ]; then
    skip pod_wired_through_the_installed_conflist "/etc/cni/net.d does not exist to mount over"
elif cni ADD; then
    ip=$(jq -r '.ips[0].address' "$T_TMP/cni.web.ADD" 2>/dev/null)
    ann=$(pod_ip)
    if [[ $ip == 10.62.* ]] && [ "$ann" = "$ip" ] && fab_in web ip -4 -o addr show dev eth0 |
        grep -q "${ip%/*}" && cni DEL &&
        [ -z "$(pod_ip)" ]
    then
        pass pod_wired_through_the_installed_conflist
    else
        fail pod_wired_through_the_installed_conflist "ADD: $ip, annotation: $ann, DEL: \
$(tail -2 "$T_TMP/cni.web.DEL" 2>/dev/null)"
    fi
else
    fail pod_wired_through_the_installed_conflist "ADD: $(cat "$T_TMP/cni.web.ADD") \
$(tail -3 "$T_TMP/cni.web.ADD.err")"
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
