#!/bin/bash
# culvert wg: culvert <-> culvert over IPv4 and IPv6 underlays, culvert <-> wireguard-go with
# either side initiating, `wg show`/`showconf`/peer removal against culvert's socket, and
# wg-quick up/down with culvert-wg as the userspace implementation.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
ns_link "$A" va "$NB" vb
nsx "$A" ip addr add 198.18.7.1/24 dev va
nsx "$NB" ip addr add 198.18.7.2/24 dev vb
nsx "$A" ip addr add 2001:db8:7::1/64 dev va nodad
nsx "$NB" ip addr add 2001:db8:7::2/64 dev vb nodad

wg_keys a b g
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb") PG=$(cat "$T_DIR/pg")
IA=${T_PREFIX}a IB=${T_PREFIX}b IG=${T_PREFIX}g IQ=${T_PREFIX}q
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock $SOCK/$IG.sock $SOCK/$IQ.sock")

# ifaddr NS IF V4 V6: tunnel addresses and link up
ifaddr() {
	nsx "$1" ip addr add "$3/24" dev "$2" && nsx "$1" ip addr add "$4/64" dev "$2" nodad &&
		nsx "$1" ip link set "$2" up
}
# start NS IF: culvert wg in the foreground, wait for its socket
start() {
	bg "$1" "$2" "$CULVERT" wg -f -d "$2"
	wait_for test -S "$SOCK/$2.sock"
}
wg_field() { nsx "$1" wg show "$2" "$3" | awk '{print $2}'; }

# ---- 1. culvert <-> culvert -------------------------------------------------------------
start "$A" "$IA" && PID_A=$BG_PID && start "$NB" "$IB" || fail "culvert starts" "no control socket"
cat >"$T_DIR/a.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/ka")
ListenPort = 51820

[Peer]
PublicKey = $PB
AllowedIPs = 198.19.7.2/32, 2001:db8:ff::2/128
Endpoint = 198.18.7.2:51821
EOF
check "wg setconf on culvert" nsx "$A" wg setconf "$IA" "$T_DIR/a.conf"
check "wg set on culvert" nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port 51821 \
	peer "$PA" allowed-ips 198.19.7.1/32,2001:db8:ff::1/128
ifaddr "$A" "$IA" 198.19.7.1 2001:db8:ff::1
ifaddr "$NB" "$IB" 198.19.7.2 2001:db8:ff::2
check "culvert<->culvert ping a->b" wait_ping "$A" 198.19.7.2 25
check "culvert<->culvert ping b->a" quiet nsx "$NB" ping -c2 -i0.2 -W1 198.19.7.1
check "culvert<->culvert IPv6 inside" quiet nsx "$A" ping -6 -c2 -i0.2 -W1 2001:db8:ff::2
check "big packets (1392 bytes) fit the MTU" quiet nsx "$A" ping -c1 -W1 -s 1364 -M do 198.19.7.2
gbps=$(iperf "$NB" "$A" 198.19.7.2 1) && pass "iperf3 culvert->culvert ($gbps Gbit/s)" ||
	fail "iperf3 culvert->culvert"
gbps=$(iperf "$A" "$NB" 2001:db8:ff::1 1) && pass "iperf3 culvert->culvert IPv6 inside ($gbps Gbit/s)" ||
	fail "iperf3 culvert->culvert IPv6 inside"
[ "$(wg_field "$NB" "$IB" endpoints)" = "198.18.7.1:51820" ] &&
	pass "responder learned the endpoint" || fail "responder learned the endpoint"
# IPv6 underlay: point a at b's v6 address; b roams to a's v6 source.
nsx "$A" wg set "$IA" peer "$PB" endpoint "[2001:db8:7::2]:51821"
check "IPv6 underlay ping" quiet nsx "$A" ping -c2 -i0.2 -W1 198.19.7.2
[ "$(wg_field "$NB" "$IB" endpoints)" = "[2001:db8:7::1]:51820" ] &&
	pass "roamed to the IPv6 source" || fail "roamed to the IPv6 source" "$(wg_field "$NB" "$IB" endpoints)"

