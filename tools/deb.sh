#!/usr/bin/env bash
# deb.sh — tabby's Debian package (`make deb`), for installing on a machine without
# Kubernetes' DaemonSet: what `make install DESTDIR=` lays out for Debian's folders,
# with dpkg-deb and no debian/ folder or debhelper.
#
#   tools/deb.sh BUILD_DIR OUT_DIR
#
# BUILD_DIR is a build of its own, configured here for Debian (prefix /usr, /etc, the unit
# in /lib/systemd/system, the plugins in /opt/cni/bin) and kept for the next run; the
# package, tabby_VERSION_ARCH.deb, goes into OUT_DIR. It holds tabbyctl (/usr/bin),
# tabby-node (/usr/sbin), the plugins, tabby-node.service, the man pages (gzipped), and
# as conffiles what install puts under /etc: the unit's environment file and the example
# network configuration. Depends: from the libraries the programs link (dpkg-shlibdeps);
# Recommends: bird2, for the default backend. The unit is neither enabled nor started:
# the datastore is to be set first.
#
# Reproducible: the same commit gives the same bytes, wherever it is built. The compiler
# maps the source and build folders away (-ffile-prefix-map), the programs are stripped,
# every file's time is SOURCE_DATE_EPOCH (default: the last commit's time), man pages are
# gzipped without names or times, and dpkg-deb owns everything to root and sorts.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: deb.sh BUILD_DIR OUT_DIR}
out=${2:?usage: deb.sh BUILD_DIR OUT_DIR}
for tool in dpkg-deb dpkg-shlibdeps strip gzip md5sum; do
    command -v "$tool" >/dev/null || { echo "deb.sh: $tool is not installed (dpkg-dev," \
        "binutils)" >&2; exit 1; }
done
[ -x "$top/configure" ] || { echo "deb.sh: run ./autogen.sh in $top first" >&2; exit 1; }
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null ||
    echo 0)}
export LC_ALL=C TZ=UTC
umask 022
mkdir -p "$build" "$out"
build=$(cd "$build" && pwd) out=$(cd "$out" && pwd)
arch=$(dpkg --print-architecture)
maintainer=${DEB_MAINTAINER:-tabby maintainers <tabby@example.org>}

# ---- the build, configured for Debian's folders ------------------------------------------
flags=(--prefix=/usr --sysconfdir=/etc --localstatedir=/var --with-cni-bin-dir=/opt/cni/bin
    --with-cni-conf-dir=/etc/cni/net.d --with-systemdsystemunitdir=/lib/systemd/system
    "CFLAGS=-g -O2 -ffile-prefix-map=$top=. -ffile-prefix-map=$build=.")
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$build" "$@"; }
cd "$build"
if [ ! -f Makefile ] || [ "$(cat .deb-configure-args 2>/dev/null)" != "${flags[*]}" ]; then
    "$top/configure" --quiet "${flags[@]}" >configure.log 2>&1 || { cat configure.log >&2
        exit 1; }
    echo "${flags[*]}" >.deb-configure-args
fi
mk -j"$(nproc)" all >make.log 2>&1 || { tail -20 make.log >&2; exit 1; }
version=$(sed -n 's/^PACKAGE_VERSION = //p' Makefile)

work=$(mktemp -d /tmp/tby-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mk install DESTDIR="$root" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; exit 1; }

# ---- what Debian's policy asks of the tree -----------------------------------------------
programs=(usr/bin/tabbyctl usr/sbin/tabby-node opt/cni/bin/tabby opt/cni/bin/tabby-ipam)
for p in "${programs[@]}"; do
    [ -x "$root/$p" ] || { echo "deb.sh: make install put no $p" >&2; exit 1; }
    strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/$p"
done
find "$root/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
doc=$root/usr/share/doc/tabby
mkdir -p "$doc"
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tabby
Comment: tabby's sources carry no licence statement yet.

Files: *
Copyright: the tabby authors
License: none-stated
 No licence has been stated for tabby yet.
EOF
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    echo "tabby ($version) unstable; urgency=medium"
    echo
    echo "  * Built from commit $commit by tools/deb.sh."
    echo
    echo " -- $maintainer  $(date -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz"

# Where lintian and Debian's policy disagree with this package, on purpose.
mkdir -p "$root/usr/share/lintian/overrides"
cat >"$root/usr/share/lintian/overrides/tabby" <<EOF
# containerd, CRI-O and the kubelet look for CNI plugins in /opt/cni/bin.
tabby: dir-or-file-in-opt [opt/cni/*]
# A network configuration may hold credentials (etcd keys, a kubeconfig's path).
tabby: non-standard-file-perm 0600 != 0644 [etc/cni/net.d/10-tabby.conflist]
EOF

# ---- control files ----------------------------------------------------------------------
mkdir -p "$root/DEBIAN"
# The libraries the programs link, with the versions their symbols need. The plugins load
# libcurl only when they need it (dlopen, cni/curl_lazy.c): tabbyctl and tabby-node link
# it, so it is in the list.
mkdir -p "$work/shlibs/debian"
printf 'Source: tabby\n\nPackage: tabby\nArchitecture: any\n' >"$work/shlibs/debian/control"
depends=$(cd "$work/shlibs" && dpkg-shlibdeps -O "${programs[@]/#/-e$root/}" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "deb.sh: found no libraries the programs link" >&2; exit 1; }
(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print | sort |
    sed 's|^\./||' | xargs md5sum) >"$root/DEBIAN/md5sums"
# As dpkg-gencontrol counts it: KiB per file, rounded up, and 1 per folder or link.
size=$(find "$root" -path "$root/DEBIAN" -prune -o ! -path "$root" -printf '%y %s\n' |
    awk '{ n += $1 == "f" ? int(($2 + 1023) / 1024) : 1 } END { print n }')
cat >"$root/DEBIAN/control" <<EOF
Package: tabby
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Recommends: bird2
Suggests: containernetworking-plugins
Section: net
Priority: optional
Description: Calico-compatible node networking agent
 tabby keeps a node's network policy (nftables), pod routes, VXLAN and BGP
 (through BIRD) in step with Calico's resources, read from sqlite, etcd or
 the Kubernetes API. The package holds tabby-node (the node agent, with its
 systemd unit), tabbyctl (the command line) and the CNI plugins tabby and
 tabby-ipam, in /opt/cni/bin where container runtimes look.
EOF
# systemd learns of the unit (and forgets it); it is enabled and started by hand once the
# datastore is set (/etc/default/tabby-node), and stopped when the package goes. With
# dpkg --root (DPKG_ROOT) there is no systemd to tell.
script() { # NAME WHEN COMMAND
    {
        printf '#!/bin/sh\nset -e\n'
        printf 'if %s && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then\n' "$2"
        printf '    %s >/dev/null || true\nfi\n' "$3"
    } >"$root/DEBIAN/$1"
    chmod 0755 "$root/DEBIAN/$1"
}
script postinst true 'systemctl --system daemon-reload'
script prerm '[ "$1" = remove ]' 'deb-systemd-invoke stop tabby-node.service'
script postrm true 'systemctl --system daemon-reload'

find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=$out/tabby_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "deb $deb $(wc -c <"$deb") bytes, sha256 $(sha256sum "$deb" | cut -d' ' -f1)"
echo "deb Depends: $depends"
if command -v lintian >/dev/null; then
    lintian "$deb" 2>&1 | sed 's/^/lintian: /' || true
fi
