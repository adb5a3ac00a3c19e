#!/bin/bash
# make profile: where culvert-wg's time goes, on the same two-namespace path as make bench.
# 1. perf record -a -g while one iperf3 TCP stream runs through culvert-wg (bench/peers_profile.sh)
# 2. the AEAD's cost per packet through culvert's crypto layer ($B/aead_bench)
# 3. idle ping RTT of raw veth, the minimal relay (relay-floor) and culvert-wg at 50, 10 and 2 ms
#    between pings
# and bench/profile.md from the three (bench/profile.py). Needs perf (linux-perf).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}; case $B in /*) ;; *) B=$top/$B ;; esac
export B CULVERT=$B/culvert PEERS_EXTRA=$top/bench/peers_culvert.sh
peers=${PEERS_SH:-$top/bench/peers.sh}
[ -f "$peers" ] || { echo "profile: $peers not found" >&2; exit 1; }
command -v perf >/dev/null || { echo "profile: perf not found; install linux-perf" >&2; exit 1; }
[ -x "$B/aead_bench" ] && [ -x "$B/relay_floor" ] || { echo "profile: $B/aead_bench or relay_floor missing; run make profile" >&2; exit 1; }
ip netns list 2>/dev/null | grep -qE '^t[ab]( |$)' && { echo "profile: namespaces ta/tb in use (a bench running?)" >&2; exit 1; }

export PROFILE_OUT=$top/bench/out/profile PROFILE_SECS=${PROFILE_SECS:-4}
mkdir -p "$PROFILE_OUT"
echo "profile: $(nproc) cores, kernel $(uname -r)"
bash "$peers" 3 profile-wg rtt-interval | tee "$PROFILE_OUT/peers.txt"
"$B/aead_bench" 1 | tee "$PROFILE_OUT/aead.txt"
python3 "$top/bench/profile.py" "$PROFILE_OUT" "$top/bench/profile.md" && echo "profile: wrote bench/profile.md"
