#!/usr/bin/env bash
# A small network of test hosts on this machine, made of network namespaces (iproute2), for
# trying Titan across real network boundaries without other machines. Needs root.
#
#   scripts/netns-cluster.sh up   [NAME] [SUBNET]   # hosts NAME-m (.1), NAME-w1 (.11), NAME-w2 (.12),
#                                                   # NAME-c (.21) on SUBNET.0/24, joined by a bridge
#                                                   # in NAME-sw; defaults: titan, 10.77.0
#   scripts/netns-cluster.sh down [NAME]            # removes them (and their links)
#   scripts/netns-cluster.sh check                  # exit 0 if namespaces can be made here
#
# Then run anything on a host with `ip netns exec NAME-w1 COMMAND`. Traffic stays inside these
# namespaces: nothing is routed to this machine's own network or beyond.
set -euo pipefail
cmd=${1:-}
name=${2:-titan}
subnet=${3:-10.77.0}
hosts=(m:1 w1:11 w2:12 c:21)

case "$cmd" in
check)
    probe="titanprobe$$"
    ip netns add "$probe" 2>/dev/null || exit 1
    ip netns del "$probe"
    ;;
up)
    ip netns add "$name-sw"
    ip -n "$name-sw" link set lo up
    ip -n "$name-sw" link add br0 type bridge
    ip -n "$name-sw" link set br0 up
    for entry in "${hosts[@]}"; do
        host=${entry%%:*}
        octet=${entry##*:}
        ns="$name-$host"
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # The pair is made inside the host's namespace, then one end moves to the switch.
        ip -n "$ns" link add eth0 type veth peer name "p-$host"
        ip -n "$ns" link set "p-$host" netns "$name-sw"
        ip -n "$name-sw" link set "p-$host" master br0 up
        ip -n "$ns" addr add "$subnet.$octet/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
    ;;
down)
    for entry in "${hosts[@]}"; do
        ip netns del "$name-${entry%%:*}" 2>/dev/null || true
    done
    ip netns del "$name-sw" 2>/dev/null || true
    ;;
*)
    echo "usage: $0 up [NAME] [SUBNET] | down [NAME] | check" >&2
    exit 2
    ;;
esac
