#!/usr/bin/env bash
# policy_matrix_k8s.sh — policy_matrix.sh's scenarios and expectations, unchanged, on the
# k8s: datastore: the Kubernetes API server test double (k8s_lib.sh) beside the two nodes,
# the pods as Pod objects, Namespaces and pods labelled through the API, Kubernetes
# NetworkPolicies written with kubectl and Calico's policies with tabbyctl, tabby-node
# reading all of it as Calico's KDD mode keeps it. Needs root.
MX_STORE=k8s exec bash "$(dirname "$0")/policy_matrix.sh"
