#!/usr/bin/env bash
# install_layout.sh — where `make install` puts tabby: the CNI plugins in the folder
# container runtimes read (configure --with-cni-bin-dir, default /opt/cni/bin), the example
# network configuration in theirs (--with-cni-conf-dir, default /etc/cni/net.d) without
# ever replacing one already there, tabbyctl and tabby-node under the prefix; uninstall
# takes the example back only while it is unchanged. tabby-node's systemd unit goes into
# systemd's folder (configure --with-systemdsystemunitdir, default pkg-config's), names
# the installed tabby-node and its environment file, and passes systemd-analyze verify.
# The man pages go into $mandir/man8.
# Installs into a scratch DESTDIR.
set -u
. "$(dirname "$0")/lib.sh"
t_begin install_layout
# Run from the build folder (make check's): its Makefile is the one under test.
[ -f Makefile ] || { skip install_layout "not run from a configured build folder"; t_end; }
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s "$@" >"$T_TMP/make.log" 2>&1; }
var() { sed -n "s|^$1 = ||p" Makefile; }
D=$T_TMP/root
bindir=$(var cnibindir) confdir=$(var cniconfdir) prefix=$(var prefix)
# Makefile's own folders, expanded as make does (${prefix}, ${exec_prefix}).
dir() {
    local exec_prefix datarootdir
    exec_prefix=$(eval echo "$(var exec_prefix)") datarootdir=$(eval echo "$(var datarootdir)")
    eval echo "$(var "$1")"
}
unitdir=$(var systemdsystemunitdir) sbindir=$(dir sbindir) sysconfdir=$(dir sysconfdir)
mandir=$(dir mandir)

if [ "$bindir" = /opt/cni/bin ] && [ "$confdir" = /etc/cni/net.d ]; then
    pass defaults_are_where_runtimes_look
elif grep -q -- '--with-cni-' config.log; then
    skip defaults_are_where_runtimes_look "configured with other CNI folders"
else
    fail defaults_are_where_runtimes_look "cnibindir=$bindir cniconfdir=$confdir"
fi

if mk install DESTDIR="$D" && [ -x "$D$bindir/tabby" ] && [ -x "$D$bindir/tabby-ipam" ] &&
    [ -x "$D$prefix/bin/tabbyctl" ] && [ -x "$D$prefix/sbin/tabby-node" ] &&
    [ ! -e "$D$prefix/bin/tabby" ] && [ ! -e "$D$prefix/bin/tabby-ipam" ] &&
    cmp -s "$T_TOP/examples/10-tabby.conflist" "$D$confdir/10-tabby.conflist"; then
    pass plugins_in_cni_bin_dir_rest_under_prefix
else
    fail plugins_in_cni_bin_dir_rest_under_prefix "$(find "$D" -type f | tr '\n' ' ') \
$(tail -3 "$T_TMP/make.log")"
fi

missing=
for p in tabbyctl tabby-node tabby tabby-ipam; do
    [ -s "$D$mandir/man8/$p.8" ] || missing="$missing $p.8"
done
if [ -z "$missing" ]; then
    pass man_pages_in_mandir
else
    fail man_pages_in_mandir "missing from $mandir/man8:$missing"
fi

# The operator's own configuration is never replaced, nor removed by uninstall.
echo '{"name": "mine"}' >"$D$confdir/10-tabby.conflist"
if mk install DESTDIR="$D" && grep -q mine "$D$confdir/10-tabby.conflist" &&
    mk uninstall DESTDIR="$D" && grep -q mine "$D$confdir/10-tabby.conflist" &&
    [ ! -e "$D$bindir/tabby" ] && [ ! -e "$D$prefix/sbin/tabby-node" ]; then
    pass existing_conflist_kept
else
    fail existing_conflist_kept "$(tail -3 "$T_TMP/make.log")"
fi
rm -f "$D$confdir/10-tabby.conflist"
if mk install DESTDIR="$D" && mk uninstall DESTDIR="$D" &&
    [ ! -e "$D$confdir/10-tabby.conflist" ]; then
    pass unchanged_example_uninstalled
else
    fail unchanged_example_uninstalled "$(tail -3 "$T_TMP/make.log")"
fi

# The systemd unit, in the unit folder, starts the installed tabby-node with the
# installed environment file; an operator's environment file survives install and
# uninstall.
unit=$D$unitdir/tabby-node.service
if [ -z "$unitdir" ] || [ "$unitdir" = no ]; then
    skip unit_installed "configured without a systemd unit folder (systemd.pc not found)"
elif mk install DESTDIR="$D" && [ -f "$unit" ] &&
    grep -qxF "ExecStart=$sbindir/tabby-node --allow-root-netns \$TABBY_NODE_ARGS" "$unit" &&
    grep -qxF "EnvironmentFile=-$sysconfdir/default/tabby-node" "$unit" &&
    grep -qx "Restart=always" "$unit" &&
    cmp -s "$T_TOP/dist/tabby-node.default" "$D$sysconfdir/default/tabby-node"; then
    pass unit_installed
else
    fail unit_installed "$(ls "$D$unitdir" 2>&1 | head -3) $(tail -3 "$T_TMP/make.log")"
fi
echo 'TABBY_STORE=etcd:http://mine:2379' >"$D$sysconfdir/default/tabby-node"
if mk install DESTDIR="$D" && mk uninstall DESTDIR="$D" &&
    grep -q mine "$D$sysconfdir/default/tabby-node" && [ ! -e "$unit" ]; then
    pass existing_environment_file_kept
else
    fail existing_environment_file_kept "$(tail -3 "$T_TMP/make.log")"
fi
rm -f "$D$sysconfdir/default/tabby-node"

# systemd-analyze verify loads it as systemd would, in the scratch root (the installed
# tabby-node must be there and executable), with the machine's own units beside it for
# the targets it names. Any warning fails.
sysunits=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
if ! command -v systemd-analyze >/dev/null; then
    skip unit_verifies "systemd-analyze is not installed (package systemd)"
elif [ -z "$unitdir" ] || [ "$unitdir" = no ] || [ ! -d "$sysunits" ]; then
    skip unit_verifies "no systemd unit folder here"
elif ! mk install DESTDIR="$D"; then
    fail unit_verifies "make install: $(tail -3 "$T_TMP/make.log")"
else
    mkdir -p "$D/usr/lib/systemd/system"
    cp -an "$sysunits/." "$D/usr/lib/systemd/system/"
    # Its Documentation= page is looked up with man: the installed one (where man is).
    verify=(systemd-analyze verify --root="$D")
    command -v man >/dev/null || verify+=(--man=no)
    out=$(MANPATH=$D$mandir "${verify[@]}" "$unitdir/tabby-node.service" 2>&1)
    rc=$?
    if [ $rc = 0 ] && [ -z "$out" ]; then
        pass unit_verifies
    else
        fail unit_verifies "exit $rc: $out"
    fi
    # It does check: a unit whose program is missing is refused.
    mv "$D$sbindir/tabby-node" "$T_TMP/tabby-node.moved"
    if MANPATH=$D$mandir "${verify[@]}" "$unitdir/tabby-node.service" >/dev/null 2>&1; then
        fail unit_verify_catches_missing_program "verify passed without $sbindir/tabby-node"
    else
        pass unit_verify_catches_missing_program
    fi
    mv "$T_TMP/tabby-node.moved" "$D$sbindir/tabby-node"
fi
t_end
