#!/bin/bash
# Endpoints that are names, with a resolver the test controls: namespace A's /etc/hosts and
# resolv.conf are files under /etc/netns/A (ip netns exec bind-mounts them), the nameserver an
# address with no route, so a name missing from hosts is a temporary failure, as at boot
# before the network is up; an nsswitch.conf of "hosts: files" makes it a name that does not
# exist. (1) culvert up under WG_ENDPOINT_RESOLUTION_RETRIES: a name that does not exist fails
# at once, a temporary failure is retried as many times as it says, and with infinity culvert
# up waits, creating nothing, and comes up once the name is added to hosts. (2) The peer moves
# to another address and only the name says so (A is behind a stateful firewall, so B cannot
# reach A first and make A roam to it): the tunnel stays down while the name is unchanged and
# comes back within the re-resolution window (CULVERT_RERESOLVE_AFTER=3) once the name gives
# the new address.
# A peer that roams to an address the name does not give, and keeps sending, keeps it.
# (3) culvert down ends the watcher.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$A" "$NB")
ns_link "$A" va "$NB" vb
nsx "$A" ip addr add 198.18.31.1/24 dev va
nsx "$NB" ip addr add 198.18.31.2/24 dev vb
ETC=/etc/netns/$A
mkdir -p "$ETC" && T_CLEANUP+=("rm -rf $ETC")
printf '127.0.0.1 localhost\n' >"$ETC/hosts"
# No route to it from A: nothing is sent, and every DNS query fails at once with EAI_AGAIN.
printf 'nameserver 198.18.255.53\noptions timeout:1 attempts:1\n' >"$ETC/resolv.conf"
NAME=peer-b.reresolve.test

P=${T_PREFIX:0:12}
IA=${P}ra IB=${P}rb
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")
for k in a b; do "$CULVERT" genkey >"$T_DIR/k$k"; "$CULVERT" pubkey <"$T_DIR/k$k" >"$T_DIR/p$k"; done
cat >"$T_DIR/$IA.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/ka")
ListenPort = 51831
Address = 198.19.31.1/24

[Peer]
PublicKey = $(cat "$T_DIR/pb")
AllowedIPs = 198.19.31.2/32
Endpoint = $NAME:51832
EOF
# B learns A's endpoint from A's packets only.
cat >"$T_DIR/$IB.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/kb")
ListenPort = 51832
Address = 198.19.31.2/24

[Peer]
PublicKey = $(cat "$T_DIR/pa")
AllowedIPs = 198.19.31.1/32
EOF
nsx "$NB" "$CULVERT" up "$T_DIR/$IB.conf" 2>"$T_DIR/up-b.err" || fail "peer B up" "$(cat "$T_DIR/up-b.err")"
nothing_made() { ! dev_exists "$A" "$IA" && [ ! -e "$SOCK/$IA.sock" ]; }
watchers() { ip netns pids "$A" | while read -r p; do tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null; echo; done | grep -c "reresolve --watch"; }

# ---- (1) resolution at up ----------------------------------------------------------------
printf 'hosts: files\n' >"$ETC/nsswitch.conf"
t0=$(date +%s%N)
err=$(env -u WG_ENDPOINT_RESOLUTION_RETRIES ip netns exec "$A" "$CULVERT" up "$T_DIR/$IA.conf" 2>&1); rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
rm -f "$ETC/nsswitch.conf"
[ $rc = 1 ] && [ $ms -lt 1500 ] && grep -q "'$NAME' of the peer at line 6 does not resolve: " <<<"$err" &&
	grep -q "fix the Endpoint line" <<<"$err" && nothing_made &&
	pass "a name that does not exist fails at once (${ms} ms), retries unset" || fail "a name that does not exist fails at once" "rc=$rc ${ms} ms: $err"

