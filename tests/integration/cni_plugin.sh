#!/usr/bin/env bash
# cni_plugin.sh — the tabby CNI plugin driven as a container runtime drives it, inside a
# node namespace: 50 pods that reach the node and each other, DEL of all of them leaving
# nothing behind, ADD repeated for one container, DEL after the namespace is gone and
# with an empty CNI_NETNS (containerd), CHECK failing once a route is removed, the older
# result versions, a dual-stack pod, the WorkloadEndpoint it records, tabbyctl label, the
# MTU, and the plugins' start without libcurl.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cni_lib.sh"

cni_begin cni_plugin
PODS=50

# add_pod I: ADD of pod pI, run in the background: its result goes to $T_TMP/add-I.
add_pod() {
    cni_ns "p$1" && cni ADD "p$1" "$(cni_conf)"
    echo "$OUT" >"$T_TMP/add-$1.out"
    echo "$RC" >"$T_TMP/add-$1"
}

# unreachable FROM ADDR…: the addresses FROM gets no answer from. A TCP connection to a
# closed port is refused by the pod's own kernel, which proves the way there and back
# (an address that is not reached times out or is unreachable, never refused); bash's
# /dev/tcp makes that without a process per address.
unreachable() {
    local from=$1
    shift
    at "$from" timeout 20 bash -c 'for ip; do echo "@$ip"; : <>"/dev/tcp/$ip/9"; done 2>&1' \
        _ "$@" | awk -v want="$*" '
        /^@/ { ip = substr($0, 2); next }
        /refused/ { ok[ip] = 1 }
        END { n = split(want, all, " ")
              for (i = 1; i <= n; i++) if (!ok[all[i]]) printf "%s ", all[i] }'
}

test_fifty_pods_reach_the_node_and_each_other() {
    local i j ips=() bad= failed= others
    # As a kubelet starting many pods: ten ADDs at a time.
    for i in $(seq 1 $PODS); do
        add_pod "$i" &
        [ $((i % 10)) = 0 ] && wait
    done
    wait
    for i in $(seq 1 $PODS); do
        [ "$(cat "$T_TMP/add-$i")" = 0 ] || failed+="p$i: $(cat "$T_TMP/add-$i.out") "
        ips+=("$(jq -r '.ips[0].address' "$T_TMP/add-$i.out" | cut -d/ -f1)")
    done
    [ -z "$failed" ] || { fail fifty_pods_reach_the_node_and_each_other "ADD: $failed"; return; }
    pod_ping "$NODE" "${ips[0]}" || bad+="node-ping->${ips[0]} "
    for ip in $(unreachable "$NODE" "${ips[@]}"); do bad+="node->$ip "; done
    for i in $(seq 1 $PODS); do
        others=()
        for j in $(seq 1 $PODS); do [ "$j" != "$i" ] && others+=("${ips[j - 1]}"); done
        unreachable "p$i" "${others[@]}" >"$T_TMP/mesh-$i" &
    done
    wait
    for i in $(seq 1 $PODS); do
        for ip in $(cat "$T_TMP/mesh-$i"); do bad+="p$i->$ip "; done
    done
    if [ -n "$bad" ]; then
        fail fifty_pods_reach_the_node_and_each_other "unreachable: $bad"
    elif [ "$(ctl get wep -o name | wc -l)" != $PODS ] || [ "$(allocated)" != $PODS ] ||
        [ "$(printf '%s\n' "${ips[@]}" | sort -u | wc -l)" != $PODS ]; then
        fail fifty_pods_reach_the_node_and_each_other "endpoints, allocations or distinct addresses are not $PODS"
    else
        pass fifty_pods_reach_the_node_and_each_other
    fi
}

test_del_of_every_pod_leaves_nothing() {
    local i failed=
    for i in $(seq 1 $PODS); do
        cni DEL "p$i" "$(cni_conf)"
        [ "$RC" = 0 ] || failed+="p$i: $OUT "
    done
    if [ -n "$failed" ]; then
        fail del_of_every_pod_leaves_nothing "DEL failed: $failed"
    elif ! nothing_left; then
        fail del_of_every_pod_leaves_nothing "$WHY"
    else
        pass del_of_every_pod_leaves_nothing
    fi
}

