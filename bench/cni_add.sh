#!/usr/bin/env bash
# cni_add.sh — the CNI ADD/DEL benchmark (bench/cni_add.c): tabby with tabby-ipam on a
# sqlite datastore against the reference bridge + host-local (Debian's
# containernetworking-plugins), 200 pods each, side by side in one run, inside a node
# namespace of its own (nothing touches the root namespace). Needs root.
#
#   bench/cni_add.sh [--build DIR] [--pods N] [--no-holder]
#
# A running tabby-node keeps the datastore open; a background sqlite3 stands in for it
# (--no-holder leaves the plugins alone with the file, so that each one's exit also
# checkpoints the write-ahead log).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build pods=200 holder=1
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --pods) pods=$2; shift 2 ;;
    --no-holder) holder=0; shift ;;
    *) echo "usage: $0 [--build DIR] [--pods N] [--no-holder]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "cni_add: needs root (network namespaces)" >&2; exit 1; }
for f in "$build/tabby" "$build/tabby-ipam" "$build/tabbyctl" "$build/bench/cni_add" \
    /usr/lib/cni/bridge /usr/lib/cni/host-local; do
    [ -x "$f" ] || { echo "cni_add: $f is missing (make, and containernetworking-plugins)" >&2; exit 1; }
done

pfx=tbybench$$
tmp=$(mktemp -d /tmp/tby-cni-bench-XXXXXX)
namespaces=("$pfx-node")
holder_pid=
cleanup() {
    exec 9>&-
    [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The node: an uplink with an address and a default route, forwarding on.
ip netns add "$pfx-node"
node() { ip netns exec "$pfx-node" "$@"; }
node ip link set lo up
node sysctl -qw net.ipv4.ip_forward=1
node ip link add eth0 type veth peer name eth0p
node ip addr add 192.168.200.1/24 dev eth0
node ip link set eth0 up
node ip link set eth0p up
node ip route add default via 192.168.200.254 dev eth0 onlink

mkdir -p "$tmp/bin"
ln -s "$build/tabby" "$build/tabby-ipam" /usr/lib/cni/bridge /usr/lib/cni/host-local "$tmp/bin/"
store=sqlite:$tmp/tabby.db
"$build/tabbyctl" --store "$store" apply -f - >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: bench-pool}
spec: {cidr: 10.10.0.0/16, blockSize: 26}
YAML
printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"tabby","datastore":"%s","nodename":"node1","ipam":{"type":"tabby-ipam"}}\n' \
    "$store" >"$tmp/tabby.json"
printf '{"cniVersion":"1.0.0","name":"bench-bridge","type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","dataDir":"%s/host-local","ranges":[[{"subnet":"10.99.0.0/16"}]]}}\n' \
    "$tmp" >"$tmp/bridge.json"

for i in $(seq 1 "$pods"); do
    for name in tabby bridge; do
        ip netns add "$pfx-$name-$i"
        namespaces+=("$pfx-$name-$i")
    done
done
if [ "$holder" = 1 ]; then
    # sqlite3 opens the file on its first statement and keeps it until its input (a FIFO
    # this script holds open on fd 9) ends.
    mkfifo "$tmp/holder"
    sqlite3 "$tmp/tabby.db" <"$tmp/holder" >/dev/null 2>&1 &
    holder_pid=$!
    exec 9>"$tmp/holder"
    echo 'SELECT count(*) FROM kv;' >&9
    sleep 0.3
fi
echo "(bridge = bridge + host-local; datastore held open by a stand-in for tabby-node: $([ "$holder" = 1 ] && echo yes || echo no))"
node "$build/bench/cni_add" --pods "$pods" --netns-prefix "$pfx" --cni-path "$tmp/bin" \
    tabby=tabby:"$tmp/tabby.json" bridge=bridge:"$tmp/bridge.json"
