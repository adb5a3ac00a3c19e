#!/bin/bash
# Sections of the kernel module's selftest (tools/testing/selftests/wireguard/netns.sh) run
# against two culvert daemons configured with wg, checked the way that script checks the
# module: the same commands, the same expected figures.
#  - transfer counters after the first exchange (ten flood pings): every message from or to
#    the peer counts, handshake messages included;
#  - a new private key ends the sessions at once: after the peer is told the new public key,
#    the very next ping (1 s timeout) gets through.
# The module's script uses a third namespace's loopback as the underlay (its sockets stay in
# the namespace the device was made in); a userspace daemon's socket lives where it runs, so a
# veth pair stands in. Tunnel 198.19.241.0/24 stands in for 192.168.241.0/24.
source "$(dirname "$0")/lib.sh"
umask 077

N1=$(ns_new 1) && N2=$(ns_new 2) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$N1" "$N2")	# ns_new ran in a subshell: register for the clean-up here
ns_link "$N1" v1 "$N2" v2
nsx "$N1" ip addr add 198.18.241.1/24 dev v1
nsx "$N2" ip addr add 198.18.241.2/24 dev v2

P=${T_PREFIX:0:12}
I1=${P}w1 I2=${P}w2
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$I1.sock $SOCK/$I2.sock")
export WG_HIDE_KEYS=never
for k in 1 2 3; do wg genkey >"$T_DIR/key$k"; wg pubkey <"$T_DIR/key$k" >"$T_DIR/pub$k"; done
wg genpsk >"$T_DIR/psk"
pub1=$(cat "$T_DIR/pub1") pub2=$(cat "$T_DIR/pub2") pub3=$(cat "$T_DIR/pub3")
n1() { nsx "$N1" "$@"; }
n2() { nsx "$N2" "$@"; }

start() {
	bg "$1" "$2" "$CULVERT" wg -f "$2"
	wait_for test -S "$SOCK/$2.sock"
}
start "$N1" "$I1" && start "$N2" "$I2" || { fail "culvert starts" "no control socket"; t_done; }

# configure_peers, as the module's script does it
n1 ip addr add 198.19.241.1/24 dev "$I1"
n2 ip addr add 198.19.241.2/24 dev "$I2"
n1 wg set "$I1" private-key "$T_DIR/key1" listen-port 1 \
	peer "$pub2" preshared-key "$T_DIR/psk" allowed-ips 198.19.241.2/32
n2 wg set "$I2" private-key "$T_DIR/key2" listen-port 2 \
	peer "$pub1" preshared-key "$T_DIR/psk" allowed-ips 198.19.241.1/32
n1 ip link set up dev "$I1"
n2 ip link set up dev "$I2"
n1 wg set "$I1" peer "$pub2" endpoint 198.18.241.2:2
n2 wg set "$I2" peer "$pub1" endpoint 198.18.241.1:1

# ---- the stats counters after the first exchange ------------------------------------------
# n2 initiates (148 bytes), n1 responds (92); ten pings of 84 bytes are 128 each way. The
# module: n2 rx 1372 and tx 1428 (or 1460 with a keepalive); n1 the mirror image.
check "first exchange: 10 flood pings" qping "$N2" -c 10 -f -W 1 198.19.241.1
read -r _ rx2 tx2 < <(n2 wg show "$I2" transfer)
read -r _ rx1 tx1 < <(n1 wg show "$I1" transfer)
if (( rx2 == 1372 && (tx2 == 1428 || tx2 == 1460) )); then
	pass "initiator's transfer counters as the module's (rx $rx2, tx $tx2)"
else
	fail "initiator's transfer counters as the module's" "rx $rx2 tx $tx2, want rx 1372 tx 1428|1460"
fi
if (( tx1 == 1372 && (rx1 == 1428 || rx1 == 1460) )); then
	pass "responder's transfer counters as the module's (rx $rx1, tx $tx1)"
else
	fail "responder's transfer counters as the module's" "rx $rx1 tx $tx1, want tx 1372 rx 1428|1460"
fi
read -r _ ts < <(n1 wg show "$I1" latest-handshakes)
check "latest handshake is set" test "${ts:-0}" != 0

# ---- change private keys and immediately handshake ----------------------------------------
n1 wg set "$I1" private-key "$T_DIR/key1" peer "$pub2" preshared-key "$T_DIR/psk" \
	allowed-ips 198.19.241.2/32 endpoint 198.18.241.2:2
n2 wg set "$I2" private-key "$T_DIR/key2" listen-port 2 peer "$pub1" preshared-key "$T_DIR/psk" \
	allowed-ips 198.19.241.1/32
check "ping before the key change" qping "$N1" -W 1 -c 1 198.19.241.2
n1 wg set "$I1" private-key "$T_DIR/key3"
n2 wg set "$I2" peer "$pub3" preshared-key "$T_DIR/psk" allowed-ips 198.19.241.1/32 peer "$pub1" remove
t0=$(date +%s%N)
check "first ping after the key change gets through" qping "$N1" -W 1 -c 1 198.19.241.2
echo "    (answered after $(( ($(date +%s%N) - t0) / 1000000 )) ms)"
[ "$(n2 wg show "$I2" peers)" = "$pub3" ] && pass "the peer knows only the new key" ||
	fail "the peer knows only the new key" "$(n2 wg show "$I2" peers)"
n2 wg set "$I2" peer "$pub3" remove
# and back: the old key works again at once too
n2 wg set "$I2" peer "$pub1" preshared-key "$T_DIR/psk" allowed-ips 198.19.241.1/32
n1 wg set "$I1" private-key "$T_DIR/key1"
check "first ping after changing the key back" qping "$N1" -W 1 -c 1 198.19.241.2
t_done
