#!/usr/bin/env bash
# host_endpoints.sh — tabby-node policing the node's own interfaces (HostEndpoint, Calico's
# semantics) on real traffic, in network namespaces: a node with two "external" links
# (hep0, hep1) to client namespaces and one pod. Covers: a pod's packets to its own node
# take defaultEndpointToHostAction (Calico's default Drop; Accept by FelixConfiguration);
# a host endpoint without policy drops all but the failsafe ports, in and out, on its
# interface only; a policy selecting the endpoint's labels allows what it says; a deny-all
# host policy cannot cut SSH or BGP (failsafe); FelixConfiguration's failsafe ports replace
# Calico's, and one with a net opens only to those peers; an all-interfaces endpoint ("*")
# polices every other interface, not the node's traffic to its pods; one without
# interfaceName polices the interface holding one of its expectedIPs, following the
# address (and --dump resolves it too); of a named one and one by expectedIPs on one
# interface the first by name governs it, the other's chains leaving; an interface's
# addresses are its local routes, as Felix's (a down link's IPv4 ones, lo's; not a
# tentative IPv6 one, not kube-ipvs0's); forwarded traffic meets only applyOnForward
# policies; preDNAT policies come
# first (Deny drops, Allow goes on to normal policy), forwarded traffic too; doNotTrack
# policies run before conntrack (an Allow leaves no conntrack entry, both ways, and is
# accepted past normal policy; a Deny drops under an allowing normal policy, and forwarded
# traffic coming in by the endpoint; the rest goes on, tracked; failsafe ports pass a
# doNotTrack Deny); the raw-priority hooks exist only while a doNotTrack policy applies
# to a named endpoint (every packet pays for them);
# examples/host-endpoint.yaml. Needs root; never touches the host's namespace.
set -u
. "$(dirname "$0")/lib.sh"
t_begin host_endpoints
t_need_root host_endpoints
. "$(dirname "$0")/podnet.sh"

if ! command -v socat >/dev/null; then
    skip host_endpoints "socat is not installed"
    t_end
fi

pn_init
pn_node n1
pn_pod n1 default a 10.65.0.1 app=a
nodens=$(pn_node_netns n1)
# Two outside peers: ext/c behind hep0 (the policed interface), ext/d behind hep1.
fab_ns ext-c && fab_link n1 hep0 ext-c eth0
fab_ns ext-d && fab_link n1 hep1 ext-d eth0
fab_in n1 ip addr add 192.0.2.1/24 dev hep0
fab_in n1 ip addr add 198.51.100.1/24 dev hep1
fab_in ext-c ip addr add 192.0.2.2/24 dev eth0
fab_in ext-d ip addr add 198.51.100.2/24 dev eth0
fab_in ext-c ip route add 10.65.0.0/16 via 192.0.2.1
fab_in ext-d ip route add 10.65.0.0/16 via 198.51.100.1
PN_IP[node/hep0]=192.0.2.1
PN_IP[node/hep1]=198.51.100.1
PN_IP[ext/c]=192.0.2.2

# The node's own servers (SSH's, BGP's, HTTP and two others) and the outside's.
pn_serve_netns "$nodens:22,179,80,81,8080,2222" "$(pn_netns ext c):80,179" \
    "$(pn_netns default a):80,81" ||
    { fail servers "the servers did not start"; t_end; }

# from the node's own namespace (the node's packets out through hep0)
node_probe() {
    local port=$1 ip=$2 out
    out=$(ip netns exec "$nodens" timeout 2 socat -T "$PN_TIMEOUT" - \
        "TCP:$ip:$port,connect-timeout=$PN_TIMEOUT" </dev/null 2>/dev/null)
    [ "$out" = ok ]
}
node_expect() {
    local name=$1 want=$2 port=$3 ip=${4:-192.0.2.2} got=deny
    node_probe "$port" "$ip" && got=allow
    if [ "$got" = "$want" ]; then pass "$name"; else fail "$name" "expected $want, got $got"; fi
}

# How many of doNotTrack's raw-priority hooks the node's table has (0 or 2).
raw_hooks() {
    ip netns exec "$nodens" nft list chains inet 2>/dev/null |
        grep -cE 'chain raw-(prerouting|output)-hook '
}
raw_hooks_are() { [ "$(raw_hooks)" = "$1" ]; }
expect_raw_hooks() {
    local name=$1 want=$2
    if t_wait "$PN_WAIT" raw_hooks_are "$want"; then pass "$name"
    else fail "$name" "raw-priority hooks: expected $want, got $(raw_hooks)"; fi
}