# ---- 3. wg show / showconf / remove on culvert's socket ---------------------------------
show=$(nsx "$A" wg show "$IA")
grep -q "peer: $PB" <<<"$show" && grep -q "endpoint: \[2001:db8:7::2\]:51821" <<<"$show" &&
	grep -q "latest handshake: .*second\|latest handshake: Now" <<<"$show" &&
	grep -q "transfer: .* received, .* sent" <<<"$show" &&
	pass "wg show lists peer, endpoint, handshake, transfer" || fail "wg show lists peer, endpoint, handshake, transfer"
rx=$(nsx "$A" wg show "$IA" transfer | awk '{print $2}')
[ "${rx:-0}" -gt 0 ] && pass "transfer counts received bytes" || fail "transfer counts received bytes" "rx=$rx"
nsx "$A" wg showconf "$IA" >"$T_DIR/show1.conf"
nsx "$A" wg setconf "$IA" "$T_DIR/show1.conf"
nsx "$A" wg showconf "$IA" >"$T_DIR/show2.conf"
cmp -s "$T_DIR/show1.conf" "$T_DIR/show2.conf" && grep -q "PrivateKey = $(cat "$T_DIR/ka")" "$T_DIR/show1.conf" &&
	pass "wg showconf round-trips" || fail "wg showconf round-trips" "$(diff "$T_DIR/show1.conf" "$T_DIR/show2.conf")"
check "tunnel survives setconf" quiet nsx "$A" ping -c1 -W1 198.19.7.2
# syncconf diffs against a get=1 and sends only the change: one allowed IP more, nothing dropped
sed 's|^AllowedIPs = \(.*\)$|AllowedIPs = \1, 198.19.77.0/24|' "$T_DIR/show1.conf" >"$T_DIR/sync.conf"
check "wg syncconf" nsx "$A" wg syncconf "$IA" "$T_DIR/sync.conf"
nsx "$A" wg show "$IA" allowed-ips | grep -q "198.19.77.0/24" && nsx "$A" wg show "$IA" allowed-ips | grep -q "198.19.7.2/32" &&
	pass "syncconf added the allowed IP and kept the others" || fail "syncconf added the allowed IP and kept the others" "$(nsx "$A" wg show "$IA" allowed-ips)"
check "tunnel survives syncconf" quiet nsx "$A" ping -c1 -W1 198.19.7.2
check "wg set peer remove" nsx "$A" wg set "$IA" peer "$PB" remove
[ -z "$(nsx "$A" wg show "$IA" peers)" ] && pass "peer gone after remove" || fail "peer gone after remove"
check_not "no tunnel after peer remove" quiet nsx "$A" ping -c1 -W1 198.19.7.2

# ---- 2. culvert <-> wireguard-go ---------------------------------------------------------
nsx "$NB" ip link del "$IB" 2>/dev/null   # culvert b exits when its device goes
wait_for test ! -S "$SOCK/$IB.sock" && pass "daemon exits when its device is deleted" ||
	fail "daemon exits when its device is deleted"
bg "$NB" wggo wireguard-go -f "$IG"
wait_for test -S "$SOCK/$IG.sock" || fail "wireguard-go starts"
nsx "$NB" wg set "$IG" private-key "$T_DIR/kg" listen-port 51822 \
	peer "$PA" allowed-ips 198.19.7.1/32,2001:db8:ff::1/128
ifaddr "$NB" "$IG" 198.19.7.3 2001:db8:ff::3
nsx "$A" wg set "$IA" peer "$PG" allowed-ips 198.19.7.3/32,2001:db8:ff::3/128 endpoint 198.18.7.2:51822
check "culvert initiates to wireguard-go: ping" wait_ping "$A" 198.19.7.3 25
check "culvert->wireguard-go IPv6 inside" quiet nsx "$A" ping -6 -c2 -i0.2 -W1 2001:db8:ff::3
gbps=$(iperf "$NB" "$A" 198.19.7.3 2) && pass "iperf3 culvert->wireguard-go ($gbps Gbit/s)" ||
	fail "iperf3 culvert->wireguard-go"
