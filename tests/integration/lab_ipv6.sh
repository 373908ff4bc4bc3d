#!/usr/bin/env bash
# lab_ipv6.sh — a dual-stack cluster end to end: `lab up --ipv6` on the bird backend (BGP
# mesh over IPv4 and IPv6) and on the VXLAN backend (vxlan-v6.tabby over the nodes' IPv6
# addresses), and on each what a user of a dual-stack Calico cluster relies on: every pod
# gets an address of each family, pods on different nodes reach each other over IPv6 (TCP
# and UDP), the other nodes' IPv6 blocks are routed the backend's way, the example
# policies' selectors decide for both families alike, policies with IPv6 CIDRs (Calico
# nets, a Kubernetes ipBlock with except, a GlobalNetworkSet) apply to IPv6 only, an
# ICMPv6 rule admits ping6 and not ping, a pod whose egress allows one TCP port still does
# neighbour discovery with its node (Calico allows ICMPv6 130-133, 135, 136 from workloads
# before policy), natOutgoing shows the node's IPv6 address to an outside host, and `lab
# down` leaves nothing behind. Then the bird backend again on the Kubernetes API (the test
# double): the Node's IPv6 annotation and the Pods' podIPs of both families besides; and
# with a top-of-rack router (FRR) peering over both families.
# Needs root; never touches the host's namespace.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab_lib.sh"
t_begin lab_ipv6
if [ ! -e /proc/sys/net/ipv6 ]; then
    skip lab_ipv6 "the kernel has no IPv6"
    t_end
fi
lab_begin lab_ipv6 "tl6$$" bird socat ping jq python3

pod_ip6() { cat "$T_TMP/labs/$CUR/pods/${1//\//_}/ip6"; }

# ---- what each backend shows ----------------------------------------------------------

n1_routes6() { ip netns exec "$CUR-n1" ip -6 route 2>/dev/null; }
n1_fdb6() { ip netns exec "$CUR-n1" bridge fdb show dev vxlan-v6.tabby 2>/dev/null; }
# bird: the two other nodes' IPv6 blocks learnt over BGP, via their IPv6 addresses.
bird_routes6_ok() {
    [ "$(n1_routes6 | grep -cE '^fd10:244:.*/122 via fd99:1::1[23] dev eth0 proto bird')" = 2 ]
}
# All twelve sessions (3 nodes x 2 peers x 2 families) up, the IPv6 ones at fd99:1::.
bgp6_sessions_ok() {
    local s
    s=$(lab status 2>&1)
    [ "$(grep -c 'node-to-node mesh | up' <<<"$s")" = 12 ] &&
        [ "$(grep -cE '^\| fd99:1::1[123] .*node-to-node mesh \| up' <<<"$s")" = 6 ]
}
# vxlan: the blocks through vxlan-v6.tabby, its FDB sending to the nodes' IPv6 addresses.
vxlan_routes6_ok() {
    [ "$(n1_routes6 | grep -cE '^fd10:244:.*/122 via fd10:244:.* dev vxlan-v6.tabby')" = 2 ] &&
        [ "$(n1_fdb6 | grep -cE 'dst fd99:1::1[23] ')" = 2 ]
}
vxlan_state6() { n1_routes6; n1_fdb6; ip netns exec "$CUR-n1" ip -d link show vxlan-v6.tabby; }
# The node's resource as calico-node leaves it: IPv6 address, tunnel address from the pool, MAC.
node_v6_fields() {
    lab ctl get node n1 -o json 2>&1 | jq -r '[.spec.bgp.ipv6Address,
        (.spec.ipv6VXLANTunnelAddr // "none" | test("^fd10:244:") | tostring),
        (.spec.vxlanTunnelMACAddrV6 // "none" | test("^[0-9a-f:]{17}$") | tostring)] | join(" ")'
}

# Every pod: an IPv4 and an IPv6 address in its endpoint's ipNetworks.
dual_stack_weps() {
    lab ctl get wep -A -o json 2>&1 | jq -e '
        [.items[] | .spec.ipNetworks | (map(select(contains(":"))) | length) == 1 and
                                     (map(select(contains("."))) | length) == 1] |
        length >= 5 and all' >/dev/null
}

# The outside host saw frontend's IPv6 connection come from n1's IPv6 address.
nat6_seen() {
    local seen
    seen=$(lab exec default/frontend socat -T1 - 'TCP:[2001:db8:51::1]:80' </dev/null 2>&1)
    python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1].strip("[]")))' \
        "$seen" 2>/dev/null || echo "$seen"
}
nat6_ok() { [ "$(nat6_seen)" = fd99:1::11 ]; }