if ! pn_start_node n1; then
    fail start "tabby-node did not program: $(tail -5 "$T_TMP/tabby-node-n1.log")"
    t_end
fi
pass start
expect_raw_hooks no_do_not_track_no_raw_hooks 0

# ---- no host endpoint: the node's interfaces are open; a pod cannot reach its node --------
pn_expect no_hep_open allow ext c node hep0 80 TCP
pn_expect no_hep_other_port_open allow ext c node hep0 8080 TCP
pn_expect pod_to_own_node_dropped_by_default deny default a node hep0 80 TCP
pn_check
node_expect no_hep_node_out_open allow 80

# ---- a host endpoint without policy: failsafe only, on its interface only ------------------
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: n1-hep0, labels: {role: edge}}
spec: {node: n1, interfaceName: hep0, expectedIPs: [192.0.2.1]}
YAML
pn_expect hep_default_deny deny ext c node hep0 80 TCP
pn_expect hep_default_deny_udp deny ext c node hep0 8080 UDP
pn_expect failsafe_ssh_in allow ext c node hep0 22 TCP
pn_expect failsafe_bgp_in allow ext c node hep0 179 TCP
pn_expect other_interface_untouched allow ext d node hep1 80 TCP
pn_check
node_expect hep_default_deny_out deny 80
node_expect failsafe_bgp_out allow 179

# ---- a policy selecting the endpoint by its labels ------------------------------------------
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: edge-http}
spec:
  selector: role == 'edge'
  order: 100
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [80]}
YAML
pn_expect policy_allows_http allow ext c node hep0 80 TCP
pn_expect policy_leaves_other_port_closed deny ext c node hep0 8080 TCP
pn_expect policy_keeps_failsafe allow ext c node hep0 22 TCP
pn_check

# ---- deny-all before it: failsafe traffic still passes ---------------------------------------
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: edge-deny-all}
spec:
  selector: role == 'edge'
  order: 1
  types: [Ingress, Egress]
  ingress:
  - action: Deny
  egress:
  - action: Deny
YAML
pn_expect deny_all_drops_http deny ext c node hep0 80 TCP
pn_expect deny_all_keeps_ssh allow ext c node hep0 22 TCP
pn_expect deny_all_keeps_bgp allow ext c node hep0 179 TCP
pn_expect deny_all_other_interface_untouched allow ext d node hep1 80 TCP
pn_check
node_expect deny_all_drops_out deny 80
node_expect deny_all_keeps_bgp_out allow 179

# ---- FelixConfiguration: failsafe ports and defaultEndpointToHostAction ----------------------
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec:
  defaultEndpointToHostAction: Accept
  failsafeInboundHostPorts: [{protocol: TCP, port: 2222}]
YAML
pn_expect felix_failsafe_replaces_ssh deny ext c node hep0 22 TCP
pn_expect felix_failsafe_port allow ext c node hep0 2222 TCP
pn_expect felix_endpoint_to_host_accept allow default a node hep0 80 TCP
pn_check
# a failsafe port's net (the node's own FelixConfiguration over the default's): only those
# peers, the source coming in, the destination going out
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: node.n1}
spec:
  failsafeInboundHostPorts:
  - {protocol: TCP, port: 2222, net: 192.0.2.0/24}
  - {protocol: TCP, port: 22, net: 203.0.113.0/24}
  - {protocol: TCP, port: 179, net: "2001:db8::/32"}
  failsafeOutboundHostPorts:
  - {protocol: TCP, port: 80, net: 192.0.2.2/32}
  - {protocol: TCP, port: 179, net: 203.0.113.0/24}
YAML
for c in "allows_its_peers allow 2222" "others_denied deny 22" "other_family_denied deny 179"
do
    set -- $c
    pn_expect "felix_failsafe_net_in_$1" "$2" ext c node hep0 "$3" TCP
done
pn_check
node_expect felix_failsafe_net_out_allows_its_peers allow 80
node_expect felix_failsafe_net_out_others_denied deny 179
pn_change delete felixconfiguration node.n1 >/dev/null
pn_change delete felixconfiguration default >/dev/null
pn_expect felix_gone_ssh_back allow ext c node hep0 22 TCP
pn_expect felix_gone_pod_to_node_dropped deny default a node hep0 80 TCP
pn_check

# ---- the host endpoint goes: its interface is open again -------------------------------------
pn_change delete hostendpoint n1-hep0 >/dev/null
pn_expect hep_gone_open allow ext c node hep0 8080 TCP
pn_check
pn_change delete globalnetworkpolicy edge-deny-all >/dev/null

