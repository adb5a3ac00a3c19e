#!/bin/bash
# The culvert tunnel under change: no plaintext on the underlay, the client roams to a new
# underlay address mid-ping, the server holds a wrong public key for the client (then fixed
# with wg set), and the client is killed with -9 and brought up again with the same config.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && Z=$(ns_new z) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$A" "$Z")	# ns_new ran in a subshell: register for the clean-up here
ns_link "$A" va "$Z" vz
nsx "$A" sysctl -qw net.ipv4.conf.all.promote_secondaries=1 net.ipv4.conf.va.promote_secondaries=1
nsx "$A" ip addr add 198.18.41.1/24 dev va
nsx "$Z" ip addr add 198.18.41.2/24 dev vz

P=${T_PREFIX:0:12}
IA=${P}ra IZ=${P}rz
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IZ.sock")
for k in a z w; do "$CULVERT" genkey >"$T_DIR/k$k"; "$CULVERT" pubkey <"$T_DIR/k$k" >"$T_DIR/p$k"; done
PA=$(cat "$T_DIR/pa") PW=$(cat "$T_DIR/pw")

cat >"$T_DIR/$IA.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/ka")
ListenPort = 51841
Address = 198.19.40.1/24

[Peer]
PublicKey = $(cat "$T_DIR/pz")
AllowedIPs = 198.19.40.2/32
Endpoint = 198.18.41.2:51840
EOF
cat >"$T_DIR/$IZ.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/kz")
ListenPort = 51840
Address = 198.19.40.2/24

[Peer]
PublicKey = $PA
AllowedIPs = 198.19.40.1/32
EOF
check "client up" nsx "$A" "$CULVERT" up "$T_DIR/$IA.conf"
check "server up" nsx "$Z" "$CULVERT" up "$T_DIR/$IZ.conf"
check "tunnel works" wait_ping "$A" 198.19.40.2 25

# ---- no plaintext on the underlay ------------------------------------------------------
PAT=c0ffee15deadbeef
# capture NS IF NAME: tcpdump into $T_DIR/NAME.pcap, returns once it listens; sets CAP_PID
capture() {
	bg "$1" "$3" tcpdump -n -U --immediate-mode -i "$2" -w "$T_DIR/$3.pcap"
	CAP_PID=$BG_PID
	wait_for grep -q "listening on" "$T_DIR/$3.log"
}
has_pattern() { python3 -c 'import sys; sys.exit(0 if bytes.fromhex(sys.argv[2]) * 2 in open(sys.argv[1], "rb").read() else 1)' "$1" "$PAT"; }
capture "$A" va under && cap1=$CAP_PID && capture "$A" "$IA" inner && cap2=$CAP_PID || fail "tcpdump starts"
quiet nsx "$A" ping -c3 -i0.2 -W1 -s 200 -p "$PAT" 198.19.40.2
sleep 0.3
kill -INT "$cap1" "$cap2" 2>/dev/null
wait "$cap1" "$cap2" 2>/dev/null
n_udp=$(tcpdump -n -r "$T_DIR/under.pcap" udp port 51840 2>/dev/null | wc -l)
[ "$n_udp" -ge 6 ] && pass "underlay capture saw the tunnel's UDP ($n_udp packets)" ||
	fail "underlay capture saw the tunnel's UDP" "$n_udp packets"
has_pattern "$T_DIR/inner.pcap" && pass "the pattern is visible inside the tunnel (control)" ||
	fail "the pattern is visible inside the tunnel (control)"
! has_pattern "$T_DIR/under.pcap" && pass "no plaintext of the payload on the underlay" ||
	fail "no plaintext of the payload on the underlay"

# ---- roaming: the client's underlay address changes mid-ping ---------------------------
[ "$(nsx "$Z" wg show "$IZ" endpoints | awk '{print $2}')" = "198.18.41.1:51841" ] &&
	pass "server knows the client at 198.18.41.1" || fail "server knows the client at 198.18.41.1"
nsx "$A" ping -c 30 -i 0.1 -W1 198.19.40.2 >"$T_DIR/roam.log" 2>&1 & roam=$!
sleep 1
nsx "$A" ip addr add 198.18.41.3/24 dev va
nsx "$A" ip addr del 198.18.41.1/24 dev va
wait "$roam"
got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$T_DIR/roam.log")
[ "${got:-0}" -ge 20 ] && pass "traffic continues while roaming ($got/30 answered)" ||
	fail "traffic continues while roaming" "$(tail -3 "$T_DIR/roam.log")"
ep=$(nsx "$Z" wg show "$IZ" endpoints | awk '{print $2}')
[ "$ep" = "198.18.41.3:51841" ] && pass "server's endpoint follows the client" ||
	fail "server's endpoint follows the client" "endpoint $ep"

# ---- wrong key on the server ------------------------------------------------------------
nsx "$Z" wg set "$IZ" peer "$PA" remove peer "$PW" allowed-ips 198.19.40.1/32
# The client's session with the server's old peer entry is gone; force a new handshake.
check "client restarts its session" nsx "$A" wg set "$IA" peer "$(cat "$T_DIR/pz")" remove
nsx "$A" wg set "$IA" peer "$(cat "$T_DIR/pz")" allowed-ips 198.19.40.2/32 endpoint 198.18.41.2:51840
check_not "no traffic with a wrong key" quiet nsx "$A" ping -c3 -i0.3 -W1 198.19.40.2
zpid=$(pgrep -o -f "culvert wg (--config [^ ]* )?$IZ\$")
[ -n "$zpid" ] && kill -0 "$zpid" && quiet nsx "$Z" wg show "$IZ" && pass "server survives the wrong key" ||
	fail "server survives the wrong key"
[ "$(nsx "$Z" wg show "$IZ" latest-handshakes | awk '{print $2}')" = 0 ] &&
	pass "no handshake with the wrong key" || fail "no handshake with the wrong key"
check "fix the key with wg set" nsx "$Z" wg set "$IZ" peer "$PW" remove peer "$PA" allowed-ips 198.19.40.1/32 \
	endpoint 198.18.41.3:51841
check "traffic flows after the fix" wait_ping "$Z" 198.19.40.1 25
check "and from the client" quiet nsx "$A" ping -c2 -i0.2 -W1 198.19.40.2

# ---- kill -9 and start again -------------------------------------------------------------
apid=$(pgrep -o -f "culvert wg (--config [^ ]* )?$IA\$")
[ -n "$apid" ] && kill -9 "$apid"
wait_for sh -c "! ip netns exec $A ip link show $IA" && pass "client's link gone after kill -9" ||
	fail "client's link gone after kill -9"
check_not "no tunnel while the client is down" quiet nsx "$A" ping -c1 -W1 198.19.40.2
if nsx "$A" "$CULVERT" up "$T_DIR/$IA.conf" 2>"$T_DIR/reup.err"; then pass "client up again over the stale socket"; else
	fail "client up again over the stale socket" "$(cat "$T_DIR/reup.err")"; fi
check "tunnel recovers on the next packet" quiet nsx "$A" ping -c1 -W3 198.19.40.2
check "server still answers" quiet nsx "$Z" ping -c2 -i0.2 -W1 198.19.40.1
check "client down" nsx "$A" "$CULVERT" down "$IA"
check "server down" nsx "$Z" "$CULVERT" down "$IZ"
t_done
