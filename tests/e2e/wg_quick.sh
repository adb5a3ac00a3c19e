#!/bin/bash
# culvert up / show / down with wg-quick configs on both sides (IPv6 and host-name endpoints,
# routes, a PostUp hook), the refusals (readable key file, unknown key, existing interface), wg show against culvert, and wg-quick itself driving culvert-wg. The
# namespace's addresses and routes must be the same before up and after down.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$A" "$NB")	# ns_new ran in a subshell: register for the clean-up here
ns_link "$A" va "$NB" vb
nsx "$A" ip addr add 198.18.21.1/24 dev va
nsx "$NB" ip addr add 198.18.21.2/24 dev vb
nsx "$A" ip addr add 2001:db8:21::1/64 dev va nodad
nsx "$NB" ip addr add 2001:db8:21::2/64 dev vb nodad
# A host name for B's endpoint: ip netns exec bind-mounts /etc/netns/NS/hosts over /etc/hosts.
mkdir -p "/etc/netns/$NB" && echo "198.18.21.1 peer-a.culvert.test" >"/etc/netns/$NB/hosts"
T_CLEANUP+=("rm -rf /etc/netns/$NB")

P=${T_PREFIX:0:12}
IA=${P}qa IB=${P}qb IQ=${P}qq
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock $SOCK/$IQ.sock $SOCK/${P}qx.sock")
for k in a b; do "$CULVERT" genkey >"$T_DIR/k$k"; "$CULVERT" pubkey <"$T_DIR/k$k" >"$T_DIR/p$k"; done
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")
# (DAD of the veths' link-local addresses may still run at the first snapshot)
snapshot() { nsx "$1" sh -c 'ip -o addr; ip -4 route; ip -6 route' | sed 's/ tentative//'; }
before_a=$(snapshot "$A") before_b=$(snapshot "$NB")

cat >"$T_DIR/$IA.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/ka")
ListenPort = 51821
Address = 198.19.21.1/24, 2001:db8:1921::1/64
PostUp = touch $T_DIR/hook-%i

[Peer]
PublicKey = $PB
AllowedIPs = 198.19.21.2/32, 2001:db8:1921::2/128, 198.19.121.0/24
Endpoint = [2001:db8:21::2]:51822
EOF
cat >"$T_DIR/$IB.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/kb")
ListenPort = 51822
Address = 198.19.21.2/24, 2001:db8:1921::2/64, 198.19.121.1/24
MTU = 1380

[Peer]
PublicKey = $PA
AllowedIPs = 198.19.21.1/32, 2001:db8:1921::1/128
Endpoint = peer-a.culvert.test:51821
PersistentKeepalive = 25
EOF

# ---- up --------------------------------------------------------------------------------
if nsx "$A" "$CULVERT" up "$T_DIR/$IA.conf" 2>"$T_DIR/up-a.err"; then pass "culvert up (file)"; else
	fail "culvert up (file)" "$(cat "$T_DIR/up-a.err")"; fi
# Checked before B exists: once B's keepalive reaches A, A follows B's IPv4 source.
[ "$(nsx "$A" wg show "$IA" endpoints | awk '{print $2}')" = "[2001:db8:21::2]:51822" ] &&
	pass "bracketed IPv6 endpoint" || fail "bracketed IPv6 endpoint" "$(nsx "$A" wg show "$IA" endpoints)"
[ -e "$T_DIR/hook-$IA" ] && pass "PostUp run with %i replaced" || fail "PostUp run with %i replaced" "$(cat "$T_DIR/up-a.err")"
if nsx "$NB" "$CULVERT" up "$T_DIR/$IB.conf" 2>"$T_DIR/up-b.err"; then pass "culvert up (host-name endpoint)"; else
	fail "culvert up (host-name endpoint)" "$(cat "$T_DIR/up-b.err")"; fi
[ "$(nsx "$NB" cat /sys/class/net/"$IB"/mtu)" = 1380 ] && [ "$(nsx "$A" cat /sys/class/net/"$IA"/mtu)" = 1420 ] &&
	pass "MTU from config, and 1500 - 80 from the route to the endpoint" || fail "MTU from config, and 1500 - 80 from the route to the endpoint"
