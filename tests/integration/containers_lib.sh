# containers_lib.sh — private configurations for the real container runtimes the tests
# drive (MACHINE-NOTES: runc, not crun; cgroupfs; ulimits within the hard limits), so that
# podman and containerd keep all their state in a test's scratch folder. Source it.
#
#   ct_podman_conf DIR [N]   writes DIR/containers.conf and DIR/storage[N].conf (overlay
#                            under DIR); a test may append sections (a [network] table) to
#                            containers.conf; export CONTAINERS_CONF and
#                            CONTAINERS_STORAGE_CONF to use them
#   ct_containerd_conf DIR   writes DIR/config.toml: state under DIR, sockets
#                            DIR/containerd.sock(.ttrpc), no CRI plugin
#   ct_containerd_cri_conf DIR CNI-BIN CNI-CONF IMAGE
#                            the same with the CRI plugin: runc through cgroupfs (its state
#                            under DIR too), the CNI plugins and network list from those
#                            folders, IMAGE as the sandbox (pause) image, the sandboxes'
#                            network namespaces mounted under DIR, its streaming server on
#                            loopback, oom_score_adj kept within what the caller may set
#                            (these machines lack CAP_SYS_RESOURCE: runc fails on the
#                            sandbox's -998)
#   ct_busybox_image DIR NAME CMD-JSON
#                            DIR/image.tar: an OCI image archive named NAME (for `ctr
#                            images import`) of one uncompressed layer, busybox-static and
#                            its applets, running CMD-JSON (no registry is reachable)

ct_podman_conf() {
    local dir=$1 n=${2:-}
    mkdir -p "$dir"
    cat >"$dir/containers.conf" <<EOC
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
EOC
    cat >"$dir/storage$n.conf" <<EOC
[storage]
driver = "overlay"
graphroot = "$dir/storage$n"
runroot = "$dir/run$n"
EOC
}

ct_containerd_conf() {
    mkdir -p "$1"
    cat >"$1/config.toml" <<EOC
version = 2
root = "$1/root"
state = "$1/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$1/containerd.sock"
[ttrpc]
  address = "$1/containerd.sock.ttrpc"
EOC
}

ct_containerd_cri_conf() {
    mkdir -p "$1"
    cat >"$1/config.toml" <<EOC
version = 2
root = "$1/root"
state = "$1/state"
[grpc]
  address = "$1/containerd.sock"
[ttrpc]
  address = "$1/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$4"
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$1/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$2"
    conf_dir = "$3"
    max_conf_num = 1
EOC
}

# ct_blob DIR FILE: stores FILE in DIR's OCI layout under its digest; prints "DIGEST SIZE".
ct_blob() {
    local digest size
    digest=$(sha256sum "$2" | cut -d' ' -f1)
    size=$(stat -c %s "$2")
    mv "$2" "$1/blobs/sha256/$digest"
    echo "$digest $size"
}

ct_busybox_image() {
    local dir=$1/image oci=$1/image/oci layer config manifest applet
    mkdir -p "$dir/rootfs/bin" "$oci/blobs/sha256"
    cp /bin/busybox "$dir/rootfs/bin/"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$dir/rootfs/bin/$applet"
    done
    tar -C "$dir/rootfs" -cf "$dir/layer" .
    read -r -a layer <<<"$(ct_blob "$oci" "$dir/layer")"
    printf '{"architecture":"amd64","os":"linux","config":{"Cmd":%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$3" "${layer[0]}" >"$dir/config"
    read -r -a config <<<"$(ct_blob "$oci" "$dir/config")"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
        "${config[0]}" "${config[1]}" "${layer[0]}" "${layer[1]}" >"$dir/manifest"
    read -r -a manifest <<<"$(ct_blob "$oci" "$dir/manifest")"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s"}}]}' \
        "${manifest[0]}" "${manifest[1]}" "$2" >"$oci/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
    tar -C "$oci" -cf "$1/image.tar" .
}
