#!/usr/bin/env bash
# image.sh — the tabby-node container image (`make image`): an OCI image made with podman
# from what the build folder built and the machine's Debian packages, with no registry.
#
#   tools/image.sh BUILD_DIR [--version VERSION] [--tag NAME:TAG] [--save FILE]
#
# --version stamps the image as another version than the build's (its label, the default
# tag, /usr/lib/tabby/version): a second, different image from one tree, as a newer
# release would be (the upgrade test rolls a node onto it).
#
# Its root filesystem holds only what runs in the DaemonSet's pod: tabby-node (and its
# install-cni mode), tabbyctl, the plugins tabby and tabby-ipam (in /opt/cni/bin, where
# install-cni copies them from), BIRD (bird, birdcl: Debian's bird2), the entry point and the
# probes (tools/image/start, probe: busybox-static's sh and nc), and exactly the shared
# libraries those programs load (ldd's closure, libcurl's for the plugins' dlopen
# included), with the Debian copyright file of every package a file came from.
#
# Reproducible: every file's time is SOURCE_DATE_EPOCH (default: the last commit's time),
# the layer is a tar sorted by name with numeric owners, and podman build --timestamp
# stamps the image with the same time, so two builds from one commit have the same image
# ID (the digest of its configuration, which holds the layer's digest). Prints the ID, the
# size, and the compressed size of `podman image save`. Needs root for podman build (or a
# podman that works as this user); podman's storage is the environment's
# (CONTAINERS_STORAGE_CONF).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: image.sh BUILD_DIR [--version VERSION] [--tag NAME:TAG] [--save FILE]}
shift
build=$(cd "$build" && pwd)
version=$(sed -n 's/^PACKAGE_VERSION = //p' "$build/Makefile")
tag=
save=
while [ $# -gt 0 ]; do
    case $1 in
    --version) version=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --save) save=$2; shift 2 ;;
    *) echo "image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
tag=${tag:-localhost/tabby-node:$version}
for tool in podman ldd strip dpkg-query; do
    command -v "$tool" >/dev/null || { echo "image.sh: $tool is not installed" >&2; exit 1; }
done
for f in /usr/sbin/bird /usr/sbin/birdcl /bin/busybox; do
    [ -x "$f" ] || { echo "image.sh: $f is missing (apt-get install bird2 busybox-static)" >&2
        exit 1; }
done
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 0)}

work=$(mktemp -d /tmp/tby-image-XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

# Debian's merged /usr: /bin, /sbin, /lib and /lib64 are links into /usr.
mkdir -p "$root"/usr/{bin,sbin,lib64,lib/tabby} "$root"/{etc,tmp,run,var/lib/tabby,var/run}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
chmod 1777 "$root/tmp"

# tabby, as make install lays it out (the plugins in the CNI bin folder), stripped.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$build" install DESTDIR="$root" \
    prefix=/usr sysconfdir=/etc cnibindir=/opt/cni/bin cniconfdir=/etc/cni/net.d \
    systemdsystemunitdir=/usr/lib/systemd/system >"$work/install.log"
# install-cni writes the node's own configuration; a container has no systemd unit, its
# environment file or man pages.
rm -rf "$root/etc/cni" "$root/etc/default" "$root/usr/lib/systemd" "$root/usr/share/man"
programs=("$root/usr/bin/tabbyctl" "$root/usr/sbin/tabby-node" "$root/opt/cni/bin/tabby"
    "$root/opt/cni/bin/tabby-ipam")
strip --strip-unneeded "${programs[@]}"
cp /usr/sbin/bird /usr/sbin/birdcl "$root/usr/sbin/"
cp /bin/busybox "$root/usr/bin/busybox"
for applet in $("$root/usr/bin/busybox" --list); do
    [ -e "$root/usr/bin/$applet" ] || [ -e "$root/usr/sbin/$applet" ] ||
        ln -s busybox "$root/usr/bin/$applet"
done
install -m 0755 "$top/tools/image/start" "$top/tools/image/probe" "$root/usr/lib/tabby/"

# The shared libraries they load, each at the path the loader finds it by. The plugins
# dlopen libcurl (cni/curl_lazy.c): tabby-node links it, so its closure is in.
libs=$(for p in "${programs[@]}" /usr/sbin/bird /usr/sbin/birdcl; do ldd "$p"; done |
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
for lib in $libs; do
    real=$(readlink -f "$lib")
    mkdir -p "$root$(dirname "$real")"
    cp "$real" "$root$real"
    [ "$lib" = "$real" ] || { mkdir -p "$root$(dirname "$lib")"
        [ -e "$root$lib" ] || ln -s "$real" "$root$lib"; }
done

# Their packages' copyright files.
pkgs=$(for f in $libs /usr/sbin/bird /bin/busybox; do dpkg-query -S "$(readlink -f "$f")" \
    2>/dev/null || dpkg-query -S "$f"; done | cut -d: -f1 | sort -u)
for p in $pkgs; do
    c=/usr/share/doc/$p/copyright
    [ -f "$c" ] && install -D -m 0644 "$c" "$root$c"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
printf '%s\n' "$version" >"$root/usr/lib/tabby/version"

# One layer, byte for byte the same for the same inputs.
find "$root" -exec touch -h -d "@$epoch" {} +
tar -C "$root" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf "$work/rootfs.tar" .
cat >"$work/Containerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/sbin:/usr/bin
LABEL org.opencontainers.image.title="tabby-node" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.description="tabby-node, install-cni, the CNI plugins, BIRD"
ENTRYPOINT ["/usr/lib/tabby/start"]
EOF
podman build -q --no-cache --timestamp "$epoch" -f "$work/Containerfile" -t "$tag" "$work" \
    >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
id=$(podman image inspect --format '{{.Id}}' "$tag")
size=$(podman image inspect --format '{{.Size}}' "$tag")
out=${save:-$work/image.tar}
rm -f "$out"
podman image save -o "$out" "$tag" >/dev/null 2>&1
gz=$(gzip -1 -c "$out" | wc -c)
echo "image $tag id sha256:$id"
echo "image size $((size / 1024 / 1024)) MiB, $((gz / 1024 / 1024)) MiB compressed" \
    "(calico-node: ~200 MB compressed)"
[ -z "$save" ] || echo "image saved to $save (a docker-archive, for ctr images import)"