nsx "$A" ip route | grep -q "^198.19.121.0/24 dev $IA" && ! nsx "$A" ip route | grep -q "^198.19.21.2 " &&
	pass "route for allowed IPs outside the address prefix only" ||
	fail "route for allowed IPs outside the address prefix only" "$(nsx "$A" ip route)"
[ "$(nsx "$NB" wg show "$IB" endpoints | awk '{print $2}')" = "198.18.21.1:51821" ] &&
	pass "host-name endpoint resolved" || fail "host-name endpoint resolved" "$(nsx "$NB" wg show "$IB" endpoints)"

check "ping IPv4 through culvert up tunnel" wait_ping "$A" 198.19.21.2 25
check "ping IPv6 through culvert up tunnel" quiet nsx "$A" ping -6 -c2 -i0.2 -W1 2001:db8:1921::2
check "ping via peer route (198.19.121.1)" quiet nsx "$A" ping -c2 -i0.2 -W1 198.19.121.1
check "ping back IPv4" quiet nsx "$NB" ping -c2 -i0.2 -W1 198.19.21.1

out=$(nsx "$A" "$CULVERT" show "$IA" 2>&1)
grep -q "^interface: $IA" <<<"$out" && grep -q "public key: $PA" <<<"$out" &&
	grep -q "listening port: 51821" <<<"$out" && grep -q "^peer: $PB" <<<"$out" &&
	grep -Eq "endpoint: (198.18.21.2|\[2001:db8:21::2\]):51822" <<<"$out" &&
	grep -q "allowed ips: 198.19.21.2/32, 2001:db8:1921::2/128, 198.19.121.0/24" <<<"$out" &&
	grep -Eq "latest handshake: (Now|[0-9]+ seconds? ago)" <<<"$out" &&
	grep -Eq "transfer: [0-9.]+ [KMG]?i?B received, [0-9.]+ [KMG]?i?B sent" <<<"$out" &&
	pass "culvert show IFACE" || fail "culvert show IFACE" "$out"
out=$(nsx "$NB" "$CULVERT" show 2>&1)
grep -q "^interface: $IB" <<<"$out" && ! grep -q "interface: $IA" <<<"$out" &&
	grep -q "persistent keepalive: every 25 seconds" <<<"$out" &&
	pass "culvert show (all) lists this namespace's interfaces only" ||
	fail "culvert show (all) lists this namespace's interfaces only" "$out"
nsx "$A" "$CULVERT" show --json >"$T_DIR/show.json" 2>&1
python3 - "$T_DIR/show.json" "$IA" "$PA" "$PB" <<'EOF' && pass "culvert show --json" || fail "culvert show --json" "$(cat "$T_DIR/show.json")"
import json, sys
d = json.load(open(sys.argv[1]))
i = [x for x in d["interfaces"] if x["name"] == sys.argv[2]]
assert len(i) == 1, d
i = i[0]
assert i["public_key"] == sys.argv[3] and i["listen_port"] == 51821
p = i["peers"]
assert len(p) == 1 and p[0]["public_key"] == sys.argv[4], p
p = p[0]
assert p["endpoint"] in ("[2001:db8:21::2]:51822", "198.18.21.2:51822"), p
assert p["allowed_ips"] == ["198.19.21.2/32", "2001:db8:1921::2/128", "198.19.121.0/24"], p
assert p["latest_handshake"] > 0 and 0 <= p["latest_handshake_ago"] < 60, p
assert p["rx_bytes"] > 0 and p["tx_bytes"] > 0, p
assert isinstance(i["drops"], dict) and isinstance(i["offload"], list)
EOF
out=$(nsx "$A" wg show "$IA" 2>&1)
grep -q "peer: $PB" <<<"$out" && grep -q "latest handshake:" <<<"$out" && grep -q "transfer:" <<<"$out" &&
	pass "wg show on a culvert up interface" || fail "wg show on a culvert up interface" "$out"

