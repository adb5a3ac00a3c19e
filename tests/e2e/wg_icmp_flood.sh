#!/bin/bash
# culvert wg --transport icmp under a handshake flood. Namespace a is the real peer (it dials),
# b the responder (it listens), f the attacker on its own underlay address. The attacker
# (wg_flood -I) needs only b's public key: from 6 echo identifiers on one raw socket it sends
# echo requests carrying initiations with a valid MAC1, takes the cookie replies that come back
# in b's echo replies and sends valid MAC2s from then on. Like the TCP transport, the ICMP one
# has no handshake thread: its worker serves the handshake queue after each batch, so the load
# comes from the rate (the 512th message served in a second), then cookies and the per-source
# limiter. And an echo request makes a listener session, which no attacker's can prove: one
# address may hold 4 unproven sessions, so 2 of the flooder's 6 identifiers find no session.
# While it runs: established pings lose at most 5%, a restarted peer completes its handshake;
# after it: b answered with cookies, the per-source limiter counted, the table refused the
# identifiers past the per-source bound, and the DH b spent on the flood (bad_handshake) stays
# within what the load rule allows, far from one per message sent.
# The pings share the listener's one raw socket (and its receive queue) with the flood, on two
# CPUs shared with the flooder and both daemons: 0-4% of them were lost in runs on a busy
# machine, 18-48% before the socket's buffers grew and the buckets came first under load.
# FLOOD_MAX_LOSS (5), HS_FLOOD_MAX (11 s) and ICMP_FLOOD_MIN_RATE (2000/s) are the margins.
source "$(dirname "$0")/lib.sh"
umask 077

flood_nets 94

P=${T_PREFIX:0:12}
IA=${P}ia IB=${P}ib
SOCK=/var/run/wireguard
SECS=16 IDS=6
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")
wg_keys a b
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")

start_a() {
	bg "$A" "$IA" "$CULVERT" wg -f --transport icmp "$IA" && PID_A=$BG_PID &&
		wait_for test -S "$SOCK/$IA.sock" &&
		nsx "$A" wg set "$IA" private-key "$T_DIR/ka" \
			peer "$PB" allowed-ips 198.19.94.2/32 endpoint 198.18.94.2:51820 &&
		ifconf "$A" "$IA" 94 1
}
start_b() {
	bg "$NB" "$IB" "$CULVERT" wg -f --transport icmp "$IB" && PID_B=$BG_PID &&
		wait_for test -S "$SOCK/$IB.sock" &&
		nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" peer "$PA" allowed-ips 198.19.94.1/32 &&
		ifconf "$NB" "$IB" 94 2
}
start_b || { fail "culvert wg --transport icmp starts" "b"; t_done; }
start_a || { fail "culvert wg --transport icmp starts" "a"; t_done; }
check "tunnel up before the flood" wait_ping "$A" 198.19.94.2 25
dh0=$(drop bad_handshake) tf0=$(drop icmp_table_full)

bg "$F" flood "$FLOODER" -I -b 198.18.95.3 -n $IDS -t $SECS "$PB" 198.18.95.2
FLOOD=$BG_PID
wait_for grep -q "sources_with_cookie=[1-9]/$IDS" "$T_DIR/flood.log" &&
	pass "the flooder took cookies ($(grep '^t=' "$T_DIR/flood.log" | tail -1 | cut -d, -f1))" ||
	fail "the flooder took cookies" "$(tail -2 "$T_DIR/flood.log")"

flood_during 198.19.94.2 "${FLOOD_MAX_LOSS:-5}" $SECS
with=$(sed -n 's/.*sources_with_cookie=\([0-9]*\)\/.*/\1/p' <<<"$FLOOD_TOTAL")
flood_after 198.19.94.2 "${ICMP_FLOOD_MIN_RATE:-2000}" ICMP

dh=$(( $(drop bad_handshake) - dh0 )) tf=$(( $(drop icmp_table_full) - tf0 ))
echo "b after the flood: bad_handshake=+$dh of ${FLOOD_SENT:-?} sent, icmp_table_full=+$tf"
# one address holds 4 unproven sessions: the other identifiers got no session, so no cookie
[ "${with:-0}" -le 4 ] && [ "$tf" -gt 0 ] &&
	pass "one source held at most 4 sessions ($with of $IDS identifiers took a cookie, $tf requests refused)" ||
	fail "one source held at most 4 sessions" "${with:-?} of $IDS identifiers took a cookie, icmp_table_full=+$tf"
# the DH the flood bought: 511 before the load is found, then the flooder's one source's tokens
# (a burst of 5 and 20 a second), with room for one more second of each
max=$((2 * 512 + 25 * (SECS + 2)))
[ "$dh" -le "$max" ] && pass "the flood bought at most $max DH ($dh of ${FLOOD_SENT:-?} initiations)" ||
	fail "the flood bought at most $max DH" "$dh of ${FLOOD_SENT:-?} initiations got the full DH"
t_done
