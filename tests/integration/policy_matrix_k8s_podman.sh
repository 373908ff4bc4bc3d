#!/usr/bin/env bash
# policy_matrix_k8s_podman.sh — policy_matrix_k8s.sh's cluster, with each node's tabby-node
# run as Kubernetes runs it: the DaemonSet's pod of manifests/tabby.yaml played by podman
# from the image (k8s_lib.sh's kl_podman, examples/lab/kubelet.sh), its backend none, with
# the manifest's own settings and RBAC. In the suite, a subset of the scenarios (the
# Kubernetes peers and defaults, Calico's order, tiers and sets), the restart over every
# policy of the run, and the open matrices; the whole matrix is
#   MX_ONLY= tests/integration/policy_matrix_k8s_podman.sh      (from the build folder)
# Needs root, podman, runc and catatonit (else SKIP).
set -u
for tool in podman runc nsenter; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP policy_matrix_k8s_podman: $tool is not installed"
        exit 77
    fi
done
if ! [ -x /usr/libexec/podman/catatonit ] && ! command -v catatonit >/dev/null; then
    echo "SKIP policy_matrix_k8s_podman: catatonit is not installed"
    exit 77
fi
MX_ONLY=${MX_ONLY-'^(k8s_default_deny_both|k8s_namespace_and_pod_in_one_peer|k8s_named_port_tcp|k8s_ipblock_except|calico_deny_before_allow|tier_default_action_pass|calico_global_network_set_deny|calico_service_account_selector)$'} \
    MX_STORE=k8s MX_RUNTIME=podman exec bash "$(dirname "$0")/policy_matrix.sh"
