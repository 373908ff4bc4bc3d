#!/usr/bin/env bash
# fuzz_kube.sh — runs the libFuzzer targets of the Kubernetes client a fixed number of
# times each (tests/fuzz/run.sh kube_config, kube_watch, kube_status, k8s_objects), so every
# `make check` fuzzes the kubeconfig parser, the watch stream splitter and event
# decoder, the Status and List decoders, and the k8s: store's object converters; and
# tabby-node's environment as a DaemonSet gives it (node_env: CALICO_IPV*POOL_*, FELIX_*).
. "$(dirname "$0")/lib.sh"
t_begin fuzz-kube

TARGETS="kube_config kube_watch kube_status k8s_objects node_env"
if ! command -v "${CC_FUZZ:-clang}" >/dev/null 2>&1; then
    for t in $TARGETS; do skip "fuzz-$t" "clang is not installed"; done
    t_end
fi
for t in $TARGETS; do
    if FUZZ_OUT="$T_TMP/$t" sh "$T_TOP/tests/fuzz/run.sh" "$t" "${TABBY_FUZZ_RUNS:-20000}" \
        >"$T_TMP/$t.log" 2>&1; then
        pass "fuzz-$t ($(grep -o 'Done [0-9]* runs' "$T_TMP/$t.log"))"
    else
        tail -n 40 "$T_TMP/$t.log"
        fail "fuzz-$t" "the fuzzer found a crash, a leak or undefined behaviour"
    fi
done
t_end
