#!/bin/bash
# culvert up against its oracle, wg-quick itself (driving culvert-wg): for a split-tunnel, a
# full-tunnel (0.0.0.0/0 and ::/0), a Table = N and a SaveConfig config, the routes of every
# table, the rules, addresses, links (MTU), nftables ruleset, fwmark, resolvconf calls and hook
# runs after `culvert up` equal those after `wg-quick up`, and `culvert down` leaves the
# namespace as it was before. DNS goes to a resolvconf stub on PATH that keeps its state in
# this test's directory; the machine's resolv.conf is never touched.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$A" "$NB")
ns_link "$A" va "$NB" vb
for n in "$A va 1" "$NB vb 2"; do
	set -- $n
	nsx "$1" ip link set "$2" mtu 1400
	nsx "$1" ip addr add "198.18.40.$3/24" dev "$2"
	nsx "$1" ip addr add "2001:db8:40::$3/64" dev "$2" nodad
done
P=${T_PREFIX:0:12}
IA=${P}pa IB=${P}pb
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")
for k in a b; do "$CULVERT" genkey >"$T_DIR/k$k"; "$CULVERT" pubkey <"$T_DIR/k$k" >"$T_DIR/p$k"; done
"$CULVERT" genpsk >"$T_DIR/psk"
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")

# PATH for both: culvert-wg for wg-quick, and a resolvconf that records what it is asked.
mkdir -p "$T_DIR/bin" "$T_DIR/resolv"
ln -s "$CULVERT" "$T_DIR/bin/culvert-wg"
cat >"$T_DIR/bin/resolvconf" <<EOF
#!/bin/bash
s=$T_DIR/resolv
echo "\$*" >>"\$s/calls"
case \$1 in
-a) cat >"\$s/if-\$2" ;;
-d) rm -f "\$s/if-\$2" ;;
-l) cat "\$s/if-\$2" 2>/dev/null ;;
*) exit 1 ;;
esac
EOF
chmod 755 "$T_DIR/bin/resolvconf"
RUN=(env PATH="$T_DIR/bin:$PATH" WG_QUICK_USERSPACE_IMPLEMENTATION=culvert-wg)

# The peer: plain routes to A's tunnel addresses, A connects to it.
cat >"$T_DIR/$IB.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/kb")
ListenPort = 51840
Address = 198.19.40.2/24, 2001:db8:1940::2/64
[Peer]
PublicKey = $PA
PresharedKey = $(cat "$T_DIR/psk")
AllowedIPs = 198.19.40.1/32, 2001:db8:1940::1/128
EOF
nsx "$NB" "${RUN[@]}" "$CULVERT" up "$T_DIR/$IB.conf" || { fail "peer up"; t_done; }

# Everything wg-quick may change in A, interface indexes left out (each up makes a new link).
snapshot() {
	local norm='s/^[0-9]+: /N: /; s/ tentative//; s/(link-netns|link-netnsid) [^ ]+//; s/fe80::[0-9a-f:]+/fe80::LL/'
	nsx "$A" sh -c 'ip -d link; ip -d addr' 2>&1 | sed -E "$norm"
	# (sorted: with the link-local addresses masked, the local table's order is meaningless)
	nsx "$A" sh -c 'ip -4 route show table all; ip -6 route show table all' 2>&1 | sed -E "$norm" | sort
	nsx "$A" sh -c 'ip -d -4 rule; ip -d -6 rule; nft list ruleset; sysctl net.ipv4.conf.all.src_valid_mark
		wg show '"$IA"' fwmark; wg show '"$IA"' allowed-ips' 2>&1 | sed -E "$norm"
}
# wg-quick sets net.ipv4.conf.all.src_valid_mark for a v4 full tunnel and never resets it:
# each run starts from 0 so that up is compared, and down is compared without that line.
unmark() { nsx "$A" sysctl -qw net.ipv4.conf.all.src_valid_mark=0; }
nomark() { grep -v src_valid_mark; }
# The veths' link-local addresses come after DAD: wait, so the first snapshot has them.
wait_for sh -c "ip netns exec $A ip -6 addr show dev va scope link | grep -q fe80 &&
	! ip netns exec $A ip -6 addr show dev va tentative | grep -q ."

