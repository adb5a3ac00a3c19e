#!/bin/bash
# make bench: culvert's modes beside the peers (wireguard-go, OpenVPN, socat, the original
# simpletun, raw veth) on the same two-namespace path in ONE run of ../shared/bench/peers.sh,
# with latency/CPU/RSS under load (bench/peers_load.sh) and one peer among 10,000
# (bench/peers_scale.sh) in that same run; then the scale figures (bench/scale.sh), and
# bench/results.md (tables with ratios and targets) and bench/results.png (gnuplot bars).
# Usage: bench/run.sh [SECS]   env: PEERS_SH (path to peers.sh), NAMES (which to run), ROUNDS (5),
#        SCALE_PEERS (peers for bench/scale.sh, default 10000)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}; case $B in /*) ;; *) B=$top/$B ;; esac
export B CULVERT=$B/culvert SIMPLETUN=$B/peers/simpletun_orig PEERS_EXTRA=$top/bench/peers_culvert.sh
peers=${PEERS_SH:-$top/../shared/bench/peers.sh}
[ -f "$peers" ] || [ -n "${PEERS_SH:-}" ] || peers=$(ls "$top"/../*/shared/bench/peers.sh 2>/dev/null | head -1)
[ -n "$peers" ] && [ -f "$peers" ] || { echo "bench: peers.sh not found; set PEERS_SH" >&2; exit 1; }
secs=${1:-5}
names=${NAMES:-raw wggo ovpn-udp ovpn-tcp socat-udp simpletun relay-floor culvert-wg wggo-jumbo wggo-new-jumbo culvert-wg-jumbo culvert-wg-10k culvert-wg-p8 culvert-st-tcp culvert-st-udp load-wggo load-culvert-wg load-wggo-capped load-culvert-wg-capped}
out=$top/bench/out; mkdir -p "$out"

# peers.sh uses the fixed namespaces ta and tb: wait while someone else's run holds them.
busy() { ip netns list 2>/dev/null | grep -qE '^t[ab]( |$)'; }
for i in $(seq 120); do
	busy || break
	[ "$i" = 1 ] && echo "bench: namespaces ta/tb are in use (another peers.sh run?); waiting up to 10 min"
	sleep 5
done
busy && { echo "bench: ta/tb still in use; not starting" >&2; exit 1; }

# The handshake benchmark is a cmocka program; build it beside the binaries.
make -s --no-print-directory -C "$top" B="$B" "$B/tests/test_hsbench" >/dev/null || echo "bench: cannot build test_hsbench"

echo "bench: $(nproc) cores, kernel $(uname -r), ${secs}s per tunnel"
start=$(date +%s)
# Every tunnel ROUNDS times, the rounds interleaved so that drift on the machine hits all alike
# (single runs of one tunnel spread by 10-15% here, so three medians were not enough to tell
# 0.25x of raw veth from 0.24x);
# report.py takes the median of each. The load-* runs (long, and ratios of their own) run once.
rounds=${ROUNDS:-5} all=
for r in $(seq "$rounds"); do
	for n in $names; do
		case $n in load-*) [ "$r" = 1 ] && all="$all $n" ;; *) all="$all $n" ;; esac
	done
done
bash "$peers" "$secs" $all | tee "$out/raw.txt"
bash "$top/bench/scale.sh" "${SCALE_PEERS:-10000}" | tee "$out/scale.txt"
echo "bench: measured in $(($(date +%s) - start)) s"
python3 "$top/bench/report.py" "$out/raw.txt" "$top/bench/results.md" "$out/plot.dat" "$secs" "$out/scale.txt" || exit 1
if command -v gnuplot >/dev/null; then
	gnuplot -e "datafile='$out/plot.dat'; outfile='$top/bench/results.png'" "$top/bench/plot.gp" && echo "bench: wrote bench/results.png"
fi
echo "bench: wrote bench/results.md"
