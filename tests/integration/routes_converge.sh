#!/bin/bash
# routes_converge.sh — the route manager converges by difference: a second apply changes
# nothing, the CNI plugin's own workload route is adopted, routes of other protocols are
# never touched (not even one holding a destination tabby wants), a node that goes away
# takes exactly its route, neighbour and FDB entry with it, a VTEP's new MAC replaces the
# old, netlink notifications bring back what someone deleted, and a pool that stops
# using VXLAN takes vxlan.tabby away.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/routes_lib.sh"

lab_begin routes-converge

# state FILE POOL_MODE [NODES…]: pool, nodes (name:mac) and a's workload.
state() {
    local file=$1 mode=$2 spec n=0
    shift 2
    {
        printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: pool}\n'
        printf 'spec: {cidr: 10.65.0.0/16, vxlanMode: %s}\n' "$mode"
        for spec in "$@"; do
            printf -- '---\napiVersion: projectcalico.org/v3\nkind: Node\n'
            printf 'metadata: {name: %s}\nspec:\n' "$(yaml_str "${spec%%:*}")"
            printf '  bgp: {ipv4Address: 192.168.1.1%d/24}\n' "$n"
            printf '  ipv4VXLANTunnelAddr: 10.65.%d.0\n' "$n"
            printf '  vxlanTunnelMACAddr: %s\n' "${spec#*:}"
            n=$((n + 1))
        done
        printf -- '---\napiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n'
        printf 'metadata: {name: a-k8s-pa-eth0, namespace: default}\n'
        printf 'spec: {node: a, interfaceName: tbypa, ipNetworks: [10.65.0.5/32]}\n'
    } >"$file"
}
BLOCKS=(--block 10.65.0.0/26=a --block 10.65.1.0/26=b --block 10.65.2.0/26=c)
state "$T_TMP/abc.yaml" Always a:66:de:a2:00:00:0a b:66:de:a2:00:00:0b c:66:de:a2:00:00:0c
state "$T_TMP/ab.yaml" Always a:66:de:a2:00:00:0a b:66:de:a2:00:00:0b
state "$T_TMP/ab-newmac.yaml" Always a:66:de:a2:00:00:0a b:66:de:a2:00:01:0b
state "$T_TMP/native.yaml" Never a:66:de:a2:00:00:0a b:66:de:a2:00:01:0b

fab_switch fab
fab_node a fab 192.168.1.10/24
lab_pod a pa 10.65.0.5

# stat NAME: the count NAME=… in the driver's "applied" line.
stat() {
    local word
    for word in $(echo "$OUT" | grep '^applied'); do
        case $word in "$1="*) echo "${word#*=}" ;; esac
    done
}

# The CNI plugin made the workload route already (protocol boot, as `ip route` does).
at a ip route add 10.65.0.5 dev tbypa scope link
if apply a "$T_TMP/abc.yaml" "${BLOCKS[@]}" && [ "$(stat routes_adopted)" = 1 ] &&
    [ -n "$(at a ip route show 10.65.0.5 proto boot)" ]; then
    pass converge-adopts-the-cni-plugins-route
else
    fail converge-adopts-the-cni-plugins-route "$OUT"
fi

if apply a "$T_TMP/abc.yaml" "${BLOCKS[@]}" && [ "$(stat changes)" = 0 ]; then
    pass converge-second-apply-changes-nothing
else
    fail converge-second-apply-changes-nothing "$OUT"
fi

# Someone else's routes: one beside tabby's, one inside the pool, one on a destination
# tabby wants (it replaced tabby's route there).
at a ip route add 10.99.0.0/24 via 192.168.1.11 proto static
at a ip route add 10.65.3.0/26 via 192.168.1.11 proto bird
at a ip route replace 10.65.2.0/26 via 192.168.1.11 proto bird
foreign_before=$(at a ip route show | grep -E 'proto (static|bird)')
apply a "$T_TMP/abc.yaml" "${BLOCKS[@]}"
foreign_after=$(at a ip route show | grep -E 'proto (static|bird)')
if [ "$RC" = 0 ] && [ "$(stat changes)" = 0 ] && [ "$(stat routes_conflicting)" = 1 ] &&
    [ "$foreign_before" = "$foreign_after" ] && [ "$(echo "$foreign_after" | wc -l)" = 3 ]; then
    pass converge-foreign-routes-untouched
else
    fail converge-foreign-routes-untouched "$OUT // $foreign_after"
