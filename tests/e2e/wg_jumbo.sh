#!/bin/bash
# culvert wg at jumbo MTUs, after the kernel selftest's big_mtu section (netns.sh: the tunnel's
# MTU raised on the running device to 34816 - 1500 + 1420 = 34736, TCP both ways, IPv4 and IPv6
# as the outer transport over an underlay that does not fragment). Each direction must move at
# least half of what the same pair moves at MTU 1420 in this run (a margin for the shared
# machine; with TSO segments dropped as too_big TCP stalls at a few Mbit/s), with no too_big
# drop on either side. Then MTU 65535, the most a tun device takes: pings of every size that fits
# in one UDP datagram, and TCP (ICMP "too big" from culvert brings its segments down to what
# fits). Then a 1500-byte underlay: jumbo datagrams leave as IP fragments. Last, the TCP
# transport at MTU 34736.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
ns_link "$A" va "$NB" vb
for ns in "$A" "$NB"; do nsx "$ns" ip link set dev "$([ "$ns" = "$A" ] && echo va || echo vb)" mtu 65535; done
nsx "$A" ip addr add 198.18.9.1/24 dev va && nsx "$A" ip addr add 2001:db8:18:9::1/64 dev va nodad
nsx "$NB" ip addr add 198.18.9.2/24 dev vb && nsx "$NB" ip addr add 2001:db8:18:9::2/64 dev vb nodad

wg_keys a b
IA=${T_PREFIX}a IB=${T_PREFIX}b
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")

# up NS IF PORT PEERPUB ME OTHER KEY [culvert wg ARGS...]
up() {
	bg "$1" "$2" "$CULVERT" wg -f "${@:8}" "$2"
	wait_for test -S "$SOCK/$2.sock" || return 1
	nsx "$1" wg set "$2" private-key "$T_DIR/k$7" listen-port "$3" peer "$4" \
		allowed-ips "198.19.9.$6/32,2001:db8:99::$6/128" &&
		nsx "$1" ip addr add "198.19.9.$5/24" dev "$2" &&
		nsx "$1" ip addr add "2001:db8:99::$5/64" dev "$2" nodad && nsx "$1" ip link set "$2" up mtu 1420
}
up "$A" "$IA" 51820 "$(cat "$T_DIR/pb")" 1 2 a && PA=$BG_PID &&
	up "$NB" "$IB" 51821 "$(cat "$T_DIR/pa")" 2 1 b && PB=$BG_PID || { fail "tunnel up"; t_done; }

# endpoints V: both ends over IPv4 or IPv6
endpoints() {
	if [ "$1" = 4 ]; then
		nsx "$A" wg set "$IA" peer "$(cat "$T_DIR/pb")" endpoint 198.18.9.2:51821
		nsx "$NB" wg set "$IB" peer "$(cat "$T_DIR/pa")" endpoint 198.18.9.1:51820
	else
		nsx "$A" wg set "$IA" peer "$(cat "$T_DIR/pb")" endpoint "[2001:db8:18:9::2]:51821"
		nsx "$NB" wg set "$IB" peer "$(cat "$T_DIR/pa")" endpoint "[2001:db8:18:9::1]:51820"
	fi
}
mtu() { nsx "$A" ip link set "$IA" mtu "$1" && nsx "$NB" ip link set "$IB" mtu "$1"; }
drops_of() { # NS IFACE REASON: that drop count from culvert show --json (0 when none)
	nsx "$1" "$CULVERT" show "$2" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)["interfaces"][0]["drops"] or {}
print(d.get(sys.argv[1], 0))' "$3"
}
too_big() { echo $(( $(drops_of "$A" "$IA" too_big) + $(drops_of "$NB" "$IB" too_big) )); }

endpoints 4
wait_ping "$A" 198.19.9.2 25 || { fail "first ping"; t_done; }
# The daemon reads the device's MTU every second (ip link may change it, as below) through one
# socket kept for the purpose: in 3.5 idle seconds it opens no socket, and its reads (at least
# two, on a loaded machine) all go through one descriptor.
timeout -s INT 3.5 strace -f -qq -e trace=socket,ioctl -o "$T_DIR/idle.trace" -p "$PA" 2>/dev/null
reads=$(grep -c 'SIOCGIFMTU' "$T_DIR/idle.trace")
fds=$(sed -nE 's/.*ioctl\(([0-9]+), SIOCGIFMTU.*/\1/p' "$T_DIR/idle.trace" | sort -u | wc -l)
opened=$(grep -c ' socket(' "$T_DIR/idle.trace")
[ "$reads" -ge 2 ] && [ "$fds" = 1 ] && [ "$opened" = 0 ] &&
	pass "the MTU read every second through one kept socket ($reads reads, no socket opened)" ||
	fail "the MTU read every second through one kept socket" "$reads reads on $fds descriptors, $opened sockets opened"
base=$(iperf "$NB" "$A" 198.19.9.2 3) || base=
[ -n "$base" ] && pass "MTU 1420: TCP a->b $base Gbit/s (the reference)" || { fail "MTU 1420: TCP a->b"; t_done; }
floor=$(python3 -c "print('%.3f' % ($base * 0.5))")

