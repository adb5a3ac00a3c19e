#!/bin/bash
# make bench-flood: culvert wg and wireguard-go as the responder under the same handshake flood,
# in one run, side by side (issue 9). For each, a pair of that implementation (a initiates, b
# responds; configured with wg(8)) and an attacker f on a second underlay address running
# build/peers/wg_flood: initiations with a valid MAC1 from 8 source ports, as fast as one core
# sends, valid MAC2s once it holds the cookies. Measured without and during the flood: ping
# loss (200 at 10 ms), one iperf3 stream a -> b; during it, how long a restarted a takes to
# get a ping through (its handshake); then the same handshake under 1k/s of random type-1
# garbage. The row "sink" is culvert wg with the flood aimed at a plain UDP socket that reads
# and discards (socat) instead: what the flooder's CPU and packets alone cost the tunnel on this
# machine, the best any responder could do here. Writes the "Under a handshake flood" section of bench/results.md (bench/report.py
# keeps it when make bench rewrites the file) and bench/out/flood.txt.
# Usage: bench/flood.sh   env: NAMES (culvert-wg wireguard-go), SECS (iperf3 seconds, 4),
#        FLOOD_PORTS (8), HS_MAX (seconds to wait for the restarted peer, 20)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}; case $B in /*) ;; *) B=$top/$B ;; esac
CULVERT=${CULVERT:-$B/culvert}
export B CULVERT CULVERT_TOP=$top
source "$top/tests/e2e/lib.sh"	# namespaces per pid, the clean-up trap, ifconf, wait_*
umask 077
FLOODER=$PEERS/wg_flood
[ -x "$FLOODER" ] && [ -x "$CULVERT" ] || { echo "bench-flood: build first (make all $FLOODER)" >&2; exit 1; }
names=${NAMES:-culvert-wg wireguard-go sink} secs=${SECS:-4} ports=${FLOOD_PORTS:-8} hs_max=${HS_MAX:-20}
out=$top/bench/out; mkdir -p "$out"

A=$(ns_new a) && NB=$(ns_new b) && F=$(ns_new f) || { echo "bench-flood: cannot create namespaces" >&2; exit 1; }
T_NS+=("$A" "$NB" "$F")
ns_link "$A" va "$NB" vb && ns_link "$F" fl "$NB" bfl || exit 1
nsx "$A" ip addr add 198.18.92.1/24 dev va
nsx "$NB" ip addr add 198.18.92.2/24 dev vb
nsx "$F" ip addr add 198.18.93.3/24 dev fl
nsx "$NB" ip addr add 198.18.93.2/24 dev bfl
for k in a b; do wg genkey >"$T_DIR/k$k"; wg pubkey <"$T_DIR/k$k" >"$T_DIR/p$k"; done
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")
SOCK=/var/run/wireguard PORT_A=51893 PORT_B=51892 PORT_SINK=51894 P=${T_PREFIX:0:12}
ms() { echo $(($(date +%s%N) / 1000000)); }
# secs MS: milliseconds as seconds with two decimals
secs() { printf '%d.%02d' $(($1 / 1000)) $(($1 % 1000 / 10)); }

