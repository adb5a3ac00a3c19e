#!/bin/bash
# A routing loop, after the kernel selftest (netns.sh, "Try to set up a routing loop"): the
# tunnel's own encrypted datagrams are routed back into it (a route to the peer's endpoint via
# the tunnel device, allowed IPs covering everything, as a full tunnel without wg-quick's fwmark
# rule has it). Ten flood pings then must not make the transmit counter grow by 70000 bytes or
# more in a second, as the module's does not; the datagrams that came back are counted as
# routing_loop drops; with the route gone the tunnel works again. Over IPv4 and IPv6 endpoints,
# with the UDP, the TCP and the ICMP transport (its echoes to the peer's address, which has no
# port, come back the same way). Onion routing (one peer's endpoint behind another peer of
# the same device) is not a loop and still works.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
ns_link "$A" va "$NB" vb
nsx "$A" ip addr add 198.18.9.1/24 dev va && nsx "$A" ip addr add 2001:db8:18:9::1/64 dev va nodad
nsx "$NB" ip addr add 198.18.9.2/24 dev vb && nsx "$NB" ip addr add 2001:db8:18:9::2/64 dev vb nodad

wg_keys a b c
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb") PC=$(cat "$T_DIR/pc")
IA=${T_PREFIX}a IB=${T_PREFIX}b IC=${T_PREFIX}c
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock $SOCK/$IC.sock")
drops_of() { # NS IFACE REASON: that drop count from culvert show --json (0 when none)
	nsx "$1" "$CULVERT" show "$2" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)["interfaces"][0]["drops"] or {}
print(d.get(sys.argv[1], 0))' "$3"
}
tx_of() { nsx "$1" wg show "$2" transfer | awk '{print $3}'; }

# up NS IF PORT ME KEY ARGS...: a culvert, address 198.19.9.ME, link up
up() {
	local ns=$1 i=$2 port=$3 me=$4 k=$5; shift 5
	bg "$ns" "$i" "$CULVERT" wg -f "$@" "$i"
	wait_for test -S "$SOCK/$i.sock" || return 1
	nsx "$ns" wg set "$i" private-key "$T_DIR/k$k" listen-port "$port" &&
		ifconf "$ns" "$i" 9 "$me"
}

# loop NAME OUTER(4|6) ARGS...: a tunnel, the loop, the counter, recovery
loop() {
	local n=$1 v=$2 pa pb ep_b route; shift 2
	up "$A" "$IA" 51820 1 a "$@" && pa=$BG_PID && up "$NB" "$IB" 51821 2 b "$@" && pb=$BG_PID ||
		{ fail "$n: tunnel up"; return; }
	if [ "$v" = 4 ]; then ep_b=198.18.9.2:51821 route=198.18.9.2/32
	else ep_b="[2001:db8:18:9::2]:51821" route=2001:db8:18:9::2/128; fi
	nsx "$A" wg set "$IA" peer "$PB" allowed-ips 0.0.0.0/0,::/0 endpoint "$ep_b"
	nsx "$NB" wg set "$IB" peer "$PA" allowed-ips 198.19.9.1/32,2001:db8:19:9::1/128
	check "$n: ping through the tunnel" wait_ping "$A" 198.19.9.2 25
	nsx "$A" ip route add "$route" dev "$IA"
	local before after
	before=$(tx_of "$A" "$IA")
	quiet nsx "$A" ping -W 1 -c 10 -f 198.19.9.2
	sleep 1
	after=$(tx_of "$A" "$IA")
	[ -n "$after" ] && (( after - before < 70000 )) &&
		pass "$n: tx grew by $((after - before)) bytes in the loop (< 70000)" ||
		fail "$n: tx bounded in the loop" "grew by $((after - before)) bytes"
	local d; d=$(drops_of "$A" "$IA" routing_loop)
	[ "${d:-0}" -gt 0 ] && pass "$n: counted as routing_loop drops ($d)" || fail "$n: routing_loop drops" "${d:-none}"
	nsx "$A" "$CULVERT" show "$IA" | grep -Eq "^    routing_loop: [0-9]+" &&
		pass "$n: culvert show names routing_loop" || fail "$n: culvert show names routing_loop"
	nsx "$A" ip route del "$route" dev "$IA"
	check "$n: ping again once the route is gone" wait_ping "$A" 198.19.9.2 25
	check "$n: daemon still runs" kill -0 "$pa"
	stop "$pa"; stop "$pb"
}
loop "UDP, IPv4 endpoint" 4
loop "UDP, IPv6 endpoint" 6
loop "TCP transport, IPv4 endpoint" 4 --transport tcp
loop "ICMP transport, IPv4 endpoint" 4 --transport icmp
loop "ICMP transport, IPv6 endpoint" 6 --transport icmp

# Onion routing: a's peer c has its endpoint at b's tunnel address, reached through peer b of
# the same device. Not a loop: pings to c pass.
up "$A" "$IA" 51820 1 a && pa=$BG_PID && up "$NB" "$IB" 51821 2 b && pb=$BG_PID &&
	up "$NB" "$IC" 5 9 c && pc=$BG_PID || { fail "onion: tunnels up"; t_done; }
nsx "$NB" ip addr flush dev "$IC" && nsx "$NB" ip addr add 198.19.10.2/24 dev "$IC"
nsx "$A" ip addr add 198.19.10.1/24 dev "$IA"
nsx "$A" wg set "$IA" peer "$PB" allowed-ips 198.19.9.2/32 endpoint 198.18.9.2:51821 \
	peer "$PC" allowed-ips 198.19.10.2/32 endpoint 198.19.9.2:5
nsx "$NB" wg set "$IB" peer "$PA" allowed-ips 198.19.9.1/32
nsx "$NB" wg set "$IC" peer "$PA" allowed-ips 198.19.10.1/32
check "onion: ping to b" wait_ping "$A" 198.19.9.2 25
check "onion: ping to c through b, the same device" wait_ping "$A" 198.19.10.2 25
[ "$(drops_of "$A" "$IA" routing_loop)" = 0 ] && pass "onion: no routing_loop drop" ||
	fail "onion: no routing_loop drop" "$(drops_of "$A" "$IA" routing_loop)"
stop "$pa"; stop "$pb"; stop "$pc"
t_done
