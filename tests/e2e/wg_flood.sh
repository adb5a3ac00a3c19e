#!/bin/bash
# culvert wg under a handshake flood (issue 9). Namespace a is the real peer, b the responder,
# f the attacker on its own underlay address (a second veth into b). The attacker (wg_flood)
# needs only b's public key: initiations with a valid MAC1 from 8 source ports, as fast as one
# core sends them, taking the cookie replies and sending valid MAC2s from then on. While it runs:
# established pings lose at most 1%, an established iperf3 stream keeps at least 0.3 of its
# no-flood rate measured in this run, a restarted peer completes its handshake within two
# attempts (the first gets a cookie, the second carries MAC2), and the per-source rate limiter
# counts. Then a's own captured initiation, replayed from 8 ports with valid MAC2s, must cost a
# neither pings nor its endpoint. Then spoofable garbage at 1k/s (no valid MAC1) must not put b
# under load: a real handshake gets no cookie and completes at first try. The flooder shares
# the 2 cores with the tunnel, so a throughput below the fraction also passes when it keeps
# most of what the same flood into a plain socket leaves. The margins hold what a 2-core
# machine gives while the flooder takes one core: the daemon keeps 0.33-0.55 of its rate from
# run to run (0.33 once in three runs after the proven rings came, which let each flooding
# source's cookie-bearing burst reach the handshake thread). A full handshake queue still
# takes each source's burst into rings served first (a valid MAC2; or none, for a cookie
# reply), so the restarted peer took 5.1-5.7 s, where it
# took 5-20.5 s or more when a full queue dropped whoever sent; before the handshake queue the
# stream carried nothing and no handshake completed, and wireguard-go 0.0.20220316 keeps 0.14
# (make bench-flood).
# FLOOD_GBPS_FRACTION (0.3), FLOOD_CONTROL_FRACTION (0.8), FLOOD_MAX_LOSS (1) and
# HS_FLOOD_MAX (11 s) are the margins;
# FLOOD_MIN_RATE (10000/s) is the least flood that counts as one.
source "$(dirname "$0")/lib.sh"
umask 077

flood_nets 90

P=${T_PREFIX:0:12}
IA=${P}fa IB=${P}fb
SOCK=/var/run/wireguard
PORT_A=51891 PORT_B=51890
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")
wg_keys a b
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")

# start_a: culvert wg in a, configured with stock wg to reach b; sets PID_A
start_a() {
	bg "$A" "$IA" "$CULVERT" wg -f "$IA" && PID_A=$BG_PID &&
		wait_for test -S "$SOCK/$IA.sock" &&
		nsx "$A" wg set "$IA" private-key "$T_DIR/ka" listen-port $PORT_A \
			peer "$PB" allowed-ips 198.19.90.2/32 endpoint 198.18.90.2:$PORT_B &&
		ifconf "$A" "$IA" 90 1
}
# start_b: the responder, with a as its peer (no endpoint: a initiates); sets PID_B
start_b() {
	bg "$NB" "$IB" "$CULVERT" wg -f "$IB" && PID_B=$BG_PID &&
		wait_for test -S "$SOCK/$IB.sock" &&
		nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port $PORT_B peer "$PA" allowed-ips 198.19.90.1/32 &&
		ifconf "$NB" "$IB" 90 2
}
# gbps SECS: one iperf3 stream a -> b through the tunnel; prints Gbit/s or nothing. Bounded in
# time even when the tunnel is dead (lib.sh's iperf waits up to 30 s more).
gbps() {
	nsx "$NB" timeout $(($1 + 8)) iperf3 -s -1 -B 198.19.90.2 >"$T_DIR/iperf-s.log" 2>&1 & local sp=$!
	T_PIDS+=("$sp")
	wait_listen "$NB" 5201
	nsx "$A" timeout $(($1 + 6)) iperf3 -c 198.19.90.2 -t "$1" --connect-timeout 2000 -J >"$T_DIR/iperf.json" 2>/dev/null
	reap "$sp" 2
	python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; s=e.get("sum_received") or e["sum"]; print("%.3f" % (s["bits_per_second"]/1e9))' "$T_DIR/iperf.json" 2>/dev/null
}
# best: the better of two 2 s runs; the machine is shared and one run can meet someone else's job
best() {
	local x y
	x=$(gbps 2) && [ -n "$x" ] || return 1	# a dead tunnel: no second wait
	y=$(gbps 2)
	[ -n "$x$y" ] && python3 -c 'import sys; print(max(float(v) for v in sys.argv[1:] if v))' "$x" "$y"
}
start_b || { fail "culvert wg starts" "b"; t_done; }
# a's first initiation, captured on b's side, is what part 1b replays
bg "$NB" cap tcpdump -n -U -c 1 -i vb -w "$T_DIR/init.pcap" "udp dst port $PORT_B and udp[4:2] = 156 and udp[8:4] = 0x01000000"
CAP=$BG_PID
wait_for grep -q "listening on" "$T_DIR/cap.log"
start_a || { fail "culvert wg starts" "a"; t_done; }
check "tunnel up before the flood" wait_ping "$A" 198.19.90.2 25
reap "$CAP" 2
python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); n = int.from_bytes(d[32:36], "little"); open(sys.argv[2], "wb").write(d[40:40 + n][-148:])' \
	"$T_DIR/init.pcap" "$T_DIR/init.bin" 2>/dev/null