t0=$(date +%s%N)
err=$(WG_ENDPOINT_RESOLUTION_RETRIES=1 nsx "$A" "$CULVERT" up "$T_DIR/$IA.conf" 2>&1); rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc = 1 ] && [ $ms -ge 900 ] && [ $ms -lt 4000 ] && grep -q "does not resolve yet: .*trying again in 1.0 s" <<<"$err" &&
	grep -q "still does not resolve after 1 retry" <<<"$err" && grep -q "WG_ENDPOINT_RESOLUTION_RETRIES=infinity" <<<"$err" &&
	nothing_made && pass "a temporary failure is retried WG_ENDPOINT_RESOLUTION_RETRIES times (1: ${ms} ms)" ||
	fail "a temporary failure is retried WG_ENDPOINT_RESOLUTION_RETRIES times" "rc=$rc ${ms} ms: $err"
err=$(WG_ENDPOINT_RESOLUTION_RETRIES=lots nsx "$A" "$CULVERT" up "$T_DIR/$IA.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "WG_ENDPOINT_RESOLUTION_RETRIES='lots' is neither a number nor infinity" <<<"$err" && nothing_made &&
	pass "a bad WG_ENDPOINT_RESOLUTION_RETRIES is named" || fail "a bad WG_ENDPOINT_RESOLUTION_RETRIES is named" "rc=$rc $err"

# Boot before DNS: culvert up waits, then comes up once the name resolves.
WG_ENDPOINT_RESOLUTION_RETRIES=infinity CULVERT_RERESOLVE_AFTER=3 \
	ip netns exec "$A" "$CULVERT" up "$T_DIR/$IA.conf" 2>"$T_DIR/up-a.err" &
UP=$!; T_PIDS+=("$UP")
sleep 4
if kill -0 "$UP" 2>/dev/null && [ "$(grep -c "does not resolve yet" "$T_DIR/up-a.err")" -ge 2 ] && nothing_made; then
	pass "infinity: culvert up waits for the name, nothing made meanwhile"
else
	fail "infinity: culvert up waits for the name, nothing made meanwhile" "$(cat "$T_DIR/up-a.err")"
fi
printf '198.18.31.2 %s\n' "$NAME" >>"$ETC/hosts"
reap "$UP" 15; rc=$?
[ $rc = 0 ] && dev_exists "$A" "$IA" && pass "infinity: culvert up comes up once the name resolves" ||
	fail "infinity: culvert up comes up once the name resolves" "rc=$rc $(cat "$T_DIR/up-a.err")"
check "ping through the tunnel" wait_ping "$A" 198.19.31.2 25
[ "$(nsx "$A" wg show "$IA" endpoints | awk '{print $2}')" = "198.18.31.2:51832" ] &&
	pass "endpoint is the name's address" || fail "endpoint is the name's address" "$(nsx "$A" wg show "$IA" endpoints)"
[ "$(watchers)" = 1 ] && pass "culvert up started one watcher (culvert reresolve --watch)" ||
	fail "culvert up started one watcher (culvert reresolve --watch)" "$(watchers) running"
wpid=$(ip netns pids "$A" | while read -r p; do tr '\0' ' ' <"/proc/$p/cmdline" | grep -q "reresolve --watch" && echo "$p"; done | head -1)
caps=$(awk '/^CapEff/ {print $2}' "/proc/$wpid/status" 2>/dev/null)
[ "$caps" = 0000000000000004 ] && pass "the watcher keeps no capability but dac_read_search" ||
	fail "the watcher keeps no capability but dac_read_search" "pid '$wpid' CapEff '$caps'"
out=$(CULVERT_RERESOLVE_AFTER=3 nsx "$A" "$CULVERT" reresolve "$T_DIR/$IA.conf" 2>&1); rc=$?
[ $rc = 0 ] && [ "$(nsx "$A" wg show "$IA" endpoints | awk '{print $2}')" = "198.18.31.2:51832" ] &&
	pass "culvert reresolve leaves an endpoint the name still gives" || fail "culvert reresolve leaves an endpoint the name still gives" "rc=$rc $out"

# ---- (2) the peer moves --------------------------------------------------------------------
# A sits behind a stateful firewall, as behind a NAT: B, once moved, cannot reach A first (its
# handshake initiation 15 s after its last unanswered reply would otherwise let A roam to it),
# so only A finding B's new address brings the tunnel back.
echo 'table inet culvert_rr { chain in { type filter hook input priority 0; udp dport 51831 ct state new drop; }; }' |
	nsx "$A" nft -f - || fail "firewall in A" "nft refused the table"
nsx "$NB" ip addr del 198.18.31.2/24 dev vb
nsx "$NB" ip addr add 198.18.31.3/24 dev vb
sleep 1
check_not "moved peer unreachable while the name is unchanged (6 s)" qping "$A" -c6 -i1 -W1 198.19.31.2
[ "$(nsx "$A" wg show "$IA" endpoints | awk '{print $2}')" = "198.18.31.2:51832" ] &&
	pass "unchanged name: endpoint left alone" || fail "unchanged name: endpoint left alone" "$(nsx "$A" wg show "$IA" endpoints)"
printf '127.0.0.1 localhost\n198.18.31.3 %s\n' "$NAME" >"$ETC/hosts"	# in place: the mount follows the inode
t0=$(date +%s)
for i in $(seq 30); do qping "$A" -c1 -W1 198.19.31.2 && break; done
took=$(($(date +%s) - t0))
if qping "$A" -c3 -i0.3 -W1 198.19.31.2 && [ $took -le 12 ]; then
	pass "tunnel back ${took} s after the name moved (window 3 s + a look every 1 s)"
else
	fail "tunnel back after the name moved" "took ${took} s; $(nsx "$A" wg show "$IA")"
fi
[ "$(nsx "$A" wg show "$IA" endpoints | awk '{print $2}')" = "198.18.31.3:51832" ] &&
	pass "endpoint follows the name" || fail "endpoint follows the name" "$(nsx "$A" wg show "$IA" endpoints)"

# A peer that roams (its packets come from a new address the name does not give) keeps the
# endpoint it roamed to: traffic from it proves it, whatever its handshake's age.
nsx "$A" nft delete table inet culvert_rr
nsx "$NB" wg set "$IB" peer "$(cat "$T_DIR/pa")" persistent-keepalive 1
nsx "$NB" ip addr del 198.18.31.3/24 dev vb
nsx "$NB" ip addr add 198.18.31.4/24 dev vb
ep_a() { nsx "$A" wg show "$IA" endpoints | awk '{print $2}'; }
roamed() { [ "$(ep_a)" = 198.18.31.4:51832 ]; }
# Keepalives every second against a look every second can leave one look with nothing new
# (the watcher's rule then rightly tries the name): the peer sends every 0.2 s instead.
nsx "$NB" ping -q -i 0.2 -W1 198.19.31.1 >/dev/null 2>&1 &
T_PIDS+=($!); rping=$!
if wait_for roamed; then
	bad=0
	for i in $(seq 40); do roamed || bad=$((bad + 1)); sleep 0.2; done
	kill "$rping" 2>/dev/null
	[ $bad = 0 ] && qping "$A" -c2 -i0.3 -W1 198.19.31.2 &&
		pass "a peer that roamed and keeps sending keeps its endpoint (8 s, threshold 3 s)" ||
		fail "a peer that roamed and keeps sending keeps its endpoint" "$bad of 40 samples not 198.18.31.4"
else
	fail "a peer that roamed and keeps sending keeps its endpoint" "A never roamed: $(ep_a)"
fi

# ---- (3) down ------------------------------------------------------------------------------
check "culvert down" nsx "$A" "$CULVERT" down "$T_DIR/$IA.conf"
no_watchers() { [ "$(watchers)" = 0 ]; }
wait_for no_watchers && pass "the watcher ends with the interface" ||
	fail "the watcher ends with the interface" "$(watchers) running"
nsx "$NB" "$CULVERT" down "$T_DIR/$IB.conf" >/dev/null 2>&1
t_done
