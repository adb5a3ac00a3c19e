#!/bin/bash
# culvert show --format prometheus: two culvert interfaces in one namespace (one with a live
# peer, one bare) give one exposition that `promtool check metrics` (Debian's prometheus)
# accepts, each family once; the peer's bytes, handshake time and endpoint agree with
# `culvert show --json`, and a datagram too short to be a message counts under
# reason="short_frame".
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
ns_link "$A" va "$NB" vb
nsx "$A" ip addr add 198.18.43.1/24 dev va
nsx "$NB" ip addr add 198.18.43.2/24 dev vb
wg_keys a b
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")
IA=${T_PREFIX}a IB=${T_PREFIX}b IA2=${T_PREFIX}z
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock $SOCK/$IA2.sock")

for x in "$A $IA" "$NB $IB" "$A $IA2"; do
	set -- $x
	bg "$1" "$2" "$CULVERT" wg -f "$2"
	wait_for test -S "$SOCK/$2.sock" || fail "culvert wg $2 starts"
done
nsx "$A" wg set "$IA" private-key "$T_DIR/ka" listen-port 51820 peer "$PB" allowed-ips 198.19.43.2/32 endpoint 198.18.43.2:51820
nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port 51820 peer "$PA" allowed-ips 198.19.43.1/32
ifconf "$A" "$IA" 43 1; ifconf "$NB" "$IB" 43 2
check "ping through the tunnel" wait_ping "$A" 198.19.43.2 25
# two datagrams too short for any message: the short_frame drop counter
nsx "$NB" bash -c 'for i in 1 2; do echo -n x >/dev/udp/198.18.43.1/51820; done'
# counted by a worker, perhaps a moment later: read until both are there (5 s at most)
P=$T_DIR/metrics.prom
for i in $(seq 25); do
	nsx "$A" "$CULVERT" show --format prometheus >"$P"
	grep -q "^culvert_drops_total{interface=\"$IA\",reason=\"short_frame\"} [2-9]" "$P" && break
	sleep 0.2
done
check "culvert show --format prometheus succeeds" test -s "$P"
if promtool check metrics <"$P" >"$T_DIR/promtool.log" 2>&1; then
	pass "promtool check metrics accepts it (no errors, no lint)"
else
	fail "promtool check metrics accepts it" "$(head -5 "$T_DIR/promtool.log")"
fi
dups=$(grep '^# TYPE ' "$P" | sort | uniq -d)
[ -z "$dups" ] && pass "each family has one TYPE line over both interfaces" || fail "each family has one TYPE line" "$dups"
[ "$(grep -c '^culvert_interface_info{' "$P")" = 2 ] && pass "both interfaces are there" ||
	fail "both interfaces are there" "$(grep '^culvert_interface_info' "$P")"

# metric NAME LABEL-REGEX: the value of the one sample of NAME whose labels match
# (a substring, not a regex: base64 keys have '+' and '/')
metric() { awk -v n="$1" -v l="$2" 'index($0, n "{") == 1 && index($0, l) { print $NF }' "$P"; }
J=$T_DIR/show.json
nsx "$A" "$CULVERT" show "$IA" --json >"$J"
jv() { python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["interfaces"][0]["peers"][0]; print(p[sys.argv[2]])' "$J" "$1"; }
lab="interface=\"$IA\",public_key=\"$PB\""
rx=$(metric culvert_peer_receive_bytes_total "$lab") tx=$(metric culvert_peer_transmit_bytes_total "$lab")
# the ping of the test may add bytes between the two reads: the later JSON is never below
[ -n "$rx" ] && [ "$rx" -gt 0 ] && [ "$rx" -le "$(jv rx_bytes)" ] && [ "$tx" -gt 0 ] && [ "$tx" -le "$(jv tx_bytes)" ] &&
	pass "peer bytes received/sent ($rx/$tx) agree with culvert show --json" ||
	fail "peer bytes agree with culvert show --json" "prom $rx/$tx json $(jv rx_bytes)/$(jv tx_bytes)"
hs=$(metric culvert_peer_latest_handshake_seconds "$lab")
[ -n "$hs" ] && [ "$hs" = "$(jv latest_handshake)" ] && [ $(( $(date +%s) - hs )) -lt 60 ] &&
	pass "latest handshake is the Unix time of the handshake ($hs)" || fail "latest handshake" "prom $hs json $(jv latest_handshake)"
check "the endpoint is a label" test "$(metric culvert_peer_endpoint_info "$lab,endpoint=\"198.18.43.2:51820\"")" = 1
sf=$(metric culvert_drops_total "interface=\"$IA\",reason=\"short_frame\"")
[ "${sf:-0}" -ge 2 ] && pass "drops by reason: short_frame counts the two stray datagrams ($sf)" ||
	fail "drops by reason: short_frame" "got '$sf'"
n=$(grep -c "^culvert_drops_total{interface=\"$IA\"," "$P")
[ "$n" -ge 10 ] && [ "$(grep -c "^culvert_drops_total{interface=\"$IA2\"," "$P")" = "$n" ] &&
	pass "every drop reason is exported for each interface ($n reasons)" || fail "every drop reason is exported" "$n"

# naming one interface, and one that does not exist
nsx "$A" "$CULVERT" show "$IA2" --format prometheus >"$T_DIR/one.prom"
check "one interface named: only it" bash -c "grep -q 'interface=\"$IA2\"' '$T_DIR/one.prom' && ! grep -q 'interface=\"$IA\"' '$T_DIR/one.prom'"
check "... and promtool accepts it" bash -c "promtool check metrics <'$T_DIR/one.prom' >/dev/null 2>&1"
out=$(nsx "$A" "$CULVERT" show ${T_PREFIX}none --format prometheus 2>/dev/null); rc=$?
[ $rc = 1 ] && [ -z "$out" ] && pass "a missing interface fails with nothing on stdout (no partial file)" ||
	fail "a missing interface fails with nothing on stdout" "exit $rc, $(echo "$out" | head -2)"
t_done
