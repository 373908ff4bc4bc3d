#!/usr/bin/env bash
# lab_apply.sh — time from `tabbyctl apply` of a policy to its enforcement on every node
# of the lab (examples/lab/lab: 3 nodes, each tabby-node programming its own kernel).
#
# For each of ROUNDS GlobalNetworkPolicies (each selecting every pod, so every node must
# program it), the clock starts just before tabbyctl runs and stops, per node, at the
# timestamp tabby-node logs when the nftables batch holding the policy is committed
# (`policy programmed`); the last node's time is the cluster's. As a cross-check the
# last round also probes: a pod is blocked by the policy within that time. Printed:
# p50 / p90 / max of the slowest node per apply, and of single nodes.
#
#   bench/lab_apply.sh [--build DIR] [--rounds N] [--store sqlite|etcd] [--mode MODE]
#
# Needs root; everything lives in the lab's own namespaces, removed on exit.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build rounds=20 up_args=()
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --store|--mode) up_args+=("$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--rounds N] [--store sqlite|etcd] [--mode MODE]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "lab_apply: needs root (network namespaces)" >&2; exit 1; }

export TABBY_LAB=tbench$$ TABBY_BUILD=$build
tmp=$(mktemp -d /tmp/tby-lab-apply-XXXXXX)
export TABBY_LAB_STATE=$tmp/lab
lab() { "$top/examples/lab/lab" "$@"; }
trap 'lab down >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

lab up "${up_args[@]}" >/dev/null
lab pod add n1 default/a app=a --port http:80/tcp >/dev/null
lab pod add n2 default/b app=b --port http:80/tcp >/dev/null
lab pod add n3 default/c app=c --port http:80/tcp >/dev/null
sleep 1
# tabbyctl straight at the lab's datastore (not through the lab script, whose own start
# would be counted).
read -ra ctl_cmd <<<"$(lab ctl-command)"
ctl() { "${ctl_cmd[@]}" "$@"; }

# ms_of LOGLINE: the line's timestamp (UTC, ms) as milliseconds since the epoch.
ms_of() { local ts=${1%% *}; echo $(($(date -d "${ts%.*}" +%s) * 1000 + 10#$(echo "$ts" | sed 's/.*\.\([0-9]*\)Z/\1/'))); }
programmed() { grep -c 'policy programmed' "$TABBY_LAB_STATE/$1/tabby-node.log"; }

cluster=() single=() ctl_ms=()
for r in $(seq 1 "$rounds"); do
    declare -A before=()
    for n in n1 n2 n3; do before[$n]=$(programmed "$n"); done
    # Round r denies TCP 80 from 198.51.100.r; the last round denies the pods' own port
    # from pod a, which the probe below sees.
    # (order 0: before the earlier rounds' closing Allow)
    order=$r src="nets: [198.51.100.$r/32]"
    if [ "$r" = "$rounds" ]; then order=0 src="selector: app == 'a'"; fi
    start=$(($(date +%s%N) / 1000000))
    ctl apply -f - >/dev/null <<EOF
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: bench-$r
spec:
  order: $order
  selector: all()
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    source:
      $src
    destination:
      ports: [80]
  - action: Allow
EOF
    ctl_ms+=($(($(date +%s%N) / 1000000 - start)))
    worst=0
    for n in n1 n2 n3; do
        for _ in $(seq 1 100); do
            [ "$(programmed "$n")" -gt "${before[$n]}" ] && break
            sleep 0.05
        done
        line=$(grep 'policy programmed' "$TABBY_LAB_STATE/$n/tabby-node.log" | sed -n "$((before[$n] + 1))p")
        [ -n "$line" ] || { echo "lab_apply: $n did not program round $r" >&2; exit 1; }
        t=$(($(ms_of "$line") - start))
        single+=("$t")
        [ "$t" -gt "$worst" ] && worst=$t
    done
    cluster+=("$worst")
done

if lab probe default/a default/b 80/tcp; then
    echo "lab_apply: the last policy is not enforced: a still reaches b" >&2
    exit 1
fi

stats() {
    sort -n | awk '{v[NR]=$1} END {p90=int(NR*0.9)+1; if (p90>NR) p90=NR
        printf "p50 %d ms, p90 %d ms, max %d ms", v[int(NR*0.5)+1], v[p90], v[NR]}'
}
echo "apply -> enforced, $rounds policies, 3 nodes (lab ${up_args[*]:-native, sqlite}):"
echo "  all nodes:  $(printf '%s\n' "${cluster[@]}" | stats)"
echo "  each node:  $(printf '%s\n' "${single[@]}" | stats)"
echo "  tabbyctl apply alone (process start to exit, part of the above): $(printf '%s\n' "${ctl_ms[@]}" | stats)"
echo "  (the last policy was probed: enforced)"
