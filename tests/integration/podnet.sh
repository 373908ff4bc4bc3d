# podnet.sh — pods and nodes out of network namespaces, for tests of tabby-node's policy
# (source after lib.sh, once t_begin has run). Everything lives in namespaces named
# "$PN_PREFIX-…" (fabric.sh's prefix) that these functions make and remove; the host's
# namespace is never touched (every command runs under `ip netns exec`).
#
#   pn_init                      prefix tby$$, datastore $T_TMP/tabby.db, cleanup on exit
#   pn_node NODE                 a node namespace (forwarding on), fabric.sh's NODE
#   pn_pod NODE NS POD IP [LABELS] [PORTS] [ACCOUNT]
#                                a pod namespace on a veth to NODE, Calico style: the pod
#                                has IP/32 and a default route via 169.254.1.1, the node a
#                                /32 route to it and proxy ARP; registered as a
#                                WorkloadEndpoint. LABELS "k=v,k2=v2"; PORTS
#                                "name/TCP/80,name2/UDP/53" (named ports)
#   pn_serve NS POD [PORT...]    TCP and UDP servers answering "ok" (default ports 80 81)
#   pn_probe FROM_NS FROM_POD TO_NS TO_POD PORT PROTO
#                                0 when a connection (TCP) or a reply (UDP) gets through
#   pn_expect NAME EXPECT FROM_NS FROM_POD TO_NS TO_POD PORT PROTO
#                                queues a probe; pn_check runs the queue in parallel and
#                                prints PASS/FAIL per probe (EXPECT: allow | deny)
#   pn_apply                     tabbyctl apply -f - (YAML on stdin), then waits until
#                                every running tabby-node has programmed it
#   pn_change ARGS...            the same for any tabbyctl command (delete -f FILE, ...)
#   pn_do CMD...                 the same for any command (kubectl on k8s:, k8s_lib.sh)
#   pn_start_node NODE [ARGS]    starts tabby-node in NODE (policy only unless ARGS say
#                                otherwise), waits for its first sync
#   pn_wait_programmed NODE N    waits (up to PN_WAIT seconds) until NODE's tabby-node has
#                                programmed more than N times
#   pn_stop_node NODE [SIGNAL]   stops it (default TERM)
#   pn_programmed NODE           how many times tabby-node has programmed so far (also in
#                                PN_COUNT after pn_count_programmed NODE, without a fork)
#   pn_netns NS POD / pn_node_netns NODE / pn_ip NS POD / pn_ifname NS POD
#
# On the k8s: datastore (k8s_lib.sh sets PN_K8S): tabbyctl runs where the API server is
# reachable (PN_CTL_EXEC), a pod's endpoint is its Pod object and its host-side interface
# is named as the tabby plugin names it there (tby and 11 hex digits of SHA-1 of "NS.POD").
#
# Tunables: PN_TIMEOUT (probe timeout, seconds, default 0.5), PN_WAIT (how long tabby-node
# may take to program a change, default 30 s: a deadline, not a delay), TABBY_NODE.

PN_TIMEOUT=${PN_TIMEOUT:-0.5}
PN_WAIT=${PN_WAIT:-30}
TABBY_NODE=${TABBY_NODE:-$T_BUILD/tabby-node}
PROBER=${PROBER:-$T_BUILD/tests/integration/prober}
declare -A PN_IP PN_IP6 PN_IF PN_NODE_OF PN_DAEMON
PN_PIDS=()
PN_PROBES=()

pn_init() {
    PN_PREFIX=${PN_PREFIX:-tby$$}
    PN_STORE="sqlite:$T_TMP/tabby.db"
    # The daemons and servers (some run from the root namespace into the pods') first, then
    # whatever else runs in the namespaces, and the namespaces.
    t_on_exit pn_cleanup
    t_fabric "$PN_PREFIX"
}

pn_cleanup() {
    local pid
    for pid in "${PN_PIDS[@]}" "${PN_DAEMON[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PN_PIDS[@]}" "${PN_DAEMON[@]}"; do wait "$pid" 2>/dev/null; done
    return 0
}