test_add_twice_with_one_container_id() {
    local first veths
    cni_add twice || { fail add_twice_with_one_container_id "ADD: $OUT"; return; }
    first=$(address)
    cni ADD twice "$(cni_conf)"
    veths=$(at "$NODE" ip -o link show type veth | grep -c tby)
    if [ "$RC" != 0 ] || [ "$(address)" != "$first" ] || [ "$veths" != 1 ] ||
        [ "$(allocated)" != 1 ] || ! pod_ping "$NODE" "$first"; then
        fail add_twice_with_one_container_id "rc=$RC first=$first then $(address), veths=$veths, allocated $(allocated)"
        return
    fi
    cni DEL twice "$(cni_conf)"
    if nothing_left; then pass add_twice_with_one_container_id
    else fail add_twice_with_one_container_id "after DEL: $WHY"; fi
}

test_del_after_the_netns_is_gone() {
    cni_add gone || { fail del_after_the_netns_is_gone "ADD: $OUT"; return; }
    ip netns del "$CNI_PFX-gone"
    cni DEL gone "$(cni_conf)"
    if [ "$RC" != 0 ]; then
        fail del_after_the_netns_is_gone "DEL: $OUT"
    elif ! nothing_left; then
        fail del_after_the_netns_is_gone "$WHY"
    else
        cni DEL gone "$(cni_conf)"
        if [ "$RC" = 0 ]; then pass del_after_the_netns_is_gone
        else fail del_after_the_netns_is_gone "second DEL: $OUT"; fi
    fi
}

# containerd runs DEL with CNI_NETNS empty, while the namespace still exists.
test_del_with_an_empty_netns_releases_everything() {
    cni_add emptyns || { fail del_with_an_empty_netns_releases_everything "ADD: $OUT"; return; }
    cni DEL emptyns "$(cni_conf)" -
    if [ "$RC" != 0 ]; then
        fail del_with_an_empty_netns_releases_everything "DEL: $OUT"
    elif ! nothing_left; then
        fail del_with_an_empty_netns_releases_everything "$WHY"
    elif at emptyns ip link show eth0 >/dev/null 2>&1; then
        fail del_with_an_empty_netns_releases_everything "the pod still has eth0"
    else
        pass del_with_an_empty_netns_releases_everything
    fi
}

# conf_with_prev CONF RESULT: CONF with prevResult, as runtimes send CHECK and DEL.
conf_with_prev() {
    jq -c --argjson r "$2" '. + {prevResult: $r}' <<<"$1"
}

test_check_fails_after_a_route_is_removed() {
    local conf ip host
    cni_add chk || { fail check_fails_after_a_route_is_removed "ADD: $OUT"; return; }
    conf=$(conf_with_prev "$(cni_conf)" "$OUT")
    ip=$(address)
    host=$(jq -r '.interfaces[0].name' <<<"$OUT")
    cni CHECK chk "$conf"
    [ "$RC" = 0 ] || { fail check_fails_after_a_route_is_removed "CHECK right after ADD: $OUT"; return; }
    at chk ip route del default
    cni CHECK chk "$conf"
    expect_error 101 "no route to 0.0.0.0/0 via 169.254.1.1 dev eth0" ||
        { fail check_fails_after_a_route_is_removed "pod's default route: $WHY"; return; }
    at chk ip route add default via 169.254.1.1 dev eth0
    at "$NODE" ip route del "$ip" dev "$host"
    cni CHECK chk "$conf"
    expect_error 101 "the node has no route to $ip/32 through $host" ||
        { fail check_fails_after_a_route_is_removed "node's route: $WHY"; return; }
    cni DEL chk "$conf"
    if nothing_left; then pass check_fails_after_a_route_is_removed
    else fail check_fails_after_a_route_is_removed "after DEL: $WHY"; fi
}

