#!/bin/bash
# culvert wg data path under load, with offloads (tun TSO, UDP GSO/GRO) on and off and with one
# and two workers: TCP both ways over IPv4 and IPv6 inside, UDP both ways with little loss,
# 8 parallel streams, a 20 MB file byte for byte, no bad checksum on the receiving tun device
# when the sender splits TSO packets itself, `culvert show` naming what is active, and
# culvert (offloads on) <-> wireguard-go.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
ns_link "$A" va "$NB" vb
nsx "$A" ip addr add 198.18.9.1/24 dev va
nsx "$NB" ip addr add 198.18.9.2/24 dev vb

wg_keys a b g
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")
IA=${T_PREFIX}a IB=${T_PREFIX}b IG=${T_PREFIX}g
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock $SOCK/$IG.sock")
head -c 20000000 /dev/urandom >"$T_DIR/file"
SUM=$(sha256sum <"$T_DIR/file" | cut -d' ' -f1)

# up NS IF PORT PEERPUB PEER_ENDPOINT ME OTHER KEY ARGS...: a culvert with one peer, link up
up() {
	local ns=$1 i=$2 port=$3 pub=$4 ep=$5 me=$6 other=$7 k=$8; shift 8
	bg "$ns" "$i" "$CULVERT" wg -f "$@" "$i"
	wait_for test -S "$SOCK/$i.sock" || return 1
	nsx "$ns" wg set "$i" private-key "$T_DIR/k$k" listen-port "$port" peer "$pub" \
		allowed-ips "198.19.9.$other/32,2001:db8:99::$other/128" endpoint "$ep" &&
		nsx "$ns" ip addr add "198.19.9.$me/24" dev "$i" &&
		nsx "$ns" ip addr add "2001:db8:99::$me/64" dev "$i" nodad && nsx "$ns" ip link set "$i" up
}
down() {
	local p
	for p in "${PID_CUR[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	PID_CUR=()
}
# pair NAME ARGS_A ARGS_B: both ends up, first ping through
pair() {
	up "$A" "$IA" 51820 "$PB" 198.18.9.2:51821 1 2 a $2 && PID_CUR=("$BG_PID") &&
		up "$NB" "$IB" 51821 "$PA" 198.18.9.1:51820 2 1 b $3 && PID_CUR+=("$BG_PID") &&
		wait_ping "$A" 198.19.9.2 25
}
# udp_loss SERVER_NS CLIENT_NS ADDR [-R]: lost percent of a 200 Mbit/s UDP run
udp_loss() {
	# big socket buffers: on a small machine the iperf3 receiver is the first to fall behind
	iperf "$1" "$2" "$3" 2 -u -b 200M -l 1300 -w 4M ${4:-} >/dev/null || return 1
	python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["end"]["sum"]["lost_percent"])' "$T_DIR/iperf.json"
}
lt() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2"; }

run_config() { # NAME ARGS
	local n=$1 args=$2 g l
	pair "$n" "$args" "$args" || { fail "$n: tunnel up"; down; return; }
	pass "$n: tunnel up"
	g=$(iperf "$NB" "$A" 198.19.9.2 2) && pass "$n: TCP a->b ($g Gbit/s)" || fail "$n: TCP a->b"
	g=$(iperf "$NB" "$A" 2001:db8:99::2 2 -R) && pass "$n: TCP b->a IPv6 inside ($g Gbit/s)" ||
		fail "$n: TCP b->a IPv6 inside"
	g=$(iperf "$NB" "$A" 198.19.9.2 2 -P 8) && pass "$n: 8 TCP streams ($g Gbit/s)" || fail "$n: 8 TCP streams"
	l=$(udp_loss "$NB" "$A" 198.19.9.2) && lt "$l" 10 && pass "$n: UDP a->b 200M (loss $l%)" ||
		fail "$n: UDP a->b 200M" "loss ${l:-?}%"
	l=$(udp_loss "$NB" "$A" 198.19.9.2 -R) && lt "$l" 10 && pass "$n: UDP b->a 200M (loss $l%)" ||
		fail "$n: UDP b->a 200M" "loss ${l:-?}%"
	[ "$(xfer "$A" "$NB" 198.19.9.2 "$T_DIR/file")" = "$SUM" ] && pass "$n: 20 MB file a->b intact" ||
		fail "$n: 20 MB file a->b intact"
	# configuration and `wg show` while the workers carry traffic
	iperf "$NB" "$A" 198.19.9.2 2 -P 4 >"$T_DIR/churn.out" & local ip=$!
	local k ok=0
	for k in $(seq 30); do
		nsx "$A" wg set "$IA" peer "$PB" allowed-ips "198.19.9.2/32,2001:db8:99::2/128,198.19.$k.0/24" &&
			quiet nsx "$A" wg show "$IA" && ok=$((ok + 1))
		sleep 0.05
	done
	wait "$ip" && [ "$ok" -eq 30 ] && kill -0 "${PID_CUR[0]}" && quiet nsx "$A" ping -c1 -W1 198.19.9.2 &&
		pass "$n: 30 wg set/show under load" || fail "$n: 30 wg set/show under load" "$ok ok"
	down
}

