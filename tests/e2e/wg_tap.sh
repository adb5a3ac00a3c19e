#!/bin/bash
# culvert wg --mode tap: three sites (a hub and two spokes), each a namespace whose bridge joins
# the tap and a veth to a LAN host behind it. ARP, ping and ping -6 (ND) between every pair of
# LAN hosts, a broadcast reaching every other site once, iperf3 from spoke to spoke through the
# hub, a host moving from one site to another, a MAC flood from one site counted and leaving the
# others working, AllowedIPs refusing a site's spoofed source, the switch table in `culvert show`
# (text and JSON), and a tun-mode peer and a tap-mode peer rejecting each other's data cleanly;
# with offloads on the tap (TSO read, merged writes) and without, files cross intact and the
# split frames' checksums are right.
source "$(dirname "$0")/lib.sh"
umask 077

H=$(ns_new hub) && S1=$(ns_new s1) && S2=$(ns_new s2) || { fail setup "cannot create namespaces"; t_done; }
L0=$(ns_new l0) && L1=$(ns_new l1) && L2=$(ns_new l2) && LM=$(ns_new lm) ||
	{ fail setup "cannot create namespaces"; t_done; }
ns_link "$H" u1 "$S1" u0
ns_link "$H" u2 "$S2" u0
nsx "$H" ip addr add 198.18.1.1/24 dev u1
nsx "$S1" ip addr add 198.18.1.2/24 dev u0
nsx "$H" ip addr add 198.18.2.1/24 dev u2
nsx "$S2" ip addr add 198.18.2.2/24 dev u0

wg_keys h s1 s2
PH=$(cat "$T_DIR/ph") P1=$(cat "$T_DIR/ps1") P2=$(cat "$T_DIR/ps2")
# the control sockets share one directory: one interface name a namespace
declare -A IFN=([$H]=${T_PREFIX}h [$S1]=${T_PREFIX}1 [$S2]=${T_PREFIX}2)
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/${T_PREFIX}?.sock")
# in_table MAC PEER: a switch table row of `culvert show` on stdin (keys hold '+' and '/')
in_table() { awk -v m="$1" -v p="$2" '$1 == m && $2 == 0 && $3 == p { f = 1 } END { exit !f }'; }

# site NS [ARGS]: culvert wg --mode tap, a bridge br0 joining the tap; waits for the socket
site() {
	local i=${IFN[$1]}
	bg "$1" "tap-$i" "$CULVERT" wg -f --mode tap "${@:2}" "$i" || return 1
	wait_for test -S "$SOCK/$i.sock" || return 1
	nsx "$1" ip link add br0 type bridge && nsx "$1" ip link set br0 up &&
		nsx "$1" ip link set "$i" master br0 && nsx "$1" ip link set "$i" up
}
# lan SITE HOST N: HOST's eth0 (198.19.0.N/24, 2001:db8:19::N/64) on SITE's bridge, with the
# tap's MTU: a bridge has no path MTU to tell, so the LAN's hosts must use the tunnel's
lan() {
	ns_link "$1" "h$3" "$2" eth0
	nsx "$1" ip link set "h$3" mtu 1394
	nsx "$2" ip link set eth0 mtu 1394
	nsx "$1" ip link set "h$3" master br0
	nsx "$2" ip addr add "198.19.0.$3/24" dev eth0
	nsx "$2" ip addr add "2001:db8:19::$3/64" dev eth0 nodad
}
# two workers with UDP offloads at the hub, one without at spoke 1, one with at spoke 2
site "$H" --workers 2 && site "$S1" --workers 1 --no-offload && site "$S2" --workers 1 ||
	{ fail "three tap sites start" "see $T_DIR"; t_done; }
pass "three tap sites start (2 workers, 1 without offloads, 1 with)"
check "the tap's MTU leaves room for the Ethernet header and tags" \
	test "$(nsx "$H" cat /sys/class/net/${IFN[$H]}/mtu)" = 1394
lan "$H" "$L0" 1
lan "$S1" "$L1" 2
lan "$S2" "$L2" 3
lan "$S1" "$LM" 9

# The hub claims each spoke's own host (so neither can speak as the other's); the mover's
# address is claimed by no one, so it may come from either spoke. The spokes give the hub the
# whole LAN.
nsx "$H" wg set "${IFN[$H]}" private-key "$T_DIR/kh" listen-port 51820 \
	peer "$P1" allowed-ips 198.19.0.2/32,2001:db8:19::2/128 \
	peer "$P2" allowed-ips 198.19.0.3/32,2001:db8:19::3/128
