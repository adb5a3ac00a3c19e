#!/bin/bash
# culvert (culvert up) <-> wireguard-go (configured with wg): each side initiating, over an
# IPv4 and an IPv6 underlay, IPv4 and IPv6 inside; a 2 s iperf3 TCP run in each direction.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NG=$(ns_new g) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$A" "$NG")	# ns_new ran in a subshell: register for the clean-up here
ns_link "$A" va "$NG" vg
nsx "$A" ip addr add 198.18.51.1/24 dev va
nsx "$NG" ip addr add 198.18.51.2/24 dev vg
nsx "$A" ip addr add 2001:db8:51::1/64 dev va nodad
nsx "$NG" ip addr add 2001:db8:51::2/64 dev vg nodad

P=${T_PREFIX:0:12}
IA=${P}ia IG=${P}ig
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IG.sock")
for k in a g; do "$CULVERT" genkey >"$T_DIR/k$k"; "$CULVERT" pubkey <"$T_DIR/k$k" >"$T_DIR/p$k"; done
PA=$(cat "$T_DIR/pa") PG=$(cat "$T_DIR/pg")
AIPS_A=198.19.50.1/32,2001:db8:1950::1/128 AIPS_G=198.19.50.2/32,2001:db8:1950::2/128

cat >"$T_DIR/$IA.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/ka")
ListenPort = 51851
Address = 198.19.50.1/24, 2001:db8:1950::1/64

[Peer]
PublicKey = $PG
AllowedIPs = ${AIPS_G/,/, }
EOF
if nsx "$A" "$CULVERT" up "$T_DIR/$IA.conf" 2>"$T_DIR/up.err"; then pass "culvert up"; else
	fail "culvert up" "$(cat "$T_DIR/up.err")"; fi
bg "$NG" wggo wireguard-go -f "$IG"
wait_for test -S "$SOCK/$IG.sock" || { fail "wireguard-go starts" "$(cat "$T_DIR/wggo.log")"; t_done; }
nsx "$NG" wg set "$IG" private-key "$T_DIR/kg" listen-port 51852
nsx "$NG" ip addr add 198.19.50.2/24 dev "$IG"
nsx "$NG" ip addr add 2001:db8:1950::2/64 dev "$IG"
nsx "$NG" ip link set "$IG" up

# pair INITIATOR FAMILY: fresh peers on both sides, only the initiator knows an endpoint.
pair() {
	local who=$1 fam=$2 epa epg
	if [ "$fam" = 4 ]; then epa=198.18.51.1:51851 epg=198.18.51.2:51852
	else epa="[2001:db8:51::1]:51851" epg="[2001:db8:51::2]:51852"; fi
	nsx "$A" wg set "$IA" peer "$PG" remove
	nsx "$NG" wg set "$IG" peer "$PA" remove
	if [ "$who" = culvert ]; then
		nsx "$A" wg set "$IA" peer "$PG" allowed-ips "$AIPS_G" endpoint "$epg"
		nsx "$NG" wg set "$IG" peer "$PA" allowed-ips "$AIPS_A"
		check "culvert initiates over IPv$fam: ping IPv4 inside" wait_ping "$A" 198.19.50.2 25
		check "culvert initiates over IPv$fam: ping IPv6 inside" quiet nsx "$A" ping -6 -c2 -i0.2 -W1 2001:db8:1950::2
		local got; got=$(nsx "$NG" wg show "$IG" endpoints | awk '{print $2}')
		[ "$got" = "$epa" ] && pass "wireguard-go learned culvert's IPv$fam endpoint" ||
			fail "wireguard-go learned culvert's IPv$fam endpoint" "$got"
	else
		nsx "$A" wg set "$IA" peer "$PG" allowed-ips "$AIPS_G"
		nsx "$NG" wg set "$IG" peer "$PA" allowed-ips "$AIPS_A" endpoint "$epa"
		check "wireguard-go initiates over IPv$fam: ping IPv4 inside" wait_ping "$NG" 198.19.50.1 25
		check "wireguard-go initiates over IPv$fam: ping IPv6 inside" quiet nsx "$NG" ping -6 -c2 -i0.2 -W1 2001:db8:1950::1
		local got; got=$(nsx "$A" "$CULVERT" show "$IA" | sed -n 's/^  endpoint: //p')
		[ "$got" = "$epg" ] && pass "culvert learned wireguard-go's IPv$fam endpoint" ||
			fail "culvert learned wireguard-go's IPv$fam endpoint" "$got"
	fi
}

pair culvert 4
gbps=$(iperf "$NG" "$A" 198.19.50.2 2) && pass "iperf3 TCP culvert -> wireguard-go ($gbps Gbit/s)" ||
	fail "iperf3 TCP culvert -> wireguard-go" "$(cat "$T_DIR/iperf-c.err")"
gbps=$(iperf "$A" "$NG" 198.19.50.1 2) && pass "iperf3 TCP wireguard-go -> culvert ($gbps Gbit/s)" ||
	fail "iperf3 TCP wireguard-go -> culvert" "$(cat "$T_DIR/iperf-c.err")"
pair wireguard-go 4
pair culvert 6
pair wireguard-go 6
out=$(nsx "$A" "$CULVERT" show "$IA")
grep -q "latest handshake" <<<"$out" && grep -q "transfer:" <<<"$out" && pass "culvert show after interop" ||
	fail "culvert show after interop" "$out"
check "culvert down" nsx "$A" "$CULVERT" down "$IA"
nsx "$NG" ip link del "$IG"
wait_for test ! -S "$SOCK/$IG.sock" || fail "wireguard-go exits"
t_done
