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