# ---- an all-interfaces endpoint: every interface, the node's own traffic only --------------
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: n1-all, labels: {role: edge}}
spec: {node: n1, interfaceName: "*"}
YAML
pn_expect any_policy_allows_http allow ext c node hep0 80 TCP
pn_expect any_other_interface_policed allow ext d node hep1 80 TCP
pn_expect any_drops_other_port deny ext d node hep1 8080 TCP
pn_expect any_keeps_ssh allow ext d node hep1 22 TCP
pn_check
node_expect any_drops_node_out deny 80
node_expect any_keeps_bgp_out allow 179
node_expect any_node_to_own_pod_passes allow 80 10.65.0.1
pn_change delete hostendpoint n1-all >/dev/null
pn_expect any_gone_open allow ext d node hep1 8080 TCP
pn_check

# ---- an endpoint by its expectedIPs alone: the interface holding one, as addresses move ----
# ip addr ARGS in the node, then wait for tabby-node to program what follows from it
node_addr() {
    local before
    pn_count_programmed n1
    before=$PN_COUNT
    fab_in n1 ip addr "$@"
    pn_wait_programmed n1 "$before"
}
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: n1-by-ip}
spec: {node: n1, expectedIPs: [203.0.113.7]}
YAML
pn_expect by_ip_on_no_interface_polices_none allow ext d node hep1 8080 TCP
pn_check
node_addr add 203.0.113.7/32 dev hep1
pn_expect by_ip_polices_the_interface_holding_it deny ext d node hep1 8080 TCP
pn_expect by_ip_keeps_failsafe allow ext d node hep1 22 TCP
pn_expect by_ip_other_interface_untouched allow ext c node hep0 8080 TCP
pn_check
# --dump resolves as the daemon does, reading the namespace's addresses (programming nothing)
if ip netns exec "$nodens" "$TABBY_NODE" --store "$PN_STORE" --node n1 --dump \
    >"$T_TMP/dump.nft" 2>"$T_TMP/dump.err" &&
    grep -q 'iifname @hifa-[0-9a-f]* goto hin-a-' "$T_TMP/dump.nft" &&
    grep -A3 'set hifa-' "$T_TMP/dump.nft" | grep -q 'elements = { "hep1" }'; then
    pass dump_resolves_by_ip
else
    fail dump_resolves_by_ip "$(cat "$T_TMP/dump.err"; grep -A3 'hifa' "$T_TMP/dump.nft")"
fi
node_addr del 203.0.113.7/32 dev hep1
pn_expect by_ip_address_gone_open_again allow ext d node hep1 8080 TCP
pn_check

# ---- a named endpoint and one by expectedIPs on one interface: the first by name governs
# it (Felix's choice), and the other's chains leave the table with it -----------------------
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: n1-hep1, labels: {role: open}}
spec: {node: n1, interfaceName: hep1}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: open-all}
spec:
  selector: role == 'open'
  types: [Ingress, Egress]
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
YAML
pn_expect named_governs_its_interface allow ext d node hep1 8080 TCP
pn_check
# n1-by-ip (no policy: drops) comes before n1-hep1 by name
node_addr add 203.0.113.7/32 dev hep1
pn_expect by_ip_first_by_name_takes_the_interface deny ext d node hep1 8080 TCP
pn_check
chains() {
    ip netns exec "$nodens" nft list table inet tabby 2>/dev/null | grep -o "^.chain [^ ]* "
}
if chains | grep -q 'chain hin-if-hep1 ' || ! chains | grep -q 'chain hin-a-'; then
    fail named_loser_chains_gone "$(chains | grep -E 'hin-')"
else
    pass named_loser_chains_gone
fi
node_addr del 203.0.113.7/32 dev hep1
pn_expect named_takes_its_interface_back allow ext d node hep1 8080 TCP
pn_check
if chains | grep -q 'chain hin-a-' || ! chains | grep -q 'chain hin-if-hep1 '; then
    fail by_ip_chains_gone "$(chains | grep -E 'hin-')"
else
    pass by_ip_chains_gone
fi
pn_change delete hostendpoint n1-by-ip >/dev/null
pn_change delete hostendpoint n1-hep1 >/dev/null
pn_change delete globalnetworkpolicy open-all >/dev/null

