#!/bin/bash
# The TCP transport's connection table under attack: a host opens more connections than the
# table holds and keeps each fresh with one byte now and then, reconnecting whatever is closed.
# The peer that proved itself keeps its connection (it sits behind a NAT, so a lost connection
# costs its tunnel until it dials again), a restarted peer still gets in, and the attacker's
# connections are closed unproven.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) && M=$(ns_new m) || { fail setup "cannot create namespaces"; t_done; }
# a - m - b: m drops UDP and hides a behind a NAT (a new port for every connection), so b
# cannot dial a
ns_link "$A" va "$M" mx1
ns_link "$NB" vb "$M" mx2
nsx "$A" ip addr add 198.18.45.1/24 dev va
nsx "$M" ip addr add 198.18.45.254/24 dev mx1
nsx "$NB" ip addr add 198.18.46.1/24 dev vb
nsx "$M" ip addr add 198.18.46.254/24 dev mx2
nsx "$A" ip route add 198.18.46.0/24 via 198.18.45.254
nsx "$NB" ip route add 198.18.45.0/24 via 198.18.46.254
nsx "$M" sysctl -qw net.ipv4.ip_forward=1
nsx "$M" nft add table inet cv && nsx "$M" nft add chain inet cv filt '{ type filter hook forward priority 0; }' &&
	nsx "$M" nft add rule inet cv filt meta l4proto udp drop &&
	nsx "$M" nft add rule inet cv filt iifname mx2 ct state new drop &&
	nsx "$M" nft add table ip cvnat && nsx "$M" nft add chain ip cvnat post '{ type nat hook postrouting priority 100; }' &&
	nsx "$M" nft add rule ip cvnat post oifname mx2 ip saddr 198.18.45.0/24 masquerade random || fail "setup: the filter and NAT in the middle box"

wg_keys a b
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")
IA=${T_PREFIX}a IB=${T_PREFIX}b
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")

start() { # NS IF
	bg "$1" "$2" "$CULVERT" wg -f -d --transport tcp "$2"
	wait_for test -S "$SOCK/$2.sock"
}
conf_a() {
	nsx "$A" wg set "$IA" private-key "$T_DIR/ka" listen-port 51820 \
		peer "$PB" allowed-ips 198.19.45.2/32 endpoint 198.18.46.1:51820 persistent-keepalive 1
}
conf_b() { nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port 51820 peer "$PA" allowed-ips 198.19.45.1/32; }
restart_a() { start "$A" "$IA" && PID_A=$BG_PID && conf_a && ifconf "$A" "$IA" 45 1; }
drop_count() { local n; n=$(nsx "$NB" "$CULVERT" show "$IB" | awk -v k="$1:" '$1 == k {print $2}'); echo "${n:-0}"; }
conns_b() { nsx "$NB" ss -Htn state established '( sport = :51820 )' | wc -l; }
# the sockets b's daemon holds (established ones may also wait in its accept queue)
socks_b() { find "/proc/$PID_B/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
# ping_loss NS ADDR COUNT: the percentage of COUNT pings (4 a second) that got no answer
ping_loss() { nsx "$1" ping -q -c "$3" -i 0.25 -W 1 "$2" 2>/dev/null | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p'; }

start "$NB" "$IB" && PID_B=$BG_PID && conf_b && ifconf "$NB" "$IB" 45 2 || fail "b starts"
restart_a || fail "a starts"
check "ping a->b over the TCP transport" wait_ping "$A" 198.19.45.2 50
check "ping b->a (over the connection a dialled)" qping "$NB" -c2 -i0.2 -W1 198.19.45.1
ep=$(nsx "$NB" wg show "$IB" endpoints | awk '{print $2}')
[[ $ep == 198.18.46.254:* ]] && [ "$ep" != 198.18.46.254:51820 ] && pass "b sees a behind the NAT ($ep)" ||
	fail "b sees a behind the NAT" "$ep"

# ---- the attacker: 100 connections from m, one byte each every 5 ms, reopened when closed ----
cat >"$T_DIR/hold.py" <<'PY'
import socket, sys, time
host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks, opened, end = [None] * n, 0, time.monotonic() + secs
while time.monotonic() < end:
    for i, s in enumerate(socks):
        if s is None:
            s = socks[i] = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, port))
            opened += 1
            continue
        try:
            if s.recv(1) == b'':
                raise ConnectionResetError
        except BlockingIOError:
            pass
        except OSError:
            s.close(); socks[i] = None; continue
        try:
            s.send(b'\0')
        except BlockingIOError:
            pass
        except OSError:
            s.close(); socks[i] = None
    time.sleep(0.005)
