#!/usr/bin/env bash
# install_cni.sh — `tabby-node install-cni` (the DaemonSet's init container) and tabby-node's
# renewal of the CNI plugins' token, against the Kubernetes API server test double: the
# plugins copied whole and atomically (a runtime executing them meanwhile never fails, no
# temporary file is left, an unchanged plugin is not rewritten), the conflist filled in from
# its template (node name, MTU, kubeconfig path) and checked to be JSON before anything is
# written, a kubeconfig for the plugins' own ServiceAccount (tabby-cni-plugin, from a
# TokenRequest, mode 0600) that kubectl accepts, Calico's UPDATE_CNI_BINARIES and
# SKIP_CNI_BINARIES, clear errors; then tabby-node renewing that token before it expires.
#
# Everything runs in a network namespace of its own with the API server on its loopback,
# as in a pod: KUBERNETES_SERVICE_HOST/PORT and a service account folder (token, ca.crt,
# namespace) are what the kubelet would give the pod.
set -u
. "$(dirname "$0")/lib.sh"
. "$T_TOP/tests/k8s/kapi.sh"
t_begin install_cni
t_need_root
for tool in python3 kubectl jq; do
    command -v "$tool" >/dev/null || { skip install_cni "$tool is not installed"; t_end; }
done
TABBY_NODE=${TABBY_NODE:-$T_BUILD/tabby-node}
t_fabric "tic$$"
fab_ns n1 || { fail setup "no namespace"; t_end; }
at() { fab_in n1 "$@"; }

K=$T_TMP/kapi
t_on_exit kapi_stop_all
# Short tokens (the real server's minimum is 600 s) so that a renewal comes within the test.
KAPI_EXEC="ip netns exec $(fab_name n1)" kapi_start "$K" --min-token-seconds 10 ||
    { fail install_cni "the API server test double did not start"; t_end; }
kc() { at kubectl --kubeconfig "$K/kubeconfig" --cache-dir "$K.kcache" "$@"; }
kc create serviceaccount tabby-node -n kube-system >/dev/null &&
    kc create serviceaccount tabby-cni-plugin -n kube-system >/dev/null ||
    { fail setup "cannot create the ServiceAccounts"; t_end; }

# The pod's service account folder, as the kubelet projects it.
SA=$T_TMP/sa
KAPI_EXEC="ip netns exec $(fab_name n1)" kapi_sa_folder "$K" kube-system tabby-node "$SA" ||
    { fail setup "cannot make the service account folder"; t_end; }

HOST=$T_TMP/host
BIN=$HOST/opt/cni/bin NET=$HOST/etc/cni/net.d
mkdir -p "$BIN" "$NET" "$T_TMP/plugins"
cp "$T_BUILD/tabby" "$T_BUILD/tabby-ipam" "$T_TMP/plugins/"
# install [VAR=VALUE…]: install-cni as the init container runs it, output in $T_TMP/out.
install() {
    at env -i PATH="$PATH" KUBERNETES_SERVICE_HOST=127.0.0.1 \
        KUBERNETES_SERVICE_PORT="$(kapi_port "$K")" TABBY_SERVICEACCOUNT_DIR="$SA" \
        TABBY_CNI_PLUGINS_DIR="$T_TMP/plugins" TABBY_HOST_CNI_BIN_DIR="$BIN" \
        TABBY_HOST_CNI_NET_DIR="$NET" KUBERNETES_NODE_NAME=node-1 CNI_MTU=1440 "$@" \
        "$TABBY_NODE" install-cni ${INSTALL_ARGS:-} >"$T_TMP/out" 2>&1
}
inode() { stat -c %i "$1"; }

# ---- a first install ------------------------------------------------------------------
CONF=$NET/10-tabby.conflist KCFG=$NET/tabby-kubeconfig
if install && cmp -s "$T_BUILD/tabby" "$BIN/tabby" && cmp -s "$T_BUILD/tabby-ipam" \
    "$BIN/tabby-ipam" && [ -x "$BIN/tabby" ] && [ -x "$BIN/tabby-ipam" ]; then
    pass plugins_installed_whole_and_executable
else
    fail plugins_installed_whole_and_executable "$(cat "$T_TMP/out")"
