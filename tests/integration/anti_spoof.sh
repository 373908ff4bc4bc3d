#!/usr/bin/env bash
# anti_spoof.sh — tabby-node drops what a workload sends from an address that is not its
# own: pods in namespaces on one node (podnet.sh), each forging a source with a second
# address inside its namespace. Covers: real sources pass (IPv4, IPv6); a forged source is
# dropped (IPv4, IPv6), even where the node routes it back to the pod (the check reads the
# endpoint, not the routes); an endpoint with allowSpoofedSourcePrefixes is as if missing
# (nothing in or out, the node's own packets neither) while FelixConfiguration's
# workloadSourceSpoofing is not Any, as Calico's; with Any a forged source inside the prefixes passes, one outside does not,
# and another pod may not use them; the prefixes going closes them again; neighbour
# discovery from the pod still works; the drop is counted. Needs root; never touches the
# host's namespace.
set -u
. "$(dirname "$0")/lib.sh"
t_begin anti_spoof
t_need_root anti_spoof
. "$(dirname "$0")/podnet.sh"

pn_init
pn_node n1
pn_pod n1 default a 10.65.0.1,fd65::1
pn_pod n1 default b 10.65.0.2,fd65::2
pn_pod n1 default c 10.65.0.3,fd65::3
NODENS=$(pn_node_netns n1)

# forge NS POD ADDR: a second address in the pod, routed back to it by the node (so that a
# reply would find its way: only tabby's check stands in the way).
forge() {
    local podns hostif fam=4 plen=32
    podns=$(pn_netns "$1" "$2")
    hostif=$(pn_ifname "$1" "$2")
    [[ $3 == *:* ]] && fam=6 plen=128
    ip netns exec "$podns" ip -"$fam" addr add "$3/$plen" dev eth0 nodad 2>/dev/null ||
        ip netns exec "$podns" ip -"$fam" addr add "$3/$plen" dev eth0
    ip netns exec "$NODENS" ip -"$fam" route add "$3/$plen" dev "$hostif"
    if [ "$fam" = 6 ]; then
        ip netns exec "$NODENS" ip -6 neigh replace "$3" dev "$hostif" nud permanent \
            lladdr "$(ip netns exec "$podns" cat /sys/class/net/eth0/address)"
    fi
}

# pings FROM_NS FROM_POD SOURCE TARGET: one echo from SOURCE answered.
pings() { ip netns exec "$(pn_netns "$1" "$2")" ping -q -c1 -W1 -I "$3" "$4" >/dev/null 2>&1; }

# expect NAME allow|deny FROM_NS FROM_POD SOURCE TARGET: allow waits (a deadline) for an
# answer; deny sees three echoes go unanswered.
expect() {
    local name=$1 want=$2 got=deny
    shift 2
    if [ "$want" = allow ]; then
        t_wait 10 pings "$@" && got=allow
    else
        pings "$@" || pings "$@" || pings "$@" && got=allow
    fi
    if [ "$got" = "$want" ]; then pass "$name"; else fail "$name" "$*: expected $want, got $got"; fi
}

# The drop rule's packet count.
dropped() {
    ip netns exec "$NODENS" nft list chain inet tabby from-wl-src 2>/dev/null |
        sed -n 's/.*counter packets \([0-9]*\) .*drop comment "anti-spoofing.*/\1/p'
}

# The node's own UDP to pod c's port 5000, one way (a held pod's answers would be dropped
# anyway): c counts what arrives before anything of its own; the node's output hook counts
# what it drops for a held endpoint, as the datagram is sent.
ip netns exec "$(pn_netns default c)" nft -f - <<'NFT'
table inet sink {
    chain pre {
        type filter hook prerouting priority -400; policy accept;
        udp dport 5000 counter
    }
}
NFT
c_received() {
    ip netns exec "$(pn_netns default c)" nft list chain inet sink pre |
        sed -n 's/.*counter packets \([0-9]*\) .*/\1/p'
}
node_held_drops() {
    ip netns exec "$NODENS" nft list chain inet tabby output-hook 2>/dev/null |
        sed -n 's/.*counter packets \([0-9]*\) .*drop comment "allowSpoofed.*/\1/p'
}
node_send() { ip netns exec "$NODENS" bash -c 'echo x >/dev/udp/10.65.0.3/5000' 2>/dev/null; }
node_sent_arrived() { node_send; [ "$(c_received)" -gt "$1" ]; }
node_sent_dropped() { node_send; [ "$(node_held_drops)" -gt "$1" ]; }
# expect_node_to_c NAME allow|deny: allow waits (a deadline) for a datagram to arrive; deny
# waits for the node's drop to count one, and then nothing has arrived.
expect_node_to_c() {
    local name=$1 want=$2 r0 d0 got=allow
    r0=$(c_received) d0=$(node_held_drops)
    if [ "$want" = allow ]; then
        t_wait 10 node_sent_arrived "$r0" || got=deny
    elif t_wait 10 node_sent_dropped "${d0:-0}" && [ "$(c_received)" = "$r0" ]; then
        got=deny
    fi
    if [ "$got" = "$want" ]; then pass "$name"
    else fail "$name" "node to 10.65.0.3: expected $want, got $got (received $r0 then $(c_received), dropped ${d0:-none} then $(node_held_drops))"; fi
}