print(opened, flush=True)
PY
unproven0=$(drop_count tcp_unproven) base=$(socks_b)
nsx "$M" timeout 120 python3 "$T_DIR/hold.py" 198.18.46.1 51820 100 45 >"$T_DIR/hold.out" 2>&1 &
HOLD=$!; T_PIDS+=("$HOLD")
wait_for sh -c "[ \$(ip netns exec $NB ss -Htn state established '( sport = :51820 )' | wc -l) -ge 64 ]" &&
	pass "the attacker fills b's table (64 connections at once)" || fail "the attacker fills b's table" "$(conns_b)"
sleep 2
loss=$(ping_loss "$NB" 198.19.45.1 40)
[ -n "$loss" ] && awk -v l="$loss" 'BEGIN { exit !(l <= 2.5) }' &&
	pass "b->a while 100 connections churn: ${loss}% of 40 pings lost" ||
	fail "b->a keeps working while 100 connections churn" "${loss:-no answer}% of 40 pings lost"
loss=$(ping_loss "$A" 198.19.45.2 20)
[ -n "$loss" ] && awk -v l="$loss" 'BEGIN { exit !(l <= 5) }' && pass "a->b meanwhile: ${loss}% of 20 lost" ||
	fail "a->b keeps working meanwhile" "${loss:-no answer}% of 20 pings lost"
n=$(socks_b)
[ "$n" -le $((base + 63)) ] && pass "b holds at most 64 connections ($base -> $n sockets)" ||
	fail "b holds at most 64 connections" "$base -> $n sockets"
unproven=$(drop_count tcp_unproven)
[ "$unproven" -gt "$unproven0" ] && pass "the attacker's connections are closed unproven ($unproven0 -> $unproven)" ||
	fail "the attacker's connections are closed unproven" "$unproven0 -> $unproven"

# ---- a restarted peer gets in while the attack goes on -------------------------------------
kill "$PID_A"; reap "$PID_A" 5
check "a restarts during the attack" restart_a
check "the restarted peer gets a slot and the tunnel carries traffic" wait_ping "$A" 198.19.45.2 100
loss=$(ping_loss "$NB" 198.19.45.1 20)
[ -n "$loss" ] && awk -v l="$loss" 'BEGIN { exit !(l <= 5) }' && pass "b->a after the restart: ${loss}% of 20 lost" ||
	fail "b->a after the restart" "${loss:-no answer}% of 20 pings lost"
kill -0 "$HOLD" 2>/dev/null && pass "the attack lasted throughout" || fail "the attack lasted throughout" "$(cat "$T_DIR/hold.out")"
kill -0 "$PID_B" 2>/dev/null && pass "b still runs" || fail "b still runs"

# ---- unproven connections have a deadline --------------------------------------------------
reap "$HOLD" 0
idle() { nsx "$NB" ss -Htn state established '( sport = :51820 and dport = :40123 )' | grep -q .; }
nsx "$M" timeout 60 socat -u EXEC:"sleep 50" TCP:198.18.46.1:51820,sourceport=40123 >/dev/null 2>&1 &
IDLE=$!; T_PIDS+=("$IDLE")
wait_for idle || fail "an idle connection is accepted"
sleep 14
idle &&
	fail "an idle connection is closed once its 12 s to prove itself are over" "$(nsx "$NB" ss -Htn)" ||
	pass "an idle connection is closed once its 12 s to prove itself are over"
check "the proven connection stays" qping "$NB" -c2 -i0.2 -W1 198.19.45.1
reap "$IDLE" 0

kill "$PID_A"; reap "$PID_A" 5; kill "$PID_B"; reap "$PID_B" 5
t_done
