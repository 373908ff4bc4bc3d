# fabric.sh — networks built of network namespaces, for the lab (examples/lab/lab) and the
# integration tests: segments (a bridge in a namespace of its own), routers between
# segments, hosts and nodes plugged into them by veth pairs, all named PREFIX-NAME and
# removed together by that prefix. Veths are created straight inside the namespaces and
# every other command runs inside them: nothing is made or changed in the caller's own
# network namespace. Source it (bash); needs root and iproute2. Each function returns
# non-zero when a step fails; only the failing command's own message is printed.
#
#   fab_init PREFIX             the names below are PREFIX-NAME; fab_cleanup removes them
#   fab_name NAME               prints PREFIX-NAME
#   fab_in NAME CMD…            CMD inside namespace NAME
#   fab_ns NAME                 a namespace, loopback up
#   fab_forward NAME            IPv4 and IPv6 forwarding on in NAME
#   fab_switch NAME             a segment: a namespace holding bridge br0
#   fab_router NAME ADDR/LEN…   a namespace forwarding between bridges br1, br2, …, the
#                               n-th holding the n-th address (each subnet's gateway)
#   fab_plug NAME FABRIC[/BR] IFNAME [ADDR/LEN…]
#                               a veth from NAME's IFNAME to bridge BR (br0) of FABRIC, both
#                               ends up, the addresses on IFNAME; the fabric's end is named
#                               $FAB_PORT when set (else a random name)
#   fab_link A IFA B IFB        a veth between namespaces A (IFA) and B (IFB), both ends up
#   fab_host NAME FABRIC[/BR] ADDR/LEN [GATEWAY [ADDR6/LEN]]
#                               a namespace with eth0 on FABRIC, default route via GATEWAY
#   fab_node NAME FABRIC[/BR] ADDR/LEN [GATEWAY [ADDR6/LEN]]
#                               the same, forwarding (as a Kubernetes node does)
#   fab_listening NAME PORT [tcp|udp]
#                               true when a socket of NAME listens on PORT (default tcp)
#   fab_list                    the prefix's namespaces (full names), one a line
#   fab_remove NAME…            stops every process in those namespaces (TERM, then KILL
#                               after FAB_STOP_SECONDS, default 5) and deletes them
#   fab_cleanup                 fab_remove of every namespace of the prefix
#
# A prefix must not be another prefix followed by "-": only PREFIX-… names are touched.

FAB_PREFIX=${FAB_PREFIX:-}

fab_init() { FAB_PREFIX=$1; }

fab_name() { echo "$FAB_PREFIX-$1"; }

fab_in() {
    local ns=$FAB_PREFIX-$1
    shift
    ip netns exec "$ns" "$@"
}

fab_ns() {
    ip netns add "$FAB_PREFIX-$1" || return 1
    fab_in "$1" ip link set lo up
}

fab_forward() { fab_in "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1; }

# fab_bridge NAME BR [ADDR/LEN]
fab_bridge() {
    fab_in "$1" ip link add "$2" type bridge || return 1
    if [ -n "${3:-}" ]; then fab_in "$1" ip addr add "$3" dev "$2" || return 1; fi
    fab_in "$1" ip link set "$2" up
}

fab_switch() { fab_ns "$1" && fab_bridge "$1" br0; }

fab_router() {
    local name=$1 n=1 addr
    shift
    fab_ns "$name" && fab_forward "$name" || return 1
    for addr in "$@"; do
        fab_bridge "$name" "br$n" "$addr" || return 1
        n=$((n + 1))
    done
}

# fab_addr NAME IFNAME ADDR/LEN: IPv6 addresses without duplicate detection (usable at once).
fab_addr() {
    case $3 in
    *:*) fab_in "$1" ip addr add "$3" dev "$2" nodad ;;
    *) fab_in "$1" ip addr add "$3" dev "$2" ;;
    esac
}

fab_plug() {
    local name=$1 fabric=${2%%/*} bridge=br0 ifname=$3 port=${FAB_PORT:-p$RANDOM$RANDOM} addr
    case $2 in */*) bridge=${2#*/} ;; esac
    shift 3
    ip link add "$port" netns "$FAB_PREFIX-$fabric" type veth peer name "$ifname" \
        netns "$FAB_PREFIX-$name" || return 1
    fab_in "$fabric" ip link set "$port" master "$bridge" up || return 1
    for addr in "$@"; do fab_addr "$name" "$ifname" "$addr" || return 1; done
    fab_in "$name" ip link set "$ifname" up
}

fab_link() {
    ip link add "$2" netns "$FAB_PREFIX-$1" type veth peer name "$4" netns "$FAB_PREFIX-$3" ||
        return 1
    fab_in "$1" ip link set "$2" up && fab_in "$3" ip link set "$4" up
}

fab_host() {
    local name=$1 fabric=$2 addr=$3 gw=${4:-} addr6=${5:-}
    fab_ns "$name" || return 1
    fab_plug "$name" "$fabric" eth0 "$addr" ${addr6:+"$addr6"} || return 1
    if [ -n "$gw" ]; then fab_in "$name" ip route add default via "$gw" || return 1; fi
}

fab_node() { fab_host "$@" && fab_forward "$1"; }

fab_listening() { [ -n "$(fab_in "$1" ss -Hln "--${3:-tcp}" "sport = :$2")" ]; }

fab_list() {
    [ -n "$FAB_PREFIX" ] || return 0
    ip netns list | awk -v p="$FAB_PREFIX-" 'index($1, p) == 1 { print $1 }'
}

# fab_pids NETNS…: the processes in those namespaces (full names).
fab_pids() {
    local ns
    for ns in "$@"; do ip netns pids "$ns" 2>/dev/null || true; done
}

# fab_stop NETNS…: fab_remove's work, on full names. Works under `set -e` too (the lab
# runs so): nothing here fails the caller.
fab_stop() {
    local pids ns end
    pids=$(fab_pids "$@")
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086 # one word per pid
        kill $pids 2>/dev/null || true
        end=$((SECONDS + ${FAB_STOP_SECONDS:-5}))
        while [ -n "$(fab_pids "$@")" ] && [ $SECONDS -lt $end ]; do sleep 0.1; done
        # shellcheck disable=SC2046
        kill -9 $(fab_pids "$@") 2>/dev/null || true
        # Reaps those that were the caller's children; the others are not waited for.
        # shellcheck disable=SC2086
        wait $pids 2>/dev/null || true
    fi
    for ns in "$@"; do ip netns del "$ns" 2>/dev/null || true; done
}

fab_remove() {
    local name names=()
    for name in "$@"; do names+=("$FAB_PREFIX-$name"); done
    fab_stop "${names[@]}"
}

fab_cleanup() {
    local all
    mapfile -t all < <(fab_list)
    [ ${#all[@]} = 0 ] || fab_stop "${all[@]}"
}
