#!/usr/bin/env bash
# image.sh — the tabby-node image (`make image`, tools/image.sh): built twice from one
# build, in two separate podman storages and without cache, it has the same ID (the
# digest of its configuration and so of its layer); it holds what the DaemonSet's pod runs
# (tabby-node and install-cni, tabbyctl, both plugins in /opt/cni/bin, BIRD, the probes)
# and each runs in a container with nothing but the image (the plugins load libcurl,
# tabbyctl reaches for etcd); its size is printed; and `podman image save` gives an archive
# that containerd imports (`ctr images import`) under the image's name and runs.
#
# podman and containerd keep their state in this run's scratch folder; containers run
# with no network (--network none: a namespace of their own with only loopback).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers_lib.sh"
t_begin image
t_need_root
for tool in podman runc; do
    command -v "$tool" >/dev/null || { skip image "$tool is not installed"; t_end; }
done
[ -x /bin/busybox ] || { skip image "busybox-static is not installed"; t_end; }

PM=$T_TMP/podman
# storage N: podman's storage configuration number N (each its own folder).
storage() {
    ct_podman_conf "$PM" "$1"
    echo "$PM/storage$1.conf"
}
export CONTAINERS_CONF=$PM/containers.conf
podman_cleanup() {
    local s
    for s in "$PM"/storage?.conf; do
        [ -e "$s" ] || continue
        CONTAINERS_STORAGE_CONF=$s podman rm -f -a -t 0 >/dev/null 2>&1
        CONTAINERS_STORAGE_CONF=$s podman system reset -f >/dev/null 2>&1
    done
    findmnt -rn -o TARGET | grep "^$PM" | sort -r | xargs -r umount -l 2>/dev/null
}
t_on_exit podman_cleanup

# ---- two builds, one ID ---------------------------------------------------------------
S1=$(storage 1) S2=$(storage 2)
TAG=localhost/tabby-node:test
CONTAINERS_STORAGE_CONF=$S1 "$T_TOP/tools/image.sh" "$T_BUILD" --tag "$TAG" \
    --save "$T_TMP/image.tar" >"$T_TMP/build1.log" 2>&1
rc1=$?
CONTAINERS_STORAGE_CONF=$S2 "$T_TOP/tools/image.sh" "$T_BUILD" --tag "$TAG" \
    >"$T_TMP/build2.log" 2>&1
rc2=$?
id1=$(sed -n 's/^image .* id //p' "$T_TMP/build1.log")
id2=$(sed -n 's/^image .* id //p' "$T_TMP/build2.log")
if [ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ -n "$id1" ] && [ "$id1" = "$id2" ]; then
    pass two_builds_same_image_id
else
    fail two_builds_same_image_id "$id1 vs $id2: $(tail -3 "$T_TMP/build1.log" \
        "$T_TMP/build2.log")"
    t_end
fi
grep '^image size' "$T_TMP/build1.log"
mib=$(sed -n 's/^image size .*, \([0-9]*\) MiB compressed.*/\1/p' "$T_TMP/build1.log")
if [ -n "$mib" ] && [ "$mib" -lt 50 ]; then
    pass image_far_below_calicos_200mb
else
    fail image_far_below_calicos_200mb "$(grep '^image size' "$T_TMP/build1.log")"
fi

# ---- what it holds runs -----------------------------------------------------------------
export CONTAINERS_STORAGE_CONF=$S1
run() { timeout 120 podman run --rm --network none --entrypoint "$1" "$TAG" "${@:2}" 2>&1; }
out=$(run tabby-node --help)
[[ $out == *"Usage: tabby-node"* ]] && out=$(run tabby-node install-cni --help)
if [[ $out == *"Usage: tabby-node install-cni"* ]]; then
    pass tabby_node_and_install_cni_run
else
    fail tabby_node_and_install_cni_run "$out"
fi
out=$(run /bin/sh -c 'for p in tabby tabby-ipam; do
    CNI_COMMAND=VERSION /opt/cni/bin/$p </dev/null | grep -c supportedVersions; done')
if [ "$(echo $out)" = "1 1" ]; then
    pass plugins_in_opt_cni_bin_run
else
    fail plugins_in_opt_cni_bin_run "$out"
fi
# The etcd datastore loads libcurl and all it needs: the error is etcd's, not the loader's.
out=$(run tabbyctl --store etcd:http://127.0.0.1:1 get ippool)
if [[ $out == *"connection refused"* ]]; then
    pass libraries_complete_for_etcd_and_the_api
else
    fail libraries_complete_for_etcd_and_the_api "$out"
fi
out=$(run bird --version)
out2=$(run /usr/lib/tabby/probe ready)
if [[ $out == *"BIRD version 2"* ]] && [[ $out2 == "tabby-node: /readiness: no answer" ]]; then
    pass bird_and_probe_present
else
    fail bird_and_probe_present "$out / $out2"
fi

# ---- containerd imports the saved archive ---------------------------------------------
if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
    skip ctr_imports_the_saved_image "containerd is not installed"
    t_end
fi
CD=$T_TMP/containerd
ct_containerd_conf "$CD"
containerd --config "$CD/config.toml" >"$CD/containerd.log" 2>&1 &
cd_pid=$!
t_on_exit "kill $cd_pid 2>/dev/null; wait $cd_pid 2>/dev/null; \
findmnt -rn -o TARGET | grep '^$CD' | sort -r | xargs -r umount -l 2>/dev/null"
export CONTAINERD_ADDRESS=$CD/containerd.sock
if t_wait 60 test -S "$CD/containerd.sock" &&
    ctr images import "$T_TMP/image.tar" >"$CD/import.log" 2>&1 &&
    ctr images ls -q | grep -qx "$TAG" &&
    out=$(timeout 120 ctr run --rm "$TAG" img-test bird --version 2>&1) &&
    [[ $out == *"BIRD version 2"* ]]; then
    pass ctr_imports_the_saved_image
else
    fail ctr_imports_the_saved_image "$(tail -2 "$CD/import.log") $(ctr images ls -q 2>&1 |
        tr '\n' ' ') ${out:-}"
fi
t_end
