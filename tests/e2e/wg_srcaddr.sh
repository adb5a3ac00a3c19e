#!/bin/bash
# culvert wg answers from the address the peer contacted, as the kernel module does: the
# source-address sections of the module's selftest (tools/testing/selftests/wireguard/netns.sh,
# "sticky but not too sticky"), with its addresses translated (10.0.0.0/24 -> 198.18.0.0/24,
# fd00:aa::/96 -> 2001:db8:aa::/96, 10.50.0.0/24 -> 198.18.50.0/24, 192.168.241.0/24 ->
# 198.19.241.0/24) and real `wg`. Both ends are culvert.
#   1. not too sticky: the address a peer was reached at is removed, the next packet leaves
#      from another one (IPv4 and IPv6);
#   2. reply to sender: with two addresses on the link, the peer sees the answer come from the
#      one it sent to (wg show endpoints);
#   3. the address contacted belongs to another interface (a veth) than the one the packet
#      came in on and the answer leaves through.
# Also IPv6 link-local: the answer leaves from the link-local address asked, on its link.
source "$(dirname "$0")/lib.sh"
umask 077

N1=$(ns_new 1) && N2=$(ns_new 2) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$N1" "$N2")
I1=${T_PREFIX}w1 I2=${T_PREFIX}w2
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$I1.sock $SOCK/$I2.sock")
wg_keys 1 2
P1=$(cat "$T_DIR/p1") P2=$(cat "$T_DIR/p2")
ip1() { nsx "$N1" ip "$@"; }
ip2() { nsx "$N2" ip "$@"; }
# ping1 / ping2: one ping through the tunnel to the other side, as the selftest does
ping1() { quiet nsx "$N1" ping -W 1 -c 1 198.19.241.2; }
ping2() { quiet nsx "$N2" ping -W 1 -c 1 198.19.241.1; }
# endpoint_is NS IF PUB WANT: `wg show IF endpoints` is exactly that one line
endpoint_is() {
	local got; got=$(nsx "$1" wg show "$2" endpoints)
	[ "$got" = "$3	$4" ] || { echo "  endpoints: $got (want $4)"; return 1; }
}

for n in 1 2; do
	ns=N$n i=I$n
	bg "${!ns}" "wg$n" "$CULVERT" wg -f -d "${!i}"
	wait_for test -S "$SOCK/${!i}.sock" || { fail "culvert wg $n starts" "no control socket"; t_done; }
done
nsx "$N1" wg set "$I1" private-key "$T_DIR/k1" listen-port 1 peer "$P2" allowed-ips 198.19.241.2/32
nsx "$N2" wg set "$I2" private-key "$T_DIR/k2" listen-port 2 peer "$P1" allowed-ips 198.19.241.1/32
ip1 addr add 198.19.241.1/24 dev "$I1" && ip1 link set "$I1" up
ip2 addr add 198.19.241.2/24 dev "$I2" && ip2 link set "$I2" up
# No duplicate address detection, as in the selftest: a tentative link-local address holds up
# neighbour discovery for a second after the link comes up.
for ns in "$N1" "$N2"; do
	nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip link add veth1 netns "$N1" type veth peer name veth2 netns "$N2"
# Removing a primary IPv4 address takes its secondaries with it unless they are promoted.
nsx "$N1" sysctl -qw net.ipv4.conf.veth1.promote_secondaries=1