base=$(best)
[ -n "$base" ] && pass "iperf3 without a flood ($base Gbit/s)" || fail "iperf3 without a flood"

# ---- 1. the flood: valid MAC1, then valid MAC2, 8 ports of 198.18.91.3, no rate cap ----------
bg "$F" flood "$FLOODER" -b 198.18.91.3 -n 8 -t 60 "$PB" 198.18.91.2:$PORT_B
FLOOD=$BG_PID
wait_for grep -q "sources_with_cookie=8/8" "$T_DIR/flood.log" &&
	pass "the flooder took a cookie for every source ($(grep '^t=' "$T_DIR/flood.log" | tail -1 | cut -d, -f1))" ||
	fail "the flooder took a cookie for every source" "$(tail -2 "$T_DIR/flood.log")"

l=$(loss "$A" 198.19.90.2 200)
[ -n "$l" ] && ge "${FLOOD_MAX_LOSS:-1}" "$l" && pass "ping loss during the flood ${l}% (<= ${FLOOD_MAX_LOSS:-1}%)" ||
	fail "ping loss during the flood <= ${FLOOD_MAX_LOSS:-1}%" "${l:-no answer}%"

g=$(best)
frac=${FLOOD_GBPS_FRACTION:-0.3}
# One more window when the first falls short: 2-s samples on 2 shared cores now and then catch
# the flooder and the stream on one core (a dead data path fails both).
if [ -n "$g" ] && [ -n "$base" ] && ! ge "$g" "$(python3 -c "print($base * $frac)")"; then
	sleep 1
	g2=$(best) && [ -n "$g2" ] && ge "$g2" "$g" && g=$g2
fi
if [ -n "$g" ] && [ -n "$base" ] && ge "$g" "$(python3 -c "print($base * $frac)")"; then
	pass "iperf3 during the flood $g Gbit/s (>= $frac x $base)"
	control=
else
	control="iperf3 during the flood keeps >= $frac of $base Gbit/s|${g:-no result} Gbit/s"
fi

# a restarted peer: its old session is gone, b's is not; within two attempts is REKEY_TIMEOUT
# (5 s) twice plus jitter and the round trips, as HS_MAX
restart_a
if t=$(HS_MAX=${HS_FLOOD_MAX:-11} handshake_time 198.19.90.2) && kill -0 "$FLOOD" 2>/dev/null; then
	hs=$(nsx "$A" wg show "$IA" latest-handshakes | awk '{print $2}')
	[ "${hs:-0}" -gt 0 ] && pass "restarted peer's handshake during the flood (${t} s, wg show agrees)" ||
		fail "restarted peer's handshake during the flood" "ping answered after ${t} s but latest-handshakes=${hs:-none}"
else
	fail "restarted peer's handshake during the flood" "no answer within ${HS_FLOOD_MAX:-11} s (flooder $(kill -0 "$FLOOD" 2>/dev/null && echo running || echo done))"
fi
kill "$FLOOD" 2>/dev/null; reap "$FLOOD" 5
total=$(grep '^total:' "$T_DIR/flood.log")
echo "flooder $total"
rate=$(sed -n 's/^total: \([0-9]*\) sent.*/\1/p' <<<"$total")
[ "${rate:-0}" -ge "${FLOOD_MIN_RATE:-10000}" ] && pass "the flood was real (${rate}/s valid initiations)" ||
	fail "the flood was real (>= ${FLOOD_MIN_RATE:-10000}/s)" "${rate:-0}/s"
if [ -n "$control" ] && [ -z "$g" ]; then
	fail "${control%%|*}" "${control#*|}: the tunnel carried nothing"
