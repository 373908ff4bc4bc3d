#!/usr/bin/env bash
# cni_chain.sh — tabby with the reference plugins (Debian's containernetworking-plugins):
# host-local as its IPAM plugin, and tabby as the first plugin of a chain whose next is
# portmap, run as a runtime runs a conflist (each plugin gets the previous one's result,
# DEL runs in reverse): a host port reaches the pod, and DEL removes everything.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cni_lib.sh"

cni_begin cni_chain
for p in host-local portmap; do
    if [ ! -x "/usr/lib/cni/$p" ]; then
        skip cni_chain "/usr/lib/cni/$p is missing (Debian package containernetworking-plugins)"
        t_end
    fi
done

HOST_LOCAL=$(cni_conf 1.0.0 '' "{\"type\":\"host-local\",\"dataDir\":\"$T_TMP/hl\",\"ranges\":[[{\"subnet\":\"10.30.0.0/24\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}")

held_by_host_local() { ls "$T_TMP/hl/k8s-pod-network" 2>/dev/null | grep -c '^10\.'; }

test_host_local_as_the_ipam_plugin() {
    local a b
    cni_add hl1 "$HOST_LOCAL" || { fail host_local_as_the_ipam_plugin "ADD: $OUT"; return; }
    a=$(address)
    cni_add hl2 "$HOST_LOCAL" || { fail host_local_as_the_ipam_plugin "ADD: $OUT"; return; }
    b=$(address)
    if [[ $a != 10.30.0.* ]] || [ "$(jq -r '.ips[0].address' <<<"$OUT")" != "$b/32" ]; then
        fail host_local_as_the_ipam_plugin "addresses $a and $OUT"
    elif ! pod_ping hl1 "$b" || ! pod_ping "$NODE" "$a"; then
        fail host_local_as_the_ipam_plugin "$a and $b do not reach each other"
    elif [ "$(held_by_host_local)" != 2 ]; then
        fail host_local_as_the_ipam_plugin "host-local holds $(held_by_host_local) addresses"
    else
        cni DEL hl1 "$HOST_LOCAL"
        cni DEL hl2 "$HOST_LOCAL"
        if [ "$(held_by_host_local)" != 0 ]; then fail host_local_as_the_ipam_plugin "DEL left host-local's addresses"
        elif ! nothing_left; then fail host_local_as_the_ipam_plugin "$WHY"
        else pass host_local_as_the_ipam_plugin; fi
    fi
}

# portmap's configuration as a runtime derives it from the conflist: the network's name
# and version, runtimeConfig from the capability, prevResult from tabby.
portmap_conf() {
    jq -cn --arg v 1.0.0 --argjson prev "$1" '{cniVersion: $v, name: "k8s-pod-network",
        type: "portmap", snat: true, prevResult: $prev,
        runtimeConfig: {portMappings: [{hostPort: 18080, containerPort: 80, protocol: "tcp"}]}}'
}

test_tabby_then_portmap() {
    local first second got
    cni_add pm || { fail tabby_then_portmap "tabby ADD: $OUT"; return; }
    first=$OUT
    cni ADD pm "$(portmap_conf "$first")" "" portmap
    second=$OUT
    if [ "$RC" != 0 ]; then
        fail tabby_then_portmap "portmap ADD: $OUT $ERR"
        return
    fi
    got=$(host_port_echo pm 18080)
    cni DEL pm "$(portmap_conf "$second")" "" portmap
    [ "$RC" = 0 ] || { fail tabby_then_portmap "portmap DEL: $OUT"; return; }
    cni DEL pm "$(cni_conf | jq -c --argjson p "$second" '. + {prevResult: $p}')"
    if [ "$(jq -S . <<<"$second")" != "$(jq -S . <<<"$first")" ]; then
        fail tabby_then_portmap "portmap changed the result: $second"
    elif [ "$got" != hello ]; then
        fail tabby_then_portmap "host port 18080 did not reach the pod: $got"
    elif ! nothing_left; then
        fail tabby_then_portmap "$WHY"
    else
        pass tabby_then_portmap
    fi
}

test_host_local_as_the_ipam_plugin
cni_need tabby_then_portmap "socat, iptables (portmap programs iptables)" socat iptables-save
test_tabby_then_portmap
t_end
