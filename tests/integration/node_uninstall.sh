#!/usr/bin/env bash
# node_uninstall.sh — taking tabby off a node. Two VXLAN nodes, pod a on n1 streaming to
# pod b on n2; n1 also holds things of others': a veth pair with an address and routes
# (static and boot), a conflist and a CNI plugin of another network.
#   The pod goes (tabby-node stopped by SIGTERM, as `kubectl delete` does): the pods'
#   networking stays — the stream flows, the table, the routes and vxlan.tabby are there.
#   n1 also runs a BIRD whose kernel protocol persists its routes (as tabby's BIRD does):
#   `tabby-node --uninstall` while it runs leaves its routes and fails naming it; once it
#   stopped (its routes outlive it), `tabby-node --uninstall`, with install-cni's settings:
#   nothing of tabby is left in the namespace (no table inet tabby, no route of protocol
#   80 or bird, no vxlan.tabby, tunl0 without an address and down, none of install-cni's
#   files, no nodename file), everything else is as it was; a second run finds nothing to do and succeeds.
set -u
. "$(dirname "$0")/lib.sh"
t_begin node_uninstall
. "$(dirname "$0")/podnet.sh"
. "$(dirname "$0")/node_lib.sh"
. "$(dirname "$0")/stream_lib.sh"
NL_BACKEND=vxlan
nl_init node_uninstall python3 jq

nl_pool default-pool 10.69.0.0/16 'vxlanMode: Always' | nl_apply
nl_node n1 10.0.0.1/24
nl_node n2 10.0.0.2/24
nl_start_all n1 n2
nl_pod n1 default a app=a
nl_pod n2 default b app=b
pn_expect a_reaches_b allow default a default b 80 TCP
pn_check || { fail setup "the cluster does not work to begin with"; t_end; }
st_stream default-a default-b "$(pn_ip default b)"
t_wait 10 st_flows || { fail setup "no stream: $(cat "$T_TMP/sender.err")"; t_end; }

# ---- what install-cni installed on n1, and what others did ------------------------------
HOST=$T_TMP/host
BIN=$HOST/opt/cni/bin NET=$HOST/etc/cni/net.d
mkdir -p "$BIN" "$NET" "$T_TMP/plugins"
cp "$T_BUILD/tabby" "$T_BUILD/tabby-ipam" "$T_TMP/plugins/"
# cni_env CMD…: CMD with install-cni's settings for n1's folders (etcd: no API to ask).
cni_env() {
    env TABBY_CNI_PLUGINS_DIR="$T_TMP/plugins" TABBY_HOST_CNI_BIN_DIR="$BIN" \
        TABBY_HOST_CNI_NET_DIR="$NET" KUBERNETES_NODE_NAME=n1 DATASTORE_TYPE=etcdv3 \
        ETCD_ENDPOINTS=http://127.0.0.1:2379 TLS_ASSETS_DIR="$T_TMP/no-tls" \
        CALICO_NODENAME_FILE="$T_TMP/nodename-n1" "$@"
}
echo '{"name": "other", "cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]}' \
    >"$NET/20-other.conflist"
printf '#!/bin/sh\n' >"$BIN/bridge"
chmod 755 "$BIN/bridge"
if ! cni_env ip netns exec "$(fab_name n1)" "$TABBY_NODE" install-cni \
    >"$T_TMP/install.log" 2>&1 ||
    ! [ -s "$NET/10-tabby.conflist" ] || ! cmp -s "$BIN/tabby" "$T_BUILD/tabby"; then
    fail setup "install-cni: $(tail -3 "$T_TMP/install.log")"
    t_end
fi
nl_in n1 ip link add tbyother type veth peer name tbyother1
nl_in n1 ip addr add 192.0.2.1/24 dev tbyother
nl_in n1 ip link set tbyother up
nl_in n1 ip route add 198.51.100.0/24 via 192.0.2.2 proto static
nl_in n1 ip route add 203.0.113.0/24 dev tbyother
# tunl0 exists in every namespace once the ipip module is loaded: as an IPIP pool has it.
has_tunl0=0
if nl_in n1 ip link show tunl0 >/dev/null 2>&1; then
    has_tunl0=1
    nl_in n1 ip addr add 10.69.200.1/32 dev tunl0
    nl_in n1 ip link set tunl0 up
fi
# A BIRD in n1 as tabby's runs: kernel protocols with persist on, which leave its routes
# (IPv4 and IPv6, a blackhole and one through a gateway) in the kernel when it stops.
BIRD_DIR=$T_TMP/bird
mkdir -p "$BIRD_DIR"
cat >"$BIRD_DIR/bird.conf" <<'CONF'
router id 10.0.0.1;
protocol device {}
protocol static { ipv4; route 10.69.250.0/26 blackhole; route 10.69.251.0/26 via 10.0.0.2; }
protocol static { ipv6; route fd69:250::/122 blackhole; }
protocol kernel { ipv4 { export all; }; learn off; persist on; }
protocol kernel { ipv6 { export all; }; learn off; persist on; }
CONF
ip netns exec "$(fab_name n1)" bird -f -c "$BIRD_DIR/bird.conf" -s "$BIRD_DIR/bird.ctl" \
    </dev/null >"$BIRD_DIR/bird.log" 2>&1 &
