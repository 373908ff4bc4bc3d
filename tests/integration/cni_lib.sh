# cni_lib.sh — shared by the tabby CNI plugin's tests: a node namespace with an uplink,
# a datastore with an IP pool, pod namespaces, the plugin run the way a container runtime
# runs it (inside the node namespace, so every host-side veth lands there and never in
# the root namespace), and the check that nothing is left behind. Source it after lib.sh
# and call `cni_begin NAME`.
#
# Everything this run makes is named with its own prefix ($CNI_PFX, fabric.sh's) and
# removed on exit, with whatever runs inside.

TABBY=${TABBY:-$T_BUILD/tabby}
CNI_PIDS=()

# cni_begin NAME [POOL-YAML]: scratch folder, root check, binaries, datastore, node.
cni_begin() {
    t_begin "$1"
    t_need_root "$1"
    local p
    for p in "$TABBY" "$TABBY_IPAM" "$TABBYCTL"; do
        if [ ! -x "$p" ]; then
            fail "$1" "$p is not built (run from the build folder)"
            t_end
        fi
    done
    CNI_PFX=tbycni$$
    t_on_exit cni_cleanup
    t_fabric "$CNI_PFX"
    trap 'exit 130' INT TERM
    # CNI_PATH: tabby's plugins and the reference ones (host-local, portmap, …).
    CNI_BIN=$T_TMP/bin
    mkdir -p "$CNI_BIN"
    ln -s "$TABBY" "$CNI_BIN/tabby"
    ln -s "$TABBY_IPAM" "$CNI_BIN/tabby-ipam"
    for p in /usr/lib/cni/*; do [ -e "$p" ] && ln -sf "$p" "$CNI_BIN/"; done
    DB=$T_TMP/tabby.db
    STORE="sqlite:$DB"
    unset TABBY_STORE TABBY_CONFIG NODENAME
    cni_pools "${2:-}"
    cni_node
}

# Background subshells of this one; fabric.sh then removes every namespace of the prefix
# (also those made in background subshells) and what runs in them.
cni_cleanup() {
    local pid
    for pid in "${CNI_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
}

ctl() { "$TABBYCTL" --store "$STORE" "$@"; }

# cni_pools [YAML]: the pools (by default 10.10.0.0/16 in /26 blocks and fd10::/64).
cni_pools() {
    local yaml=${1:-}
    if [ -z "$yaml" ]; then
        yaml='apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-v4}
spec: {cidr: 10.10.0.0/16, blockSize: 26}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-v6}
spec: {cidr: "fd10::/64", blockSize: 122}'
    fi
    printf '%s\n' "$yaml" >"$T_TMP/pools.yaml"
    ctl apply -f "$T_TMP/pools.yaml" >/dev/null || { fail setup "cannot apply pools"; t_end; }
}

# cni_ns NAME: a namespace of this run, as bare as a runtime makes it (loopback down); its
# name is $CNI_PFX-NAME.
cni_ns() { ip netns add "$(fab_name "$1")"; }

# at NAME CMD…: CMD inside this run's namespace NAME.
at() { fab_in "$@"; }

# The node: eth0 (paired with eth0p, both inside the node) holds 192.168.200.1/24 and the
# default route, as a real node's uplink would: proxy ARP answers for 169.254.1.1 only
# when the node has a route to it, and the node needs an address to ping pods from. It
# forwards, as a Kubernetes node does (tabby-node sets it, as felix does; IPv6 only
# forwards with the global switch on).
cni_node() {
    NODE=node
    cni_ns "$NODE"
    at "$NODE" ip link set lo up
    at "$NODE" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    at "$NODE" ip link add eth0 mtu "${CNI_UPLINK_MTU:-1500}" type veth peer name eth0p
    at "$NODE" ip addr add 192.168.200.1/24 dev eth0
    at "$NODE" ip -6 addr add fd00:200::1/64 dev eth0 nodad
    at "$NODE" ip link set eth0 up
    at "$NODE" ip link set eth0p up
    at "$NODE" ip route add default via 192.168.200.254 dev eth0 onlink
    at "$NODE" ip -6 route add default via fd00:200::fe dev eth0 onlink
}

# cni_conf [VERSION] [TOP-EXTRA] [IPAM-JSON]: a network configuration for tabby.
cni_conf() {
    local version=${1:-1.0.0} extra=${2:+,$2} ipam=${3:-'{"type":"tabby-ipam"}'}
    printf '{"cniVersion":"%s","name":"k8s-pod-network","type":"tabby","datastore":"%s","nodename":"node1"%s,"ipam":%s}' \
        "$version" "$STORE" "$extra" "$ipam"
}

# cni COMMAND POD CONF [NETNS] [PLUGIN]: runs the plugin inside the node as a runtime
# would, for pod POD (container c-POD, namespace $CNI_PFX-POD unless NETNS is given; "-"
# means an empty CNI_NETNS). Output in $OUT, status in $RC, standard error in $ERR.
cni() {
    local netns=${4:-/run/netns/$CNI_PFX-$2} plugin=${5:-tabby}
    [ "$netns" = - ] && netns=
    OUT=$(printf '%s' "$3" | at "$NODE" env CNI_COMMAND="$1" CNI_CONTAINERID="c-$2" \
        CNI_NETNS="$netns" CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" \
        CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2" \
        "$CNI_BIN/$plugin" 2>"$T_TMP/stderr")
    RC=$?
    ERR=$(cat "$T_TMP/stderr")
}

# cni_add POD [CONF]: a pod namespace and ADD; fails the case (returns 1) when ADD fails.
cni_add() {
    cni_ns "$1" || return 1
    cni ADD "$1" "${2:-$(cni_conf)}"
    [ "$RC" = 0 ]
}

# pod_ip POD: the first address ADD gave (from $OUT of that ADD, saved by cni_add_ip).
address() { jq -r ".ips[${1:-0}].address" <<<"$OUT" | cut -d/ -f1; }

# expect_error CODE FRAGMENT: the last call failed with that code and message.
expect_error() {
    local code msg
    code=$(jq -r .code <<<"$OUT" 2>/dev/null)
    msg=$(jq -r .msg <<<"$OUT" 2>/dev/null)
    if [ "$RC" = 0 ]; then
        WHY="succeeded: $OUT"
    elif [ "$code" != "$1" ]; then
        WHY="code $code, expected $1: $OUT"
    elif ! grep -qF -- "$2" <<<"$msg"; then
        WHY="message \"$msg\" lacks \"$2\""
    else
        return 0
    fi
    return 1
}

# allocated: how many addresses IPAM holds.
allocated() {
    ctl ipam check 2>/dev/null | sed -n 's/.* \([0-9]*\) allocated addresses.*/\1/p'
}

