# routes_lib.sh — a small lab for the route manager's tests: network namespaces for
# fabrics (bridges), routers, nodes and pods, all named with this run's own prefix and
# removed on exit. Source it after lib.sh and call `lab_begin NAME`.
#
# A node is a namespace with eth0 on a fabric bridge; a pod is a namespace whose eth0 is
# paired with tby<POD> in its node, addressed the way Calico's CNI plugin does it (a /32,
# and a default route via 169.254.1.1 whose MAC is the host side's).

DRIVER=${DRIVER:-$T_BUILD/tests/integration/routes_driver}
LAB_PIDS=()
LAB_NS=()

lab_begin() {
    t_begin "$1"
    t_need_root "$1"
    if [ ! -x "$DRIVER" ]; then
        fail "$1" "$DRIVER is not built (run from the build folder)"
        t_end
    fi
    LAB=tbyrt$$
    t_on_exit lab_cleanup
    trap 'exit 130' INT TERM
}

# Only what this run made goes: other tests' namespaces may share the machine.
lab_cleanup() {
    local pid ns
    for pid in "${LAB_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for ns in "${LAB_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
}

# at NAME CMD…: runs CMD inside the lab namespace NAME.
at() {
    local ns=$LAB-$1
    shift
    ip netns exec "$ns" "$@"
}

lab_ns() {
    ip netns add "$LAB-$1"
    LAB_NS+=("$LAB-$1")
    at "$1" ip link set lo up
}

# lab_fabric NAME: a namespace holding bridge br0, the shared segment.
lab_fabric() {
    lab_ns "$1"
    at "$1" ip link add br0 type bridge
    at "$1" ip link set br0 up
}

# lab_attach NS IFNAME FABRIC[/BRIDGE]: a veth from NS (named IFNAME) to a bridge (br0
# unless named) in the namespace FABRIC.
lab_attach() {
    local ns=$1 ifname=$2 fabric=${3%%/*} bridge=br0 peer="p$RANDOM$RANDOM"
    case $3 in */*) bridge=${3#*/} ;; esac
    ip link add "$peer" netns "$LAB-$fabric" type veth peer name "$ifname" netns "$LAB-$ns"
    at "$fabric" ip link set "$peer" master "$bridge" up
    at "$ns" ip link set "$ifname" up
}

# lab_router NAME ADDR/LEN…: a namespace that routes between bridges br1, br2, …, the
# n-th holding the n-th address.
lab_router() {
    local name=$1 n=1 addr
    shift
    lab_ns "$name"
    at "$name" sysctl -qw net.ipv4.ip_forward=1
    for addr in "$@"; do
        at "$name" ip link add "br$n" type bridge
        at "$name" ip addr add "$addr" dev "br$n"
        at "$name" ip link set "br$n" up
        n=$((n + 1))
    done
}

# lab_node NODE FABRIC[/BRIDGE] ADDR/LEN [GATEWAY] [ADDR6/LEN]: a node on a fabric,
# forwarding.
lab_node() {
    local node=$1 fabric=$2 addr=$3 gw=${4:-} addr6=${5:-}
    lab_ns "$node"
    lab_attach "$node" eth0 "$fabric"
    at "$node" ip addr add "$addr" dev eth0
    [ -n "$addr6" ] && at "$node" ip addr add "$addr6" dev eth0 nodad
    [ -n "$gw" ] && at "$node" ip route add default via "$gw"
    at "$node" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# lab_pod NODE POD ADDR [ADDR6]: a pod namespace on NODE, as a CNI plugin would make it,
# without the host-side route (the route manager makes it).
lab_pod() {
    local node=$1 pod=$2 addr=$3 addr6=${4:-} mac
    lab_ns "$pod"
    ip link add "tby$pod" netns "$LAB-$node" type veth peer name eth0 netns "$LAB-$pod"
    at "$node" ip link set "tby$pod" up
    at "$pod" ip link set eth0 up
    mac=$(at "$node" cat "/sys/class/net/tby$pod/address")
    at "$pod" ip addr add "$addr/32" dev eth0
    at "$pod" ip neigh add 169.254.1.1 lladdr "$mac" dev eth0 nud permanent
    at "$pod" ip route add default via 169.254.1.1 dev eth0 onlink
    if [ -n "$addr6" ]; then
        at "$pod" ip -6 addr add "$addr6/128" dev eth0 nodad
        at "$pod" ip -6 neigh add fe80::1 lladdr "$mac" dev eth0 nud permanent
        at "$pod" ip -6 route add default via fe80::1 dev eth0
    fi
}

# driver NODE ARGS…: the driver inside NODE; output in $OUT, status in $RC.
driver() {
    local node=$1
    shift
    OUT=$(at "$node" "$DRIVER" "$@" 2>&1)
    RC=$?
}

# apply NODE STATEFILE [--block …]: apply, failing CASE when the driver fails.
apply() {
    driver "$1" apply "$1" "${@:2}"
    [ "$RC" = 0 ]
}

# has TEXT FRAGMENT: TEXT contains FRAGMENT.
has() {
    case $1 in *"$2"*) return 0 ;; esac
    return 1
}

# pod_ping FROM ADDR: a reply within 4 seconds (a new namespace's IPv6 takes a moment).
pod_ping() {
    at "$1" ping -c 1 -w 4 "$2" >/dev/null 2>&1
}

# pod_tcp FROM TO ADDR: a TCP connection from pod FROM to a server in pod TO carries a
# line both ways.
pod_tcp() {
    local from=$1 to=$2 addr=$3 port=$((20000 + RANDOM % 20000)) got
    at "$to" socat -T 5 "TCP-LISTEN:$port,reuseaddr" EXEC:cat &
    LAB_PIDS+=($!)
    sleep 0.3
    got=$(echo "hello-$port" |
        at "$from" socat -T 3 - "TCP:$addr:$port,connect-timeout=3" 2>/dev/null)
    [ "$got" = "hello-$port" ]
}

# tx_packets NODE DEV: packets sent through DEV so far.
tx_packets() {
    at "$1" cat "/sys/class/net/$2/statistics/tx_packets"
}

# routes NODE: tabby's routes in NODE's main table.
routes() {
    at "$1" ip route show proto 80
    at "$1" ip -6 route show proto 80
}
