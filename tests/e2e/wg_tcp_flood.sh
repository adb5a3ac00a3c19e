#!/bin/bash
# culvert wg --transport tcp under a handshake flood. Namespace a is the real peer, b the
# responder, f the attacker on its own underlay address. The attacker (wg_flood -T) needs only
# b's public key: from 4 TCP connections it streams initiations with a valid MAC1, takes the
# cookie replies that come back on them and sends valid MAC2s from then on. The TCP transport
# has no handshake thread: its worker serves the handshake queue after each batch, so the
# queue's depth never builds and, before the load came from the rate too, every initiation got
# the full DH on the one worker that carries everyone's data, with no cookie and no rate limit.
# While it runs: established pings lose at most 1%, a restarted peer completes its handshake
# within two attempts; after it: b answered with cookies, the per-source limiter counted, and
# the DH b spent on the flood (bad_handshake) stays within what the load rule allows: 511 in
# the second the load is found, then the per-source limit (20 a second and a burst of 5 for
# the flooder's one address), far from one per message sent.
# FLOOD_MAX_LOSS (1), HS_FLOOD_MAX (11 s) and TCP_FLOOD_MIN_RATE (2000/s) are the margins.
source "$(dirname "$0")/lib.sh"
umask 077

flood_nets 92

P=${T_PREFIX:0:12}
IA=${P}ta IB=${P}tb
SOCK=/var/run/wireguard
PORT_B=51892 SECS=16
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")
wg_keys a b
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")

start_a() {
	bg "$A" "$IA" "$CULVERT" wg -f --transport tcp "$IA" && PID_A=$BG_PID &&
		wait_for test -S "$SOCK/$IA.sock" &&
		nsx "$A" wg set "$IA" private-key "$T_DIR/ka" listen-port 51893 \
			peer "$PB" allowed-ips 198.19.92.2/32 endpoint 198.18.92.2:$PORT_B &&
		ifconf "$A" "$IA" 92 1
}
start_b() {
	bg "$NB" "$IB" "$CULVERT" wg -f --transport tcp "$IB" && PID_B=$BG_PID &&
		wait_for test -S "$SOCK/$IB.sock" &&
		nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port $PORT_B peer "$PA" allowed-ips 198.19.92.1/32 &&
		ifconf "$NB" "$IB" 92 2
}
start_b || { fail "culvert wg --transport tcp starts" "b"; t_done; }
start_a || { fail "culvert wg --transport tcp starts" "a"; t_done; }
check "tunnel up before the flood" wait_ping "$A" 198.19.92.2 25
dh0=$(drop bad_handshake)

bg "$F" flood "$FLOODER" -T -b 198.18.93.3 -n 4 -t $SECS "$PB" 198.18.93.2:$PORT_B
FLOOD=$BG_PID
wait_for grep -q "sources_with_cookie=4/4" "$T_DIR/flood.log" &&
	pass "the flooder took a cookie on every connection ($(grep '^t=' "$T_DIR/flood.log" | tail -1 | cut -d, -f1))" ||
	fail "the flooder took a cookie on every connection" "$(tail -2 "$T_DIR/flood.log")"

flood_during 198.19.92.2 "${FLOOD_MAX_LOSS:-1}" $SECS
flood_after 198.19.92.2 "${TCP_FLOOD_MIN_RATE:-2000}" TCP

dh=$(( $(drop bad_handshake) - dh0 ))
echo "b after the flood: bad_handshake=+$dh of ${FLOOD_SENT:-?} sent"
# the DH the flood bought: 511 before the load is found, then the flooder's one source's tokens
# (a burst of 5 and 20 a second, which its cookie-bearing MAC2s use), with room for one more
# second of each
max=$((2 * 512 + 25 * (SECS + 2)))
[ "$dh" -le "$max" ] && pass "the flood bought at most $max DH ($dh of ${FLOOD_SENT:-?} initiations)" ||
	fail "the flood bought at most $max DH" "$dh of ${FLOOD_SENT:-?} initiations got the full DH"
t_done