# Forget the sessions on both sides; now wireguard-go initiates.
nsx "$A" wg set "$IA" peer "$PG" remove
nsx "$NB" wg set "$IG" peer "$PA" remove
nsx "$A" wg set "$IA" peer "$PG" allowed-ips 198.19.7.3/32,2001:db8:ff::3/128
nsx "$NB" wg set "$IG" peer "$PA" allowed-ips 198.19.7.1/32,2001:db8:ff::1/128 endpoint 198.18.7.1:51820
check "wireguard-go initiates to culvert: ping" wait_ping "$NB" 198.19.7.1 25
grep -q "up (handshake as responder)" "$T_DIR/$IA.log" && pass "culvert answered wireguard-go's initiation" ||
	fail "culvert answered wireguard-go's initiation"
check "wireguard-go->culvert IPv6 inside" quiet nsx "$NB" ping -6 -c2 -i0.2 -W1 2001:db8:ff::1
gbps=$(iperf "$A" "$NB" 198.19.7.1 2) && pass "iperf3 wireguard-go->culvert ($gbps Gbit/s)" ||
	fail "iperf3 wireguard-go->culvert"
gbps=$(iperf "$NB" "$A" 198.19.7.3 2 -R) && pass "iperf3 reverse ($gbps Gbit/s)" || fail "iperf3 reverse"

# ---- 4. wg-quick with culvert-wg --------------------------------------------------------
mkdir -p "$T_DIR/bin" && ln -s "$CULVERT" "$T_DIR/bin/culvert-wg"
cat >"$T_DIR/$IQ.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/ka")
Address = 198.19.8.1/24, 2001:db8:8::1/64
ListenPort = 51830

[Peer]
PublicKey = $PG
AllowedIPs = 198.19.9.0/24
Endpoint = 198.18.7.2:51822
EOF
before=$(nsx "$A" sh -c 'ip -o addr; ip route; ip -6 route' | grep -v "$IA")
if nsx "$A" env PATH="$T_DIR/bin:$PATH" WG_QUICK_USERSPACE_IMPLEMENTATION=culvert-wg \
	wg-quick up "$T_DIR/$IQ.conf" >"$T_DIR/wgquick.log" 2>&1; then
	pass "wg-quick up with culvert-wg"
else
	fail "wg-quick up with culvert-wg" "$(cat "$T_DIR/wgquick.log")"
fi
pid=$(nsx "$A" pgrep -f "culvert-wg $IQ" | head -1)
[ -n "$pid" ] && T_PIDS+=("$pid")
[ "$(nsx "$A" wg show "$IQ" listen-port)" = 51830 ] && nsx "$A" ip -o addr show dev "$IQ" | grep -q 198.19.8.1/24 &&
	nsx "$A" ip route | grep -q "198.19.9.0/24 dev $IQ" &&
	pass "wg-quick configured the culvert interface" || fail "wg-quick configured the culvert interface"
check "wg-quick down" quiet nsx "$A" env PATH="$T_DIR/bin:$PATH" wg-quick down "$T_DIR/$IQ.conf"
wait_for test ! -S "$SOCK/$IQ.sock" && pass "socket removed after wg-quick down" ||
	fail "socket removed after wg-quick down"
after=$(nsx "$A" sh -c 'ip -o addr; ip route; ip -6 route' | grep -v "$IA")
[ "$before" = "$after" ] && pass "addresses and routes restored" ||
	fail "addresses and routes restored" "$(diff <(echo "$before") <(echo "$after"))"

# ---- SIGTERM removes the socket and the device ------------------------------------------
kill "$PID_A"
wait_for test ! -S "$SOCK/$IA.sock" && wait_for sh -c "! ip netns exec $A ip link show $IA" &&
	pass "SIGTERM removes socket and device" || fail "SIGTERM removes socket and device"
t_done
