#!/usr/bin/env bash
# fuzz_kube.sh — runs the libFuzzer targets of the Kubernetes client a fixed number of
# times each (tests/fuzz/run.sh kube_config, kube_watch, kube_status, k8s_objects), so every
# `make check` fuzzes the kubeconfig parser, the watch stream splitter and event
# decoder, the Status and List decoders, and the k8s: store's object converters; and
# tabby-node's environment as a DaemonSet gives it (node_env: CALICO_IPV*POOL_*, FELIX_*);
# and EndpointSlices as policy reads them (endpointslice: decode, normal form, again).
. "$(dirname "$0")/lib.sh"
t_begin fuzz-kube

t_fuzz kube_config kube_watch kube_status k8s_objects node_env endpointslice
t_end