nsx "$S1" wg set "${IFN[$S1]}" private-key "$T_DIR/ks1" peer "$PH" endpoint 198.18.1.1:51820 \
	allowed-ips 198.19.0.0/24,2001:db8:19::/64 persistent-keepalive 25
nsx "$S2" wg set "${IFN[$S2]}" private-key "$T_DIR/ks2" peer "$PH" endpoint 198.18.2.1:51820 \
	allowed-ips 198.19.0.0/24,2001:db8:19::/64 persistent-keepalive 25

# ---- every pair, IPv4 (ARP) and IPv6 (ND) ------------------------------------------------
declare -A LNS=([1]=$L0 [2]=$L1 [3]=$L2)
wait_ping "$L1" 198.19.0.1 50 >/dev/null
for a in 1 2 3; do
	for b in 1 2 3; do
		[ "$a" = "$b" ] && continue
		check "ping 198.19.0.$a -> .$b" wait_ping "${LNS[$a]}" "198.19.0.$b" 25
		check "ping -6 2001:db8:19::$a -> ::$b" wait_ping "${LNS[$a]}" "2001:db8:19::$b" 25
	done
done
nsx "$L1" ip neigh show 198.19.0.3 | grep -q lladdr &&
	pass "ARP resolved across two tunnels" || fail "ARP resolved across two tunnels"
check "full-size frames fit (1394-byte ping, DF)" quiet nsx "$L1" ping -c1 -W2 -s 1366 -M do 198.19.0.3

# ---- the switch table in culvert show -----------------------------------------------------
mac2=$(nsx "$L1" cat /sys/class/net/eth0/address)
show=$(nsx "$H" "$CULVERT" show "${IFN[$H]}")
grep -q "switch table:" <<<"$show" && in_table "$mac2" "$P1" <<<"$show" &&
	pass "culvert show lists the spoke's host on its peer" || fail "culvert show lists the spoke's host on its peer" "$show"
nsx "$H" "$CULVERT" show "${IFN[$H]}" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)["interfaces"][0]
e = [x for x in d["fdb"] if x["mac"] == sys.argv[1]]
assert e and e[0]["peer"] == sys.argv[2] and e[0]["vlan"] == 0 and e[0]["age"] >= 0, d["fdb"]
assert "tap_port_full" in d["drops"]
' "$mac2" "$P1" && pass "culvert show --json lists the switch table" || fail "culvert show --json lists the switch table"

# ---- a broadcast reaches every other site once ---------------------------------------------
for n in 2 3; do
	nsx "${LNS[$n]}" timeout 8 tcpdump -U -i eth0 -n -Q in -w "$T_DIR/bc$n.pcap" icmp and dst 198.19.0.255 \
		>/dev/null 2>&1 &
	T_PIDS+=("$!")
	eval "TD$n=$!"
done
nsx "$L0" timeout 8 tcpdump -U -i eth0 -n -Q in -w "$T_DIR/bc1.pcap" icmp and dst 198.19.0.255 >/dev/null 2>&1 &
TD1=$!; T_PIDS+=("$TD1")
sleep 1.5
nsx "$L0" ping -b -c5 -i0.2 -W1 198.19.0.255 >/dev/null 2>&1
sleep 1
for p in $TD1 $TD2 $TD3; do kill -INT "$p" 2>/dev/null; reap "$p" 5; done
c1=$(tcpdump -r "$T_DIR/bc1.pcap" 2>/dev/null | wc -l)
c2=$(tcpdump -r "$T_DIR/bc2.pcap" 2>/dev/null | wc -l)
c3=$(tcpdump -r "$T_DIR/bc3.pcap" 2>/dev/null | wc -l)
[ "$c2" = 5 ] && [ "$c3" = 5 ] && [ "$c1" = 0 ] &&
	pass "5 broadcasts from the hub's LAN arrive once at each spoke, never back" ||
	fail "5 broadcasts from the hub's LAN arrive once at each spoke, never back" "hub $c1, s1 $c2, s2 $c3"

