# bgp_lib.sh — shared by the BGP integration tests (source after t_begin): a fabric of
# network namespaces (fabric.sh), BIRD per node driven by `tabbyctl bgp apply`, FRR as a
# router, and waiting for routes. Everything made here is torn down on exit: the daemons
# run inside this run's namespaces, which fabric.sh empties (TERM, then KILL) and deletes;
# the root namespace is never changed (veths are created straight inside the namespaces).

STORE="sqlite:$T_TMP/tabby.db"
ctl() { "$TABBYCTL" --store "$STORE" "$@"; }

# bgp_need NAME COMMAND…: skips the whole test unless root and the commands exist.
bgp_need() {
    local name=$1 cmd
    shift
    t_need_root "$name"
    for cmd in "$@"; do
        if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then
            skip "$name" "$cmd is not installed"
            t_end
        fi
    done
    t_fabric "tbgp$$"
}

# Resources as YAML documents, for `... | ctl apply -f -`.
V3='apiVersion: projectcalico.org/v3'
yaml_bgpconfig() { printf '%s\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {asNumber: 64512, nodeToNodeMeshEnabled: %s}\n---\n' "$V3" "$1"; }
# yaml_pool NAME CIDR [MORE SPEC]
yaml_pool() { printf '%s\nkind: IPPool\nmetadata: {name: %s}\nspec: {cidr: %s%s}\n---\n' "$V3" "$(yaml_str "$1")" "$2" "${3:+, $3}"; }
# yaml_node NAME ADDRESS/LEN [MORE BGP SPEC] [LABELS]
yaml_node() { printf '%s\nkind: Node\nmetadata: {name: %s, labels: {%s}}\nspec: {bgp: {ipv4Address: %s%s}}\n---\n' "$V3" "$(yaml_str "$1")" "${4:-}" "$2" "${3:+, $3}"; }

# bgp_fabric: the fabric every node plugs into (bridge br0 of namespace "fab").
bgp_fabric() { fab_switch fab; }

# bgp_host NAME ADDRESS/LEN: a namespace with eth0 on the fabric.
bgp_host() { FAB_PORT="p-$1" fab_host "$1" fab "$2"; }

# bgp_bird NAME ROUTER_ID: starts BIRD in the node's namespace, with a minimal
# configuration the first time (later from the file tabby wrote); its socket is
# $T_TMP/NAME/bird.ctl, its file $T_TMP/NAME/bird.conf, its pid in $T_TMP/NAME/bird.pid.
bgp_bird() {
    local name=$1 dir=$T_TMP/$1
    mkdir -p "$dir"
    [ -f "$dir/bird.conf" ] || printf 'router id %s;\nprotocol device {}\n' "$2" >"$dir/bird.conf"
    ip netns exec "$(fab_name "$name")" bird -f -c "$dir/bird.conf" -s "$dir/bird.ctl" \
        -P "$dir/bird.pid" </dev/null >"$dir/bird.log" 2>&1 &
    t_wait 20 test -S "$dir/bird.ctl"
}

# bgp_mesh3 POOL_CIDR: nodes n1..n3 (10.0.0.1-3/24) in the default mesh with one pool,
# on one fabric, each running BIRD (not yet configured by tabby).
bgp_mesh3() {
    local i
    {
        yaml_bgpconfig true
        yaml_pool default-pool "$1"
        for i in 1 2 3; do yaml_node "n$i" "10.0.0.$i/24"; done
    } | ctl apply -f - >/dev/null
    bgp_fabric
    for i in 1 2 3; do
        bgp_host "n$i" "10.0.0.$i/24"
        bgp_bird "n$i" "10.0.0.$i"
    done
}

# bgp_apply NAME [tabbyctl bgp apply options…]: renders node NAME and loads it into its BIRD.
bgp_apply() {
    local name=$1
    shift
    ctl bgp apply --node "$name" --bird-socket "$T_TMP/$name/bird.ctl" \
        --bird-config "$T_TMP/$name/bird.conf" "$@" >/dev/null
}