hooks() {
	local h
	for h in PreUp PostUp PreDown PostDown; do echo "$h = echo $h %i >>$T_DIR/hooks.log"; done
}
# conf KIND: the [Interface] of A for KIND, then its peer
conf() {
	echo "[Interface]"
	echo "PrivateKey = $(cat "$T_DIR/ka")"
	echo "ListenPort = 51841"
	case $1 in
	split)	echo "Address = 198.19.40.1/24, 2001:db8:1940::1/64"
		echo "DNS = 198.18.40.53, 2001:db8:40::53, corp.test, lab.test"
		hooks
		echo "[Peer]"; echo "AllowedIPs = 198.19.40.2/32, 198.19.41.0/24, 2001:db8:1941::/48, 2001:db8:1940::2/128"
		echo "Endpoint = 198.18.40.2:51840" ;;
	full)	echo "Address = 198.19.40.1/32, 2001:db8:1940::1/128"
		echo "DNS = 198.18.40.53"
		hooks
		echo "[Peer]"; echo "AllowedIPs = 0.0.0.0/0, ::/0"
		echo "Endpoint = [2001:db8:40::2]:51840" ;;
	fullmark) echo "Address = 198.19.40.1/32"
		echo "FwMark = 0x1234"
		echo "MTU = 1300"
		echo "[Peer]"; echo "AllowedIPs = 0.0.0.0/0, 198.19.40.2/32"
		echo "Endpoint = 198.18.40.2:51840" ;;
	table)	echo "Address = 198.19.40.1/24, 2001:db8:1940::1/64"
		echo "Table = 1234"
		echo "MTU = 1380"
		echo "[Peer]"; echo "AllowedIPs = 198.19.40.2/32, 198.19.41.0/24, 2001:db8:1941::/48, ::/0"
		echo "Endpoint = 198.18.40.2:51840" ;;
	save)	echo "Address = 198.19.40.1/24"
		echo "DNS = 198.18.40.53"
		echo "MTU = 1360"
		echo "SaveConfig = true"
		hooks
		echo "[Peer]"; echo "AllowedIPs = 198.19.40.2/32"
		echo "Endpoint = 198.18.40.2:51840"
		echo "PersistentKeepalive = 21" ;;
	esac
	echo "PublicKey = $PB"
	echo "PresharedKey = $(cat "$T_DIR/psk")"
}
# state: what the stub and hooks saw; cleared between runs
state() { cat "$T_DIR/resolv/calls" "$T_DIR"/resolv/if-* "$T_DIR/hooks.log" 2>/dev/null; }
reset() { rm -f "$T_DIR/resolv/"* "$T_DIR/hooks.log"; }

