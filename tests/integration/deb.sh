#!/usr/bin/env bash
# deb.sh — tabby's Debian package (tools/deb.sh, `make deb`): built twice from this tree in
# two build folders at different paths, it is the same bytes; it holds the programs where
# make install puts them for Debian (tabbyctl in /usr/bin, tabby-node in /usr/sbin, the
# plugins in /opt/cni/bin), the systemd unit, the man pages, and what is under /etc as
# conffiles; Depends names the libraries the programs link; dpkg installs it into a
# scratch root (dpkg --root), the programs run from there, and dpkg removes and purges it
# again. lintian, when installed, finds no error. Builds in the build folder's deb-build/
# (kept, as make deb keeps it) and in a scratch one.
set -u
. "$(dirname "$0")/lib.sh"
t_begin deb
if ! command -v dpkg-deb >/dev/null || ! command -v dpkg >/dev/null; then
    skip deb "dpkg-deb is not installed (Debian's dpkg)"
    t_end
fi
[ -f "$T_BUILD/Makefile" ] || { skip deb "not run from a configured build folder"; t_end; }
# The same time for both builds, whatever the tree's state.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$T_TOP" log -1 --format=%ct 2>/dev/null ||
    echo 0)}
start=$(date +%s)
if ! "$T_TOP/tools/deb.sh" "$T_BUILD/deb-build" "$T_TMP/one" >"$T_TMP/one.log" 2>&1; then
    fail builds "$(tail -5 "$T_TMP/one.log")"
    t_end
fi
deb=$(ls "$T_TMP"/one/tabby_*.deb)
pass builds
echo "built $(basename "$deb") in $(($(date +%s) - start)) s, $(wc -c <"$deb") bytes"

# ---- contents and control ----------------------------------------------------------------
list=$(dpkg-deb -c "$deb" | awk '{ print $1, $6 }')
missing=
for f in -rwxr-xr-x:./usr/bin/tabbyctl -rwxr-xr-x:./usr/sbin/tabby-node \
    -rwxr-xr-x:./opt/cni/bin/tabby -rwxr-xr-x:./opt/cni/bin/tabby-ipam \
    -rw-r--r--:./lib/systemd/system/tabby-node.service -rw-r--r--:./etc/default/tabby-node \
    -rw-------:./etc/cni/net.d/10-tabby.conflist -rw-r--r--:./usr/share/doc/tabby/copyright \
    -rw-r--r--:./usr/share/man/man8/tabbyctl.8.gz -rw-r--r--:./usr/share/man/man8/tabby-node.8.gz \
    -rw-r--r--:./usr/share/man/man8/tabby.8.gz -rw-r--r--:./usr/share/man/man8/tabby-ipam.8.gz
do
    grep -qxF -- "${f%%:*} ${f#*:}" <<<"$list" || missing="$missing ${f#*:}"
done
owners=$(dpkg-deb -c "$deb" | awk '{ print $2 }' | sort -u | tr '\n' ' ')
if [ -z "$missing" ] && [ "$owners" = "root/root " ]; then
    pass layout_and_modes
else
    fail layout_and_modes "missing or wrong mode:$missing; owners: $owners"
fi
conffiles=$(dpkg-deb -I "$deb" conffiles | sort | tr '\n' ' ')
if [ "$conffiles" = "/etc/cni/net.d/10-tabby.conflist /etc/default/tabby-node " ]; then
    pass conffiles_are_what_is_under_etc
else
    fail conffiles_are_what_is_under_etc "conffiles: $conffiles"
fi
# Depends: the package of every library a program names (NEEDED), where the loader finds it.
depends=$(dpkg-deb -f "$deb" Depends)
linked() {
    local b needed
    for b in tabbyctl tabby-node tabby tabby-ipam; do
        needed=$(readelf -d "$T_BUILD/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
        ldd "$T_BUILD/$b" | awk -v needed=" $(echo $needed) " \
            '$2 == "=>" && $3 ~ /^\// && index(needed, " " $1 " ") { print $3 }'
    done | sort -u
}
missing=
for p in $(linked | while read -r lib; do dpkg-query -S "$(readlink -f "$lib")" 2>/dev/null ||
    dpkg-query -S "$lib"; done | cut -d: -f1 | sort -u); do
    grep -qE "(^|, )$p( |,|$)" <<<"$depends" || missing="$missing $p"
done
if [ -z "$missing" ] && grep -q 'libc6 (>= ' <<<"$depends"; then
    pass depends_on_what_the_programs_link
else
    fail depends_on_what_the_programs_link "missing:$missing in Depends: $depends"
fi

# ---- installed by dpkg into a scratch root ----------------------------------------------
# The scratch root has no shell for maintainer scripts to run in: they run here, with
# DPKG_ROOT set, and then leave systemd alone. Its dpkg database knows no libraries.
R=$T_TMP/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
touch "$R/var/lib/dpkg/status"
dpkg_root() { dpkg --root="$R" --force-script-chrootless --force-depends "$@"; }
if dpkg_root -i "$deb" >"$T_TMP/dpkg.log" 2>&1 &&
    dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status}' tabby | grep -q 'ok installed'; then
    pass dpkg_installs_it
