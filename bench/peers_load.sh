# PEERS_EXTRA for bench/peers.sh: the cost of a saturating transfer, for culvert-wg and
# wireguard-go (Debian's and, with WGGO_NEW, a current one) on the same path.
# "load-culvert-wg", "load-wggo" and "load-wggo-new" print one line:
#   load-NAME  Gbit/s  rtt_idle ms  rtt_load ms (avg, max)  cpu_s_per_gbit (both daemons,
#   send, recv)  rss_kb and hwm_kb (send, recv)
# rtt_load is ping through the tunnel while one iperf3 TCP stream fills it; CPU is the daemons'
# own utime+stime (/proc/PID/stat) over the transfer divided by the gigabits moved, which is
# also cores per Gbit/s; RSS is VmRSS sampled mid-transfer, HWM the peak.

# load_pids NS: pids of the tunnel daemon(s) in NS
load_pids() {
  local p
  for p in $(ip netns pids "$1" 2>/dev/null); do
    case $(cat "/proc/$p/comm" 2>/dev/null) in culvert|wireguard-go) echo "$p" ;; esac
  done
}
load_ticks() { local p t=0; for p in "$@"; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done; echo $t; }
load_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status" 2>/dev/null; }

measure_load() { # NAME ADDR
  local name=$1${LOAD_TAG:-} addr=$2 ps pr c0s c0r c1s c1r idle out rssS rssR hwmS hwmR ip np
  wait_ping "$addr"
  ps=$(load_pids ta | head -1); pr=$(load_pids tb | head -1)
  [ -n "$ps" ] && [ -n "$pr" ] || { printf "%-16s FAIL (no daemon pids)\n" "load-$name"; return; }
  idle=$(ip netns exec ta ping -c 10 -i 0.05 -q "$addr" 2>/dev/null | awk -F/ '/rtt/{print $5}')
  ip netns exec tb iperf3 -s -1 -D -B "$addr" >/dev/null 2>&1; sleep 0.3
  c0s=$(load_ticks "$ps"); c0r=$(load_ticks "$pr")
  ip netns exec ta iperf3 -c "$addr" -t "$secs" -J ${LOAD_RATE:+-b $LOAD_RATE} >"$W/load.json" 2>/dev/null & ip=$!
  # let the stream ramp up, then ping through it for most of the rest
  sleep 1; np=$(( (secs - 2) * 10 )); [ $np -lt 10 ] && np=10
  out=$(ip netns exec ta ping -c "$np" -i 0.1 -q "$addr" 2>/dev/null | awk -F'[/ ]' '/rtt/{print $8, $9}')
  rssS=$(load_kb VmRSS "$ps"); rssR=$(load_kb VmRSS "$pr")
  wait "$ip"
  c1s=$(load_ticks "$ps"); c1r=$(load_ticks "$pr")
  hwmS=$(load_kb VmHWM "$ps"); hwmR=$(load_kb VmHWM "$pr")
  python3 - "$W/load.json" "$name" "$(getconf CLK_TCK)" $((c1s - c0s)) $((c1r - c0r)) \
    "${idle:-FAIL}" ${out:-FAIL FAIL} "${rssS:-0}" "${rssR:-0}" "${hwmS:-0}" "${hwmR:-0}" <<'PY'
import json, sys
f, name, hz, ts, tr, idle, avg, mx, rs, rr, hs, hr = sys.argv[1:]
try:
    e = json.load(open(f))["end"]
    s = e.get("sum_received") or e["sum"]
    gbit = s["bytes"] * 8 / 1e9
    rate = "%.2f" % (s["bits_per_second"] / 1e9)
except Exception:
    gbit, rate = 0, "FAIL"
hz = float(hz)
cs, cr = int(ts) / hz, int(tr) / hz
per = lambda c: "%.3f" % (c / gbit) if gbit else "FAIL"
print("%-16s %6s Gbit/s  rtt_idle %s ms  rtt_load %s ms max %s ms  cpu_s_per_gbit %s send %s recv %s  rss_kb %s %s hwm_kb %s %s"
      % ("load-" + name, rate, idle, avg, mx, per(cs + cr), per(cs), per(cr), rs, rr, hs, hr))
PY
}

# with_measure FN RUN: run the peers.sh function RUN with its "measure" replaced by FN, so
# the tunnel is set up exactly as in the main table.
with_measure() {
  local saved; saved=$(declare -f measure)
  eval "measure() { $1 \"\$@\"; }"
  "$2"
  eval "$saved"
}

run_load-wggo() { with_measure measure_load run_wggo; }
# (not wggo_new_missing: these also run under the shared cross-check peers.sh)
load_new_missing() { [ -x "${WGGO_NEW:-}" ] && return 1; echo "load-wggo-new skipped: WGGO_NEW is not set"; }
run_load-wggo-new() { load_new_missing || with_measure measure_load run_wggo-new; }
run_load-culvert-wg() { with_measure measure_load run_culvert-wg; }
# The same offered load for both: a TCP stream capped below what either tunnel can carry, so
# the comparison is of queueing and CPU at one rate, not of how much more one tunnel moves.
# bench/run.sh sets 1G against the current wireguard-go; Debian's carries only about 0.5.
LOAD_CAP=${LOAD_CAP:-200M}
run_load-wggo-capped() { LOAD_RATE=$LOAD_CAP LOAD_TAG=-capped with_measure measure_load run_wggo; }
run_load-wggo-new-capped() {
	load_new_missing || LOAD_RATE=$LOAD_CAP LOAD_TAG=-capped with_measure measure_load run_wggo-new
}
run_load-culvert-wg-capped() { LOAD_RATE=$LOAD_CAP LOAD_TAG=-capped with_measure measure_load run_culvert-wg; }
# The same engine carrying the same load in plaintext (culvert simpletun --udp, peers_extra.sh):
# what culvert-wg costs besides its crypto and WireGuard framing, measured in the same run.
run_load-culvert-st-udp-capped() {
	LOAD_RATE=$LOAD_CAP LOAD_TAG=-capped with_measure measure_load run_culvert-st-udp
}
