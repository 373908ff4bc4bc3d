#!/usr/bin/env bash
# kube_client.sh — tabby's Kubernetes client (lib/kube_*.c) against the Kubernetes API
# test double tests/k8s/apiserver.py, started here on loopback: TLS with the CA inline,
# token and client-certificate auth, list paging and selectors, an expired continue
# token, watch with bookmarks, 410 → relist with the exact difference, reconnection
# after a dropped watch, 429 Retry-After, 409 conflict retry, delete preconditions, the
# status subresource and JSON patches.
# Each case is one run of tests/integration/kube_check. The server is killed by pid on
# exit. TABBY_K8S_APISERVER names another copy of the server to use.
. "$(dirname "$0")/lib.sh"
t_begin kube-client

CASES="tls-token client-cert paging continue-expired watch-bookmark relist-diff reconnect
    retry-after conflict-retry delete-precondition status-subresource"
CHECK=$T_BUILD/tests/integration/kube_check
SERVER=${TABBY_K8S_APISERVER:-$T_TOP/tests/k8s/apiserver.py}

skip_all() {
    local c
    for c in $CASES; do skip "kube-$c" "$1"; done
    t_end
}

[ -f "$SERVER" ] || skip_all "the API server test double $SERVER is not on this branch"
command -v python3 >/dev/null || skip_all "python3 is not installed"
command -v openssl >/dev/null || skip_all "openssl is not installed (the server makes its certificates)"
[ -x "$CHECK" ] || skip_all "$CHECK is not built (run from the build folder)"

# Settings of the caller's own cluster must not leak in.
unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT

python3 "$SERVER" --dir "$T_TMP/api" --history 200 --bookmark-interval 1 \
    --log "$T_TMP/api.log" >"$T_TMP/api.out" 2>&1 &
API_PID=$!
t_on_exit "kill $API_PID 2>/dev/null; wait $API_PID 2>/dev/null"
if ! t_wait 60 test -s "$T_TMP/api/port"; then
    tail -n 20 "$T_TMP/api.out"
    for c in $CASES; do fail "kube-$c" "the API server did not start"; done
    t_end
fi

for c in $CASES; do
    start=$(now_ms)
    if "$CHECK" "$T_TMP/api/kubeconfig" "$c" >"$T_TMP/$c.log" 2>&1; then
        pass "kube-$c ($(($(now_ms) - start)) ms)"
    else
        fail "kube-$c" "$(tail -n 3 "$T_TMP/$c.log" | tr '\n' ' ')"
    fi
done
t_end
