#!/bin/bash
# make bench: culvert's modes beside the peers (wireguard-go, Debian's and a current one,
# OpenVPN, socat, the original simpletun, raw veth) on the same two-namespace path in ONE run
# of bench/peers.sh, with latency/CPU/RSS under load (bench/peers_load.sh) and one peer among
# 10,000 (bench/peers_scale.sh) in that same run; then the scale figures (bench/scale.sh), and
# bench/results.md (tables with ratios and targets) and bench/results.png (gnuplot bars).
# Usage: bench/run.sh [SECS]
#   env: WGGO_NEW   a current wireguard-go binary (bench/README.md: how to build one); without
#                   it the run goes on and says that the current wireguard-go is missing
#        NAMES      which tunnels to run (bench/peers.sh and bench/peers_*.sh define them)
#        ROUNDS (5) LOAD_ROUNDS (2)  interleaved rounds of the tunnels and of the load-* runs
#        LOAD_CAP   offered load of the -capped runs (1G beside a current wireguard-go, 200M
#                   beside Debian's, which carries about half a gigabit)
#        PEERS_SH   another peers.sh, e.g. the shared one, to cross-check this harness
#        SCALE_PEERS  peers for bench/scale.sh (10000)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}; case $B in /*) ;; *) B=$top/$B ;; esac
export B CULVERT=$B/culvert SIMPLETUN=$B/peers/simpletun_orig PEERS_EXTRA=$top/bench/peers_culvert.sh
peers=${PEERS_SH:-$top/bench/peers.sh}
[ -f "$peers" ] || { echo "bench: $peers not found" >&2; exit 1; }
secs=${1:-5}
if [ -n "${WGGO_NEW:-}" ] && [ -x "$WGGO_NEW" ]; then
	WGGO_NEW=$(readlink -f "$WGGO_NEW"); export WGGO_NEW
	ref=wggo-new; export LOAD_CAP=${LOAD_CAP:-1G}
	echo "bench: current wireguard-go: $WGGO_NEW ($("$WGGO_NEW" --version 2>/dev/null | head -1))"
else
	[ -n "${WGGO_NEW:-}" ] && echo "bench: WGGO_NEW=$WGGO_NEW is not an executable" >&2
	unset WGGO_NEW
	ref=wggo; export LOAD_CAP=${LOAD_CAP:-200M}
	echo "bench: WGGO_NEW is not set, so the current wireguard-go is NOT measured: every ratio is"
	echo "bench: against Debian's wireguard-go $(wireguard-go --version 2>/dev/null | awk 'NR==1{print $2}'), which has no TUN offloads or UDP GSO/GRO."
	echo "bench: bench/README.md says how to build a current one; then WGGO_NEW=PATH make bench"
fi
# The ICMP carriers join the default rows once the culvert built here has them.
wg_icmp= st_icmp=
"$CULVERT" wg --help 2>&1 | grep -q icmp && wg_icmp=culvert-wg-icmp
"$CULVERT" simpletun --help 2>&1 | grep -q -- --icmp && st_icmp=culvert-st-icmp
names=${NAMES:-raw wggo wggo-new ovpn-udp ovpn-tcp socat-udp simpletun ptunnel-ng relay-floor culvert-wg culvert-wg-tcp $wg_icmp culvert-wg-tap wggo-jumbo wggo-new-jumbo culvert-wg-jumbo culvert-wg-10k culvert-wg-p8 culvert-st-tcp culvert-st-udp $st_icmp load-wggo load-wggo-new load-culvert-wg load-$ref-capped load-culvert-wg-capped load-culvert-st-udp-capped}
[ -z "${NAMES:-}" ] && [ -z "$wg_icmp" ] && echo "bench: culvert wg has no --transport icmp: culvert-wg-icmp left out"
[ -z "${NAMES:-}" ] && [ -z "$st_icmp" ] && echo "bench: culvert simpletun has no --icmp: culvert-st-icmp left out"
out=$top/bench/out; mkdir -p "$out"

# The namespaces ta and tb have fixed names: wait while someone else's run holds them
# (bench/peers.sh waits again and holds the lock; this is for PEERS_SH, which may not).
source "$top/bench/netns.sh"
bench_ns_wait && bench_ns_unlock || exit 1

# What only the bench needs beyond make check's packages (ptunnel-ng); without it that row is
# skipped and says so.
sh "$top/mk/deps.sh" bench || echo "bench: could not install the bench's packages; their rows will say so" >&2

# The handshake benchmark is a cmocka program; build it beside the binaries.
make -s --no-print-directory -C "$top" B="$B" "$B/tests/test_hsbench" >/dev/null || echo "bench: cannot build test_hsbench"

echo "bench: $(nproc) cores, kernel $(uname -r), ${secs}s per tunnel"
start=$(date +%s)
# Every tunnel ROUNDS times, the rounds interleaved so that drift on the machine hits all alike
# (single runs of one tunnel spread by 10-15% here, so three medians were not enough to tell
# 0.25x of raw veth from 0.24x);
# report.py takes the median of each. The load-* runs (long) run in the first LOAD_ROUNDS rounds.
rounds=${ROUNDS:-5} lrounds=${LOAD_ROUNDS:-2} all=
for r in $(seq "$rounds"); do
	for n in $names; do
		case $n in load-*) [ "$r" -le "$lrounds" ] && all="$all $n" ;; *) all="$all $n" ;; esac
	done
done
# what report.py needs to say what was measured: the commit, the offered load of -capped runs
{
	# culvert's code: the last commit that changed src/ (bench-only commits do not change it)
	echo "bench commit $(git -C "$top" log -1 --format=%h -- src 2>/dev/null || echo unknown)$(git -C "$top" diff --quiet HEAD -- src 2>/dev/null || echo +changes)"
	echo "bench load_cap $LOAD_CAP"
	echo "bench loadavg_start $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "bench rounds $rounds load_rounds $lrounds"
	bash "$peers" "$secs" $all
	echo "bench loadavg_end $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/raw.txt"
bash "$top/bench/scale.sh" "${SCALE_PEERS:-10000}" | tee "$out/scale.txt"
echo "bench: measured in $(($(date +%s) - start)) s"
python3 "$top/bench/report.py" "$out/raw.txt" "$top/bench/results.md" "$out/plot.dat" "$secs" "$out/scale.txt" || exit 1
if command -v gnuplot >/dev/null; then
	gnuplot -e "datafile='$out/plot.dat'; outfile='$top/bench/results.png'" "$top/bench/plot.gp" && echo "bench: wrote bench/results.png"
fi
echo "bench: wrote bench/results.md"
