#!/bin/bash
# The peer harness of make bench: each tunnel on the same two-namespace veth path
# (bench/netns.sh), one iperf3 TCP stream and 20 idle pings, one line each.
# Usage: bench/peers.sh [SECS] [NAME...]   (root)
#   raw        the veth pair itself, no tunnel (the ceiling)
#   wggo       Debian's wireguard-go (0.0.20220316: no TUN offloads, no UDP GSO/GRO)
#   wggo-new   a current wireguard-go, the binary WGGO_NEW names (bench/README.md says how to
#              build one); without WGGO_NEW it prints a "skipped" line and the run goes on
#   ovpn-udp ovpn-tcp   OpenVPN over UDP and over TCP (TLS, certificates made per run)
#   socat-udp  socat copying between a tun device and a UDP socket
#   simpletun  the original simpletun, the binary SIMPLETUN names
#   ptunnel-ng ptunnel-ng's TCP forwarding over ICMP echo (no ping through it: TCP only)
#   PEERS_EXTRA=FILE is sourced first; each run_NAME function it defines adds NAME
#   (bench/peers_culvert.sh: culvert's modes and the load runs).
# Prints "version NAME V" for each wireguard-go it will run, then per tunnel
#   NAME  Gbit/s  rtt MS ms
# which bench/report.py reads. Needs iperf3, iputils-ping, wireguard-go, wireguard-tools,
# openvpn, openssl, socat, ptunnel-ng, nftables and python3.
umask 077
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-5}
[ $# -gt 0 ] && shift
names=${*:-raw wggo wggo-new ovpn-udp ovpn-tcp socat-udp simpletun ptunnel-ng}
W=$(mktemp -d)
source "$here/netns.sh"
bench_ns_wait || { rm -rf "$W"; exit 1; }
trap 'cleanup; bench_ns_unlock; rm -rf "$W"' EXIT
trap 'exit 130' INT TERM

# wggo_version BIN: "0.0.20220316" from "wireguard-go v0.0.20220316"
wggo_version() { "$1" --version 2>/dev/null | awk 'NR == 1 {sub(/^v/, "", $2); print $2}'; }

# wggo_pair BIN IFA IFB: a wireguard-go on each end, keyed and addressed as culvert-wg is
# (bench/peers_wg.sh), so the two differ only in the daemon
wggo_pair() {
	local bin=$1 a=$2 b=$3
	ns_up || return 1
	wg genkey >"$W/ka"; wg genkey >"$W/kb"
	rm -f "/var/run/wireguard/$a.sock" "/var/run/wireguard/$b.sock"
	bg ip netns exec ta "$bin" -f "$a"
	bg ip netns exec tb "$bin" -f "$b"
	local i
	for i in $(seq 50); do
		[ -S "/var/run/wireguard/$a.sock" ] && [ -S "/var/run/wireguard/$b.sock" ] && break
		sleep 0.1
	done
	ip netns exec ta wg set "$a" private-key "$W/ka" listen-port 51820 \
		peer "$(wg pubkey <"$W/kb")" allowed-ips 198.19.0.2/32 endpoint 198.18.0.2:51820
	ip netns exec tb wg set "$b" private-key "$W/kb" listen-port 51820 \
		peer "$(wg pubkey <"$W/ka")" allowed-ips 198.19.0.1/32 endpoint 198.18.0.1:51820
	ns_ifup ta "$a" 198.19.0.1 && ns_ifup tb "$b" 198.19.0.2
}

wggo_new_missing() {
	[ -x "${WGGO_NEW:-}" ] && return 1
	if [ -z "${WGGO_NEW:-}" ]; then
		echo "wireguard-go-new skipped: WGGO_NEW is not set; bench/README.md says how to build a current wireguard-go"
	else
		echo "wireguard-go-new skipped: WGGO_NEW=$WGGO_NEW is not an executable"
	fi
}

run_raw() { ns_up && measure raw-veth 198.18.0.2; cleanup; }
run_wggo() { wggo_pair wireguard-go wga wgb && measure wireguard-go 198.19.0.2; cleanup; }
run_wggo-new() {
	wggo_new_missing && return
	wggo_pair "$WGGO_NEW" wna wnb && measure wireguard-go-new 198.19.0.2; cleanup
}

# ovpn_cert NAME: a throwaway P-256 certificate; OpenVPN checks the other end by fingerprint
ovpn_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=$1" -keyout "$W/$1.key" -out "$W/$1.crt" 2>/dev/null
}
ovpn_fp() { openssl x509 -in "$W/$1.crt" -noout -fingerprint -sha256 | cut -d= -f2; }

