#!/usr/bin/env bash
# bgp_mesh.sh — three nodes on one fabric, each with BIRD loaded by `tabbyctl bgp apply`
# in the default node-to-node mesh: every node learns every other node's blocks as
# kernel routes via that node, announces nothing but pool blocks, and a block released
# on one node is withdrawn everywhere within seconds.
set -u
. "$(dirname "$0")/lib.sh"
t_begin bgp-mesh
. "$(dirname "$0")/bgp_lib.sh"
bgp_need bgp-mesh bird ip

bgp_mesh3 10.244.0.0/16

test_mesh_sessions_come_up() {
    local i ok=1
    for i in 1 2 3; do bgp_apply "n$i" --block "10.244.$i.0/26" || ok=0; done
    if [ $ok = 1 ] && t_wait 30 sessions_up n1 2 && t_wait 10 sessions_up n2 2 &&
        t_wait 10 sessions_up n3 2; then
        pass mesh_sessions_come_up
    else
        fail mesh_sessions_come_up "$(ctl node status --bird-socket "$T_TMP/n1/bird.ctl" 2>&1)"
    fi
}

test_every_node_learns_every_block_via_its_owner() {
    local i j missing=""
    for i in 1 2 3; do
        for j in 1 2 3; do
            [ $i = $j ] && continue
            t_wait 15 has_route "n$i" "10.244.$j.0/26" "via 10.0.0.$j dev eth0" ||
                missing="$missing n$i:10.244.$j.0/26"
        done
        # Its own block is a blackhole (pods get more specific routes).
        fab_in "n$i" ip route show type blackhole | grep -q "10.244.$i.0/26" ||
            missing="$missing n$i:own-blackhole"
    done
    if [ -z "$missing" ]; then
        pass every_node_learns_every_block_via_its_owner
    else
        fail every_node_learns_every_block_via_its_owner "missing:$missing"
    fi
}

test_only_pool_blocks_are_installed() {
    local want got
    want=$(printf '10.244.1.0/26\n10.244.2.0/26\n10.244.3.0/26\n')
    got=$(bird_routes n2)
    if [ "$got" = "$want" ]; then
        pass only_pool_blocks_are_installed
    else
        fail only_pool_blocks_are_installed "n2 has: $(echo $got)"
    fi
}

test_unchanged_cluster_does_not_reload_bird() {
    local out
    out=$(ctl bgp apply --node n1 --block 10.244.1.0/26 --bird-socket "$T_TMP/n1/bird.ctl" \
        --bird-config "$T_TMP/n1/bird.conf")
    if [ "$out" = "$T_TMP/n1/bird.conf: unchanged" ]; then
        pass unchanged_cluster_does_not_reload_bird
    else
        fail unchanged_cluster_does_not_reload_bird "$out"
    fi
}

test_released_block_is_withdrawn_everywhere() {
    local start took
    bgp_apply n1 --block 10.244.1.64/26 # 10.244.1.0/26 released, another one taken
    start=$(now_ms)
    if t_wait 10 no_route n2 10.244.1.0/26 && t_wait 10 no_route n3 10.244.1.0/26 &&
        t_wait 10 has_route n3 10.244.1.64/26 "via 10.0.0.1"; then
        took=$(($(now_ms) - start))
        if [ "$took" -le 5000 ]; then
            pass "released_block_is_withdrawn_everywhere (${took} ms)"
        else
            fail released_block_is_withdrawn_everywhere "took ${took} ms"
        fi
    else
        fail released_block_is_withdrawn_everywhere "n2: $(bird_routes n2 | tr '\n' ' ')"
    fi
}