# On the Kubernetes API: n1's Node carries Calico's IPv6 annotation, frontend's Pod both
# addresses in podIPs (as the kubelet writes them from the CNI result) and in Calico's
# podIPs annotation.
k8s_checks() {
    local out
    out=$(lab kubectl get node n1 -o json 2>&1 |
        jq -r '.metadata.annotations["projectcalico.org/IPv6Address"] // "none"' 2>&1)
    if [ "$out" = fd99:1::11/64 ]; then pass k8s_node_ipv6_annotation
    else fail k8s_node_ipv6_annotation "projectcalico.org/IPv6Address: $out"; fi
    out=$(lab kubectl get pod -n default frontend -o json 2>&1 | jq -r '[
        (.status.podIPs | map(.ip) | join(",")),
        .metadata.annotations["cni.projectcalico.org/podIPs"]] | join(" ")' 2>&1)
    if [ "$out" = "$(cat "$T_TMP/labs/$CUR/pods/default_frontend/ip"),$(pod_ip6 default/frontend) $(
        cat "$T_TMP/labs/$CUR/pods/default_frontend/ip")/32,$(pod_ip6 default/frontend)/128" ]; then
        pass k8s_pod_ips_both_families
    else
        fail k8s_pod_ips_both_families "podIPs, annotation: $out"
    fi
}

# ---- policies over IPv6 ---------------------------------------------------------------

# IPv6 CIDRs: database admits only sources in the IPv6 pool (so nothing over IPv4); api
# admits the IPv6 pool except backend's address (a Kubernetes ipBlock); monitor admits TCP
# from a GlobalNetworkSet holding frontend's IPv6 address, and ICMPv6 echo.
cidr_policies() {
    local backend frontend
    backend=$(pod_ip6 default/backend) frontend=$(pod_ip6 default/frontend)
    lab ctl apply -f - <<YAML
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: db-v6-pool-only}
spec:
  selector: app == 'database'
  types: [Ingress]
  ingress:
  - action: Allow
    source: {nets: ["fd10:244::/48"]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ipblock, namespace: default}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock: {cidr: "fd10:244::/48", except: ["$backend/128"]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: frontend-v6, labels: {role: frontend-v6}}
spec:
  nets: ["$frontend/128"]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: monitor-from-set, namespace: ops}
spec:
  selector: app == 'monitor'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: role == 'frontend-v6', namespaceSelector: global()}
  - action: Allow
    protocol: ICMPv6
    icmp: {type: 128}
YAML
}

CIDR_V6="default/frontend default/database ok
default/backend default/database ok
default/frontend default/api ok
default/backend default/api --
default/frontend ops/monitor ok
default/backend ops/monitor --"

CIDR_V4="default/frontend default/database --
default/backend default/database --
default/frontend default/api --
default/frontend ops/monitor --"

ping_from_frontend() { lab exec default/frontend "$@" -c1 -W1 "$TARGET" >/dev/null 2>&1; }
icmp_checks() {
    local name=$1 v6 v4
    TARGET=$(pod_ip6 ops/monitor) t_wait 30 ping_from_frontend ping -6 && v6=ok || v6=--
    TARGET=$(cat "$T_TMP/labs/$CUR/pods/ops_monitor/ip") ping_from_frontend ping -4 && v4=ok || v4=--
    if [ "$v6$v4" = ok-- ]; then pass "${name}_icmpv6_rule"
    else fail "${name}_icmpv6_rule" "ping6 $v6 (want ok), ping $v4 (want --)"; fi
}

# A new pod whose policy allows egress only to api's TCP 8080: over IPv6 it first needs
# its gateway's link-layer address (neighbour solicitation to its node), which Calico
# allows before policy; then api answers and frontend does not.
nd_checks() {
    local name=$1 out neigh
    out=$(lab ctl apply -f - 2>&1 <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: locked-egress}
spec:
  selector: app == 'locked'
  types: [Egress]
  egress:
  - action: Allow
    protocol: TCP
    destination: {selector: app == 'api', ports: [8080]}
YAML
    ) && out=$(lab pod add n1 default/locked app=locked 2>&1) || { fail "${name}_nd" "$out"; return; }
    PROTO=tcp FAMILY=6 expect_matrix "${name}_nd_egress_locked" "default/locked default/api ok
default/locked default/frontend --"
    neigh=$(lab exec default/locked ip -6 neigh show dev eth0 2>&1)
    if grep -qE '^fe80::ecee:eeff:feee:eeee .*router' <<<"$neigh"; then
        pass "${name}_nd_gateway_resolved"
    else
        fail "${name}_nd_gateway_resolved" "the pod's neighbours: $neigh"
    fi
}

