#!/bin/bash
# make bench: culvert's modes beside the peers (wireguard-go, OpenVPN, socat, the original
# simpletun, raw veth) on the same two-namespace path in ONE run of ../shared/bench/peers.sh,
# then bench/results.md (table with ratios) and bench/results.png (gnuplot bars).
# Usage: bench/run.sh [SECS]   env: PEERS_SH (path to peers.sh), NAMES (which to run)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}; case $B in /*) ;; *) B=$top/$B ;; esac
export CULVERT=$B/culvert SIMPLETUN=$B/peers/simpletun_orig PEERS_EXTRA=$top/bench/peers_culvert.sh
peers=${PEERS_SH:-$top/../shared/bench/peers.sh}
[ -x "$peers" ] || peers=$(ls "$top"/../*/shared/bench/peers.sh 2>/dev/null | head -1)
[ -n "$peers" ] && [ -f "$peers" ] || { echo "bench: peers.sh not found; set PEERS_SH" >&2; exit 1; }
secs=${1:-5}
names=${NAMES:-raw wggo ovpn-udp ovpn-tcp socat-udp simpletun culvert-wg culvert-st-tcp culvert-st-udp}
out=$top/bench/out; mkdir -p "$out"
echo "bench: $(nproc) cores, kernel $(uname -r), ${secs}s per tunnel"
bash "$peers" "$secs" $names | tee "$out/raw.txt"
python3 "$top/bench/report.py" "$out/raw.txt" "$top/bench/results.md" "$out/plot.dat" "$secs"
if command -v gnuplot >/dev/null; then
	gnuplot -e "datafile='$out/plot.dat'; outfile='$top/bench/results.png'" "$top/bench/plot.gp" && echo "bench: wrote bench/results.png"
fi
echo "bench: wrote bench/results.md"
