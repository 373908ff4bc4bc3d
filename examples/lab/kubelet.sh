# kubelet.sh — the kubelet's part for the DaemonSet tabby-node, played by a real container
# runtime: the DaemonSet's pod template of manifests/tabby.yaml itself (kube_pod.py makes
# the Pod a kubelet would run) run by `podman kube play` (podman 4.3, CNI backend, runc,
# cgroupfs) in a node's network namespace, with that node's own host folders (hostPath
# volumes) and the cluster's API server. Sourced by examples/lab/lab (--runtime podman)
# and tests/integration/kube_lib.sh, after fabric.sh (fab_name).
#
#   kp_podman DIR                 podman's configuration and storage, all under DIR,
#                                 exported (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF)
#   kp_pm NODE ARGS…              podman in NODE's network namespace: nsenter --net, as
#                                 `ip netns exec` mounts a fresh /sys, which hides the cgroups
#                                 runc needs
#   kp_image BUILD IMAGE [ARCHIVE]
#                                 IMAGE in podman's storage: there already; else loaded from
#                                 ARCHIVE when that is newer than BUILD's programs and
#                                 tools/image*; else
#                                 built from BUILD by tools/image.sh (and saved to ARCHIVE for
#                                 the next time). Its output goes to stdout.
#   kp_sa KAPI OUT [SECONDS]      tabby-node's service account folder OUT, as the kubelet
#                                 projects it into the pod and keeps it: a token of
#                                 kube-system/tabby-node (from the API server whose state is
#                                 KAPI) SECONDS long (default 3607, the kubelet's), a new one
#                                 once 80% of the last one's life is gone, each put in place
#                                 as a projected volume is updated (kapi_sa_projected). The
#                                 renewing loop runs in the background under $KAPI_EXEC (the
#                                 API server's namespace: removing the namespaces ends it;
#                                 its pid in OUT.pid, its log in OUT.log)
#   kp_pod NODE DIR SA API_HOST API_PORT [IMAGE] [BACKEND] [POD_NAME]
#                                 the Pod into DIR/pod.yaml and DIR/configmap.yaml (kube_pod.py);
#                                 the node's host folders are DIR/host
#   kp_play NODE DIR [ARGS…]      podman kube play of DIR's pod in NODE's namespace (log:
#                                 DIR/play.log); ARGS e.g. --replace
#   kp_cni NODE HOST COMMAND CID NETNS CNI_ARGS
#                                 the plugin install-cni installed into NODE's host folders
#                                 HOST, run as containerd's CRI runs it (see below); the
#                                 result on stdout, the plugin's log on stderr
#   kp_cleanup DIR POD.YAML…      every pod played from those files stopped, podman's
#                                 storage emptied (system reset), and what it mounted under
#                                 DIR unmounted

KP_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../tests/integration/containers_lib.sh
. "$KP_HERE/../../tests/integration/containers_lib.sh"

kp_podman() {
    ct_podman_conf "$1"
    export CONTAINERS_CONF=$1/containers.conf CONTAINERS_STORAGE_CONF=$1/storage.conf
}

kp_pm() {
    local node=$1
    shift
    nsenter --net="/run/netns/$(fab_name "$node")" podman "$@"
}