test_results_in_older_versions() {
    local v ok=1
    for v in 0.3.1 0.4.0; do
        cni_add "old${v//./}" "$(cni_conf $v)" || { ok=0; fail results_in_older_versions "$v: $OUT"; continue; }
        if [ "$(jq -r .cniVersion <<<"$OUT")" != $v ] ||
            [ "$(jq -r '.ips[0].version' <<<"$OUT")" != 4 ] ||
            [ "$(jq -r '.ips[0].interface' <<<"$OUT")" != 1 ] ||
            [ "$(jq -r '.interfaces[1].sandbox' <<<"$OUT")" != "/run/netns/$CNI_PFX-old${v//./}" ]; then
            ok=0
            fail results_in_older_versions "$v: $OUT"
        fi
        cni DEL "old${v//./}" "$(cni_conf $v)"
    done
    cni CHECK old031 "$(cni_conf 0.3.1)"
    expect_error 1 "CHECK needs cniVersion 0.4.0" || { ok=0; fail results_in_older_versions "CHECK at 0.3.1: $WHY"; }
    nothing_left || { ok=0; fail results_in_older_versions "$WHY"; }
    [ $ok = 1 ] && pass results_in_older_versions
}

test_dual_stack_pods_reach_each_other() {
    local conf a4 a6 b6 gw
    conf=$(cni_conf 1.0.0 '' '{"type":"tabby-ipam","assign_ipv6":"true"}')
    cni_add ds1 "$conf" || { fail dual_stack_pods_reach_each_other "ADD ds1: $OUT"; return; }
    a4=$(address 0) a6=$(address 1)
    gw=$(jq -r '.routes[] | select(.dst == "::/0") | .gw' <<<"$OUT")
    cni_add ds2 "$conf" || { fail dual_stack_pods_reach_each_other "ADD ds2: $OUT"; return; }
    b6=$(address 1)
    if [[ $a6 != fd10::* ]] || [[ $gw != fe80::* ]]; then
        fail dual_stack_pods_reach_each_other "addresses $a4 $a6, IPv6 gateway $gw"
    elif ! pod_ping "$NODE" "$a6" || ! pod_ping ds2 "$a6" || ! pod_ping ds1 "$b6" ||
        ! pod_ping ds2 "$a4"; then
        fail dual_stack_pods_reach_each_other "no ping between $a4/$a6 and $b6"
    else
        cni DEL ds1 "$conf"
        cni DEL ds2 "$conf"
        if nothing_left; then pass dual_stack_pods_reach_each_other
        else fail dual_stack_pods_reach_each_other "after DEL: $WHY"; fi
    fi
}

test_endpoint_records_the_pod() {
    local conf wep host mac want
    conf=$(cni_conf 1.0.0 '"args":{"cni":{"labels":[{"key":"app","value":"web"}],"ports":[{"name":"http","protocol":"TCP","port":8080}]}}')
    cni_add web-0 "$conf" || { fail endpoint_records_the_pod "ADD: $OUT"; return; }
    host=$(jq -r '.interfaces[0].name' <<<"$OUT")
    mac=$(at web-0 cat /sys/class/net/eth0/address)
    wep=$(ctl get wep node1-k8s-web--0-eth0 -o json)
    want="node1 web-0 c-web-0 eth0 $host $mac $(address)/32 kns.default web k8s default http 8080"
    got=$(jq -r '[.spec.node, .spec.pod, .spec.containerID, .spec.endpoint,
        .spec.interfaceName, .spec.mac, .spec.ipNetworks[0], .spec.profiles[0],
        .metadata.labels.app, .metadata.labels["projectcalico.org/orchestrator"],
        .metadata.labels["projectcalico.org/namespace"], .spec.ports[0].name,
        .spec.ports[0].port] | join(" ")' <<<"$wep")
    if [ "$got" != "$want" ]; then
        fail endpoint_records_the_pod "got \"$got\", want \"$want\""
    elif [ "$(at "$NODE" cat /sys/class/net/"$host"/address)" != ee:ee:ee:ee:ee:ee ] ||
        [ "$(at "$NODE" sysctl -n net.ipv4.conf."$host".proxy_arp)" != 1 ] ||
        [ "$(at "$NODE" sysctl -n net.ipv4.conf."$host".forwarding)" != 1 ] ||
        [ "$(at "$NODE" sysctl -n net.ipv4.neigh."$host".proxy_delay)" != 0 ] ||
        [ "$(at "$NODE" ip route show "$(address)" proto boot)" = "" ]; then
        fail endpoint_records_the_pod "the host side of $host is not as Calico sets it"
    else
        pass endpoint_records_the_pod
    fi
}