# ---- iperf3 from spoke to spoke, relayed by the hub ------------------------------------------
moved() { python3 -c 'import sys; sys.exit(float(sys.argv[1]) < 0.01)' "$1"; }
gbps=$(iperf "$L2" "$L1" 198.19.0.3 2) && moved "$gbps" && pass "iperf3 spoke to spoke through the hub ($gbps Gbit/s)" ||
	fail "iperf3 spoke to spoke through the hub" "${gbps:-no result}"
gbps=$(iperf "$L0" "$L1" 198.19.0.1 2) && moved "$gbps" && pass "iperf3 spoke to hub ($gbps Gbit/s)" ||
	fail "iperf3 spoke to hub" "${gbps:-no result}"

# ---- offloads on the tap -------------------------------------------------------------------
# The hub and spoke 2 take vnet headers (TSO read, merged writes); spoke 1 runs --no-offload.
# A file crosses each kind of pair byte for byte; spoke 1, which writes frames as it decrypts
# them, gets the checksums the hub's split computed and its LAN host checks them; the hub's tap
# sees frames larger than its MTU both ways: super-frames read (TSO) and merged ones written
# (GRO). (VLAN-tagged frames, whose header is 18 bytes, are left to the unit tests: kernels
# without 802.1Q support cannot make them.)
shown=$(nsx "$H" "$CULVERT" show "${IFN[$H]}") s1shown=$(nsx "$S1" "$CULVERT" show "${IFN[$S1]}")
grep -q "tap vnet_hdr tso" <<<"$shown" && grep -q "tap plain" <<<"$s1shown" &&
	pass "culvert show: the tap takes TSO; with --no-offload it is plain" ||
	fail "culvert show: the tap takes TSO; with --no-offload it is plain" "$shown / $s1shown"
head -c 20000000 /dev/urandom >"$T_DIR/file"
SUM=$(sha256sum <"$T_DIR/file" | cut -d' ' -f1)
tap_stat() { nsx "$H" cat "/sys/class/net/${IFN[$H]}/statistics/$1"; }
rx0=$(tap_stat rx_packets) rxb0=$(tap_stat rx_bytes) tx0=$(tap_stat tx_packets) txb0=$(tap_stat tx_bytes)
for pair in "$L2 $L0 198.19.0.1 spoke 2 -> hub" "$L0 $L2 198.19.0.3 hub -> spoke 2"; do
	read -r from to addr what <<<"$pair"
	[ "$(xfer "$from" "$to" "$addr" "$T_DIR/file")" = "$SUM" ] && pass "20 MB $what, offloads both ends, intact" ||
		fail "20 MB $what, offloads both ends, intact"
done
avg() { echo $((($2 - $1) / ($4 - $3 > 0 ? $4 - $3 : 1))); }
rxavg=$(avg "$rxb0" "$(tap_stat rx_bytes)" "$rx0" "$(tap_stat rx_packets)")
txavg=$(avg "$txb0" "$(tap_stat tx_bytes)" "$tx0" "$(tap_stat tx_packets)")
[ "$rxavg" -gt 2000 ] && [ "$txavg" -gt 2000 ] &&
	pass "the hub's tap writes merged frames and reads super-frames (avg $rxavg and $txavg bytes)" ||
	fail "the hub's tap writes merged frames and reads super-frames" "avg written $rxavg, read $txavg bytes"
capture_start "$L1" eth0 "$T_DIR/tap.pcap"
[ "$(xfer "$L0" "$L1" 198.19.0.2 "$T_DIR/file")" = "$SUM" ] &&
	pass "20 MB hub -> spoke 1 (split at the hub, written plain at spoke 1) intact" ||
	fail "20 MB hub -> spoke 1 (split at the hub, written plain at spoke 1) intact"
capture_stop
total=$(tshark_ip "$T_DIR/tap.pcap" -Y 'tcp && ip.src==198.19.0.1' | wc -l)
bad=$(tshark_ip "$T_DIR/tap.pcap" -Y '(tcp.checksum.status==0 || ip.checksum.status==0) && ip.src==198.19.0.1' \
	2>/dev/null | wc -l)
[ "$total" -gt 1000 ] && [ "$bad" -eq 0 ] && pass "no bad checksum in $total frames the hub split" ||
	fail "no bad checksum in the frames the hub split" "$bad bad of $total"

