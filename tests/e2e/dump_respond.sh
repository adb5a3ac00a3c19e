#!/bin/bash
# culvert respond answers ping (IPv4, IPv6) on tun and, with ARP and neighbour discovery, on tap;
# culvert dump decodes what the kernel sends into a device and writes pcap that tshark reads;
# malformed packets sent out of a device are reported, not crashed on.
T_PRIVATE_TUN=1 source "$(dirname "$0")/lib.sh"

ns=$(ns_new dr) || { fail "namespace"; t_done; }
# No router solicitations: they would be extra packets in the counted dumps.
nsx "$ns" sysctl -qw net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.router_solicitations=0

# ping_ok NAME ARGS...: 3 replies, payload and checksum verified by ping itself
ping_ok() {
	local n=$1 out; shift
	out=$(nsx "$ns" ping -c3 -i0.2 -W2 "$@" 2>&1)
	if [ $? -eq 0 ] && grep -q ' 3 received' <<<"$out" && ! grep -qiE 'wrong data|bad checksum|DUP' <<<"$out"; then
		pass "$n"
	else
		fail "$n" "$(tail -3 <<<"$out" | tr '\n' ' ')"
	fi
}
# up DEV V4 V6: link up, addresses without DAD
up() { nsx "$ns" ip link set "$1" up && nsx "$ns" ip addr add "$2" dev "$1" && nsx "$ns" ip addr add "$3" dev "$1" nodad; }
attached() { ! nsx "$ns" ip link show "$1" | grep -q NO-CARRIER; }
# interrupt PID: SIGINT, then wait for a clean exit; returns its status
interrupt() { kill -INT "$1"; local i; for i in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done; wait "$1"; }
# inject DEV HEX...: send each frame out of DEV with a packet socket, so the device's reader gets it
cat >"$T_DIR/inject.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
PY
inject() { nsx "$ns" python3 "$T_DIR/inject.py" "$@"; }

# --- respond on tun, the device created by culvert itself; one address on-link, one routed
bg "$ns" respond-tun "$CULVERT" respond ctun0 -v; rp=$BG_PID
check "tun: respond creates the device" wait_for nsx "$ns" ip link show ctun0
up ctun0 198.19.0.1/24 2001:db8:10::1/64
nsx "$ns" ip route add 198.19.50.0/24 dev ctun0
nsx "$ns" ip -6 route add 2001:db8:50::/64 dev ctun0
ping_ok "tun: ping IPv4" 198.19.0.2
ping_ok "tun: ping IPv4 routed, pattern and 1000-byte payload" -p c0ffee42 -s 1000 198.19.50.9
ping_ok "tun: ping IPv6" -6 2001:db8:10::5
ping_ok "tun: ping IPv6 routed, pattern" -6 -p 5a5a -s 300 2001:db8:50::7
inject ctun0 45000014 600000000000 00
check "tun: respond exits cleanly on SIGINT" interrupt "$rp"
check "tun: respond counts" grep -q '^answered 12, ignored [0-9]*, malformed 3$' "$T_DIR/respond-tun.log"
check "tun: device was not persistent" wait_for eval "! nsx $ns ip link show ctun0"

# --- respond on tap: ARP and ND for the emulated host, not for the device's own address
mac=02:00:5e:00:aa:01
bg "$ns" respond-tap "$CULVERT" respond ctap0 --tap --mac $mac -v; rp=$BG_PID
wait_for nsx "$ns" ip link show ctap0
up ctap0 198.19.2.1/24 2001:db8:12::1/64
ping_ok "tap: ping IPv4 (ARP answered)" -p ff00ee11 198.19.2.2
ping_ok "tap: ping IPv6 (neighbour solicitation answered)" -6 2001:db8:12::2
check "tap: ARP entry has the emulated MAC" eval "nsx $ns ip neigh show 198.19.2.2 dev ctap0 | grep -q 'lladdr $mac'"
check "tap: ND entry has the emulated MAC" eval "nsx $ns ip -6 neigh show 2001:db8:12::2 dev ctap0 | grep -q 'lladdr $mac'"
# ARP who-has 198.19.2.1 (the device's own address) from a made-up neighbour, then garbage
devmac=$(nsx "$ns" cat /sys/class/net/ctap0/address | tr -d :)
inject ctap0 "ffffffffffff${devmac}08060001080006040001${devmac}c6130263000000000000c6130201" \
	"${devmac}${devmac}0800450000" "${devmac}${devmac}86dd6000"