# With a top-of-rack router (FRR): a session per family between it and each node; it
# learns every node's IPv6 block, and pods reach each other over IPv6 through it.
tor_routes6() { ip netns exec "$CUR-tor" ip -6 route 2>/dev/null; }
tor_blocks6_ok() { [ "$(tor_routes6 | grep -cE '^fd10:244:.*/122 .*via fd99:1::1[123] dev eth0 proto bgp')" = 3 ]; }
run_tor() {
    local start
    CUR="${LAB_PREFIX}tor"
    start=$(now_ms)
    if [ ! -x /usr/lib/frr/bgpd ]; then
        skip tor "FRR is not installed (/usr/lib/frr/bgpd)"
        return
    fi
    lab_up_with_pods tor --ipv6 --tor || return
    expect_state tor_learns_v6_blocks 30 tor_blocks6_ok tor_routes6
    PROTO=tcp FAMILY=6 expect_matrix tor_across_nodes_v6 "$ALL_OPEN"
    lab_down_check tor_down
    echo "# tor: $(($(now_ms) - start)) ms from lab up to lab down"
}

# ---- one backend's run ----------------------------------------------------------------

run_mode() {
    local name=$1 out start
    shift
    CUR="$LAB_PREFIX$name"
    start=$(now_ms)
    lab_up_with_pods "$name" --ipv6 "$@" || return
    if dual_stack_weps; then pass "${name}_pods_dual_stack"
    else fail "${name}_pods_dual_stack" "$(lab ctl get wep -A -o json | jq -c '[.items[].spec.ipNetworks]')"; fi
    PROTO=tcp FAMILY=6 expect_matrix "${name}_across_nodes_v6" "$ALL_OPEN"
    PROTO=udp FAMILY=6 expect_matrix "${name}_across_nodes_v6_udp" "$ALL_OPEN"
    case $name in
    bird|k8s)
        expect_state "${name}_bird_routes_v6" 30 bird_routes6_ok n1_routes6
        expect_state "${name}_bgp_v6_sessions" 30 bgp6_sessions_ok "lab status" ;;
    vxlan)
        expect_state vxlan_routes_v6 30 vxlan_routes6_ok vxlan_state6
        out=$(node_v6_fields)
        if [ "$out" = "fd99:1::11/64 true true" ]; then pass vxlan_node_v6_tunnel
        else fail vxlan_node_v6_tunnel "ipv6Address, ipv6VXLANTunnelAddr in the pool, MAC: $out"; fi ;;
    esac
    [ "$name" != k8s ] || k8s_checks
    if t_wait 30 nat6_ok; then pass "${name}_nat_outgoing_v6"
    else fail "${name}_nat_outgoing_v6" "the outside host saw \"$(nat6_seen)\", want fd99:1::11"; fi
    out=$(lab ctl apply -f "$T_TOP/examples/default-deny.yaml" -f "$T_TOP/examples/db-access.yaml" \
        -f "$T_TOP/examples/api-allow.yaml" 2>&1) || fail "${name}_apply" "$out"
    PROTO=tcp FAMILY=6 expect_matrix "${name}_policy_v6" "$AFTER_POLICY"
    PROTO=tcp FAMILY=4 expect_matrix "${name}_policy_v4" "$AFTER_POLICY"
    PROTO=tcp FAMILY=6 explain_agrees "${name}_explain_v6" "$AFTER_POLICY"
    out=$(lab ctl delete -f "$T_TOP/examples/db-access.yaml" -f "$T_TOP/examples/api-allow.yaml" 2>&1 &&
        cidr_policies 2>&1) || fail "${name}_apply_cidrs" "$out"
    PROTO=tcp FAMILY=6 expect_matrix "${name}_ipv6_cidrs_v6" "$CIDR_V6"
    PROTO=tcp FAMILY=4 expect_matrix "${name}_ipv6_cidrs_not_v4" "$CIDR_V4"
    PROTO=tcp FAMILY=6 explain_agrees "${name}_explain_ipv6_cidrs_v6" "$CIDR_V6"
    PROTO=tcp FAMILY=4 explain_agrees "${name}_explain_ipv6_cidrs_not_v4" "$CIDR_V4"
    icmp_checks "$name"
    nd_checks "$name"
    lab_down_check "${name}_down"
    echo "# $name: $(($(now_ms) - start)) ms from lab up to lab down"
}

FAMILY=6
run_mode bird
run_mode vxlan --mode vxlan
run_mode k8s --store k8s
run_tor
t_end
