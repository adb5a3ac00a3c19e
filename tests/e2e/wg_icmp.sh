#!/bin/bash
# culvert wg --transport icmp: culvert <-> culvert with WireGuard messages in ICMP echo payloads,
# through a middle box m whose nftables forward only echo requests and replies (no UDP, no TCP).
# a has b's endpoint and dials; b has none and answers through a's requests, having learned a's
# address and echo identifier as its endpoint. Pings v4 and v6 inside, over a v4 and then a v6
# underlay, iperf3 both ways, with offloads on and off; garbage echo payloads counted by name
# and dropped while the tunnel keeps working; the echo sysctls back after SIGTERM, after an
# error exit and after SIGKILL (the guardian).
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) && M=$(ns_new m) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$A" "$NB" "$M")
ns_link "$A" va "$M" mx1 && ns_link "$NB" vb "$M" mx2 || { fail setup "cannot link namespaces"; t_done; }
nsx "$A" ip addr add 198.18.45.1/24 dev va; nsx "$A" ip -6 addr add 2001:db8:45::1/64 dev va nodad
nsx "$M" ip addr add 198.18.45.254/24 dev mx1; nsx "$M" ip -6 addr add 2001:db8:45::fe/64 dev mx1 nodad
nsx "$NB" ip addr add 198.18.46.1/24 dev vb; nsx "$NB" ip -6 addr add 2001:db8:46::1/64 dev vb nodad
nsx "$M" ip addr add 198.18.46.254/24 dev mx2; nsx "$M" ip -6 addr add 2001:db8:46::fe/64 dev mx2 nodad
nsx "$A" ip route add 198.18.46.0/24 via 198.18.45.254; nsx "$A" ip -6 route add 2001:db8:46::/64 via 2001:db8:45::fe
nsx "$NB" ip route add 198.18.45.0/24 via 198.18.46.254; nsx "$NB" ip -6 route add 2001:db8:45::/64 via 2001:db8:46::fe
echo_only_router "$M" || { fail setup "nftables in the middle box"; t_done; }

wg_keys a b
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")
IA=${T_PREFIX}a IB=${T_PREFIX}b
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")
P4=/proc/sys/net/ipv4/icmp_echo_ignore_all P6=/proc/sys/net/ipv6/icmp/echo_ignore_all
echo_sysctls() { echo "$(nsx "$1" cat $P4)$(nsx "$1" cat $P6)"; }
drop_count() { nsx "$1" "$CULVERT" show "$2" | awk -v k="$3:" '$1 == k {print $2}'; }
min_gbps=${ICMP_MIN_GBPS:-0.05}

start() { # NS IF [args]
	local n=$1 i=$2; shift 2
	bg "$n" "$i" "$CULVERT" wg -f -d --transport icmp "$@" "$i"
	wait_for test -S "$SOCK/$i.sock"
}
up() { # [daemon args]: both daemons, configured, addresses up
	start "$A" "$IA" "$@" && PID_A=$BG_PID && start "$NB" "$IB" "$@" && PID_B=$BG_PID || return 1
	nsx "$A" wg set "$IA" private-key "$T_DIR/ka" listen-port 51820 \
		peer "$PB" allowed-ips 198.19.45.2/32,2001:db8:19:45::2/128 endpoint 198.18.46.1:51820 &&
	nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port 51820 \
		peer "$PA" allowed-ips 198.19.45.1/32,2001:db8:19:45::1/128 &&
	ifconf "$A" "$IA" 45 1 && ifconf "$NB" "$IB" 45 2
}
down() { stop "$PID_A"; stop "$PID_B"; wait_for dev_gone "$A" "$IA"; wait_for dev_gone "$NB" "$IB"; }

# ---- 0. the middle box passes echo only ----------------------------------------------------
check "sysctls start at 0" [ "$(echo_sysctls "$NB")$(echo_sysctls "$A")" = 0000 ]
bg "$NB" udp-sink timeout 5 socat -u UDP4-RECV:9999 OPEN:"$T_DIR/udp.out",creat
wait_listen "$NB" 9999 udp
echo probe | nsx "$A" socat -u - UDP4-SENDTO:198.18.46.1:9999
check_not "the middle box drops TCP" nsx "$A" timeout 3 socat -u - TCP4:198.18.46.1:22 </dev/null
sleep 0.3
check_not "the middle box drops UDP" test -s "$T_DIR/udp.out"
check "the middle box forwards echo" qping "$A" -c1 -W1 198.18.46.1