# ---- an interface's addresses are Felix's: its local routes, whatever the link's state -----
# hep8 is down; hep9 is up without carrier, so its IPv6 address stays tentative (DAD cannot
# finish) and has no local route yet: not the interface's. lo is an interface like others;
# kube-ipvs0 is not (Felix's default interfaceExclude).
fab_in n1 ip link add hep8 type veth peer name hep8p
fab_in n1 ip link add kube-ipvs0 type veth peer name ipvsp
fab_in n1 ip link set kube-ipvs0 up
fab_in n1 ip addr add 203.0.113.10/32 dev kube-ipvs0
fab_in n1 ip link add hep9 type veth peer name hep9p
fab_in n1 ip link set hep9 up
fab_in n1 ip -6 addr add 2001:db8:9::7/64 dev hep9
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: a-v6}
spec: {node: n1, expectedIPs: ["2001:db8:9::7"]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: b-v4}
spec: {node: n1, expectedIPs: [203.0.113.9]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: c-down}
spec: {node: n1, expectedIPs: [203.0.113.8]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: d-lo}
spec: {node: n1, expectedIPs: [127.0.0.1]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: e-ipvs}
spec: {node: n1, expectedIPs: [203.0.113.10]}
YAML
node_addr add 203.0.113.9/32 dev hep9
node_addr add 203.0.113.8/32 dev hep8
# which endpoints govern some interface (their chains' comments), and the interfaces
governed() {
    local t
    t=$(ip netns exec "$nodens" nft list ruleset 2>/dev/null)
    grep -o 'host endpoint [a-z0-9-]*: no ingress' <<<"$t" | cut -d' ' -f3 | sort | tr '\n' ' '
    grep -A3 'set hifa-' <<<"$t" | grep -o 'elements = { .* }' | tr -d '{}",' |
        sed 's/elements = //' | tr ' ' '\n' | grep . | sort | tr '\n' ' '
}
want='b-v4: c-down: d-lo: hep8 hep9 lo '
governed_as_felix() { [ "$(governed)" = "$want" ]; }
if t_wait 10 governed_as_felix; then
    pass addresses_are_local_routes_any_link_state
else
    fail addresses_are_local_routes_any_link_state "want '$want', got '$(governed)'"
fi
# hep9 gets its carrier: DAD finishes, the IPv6 address gets its local route, and a-v6,
# first by name, takes hep9 from b-v4
fab_in n1 ip link set hep9p up
want='a-v6: c-down: d-lo: hep8 hep9 lo '
if t_wait 15 governed_as_felix; then
    pass tentative_address_counts_once_dad_is_done
else
    fail tentative_address_counts_once_dad_is_done "want '$want', got '$(governed)'"
fi
for e in a-v6 b-v4 c-down d-lo e-ipvs; do pn_change delete hostendpoint "$e" >/dev/null; done
for l in hep8 hep9 kube-ipvs0; do fab_in n1 ip link del "$l"; done

# ---- forwarded traffic: applyOnForward policies only ----------------------------------------
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: n1-hep0, labels: {role: edge}}
spec: {node: n1, interfaceName: hep0}
YAML
pn_expect forwarded_not_policed_without_apply_on_forward allow ext c default a 80 TCP
pn_expect own_traffic_policed deny ext c node hep0 8080 TCP
pn_check
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: edge-forward}
spec:
  selector: role == 'edge'
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [81]}
YAML
pn_expect apply_on_forward_denies_other_port deny ext c default a 80 TCP
pn_expect apply_on_forward_allows_its_port allow ext c default a 81 TCP
pn_expect apply_on_forward_other_interface_untouched allow ext d default a 80 TCP
pn_expect apply_on_forward_also_own_traffic allow ext c node hep0 81 TCP
pn_check
pn_change delete globalnetworkpolicy edge-forward >/dev/null
pn_change delete hostendpoint n1-hep0 >/dev/null

# The start of the preDNAT and doNotTrack parts: n1-hep0 (role edge) under edge-open, a
# normal policy that allows everything in and out, and the part's own policies (stdin),
# applied at once.
edge_open_with() {
    {
        cat <<'YAML'
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: n1-hep0, labels: {role: edge}}
spec: {node: n1, interfaceName: hep0}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: edge-open}
spec: {selector: role == 'edge', order: 200, types: [Ingress, Egress],
       ingress: [{action: Allow}], egress: [{action: Allow}]}
---
YAML
        cat
    } | pn_apply >/dev/null
}

# ---- preDNAT: before the normal policy, forwarded traffic too ---------------------------------
edge_open_with <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: edge-pre}
spec:
  selector: role == 'edge'
  preDNAT: true
  applyOnForward: true
  ingress:
  - action: Deny
    protocol: TCP
    destination: {ports: [8080, 81]}
  - action: Allow
    protocol: TCP
    destination: {ports: [2222]}
