#!/bin/bash
# routes_autodetect.sh — IP autodetection inside a namespace with several interfaces
# (docker0, a veth, a pod interface, a down interface, two uplinks): every method picks
# what calico-node would, with the prefix length, for IPv4 and IPv6.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/routes_lib.sh"

lab_begin routes-autodetect

fab_switch far
fab_ns h
# In ifindex order, the internal ones first, so that skipping them is what picks eth0.
at h ip link add docker0 type bridge
at h ip addr add 172.17.0.1/16 dev docker0
at h ip link set docker0 up
fab_plug h far vethabc
at h ip addr add 10.1.1.1/24 dev vethabc
fab_plug h far tbyp0
at h ip addr add 10.65.0.1/32 dev tbyp0
fab_plug h far ens9
at h ip addr add 192.168.9.9/24 dev ens9
at h ip link set ens9 down
fab_plug h far eth0
at h ip addr add 192.168.1.11/24 dev eth0
at h ip addr add fd00:1::11/64 dev eth0 nodad
at h ip route add default via 192.168.1.1
at h ip -6 route add default via fd00:1::1
fab_plug h far eth1
at h ip addr add 10.20.0.5/16 dev eth1
at h ip addr add fd00:2::5/64 dev eth1 nodad
at h ip route add unreachable 203.0.113.0/24

# detect CASE METHOD FAMILY WANT: the driver prints WANT (or fails with a message
# containing WANT).
detect() {
    driver h autodetect "$2" "$3"
    if [ "$OUT" = "$4" ] || { [ "$RC" != 0 ] && has "$OUT" "$4"; }; then
        pass "$1"
    else
        fail "$1" "$2 (IPv$3): got \"$OUT\", want \"$4\""
    fi
}

detect autodetect-first-found first-found 4 "192.168.1.11/24 eth0"
detect autodetect-first-found-v6 first-found 6 "fd00:1::11/64 eth0"
detect autodetect-interface interface=eth1 4 "10.20.0.5/16 eth1"
detect autodetect-interface-list "interface=nope,eth.*" 6 "fd00:1::11/64 eth0"
detect autodetect-skip-interface skip-interface=eth0 4 "10.20.0.5/16 eth1"
detect autodetect-cidr cidr=10.20.0.0/16 4 "10.20.0.5/16 eth1"
detect autodetect-cidr-v6 "cidr=10.0.0.0/8,fd00:1::/64" 6 "fd00:1::11/64 eth0"
detect autodetect-can-reach can-reach=10.20.9.9 4 "10.20.0.5/16 eth1"
detect autodetect-can-reach-default can-reach=198.51.100.7 4 "192.168.1.11/24 eth0"
detect autodetect-can-reach-v6 can-reach=fd00:2::99 6 "fd00:2::5/64 eth1"
detect autodetect-can-reach-host-name can-reach=localhost 4 "127.0.0.1/8 lo"
detect autodetect-can-reach-unreachable can-reach=203.0.113.5 4 \
    "IP autodetection method \"can-reach=203.0.113.5\": no route to 203.0.113.5: No route to \
host"
detect autodetect-can-reach-wrong-family can-reach=10.20.9.9 6 \
    "IP autodetection method \"can-reach=10.20.9.9\": 10.20.9.9 is not an IPv6 address"
detect autodetect-down-interface-skipped interface=ens9 4 \
    "found no global IPv4 address on an interface that is up and matches"
detect autodetect-bad-method "interface=[" 4 \
    "IP autodetection method \"interface=[\": \"[\" is not a regular expression"

t_end
