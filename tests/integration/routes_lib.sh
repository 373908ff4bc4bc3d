# routes_lib.sh — a small lab for the route manager's tests, built with fabric.sh
# (fab_switch, fab_router, fab_node, fab_plug, fab_ns): namespaces for fabrics, routers,
# nodes and pods, all named with this run's own prefix and removed on exit. Source it
# after lib.sh and call `lab_begin NAME`.
#
# A pod is a namespace whose eth0 is paired with tby<POD> in its node, addressed the way
# Calico's CNI plugin does it (a /32, and a default route via 169.254.1.1 whose MAC is the
# host side's).

DRIVER=${DRIVER:-$T_BUILD/tests/integration/routes_driver}
LAB_PIDS=()

lab_begin() {
    t_begin "$1"
    t_need_root "$1"
    if [ ! -x "$DRIVER" ]; then
        fail "$1" "$DRIVER is not built (run from the build folder)"
        t_end
    fi
    # Processes started in the background through `at` are subshells of this one: they go
    # first; fabric.sh then stops what runs in the namespaces and removes them.
    t_on_exit lab_cleanup
    t_fabric "tbyrt$$"
    trap 'exit 130' INT TERM
}

lab_cleanup() {
    local pid
    for pid in "${LAB_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
}

# at NAME CMD…: runs CMD inside the lab namespace NAME.
at() { fab_in "$@"; }

# lab_pod NODE POD ADDR [ADDR6]: a pod namespace on NODE, as a CNI plugin would make it,
# without the host-side route (the route manager makes it).
lab_pod() {
    local node=$1 pod=$2 addr=$3 addr6=${4:-} mac
    fab_ns "$pod" && fab_link "$node" "tby$pod" "$pod" eth0 || return 1
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

# pod_tcp FROM TO ADDR: a TCP connection from pod FROM to a server in pod TO carries a
# line both ways.
pod_tcp() {
    local from=$1 to=$2 addr=$3 port=$((20000 + RANDOM % 20000)) got
    at "$to" socat -T 5 "TCP-LISTEN:$port,reuseaddr" EXEC:cat &
    LAB_PIDS+=($!)
    t_wait 10 fab_listening "$to" "$port"
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