# ---- 1. not too sticky: fall over to a new address when the old one is removed --------------
ip1 addr add 198.18.0.1/24 dev veth1
ip1 addr add 2001:db8:aa::1/96 dev veth1 nodad
ip2 addr add 198.18.0.2/24 dev veth2
ip2 addr add 2001:db8:aa::2/96 dev veth2 nodad
ip1 link set veth1 up
ip2 link set veth2 up
nsx "$N1" wg set "$I1" peer "$P2" endpoint 198.18.0.2:2
check "IPv4: first ping (handshake)" wait_ping "$N1" 198.19.241.2 25
ip1 addr add 198.18.0.10/24 dev veth1
ip1 addr del 198.18.0.1/24 dev veth1
check "IPv4: ping after the address it was reached at is removed" ping1
check "IPv4: the peer sees the new address" endpoint_is "$N2" "$I2" "$P1" 198.18.0.10:1
nsx "$N1" wg set "$I1" peer "$P2" endpoint "[2001:db8:aa::2]:2"
# (the first IPv6 datagram here waits a second for neighbour discovery now and then, with
# culvert as with the code before it: a few tries)
check "IPv6: ping" wait_ping "$N1" 198.19.241.2 10
ip1 addr add 2001:db8:aa::10/96 dev veth1 nodad
ip1 addr del 2001:db8:aa::1/96 dev veth1
check "IPv6: ping after the address it was reached at is removed" ping1
check "IPv6: the peer sees the new address" endpoint_is "$N2" "$I2" "$P1" "[2001:db8:aa::10]:1"

# ---- 2. reply to sender: answers leave from the address the peer sent to ---------------------
ip1 link set veth1 down
ip2 link set veth2 down
ip1 addr flush dev veth1
ip2 addr flush dev veth2
ip1 addr add 198.18.0.1/24 dev veth1
ip1 addr add 198.18.0.2/24 dev veth1
ip1 addr add 2001:db8:aa::1/96 dev veth1 nodad
ip1 addr add 2001:db8:aa::2/96 dev veth1 nodad
ip2 addr add 198.18.0.3/24 dev veth2
ip2 addr add 2001:db8:aa::3/96 dev veth2 nodad
ip1 link set veth1 up
ip2 link set veth2 up
for ep in 198.18.0.1:1 "[2001:db8:aa::1]:1" 198.18.0.2:1 "[2001:db8:aa::2]:1"; do
	nsx "$N2" wg set "$I2" peer "$P1" endpoint "$ep"
	# the first ping after the links came back may wait for neighbour discovery
	check "reply to sender $ep: ping" wait_ping "$N2" 198.19.241.1 10
	check "reply to sender $ep: the answer came from it" endpoint_is "$N2" "$I2" "$P1" "$ep"
done

# IPv6 link-local (not in the selftest): the answer leaves from the link-local address asked,
# on its link. Two on veth1, as the global ones above.
ip1 addr add fe80::a1/64 dev veth1 nodad
ip1 addr add fe80::a2/64 dev veth1 nodad
ip2 addr add fe80::b/64 dev veth2 nodad
for ll in a1 a2; do
	nsx "$N2" wg set "$I2" peer "$P1" endpoint "[fe80::$ll%veth2]:1"
	check "link-local fe80::$ll: ping" wait_ping "$N2" 198.19.241.1 10
	got=$(nsx "$N2" wg show "$I2" endpoints)
	[[ $got == "$P1	[fe80::$ll%"*"]:1" ]] && pass "link-local fe80::$ll: the answer came from it" ||
		fail "link-local fe80::$ll: the answer came from it" "endpoints: $got"
done

# ---- 3. the address contacted is on another interface than the route back ------------------
# (a veth pair inside the namespace stands in for the selftest's dummy device)
ip1 link add dummy0 type veth peer name dummy1
ip1 addr add 198.18.50.1/24 dev dummy0
ip1 link set dummy0 up
ip1 link set dummy1 up
ip2 route add 198.18.50.0/24 dev veth2
nsx "$N2" wg set "$I2" peer "$P1" endpoint 198.18.50.1:1
check "address of another interface: ping" ping2
check "address of another interface: the answer came from it" endpoint_is "$N2" "$I2" "$P1" 198.18.50.1:1
# The address goes: what was answered from it now leaves from one the host still has, and the
# peer roams there.
ip1 link del dummy0
check "address of another interface removed: ping from its side" ping1
got=$(nsx "$N2" wg show "$I2" endpoints)
[[ $got == "$P1	198.18.0."[12]":1" ]] && pass "address of another interface removed: the peer roamed" ||
	fail "address of another interface removed: the peer roamed" "endpoints: $got"

t_done