sleep 0.3
check "tap: respond exits cleanly" interrupt "$rp"
check "tap: ARP for the device's own address ignored" grep -q 'ignored 42 bytes: ARP who-has 198.19.2.1 tell 198.19.2.99' "$T_DIR/respond-tap.log"
check "tap: respond counts" grep -q '^answered 8, ignored [0-9]*, malformed 2$' "$T_DIR/respond-tap.log"

# --- dump on a persistent tun made with ip tuntap: decoded lines, pcap for tshark
nsx "$ns" ip tuntap add dev dtun0 mode tun
up dtun0 198.19.1.1/24 2001:db8:11::1/64
pcap=$T_DIR/tun.pcap
bg "$ns" dump-tun "$CULVERT" dump dtun0 -c 6 --pcap "$pcap"; dp=$BG_PID
check "dump: attaches to the tun" wait_for attached dtun0
nsx "$ns" ping -c3 -i0.2 -W1 198.19.1.2 >/dev/null 2>&1
nsx "$ns" ping -6 -c3 -i0.2 -W1 2001:db8:11::2 >/dev/null 2>&1
wait_for eval "! kill -0 $dp"
check "dump: -c 6 exits 0" wait "$dp"
log=$T_DIR/dump-tun.log
check "dump: IPv4 echo requests decoded" test "$(grep -c '^84 bytes: IP 198.19.1.1 > 198.19.1.2: ICMP echo request id [0-9]* seq [123], length 56$' "$log")" -eq 3
check "dump: IPv6 echo requests decoded" test "$(grep -c '^104 bytes: IP6 2001:db8:11::1 > 2001:db8:11::2: ICMP6 echo request id [0-9]* seq [123], length 56$' "$log")" -eq 3
check "dump: count line" grep -q '^6 packets captured, 0 malformed$' "$log"
tsh() { timeout 60 tshark -r "$pcap" -o ip.check_checksum:TRUE "$@" 2>/dev/null; }
check "tshark: 3 ICMP echo requests" test "$(tsh -Y 'icmp.type == 8' | wc -l)" -eq 3
check "tshark: 3 ICMPv6 echo requests" test "$(tsh -Y 'icmpv6.type == 128' | wc -l)" -eq 3
check "tshark: no malformed or bad checksum" test "$(tsh -Y '_ws.malformed || _ws.expert.severity >= warning || ip.checksum.status == 0 || icmp.checksum.status == 0 || icmpv6.checksum.status == 0' | wc -l)" -eq 0 -a "$(tsh | wc -l)" -eq 6

# replies on the wire: tcpdump on a responding tun sees culvert's replies, tshark checks them
bg "$ns" respond-tun2 "$CULVERT" respond dtun0; rp=$BG_PID
wait_for attached dtun0
bg "$ns" tcpdump tcpdump -i dtun0 -c 12 -U -w "$T_DIR/replies.pcap" icmp or icmp6; tp=$BG_PID
wait_for grep -q 'listening on' "$T_DIR/tcpdump.log"; sleep 0.3
ping_ok "tun: ping while tcpdump watches" 198.19.1.2
ping_ok "tun: ping6 while tcpdump watches" -6 2001:db8:11::2
wait_for eval "! kill -0 $tp"; interrupt "$tp" 2>/dev/null; interrupt "$rp" >/dev/null
pcap=$T_DIR/replies.pcap
check "tshark: culvert's replies have good checksums" test "$(tsh -Y 'icmp.type == 0 || icmpv6.type == 129' | wc -l)" -eq 6 -a \
	"$(tsh -Y '_ws.malformed || ip.checksum.status == 0 || icmp.checksum.status == 0 || icmpv6.checksum.status == 0' | wc -l)" -eq 0