before=$(snapshot)
for kind in split full fullmark table save; do
	mkdir -p "$T_DIR/wq-$kind" "$T_DIR/cv-$kind"
	conf $kind >"$T_DIR/wq-$kind/$IA.conf"
	cp "$T_DIR/wq-$kind/$IA.conf" "$T_DIR/cv-$kind/$IA.conf"
	reset; unmark
	if nsx "$A" "${RUN[@]}" wg-quick up "$T_DIR/wq-$kind/$IA.conf" >"$T_DIR/wq.log" 2>&1; then
		pid=$(nsx "$A" pgrep -f "culvert-wg $IA" | head -1); [ -n "$pid" ] && T_PIDS+=("$pid")
		wq_up=$(snapshot) wq_state=$(state)
		check "$kind: ping through wg-quick's tunnel" wait_ping "$A" 198.19.40.2 25
		nsx "$A" "${RUN[@]}" wg-quick down "$T_DIR/wq-$kind/$IA.conf" >>"$T_DIR/wq.log" 2>&1 ||
			fail "$kind: wg-quick down" "$(cat "$T_DIR/wq.log")"
		wait_for test ! -e "$SOCK/$IA.sock"
		wq_down_state=$(state)
	else
		fail "$kind: wg-quick up (the oracle)" "$(cat "$T_DIR/wq.log")"; continue
	fi
	[ "$(snapshot | nomark)" = "$(nomark <<<"$before")" ] ||
		fail "$kind: wg-quick down restores (the oracle)" "$(diff <(echo "$before") <(snapshot))"
	reset; unmark
	if nsx "$A" "${RUN[@]}" "$CULVERT" up "$T_DIR/cv-$kind/$IA.conf" >"$T_DIR/cv.log" 2>&1; then
		pass "$kind: culvert up"
	else
		fail "$kind: culvert up" "$(cat "$T_DIR/cv.log")"; nsx "$A" "$CULVERT" down "$IA" 2>/dev/null; continue
	fi
	cv_up=$(snapshot) cv_state=$(state)
	[ "$cv_up" = "$wq_up" ] && pass "$kind: routes, rules, addresses, MTU, nftables, fwmark as wg-quick's" ||
		fail "$kind: routes, rules, addresses, MTU, nftables, fwmark as wg-quick's" "$(diff <(echo "$wq_up") <(echo "$cv_up"))"
	[ "$cv_state" = "$wq_state" ] && pass "$kind: resolvconf calls and hooks as wg-quick's after up" ||
		fail "$kind: resolvconf calls and hooks as wg-quick's after up" "$(diff <(echo "$wq_state") <(echo "$cv_state"))"
	check "$kind: ping through culvert up's tunnel" wait_ping "$A" 198.19.40.2 25
	case $kind in full) check "$kind: IPv6 ping through the full tunnel" wait_ping "$A" 2001:db8:1940::2 10 ;; esac
	if nsx "$A" "${RUN[@]}" "$CULVERT" down "$T_DIR/cv-$kind/$IA.conf" >>"$T_DIR/cv.log" 2>&1; then
		pass "$kind: culvert down"
	else
		fail "$kind: culvert down" "$(cat "$T_DIR/cv.log")"
	fi
	after=$(snapshot | nomark)
	[ "$after" = "$(nomark <<<"$before")" ] && pass "$kind: culvert down restores the state before up" ||
		fail "$kind: culvert down restores the state before up" "$(diff <(echo "$before") <(echo "$after"))"
	[ "$(state)" = "$wq_down_state" ] && pass "$kind: resolvconf calls and hooks as wg-quick's after down" ||
		fail "$kind: resolvconf calls and hooks as wg-quick's after down" "$(diff <(echo "$wq_down_state") <(state))"
	# (SaveConfig writes every address back, the random link-local one too, as wg-quick does)
	sed -i -E 's/fe80::[0-9a-f:]+/fe80::LL/' "$T_DIR/wq-$kind/$IA.conf" "$T_DIR/cv-$kind/$IA.conf"
	cmp -s "$T_DIR/wq-$kind/$IA.conf" "$T_DIR/cv-$kind/$IA.conf" &&
		pass "$kind: config file after down as wg-quick's" ||
		fail "$kind: config file after down as wg-quick's" "$(diff "$T_DIR/wq-$kind/$IA.conf" "$T_DIR/cv-$kind/$IA.conf")"
done

