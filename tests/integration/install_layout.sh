#!/usr/bin/env bash
# install_layout.sh — where `make install` puts tabby: the CNI plugins in the folder
# container runtimes read (configure --with-cni-bin-dir, default /opt/cni/bin), the example
# network configuration in theirs (--with-cni-conf-dir, default /etc/cni/net.d) without
# ever replacing one already there, tabbyctl and tabby-node under the prefix; uninstall
# takes the example back only while it is unchanged. Installs into a scratch DESTDIR.
set -u
. "$(dirname "$0")/lib.sh"
t_begin install_layout
# Run from the build folder (make check's): its Makefile is the one under test.
[ -f Makefile ] || { skip install_layout "not run from a configured build folder"; t_end; }
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s "$@" >"$T_TMP/make.log" 2>&1; }
var() { sed -n "s|^$1 = ||p" Makefile; }
D=$T_TMP/root
bindir=$(var cnibindir) confdir=$(var cniconfdir) prefix=$(var prefix)

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
t_end