elif [ -n "$control" ]; then
	# The daemon or the machine? On 2 shared cores the flooder itself takes one, so the same
	# flood aimed at a socket that only reads and discards is measured too: what the flooder's
	# CPU and packets alone leave the tunnel. Keeping FLOOD_CONTROL_FRACTION (0.8) of that
	# passes, named as such; a daemon that starves its data path (main: nothing) still fails.
	wait_ping "$A" 198.19.90.2 25
	bg "$NB" sink socat -u UDP4-RECV:51899,bind=198.18.91.2 OPEN:/dev/null
	sink=$BG_PID
	bg "$F" flood-sink "$FLOODER" -q -b 198.18.91.3 -n 8 -t 8 "$PB" 198.18.91.2:51899
	sleep 0.5
	c=$(best)
	stop "$sink"
	cf=${FLOOD_CONTROL_FRACTION:-0.8}
	if [ -n "$g" ] && [ -n "$c" ] && ge "$g" "$(python3 -c "print($c * $cf)")"; then
		pass "iperf3 during the flood $g Gbit/s (< $frac x $base, but >= $cf x $c Gbit/s, what the same flood into a plain socket leaves: the machine's limit)"
	else
		fail "${control%%|*}" "${control#*|}; the same flood into a plain socket left ${c:-no result} Gbit/s"
	fi
fi
sleep 1
echo "b after the flood: $(drops)"
r=$(drop ratelimited)
[ "${r:-0}" -gt 0 ] && pass "per-source rate limiter counted ($r ratelimited)" ||
	fail "per-source rate limiter counted" "ratelimited=${r:-no such counter}"

# ---- 1b. a's own initiation replayed from 8 ports, valid MAC2 once the cookies are in --------
# It decrypts and names a, so it reaches the handshake's timestamp check; it must neither cost
# a's session its traffic nor move a's endpoint to the attacker.
if [ "$(stat -c %s "$T_DIR/init.bin" 2>/dev/null)" = 148 ]; then
	d0=$(dropjson | tr ' ' '\n' | awk -F= '{s += $2} END {print s + 0}')
	bg "$F" replay "$FLOODER" -R "$T_DIR/init.bin" -b 198.18.91.3 -n 8 -t 20 "$PB" 198.18.91.2:$PORT_B
	REPLAY=$BG_PID
	wait_for grep -q "sources_with_cookie=8/8" "$T_DIR/replay.log"
	l=$(loss "$A" 198.19.90.2 200)
	kill "$REPLAY" 2>/dev/null; reap "$REPLAY" 5
	d1=$(dropjson | tr ' ' '\n' | awk -F= '{s += $2} END {print s + 0}')
	echo "replay $(grep '^total:' "$T_DIR/replay.log")"
	[ $((d1 - d0)) -ge 1000 ] && pass "replays reached b ($((d1 - d0)) dropped)" ||
		fail "replays reached b" "drops went $d0 -> $d1"
	[ -n "$l" ] && ge "${FLOOD_MAX_LOSS:-1}" "$l" && pass "ping loss under replays of a's initiation ${l}% (<= ${FLOOD_MAX_LOSS:-1}%)" ||
		fail "ping loss under replays of a's initiation <= ${FLOOD_MAX_LOSS:-1}%" "${l:-no answer}%"
	ep=$(nsx "$NB" wg show "$IB" endpoints | awk '{print $2}')
	[ "$ep" = "198.18.90.1:$PORT_A" ] && pass "replays did not move a's endpoint" ||
		fail "replays did not move a's endpoint" "b has a at $ep"
else
	fail "a's initiation captured for the replay" "$(cat "$T_DIR/cap.log")"
fi

# ---- 2. garbage at 1k/s must not put b under load ----------------------------------------
# A fresh b: the flood's backlog in its socket (seconds of it on today's main) must not count
# here, and its cookie_sent starts at 0.
stop "$PID_B"; wait_for test ! -S "$SOCK/$IB.sock"; wait_for dev_gone "$NB" "$IB"
start_b || fail "b restarts"
c0=$(drop cookie_sent) m0=$(drop bad_mac1)
bg "$F" garbage "$FLOODER" -g -r 1000 -b 198.18.91.3 -n 8 -t 20 - 198.18.91.2:$PORT_B
GARB=$BG_PID
sleep 1.5
restart_a
t=$(handshake_time 198.19.90.2) || t=
c1=$(drop cookie_sent) m1=$(drop bad_mac1)
kill "$GARB" 2>/dev/null; reap "$GARB" 5
echo "garbage $(grep '^total:' "$T_DIR/garbage.log")"
echo "b after the garbage: $(drops)"
[ $((m1 - m0)) -ge 500 ] && pass "garbage reached b ($((m1 - m0)) bad_mac1)" ||
	fail "garbage reached b" "bad_mac1 went $m0 -> $m1"
[ -n "$c1" ] && [ "$c1" = "$c0" ] && pass "no cookie reply to the real peer under garbage (cookie_sent stays $c0)" ||
	fail "no cookie reply to the real peer under garbage" "cookie_sent went $c0 -> $c1"
[ -n "$t" ] && ge 4 "$t" && pass "handshake under garbage at first try (${t} s)" ||
	fail "handshake under garbage at first try (< 4 s)" "${t:-no answer in ${HS_MAX:-11}} s"
stop "$PID_A"; stop "$PID_B"
t_done