# shellcheck disable=SC2086 # PN_CTL_EXEC is a command prefix, one word per part
pn_ctl() { ${PN_CTL_EXEC:-} "$TABBYCTL" --store "$PN_STORE" "$@"; }
pn_node_netns() { fab_name "$1"; }
pn_netns() { fab_name "$1-$2"; }
pn_ip() { echo "${PN_IP[$1/$2]}"; }
pn_ip6() { echo "${PN_IP6[$1/$2]:-}"; }
# pn_ip_both NS POD: "IPV4" or "IPV4,IPV6", as pn_pod took it.
pn_ip_both() { echo "${PN_IP[$1/$2]}${PN_IP6[$1/$2]:+,${PN_IP6[$1/$2]}}"; }
pn_ifname() { echo "${PN_IF[$1/$2]}"; }

pn_node() { fab_ns "$1" && fab_forward "$1"; }

# Host-side interface name: "tb" and 11 hex digits of the pod's identity (at most 15); on
# k8s: the name tabby-node derives from the Pod (tby_veth_name).
pn_hostif() {
    if [ -n "${PN_K8S:-}" ]; then echo "tby$(printf '%s' "$1.$2" | sha1sum | cut -c1-11)"
    else echo "tb$(printf '%s' "$1/$2" | sha1sum | cut -c1-11)"; fi
}