fi
plugin=$(jq -c '.plugins[0]' "$CONF" 2>/dev/null)
if [ "$(jq -r '.nodename, .nodename_file, .mtu, .kubernetes.kubeconfig, .datastore_type,
    .ipam.type' <<<"$plugin" | tr '\n' ' ')" = "node-1 /var/lib/calico/nodename 1440 \
/etc/cni/net.d/tabby-kubeconfig kubernetes tabby-ipam " ] &&
    [ "$(stat -c %a "$CONF")" = 600 ]; then
    pass conflist_filled_in_from_the_template
else
    fail conflist_filled_in_from_the_template "$plugin"
fi
who=$(kc --kubeconfig "$KCFG" auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1)
if [ "$who" = system:serviceaccount:kube-system:tabby-cni-plugin ] &&
    [ "$(stat -c %a "$KCFG")" = 600 ] && ! grep -q "$(cat "$SA/token")" "$KCFG"; then
    pass kubeconfig_holds_the_plugin_accounts_own_token
else
    fail kubeconfig_holds_the_plugin_accounts_own_token "whoami: $who"
fi
tokens=$(at curl -sS --cacert "$K/ca.crt" -H "Authorization: Bearer $(cat "$K/admin.token")" \
    "$(kapi_url "$K")/_test/requests" | jq '[.requests[] |
    select(.method == "POST" and (.path | endswith("/serviceaccounts/tabby-cni-plugin/token")))
    | .status] | map(tostring) | join(",")' -r)
if [ "$tokens" = 201 ]; then
    pass one_token_request
else
    fail one_token_request "TokenRequests answered: $tokens"
fi

# ---- again: nothing changes -----------------------------------------------------------
before="$(inode "$BIN/tabby") $(inode "$BIN/tabby-ipam") $(inode "$CONF")"
if install && [ "$(inode "$BIN/tabby") $(inode "$BIN/tabby-ipam") $(inode "$CONF")" = \
    "$before" ] && [ "$(grep -c 'up to date' "$T_TMP/out")" = 3 ]; then
    pass unchanged_files_are_left_alone
else
    fail unchanged_files_are_left_alone "$(cat "$T_TMP/out")"
fi

# ---- a new plugin while a runtime executes the old one ----------------------------------
# Two versions alternate 20 times while the plugin is executed in a loop: every execution
# must work (a half-written file would not run, an in-place write would be ETXTBSY).
cp "$T_BUILD/tabby" "$T_TMP/tabby.a"
cp "$T_BUILD/tabby" "$T_TMP/tabby.b" && printf 'padding' >>"$T_TMP/tabby.b"
runs() {
    local i bad=0
    for i in $(seq 300); do
        CNI_COMMAND=VERSION "$BIN/tabby" </dev/null >/dev/null 2>&1 || bad=$((bad + 1))
    done
    echo "$bad" >"$T_TMP/bad"
}
runs &
runner=$!
ok=1
for i in $(seq 20); do
    cp "$T_TMP/tabby.$([ $((i % 2)) = 0 ] && echo a || echo b)" "$T_TMP/plugins/tabby"
    install || ok=0
done
wait "$runner"
if [ "$ok" = 1 ] && [ "$(cat "$T_TMP/bad")" = 0 ] && cmp -s "$T_TMP/tabby.a" "$BIN/tabby" &&
    [ -z "$(find "$BIN" "$NET" -name '*.tmp.*')" ]; then
    pass replaced_atomically_under_execution
else
    fail replaced_atomically_under_execution "failed executions: $(cat "$T_TMP/bad"), \
temporary files: $(find "$BIN" "$NET" -name '*.tmp.*' | wc -l)"
fi

# ---- Calico's switches ----------------------------------------------------------------
cp "$T_TMP/tabby.b" "$T_TMP/plugins/tabby"
rm -f "$BIN/tabby-ipam"
if install UPDATE_CNI_BINARIES=false && cmp -s "$T_TMP/tabby.a" "$BIN/tabby" &&
    [ -x "$BIN/tabby-ipam" ]; then
    pass update_false_keeps_what_is_there
else
    fail update_false_keeps_what_is_there "$(cat "$T_TMP/out")"
fi
rm -f "$BIN/tabby-ipam"
if install SKIP_CNI_BINARIES=tabby-ipam && [ ! -e "$BIN/tabby-ipam" ] &&
    cmp -s "$T_TMP/tabby.b" "$BIN/tabby"; then
    pass skip_cni_binaries
else
    fail skip_cni_binaries "$(cat "$T_TMP/out")"
fi

# ---- templates ---------------------------------------------------------------------------
printf '{"name": "x", "cniVersion": "1.0.0", "plugins": [{"type": "tabby", "nodename": "%s", %s' \
    __KUBERNETES_NODE_NAME__ '"mtu": __CNI_MTU__}]}' >"$T_TMP/template"
if install CNI_NETWORK_CONFIG_FILE="$T_TMP/template" CNI_CONF_NAME=20-other.conflist &&
    [ "$(jq -c '.plugins[0]' "$NET/20-other.conflist")" = \
    '{"type":"tabby","nodename":"node-1","mtu":1440}' ]; then
    pass template_from_a_file
else
    fail template_from_a_file "$(cat "$T_TMP/out")"
fi
# ---- etcd over TLS: the Secret's files copied for the plugins, named in the conflist ----
S=$T_TMP/secrets
mkdir -p "$S"
for f in etcd-ca etcd-cert etcd-key; do echo "$f of the Secret" >"$S/$f" && chmod 0400 "$S/$f"; done
ETCD_TEMPLATE='{"name": "x", "cniVersion": "1.0.0", "plugins": [{"type": "tabby",
    "etcd_endpoints": "__ETCD_ENDPOINTS__", "etcd_key_file": "__ETCD_KEY_FILE__",
    "etcd_cert_file": "__ETCD_CERT_FILE__", "etcd_ca_cert_file": "__ETCD_CA_CERT_FILE__"}]}'