# ---- refusals --------------------------------------------------------------------------
err=$(nsx "$A" "$CULVERT" up "$T_DIR/$IA.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "already exists" <<<"$err" && pass "up of an existing interface refused" ||
	fail "up of an existing interface refused" "rc=$rc $err"
IX=${P}qx
cp "$T_DIR/$IA.conf" "$T_DIR/$IX.conf"; chmod 640 "$T_DIR/$IX.conf"
err=$(nsx "$A" "$CULVERT" up "$T_DIR/$IX.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "$T_DIR/$IX.conf" <<<"$err" && grep -q "chmod 600" <<<"$err" && ! quiet nsx "$A" ip link show "$IX" &&
	pass "group-readable key file refused" || fail "group-readable key file refused" "rc=$rc $err"
printf '[Interface]\nPrivateKey = %s\nListenPort = 51829\nFrobnicate = yes\n' "$(cat "$T_DIR/ka")" >"$T_DIR/$IX.conf"
chmod 600 "$T_DIR/$IX.conf"
err=$(nsx "$A" "$CULVERT" up "$T_DIR/$IX.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q ":4:" <<<"$err" && grep -qi "frobnicate" <<<"$err" && ! quiet nsx "$A" ip link show "$IX" &&
	pass "unknown key error names the line" || fail "unknown key error names the line" "rc=$rc $err"
: >"$T_DIR/$IX.conf"
err=$(nsx "$A" "$CULVERT" up "$T_DIR/$IX.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "no PrivateKey" <<<"$err" && ! quiet nsx "$A" ip link show "$IX" &&
	pass "empty config refused" || fail "empty config refused" "rc=$rc $err"
printf '[Interface]\nPrivateKey = %s\n[Peer]\nPublicKey = %s\nEndpoint = no-such-host.invalid:1\n' "$(cat "$T_DIR/ka")" "$PB" >"$T_DIR/$IX.conf"
# No DNS server is reachable here, a temporary failure that wg(8) would retry 15 times: none.
err=$(WG_ENDPOINT_RESOLUTION_RETRIES=0 nsx "$A" "$CULVERT" up "$T_DIR/$IX.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "no-such-host.invalid" <<<"$err" && ! quiet nsx "$A" ip link show "$IX" &&
	pass "unresolvable endpoint refused" || fail "unresolvable endpoint refused" "rc=$rc $err"
# An address the kernel refuses only after the daemon started: everything is torn down.
printf '[Interface]\nPrivateKey = %s\nAddress = 198.19.22.1/24\nMTU = 100000\n' "$(cat "$T_DIR/ka")" >"$T_DIR/$IX.conf"
err=$(nsx "$A" "$CULVERT" up "$T_DIR/$IX.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "MTU" <<<"$err" && ! quiet nsx "$A" ip link show "$IX" && wait_for test ! -e "$SOCK/$IX.sock" &&
	pass "failure after start tears down" || fail "failure after start tears down" "rc=$rc $err"

# ---- down ------------------------------------------------------------------------------
check "culvert down (file)" nsx "$A" "$CULVERT" down "$T_DIR/$IA.conf"
! quiet nsx "$A" ip link show "$IA" && [ ! -e "$SOCK/$IA.sock" ] && pass "link and socket gone after down" ||
	fail "link and socket gone after down"
err=$(nsx "$A" "$CULVERT" down "$IA" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "no interface $IA" <<<"$err" && pass "down of a missing interface fails" ||
	fail "down of a missing interface fails" "rc=$rc $err"
err=$(nsx "$A" "$CULVERT" down va 2>&1); rc=$?
[ $rc = 1 ] && grep -q "not a culvert interface" <<<"$err" && quiet nsx "$A" ip link show va &&
	pass "down refuses a non-culvert link" || fail "down refuses a non-culvert link" "rc=$rc $err"
! grep -q "ip link del" <<<"$err" && pass "down does not advise deleting a foreign link" ||
	fail "down does not advise deleting a foreign link" "$err"
err=$(nsx "$A" "$CULVERT" up a b 2>&1); rc=$?
[ $rc = 2 ] && [ "$(wc -l <<<"$err")" = 1 ] && pass "up with two arguments: one sentence, exit 2" ||
	fail "up with two arguments: one sentence, exit 2" "rc=$rc $err"

# ---- wg-quick with culvert-wg ----------------------------------------------------------
mkdir -p "$T_DIR/bin" && ln -s "$CULVERT" "$T_DIR/bin/culvert-wg"
sed -e '/^PostUp/d' "$T_DIR/$IA.conf" >"$T_DIR/$IQ.conf"
if nsx "$A" env PATH="$T_DIR/bin:$PATH" WG_QUICK_USERSPACE_IMPLEMENTATION=culvert-wg \
	wg-quick up "$T_DIR/$IQ.conf" >"$T_DIR/wgquick.log" 2>&1 && [ -S "$SOCK/$IQ.sock" ]; then
	pass "wg-quick up with culvert-wg"
else
	fail "wg-quick up with culvert-wg" "$(cat "$T_DIR/wgquick.log")"
fi
pid=$(nsx "$A" pgrep -f "culvert-wg $IQ" | head -1); [ -n "$pid" ] && T_PIDS+=("$pid")
check "ping through wg-quick's culvert-wg tunnel" wait_ping "$A" 198.19.21.2 25
check "ping IPv6 through wg-quick's culvert-wg tunnel" quiet nsx "$A" ping -6 -c2 -i0.2 -W1 2001:db8:1921::2
out=$(nsx "$A" "$CULVERT" show "$IQ" 2>&1)
grep -q "^peer: $PB" <<<"$out" && grep -q "latest handshake" <<<"$out" && pass "culvert show on wg-quick's interface" ||
	fail "culvert show on wg-quick's interface" "$out"
check "wg-quick down" quiet nsx "$A" env PATH="$T_DIR/bin:$PATH" wg-quick down "$T_DIR/$IQ.conf"
wait_for test ! -e "$SOCK/$IQ.sock" && pass "culvert-wg exits after wg-quick down" ||
	fail "culvert-wg exits after wg-quick down"
check "culvert down (name in /etc/wireguard form resolves the name)" nsx "$NB" "$CULVERT" down "$IB"

# ---- the ICMP transport's headers come out of the guessed MTU too ---------------------------
IC=${P}qc
T_CLEANUP+=("rm -f $SOCK/$IC.sock")
printf '[Interface]\nPrivateKey = %s\nAddress = 198.19.22.1/24\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 198.19.22.2/32\nEndpoint = [2001:db8:21::2]:51822\n' \
	"$(cat "$T_DIR/ka")" "$PB" >"$T_DIR/$IC.conf"
if nsx "$A" env CULVERT_WG_TRANSPORT=icmp "$CULVERT" up "$T_DIR/$IC.conf" 2>"$T_DIR/up-c.err"; then
	mtu=$(nsx "$A" cat /sys/class/net/"$IC"/mtu)
	[ "$mtu" = 1414 ] && pass "CULVERT_WG_TRANSPORT=icmp: MTU 1500 - 80 - 6 from the route" ||
		fail "CULVERT_WG_TRANSPORT=icmp: MTU 1500 - 80 - 6 from the route" "mtu $mtu"
	check "culvert down (ICMP transport)" nsx "$A" "$CULVERT" down "$T_DIR/$IC.conf"
else
	fail "culvert up with CULVERT_WG_TRANSPORT=icmp" "$(cat "$T_DIR/up-c.err")"
fi

after_a=$(snapshot "$A") after_b=$(snapshot "$NB")
[ "$before_a" = "$after_a" ] && [ "$before_b" = "$after_b" ] && pass "ip addr and routes the same before up and after down" ||
	fail "ip addr and routes the same before up and after down" \
		"$(diff <(echo "$before_a") <(echo "$after_a")) $(diff <(echo "$before_b") <(echo "$after_b"))"
t_done