test_label_changes_an_endpoints_labels() {
    local w=node1-k8s-web--0-eth0 labels
    ctl label wep "$w" tier=front >/dev/null &&
        ! ctl label wep "$w" app=db >/dev/null 2>"$T_TMP/label.err" &&
        grep -q "'app' already has a value (web), and --overwrite is false" "$T_TMP/label.err" &&
        ctl label wep "$w" app=db --overwrite tier- >/dev/null
    labels=$(ctl get wep "$w" -o json | jq -c '.metadata.labels | del(.["projectcalico.org/namespace"], .["projectcalico.org/orchestrator"])')
    if [ "$labels" = '{"app":"db"}' ]; then
        pass label_changes_an_endpoints_labels
    else
        fail label_changes_an_endpoints_labels "labels are $labels"
    fi
    cni DEL web-0 "$(cni_conf)"
}

test_mtu_from_the_configuration_or_the_uplink() {
    local got
    cni_add mtu1 "$(cni_conf 1.0.0 '"mtu":1400')" || { fail mtu_from_the_configuration_or_the_uplink "ADD: $OUT"; return; }
    got=$(at mtu1 cat /sys/class/net/eth0/mtu)
    at "$NODE" ip link set eth0 mtu 1450
    ctl apply -f - >/dev/null <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-vxlan}
spec: {cidr: 10.20.0.0/16, vxlanMode: Always}
EOF
    cni_add mtu2 || { fail mtu_from_the_configuration_or_the_uplink "ADD: $OUT"; return; }
    got+=" $(at mtu2 cat /sys/class/net/eth0/mtu)"
    cni_add mtu3 "$(cni_conf 1.0.0 '' '{"type":"tabby-ipam","ipv4_pools":["pool-vxlan"]}')" ||
        { fail mtu_from_the_configuration_or_the_uplink "ADD: $OUT"; return; }
    got+=" $(at mtu3 cat /sys/class/net/eth0/mtu)"
    at "$NODE" ip link set eth0 mtu 1500
    for p in mtu1 mtu2 mtu3; do cni DEL $p "$(cni_conf)"; done
    ctl delete ippool pool-vxlan >/dev/null
    if [ "$got" = "1400 1450 1400" ]; then pass mtu_from_the_configuration_or_the_uplink
    else fail mtu_from_the_configuration_or_the_uplink "MTUs $got, want 1400 1450 1400"; fi
}

# They run once per pod: libcurl's dependencies cost more start-up than the work itself.
test_plugins_start_without_libcurl() {
    if ldd "$TABBY" "$TABBY_IPAM" | grep -q libcurl; then
        fail plugins_start_without_libcurl "$(ldd "$TABBY" "$TABBY_IPAM" | grep libcurl)"
    else
        pass plugins_start_without_libcurl
    fi
}

test_version_lists_the_spec_versions() {
    OUT=$(echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$TABBY")
    if [ "$(jq -c .supportedVersions <<<"$OUT")" = '["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]' ]; then
        pass version_lists_the_spec_versions
    else
        fail version_lists_the_spec_versions "$OUT"
    fi
}

test_fifty_pods_reach_the_node_and_each_other
test_del_of_every_pod_leaves_nothing
test_add_twice_with_one_container_id
test_del_after_the_netns_is_gone
test_del_with_an_empty_netns_releases_everything
test_check_fails_after_a_route_is_removed
test_results_in_older_versions
test_dual_stack_pods_reach_each_other
test_endpoint_records_the_pod
test_label_changes_an_endpoints_labels
test_mtu_from_the_configuration_or_the_uplink
test_plugins_start_without_libcurl
test_version_lists_the_spec_versions
t_end
