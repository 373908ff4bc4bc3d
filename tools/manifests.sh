#!/usr/bin/env bash
# manifests.sh — writes manifests/tabby.yaml (the Kubernetes datastore: with Calico's CRDs
# of manifests/crds.yaml) and manifests/tabby-etcd.yaml (etcd: no CRDs, nothing is stored
# in the API) from manifests/src/tabby.yaml.in: lines ending in `#@k8s` are the Kubernetes
# datastore's, `#@etcd` etcd's; @VERSION@ is configure.ac's version (the image's tag).
#
#   tools/manifests.sh [--check]    --check: fail when the files differ from what it writes
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^AC_INIT(\[tabby\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
src=$top/manifests/src/tabby.yaml.in

# gen VARIANT OTHER FILE DATASTORE [CRDS]
gen() {
    local note=""
    [ -z "${5:-}" ] || note=" and manifests/crds.yaml"
    sed -e "/#@$2\$/d" -e "s/ *#@$1\$//" -e "s/@VERSION@/$version/g" -e "s|@FILE@|$3|g" \
        -e "s|@DATASTORE@|$4|" -e "s|@CRDS_NOTE@|$note|" "$src"
    if [ -n "${5:-}" ]; then
        echo "---"
        echo "# Calico's CustomResourceDefinitions, where the Kubernetes datastore keeps state."
        cat "$5"
    fi
}

status=0
out() {
    if [ "$check" = 1 ]; then
        cmp -s - "$top/manifests/$1" || { echo "manifests/$1 is out of date: run $0"; status=1; }
    else
        cat >"$top/manifests/$1"
    fi
}
check=0
[ "${1:-}" = --check ] && check=1
gen k8s etcd tabby.yaml "the Kubernetes API (Calico's KDD layout)" \
    "$top/manifests/crds.yaml" | out tabby.yaml
gen etcd k8s tabby-etcd.yaml "etcd (ETCD_ENDPOINTS in the ConfigMap)" | out tabby-etcd.yaml
exit $status