# ---- SIGHUP and culvert syncconf: peers re-read, sessions kept -----------------------------
f=$T_DIR/cv-split/$IA.conf
conf split >"$f"
sighup_test() {	# $1: how the daemon runs (a label); the daemon is already up from $f
	local pid hs hs2 extra
	# (with --user, the root monitor, the process systemd and culvert up see as the daemon)
	pid=$(pgrep -u root -f "wg --config $f $IA" | head -1)
	[ -n "$pid" ] && T_PIDS+=("$pid")
	wait_ping "$A" 198.19.40.2 25 || { fail "$1: SIGHUP (no tunnel to start from)"; return; }
	hs=$(nsx "$A" wg show "$IA" latest-handshakes | awk -v k="$PB" '$1 == k {print $2}')
	extra=$("$CULVERT" genkey | "$CULVERT" pubkey)
	printf '[Peer]\nPublicKey = %s\nAllowedIPs = 198.19.42.0/24\n' "$extra" >>"$f"
	sed -i 's|^Endpoint = .*|&\nPersistentKeepalive = 7|' "$f"
	kill -HUP "$pid"
	wait_for sh -c "ip netns exec $A wg show $IA peers | grep -q -- '$extra'" &&
		[ "$(nsx "$A" wg show "$IA" persistent-keepalive | awk -v k="$PB" '$1 == k {print $2}')" = 7 ] &&
		pass "$1: SIGHUP adds the new peer and changes the old one" ||
		fail "$1: SIGHUP adds the new peer and changes the old one" "$(nsx "$A" wg show "$IA")"
	hs2=$(nsx "$A" wg show "$IA" latest-handshakes | awk -v k="$PB" '$1 == k {print $2}')
	[ -n "$hs" ] && [ "$hs" != 0 ] && [ "$hs" = "$hs2" ] && qping "$A" -c1 -W1 198.19.40.2 &&
		pass "$1: the session survives SIGHUP (same handshake, ping at once)" ||
		fail "$1: the session survives SIGHUP (same handshake, ping at once)" "handshake $hs then $hs2"
	# (as with wg syncconf, a key left out changes nothing: 0 turns the keepalive off)
	conf split | sed 's|^Endpoint = .*|&\nPersistentKeepalive = 0|' >"$f"
	nsx "$A" "$CULVERT" syncconf "$f" &&
		! nsx "$A" wg show "$IA" peers | grep -q -- "$extra" &&
		[ "$(nsx "$A" wg show "$IA" persistent-keepalive | awk -v k="$PB" '$1 == k {print $2}')" = off ] &&
		[ "$(nsx "$A" wg show "$IA" latest-handshakes | awk -v k="$PB" '$1 == k {print $2}')" = "$hs" ] &&
		pass "$1: culvert syncconf removes the peer gone from the file, session kept" ||
		fail "$1: culvert syncconf removes the peer gone from the file, session kept" "$(nsx "$A" wg show "$IA")"
	[ "$(nsx "$A" ip route show table all | grep -c "$IA")" = "$routes" ] &&
		pass "$1: reload leaves routes alone" || fail "$1: reload leaves routes alone"
	nsx "$A" "${RUN[@]}" "$CULVERT" down "$f" >/dev/null 2>&1
}
reset
if nsx "$A" "${RUN[@]}" "$CULVERT" up "$f"; then
	routes=$(nsx "$A" ip route show table all | grep -c "$IA")
	sighup_test "root daemon"
else fail "up for SIGHUP"; fi
conf split >"$f"
if id nobody >/dev/null 2>&1 && nsx "$A" "${RUN[@]}" CULVERT_WG_USER=nobody "$CULVERT" up "$f"; then
	sighup_test "--user daemon (the root monitor reloads)"
else fail "up with CULVERT_WG_USER=nobody for SIGHUP"; fi

# ---- strip ---------------------------------------------------------------------------------
for kind in split save; do
	f=$T_DIR/wq-$kind/$IA.conf
	[ "$(wg-quick strip "$f" 2>&1)" = "$("$CULVERT" strip "$f" 2>&1)" ] && pass "$kind: culvert strip as wg-quick strip" ||
		fail "$kind: culvert strip as wg-quick strip" "$(diff <(wg-quick strip "$f") <("$CULVERT" strip "$f"))"
done

# ---- failures ----------------------------------------------------------------------------
mkdir -p "$T_DIR/bad"
{ conf split; } | sed 's/^PostUp = .*/PostUp = false/' >"$T_DIR/bad/$IA.conf"
reset
err=$(nsx "$A" "${RUN[@]}" "$CULVERT" up "$T_DIR/bad/$IA.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "PostUp = false failed" <<<"$err" && [ "$(snapshot | nomark)" = "$(nomark <<<"$before")" ] &&
	grep -q -- "-d $IA -f" "$T_DIR/resolv/calls" &&
	pass "failing PostUp: everything undone, DNS too" || fail "failing PostUp: everything undone, DNS too" "rc=$rc $err"
sed 's/^Table = .*/Table = no-such-table/' "$T_DIR/wq-table/$IA.conf" >"$T_DIR/bad/$IA.conf"
err=$(nsx "$A" "$CULVERT" up "$T_DIR/bad/$IA.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "no-such-table" <<<"$err" && ! quiet nsx "$A" ip link show "$IA" &&
	pass "unknown Table name refused before any change" || fail "unknown Table name refused before any change" "rc=$rc $err"
nsx "$NB" "$CULVERT" down "$IB"
t_done