# Every name and label quoted (yaml_str): a namespace y or a pod null stays a name.
pn_wep_yaml() {
    local node=$1 ns=$2 pod=$3 ip=$4 labels=$5 ports=$6 hostif=$7 sa=${8:-} kv p
    printf 'apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\n'
    printf 'metadata:\n  name: %s\n' "$(yaml_str "$node-k8s-$pod-eth0")"
    printf '  namespace: %s\n  labels:\n' "$(yaml_str "$ns")"
    printf '    projectcalico.org/namespace: %s\n' "$(yaml_str "$ns")"
    printf '    projectcalico.org/orchestrator: k8s\n'
    for kv in ${labels//,/ }; do
        printf '    %s: %s\n' "$(yaml_str "${kv%%=*}")" "$(yaml_str "${kv#*=}")"
    done
    printf 'spec:\n  orchestrator: k8s\n  node: %s\n' "$(yaml_str "$node")"
    printf '  pod: %s\n  endpoint: eth0\n' "$(yaml_str "$pod")"
    if [[ $ip == *,* ]]; then
        printf '  interfaceName: %s\n  ipNetworks: [%s/32, %s/128]\n' "$hostif" "${ip%%,*}" "${ip#*,}"
    else
        printf '  interfaceName: %s\n  ipNetworks: [%s/32]\n' "$hostif" "$ip"
    fi
    if [ -n "$sa" ]; then
        printf '  serviceAccountName: %s\n' "$(yaml_str "$sa")"
        printf '  profiles: [%s, %s]\n' "$(yaml_str "kns.$ns")" "$(yaml_str "ksa.$ns.$sa")"
    else
        printf '  profiles: [%s]\n' "$(yaml_str "kns.$ns")"
    fi
    [ -n "$ports" ] && printf '  ports:\n'
    for p in ${ports//,/ }; do
        IFS=/ read -r pname pproto pport <<<"$p"
        printf '  - {name: %s, protocol: %s, port: %s}\n' "$(yaml_str "$pname")" "$pproto" "$pport"
    done
}

# pn_pod NODE NS POD IP [LABELS [PORTS [SA]]]: IP is IPv4, or "IPV4,IPV6" for a dual-stack
# pod (pn_ip says the IPv4 address, pn_ip6 the IPv6 one).
pn_pod() {
    local node=$1 ns=$2 pod=$3 ip=$4 labels=${5:-} ports=${6:-} sa=${7:-} nodens podns hostif mac
    local ip6=
    [[ $ip == *,* ]] && ip6=${ip#*,}
    nodens=$(pn_node_netns "$node")
    podns=$(pn_netns "$ns" "$pod")
    hostif=$(pn_hostif "$ns" "$pod")
    fab_ns "$ns-$pod" && fab_link "$node" "$hostif" "$ns-$pod" eth0 || return 1
    [ -z "$ip6" ] || pn_pod6 "$nodens" "$podns" "$hostif" "$ip6" || return 1
    PN_IP6[$ns/$pod]=$ip6
    ip=${ip%%,*}
    ip netns exec "$podns" ip addr add "$ip/32" dev eth0
    ip netns exec "$podns" ip route add 169.254.1.1 dev eth0 scope link
    ip netns exec "$podns" ip route add default via 169.254.1.1 dev eth0
    ip netns exec "$nodens" sysctl -qw "net.ipv4.conf.$hostif.proxy_arp=1"
    # Proxy ARP answers only for addresses the node routes elsewhere, and a test node has
    # no default route: pin the gateway's neighbour entry instead.
    mac=$(ip netns exec "$nodens" cat "/sys/class/net/$hostif/address")
    ip netns exec "$podns" ip neigh replace 169.254.1.1 lladdr "$mac" dev eth0 nud permanent
    ip netns exec "$nodens" ip route add "$ip/32" dev "$hostif"
    PN_IP[$ns/$pod]=$ip
    PN_IF[$ns/$pod]=$hostif
    PN_NODE_OF[$ns/$pod]=$node
    if [ -n "${PN_K8S:-}" ]; then
        pn_do kl_pod_object "$node" "$ns" "$pod" "$ip${ip6:+,$ip6}" "$labels" "$ports" "$sa" >/dev/null
    else
        pn_wep_yaml "$node" "$ns" "$pod" "$ip${ip6:+,$ip6}" "$labels" "$ports" "$hostif" "$sa" |
            pn_apply >/dev/null
    fi
}

# The pod's IPv6 address: no duplicate address detection, a default route via a link-local
# gateway whose neighbour entry is pinned (as IPv4's), and the node's route and neighbour
# entry for the pod pinned too (no neighbour discovery needed either way).
pn_pod6() {
    local nodens=$1 podns=$2 hostif=$3 ip6=$4 mac podmac
    mac=$(ip netns exec "$nodens" cat "/sys/class/net/$hostif/address")
    podmac=$(ip netns exec "$podns" cat /sys/class/net/eth0/address)
    ip netns exec "$podns" ip -6 addr add "$ip6/128" dev eth0 nodad &&
        ip netns exec "$podns" ip -6 route add fe80::1 dev eth0 &&
        ip netns exec "$podns" ip -6 route add default via fe80::1 dev eth0 &&
        ip netns exec "$podns" ip -6 neigh replace fe80::1 lladdr "$mac" dev eth0 nud permanent &&
        ip netns exec "$nodens" ip -6 route add "$ip6/128" dev "$hostif" &&
        ip netns exec "$nodens" ip -6 neigh replace "$ip6" lladdr "$podmac" dev "$hostif" nud permanent
}

# pn_serve NS POD [PORT...]: the pod's servers, one prober process (prober.c) answering
# on every port without a fork per request, so answers stay fast on a loaded machine.
pn_serve() {
    local ns=$1 pod=$2 ports
    shift 2
    ports=${*:-80 81}
    pn_serve_netns "$(pn_netns "$ns" "$pod"):${ports// /,}"
}

# pn_serve_netns NETNS:PORT[,PORT...]...: servers in any namespaces, ready on return.
pn_serve_netns() {
    local out
    out=$(mktemp "$T_TMP/servers-XXXXXX")
    "$PROBER" serve "$@" >"$out" 2>&1 &
    PN_PIDS+=($!)
    t_wait "$PN_WAIT" grep -q '^ready$' "$out" && return 0
    cat "$out" >&2
    return 1
}

pn_probe() {
    local from to ip=${PN_IP[$3/$4]} port=$5 proto=${6:-TCP} out
    from=$(pn_netns "$1" "$2")
    if [ "$proto" = UDP ]; then
        out=$(echo probe | ip netns exec "$from" timeout 2 socat -T "$PN_TIMEOUT" - \
            "UDP:$ip:$port" 2>/dev/null)
    else
        out=$(ip netns exec "$from" timeout 2 socat -T "$PN_TIMEOUT" - \
            "TCP:$ip:$port,connect-timeout=$PN_TIMEOUT" </dev/null 2>/dev/null)
    fi
    [ "$out" = ok ]
}

pn_expect() {
    PN_PROBES+=("$*")
}

# Runs the queued probes in parallel; PASS/FAIL per probe; returns 1 when any failed.
pn_check() {
    local i probe name expect got bad=0 dir pids=()
    dir=$(mktemp -d "$T_TMP/probes-XXXXXX")
    for i in "${!PN_PROBES[@]}"; do
        read -r name expect rest <<<"${PN_PROBES[$i]}"
        # shellcheck disable=SC2086
        (if pn_probe $rest; then echo allow; else echo deny; fi >"$dir/$i") &
        pids+=($!)
    done
    wait "${pids[@]}"  # only the probes: servers and daemons run on
    for i in "${!PN_PROBES[@]}"; do
        read -r name expect rest <<<"${PN_PROBES[$i]}"
        got=$(cat "$dir/$i")
        if [ "$got" = "$expect" ]; then pass "$name"; else fail "$name" "$rest: expected $expect, got $got"; bad=1; fi
    done
    PN_PROBES=()
    rm -rf "$dir"
    return $bad
}

# PN_COUNT: how many times NODE's daemon has programmed so far. Builtins only, no
# subshell: the tests ask often, and a fork costs tens of milliseconds on a busy machine.
pn_count_programmed() {
    local line
    PN_COUNT=0
    [ -r "$T_TMP/tabby-node-$1.log" ] || return 0
    while IFS= read -r line; do
        [[ $line == *'policy programmed'* ]] && PN_COUNT=$((PN_COUNT + 1))
    done <"$T_TMP/tabby-node-$1.log"
    return 0
}

pn_programmed() {
    pn_count_programmed "$1"
    echo "$PN_COUNT"
}

# Waits until NODE's daemon has programmed more than BEFORE times (PN_WAIT s at most).
pn_wait_programmed() {
    local node=$1 before=$2 end=$((SECONDS + PN_WAIT))
    while :; do
        pn_count_programmed "$node"
        [ "$PN_COUNT" -gt "$before" ] && return 0
        [ $SECONDS -lt $end ] || return 1
        sleep 0.05
    done
}

# pn_do CMD...: CMD, then, when it changed anything, waits until every running tabby-node
# has programmed it. Prints CMD's output.
pn_do() {
    local node out
    declare -A before
    for node in "${!PN_DAEMON[@]}"; do
        pn_count_programmed "$node"
        before[$node]=$PN_COUNT
    done
    out=$("$@" 2>&1) || { echo "$out" >&2; return 1; }
    echo "$out"
    # an unchanged apply, a delete of nothing, a label already there (tabbyctl's words and
    # kubectl's) program nothing: wait only after a write
    grep -qv -e ' unchanged$' -e '^deleted 0 of ' -e ' not labeled$' <<<"$out" || return 0
    for node in "${!PN_DAEMON[@]}"; do pn_wait_programmed "$node" "${before[$node]}"; done
}

# pn_change ARGS...: pn_do of tabbyctl ARGS (apply, delete, ...).
pn_change() { pn_do pn_ctl "$@"; }

pn_apply() {
    pn_change apply -f -
}

# Policy only unless told otherwise (flags in ARGS win): no BIRD, no routes, no address to
# find, no health port, the pid file and the nodename file in the scratch folder; the
# datastore as the test's tools see it, or PN_NODE_STORE (k8s: tabby-node's own user).
pn_start_node() {
    local node=$1 before
    shift
    # k8s_lib.sh's kl_podman: the DaemonSet's pod, played by podman
    if [ "${PN_RUNTIME:-}" = podman ]; then kl_node_pod_start "$node"; return; fi
    pn_count_programmed "$node"
    before=$PN_COUNT
    # The tests make their own pools: no default pool unless a test asks for one.
    TABBY_NETWORKING_BACKEND=${TABBY_NETWORKING_BACKEND:-none} IP=${IP:-none} \
        NO_DEFAULT_POOLS=${NO_DEFAULT_POOLS-true} TABBY_HEALTH_PORT=${TABBY_HEALTH_PORT:-0} TABBY_PID_FILE="$T_TMP/tabby-node-$node.pid" \
        CALICO_NODENAME_FILE="$T_TMP/nodename-$node" \
        ip netns exec "$(pn_node_netns "$node")" "$TABBY_NODE" --store "${PN_NODE_STORE:-$PN_STORE}" \
        --node "$node" "$@" >>"$T_TMP/tabby-node-$node.log" 2>&1 &
    PN_DAEMON[$node]=$!
    pn_wait_programmed "$node" "$before"
}

pn_stop_node() {
    local node=$1 sig=${2:-TERM} pid=${PN_DAEMON[$1]}
    if [ "${PN_RUNTIME:-}" = podman ]; then kl_node_pod_stop "$node" "$sig"; return; fi
    [ -n "$pid" ] || return 0
    kill -"$sig" "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "PN_DAEMON[$node]"
}