# ---- a host moves from spoke 1 to spoke 2 -------------------------------------------------
check "the mover answers behind spoke 1" wait_ping "$L0" 198.19.0.9 25
nsx "$S1" ip link set h9 netns "$S2"
nsx "$S2" ip link set h9 master br0
nsx "$S2" ip link set h9 up
# it speaks first, as a host that moved does (a gratuitous ARP would do the same)
nsx "$LM" ping -c1 -W1 198.19.0.3 >/dev/null 2>&1
check "the mover answers behind spoke 2 (from the hub's LAN)" wait_ping "$L0" 198.19.0.9 25
check "the mover answers behind spoke 2 (from spoke 1's LAN)" wait_ping "$L1" 198.19.0.9 25
check "the mover answers behind spoke 2 (IPv6)" wait_ping "$L0" 2001:db8:19::9 25
macm=$(nsx "$LM" cat /sys/class/net/eth0/address)
nsx "$H" "$CULVERT" show "${IFN[$H]}" | in_table "$macm" "$P2" &&
	pass "the hub's table follows the mover to spoke 2" || fail "the hub's table follows the mover to spoke 2"

# ---- AllowedIPs: spoke 1 cannot speak as spoke 2's host --------------------------------------
before=$(nsx "$H" "$CULVERT" show "${IFN[$H]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["drops"]["unallowed_src"])')
nsx "$L1" ip addr add 198.19.0.3/32 dev eth0 nodad 2>/dev/null || nsx "$L1" ip addr add 198.19.0.3/32 dev eth0
nsx "$L1" ping -c3 -i0.2 -W1 -I 198.19.0.3 198.19.0.1 >/dev/null 2>&1
nsx "$L1" ip addr del 198.19.0.3/32 dev eth0
after=$(nsx "$H" "$CULVERT" show "${IFN[$H]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["drops"]["unallowed_src"])')
[ "$after" -gt "$before" ] && pass "a source claimed by another peer is dropped (unallowed_src $before -> $after)" ||
	fail "a source claimed by another peer is dropped" "unallowed_src $before -> $after"

# ---- a MAC flood from spoke 1's LAN ----------------------------------------------------------
cat >"$T_DIR/flood.py" <<'EOF'
import os, socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for i in range(3000):
    src = bytes([0x02]) + os.urandom(5)
    # unknown unicast to a made-up MAC: flooded wherever it is let through
    s.send(b"\x02\x00\x00\xee\xee\xee" + src + b"\x88\xb5" + b"flood" * 10)
EOF
nsx "$L1" python3 "$T_DIR/flood.py"
sleep 1
drops=$(nsx "$S1" "$CULVERT" show "${IFN[$S1]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["drops"]["tap_port_full"])')
[ "${drops:-0}" -gt 0 ] && pass "the MAC flood is counted (tap_port_full $drops on spoke 1)" ||
	fail "the MAC flood is counted" "tap_port_full ${drops:-none}"
n=$(nsx "$H" "$CULVERT" show "${IFN[$H]}" | grep -cF " $P1 ")
[ "$n" -le 1024 ] && pass "the hub holds at most 1024 of spoke 1's MACs ($n)" || fail "the hub holds at most 1024 of spoke 1's MACs" "$n"
check "after the flood: hub's LAN <-> spoke 2" quiet nsx "$L0" ping -c2 -i0.2 -W1 198.19.0.3
check "after the flood: spoke 2 <-> hub's LAN (IPv6)" quiet nsx "$L2" ping -6 -c2 -i0.2 -W1 2001:db8:19::1

# ---- a removed peer's entries go with it -----------------------------------------------------
nsx "$H" wg set "${IFN[$H]}" peer "$P2" remove
n=$(nsx "$H" "$CULVERT" show "${IFN[$H]}" | grep -cF " $P2 ")
[ "$n" = 0 ] && pass "removing a peer removes its MACs" || fail "removing a peer removes its MACs" "$n left"

# ---- tun mode against tap mode: each rejects the other's data --------------------------------
X=$(ns_new x) && Y=$(ns_new y) || { fail setup "cannot create namespaces"; t_done; }
ns_link "$X" ux "$Y" uy
nsx "$X" ip addr add 198.18.3.1/24 dev ux
nsx "$Y" ip addr add 198.18.3.2/24 dev uy
IFN[$X]=${T_PREFIX}x IFN[$Y]=${T_PREFIX}y
bg "$X" tap-x "$CULVERT" wg -f --mode tap "${IFN[$X]}"
bg "$Y" tun-y "$CULVERT" wg -f "${IFN[$Y]}"
wait_for test -S "$SOCK/${IFN[$X]}.sock" && wait_for test -S "$SOCK/${IFN[$Y]}.sock" ||
	fail "tap and tun peers start"
nsx "$X" wg set "${IFN[$X]}" private-key "$T_DIR/ks1" listen-port 51820 peer "$P2" allowed-ips 198.19.3.0/24
nsx "$Y" wg set "${IFN[$Y]}" private-key "$T_DIR/ks2" peer "$P1" allowed-ips 198.19.3.0/24 endpoint 198.18.3.1:51820
nsx "$X" ip addr add 198.19.3.1/24 dev "${IFN[$X]}"
nsx "$Y" ip addr add 198.19.3.2/24 dev "${IFN[$Y]}"
nsx "$X" ip link set "${IFN[$X]}" up
nsx "$Y" ip link set "${IFN[$Y]}" up
nsx "$Y" ping -c3 -i0.3 -W1 198.19.3.1 >/dev/null 2>&1	# IP packets to the tap peer
nsx "$X" ping -c3 -i0.3 -W1 198.19.3.2 >/dev/null 2>&1	# ARP frames to the tun peer
drop_of() { nsx "$1" "$CULVERT" show "${IFN[$1]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["drops"][sys.argv[1]])' "$2"; }
bx=$(drop_of "$X" bad_inner_packet) by=$(drop_of "$Y" bad_inner_packet)
[ "${bx:-0}" -gt 0 ] && pass "the tap peer drops IP packets as bad_inner_packet ($bx)" ||
	fail "the tap peer drops IP packets as bad_inner_packet" "$bx"
[ "${by:-0}" -gt 0 ] && pass "the tun peer drops frames as bad_inner_packet ($by)" ||
	fail "the tun peer drops frames as bad_inner_packet" "$by"
rx=$(nsx "$Y" cat "/sys/class/net/${IFN[$Y]}/statistics/rx_packets")
[ "$rx" = 0 ] && pass "nothing reached the tun device" || fail "nothing reached the tun device" "rx_packets $rx"
rx=$(nsx "$X" cat "/sys/class/net/${IFN[$X]}/statistics/rx_packets")
[ "$rx" = 0 ] && pass "nothing reached the tap device" || fail "nothing reached the tap device" "rx_packets $rx"

# ---- culvert up with Mode = tap; culvert strip leaves it out -----------------------------------
U=$(ns_new u) || { fail setup "cannot create namespaces"; t_done; }
IU=${T_PREFIX}u
T_CLEANUP+=("rm -f $SOCK/$IU.sock")
cat >"$T_DIR/$IU.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/kh")
Address = 198.19.4.1/24
Mode = tap

[Peer]
PublicKey = $P1
AllowedIPs = 198.19.4.0/24
EOF
if nsx "$U" "$CULVERT" up "$T_DIR/$IU.conf" >"$T_DIR/up.log" 2>&1; then
	nsx "$U" ip -d link show "$IU" | grep -q "tun type tap" && pass "culvert up with Mode = tap makes a tap" ||
		fail "culvert up with Mode = tap makes a tap" "$(nsx "$U" ip -d link show "$IU")"
	check "culvert up gives the tap the guessed MTU less the frame's header" \
		test "$(nsx "$U" cat "/sys/class/net/$IU/mtu")" = 1394
	nsx "$U" "$CULVERT" show "$IU" --json | python3 -c 'import json,sys; assert json.load(sys.stdin)["interfaces"][0]["culvert"]["mode"] == "tap"' &&
		pass "culvert show says mode tap" || fail "culvert show says mode tap"
	check "culvert down" nsx "$U" "$CULVERT" down "$IU"
else
	fail "culvert up with Mode = tap" "$(cat "$T_DIR/up.log")"
fi
"$CULVERT" strip "$T_DIR/$IU.conf" >"$T_DIR/stripped.conf"
! grep -qi "^mode" "$T_DIR/stripped.conf" && grep -q "^PublicKey = $P1" "$T_DIR/stripped.conf" &&
	pass "culvert strip removes Mode" || fail "culvert strip removes Mode" "$(cat "$T_DIR/stripped.conf")"
t_done