etcd_install() {
    install CNI_NETWORK_CONFIG="$ETCD_TEMPLATE" CNI_CONF_NAME=30-etcd.conflist \
        DATASTORE_TYPE=etcdv3 ETCD_ENDPOINTS=https://10.0.0.1:2379 "$@"
}
tls_named() { jq -c '.plugins[0] | [.etcd_endpoints, .etcd_ca_cert_file, .etcd_cert_file,
    .etcd_key_file]' "$NET/30-etcd.conflist"; }
T=/etc/cni/net.d/tabby-tls
if etcd_install TLS_ASSETS_DIR="$S" &&
    [ "$(tls_named)" = '["https://10.0.0.1:2379","'$T/etcd-ca'","'$T/etcd-cert'","'$T/etcd-key'"]' ] &&
    cmp -s "$S/etcd-key" "$NET/tabby-tls/etcd-key" && cmp -s "$S/etcd-ca" "$NET/tabby-tls/etcd-ca" &&
    [ "$(stat -c %a "$NET/tabby-tls" "$NET/tabby-tls/etcd-cert" | tr '\n' ' ')" = "700 600 " ] &&
    rm "$S/etcd-key" && etcd_install TLS_ASSETS_DIR="$S" &&
    [ "$(tls_named)" = '["https://10.0.0.1:2379","'$T/etcd-ca'","'$T/etcd-cert'",""]' ] &&
    [ ! -e "$NET/tabby-tls/etcd-key" ] &&
    etcd_install TLS_ASSETS_DIR="$T_TMP/no-secrets" &&
    [ "$(tls_named)" = '["https://10.0.0.1:2379","","",""]' ]; then
    pass etcd_tls_files_copied_for_the_plugins_and_named_in_the_conflist
else
    fail etcd_tls_files_copied_for_the_plugins_and_named_in_the_conflist \
        "$(tls_named) $(cat "$T_TMP/out")"
fi

cp "$CONF" "$T_TMP/conf.before"
if ! install CNI_NETWORK_CONFIG='{"plugins": [__CNI_MTU__,]}' &&
    grep -q 'CNI_NETWORK_CONFIG) is not JSON' "$T_TMP/out" && cmp -s "$CONF" "$T_TMP/conf.before"
then
    pass bad_template_refused_nothing_written
else
    fail bad_template_refused_nothing_written "$(cat "$T_TMP/out")"
fi
if ! install CNI_MTU=big && grep -q 'CNI_MTU: "big"' "$T_TMP/out"; then
    pass bad_mtu_refused