YAML
pn_expect pre_dnat_deny_beats_normal_allow deny ext c node hep0 8080 TCP
pn_expect pre_dnat_leaves_the_rest_to_normal_policy allow ext c node hep0 80 TCP
pn_expect pre_dnat_denies_forwarded_traffic deny ext c default a 81 TCP
pn_expect pre_dnat_other_forwarded_port allow ext c default a 80 TCP
pn_expect pre_dnat_keeps_failsafe allow ext c node hep0 22 TCP
pn_check
pn_change delete globalnetworkpolicy edge-open >/dev/null
pn_expect pre_dnat_allow_goes_on_to_normal_policy deny ext c node hep0 2222 TCP
pn_check
pn_change delete globalnetworkpolicy edge-pre >/dev/null

# ---- doNotTrack: before conntrack, both ways, over an allowing normal policy ---------------
pn_serve_netns "$nodens:8180,8181,8182" || fail untracked_servers "the servers did not start"
# Whether the node's conntrack table holds an entry of ext/c's flow to the node's PORT.
tracked() {
    ip netns exec "$nodens" cat /proc/net/nf_conntrack |
        grep -q "src=192.0.2.2 dst=192.0.2.1 sport=[0-9]* dport=$1 "
}
expect_tracked() {
    local name=$1 want=$2 got=no
    tracked "$3" && got=yes
    if [ "$got" = "$want" ]; then pass "$name"; else fail "$name" "conntrack entry for port $3: expected $want, got $got"; fi
}
edge_open_with <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: edge-untracked}
spec:
  selector: role == 'edge'
  doNotTrack: true
  applyOnForward: true
  order: 10
  types: [Ingress, Egress]
  ingress:
  - action: Deny
    protocol: TCP
    destination: {ports: [8181, 22, 81]}
  - action: Allow
    protocol: TCP
    destination: {ports: [8180]}
  egress:
  - action: Allow
    protocol: TCP
    source: {ports: [8180]}
YAML
expect_raw_hooks do_not_track_adds_raw_hooks 2
pn_expect untracked_allow_passes allow ext c node hep0 8180 TCP
pn_expect untracked_deny_beats_normal_allow deny ext c node hep0 8181 TCP
pn_expect untracked_undecided_goes_on_to_normal_policy allow ext c node hep0 8182 TCP
pn_expect untracked_deny_keeps_failsafe allow ext c node hep0 22 TCP
pn_expect untracked_deny_drops_forwarded deny ext c default a 81 TCP
pn_expect untracked_undecided_forwarded_goes_on allow ext c default a 80 TCP
pn_check
if [ -r /proc/net/nf_conntrack ]; then
    # the Allow's egress rule takes the replies: no entry either way
    expect_tracked untracked_allow_leaves_no_conntrack_entry no 8180
    expect_tracked untracked_undecided_flow_is_tracked yes 8182
else
    skip untracked_conntrack "no /proc/net/nf_conntrack to read conntrack entries from"
fi
# normal policy closed to it: an untracked Allow is accepted all the same (Calico's mark)
pn_apply >/dev/null <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: edge-open}
spec:
  selector: role == 'edge'
  order: 200
  types: [Ingress]
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [8182]}}]
YAML
pn_expect untracked_allow_needs_no_normal_policy allow ext c node hep0 8180 TCP
pn_expect untracked_normal_policy_denies_the_rest deny ext c node hep0 8080 TCP
pn_check
pn_change delete globalnetworkpolicy edge-untracked >/dev/null
expect_raw_hooks do_not_track_gone_raw_hooks_gone 0
pn_expect untracked_gone_normal_policy_decides deny ext c node hep0 8180 TCP
pn_expect untracked_gone_8181_follows_normal_policy deny ext c node hep0 8181 TCP
pn_expect untracked_gone_8182_allowed allow ext c node hep0 8182 TCP
pn_check
pn_change delete globalnetworkpolicy edge-open >/dev/null
pn_change delete hostendpoint n1-hep0 >/dev/null

# ---- examples/host-endpoint.yaml ----------------------------------------------------------
sed -e 's/node: node-1/node: n1/' -e 's/interfaceName: eth0/interfaceName: hep0/' \
    -e 's/192.0.2.11/192.0.2.1/' "$T_TOP/examples/host-endpoint.yaml" >"$T_TMP/hep-example.yaml"
if pn_change apply -f "$T_TMP/hep-example.yaml" >"$T_TMP/out" 2>&1; then
    pass example_applies
else
    fail example_applies "$(cat "$T_TMP/out")"
fi
pn_expect example_allows_http allow ext c node hep0 80 TCP
pn_expect example_denies_other deny ext c node hep0 8080 TCP
pn_expect example_keeps_ssh allow ext c node hep0 22 TCP
pn_check
node_expect example_allows_node_out allow 80

t_end