test_restarted_bird_comes_back_with_the_applied_file() {
    local pid
    pid=$(cat "$T_TMP/n3/bird.pid")
    kill "$pid"
    if ! t_wait 10 no_route n1 10.244.3.0/26; then
        fail restarted_bird_comes_back_with_the_applied_file "n3's block stayed after BIRD stopped"
        return
    fi
    t_wait 5 bash -c "! kill -0 $pid"
    bgp_bird n3 10.0.0.3
    if t_wait 30 has_route n1 10.244.3.0/26 "via 10.0.0.3" &&
        [ "$(ctl bgp apply --node n3 --block 10.244.3.0/26 --bird-socket "$T_TMP/n3/bird.ctl" \
            --bird-config "$T_TMP/n3/bird.conf")" = "$T_TMP/n3/bird.conf: unchanged" ]; then
        pass restarted_bird_comes_back_with_the_applied_file
    else
        fail restarted_bird_comes_back_with_the_applied_file "n1: $(bird_routes n1 | tr '\n' ' ')"
    fi
}

# A pod address from the real IPAM: its block, affine to n2 in the datastore, is found and
# announced by n2 without being named on the command line.
test_ipam_blocks_are_announced() {
    local ip block
    ip=$(cni_add n2 c1)
    block=$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1] + "/26", strict=False))' "$ip")
    bgp_apply n2 --block 10.244.2.0/26
    if [ -n "$ip" ] && grep -q "route $block blackhole" "$T_TMP/n2/bird.conf" &&
        t_wait 15 has_route n1 "$block" "via 10.0.0.2 dev eth0" &&
        t_wait 5 has_route n3 "$block" "via 10.0.0.2 dev eth0"; then
        pass "ipam_blocks_are_announced ($ip in $block)"
    else
        fail ipam_blocks_are_announced "pod address '$ip', n1: $(bird_routes n1 | tr '\n' ' ')"
    fi
}

# The kernel here has no IPIP module, so a veth named tunl0 stands in for the device:
# what is checked is BIRD installing the onlink route through it from tabby's filter.
test_ipip_blocks_go_through_tunl0_onlink() {
    {
        yaml_pool ipip-pool 10.245.0.0/16 'ipipMode: Always'
        yaml_pool ipip-cross 10.246.0.0/16 'ipipMode: CrossSubnet'
    } | ctl apply -f - >/dev/null
    fab_in n2 ip link add tunl0 type veth peer name tunl0-peer
    fab_in n2 ip link set tunl0-peer up
    fab_in n2 ip link set tunl0 up
    for i in 2 3; do bgp_apply "n$i" --block "10.244.$i.0/26"; done # n2: and its IPAM block
    bgp_apply n1 --block 10.244.1.64/26 --block 10.245.1.0/26 --block 10.246.1.0/26
    if t_wait 15 has_route n2 10.245.1.0/26 "via 10.0.0.1 dev tunl0 proto bird metric 32 onlink" &&
        t_wait 5 has_route n2 10.246.1.0/26 "via 10.0.0.1 dev eth0"; then
        pass ipip_blocks_go_through_tunl0_onlink
    else
        fail ipip_blocks_go_through_tunl0_onlink "$(fab_in n2 ip route show proto bird | tr '\n' ';')"
    fi
}

test_node_status_shows_the_mesh() {
    local out
    out=$(ctl node status --bird-socket "$T_TMP/n2/bird.ctl" --node-pid-file /nonexistent)
    if grep -q '^| 10.0.0.1 *| node-to-node mesh | up *| [0-9-]* [0-9:]* *| Established *|$' \
        <<<"$out" && grep -q '^| 10.0.0.3 *| node-to-node mesh | up ' <<<"$out" &&
        grep -q 'No IPv6 peers found.' <<<"$out"; then
        pass node_status_shows_the_mesh
    else
        fail node_status_shows_the_mesh "$out"
    fi
}

test_mesh_sessions_come_up
test_every_node_learns_every_block_via_its_owner
test_only_pool_blocks_are_installed
test_unchanged_cluster_does_not_reload_bird
test_released_block_is_withdrawn_everywhere
test_restarted_bird_comes_back_with_the_applied_file
test_node_status_shows_the_mesh
test_ipam_blocks_are_announced
test_ipip_blocks_go_through_tunl0_onlink
t_end