# nothing_left: no veth, pod route, allocation or endpoint remains (WHY says which).
nothing_left() {
    local links routes weps n
    links=$(at "$NODE" ip -o link show | grep -o 'tby[0-9a-f]*' | tr '\n' ' ')
    routes=$(at "$NODE" ip route show | grep -v '192.168.200\|^default' | tr '\n' ' ')
    routes+=$(at "$NODE" ip -6 route show | grep -v 'fd00:200\|^default\|^fe80\|^multicast' |
        tr '\n' ' ')
    weps=$(ctl get wep -A -o name 2>/dev/null | tr '\n' ' ')
    n=$(allocated)
    WHY=
    [ -n "$links" ] && WHY+="veths left: $links; "
    [ -n "$routes" ] && WHY+="routes left: $routes; "
    [ -n "$weps" ] && WHY+="endpoints left: $weps; "
    [ "$n" != 0 ] && WHY+="addresses still allocated: $n; "
    at "$NODE" iptables-save -t nat 2>/dev/null | grep -q 'CNI-DN' && WHY+="portmap's rules left; "
    [ -z "$WHY" ]
}

# host_port_echo POD PORT: a line sent to the node's PORT comes back from an echo server
# on the pod's port 80 (through portmap's DNAT); prints what came back.
host_port_echo() {
    at "$1" ip link set lo up
    at "$1" socat -T 5 TCP-LISTEN:80,reuseaddr EXEC:cat &
    CNI_PIDS+=($!)
    t_wait 10 fab_listening "$1" 80
    echo hello | at "$NODE" socat -T 3 - "TCP:192.168.200.1:$2,connect-timeout=3" 2>&1
}

# cni_need CASE PACKAGES TOOL…: skips the whole test unless every TOOL is installed.
cni_need() {
    local case=$1 packages=$2 tool
    shift 2
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null; then
            skip "$case" "$tool is not installed (Debian packages $packages)"
            t_end
        fi
    done
}

# cni_need_busybox CASE: skips the whole test unless busybox-static (with ping) is there,
# the root of the tests' container images.
cni_need_busybox() {
    if [ ! -x /bin/busybox ] || ! /bin/busybox --list | grep -qx ping; then
        skip "$1" "/bin/busybox with ping is missing (Debian package busybox-static)"
        t_end
    fi
}