else
    fail bad_mtu_refused "$(cat "$T_TMP/out")"
fi

# ---- errors and outside a pod -----------------------------------------------------------
if ! install TABBY_CNI_SERVICE_ACCOUNT=nobody &&
    grep -q 'serviceaccounts kube-system/nobody.*404' "$T_TMP/out"; then
    pass missing_account_named
else
    fail missing_account_named "$(cat "$T_TMP/out")"
fi
rm -f "$KCFG"
if install TABBY_SERVICEACCOUNT_DIR="$T_TMP/none" && [ ! -e "$KCFG" ] &&
    grep -q 'not in a pod' "$T_TMP/out"; then
    pass outside_a_pod_no_kubeconfig
else
    fail outside_a_pod_no_kubeconfig "$(cat "$T_TMP/out")"
fi

# ---- tabby-node renews the token ------------------------------------------------------
# Tokens of 20 s: renewed 5 to 10 s after each other, always before the last one expires.
install >/dev/null
first=$(grep -o 'token: "[^"]*"' "$KCFG")
# start_node SA_DIR TOKEN_SECONDS LOG: tabby-node in the pod's place, its pid in NODE_PID
# (ip execs env, which execs tabby-node).
start_node() {
    ip netns exec "$(fab_name n1)" env -i PATH="$PATH" KUBERNETES_SERVICE_HOST=127.0.0.1 \
        KUBERNETES_SERVICE_PORT="$(kapi_port "$K")" TABBY_SERVICEACCOUNT_DIR="$1" \
        TABBY_CNI_KUBECONFIG="$KCFG" TABBY_CNI_TOKEN_SECONDS="$2" NODENAME=node-1 IP=none \
        TABBY_NETWORKING_BACKEND=none TABBY_STORE="sqlite:$T_TMP/tabby.db" TABBY_PID_FILE= \
        TABBY_HEALTH_PORT=0 CALICO_NODENAME_FILE="$T_TMP/nodename" "$TABBY_NODE" >"$3" 2>&1 &
    NODE_PID=$!
}
start_node "$SA" 20 "$T_TMP/node.log"
renewals() { [ "$(grep -c 'renewed the CNI plugins' "$T_TMP/node.log")" -ge "$1" ]; }
start=$(date +%s)
if t_wait 40 renewals 3; then
    took=$(($(date +%s) - start))
    who=$(kc --kubeconfig "$KCFG" auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1)
    if [ "$who" = system:serviceaccount:kube-system:tabby-cni-plugin ] &&
        [ "$(grep -o 'token: "[^"]*"' "$KCFG")" != "$first" ] && [ "$took" -le 25 ]; then
        pass token_renewed_before_it_expires
    else
        fail token_renewed_before_it_expires "whoami: $who, 3 renewals in ${took}s"
    fi
else
    fail token_renewed_before_it_expires "$(tail -5 "$T_TMP/node.log")"
fi

# A stalled API holds tabby-node's loop 5 s at most: the renewal fails, is tried again no
# sooner than 5 s after that (not at once), and works once the API answers.
at curl -sS --cacert "$K/ca.crt" -H "Authorization: Bearer $(cat "$K/admin.token")" \
    -H 'Content-Type: application/json' -X POST "$(kapi_url "$K")/_test/faults" \
    -d '{"path": "tabby-cni-plugin/token$", "stall": 30, "times": 1}' >/dev/null
before=$(grep -c 'renewed the CNI plugins' "$T_TMP/node.log")
failed() { grep -q 'token was not renewed' "$T_TMP/node.log"; }
# seconds LINE: the log line's time of day in seconds.
seconds() { date -d "$(cut -d' ' -f1 <<<"$1")" +%s.%N; }
if t_wait 30 failed && t_wait 30 renewals $((before + 1)); then
    gap=$(python3 -c "print(round($(seconds "$(grep 'renewed the CNI' "$T_TMP/node.log" |
        tail -1)") - $(seconds "$(grep 'not renewed' "$T_TMP/node.log" | tail -1)"), 1))")
fi
if [ -n "${gap:-}" ] && python3 -c "import sys; sys.exit(not 4.9 <= $gap <= 30)"; then
    pass stalled_api_times_out_and_is_retried
else
    fail stalled_api_times_out_and_is_retried "retried after ${gap:-?} s: \
$(grep -i 'token' "$T_TMP/node.log" | tail -3)"
fi
kill "$NODE_PID" 2>/dev/null
wait "$NODE_PID" 2>/dev/null

# ---- the pod's own token rotates --------------------------------------------------------
# The kubelet keeps a pod's token fresh: here the lab's kubelet (kubelet.sh's kp_sa, which
# the podman lab and tests run), with 12 s tokens, each renewed once 80% of its life is
# gone and put in place as its projected volumes do (a new timestamped folder, the ..data
# symlink swapped, token a link through it). tabby-node's API client reads the file again
# when it changes, so it goes on renewing the plugins' token long after its first token
# expired, and the API server never answers it 401.
# shellcheck source=../../examples/lab/kubelet.sh
. "$T_TOP/examples/lab/kubelet.sh"
R=$T_TMP/sa-rotating
KAPI_EXEC="ip netns exec $(fab_name n1)" kp_sa "$K" "$R" 12 ||
    fail token_file_rotation "cannot make the service account folder"
t_on_exit 'kill "$(cat "$R.pid")" 2>/dev/null'
first_pod_token=$(cat "$R/token")
# requests SINCE: the API server's log of requests from SINCE on
requests() {
    at curl -sS --cacert "$K/ca.crt" -H "Authorization: Bearer $(cat "$K/admin.token")" \
        "$(kapi_url "$K")/_test/requests?since=$1"
}
seq0=$(requests 0 | jq .next)
start_node "$R" 10 "$T_TMP/node2.log"
start=$(date +%s)
# 10 s plugin tokens: a renewal every 2.5 to 5 s; 30 s is more than twice a pod token's life.
renewed_since() { [ "$(grep -c 'renewed the CNI plugins' "$T_TMP/node2.log")" -ge "$1" ]; }
late() { [ $(($(date +%s) - start)) -ge 30 ] && renewed_since 1; }
if t_wait 45 late; then
    n0=$(grep -c 'renewed the CNI plugins' "$T_TMP/node2.log")
    unauthorized=$(requests "$seq0" | jq '[.requests[] | select(.status == 401)] | length')
    if t_wait 15 renewed_since $((n0 + 1)) && [ "$unauthorized" = 0 ] &&
        ! grep -q 'token was not renewed' "$T_TMP/node2.log" &&
        [ "$(cat "$R/token")" != "$first_pod_token" ]; then
        pass pod_token_read_again_as_it_rotates
    else
        fail pod_token_read_again_as_it_rotates "401 answers: $unauthorized; \
$(grep -i token "$T_TMP/node2.log" | tail -3)"
    fi
else
    fail pod_token_read_again_as_it_rotates "$(tail -3 "$T_TMP/node2.log")"
fi
kill "$NODE_PID" 2>/dev/null
wait "$NODE_PID" 2>/dev/null

# ---- --uninstall: what it installed goes, others' files stay ------------------------------
install >/dev/null
echo "someone else's" >"$BIN/bridge"
echo '{"name": "other", "plugins": [{"type": "bridge"}]}' >"$NET/99-other.conflist"
cp "$BIN/bridge" "$BIN/tabby-ipam"   # a tabby-ipam of someone else's
ls "$BIN" "$NET" >"$T_TMP/before"
if INSTALL_ARGS=--uninstall install && INSTALL_ARGS=--uninstall install CNI_CONF_NAME=99-other.conflist &&
    [ ! -e "$CONF" ] && [ ! -e "$KCFG" ] && [ ! -e "$BIN/tabby" ] && [ ! -e "$NET/tabby-tls" ] &&
    [ "$(cat "$BIN/tabby-ipam" "$BIN/bridge")" = "someone else's
someone else's" ] && [ -e "$NET/99-other.conflist" ] && [ -e "$NET/20-other.conflist" ] &&
    INSTALL_ARGS=--uninstall install; then
    pass uninstall_removes_what_it_installed_and_leaves_others_files
else
    fail uninstall_removes_what_it_installed_and_leaves_others_files "$(cat "$T_TMP/out"); \
$(ls "$BIN" "$NET" | tr '\n' ' ')"
fi
t_end