forge default a 10.77.0.9
forge default a fd77::9
forge default a 10.99.0.6
forge default c 10.99.0.5
forge default c 10.78.0.5
for p in a b c; do pn_serve default $p 80; done

if ! pn_start_node n1; then
    fail start "tabby-node did not program: $(tail -5 "$T_TMP/tabby-node-n1.log")"
    t_end
fi
pass start

expect own_ipv4_source_passes allow default a 10.65.0.1 10.65.0.2
expect own_ipv6_source_passes allow default a fd65::1 fd65::2
before=$(dropped)
expect forged_ipv4_source_dropped deny default a 10.77.0.9 10.65.0.2
expect forged_ipv6_source_dropped deny default a fd77::9 fd65::2
after=$(dropped)
if [ "${after:-0}" -gt "${before:-0}" ]; then pass drop_is_counted
else fail drop_is_counted "from-wl-src's drop counted ${before:-none} then ${after:-none}"; fi

# ---- allowSpoofedSourcePrefixes ------------------------------------------------------------
expect prefix_not_yet_allowed deny default c 10.99.0.5 10.65.0.2
expect_node_to_c node_reaches_its_pod allow
pn_wep_yaml n1 default c 10.65.0.3,fd65::3 "" "" "$(pn_ifname default c)" |
    { cat; printf '  allowSpoofedSourcePrefixes: [10.99.0.0/16]\n'; } | pn_apply >/dev/null
# workloadSourceSpoofing is Disabled (Calico's default): the endpoint is as if missing
expect held_pod_sends_nothing deny default c 10.65.0.3 10.65.0.2
expect held_pod_receives_nothing deny default a 10.65.0.1 10.65.0.3
expect held_pod_prefix_not_allowed deny default c 10.99.0.5 10.65.0.2
expect_node_to_c held_pod_gets_nothing_from_its_node deny
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec: {workloadSourceSpoofing: Any}
YAML
expect source_inside_allowed_prefix_passes allow default c 10.99.0.5 10.65.0.2
expect source_outside_allowed_prefix_dropped deny default c 10.78.0.5 10.65.0.2
expect own_source_still_passes allow default c 10.65.0.3 10.65.0.2
expect_node_to_c node_reaches_the_pod_again allow
expect others_may_not_use_the_prefix deny default a 10.99.0.6 10.65.0.2
pn_wep_yaml n1 default c 10.65.0.3,fd65::3 "" "" "$(pn_ifname default c)" | pn_apply >/dev/null
expect prefix_gone_closes_it_again deny default c 10.99.0.5 10.65.0.2

# ---- neighbour discovery: a link-local source, resolved by a real exchange -----------------
podns=$(pn_netns default a)
nodell=$(ip netns exec "$NODENS" ip -6 -o addr show dev "$(pn_ifname default a)" scope link |
    awk '{print $4}' | cut -d/ -f1)
if [ -z "$nodell" ]; then
    skip nd_from_pod_resolves "the node's side of the veth has no link-local address"
else
    ip netns exec "$podns" ping -q -c1 -W1 "$nodell%eth0" >/dev/null 2>&1
    if t_wait 10 sh -c "ip netns exec $podns ip -6 neigh show $nodell dev eth0 | grep -q lladdr"
    then pass nd_from_pod_resolves
    else fail nd_from_pod_resolves "$(ip netns exec "$podns" ip -6 neigh show dev eth0)"; fi
fi

t_end
