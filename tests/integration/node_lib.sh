# node_lib.sh — a small cluster for tabby-node's tests (source after lib.sh, once t_begin
# has run): a fabric bridge in a namespace of its own, nodes plugged into it (fabric.sh),
# each running tabby-node (and BIRD when asked), pods whose addresses come from IPAM
# through the tabby-ipam CNI plugin and which podnet.sh wires up. Everything is named with
# this run's prefix and removed on exit; every daemon is stopped by the pid recorded when
# it started, and whatever else runs in the namespaces by fabric.sh's cleanup. The host's
# network namespace is never touched.
#
#   nl_init NAME [TOOLS…]        skips unless root and the tools exist; prefix, fabric
#   nl_pools YAML…               IPPool documents through tabbyctl (nl_pool NAME CIDR SPEC)
#   nl_fabric FAB                another fabric (the first one is "fab")
#   nl_node NODE ADDR/LEN [FAB]  a node namespace with eth0 on the fabric
#   nl_host NAME ADDR/LEN [FAB]  a plain host on the fabric (an "outside" server)
#   nl_router NAME ADDR/LEN FAB ADDR/LEN FAB
#                                a router between two fabrics (eth0 on the first, eth1)
#   nl_bg NAME CMD…              CMD in the background in NAME's namespace, stopped on exit
#   nl_bird NODE                 BIRD in NODE, with a file and socket tabby-node then drives
#   nl_start NODE [ARGS]         tabby-node in NODE; waits until /readiness answers 200
#                                (NL_READY_S, 30 s at most; NL_WAIT_READY=0: only until
#                                /liveness answers)
#   nl_start_all NODE…           nl_start each, the test ends (FAIL) when one does not start
#   nl_stop NODE [SIGNAL]        stops it (default TERM) and waits for it
#   nl_pod NODE NS POD [LABELS]  a pod with an IPAM address (and TCP/UDP servers on 80, 81)
#   nl_unpod NODE NS POD         its endpoint deleted and its address given back
#   nl_http NODE PATH            "STATUS BODY" of a GET inside NODE's namespace
#   nl_metric NODE SERIES        the value of one series of NODE's /metrics (name{labels})
#   nl_status NODE               `tabbyctl node status` for NODE (its BIRD, its pid file)
#   nl_ready NODE                /readiness says 200
#   nl_state NODE                what tabby-node programmed: nft table without counters,
#                                routes of protocol 80 and bird, VXLAN device, neighbours, FDB
#
# Tunables: NL_BACKEND (bird or vxlan, default bird), TABBY_NODE, TABBY_IPAM, TABBYCTL,
# PN_TIMEOUT (probes; 1 s here: the machine may be busy with other tests).

NL_BACKEND=${NL_BACKEND:-bird}
PN_TIMEOUT=${PN_TIMEOUT:-1}
NL_POOL_YAML=''

nl_need() {
    local name=$1 cmd
    shift
    t_need_root "$name"
    for cmd in "$@"; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            skip "$name" "$cmd is not installed"
            t_end
        fi
    done
    if [ ! -x "$TABBY_NODE" ] || [ ! -x "$TABBY_IPAM" ]; then
        fail "$name" "tabby-node or tabby-ipam is not built (run from the build folder)"
        t_end
    fi
}

nl_init() {
    local name=$1
    shift
    nl_need "$name" ip nft curl socat python3 "$@"
    PN_PREFIX=tnd$$
    pn_init
    trap 'exit 130' INT TERM
    nl_fabric fab
}

# A fabric: a namespace holding one bridge, br0.
nl_fabric() { fab_switch "$1"; }

# nl_in NAME CMD…: CMD in the namespace of a node, host or the fabric.
nl_in() { fab_in "$@"; }

# nl_pool NAME CIDR [MORE SPEC]: one IPPool document.
nl_pool() {
    printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: %s}\n' \
        "$(yaml_str "$1")"
    printf 'spec: {cidr: %s, blockSize: 26%s}\n---\n' "$2" "${3:+, $3}"
}

nl_apply() { pn_ctl apply -f - >/dev/null; }

# nl_plug NAME ADDR [FAB] [IF]: plugs namespace NAME into a fabric as IF (eth0) with ADDR.
nl_plug() { fab_plug "$1" "${3:-fab}" "${4:-eth0}" "$2"; }

nl_node() { fab_node "$1" "${3:-fab}" "$2"; }

nl_host() { fab_host "$1" "${3:-fab}" "$2"; }

nl_router() {
    fab_host "$1" "$3" "$2" && fab_plug "$1" "$5" eth1 "$4" && fab_forward "$1"
}

# Not through nl_in: $! must be the program itself for the cleanup to stop it.
nl_bg() {
    local name=$1
    shift
    ip netns exec "$PN_PREFIX-$name" "$@" &
    PN_PIDS+=($!)
}

# nl_echo_peer HOST: HOST answers TCP 8080 with the address it saw the connection come from
# (what natOutgoing made of a pod's); nl_peer_seen NS POD ADDR asks it from a pod.
nl_echo_peer() {
    nl_bg "$1" socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' 2>/dev/null
    t_wait 20 nl_in "$1" sh -c 'ss -ltn | grep -q :8080'
}
nl_peer_seen() {
    ip netns exec "$(pn_netns "$1" "$2")" socat -T 2 - TCP:"$3":8080,connect-timeout=2 \
        </dev/null 2>/dev/null
}