# up NS IF: the implementation under test ($impl) on IF in NS, in the foreground; sets UP_PID
up() {
	case $impl in
	culvert-wg | sink) bg "$1" "$2" "$CULVERT" wg -f "$2" ;;
	wireguard-go) bg "$1" "$2" env WG_PROCESS_FOREGROUND=1 wireguard-go "$2" ;;
	esac
	UP_PID=$BG_PID
	T_CLEANUP+=("rm -f $SOCK/$2.sock")
	wait_for test -S "$SOCK/$2.sock"
}
# down PID NS IF: until its socket and device are gone, so the next start makes a new device
down() { stop "$1"; wait_for test ! -S "$SOCK/$3.sock"; wait_for dev_gone "$2" "$3"; }
start_a() {
	up "$A" "$IA" && PID_A=$UP_PID &&
		nsx "$A" wg set "$IA" private-key "$T_DIR/ka" listen-port $PORT_A \
			peer "$PB" allowed-ips 198.19.92.2/32 endpoint 198.18.92.2:$PORT_B && ifconf "$A" "$IA" 92 1
}
start_b() {
	up "$NB" "$IB" && PID_B=$UP_PID &&
		nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port $PORT_B peer "$PA" allowed-ips 198.19.92.1/32 &&
		ifconf "$NB" "$IB" 92 2
}
loss() { nsx "$A" ping -q -c 200 -i 0.01 -W 1 198.19.92.2 2>/dev/null | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p'; }
gbps() {
	nsx "$NB" timeout $((secs + 8)) iperf3 -s -1 -B 198.19.92.2 >/dev/null 2>&1 & local sp=$!
	T_PIDS+=("$sp")
	wait_listen "$NB" 5201
	nsx "$A" timeout $((secs + 6)) iperf3 -c 198.19.92.2 -t "$secs" --connect-timeout 2000 -J >"$T_DIR/iperf.json" 2>/dev/null
	reap "$sp" 2
	python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; s=e.get("sum_received") or e["sum"]; print("%.2f" % (s["bits_per_second"]/1e9))' "$T_DIR/iperf.json" 2>/dev/null || echo 0
}
# restart: a goes down and comes back; HS = seconds until a ping answers, or ">HS_MAX". Not
# called in $(...): PID_A must survive it.
restart() {
	down "$PID_A" "$A" "$IA"; start_a || { HS=fail; return; }
	local t0; t0=$(ms)
	while [ $(($(ms) - t0)) -lt $((hs_max * 1000)) ]; do
		nsx "$A" ping -c1 -W0.2 198.19.92.2 >/dev/null 2>&1 && { HS=$(secs $(($(ms) - t0))); return; }
	done
	HS=">$hs_max"
}

echo "bench-flood: $(nproc) cores, kernel $(uname -r), iperf3 ${secs}s, flood from $ports ports"
printf "%-13s %7s %8s %7s %9s %11s %12s %9s %12s\n" responder loss% Gbit/s flood/s loss%@fl Gbit/s@fl ratio@flood hs@flood hs@garbage |
	tee "$out/flood.txt"
for impl in $names; do
	target=198.18.93.2:$PORT_B
	case $impl in culvert-wg) IA=${P}ca IB=${P}cb ;; wireguard-go) IA=${P}ga IB=${P}gb ;;
	sink) IA=${P}sa IB=${P}sb target=198.18.93.2:$PORT_SINK
		bg "$NB" sink socat -u UDP4-RECV:$PORT_SINK,bind=198.18.93.2 OPEN:/dev/null; sink_pid=$BG_PID ;;
	*) echo "bench-flood: unknown responder $impl" >&2; continue ;; esac
	start_b && start_a && wait_ping "$A" 198.19.92.2 25 || { echo "$impl: tunnel does not come up" >&2; continue; }
	l0=$(loss) g0=$(gbps)
	bg "$F" "flood-$impl" "$FLOODER" -b 198.18.93.3 -n "$ports" -t $((hs_max + secs + 30)) "$PB" "$target"
	fp=$BG_PID
	sleep 2
	l1=$(loss) g1=$(gbps)
	restart; h1=$HS
	kill -0 "$fp" 2>/dev/null || h1="${h1}*"	# * in the table: the flood had ended
	kill "$fp" 2>/dev/null; reap "$fp" 5
	rate=$(sed -n 's/^total: \([0-9]*\) sent.*/\1/p' "$T_DIR/flood-$impl.log")
	[ "$impl" = culvert-wg ] && echo "  $impl drops after the flood: $("$CULVERT" show "$IB" --json 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin)["interfaces"][0]["drops"]; print(" ".join("%s=%s" % kv for kv in d.items() if kv[1]))')"
	# a fresh b for the garbage: the flood's backlog in its socket must not count there
	down "$PID_B" "$NB" "$IB"; start_b || { echo "$impl: b does not restart" >&2; continue; }
	bg "$F" "garbage-$impl" "$FLOODER" -g -r 1000 -b 198.18.93.3 -n "$ports" -t 30 - "$target"
	gp=$BG_PID
	sleep 1.5
	restart; h2=$HS
	kill "$gp" 2>/dev/null; reap "$gp" 5
	ratio=$(python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) / float(sys.argv[1])) if float(sys.argv[1]) else "-")' "$g0" "$g1")
	printf "%-13s %7s %8s %7s %9s %11s %12s %9s %12s\n" "$impl" "${l0:-100}" "$g0" "${rate:-0}" "${l1:-100}" "$g1" "$ratio" "$h1" "$h2" |
		tee -a "$out/flood.txt"
	down "$PID_A" "$A" "$IA"; down "$PID_B" "$NB" "$IB"
	[ "$impl" = sink ] && stop "$sink_pid"
done

python3 - "$out/flood.txt" "$top/bench/results.md" "$secs" "$ports" <<'EOF'
import re, sys, time
raw, md, secs, ports = sys.argv[1:]
rows = [l.split(None, 8) for l in open(raw).read().splitlines()[1:]]
sec = ["## Under a handshake flood", "",
       "`make bench-flood` (bench/flood.sh), %s. A pair of each implementation, the responder flooded "
       "by build/peers/wg_flood from %s source ports of a second underlay address: initiations with a "
       "valid MAC1, valid MAC2s once it holds the cookies, as fast as one core sends. Ping: 200 at 10 ms; "
       "iperf3: one stream, %s s, a -> b; hs: seconds until a restarted peer gets a ping through (its "
       "handshake), during the flood and under 1k/s of random type-1 garbage; REKEY_TIMEOUT is 5 s, so "
       "over 5 s means a first attempt was lost or answered with a cookie. The row sink is culvert-wg with "
       "the flood aimed at a UDP socket that reads and discards: what the flood's CPU and packets alone cost "
       "on this machine. * marks a handshake only after the "
       "flood ended." % (time.strftime("%Y-%m-%d"), ports, secs), "",
       "| responder | ping loss | Gbit/s | flood msgs/s | ping loss, flood | Gbit/s, flood | flood / no flood | hs, flood | hs, garbage |",
       "|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    r += [""] * (9 - len(r))
    sec.append("| %s | %s%% | %s | %s | %s%% | %s | %s | %s s | %s s |" % tuple(r))
sec.append("")
try:
    text = open(md).read()
except FileNotFoundError:
    text = "# Benchmark results\n"
text = re.sub(r"\n## Under a handshake flood\n.*?(?=\n## |\Z)", "", text, flags=re.S).rstrip("\n")
open(md, "w").write(text + "\n\n" + "\n".join(sec))
EOF
echo "bench-flood: wrote the flood section of bench/results.md"