# --- a persistent device with pi and vnet_hdr: respond and dump use its headers and leave its
# flags alone (the kernel would apply an attacher's flags to the whole device)
nsx "$ns" "$CULVERT" dev add ftun0 mode tun pi vnet_hdr
up ftun0 198.19.4.1/24 2001:db8:14::1/64
bg "$ns" respond-flags "$CULVERT" respond ftun0; rp=$BG_PID
wait_for attached ftun0
ping_ok "pi+vnet_hdr tun: ping IPv4 answered" 198.19.4.2
interrupt "$rp" >/dev/null
bg "$ns" dump-flags "$CULVERT" dump ftun0 -c 1; dp=$BG_PID
wait_for attached ftun0
nsx "$ns" ping -c1 -W1 198.19.4.2 >/dev/null 2>&1
wait_for eval "! kill -0 $dp"
check "pi+vnet_hdr tun: dump decodes past the headers" grep -q '^84 bytes: IP 198.19.4.1 > 198.19.4.2: ICMP echo request' "$T_DIR/dump-flags.log"
check "pi+vnet_hdr tun: flags unchanged after respond and dump" eval "nsx $ns ip -d link show ftun0 | grep -q 'pi on vnet_hdr on'"
# a pcap file that cannot be written: one sentence, exit 1, no device left behind
out=$(nsx "$ns" "$CULVERT" dump pcx0 --pcap "$T_DIR/no/such.pcap" -c 1 2>&1); rc=$?
check "dump: unwritable pcap is one sentence, exit 1, no device left" eval \
	"[ $rc -eq 1 ] && [ \"\$(wc -l <<<\"\$out\")\" -eq 1 ] && ! nsx $ns ip link show pcx0 >/dev/null 2>&1"
out=$(nsx "$ns" "$CULVERT" dump x -c 2>&1); rc=$?
check "dump: missing option value is one sentence, exit 2" eval "[ $rc -eq 2 ] && [ \"\$out\" = \"culvert dump: -c needs a value; run 'culvert dump --help'\" ]"

# --- dump on a tap: malformed frames are printed as such; SIGINT ends it with the count
nsx "$ns" ip tuntap add dev dtap0 mode tap
nsx "$ns" ip link set dtap0 up
bg "$ns" dump-tap "$CULVERT" dump dtap0 --hex; dp=$BG_PID
check "dump: attaches to the existing tap without --tap" wait_for attached dtap0
m=$(nsx "$ns" cat /sys/class/net/dtap0/address | tr -d :)
inject dtap0 "${m}${m}0800450000540000400040010000" "${m}${m}0800430000540000400040010000c6130101c6130102" \
	"${m}${m}86dd60000000ffff3a40" "${m}${m}0806000100" "${m}${m}88b5deadbeef"
sleep 0.5
check "dump: exits 0 on SIGINT" interrupt "$dp"
log=$T_DIR/dump-tap.log
check "dump: truncated IPv4 header" grep -q '^26 bytes: truncated IPv4 header (12 of 20 bytes) (malformed: ip4_trunc)$' "$log"
check "dump: bad IHL" grep -q '^34 bytes: bad IPv4 header length 12 (less than 20) (malformed: ip4_ihl)$' "$log"
check "dump: truncated IPv6" grep -q '^22 bytes: truncated IPv6 header (8 of 40 bytes) (malformed: ip6_trunc)$' "$log"
check "dump: truncated ARP" grep -q '^17 bytes: ARP truncated ARP packet (3 of 28 bytes) (malformed: arp_trunc)$' "$log"
check "dump: unknown ethertype" grep -q "^18 bytes: .* ethertype 0x88b5, length 4$" "$log"
check "dump: hex lines" grep -q '^  0000  ' "$log"
check "dump: malformed counted" grep -qE '^[0-9]+ packets captured, 4 malformed$' "$log"

# --- an unprivileged owner attaches to its persistent device
nsx "$ns" ip tuntap add dev utun0 mode tun user nobody
up utun0 198.19.3.1/24 2001:db8:13::1/64
bg "$ns" dump-user setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all \
	"$CULVERT" dump utun0 -c 1 --pi; dp=$BG_PID
check "dump: unprivileged owner attaches" wait_for attached utun0
nsx "$ns" ping -c1 -W1 198.19.3.2 >/dev/null 2>&1
wait_for eval "! kill -0 $dp"
check "dump: unprivileged run exits 0" wait "$dp"
check "dump: --pi strips the header" grep -q '^84 bytes: IP 198.19.3.1 > 198.19.3.2: ICMP echo request' "$T_DIR/dump-user.log"
check_not "dump: a stranger cannot attach" nsx "$ns" setpriv --reuid=daemon --regid=daemon --clear-groups \
	--inh-caps=-all --bounding-set=-all "$CULVERT" dump utun0 -c 1
if [ "$T_FAILS" -gt 0 ]; then
	for f in "$T_DIR"/*.log; do echo "--- $f"; grep -v '^  [0-9a-f]\{4\}  ' "$f" | tail -30; done
fi
t_done
