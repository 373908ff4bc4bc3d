#!/usr/bin/env bash
# cni_containerd.sh — containerd's `ctr run --cni` running containers on a conflist that
# uses tabby, from inside a node namespace: a container gets an address from the pool and
# reaches the node and another container; when each exits, ctr runs DEL with an EMPTY
# CNI_NETNS (the task's namespace is gone by then), which must still release everything.
#
# ctr reads /etc/cni/net.d and /opt/cni/bin, with no option to say otherwise: containerd
# and ctr run in a private mount namespace where this run's folders are mounted there.
# containerd keeps its state in the scratch folder, without its CRI plugin. The image is
# an OCI archive made here from a busybox-static root (no registry is reachable). SKIP
# when containerd, ctr, runc or busybox-static is missing.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers_lib.sh"
. "$(dirname "$0")/cni_lib.sh"

cni_begin cni_containerd
cni_need ctr_runs_containers_on_tabby "containerd, runc" containerd ctr runc
cni_need_busybox ctr_runs_containers_on_tabby
if [ ! -d /etc/cni/net.d ]; then
    skip ctr_runs_containers_on_tabby "/etc/cni/net.d does not exist to mount this run's conflist over"
    t_end
fi

CD=$T_TMP/containerd
mkdir -p "$CD/netd" "$CD/flag"
jq -n --argjson tabby "$(cni_conf | jq 'del(.cniVersion, .name) + {log_level: "debug"}')" \
    '{cniVersion: "1.0.0", name: "k8s-pod-network", plugins: [$tabby]}' >"$CD/netd/10-tabby.conflist"
ct_containerd_conf "$CD"

# What runs inside the private mount namespace (and the node's network namespace): ctr
# runs the CNI plugins itself, so it must see the mounted folders too. The other container
# runs until the first is done (it waits for a file of the shared folder /flag); every
# wait has a deadline (60 s), each ping up to 10 tries.
cat >"$CD/inner.sh" <<'EOF'
set -u
CD=$1 BIN=$2 TABBYCTL=$3 STORE=$4
mount -t tmpfs tabby-test /opt && mkdir -p /opt/cni/bin && mount --bind "$BIN" /opt/cni/bin &&
    mount --bind "$CD/netd" /etc/cni/net.d || { echo "SETUP mounts failed"; exit 1; }
containerd --config "$CD/config.toml" >"$CD/containerd.log" 2>&1 &
pid=$!
echo "PID $pid"
end=$((SECONDS + 60))
until [ -S "$CD/containerd.sock" ] || [ $SECONDS -ge $end ]; do sleep 0.1; done
export CONTAINERD_ADDRESS=$CD/containerd.sock
ctr images import "$CD/image.tar" >"$CD/import.log" 2>&1 || echo "SETUP image import failed"
timeout 120 ctr run --rm --cni --mount "type=bind,src=$CD/flag,dst=/flag,options=rbind:ro" \
    localhost/tabby-bb:latest other sh -c 'until [ -e /flag/stop ]; do sleep 0.1; done' \
    </dev/null >"$CD/other.log" 2>&1 &
other=$!
end=$((SECONDS + 60))
while :; do
    OTHER=$("$TABBYCTL" --store "$STORE" get wep -o json |
        jq -r '.items[]? // . | .spec.ipNetworks[0] // empty' | cut -d/ -f1)
    [ -n "$OTHER" ] || [ $SECONDS -ge $end ] && break
    sleep 0.1
done
echo "OTHER $OTHER"
timeout 120 ctr run --rm --cni localhost/tabby-bb:latest first sh -c '
    reach() { for i in $(seq 10); do ping -c 1 -W 1 "$1" >/dev/null && return 0; done; return 1; }
    ip -o -4 addr show eth0 | sed "s/^/ADDR /"
    reach 192.168.200.1 && echo NODE ok
    reach "$1" && echo OTHER ok' first "$OTHER" </dev/null
echo "FIRST rc=$?"
touch "$CD/flag/stop"
wait "$other"
echo "SECOND rc=$?"
kill "$pid"
wait "$pid"
EOF

ct_busybox_image "$CD" localhost/tabby-bb:latest '["/bin/sh"]'
# at runs `ip netns exec`, which remounts /sys and would hide the cgroups runc needs.
nsenter --net="/run/netns/$CNI_PFX-$NODE" unshare -m --propagation private \
    bash "$CD/inner.sh" "$CD" "$CNI_BIN" "$TABBYCTL" "$STORE" >"$T_TMP/ctr.log" 2>&1
grep -q '^SETUP' "$T_TMP/ctr.log" && { skip ctr_runs_containers_on_tabby "$(grep '^SETUP' "$T_TMP/ctr.log")"; t_end; }

test_ctr_runs_containers_on_tabby() {
    local addr
    addr=$(sed -n 's/^ADDR .* inet \([0-9.]*\)\/32.*/\1/p' "$T_TMP/ctr.log")
    if [[ $addr != 10.10.* ]]; then
        fail ctr_runs_containers_on_tabby "no pool address: $(head -c 600 "$T_TMP/ctr.log")"
    elif ! grep -q '^NODE ok' "$T_TMP/ctr.log" || ! grep -q '^OTHER ok' "$T_TMP/ctr.log"; then
        fail ctr_runs_containers_on_tabby "$addr reaches neither the node nor the other container: $(head -c 600 "$T_TMP/ctr.log")"
    elif ! grep -q '^FIRST rc=0' "$T_TMP/ctr.log" || ! grep -q '^SECOND rc=0' "$T_TMP/ctr.log"; then
        fail ctr_runs_containers_on_tabby "ctr run failed: $(grep 'rc=' "$T_TMP/ctr.log" | tr '\n' ' ') $(tail -3 "$T_TMP/ctr.log")"
    else
        pass ctr_runs_containers_on_tabby
    fi
}

test_del_with_empty_netns_releases_everything() {
    # The plugin's debug log says how ctr called it.
    local dels
    dels=$(cat "$T_TMP/ctr.log" "$CD/other.log" | grep 'call command=DEL')
    if [ "$(grep -c 'container=default-[a-z]* netns= ' <<<"$dels")" != 2 ]; then
        fail ctr_del_with_empty_netns_releases_everything "ctr did not run DEL with an empty CNI_NETNS for both: $dels"
    elif nothing_left; then
        pass ctr_del_with_empty_netns_releases_everything
    else
        fail ctr_del_with_empty_netns_releases_everything "$WHY"
    fi
}

test_ctr_runs_containers_on_tabby
test_del_with_empty_netns_releases_everything
t_end
