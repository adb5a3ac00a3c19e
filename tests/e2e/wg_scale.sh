#!/bin/bash
# Scale: 10,000 peers (random keys, a /32 and a /128 each) load through `wg setconf` in under
# 3 s (target 1 s, see bench/results.md), all of them are listed back with their allowed IPs,
# and the daemon's resident memory grows by less than 4 KB a peer (target 2 KB).
source "$(dirname "$0")/lib.sh"
umask 077
N=10000

NS=$(ns_new scale) || { fail setup "cannot create namespace"; t_done; }
IF=${T_PREFIX:0:12}sc
SOCK=/var/run/wireguard/$IF.sock
T_CLEANUP+=("rm -f $SOCK")
bg "$NS" daemon "$CULVERT" wg -f "$IF"
PID=$BG_PID
wait_for test -S "$SOCK" || { fail "daemon starts" "$(cat "$T_DIR/daemon.log")"; t_done; }

"$CULVERT" genkey >"$T_DIR/key"
python3 "$TOP/bench/genpeers.py" "$N" "$T_DIR/key" >"$T_DIR/conf" || { fail setup "genpeers.py"; t_done; }
check "private key set" nsx "$NS" wg set "$IF" private-key "$T_DIR/key" listen-port 51898

rss() { awk '/^VmRSS:/{print $2}' "/proc/$PID/status"; }
sleep 0.2
R0=$(rss)
T0=$(date +%s%N)
check "setconf of $N peers" nsx "$NS" wg setconf "$IF" "$T_DIR/conf"
T1=$(date +%s%N)
MS=$(((T1 - T0) / 1000000))
echo "setconf: ${MS} ms for $N peers"
if [ "$MS" -lt 3000 ]; then pass "setconf under 3 s"; else fail "setconf under 3 s" "took $MS ms"; fi

nsx "$NS" wg show "$IF" dump >"$T_DIR/dump"
# dump: one interface line, then one line a peer with allowed IPs in field 4
got=$(($(wc -l <"$T_DIR/dump") - 1))
check "all $N peers listed" test "$got" -eq "$N"
want=$(awk '/^PublicKey/{k=$3} /^AllowedIPs/{print k, $3 $4}' "$T_DIR/conf" | sort | md5sum)
have=$(awk 'NR > 1 {print $1, $4}' "$T_DIR/dump" | sort | md5sum)
check "every peer has its allowed IPs" test "$want" = "$have"

sleep 0.2
R1=$(rss)
PER=$(((R1 - R0) * 1024 / N))
echo "memory: VmRSS ${R0} kB with 0 peers, ${R1} kB with $N: ${PER} bytes a peer"
if [ "$PER" -gt 0 ] && [ "$PER" -lt 4096 ]; then pass "under 4 KB a peer"; else fail "under 4 KB a peer" "$PER bytes"; fi

# Removing them all is quick too, and the daemon still answers.
T0=$(date +%s%N)
printf '[Interface]\nPrivateKey = %s\n' "$(cat "$T_DIR/key")" >"$T_DIR/empty"
check "setconf back to 0 peers" nsx "$NS" wg setconf "$IF" "$T_DIR/empty"
T1=$(date +%s%N)
MS=$(((T1 - T0) / 1000000))
if [ "$MS" -lt 3000 ]; then pass "removal under 3 s"; else fail "removal under 3 s" "took $MS ms"; fi
check "no peers left" test -z "$(nsx "$NS" wg show "$IF" peers)"
check "daemon alive" kill -0 "$PID"
t_done