fi
at a ip route del 10.65.2.0/26 proto bird
if apply a "$T_TMP/abc.yaml" "${BLOCKS[@]}" && [ "$(stat routes_added)" = 1 ] &&
    has "$(routes a)" "10.65.2.0/26 via 10.65.2.0 dev vxlan.tabby onlink"; then
    pass converge-takes-a-freed-destination
else
    fail converge-takes-a-freed-destination "$OUT"
fi

# Node c goes away, with its block.
apply a "$T_TMP/ab.yaml" --block 10.65.0.0/26=a --block 10.65.1.0/26=b
neigh=$(at a ip neigh show dev vxlan.tabby)
fdb=$(at a bridge fdb show dev vxlan.tabby)
if [ "$RC" = 0 ] && [ "$(stat changes)" = 3 ] && [ "$(stat routes_deleted)" = 1 ] &&
    [ "$(stat neighs_deleted)" = 1 ] && [ "$(stat fdbs_deleted)" = 1 ] &&
    ! has "$neigh$fdb$(routes a)" "10.65.2.0" && ! has "$fdb" "66:de:a2:00:00:0c" &&
    has "$neigh" "10.65.1.0" && has "$fdb" "66:de:a2:00:00:0b dst 192.168.1.11"; then
    pass converge-removed-node-takes-its-entries
else
    fail converge-removed-node-takes-its-entries "$OUT // $neigh // $fdb"
fi

apply a "$T_TMP/ab-newmac.yaml" --block 10.65.0.0/26=a --block 10.65.1.0/26=b
neigh=$(at a ip neigh show dev vxlan.tabby)
fdb=$(at a bridge fdb show dev vxlan.tabby)
if [ "$RC" = 0 ] && [ "$(stat neighs_set)" = 1 ] && [ "$(stat fdbs_set)" = 1 ] &&
    [ "$(stat fdbs_deleted)" = 1 ] && [ "$(stat changes)" = 3 ] &&
    has "$neigh" "10.65.1.0 lladdr 66:de:a2:00:01:0b PERMANENT" &&
    has "$fdb" "66:de:a2:00:01:0b dst 192.168.1.11" && ! has "$fdb" "66:de:a2:00:00:0b"; then
    pass converge-new-vtep-mac-replaces-the-old
else
    fail converge-new-vtep-mac-replaces-the-old "$OUT // $neigh // $fdb"
fi

# watch_repair NAME CMD…: with the driver watching (it has applied, and waits up to 30 s
# for a change to repair), CMD breaks something; the driver must notice and put it back.
watch_repair() {
    local name=$1 pid
    shift
    at a "$DRIVER" watch a "$T_TMP/ab-newmac.yaml" --block 10.65.0.0/26=a \
        --block 10.65.1.0/26=b 30 >"$T_TMP/watch.out" 2>&1 &
    pid=$!
    LAB_PIDS+=("$pid")
    t_wait 30 grep -q '^applied' "$T_TMP/watch.out"
    "$@"
    if wait "$pid" && grep -q '^repaired changes=' "$T_TMP/watch.out"; then
        return 0
    fi
    fail "$name" "$(cat "$T_TMP/watch.out")"
    return 1
}

if watch_repair converge-repairs-a-deleted-route at a ip route del 10.65.1.0/26; then
    has "$(routes a)" "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink" &&
        pass converge-repairs-a-deleted-route ||
        fail converge-repairs-a-deleted-route "route not back: $(routes a)"
fi

if watch_repair converge-repairs-a-deleted-device at a ip link del vxlan.tabby; then
    fdb=$(at a bridge fdb show dev vxlan.tabby 2>&1)
    if has "$(routes a)" "10.65.1.0/26 via 10.65.1.0 dev vxlan.tabby onlink" &&
        has "$fdb" "66:de:a2:00:01:0b dst 192.168.1.11"; then
        pass converge-repairs-a-deleted-device
    else
        fail converge-repairs-a-deleted-device "$(routes a) // $fdb"
    fi
fi

# The pool goes native: BIRD's business now. The device and tabby's VXLAN routes and
# blackhole go; the workload route the CNI plugin made stays.
apply a "$T_TMP/native.yaml" --block 10.65.0.0/26=a --block 10.65.1.0/26=b
if [ "$RC" = 0 ] && ! at a ip link show vxlan.tabby >/dev/null 2>&1 &&
    [ -z "$(routes a)" ] && [ -n "$(at a ip route show 10.65.0.5 proto boot)" ]; then
    pass converge-native-pool-removes-vxlan
else
    fail converge-native-pool-removes-vxlan "$OUT // $(routes a)"
fi

t_end