run_ovpn() { # udp|tcp
	local srv=udp cli=udp
	[ "$1" = tcp ] && srv=tcp-server cli=tcp-client
	ns_up || { cleanup; return; }
	ovpn_cert a; ovpn_cert b
	bg ip netns exec tb openvpn --dev tun --proto $srv --local 198.18.0.2 --port 1194 \
		--tls-server --dh none --cert "$W/b.crt" --key "$W/b.key" --peer-fingerprint "$(ovpn_fp a)" \
		--ifconfig 198.19.0.2 198.19.0.1 --verb 1
	sleep 0.5
	bg ip netns exec ta openvpn --dev tun --proto $cli --remote 198.18.0.2 1194 \
		--tls-client --cert "$W/a.crt" --key "$W/a.key" --peer-fingerprint "$(ovpn_fp b)" \
		--ifconfig 198.19.0.1 198.19.0.2 --verb 1
	measure "openvpn-$1" 198.19.0.2
	cleanup
}
run_ovpn-udp() { run_ovpn udp; }
run_ovpn-tcp() { run_ovpn tcp; }

run_socat-udp() {
	ns_up || { cleanup; return; }
	bg ip netns exec tb socat -b 65536 TUN:198.19.0.2/24,tun-type=tun,iff-up,iff-no-pi \
		UDP-LISTEN:5555,bind=198.18.0.2
	sleep 0.3
	bg ip netns exec ta socat -b 65536 TUN:198.19.0.1/24,tun-type=tun,iff-up,iff-no-pi \
		UDP:198.18.0.2:5555,bind=198.18.0.1:5555
	sleep 1
	measure socat-udp 198.19.0.2
	cleanup
}

run_simpletun() {
	[ -x "${SIMPLETUN:-}" ] || { echo "simpletun skipped: SIMPLETUN is not set"; return; }
	ns_up || { cleanup; return; }
	local n
	for n in ta tb; do ip -n $n tuntap add dev st0 mode tun; done
	ns_ifup ta st0 198.19.0.1; ns_ifup tb st0 198.19.0.2
	bg ip netns exec tb "$SIMPLETUN" -i st0 -s
	sleep 0.3
	bg ip netns exec ta "$SIMPLETUN" -i st0 -c 198.18.0.2
	measure simpletun 198.19.0.2
	cleanup
}

# ptunnel-ng carries TCP connections, not IP packets, in ICMP echo: iperf3 in ta connects to a
# forwarder on ta's loopback, the proxy in tb connects on to the iperf3 server on tb's loopback.
# No ping crosses it, so the row has no RTT. One forwarder of this version carries one
# connection at a time (a second one's session request goes unanswered), and iperf3 opens two
# (control and data), so each gets its own forwarder and proxy, told apart by their magic, and
# nftables in ta steers the data connection (iperf3 --cport 5202) to the second forwarder.
# tb's kernel must not answer the echo requests itself, or the forwarder takes those replies
# for the proxy's.
run_ptunnel-ng() {
	command -v ptunnel-ng >/dev/null || { echo "ptunnel-ng skipped: not installed (apt-get install ptunnel-ng)"; return; }
	ns_up || { cleanup; return; }
	ip netns exec tb sysctl -qw net.ipv4.icmp_echo_ignore_all=1
	local i
	for i in 1 2; do
		bg ip netns exec tb ptunnel-ng -m0x7074000$i -r127.0.0.1 -R5201 -v0
		bg ip netns exec ta ptunnel-ng -m0x7074000$i -p198.18.0.2 -l521$i -r127.0.0.1 -R5201 -v0
	done
	ip netns exec ta nft -f - <<-'NFT'
	table ip ptunnel {
		chain out {
			type nat hook output priority -100
			ip daddr 127.0.0.1 tcp dport 5201 tcp sport 5202 dnat to 127.0.0.1:5212
			ip daddr 127.0.0.1 tcp dport 5201 dnat to 127.0.0.1:5211
		}
	}
	NFT
	for i in $(seq 50); do
		ip netns exec ta ss -Hltn 'sport = 5211 or sport = 5212' | grep -c . | grep -qx 2 && break
		sleep 0.1
	done
	local g; g=$(iperf_run 127.0.0.1 "$secs" "--cport 5202" | awk '{print $1}')
	printf "%-16s %6s Gbit/s  (TCP only: no ping through it)\n" ptunnel-ng "${g:-FAIL}"
	cleanup
}

[ -n "${PEERS_EXTRA:-}" ] && source "$PEERS_EXTRA"

# The versions the wireguard-go rows stand for, once, before any row (report.py names them).
case " $names " in *" wggo "* | *" load-wggo "* | *" load-wggo-capped "*)
	echo "version wireguard-go $(wggo_version wireguard-go)" ;;
esac
case " $names " in *" wggo-new "* | *" load-wggo-new"*)
	if [ -x "${WGGO_NEW:-}" ]; then echo "version wireguard-go-new $(wggo_version "$WGGO_NEW")"; else wggo_new_missing; fi ;;
esac

for n in $names; do
	if declare -F "run_$n" >/dev/null; then "run_$n"; else echo "$n: no such tunnel (no function run_$n)"; fi
done
