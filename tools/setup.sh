#!/usr/bin/env bash
# setup.sh — installs what tabby needs on Debian 12 (as root), then configures and
# builds it. Used by ./demo, ./check and CI; safe to run again (it only installs what is
# missing and rebuilds what changed).
#
#   tools/setup.sh [BUILD_DIR [CONFIGURE_ARGS…]]     (default: build, no extra args)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
shift || true
case $build in /*) ;; *) build=$top/$build ;; esac

# Build and run dependencies, then what the tests use to look at and drive the result.
packages=(
    build-essential autoconf automake libtool libtool-bin pkg-config
    libjansson-dev libyaml-dev libsqlite3-dev libcurl4-openssl-dev libnftnl-dev libmnl-dev
    libnl-3-dev libnl-route-3-dev libmicrohttpd-dev libcmocka-dev
    bird2 nftables iproute2 sqlite3 etcd-server etcd-client
    iputils-ping socat openssl clang libclang-rt-14-dev jq
    frr python3
    # Real CNI clients for the tabby plugin's tests (cnitool is built from source there).
    containernetworking-plugins podman runc containerd busybox-static iptables golang-go
    # A CRI client (containerd's CRI plugin, driven as the kubelet drives it): gRPC and
    # protoc for Python; the proto comes from Debian's containerd source at test time.
    python3-grpcio python3-grpc-tools
    # podman kube play runs the DaemonSet's pod: its pause process.
    catatonit
    # Real Kubernetes clients for the API server test double (tests/k8s/); kubectl is
    # preinstalled on the test machines.
    python3-kubernetes
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    ./autogen.sh >/dev/null 2>&1 || ./autogen.sh
fi
mkdir -p "$build"
cd "$build"
want="$*"
if [ ! -f Makefile ] || [ "$(cat .configure-args 2>/dev/null)" != "$want" ]; then
    "$top/configure" --quiet "$@"
    echo "$want" >.configure-args
fi
make -s -j"$(nproc)" all
make -s -j"$(nproc)" check TESTS= >/dev/null
