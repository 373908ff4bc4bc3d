#!/usr/bin/env bash
# cni_cnitool.sh — cnitool, the CNI project's own runtime (libcni), from inside a node
# namespace: a conflist of tabby and portmap gives the pod an address and a host port and
# del removes everything; on a tabby network check passes, then fails once a route is
# removed.
#
# cnitool is not packaged: it is built here, at run time, from Debian's source package
# golang-github-appc-cni with Debian's Go in GOPATH mode (no module download), its source
# fetched through debsrc_lib.sh; source and binary stay in the build folder
# (tests/cnitool), never in the project. SKIP, saying why, when Go, the source or the
# build is not to be had.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cni_lib.sh"
. "$(dirname "$0")/debsrc_lib.sh"

cni_begin cni_cnitool
TOOL_DIR=$T_BUILD/tests/cnitool
CNITOOL=$TOOL_DIR/cnitool
NET=tbytool$$

# Fetches golang-github-appc-cni's source into $TOOL_DIR/src. Fails with $WHY.
fetch_source() { deb_source golang-github-appc-cni "$TOOL_DIR"; }

# Builds cnitool from the fetched source. Fails with $WHY.
build_cnitool() {
    local orig gopath=$TOOL_DIR/gopath
    orig=$(ls "$TOOL_DIR"/src/golang-github-appc-cni_*.orig.tar.* 2>/dev/null | head -1)
    [ -n "$orig" ] || { WHY="the source package has no .orig tarball"; return 1; }
    rm -rf "$gopath"
    mkdir -p "$gopath/src/github.com/containernetworking/cni"
    tar -C "$gopath/src/github.com/containernetworking/cni" --strip-components=1 -xf "$orig"
    if ! (cd "$gopath/src/github.com/containernetworking/cni" &&
        GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$TOOL_DIR/gocache" \
            GOFLAGS= go build -o "$CNITOOL" ./cnitool) >"$TOOL_DIR/build.log" 2>&1; then
        WHY="building cnitool failed: $(tail -2 "$TOOL_DIR/build.log" | tr '\n' ' ')"
        return 1
    fi
}

cni_need cnitool "socat, iptables (for portmap)" socat iptables-save
if ! command -v go >/dev/null; then
    skip cnitool "Go is not installed (Debian package golang-go), so cnitool cannot be built"
    t_end
fi
if [ ! -x "$CNITOOL" ]; then
    if ! { [ -n "$(ls "$TOOL_DIR"/src/*.orig.tar.* 2>/dev/null)" ] || fetch_source; } ||
        ! build_cnitool; then
        skip cnitool "$WHY"
        t_end
    fi
fi

NETD=$T_TMP/netd
mkdir -p "$NETD"
TABBY_PLUGIN=$(cni_conf | jq -c 'del(.cniVersion, .name)')
# Two networks: tabby then portmap, and tabby alone for CHECK, since portmap 1.1.1's CHECK
# fails whenever ip6tables works: it looks for its rules in the IPv6 table too
# (containernetworking/plugins#819). The second lists cniVersions as
# examples/10-tabby.conflist does: a libcni older than that key reads cniVersion.
jq -n --arg net "$NET" --argjson tabby "$TABBY_PLUGIN" \
    '{cniVersion: "1.0.0", name: $net, plugins: [$tabby,
      {type: "portmap", snat: true, capabilities: {portMappings: true}}]}' >"$NETD/$NET.conflist"
jq -n --arg net "${NET}c" --argjson tabby "$TABBY_PLUGIN" \
    '{cniVersion: "1.0.0", cniVersions: ["1.0.0", "1.1.0"], name: $net, plugins: [$tabby]}' \
    >"$NETD/${NET}c.conflist"
# libcni caches each result under /var/lib/cni/results: del removes it, the trap too.
t_on_exit 'rm -f /var/lib/cni/results/$NET-* /var/lib/cni/results/${NET}c-*'

# tool COMMAND NETWORK POD: cnitool in the node, for pod POD's namespace. Output in $OUT.
tool() {
    OUT=$(at "$NODE" env NETCONFPATH="$NETD" CNI_PATH="$CNI_BIN" \
        CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$3" \
        CAP_ARGS='{"portMappings":[{"hostPort":18081,"containerPort":80,"protocol":"tcp"}]}' \
        "$CNITOOL" "$1" "$2" "/run/netns/$CNI_PFX-$3" 2>&1)
    RC=$?
}

test_cnitool_add_del_with_portmap() {
    local ip got
    cni_ns tool1
    tool add "$NET" tool1
    [ "$RC" = 0 ] || { fail cnitool_add_del_with_portmap "add: $OUT"; return; }
    ip=$(jq -r '.ips[0].address' <<<"$OUT" | cut -d/ -f1)
    got=$(host_port_echo tool1 18081)
    if [[ $ip != 10.10.* ]] || ! pod_ping "$NODE" "$ip" || [ "$got" != hello ]; then
        fail cnitool_add_del_with_portmap "address $ip, host port answered \"$got\""
        return
    fi
    tool del "$NET" tool1
    if [ "$RC" != 0 ]; then
        fail cnitool_add_del_with_portmap "del: $OUT"
    elif ! nothing_left; then
        fail cnitool_add_del_with_portmap "$WHY"
    else
        pass cnitool_add_del_with_portmap
    fi
}

test_cnitool_check() {
    cni_ns tool2
    tool add "${NET}c" tool2
    [ "$RC" = 0 ] || { fail cnitool_check "add: $OUT"; return; }
    tool check "${NET}c" tool2
    [ "$RC" = 0 ] || { fail cnitool_check "check after add: $OUT"; return; }
    at tool2 ip route del default
    tool check "${NET}c" tool2
    if [ "$RC" = 0 ] || ! grep -q "no route to 0.0.0.0/0" <<<"$OUT"; then
        fail cnitool_check "check with the default route removed: rc=$RC $OUT"
        return
    fi
    tool del "${NET}c" tool2
    if [ "$RC" != 0 ]; then fail cnitool_check "del: $OUT"
    elif ! nothing_left; then fail cnitool_check "$WHY"
    else pass cnitool_check; fi
}

test_cnitool_add_del_with_portmap
test_cnitool_check
t_end