# jumbo NAME OUTER INNER_ADDR_B INNER_ADDR_A: both directions at MTU 34736, and no too_big
jumbo() {
	local n=$1 g before
	endpoints "$2"
	mtu 34736
	before=$(too_big)
	check "$n: ping of 34000 bytes" qping "$A" -c2 -W2 -s 34000 "$3"
	g=$(iperf "$NB" "$A" "$3" 3) && ge "$g" "$floor" && pass "$n: TCP a->b $g Gbit/s (>= $floor)" ||
		fail "$n: TCP a->b" "${g:-no result} Gbit/s, want >= $floor"
	g=$(iperf "$A" "$NB" "$4" 3) && ge "$g" "$floor" && pass "$n: TCP b->a $g Gbit/s (>= $floor)" ||
		fail "$n: TCP b->a" "${g:-no result} Gbit/s, want >= $floor"
	local after; after=$(too_big)
	[ "$after" = "$before" ] && pass "$n: no too_big drops" || fail "$n: no too_big drops" "$before -> $after"
	mtu 1420
}
jumbo "MTU 34736, IPv4 inside IPv6" 6 198.19.9.2 198.19.9.1
jumbo "MTU 34736, IPv6 inside IPv4" 4 2001:db8:99::2 2001:db8:99::1
jumbo "MTU 34736, IPv4 inside IPv4" 4 198.19.9.2 198.19.9.1

# MTU 65535: a UDP datagram carries at most 65507 bytes over IPv4 (65527 over IPv6), so inner
# packets up to 65472 (IPv4 outer) fit after the 32 bytes of header and tag.
endpoints 4
mtu 65535
check "MTU 65535: ping of 65444 bytes (65472 with headers) over IPv4" qping "$A" -c2 -W2 -s 65444 198.19.9.2
check "MTU 65535: ping of 20000 bytes over IPv4" qping "$A" -c2 -W2 -s 20000 198.19.9.2
endpoints 6
check "MTU 65535: ping6 of 65424 bytes over IPv6" qping "$A" -c2 -W2 -s 65424 2001:db8:99::2
g=$(iperf "$NB" "$A" 198.19.9.2 3) && ge "$g" "$floor" && pass "MTU 65535: TCP a->b $g Gbit/s (>= $floor)" ||
	fail "MTU 65535: TCP a->b" "${g:-no result} Gbit/s, want >= $floor"
g=$(iperf "$A" "$NB" 2001:db8:99::1 3) && ge "$g" "$floor" && pass "MTU 65535: TCP b->a IPv6 $g Gbit/s (>= $floor)" ||
	fail "MTU 65535: TCP b->a IPv6" "${g:-no result} Gbit/s, want >= $floor"

# An underlay of 1500: the kernel fragments the large datagrams, the peer reassembles them.
mtu 34736
nsx "$A" ip link set va mtu 1500; nsx "$NB" ip link set vb mtu 1500
for v in 4 6; do
	endpoints $v
	check "underlay MTU 1500, IPv$v outer: ping of 30000 bytes" qping "$A" -c2 -W2 -s 30000 198.19.9.2
	g=$(iperf "$NB" "$A" 198.19.9.2 2) && ge "$g" 0.05 && pass "underlay MTU 1500, IPv$v outer: TCP a->b $g Gbit/s" ||
		fail "underlay MTU 1500, IPv$v outer: TCP a->b" "${g:-no result} Gbit/s"
done

check "both daemons still run" kill -0 "$PA" "$PB"
stop "$PA"; stop "$PB"

# The TCP transport frames each message with a 16-bit length: jumbo messages fit.
nsx "$A" ip link set va mtu 65535; nsx "$NB" ip link set vb mtu 65535
up "$A" "$IA" 51820 "$(cat "$T_DIR/pb")" 1 2 a --transport tcp && PA=$BG_PID &&
	up "$NB" "$IB" 51821 "$(cat "$T_DIR/pa")" 2 1 b --transport tcp && PB=$BG_PID || { fail "TCP transport up"; t_done; }
endpoints 4
mtu 34736
if wait_ping "$A" 198.19.9.2 25; then
	check "TCP transport, MTU 34736: ping of 34000 bytes" qping "$A" -c2 -W2 -s 34000 198.19.9.2
	g=$(iperf "$NB" "$A" 198.19.9.2 3) && ge "$g" "$floor" && pass "TCP transport, MTU 34736: TCP a->b $g Gbit/s (>= $floor)" ||
		fail "TCP transport, MTU 34736: TCP a->b" "${g:-no result} Gbit/s, want >= $floor"
	[ "$(too_big)" = 0 ] && pass "TCP transport, MTU 34736: no too_big drops" ||
		fail "TCP transport, MTU 34736: no too_big drops" "$(too_big)"
else
	fail "TCP transport, MTU 34736: first ping"
fi
stop "$PA"; stop "$PB"
t_done
