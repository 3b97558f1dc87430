#!/usr/bin/env bash
# A cluster of simulated hosts on one machine: Linux network namespaces joined by veth pairs to a bridge
# that lives in a hub namespace of its own (nothing is added to the machine's own network).
#
#   deploy/netns.sh up PREFIX AGENTS     hosts PREFIX-c (10.213.0.1) and PREFIX-a1.. (10.213.0.11, .12, …)
#   deploy/netns.sh down PREFIX          removes every namespace and link of PREFIX (also after a failure)
#   deploy/netns.sh cut PREFIX HOST      takes HOST's link down (HOST: c, a1, a2, …)
#   deploy/netns.sh restore PREFIX HOST  brings it back
#   deploy/netns.sh exec PREFIX HOST CMD…
#
# Needs root and iproute2. PREFIX keeps concurrent runs apart (at most 8 characters).
set -euo pipefail

usage() { sed -n '2,11p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 prefix=$2
[ ${#prefix} -le 8 ] || { echo "netns.sh: PREFIX must be at most 8 characters" >&2; exit 2; }
hub="$prefix-hub"

address() {  # host → address
    case $1 in
        c) echo 10.213.0.1 ;;
        a*) echo "10.213.0.$((10 + ${1#a}))" ;;
        *) echo "netns.sh: unknown host '$1' (c, a1, a2, …)" >&2; exit 2 ;;
    esac
}

down() {
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-" || true); do
        # End what still runs there, by PID, then remove the namespace (its veth ends go with it).
        for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}

add_host() {  # host
    local host=$1 ns="$prefix-$1" inner="eth0" outer="$prefix$1"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "$outer" netns "$hub" type veth peer name "$inner" netns "$ns"
    ip -n "$hub" link set "$outer" master br0 up
    ip -n "$ns" addr add "$(address "$host")/24" dev "$inner"
    ip -n "$ns" link set "$inner" up
}

case $cmd in
    up)
        [ $# -eq 3 ] || usage
        down
        ip netns add "$hub"
        ip -n "$hub" link set lo up
        ip -n "$hub" link add br0 type bridge
        ip -n "$hub" link set br0 up
        add_host c
        for i in $(seq 1 "$3"); do add_host "a$i"; done
        ;;
    down) down ;;
    cut) ip -n "$prefix-$3" link set eth0 down ;;
    restore) ip -n "$prefix-$3" link set eth0 up ;;
    exec) [ $# -ge 4 ] || usage; ns="$prefix-$3"; shift 3; exec ip netns exec "$ns" "$@" ;;
    *) usage ;;
esac