BIRD_PID=$!
t_on_exit 'kill "$BIRD_PID" 2>/dev/null'
bird_routes() { nl_in n1 ip route show table all proto bird | grep -c .; }
bird_installed() { [ "$(bird_routes)" -ge 3 ]; }
if ! t_wait 20 bird_installed; then
    fail setup "BIRD installed no routes: $(cat "$BIRD_DIR/bird.log")"
    t_end
fi
# What is not tabby's: links (names, up or down) and routes of every table, with the
# ones tabby owns (protocol 80, through or for its devices, its kernel-made local ones)
# left out, and the IPv6 link-local ones the kernel adds once an interface's address is
# through duplicate address detection.
others() {
    nl_in n1 ip -o link show | awk -F': ' '$2 !~ /^(vxlan\.tabby|vxlan-v6\.tabby|tunl0)[@:]?/ {
        split($2, n, "@"); print n[1], ($3 ~ /UP/ ? "up" : "down") }'
    nl_in n1 ip route show table all |
        grep -vE 'proto (80|bird)|vxlan\.tabby|vxlan-v6\.tabby|tunl0| fe80:'
}
others >"$T_TMP/others.before"

# ---- the pod goes -----------------------------------------------------------------------
nl_stop n1 TERM
if st_flows && nl_in n1 nft list table inet tabby >/dev/null 2>&1 &&
    [ -n "$(nl_in n1 ip route show proto 80)" ] && nl_in n1 ip link show vxlan.tabby >/dev/null
then
    pass pod_deleted_leaves_the_pods_networking
else
    fail pod_deleted_leaves_the_pods_networking "$(cat "$T_TMP/sender.err")"
fi

[ "$(cat "$T_TMP/nodename-n1" 2>/dev/null)" = n1 ] ||
    fail setup "tabby-node on n1 wrote no nodename file at $T_TMP/nodename-n1"
# ---- --uninstall while BIRD runs: its routes are live, they stay ------------------------
if ! cni_env ip netns exec "$(fab_name n1)" "$TABBY_NODE" --uninstall \
    >"$T_TMP/uninstall0.log" 2>&1 && grep -q "BIRD (pid $BIRD_PID) still runs" \
    "$T_TMP/uninstall0.log" && bird_installed; then
    pass uninstall_leaves_a_running_birds_routes_and_fails
else
    fail uninstall_leaves_a_running_birds_routes_and_fails "$(bird_routes) routes of BIRD; \
$(tail -3 "$T_TMP/uninstall0.log")"
fi
kill "$BIRD_PID"
bird_gone() { ! kill -0 "$BIRD_PID" 2>/dev/null; }
if t_wait 10 bird_gone && bird_installed; then
    pass birds_routes_outlive_it
else
    fail birds_routes_outlive_it "$(bird_routes) routes of BIRD left"
fi

# ---- --uninstall ------------------------------------------------------------------------
if cni_env ip netns exec "$(fab_name n1)" "$TABBY_NODE" --uninstall \
    >"$T_TMP/uninstall.log" 2>&1; then
    pass uninstall_succeeds
else
    fail uninstall_succeeds "$(tail -3 "$T_TMP/uninstall.log")"
fi
left=$(st_tabby_left n1 "$NET" "$BIN" "$T_TMP/nodename-n1")
if [ -z "$left" ]; then
    pass nothing_of_tabby_left
else
    fail nothing_of_tabby_left "$(echo $left)"
fi
if [ "$has_tunl0" = 0 ]; then
    skip tunl0_given_back "no tunl0 here (the kernel's ipip module is not loaded)"
elif [ -z "$(nl_in n1 ip -4 -o addr show dev tunl0)" ] &&
    ! nl_in n1 ip -o link show tunl0 | grep -q '[<,]UP[,>]'; then
    pass tunl0_given_back
else
    fail tunl0_given_back "$(nl_in n1 ip -4 -o addr show dev tunl0
        nl_in n1 ip -o link show tunl0)"
fi
if others | diff "$T_TMP/others.before" - >"$T_TMP/others.diff" &&
    [ -s "$NET/20-other.conflist" ] && [ -x "$BIN/bridge" ]; then
    pass everything_else_stays
else
    fail everything_else_stays "$(head -c 600 "$T_TMP/others.diff"; ls "$NET" "$BIN")"
fi
if cni_env ip netns exec "$(fab_name n1)" "$TABBY_NODE" --uninstall \
    >"$T_TMP/uninstall2.log" 2>&1 &&
    others | diff -q "$T_TMP/others.before" - >/dev/null; then
    pass uninstall_again_finds_nothing_to_do
else
    fail uninstall_again_finds_nothing_to_do "$(tail -3 "$T_TMP/uninstall2.log")"
fi
t_end