for mode in offload no-offload; do
	args=(); [ $mode = no-offload ] && args=(--no-offload)
	# ---- 1. a tunnel over ICMP, v4 underlay ---------------------------------------------
	up "${args[@]}" || { fail "$mode: culvert wg --transport icmp starts"; continue; }
	check "$mode: echo replies off in both namespaces" [ "$(echo_sysctls "$NB")$(echo_sysctls "$A")" = 1111 ]
	check "$mode: ping a->b (v4 inside, v4 underlay)" wait_ping "$A" 198.19.45.2 50
	check "$mode: ping b->a" qping "$NB" -c2 -i0.2 -W1 198.19.45.1
	check "$mode: ping v6 inside" qping "$A" -c2 -i0.2 -W1 2001:db8:19:45::2
	ep=$(nsx "$NB" wg show "$IB" endpoints | awk '{print $2}')
	[[ $ep == 198.18.45.1:* ]] && pass "$mode: b learned a's address and echo identifier ($ep)" ||
		fail "$mode: b learned a's address" "${ep:-none}"
	# a's session at b's listener proved itself (its messages authenticated): no newcomer
	# can evict it (the daemon logs append across modes, so the second mode wants two)
	np=$(grep -c "ICMP session with 198.18.45.1:[0-9]* proven" "$T_DIR/$IB.log")
	[ "$np" -ge $([ $mode = offload ] && echo 1 || echo 2) ] && pass "$mode: b proved a's session" ||
		fail "$mode: b proved a's session" "$np proof lines in b's log"
	nsx "$A" "$CULVERT" show "$IA" | grep -q "transport icmp" && pass "$mode: culvert show says transport icmp" ||
		fail "$mode: culvert show says transport icmp"
	nsx "$A" ss -Huan | grep -q . && fail "$mode: no UDP socket" "$(nsx "$A" ss -Huan)" || pass "$mode: no UDP socket"
	g=$(iperf "$NB" "$A" 198.19.45.2 2) && ge "$g" "$min_gbps" && pass "$mode: iperf3 a->b ($g Gbit/s >= $min_gbps)" ||
		fail "$mode: iperf3 a->b >= $min_gbps Gbit/s" "${g:-no result}"
	g=$(iperf "$A" "$NB" 198.19.45.1 2) && ge "$g" "$min_gbps" && pass "$mode: iperf3 b->a ($g Gbit/s >= $min_gbps)" ||
		fail "$mode: iperf3 b->a >= $min_gbps Gbit/s" "${g:-no result}"
	# b's sessions queue what a's polls have not yet fetched: a full queue is send_full to the
	# device and icmp_queue_full to the transport, one count each
	sf=$(drop_count "$NB" "$IB" send_full) qf=$(drop_count "$NB" "$IB" icmp_queue_full)
	echo "b after iperf3: send_full ${sf:-none} icmp_queue_full ${qf:-none}"
	[ -n "$sf" ] && [ "${qf:-x}" = "$sf" ] && pass "$mode: a full session queue counts icmp_queue_full ($qf)" ||
		fail "$mode: icmp_queue_full counts what send_full does" "send_full ${sf:-none} icmp_queue_full ${qf:-none}"
	head -c 1000000 /dev/urandom >"$T_DIR/blob"
	h1=$(sha256sum <"$T_DIR/blob" | cut -d' ' -f1)
	h2=$(xfer "$A" "$NB" 198.19.45.2 "$T_DIR/blob")
	[ "$h1" = "$h2" ] && pass "$mode: 1 MB arrives intact" || fail "$mode: 1 MB arrives intact" "$h1 vs ${h2:-nothing}"

	# ---- 2. a v6 underlay ----------------------------------------------------------------
	nsx "$A" wg set "$IA" peer "$PB" endpoint "[2001:db8:46::1]:51820"
	check "$mode: ping a->b over a v6 underlay" qping "$A" -c3 -i0.2 -W1 198.19.45.2
	check "$mode: ping v6 inside over a v6 underlay" qping "$A" -c2 -i0.2 -W1 2001:db8:19:45::2
	ep=$(nsx "$NB" wg show "$IB" endpoints | awk '{print $2}')
	[[ $ep == \[2001:db8:45::1\]:* ]] && pass "$mode: b roamed to a's v6 address ($ep)" ||
		fail "$mode: b roamed to a's v6 address" "${ep:-none}"
	g=$(iperf "$NB" "$A" 198.19.45.2 2) && ge "$g" "$min_gbps" && pass "$mode: iperf3 a->b over v6 ($g Gbit/s)" ||
		fail "$mode: iperf3 a->b over v6 >= $min_gbps Gbit/s" "${g:-no result}"

	if [ $mode = offload ]; then
		# ---- 3. garbage: counted by name, dropped, the tunnel unharmed ----------------
		# an ordinary ping to b's host is answered by b's daemon, once (the kernel's are off)
		nsx "$A" ping -c 3 -i 0.2 -W 2 198.18.46.1 >"$T_DIR/plain" 2>&1
		check "plain ping of b's host answered" grep -q ' 0% packet loss' "$T_DIR/plain"
		check_not "plain ping of b's host: no duplicates" grep -q DUP "$T_DIR/plain"
		check "plain ping6 of b's host answered" qping "$A" -6 -c 2 -i 0.2 -W 2 2001:db8:46::1
		# our magic with a lying length, a wrong version, and a well-framed message that is no
		# WireGuard message; each sent 200 times while the tunnel is pinged
		nsx "$A" ping -q -c 200 -i 0.005 -W 1 -s 6 -p 63760100ffff 198.18.46.1 >/dev/null 2>&1 &
		g1=$!
		nsx "$A" ping -q -c 200 -i 0.005 -W 1 -s 6 -p 637609000000 2001:db8:46::1 >/dev/null 2>&1 &
		g2=$!
		nsx "$A" ping -q -c 200 -i 0.005 -W 1 -s 14 -p 6376010000080102030405060708 198.18.46.1 >/dev/null 2>&1 &
		g3=$!
		T_PIDS+=("$g1" "$g2" "$g3")
		l=$(nsx "$A" ping -q -c 50 -i 0.02 -W 1 198.19.45.2 | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p')
		wait "$g1" "$g2" "$g3"
		[ "${l:-100}" = 0 ] && pass "the tunnel loses nothing during the garbage" || fail "the tunnel loses nothing during the garbage" "${l:-?}% lost"
		n=$(drop_count "$NB" "$IB" icmp_length)
		[ "${n:-0}" -ge 150 ] && pass "lying lengths counted as icmp_length ($n)" || fail "lying lengths counted as icmp_length" "${n:-0}"
		n=$(drop_count "$NB" "$IB" icmp_version)
		[ "${n:-0}" -ge 150 ] && pass "wrong versions counted as icmp_version ($n)" || fail "wrong versions counted as icmp_version" "${n:-0}"
		# 8 bytes starting with 1: an initiation's type with no initiation's length
		n1=$(drop_count "$NB" "$IB" short_frame) n2=$(drop_count "$NB" "$IB" bad_type)
		n=$((${n1:-0} + ${n2:-0}))
		[ "${n:-0}" -ge 150 ] && pass "non-WireGuard messages counted by the device as short_frame or bad_type ($n)" ||
			fail "non-WireGuard messages counted by the device" "${n:-0}; $(nsx "$NB" "$CULVERT" show "$IB" | grep -A30 drops:)"
		n=$(drop_count "$NB" "$IB" icmp_foreign)
		[ "${n:-0}" -ge 3 ] && pass "plain pings counted as icmp_foreign ($n)" || fail "plain pings counted as icmp_foreign" "${n:-0}"
		nsx "$NB" "$CULVERT" show "$IB" --json | python3 -c 'import json,sys
d = json.load(sys.stdin)["interfaces"][0]["drops"]
sys.exit(0 if int(d["icmp_length"]) > 0 and "icmp_table_full" in d else 1)' &&
			pass "culvert show --json lists the icmp_* drops" || fail "culvert show --json lists the icmp_* drops"
		check "the tunnel still works after the garbage" qping "$A" -c3 -i0.2 -W1 198.19.45.2
		# a restarted dialler: a new identifier, a new session, b follows it
		old_ep=$(nsx "$NB" wg show "$IB" endpoints | awk '{print $2}')
		stop "$PID_A"; wait_for dev_gone "$A" "$IA"
		start "$A" "$IA" && PID_A=$BG_PID &&
			nsx "$A" wg set "$IA" private-key "$T_DIR/ka" peer "$PB" allowed-ips 198.19.45.2/32 \
				endpoint 198.18.46.1:51820 && ifconf "$A" "$IA" 45 1 || fail "a restarts"
		check "a restarted a reaches b again" wait_ping "$A" 198.19.45.2 50
		ep=$(nsx "$NB" wg show "$IB" endpoints | awk '{print $2}')
		[[ $ep == 198.18.45.1:* ]] && [ "$ep" != "$old_ep" ] && pass "b follows the restarted a ($old_ep -> $ep)" ||
			fail "b follows the restarted a" "$old_ep -> ${ep:-none}"
	fi
	down
	check "$mode: echo sysctls restored after SIGTERM" [ "$(echo_sysctls "$NB")$(echo_sysctls "$A")" = 0000 ]
	check "$mode: the kernel answers pings again" qping "$A" -c1 -W2 198.18.46.1
done

# ---- 4. other exits: an error (the device deleted), SIGKILL (the guardian) ---------------
start "$NB" "$IB" && PID_B=$BG_PID || fail "b starts again"
check "running: echo replies off" [ "$(echo_sysctls "$NB")" = 11 ]
nsx "$NB" ip link del "$IB"
reap "$PID_B" 10
wait_for sh -c "[ \"\$(ip netns exec '$NB' cat $P4)\$(ip netns exec '$NB' cat $P6)\" = 00 ]"
check "echo sysctls restored after an error exit" [ "$(echo_sysctls "$NB")" = 00 ]
start "$NB" "$IB" && PID_B=$BG_PID || fail "b starts again"
check "running again: echo replies off" [ "$(echo_sysctls "$NB")" = 11 ]
kill -9 "$PID_B"
wait_for sh -c "[ \"\$(ip netns exec '$NB' cat $P4)\$(ip netns exec '$NB' cat $P6)\" = 00 ]"
check "echo sysctls restored after SIGKILL (the guardian)" [ "$(echo_sysctls "$NB")" = 00 ]
wait_for dev_gone "$NB" "$IB"
check "the middle forwarded echo only" sh -c "ip netns exec '$M' nft list chain inet mid echo_only | grep -q 'echo-request, echo-reply } counter packets [1-9]'"
t_done
