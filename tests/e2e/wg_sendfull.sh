#!/bin/bash
# culvert wg with a full UDP send buffer: what does not fit is dropped and counted (send_full)
# and nothing waits for room. A token bucket on a's link to b holds the encrypted datagrams in
# the qdisc, so they keep a's socket buffer full while a floods b through the tunnel; the daemon
# must stay responsive meanwhile (the send path used to poll() for up to 100 ms with the device
# lock held, which stalled everything that needs the lock). The socket is shared by all peers,
# so a's other peer c loses datagrams too while it is full; c is there to show the tunnel is
# fine once the flood ends.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) && C=$(ns_new c) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$A" "$NB" "$C")
ns_link "$A" vab "$NB" vba && ns_link "$A" vac "$C" vca || { fail setup "cannot link namespaces"; t_done; }
nsx "$A" ip addr add 198.18.61.1/24 dev vab
nsx "$NB" ip addr add 198.18.61.2/24 dev vba
nsx "$A" ip addr add 198.18.62.1/24 dev vac
nsx "$C" ip addr add 198.18.62.3/24 dev vca
# 2 Mbit/s with room for far more than the socket buffer: the qdisc never drops, the buffer fills
nsx "$A" tc qdisc add dev vab root tbf rate 2mbit burst 16kb limit 200mb ||
	{ fail setup "cannot add a tbf qdisc"; t_done; }

wg_keys a b c
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb") PC=$(cat "$T_DIR/pc")
IA=${T_PREFIX}a IB=${T_PREFIX}b IC=${T_PREFIX}c
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock $SOCK/$IC.sock")
for n in A NB C; do
	i=I${n: -1}
	bg "${!n}" "wg$n" "$CULVERT" wg -f -d "${!i}"
	wait_for test -S "$SOCK/${!i}.sock" || { fail "culvert wg starts" "no control socket"; t_done; }
	[ "$n" = A ] && PID_A=$BG_PID
done
[ "$(cat /proc/"$PID_A"/comm 2>/dev/null)" = culvert ] || { fail setup "no culvert process to watch"; t_done; }
nsx "$A" wg set "$IA" private-key "$T_DIR/ka" listen-port 51861 \
	peer "$PB" allowed-ips 198.19.61.2/32 endpoint 198.18.61.2:51862 \
	peer "$PC" allowed-ips 198.19.61.3/32 endpoint 198.18.62.3:51863
nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port 51862 peer "$PA" allowed-ips 198.19.61.1/32
nsx "$C" wg set "$IC" private-key "$T_DIR/kc" listen-port 51863 peer "$PA" allowed-ips 198.19.61.1/32
for n in A:1 NB:2 C:3; do
	ns=${n%:*} i=I${ns: -1}
	nsx "${!ns}" ip addr add "198.19.61.${n#*:}/24" dev "${!i}" && nsx "${!ns}" ip link set "${!i}" up
done
check "tunnel a<->b" wait_ping "$A" 198.19.61.2 25
check "tunnel a<->c" wait_ping "$A" 198.19.61.3 25

# a floods b for 4 s (UDP to a port nobody listens on, as fast as one process sends)
nsx "$A" timeout 10 python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b = bytes(1200); end = time.time() + 4
while time.time() < end:
    for _ in range(100):
        try: s.sendto(b, ("198.19.61.2", 9))
        except OSError: pass
' &
FLOOD=$!; T_PIDS+=("$FLOOD")
sleep 1
# No thread of the daemon waits in poll()/ppoll() for room (x86_64 syscalls 7 and 271; the
# workers' idle wait is epoll_wait): sampled every 20 ms for a second.
polls=0
for i in $(seq 50); do
	for t in /proc/"$PID_A"/task/*/syscall; do
		read -r nr _ <"$t" 2>/dev/null
		[ "$nr" = 7 ] || [ "$nr" = 271 ] && polls=$((polls + 1))
	done
	sleep 0.02
done
[ "$polls" -eq 0 ] && pass "no thread waits for room in the socket" ||
	fail "no thread waits for room in the socket" "seen in poll() $polls times in 50 samples"
# Meanwhile `wg set`, which needs the device lock for writing, is served (how long it took is
# shown, not judged: the machine may be busy; the old poll() held it off for seconds here).
slowest=0 sets=0
for i in $(seq 10); do
	t0=$(date +%s%N)
	nsx "$A" wg set "$IA" peer "$PC" persistent-keepalive 0 && sets=$((sets + 1))
	t=$((($(date +%s%N) - t0) / 1000000))
	[ "$t" -gt "$slowest" ] && slowest=$t
done
reap "$FLOOD" 10
[ "$sets" = 10 ] && pass "wg set served during the flood (slowest $slowest ms)" ||
	fail "wg set served during the flood" "$sets of 10"
full=$(nsx "$A" "$CULVERT" show "$IA" | awk '$1 == "send_full:" { print $2 }')
[ "${full:-0}" -gt 0 ] && pass "full socket counted as send_full ($full)" ||
	fail "full socket counted as send_full" "$(nsx "$A" "$CULVERT" show "$IA" | grep -A8 drops)"
# The qdisc holds a minute of datagrams at 2 Mbit/s, and with them the socket buffer: free both.
nsx "$A" tc qdisc del dev vab root
check "tunnel a<->c fine after the flood" wait_ping "$A" 198.19.61.3 10

t_done
