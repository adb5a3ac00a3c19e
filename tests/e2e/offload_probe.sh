#!/bin/bash
# The kernel hands a tun opened with IFF_VNET_HDR + TUNSETOFFLOAD super-packets larger than the
# MTU (gso_type TCPV4/TCPV6, and UDP_L4 when USO is offered) and takes them back on write.
source "$(dirname "$0")/lib.sh"

probe=$PEERS/tso_probe
[ -x "$probe" ] || { fail offload_probe_built "missing $probe (make tests)"; t_done; }
A=$(ns_new a) && B=$(ns_new b) || { fail namespaces; t_done; }
bg "$A" probe "$probe" tsoa /run/netns/"$B" tsob
wait_for grep -q '^ready' "$T_DIR/probe.log" || { fail probe_ready "$(cat "$T_DIR/probe.log")"; t_done; }
for p in "$A:tsoa:1" "$B:tsob:2"; do
	IFS=: read -r ns dev n <<<"$p"
	ip -n "$ns" addr add 198.19.0.$n/24 dev "$dev"
	ip -n "$ns" addr add 2001:db8::$n/64 dev "$dev" nodad
	ip -n "$ns" link set "$dev" up mtu 1500
done
check ping_through_tun wait_ping "$A" 198.19.0.2

if gbps=$(iperf "$B" "$A" 198.19.0.2 1); then pass "tcp4_transfer ($gbps Gbit/s)"; else fail tcp4_transfer; fi
check kernel_hands_tcpv4_super_packets grep -qE '^seen tcpv4 len ([2-9][0-9]{3}|[0-9]{5})' "$T_DIR/probe.log"
if gbps=$(iperf "$B" "$A" 2001:db8::2 1); then pass "tcp6_transfer ($gbps Gbit/s)"; else fail tcp6_transfer; fi
check kernel_hands_tcpv6_super_packets grep -qE '^seen tcpv6 len ([2-9][0-9]{3}|[0-9]{5})' "$T_DIR/probe.log"
check_not gso_writes_accepted grep -q 'refused' "$T_DIR/probe.log"

# USO: one sendmsg with UDP_SEGMENT becomes one UDP_L4 frame on the tun, if the kernel offers it.
if grep -q uso4 "$T_DIR/probe.log"; then
	nsx "$A" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(17, 103, 1000)           # SOL_UDP, UDP_SEGMENT
s.sendto(b"x" * 8000, ("198.19.0.2", 9))' || fail uso_send
	check kernel_hands_udp_l4_super_packets wait_for grep -qE '^seen udp_l4 len [0-9]{4}' "$T_DIR/probe.log"
else
	echo "note: this kernel does not take TUN_F_USO4/USO6"
fi
cat "$T_DIR/probe.log"
t_done