# cni_add NODE CONTAINER: a pod address from the tabby-ipam CNI plugin, as a container
# runtime on NODE would ask for it (printed without its prefix length).
cni_add() {
    printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"tabby","ipam":{"type":"tabby-ipam","datastore":"%s","nodename":"%s"}}' \
        "$STORE" "$1" |
        env CNI_COMMAND=ADD CNI_CONTAINERID="$2" CNI_IFNAME=eth0 \
            CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-$2" "$TABBY_IPAM" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])'
}

# has_route NODE PREFIX WORDS: NODE's kernel route to PREFIX contains WORDS ("via 10.0.0.2").
has_route() { fab_in "$1" ip route show "$2" | grep -q -- "$3"; }
no_route() { [ -z "$(fab_in "$1" ip route show "$2")" ]; }

# Routes BIRD installed (proto bird), prefixes only, sorted.
bird_routes() { fab_in "$1" ip route show proto bird | awk '{print ($1 == "blackhole" ? $2 : $1)}' | sort; }
bird_routes_are() { [ "$(bird_routes "$1")" = "$2" ]; }

# sessions_up NODE N: tabbyctl node status shows N established sessions.
sessions_up() {
    [ "$(ctl node status --bird-socket "$T_TMP/$1/bird.ctl" --node-pid-file /nonexistent |
        grep -c Established)" = "$2" ]
}

# bgp_frr NAME CONFIG_TEXT: runs FRR (zebra + bgpd) in NAME's namespace with CONFIG_TEXT
# as bgpd.conf; vtysh reaches it through frr_vtysh NAME COMMAND.
bgp_frr() {
    local name=$1 run=$T_TMP/$1/frr
    mkdir -p "$run"
    printf 'hostname %s\n' "$name" >"$run/zebra.conf"
    printf '%s\n' "$2" >"$run/bgpd.conf"
    chown -R frr:frr "$run"
    # FRR drops to user frr: it must be able to walk into the scratch folder.
    chmod 0711 "$T_TMP" "$T_TMP/$name"
    fab_in "$name" /usr/lib/frr/zebra -d -f "$run/zebra.conf" -i "$run/zebra.pid" \
        -z "$run/zserv.api" --vty_socket "$run" -A 127.0.0.1 >"$run/zebra.log" 2>&1
    t_wait 20 test -s "$run/zebra.pid"
    fab_in "$name" /usr/lib/frr/bgpd -d -f "$run/bgpd.conf" -i "$run/bgpd.pid" \
        -z "$run/zserv.api" --vty_socket "$run" -A 127.0.0.1 >"$run/bgpd.log" 2>&1
    t_wait 20 test -s "$run/bgpd.pid"
    t_wait 30 frr_vtysh "$name" 'show bgp summary'
}

# frr_head NAME ASN ROUTER_ID: the first lines of an FRR router's bgpd.conf: eBGP without
# route maps, networks announced whether or not the router has a route to them.
frr_head() {
    printf 'frr defaults traditional\nhostname %s\nrouter bgp %s\n bgp router-id %s\n' "$1" "$2" "$3"
    printf ' no bgp ebgp-requires-policy\n no bgp network import-check\n'
}

frr_vtysh() { local name=$1; shift; vtysh --vty_socket "$T_TMP/$name/frr" -c "$*"; }

# The prefixes FRR's BGP table holds, sorted.
frr_prefixes() {
    frr_vtysh "$1" 'show ip bgp json' |
        python3 -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin).get("routes", {}))))'
}

# frr_established NAME PEER: FRR's session with PEER is Established.
frr_established() {
    frr_vtysh "$1" 'show bgp ipv4 unicast summary json' | python3 -c '
import json, sys
peers = json.load(sys.stdin).get("peers", {})
sys.exit(0 if peers.get(sys.argv[1], {}).get("state") == "Established" else 1)' "$2"
}