kp_image() {
    local build=$1 image=$2 archive=${3:-} f fresh=1
    podman image exists "$image" && return 0
    for f in "$build"/{tabby-node,tabbyctl,tabby,tabby-ipam} "$KP_HERE"/../../tools/image.sh \
        "$KP_HERE"/../../tools/image/*; do
        [ -n "$archive" ] && [ "$archive" -nt "$f" ] || fresh=0
    done
    if [ $fresh = 1 ] && podman load -i "$archive" && podman image exists "$image"; then
        return 0
    fi
    "$KP_HERE/../../tools/image.sh" "$build" --tag "$image" ${archive:+--save "$archive"}
}

kp_sa() {
    local seconds=${3:-3607}
    kapi_sa_projected "$1" kube-system tabby-node "$2" "$seconds" || return 1
    # shellcheck disable=SC2016 # expanded by the loop's shell
    ${KAPI_EXEC:-} bash -c 'unset KAPI_EXEC; . "$1"; every=$(($4 * 4 / 5))
        while sleep "$every"; do
            if kapi_sa_projected "$2" kube-system tabby-node "$3" "$4"; then every=$(($4 * 4 / 5))
            else every=5; fi   # the API server away: soon again, as the kubelet retries
        done' kp-sa "$KP_HERE/../../tests/k8s/kapi.sh" "$1" "$2" "$seconds" \
        </dev/null >"$2.log" 2>&1 &
    echo $! >"$2.pid"
}

kp_pod() {
    mkdir -p "$2/host/lib/modules" # the one hostPath the manifest expects to exist
    python3 "$KP_HERE/kube_pod.py" "$TOP_MANIFEST" "$2" "$3" "$1" "$4" "$5" "${6:-}" \
        "${7:-}" "${8:-}"
}
TOP_MANIFEST=${TOP_MANIFEST:-$KP_HERE/../../manifests/tabby.yaml}

# From DIR: podman 4.3 builds an image from a folder of the image's name in its working
# folder (a build folder has a file tabby-node), whatever --build says.
kp_play() {
    local node=$1 dir=$2
    shift 2
    (cd "$dir" && timeout 300 nsenter --net="/run/netns/$(fab_name "$node")" podman kube \
        play "$@" --configmap "$dir/configmap.yaml" "$dir/pod.yaml" >"$dir/play.log" 2>&1)
}

# The CRI runs the plugin from the node's /opt/cni/bin with the node's
# /etc/cni/net.d/10-tabby.conflist (its first plugin, with the list's name and version) and
# so the kubeconfig install-cni wrote there, and the nodename file tabby-node wrote to
# /var/lib/tabby: seen through a private mount namespace in which HOST's folders are
# mounted at those paths (over a tmpfs where the machine has no such folder). IPAM's
# host-wide lock file is the node's own (TABBY_IPAM_LOCK_FILE, not the machine's
# /var/run/tabby): each lab node is a host. Neither podman's CNI backend nor `ctr run
# --cni` calls it for a Kubernetes pod on its own: neither passes K8S_POD_NAMESPACE (only
# containerd's CRI plugin does, and no kubelet or crictl runs here; what podman passes is
# in the README, "Install on Kubernetes").
kp_cni() {
    fab_in "$1" unshare -m bash -c '
        mount -t tmpfs kube-play /opt && mkdir -p /opt/cni/bin &&
            mount --bind "$1/opt/cni/bin" /opt/cni/bin &&
            mount --bind "$1/etc/cni/net.d" /etc/cni/net.d || exit 99
        if [ -d "$1/var/lib/tabby" ]; then
            { [ -d /var/lib/tabby ] || { mount -t tmpfs kube-play /var/lib &&
                mkdir /var/lib/tabby; }; } &&
                mount --bind "$1/var/lib/tabby" /var/lib/tabby || exit 99
        fi
        jq -c ".plugins[0] + {name, cniVersion}" /etc/cni/net.d/10-tabby.conflist |
            TABBY_IPAM_LOCK_FILE=$1/ipam.lock \
            CNI_COMMAND=$2 CNI_CONTAINERID=$3 CNI_NETNS=$4 CNI_IFNAME=eth0 \
            CNI_PATH=/opt/cni/bin CNI_ARGS="$5" /opt/cni/bin/tabby' \
        cni "$2" "$3" "$4" "$5" "$6"
}

kp_cleanup() {
    local dir=$1 pod
    shift
    for pod; do
        [ ! -f "$pod" ] || podman kube down "$pod" >/dev/null 2>&1 || true
    done
    podman rm -f -a -t 0 >/dev/null 2>&1 || true
    podman pod rm -f -a >/dev/null 2>&1 || true
    podman system reset -f >/dev/null 2>&1 || true
    findmnt -rn -o TARGET | grep "^$dir/" | sort -r | xargs -r umount -l 2>/dev/null || true
}