else
    fail dpkg_installs_it "$(tail -5 "$T_TMP/dpkg.log")"
fi
version=$(dpkg-deb -f "$deb" Version)
out=$("$R/usr/bin/tabbyctl" version 2>&1)
if [ "$out" = "tabbyctl $version" ] && "$R/usr/bin/tabbyctl" --help | grep -q '^Usage: tabbyctl' &&
    "$R/usr/sbin/tabby-node" --help | grep -q '^Usage: tabby-node'; then
    pass installed_programs_run
else
    fail installed_programs_run "tabbyctl version: $out"
fi
# The installed tabbyctl works on a datastore: a pool applied and read back.
store=sqlite:$T_TMP/tabby.db
if "$R/usr/bin/tabbyctl" --store "$store" apply -f "$T_TOP/examples/ippool.yaml" >/dev/null &&
    "$R/usr/bin/tabbyctl" --store "$store" get ippool -o name | grep -q .; then
    pass installed_tabbyctl_applies
else
    fail installed_tabbyctl_applies "$("$R/usr/bin/tabbyctl" --store "$store" get ippool 2>&1)"
fi
# The plugin answers a runtime's VERSION.
out=$(CNI_COMMAND=VERSION "$R/opt/cni/bin/tabby" </dev/null 2>&1)
if grep -q '"supportedVersions"' <<<"$out"; then
    pass installed_plugin_answers_version
else
    fail installed_plugin_answers_version "$out"
fi
# Remove keeps the conffiles, purge takes them.
echo 'TABBY_STORE=etcd:http://mine:2379' >>"$R/etc/default/tabby-node"
if dpkg_root -r tabby >>"$T_TMP/dpkg.log" 2>&1 && [ ! -e "$R/usr/sbin/tabby-node" ] &&
    [ ! -e "$R/opt/cni/bin/tabby" ] && grep -q mine "$R/etc/default/tabby-node" &&
    dpkg_root --purge tabby >>"$T_TMP/dpkg.log" 2>&1 && [ ! -e "$R/etc/default/tabby-node" ] &&
    [ ! -e "$R/etc/cni/net.d/10-tabby.conflist" ]; then
    pass remove_keeps_conffiles_purge_takes_them
else
    fail remove_keeps_conffiles_purge_takes_them "$(tail -5 "$T_TMP/dpkg.log")"
fi

if command -v lintian >/dev/null; then
    # Errors fail; warnings are printed.
    lintian "$deb" >"$T_TMP/lintian.log" 2>&1
    grep -E '^[EW]: ' "$T_TMP/lintian.log"
    if grep -q '^E: ' "$T_TMP/lintian.log"; then
        fail lintian_finds_no_error "$(grep -c '^E: ' "$T_TMP/lintian.log") errors"
    else
        pass lintian_finds_no_error
    fi
else
    skip lintian_finds_no_error "lintian is not installed"
fi

# ---- reproducible: a second build, in a folder at another path --------------------------
start=$(date +%s)
if ! "$T_TOP/tools/deb.sh" "$T_TMP/build2" "$T_TMP/two" >"$T_TMP/two.log" 2>&1; then
    fail reproducible "second build: $(tail -5 "$T_TMP/two.log")"
elif cmp -s "$deb" "$T_TMP/two/$(basename "$deb")"; then
    pass reproducible
    echo "second build in $(($(date +%s) - start)) s: the same $(wc -c <"$deb") bytes"
else
    fail reproducible "$(cd "$T_TMP" && for d in one two; do mkdir -p x$d &&
        dpkg-deb -R $d/*.deb x$d; done; diff -rq xone xtwo | head -5)"
fi
t_end