run_config "offload 1 worker" "--workers 1"
run_config "offload 2 workers" "--workers 2"
run_config "no-offload 2 workers" "--workers 2 --no-offload"
run_config "no-offload 1 worker" "--workers 1 --no-offload"

# ---- culvert show says what is active -----------------------------------------------------
# a splits TSO packets itself (offloads on); b writes what it decrypts as it is (no offload),
# so a capture on b's tun sees the checksums a's split computed.
if pair mixed "--workers 2" "--workers 1 --no-offload --no-busy-poll"; then
	sa=$(nsx "$A" "$CULVERT" show "$IA" 2>&1) sb=$(nsx "$NB" "$CULVERT" show "$IB" 2>&1)
	echo "$sa" | grep -q "workers=2" && echo "$sa" | grep -q "vnet_hdr tso" &&
		pass "show: offloads and 2 workers" || fail "show: offloads and 2 workers" "$sa"
	echo "$sb" | grep -q "workers=1" && echo "$sb" | grep -q "tun plain" && echo "$sb" | grep -q "gso off" &&
		pass "show: --no-offload" || fail "show: --no-offload" "$sb"
	echo "$sa" | grep -q "busy-poll 50 us" && echo "$sb" | grep -q "busy-poll off" &&
		pass "show: busy-poll on by default, off with --no-busy-poll" || fail "show: busy-poll" "$sa / $sb"
	capture_start "$NB" "$IB" "$T_DIR/cap.pcap"
	[ "$(xfer "$A" "$NB" 198.19.9.2 "$T_DIR/file")" = "$SUM" ] && pass "mixed: 20 MB file a->b intact" ||
		fail "mixed: 20 MB file a->b intact"
	[ "$(xfer "$NB" "$A" 198.19.9.1 "$T_DIR/file")" = "$SUM" ] && pass "mixed: 20 MB file b->a intact" ||
		fail "mixed: 20 MB file b->a intact"
	capture_stop
	total=$(tshark_ip "$T_DIR/cap.pcap" -Y tcp | wc -l)
	# Only what a sent: b's own kernel fills in its outgoing ACKs (skb_checksum_help writes a
	# computed zero as 0xffff, which tshark flags); those say nothing about culvert.
	bad=$(tshark_ip "$T_DIR/cap.pcap" \
		-Y '(tcp.checksum.status==0 || ip.checksum.status==0) && (ip.src==198.19.9.1 || ipv6.src==2001:db8:99::1)' \
		2>/dev/null | wc -l)
	[ "$total" -gt 1000 ] && [ "$bad" -eq 0 ] && pass "no bad checksum in $total TCP packets on the receiving tun" ||
		fail "no bad checksum on the receiving tun" "$bad bad of $total"
else
	fail "mixed: tunnel up"
fi
down

# ---- culvert (offloads on, 2 workers) <-> wireguard-go --------------------------------------
if up "$A" "$IA" 51820 "$(cat "$T_DIR/pg")" 198.18.9.2:51822 1 3 a --workers 2; then
	PID_CUR=("$BG_PID")
	bg "$NB" wggo wireguard-go -f "$IG"; PID_CUR+=("$BG_PID")
	wait_for test -S "$SOCK/$IG.sock"
	nsx "$NB" wg set "$IG" private-key "$T_DIR/kg" listen-port 51822 peer "$PA" \
		allowed-ips 198.19.9.1/32 endpoint 198.18.9.1:51820
	nsx "$NB" ip addr add 198.19.9.3/24 dev "$IG"; nsx "$NB" ip link set "$IG" up
	check "culvert<->wireguard-go ping" wait_ping "$A" 198.19.9.3 25
	g=$(iperf "$NB" "$A" 198.19.9.3 2) && pass "iperf3 culvert->wireguard-go ($g Gbit/s)" ||
		fail "iperf3 culvert->wireguard-go"
	g=$(iperf "$NB" "$A" 198.19.9.3 2 -R) && pass "iperf3 wireguard-go->culvert ($g Gbit/s)" ||
		fail "iperf3 wireguard-go->culvert"
else
	fail "culvert for wireguard-go up"
fi
down
t_done
