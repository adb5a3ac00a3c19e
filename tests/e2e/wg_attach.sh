#!/bin/bash
# culvert wg creates its tun device and refuses to use one somebody else made (a persistent
# multi-queue device owned by an unprivileged user could have queues of its owner attached,
# reading and injecting tunnel plaintext), unless --attach says so; then it works.
source "$(dirname "$0")/lib.sh"
umask 077

ns_pair || { fail setup "cannot create namespaces"; t_done; }
NB=$B_
wg_keys a b
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")
IA=${T_PREFIX}a IB=${T_PREFIX}b
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")
NOBODY=$(id -u nobody)

# b: the usual way, culvert wg makes its device
bg "$NB" "$IB" "$CULVERT" wg -f "$IB"
PID_B=$BG_PID
wait_for test -S "$SOCK/$IB.sock" && pass "culvert wg creates a device of a free name" || fail "culvert wg on b starts"
nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port 51820 peer "$PA" allowed-ips 198.19.47.1/32
ifconf "$NB" "$IB" 47 2

# a: a persistent multi-queue device of that name, owned by an unprivileged user, exists
nsx "$A" ip tuntap add dev "$IA" mode tun multi_queue user "$NOBODY" || fail "setup: ip tuntap add $IA"
[ "$(nsx "$A" cat "/sys/class/net/$IA/owner")" = "$NOBODY" ] &&
	pass "a persistent multi_queue $IA owned by uid $NOBODY exists" || fail "the device exists, owned by nobody"
out=$(nsx "$A" timeout 10 "$CULVERT" wg -f "$IA" 2>&1); rc=$?
[ "$rc" = 1 ] && [ "$out" = "culvert wg: $IA: a device of that name exists (created by someone else); delete it or pass --attach" ] &&
	pass "culvert wg refuses the existing device with exit 1 and says what to do" ||
	fail "culvert wg refuses the existing device" "rc=$rc: $out"
[ ! -e "$SOCK/$IA.sock" ] && pass "the refused start leaves no control socket" || fail "the refused start leaves no control socket"
dev_exists "$A" "$IA" && pass "the refused start leaves the device alone" || fail "the refused start leaves the device alone"
out=$(nsx "$A" env CULVERT_WG_TRANSPORT=tcp timeout 10 "$CULVERT" wg -f --workers 1 "$IA" 2>&1); rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "pass --attach" && pass "one worker (a single-queue open) is refused too" ||
	fail "one worker is refused too" "rc=$rc: $out"

# with --attach it is used
bg "$A" "$IA" "$CULVERT" wg -f --attach "$IA"
PID_A=$BG_PID
wait_for test -S "$SOCK/$IA.sock" && pass "culvert wg --attach uses the existing device" || fail "culvert wg --attach starts"
nsx "$A" wg set "$IA" private-key "$T_DIR/ka" listen-port 51820 \
	peer "$PB" allowed-ips 198.19.47.2/32 endpoint 198.18.0.2:51820
ifconf "$A" "$IA" 47 1
check "ping through the attached device a->b" wait_ping "$A" 198.19.47.2 50
check "ping b->a" qping "$NB" -c2 -i0.2 -W1 198.19.47.1
kill "$PID_A"; reap "$PID_A" 5
dev_exists "$A" "$IA" && pass "the persistent device outlives the daemon that attached" ||
	fail "the persistent device outlives the daemon that attached"
kill "$PID_B"; reap "$PID_B" 5
wait_for dev_gone "$NB" "$IB" && pass "the device culvert wg made goes with it" || fail "the device culvert wg made goes with it"
t_done
