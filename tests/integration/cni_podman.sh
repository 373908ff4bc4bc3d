#!/usr/bin/env bash
# cni_podman.sh — podman (its CNI network backend, runc, cgroupfs) running containers on a
# network whose conflist uses tabby, from inside a node namespace: the containers get
# addresses from the IP pool and reach each other and the node, and `podman rm` leaves
# nothing behind. No registry is reachable: the image is imported from a busybox-static
# root. podman keeps all its state in this run's scratch folder (a private containers.conf
# and storage.conf); SKIP when podman, runc or busybox-static is missing.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers_lib.sh"
. "$(dirname "$0")/cni_lib.sh"

cni_begin cni_podman
cni_need podman_runs_pods_on_tabby "podman, runc" podman runc
cni_need_busybox podman_runs_pods_on_tabby

PM=$T_TMP/podman
NET=tbynet$$
mkdir -p "$PM/net" "$PM/rootfs/bin"
ct_podman_conf "$PM"
cat >>"$PM/containers.conf" <<EOF
[network]
network_backend = "cni"
cni_plugin_dirs = ["$CNI_BIN"]
network_config_dir = "$PM/net"
default_network = "$NET"
EOF
jq -n --arg net "$NET" --argjson tabby "$(cni_conf | jq 'del(.cniVersion, .name)')" \
    '{cniVersion: "1.0.0", name: $net, plugins: [$tabby]}' >"$PM/net/$NET.conflist"
export CONTAINERS_CONF=$PM/containers.conf CONTAINERS_STORAGE_CONF=$PM/storage.conf

# podman inside the node's network namespace only: `ip netns exec` would remount /sys,
# hiding the cgroup mounts runc needs.
pm() { nsenter --net="/run/netns/$CNI_PFX-$NODE" podman "$@"; }

podman_cleanup() {
    pm rm -f -a -t 0 >/dev/null 2>&1
    pm system reset -f >/dev/null 2>&1
    # The overlay driver mounts its own folder; nothing of it may outlive the run.
    findmnt -rn -o TARGET | grep "^$PM" | sort -r | xargs -r umount -l 2>/dev/null
}
t_on_exit podman_cleanup

cp /bin/busybox "$PM/rootfs/bin/"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$PM/rootfs/bin/$applet"
done
if ! tar -C "$PM/rootfs" -c . | podman import --change 'CMD ["/bin/sh"]' - localhost/tabby-bb \
    >"$T_TMP/import.log" 2>&1; then
    skip podman_runs_pods_on_tabby "podman import failed: $(tail -1 "$T_TMP/import.log")"
    t_end
fi

test_podman_runs_pods_on_tabby() {
    local c ips=() ip bad=
    for c in a b c; do
        if ! pm run -d --name "$NET-$c" --cap-add NET_RAW localhost/tabby-bb sleep 600 \
            >"$T_TMP/run.log" 2>&1; then
            fail podman_runs_pods_on_tabby "podman run: $(tail -3 "$T_TMP/run.log")"
            return
        fi
        ip=$(pm inspect "$NET-$c" --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}")
        ips+=("$ip")
    done
    for ip in "${ips[@]}"; do
        [[ $ip == 10.10.* ]] || bad+="address $ip is not from the pool; "
        pod_ping "$NODE" "$ip" || bad+="node cannot reach $ip; "
        for c in a b c; do
            t_wait 10 pm exec "$NET-$c" ping -c 1 -W 1 "$ip" || bad+="$c cannot reach $ip; "
        done
    done
    [ "$(ctl get wep -o name | wc -l)" = 3 ] || bad+="$(ctl get wep -o name | wc -l) endpoints, not 3; "
    if [ -n "$bad" ]; then
        fail podman_runs_pods_on_tabby "${ips[*]}: $bad"
    else
        pass podman_runs_pods_on_tabby
    fi
}

test_podman_rm_leaves_nothing() {
    if ! pm rm -f -t 0 "$NET-a" "$NET-b" "$NET-c" >"$T_TMP/rm.log" 2>&1; then
        fail podman_rm_leaves_nothing "podman rm: $(tail -3 "$T_TMP/rm.log")"
    elif ! nothing_left; then
        fail podman_rm_leaves_nothing "$WHY"
    else
        pass podman_rm_leaves_nothing
    fi
}

test_podman_runs_pods_on_tabby
test_podman_rm_leaves_nothing
t_end