nl_bird() {
    local node=$1 dir=$T_TMP/$1 id
    mkdir -p "$dir"
    id=$(nl_in "$node" ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
    printf 'router id %s;\nprotocol device {}\n' "$id" >"$dir/bird.conf"
    ip netns exec "$PN_PREFIX-$node" bird -f -c "$dir/bird.conf" -s "$dir/bird.ctl" \
        -P "$dir/bird.pid" </dev/null >"$dir/bird.log" 2>&1 &
    PN_PIDS+=($!)
    t_wait 20 test -S "$dir/bird.ctl"
}

nl_http() {
    nl_in "$1" curl -s -m 2 -o "$T_TMP/http.$1" -w '%{http_code}' "http://127.0.0.1:9099$2"
    echo " $(cat "$T_TMP/http.$1" 2>/dev/null)"
}

nl_metric() {
    nl_in "$1" curl -s -m 2 http://127.0.0.1:9099/metrics |
        awk -v s="$2" '$1 == s { print $2; found = 1 } END { exit !found }'
}

nl_status() {
    nl_in "$1" "$TABBYCTL" node status --bird-socket "$T_TMP/$1/bird.ctl" \
        --node-pid-file "$T_TMP/tabby-node-$1.pid"
}

nl_ready() { [ "$(nl_in "$1" curl -s -m 2 -o /dev/null -w '%{http_code}' \
    http://127.0.0.1:9099/readiness)" = 200 ]; }

# The settings a lab node runs with; ARGS after them win. What it waits for is the node's
# own word (readiness: its first complete state programmed), so pn_start_node's wait for
# a first programming (which a node waiting for its datastore file never does) is moot.
nl_start() {
    local node=$1 dir=$T_TMP/$1
    shift
    mkdir -p "$dir"
    TABBY_NETWORKING_BACKEND=$NL_BACKEND IP=autodetect TABBY_HEALTH_PORT=9099 \
        TABBY_BIRD_SOCKET="$dir/bird.ctl" TABBY_BIRD_CONFIG="$dir/bird.conf" \
        pn_start_node "$node" "$@"
    if [ "${NL_WAIT_READY:-1}" = 0 ]; then
        t_wait 30 nl_in "$node" curl -sf -m 1 -o /dev/null http://127.0.0.1:9099/liveness
    else
        t_wait "${NL_READY_S:-30}" nl_ready "$node"
    fi
}

# Starts tabby-node on every NODE, or ends the test with the log of the one that failed.
nl_start_all() {
    local node
    for node in "$@"; do
        if ! nl_start "$node"; then
            fail "start_$node" "$(tail -5 "$T_TMP/tabby-node-$node.log")"
            t_end
        fi
    done
}

nl_stop() { pn_stop_node "$@"; }

# An address for a pod on NODE from the tabby-ipam CNI plugin, as a runtime asks for it
# (where the datastore is reachable: PN_CTL_EXEC on k8s:).
# shellcheck disable=SC2086 # PN_CTL_EXEC is a command prefix
nl_ipam() {
    printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"tabby","ipam":{"type":"tabby-ipam","datastore":"%s","nodename":"%s"}}' \
        "$PN_STORE" "$1" |
        ${PN_CTL_EXEC:-} env CNI_COMMAND=ADD CNI_CONTAINERID="$2" CNI_IFNAME=eth0 \
            CNI_PATH=/nonexistent \
            CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2" "$TABBY_IPAM" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'
}

# Gives the address back, as a runtime's DEL does.
nl_unipam() {
    printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"tabby","ipam":{"type":"tabby-ipam","datastore":"%s","nodename":"%s"}}' \
        "$PN_STORE" "$1" |
        env CNI_COMMAND=DEL CNI_CONTAINERID="$2" CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
            CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2" "$TABBY_IPAM" >/dev/null
}

nl_pod() {
    local node=$1 ns=$2 pod=$3 labels=${4:-} ip
    ip=$(nl_ipam "$node" "$ns-$pod") && [ -n "$ip" ] || return 1
    pn_pod "$node" "$ns" "$pod" "$ip" "$labels" || return 1
    pn_serve "$ns" "$pod" 80 81
}

nl_unpod() {
    pn_change delete workloadendpoint "$1-k8s-$3-eth0" -n "$2" >/dev/null &&
        nl_unipam "$1" "$2-$3"
}

# What tabby-node owns in NODE's kernel, as text to compare: counters and handles left out.
nl_state() {
    local node=$1
    nl_in "$node" nft -s list table inet tabby 2>&1
    echo "--- routes"
    nl_in "$node" ip route show proto 80
    nl_in "$node" ip route show proto bird
    echo "--- vxlan"
    nl_in "$node" ip -d -o link show vxlan.tabby 2>/dev/null |
        sed 's/ state [A-Z]*//; s/ numtxqueues.*//'
    nl_in "$node" ip -o addr show dev vxlan.tabby 2>/dev/null | awk '{print $2, $3, $4}'
    nl_in "$node" ip neigh show dev vxlan.tabby nud permanent 2>/dev/null
    nl_in "$node" bridge fdb show dev vxlan.tabby 2>/dev/null | grep -v ' self permanent$'
}

# nl_expect_mesh PORT PROTO POD…: every ordered pair of the pods (NS/POD) on different
# nodes expects `allow`; queued for pn_check.
nl_expect_mesh() {
    local port=$1 proto=$2 a b
    shift 2
    for a in "$@"; do
        for b in "$@"; do
            [ "$a" = "$b" ] && continue
            [ "${PN_NODE_OF[$a]}" = "${PN_NODE_OF[$b]}" ] && continue
            pn_expect "${proto,,}_${a//\//.}_to_${b//\//.}" allow "${a%%/*}" "${a#*/}" \
                "${b%%/*}" "${b#*/}" "$port" "$proto"
        done
    done
}
