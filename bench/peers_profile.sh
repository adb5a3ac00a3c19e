# PEERS_EXTRA for bench/peers.sh, used by bench/profile.sh (not by make bench):
#   profile-wg      perf record -a -g for PROFILE_SECS while one iperf3 TCP stream runs through
#                   culvert-wg, into $PROFILE_OUT/perf.data (iperf3's JSON beside it)
#   rtt-interval    idle ping RTT of raw veth, relay-floor (bench/peers_floor.sh) and culvert-wg
#                   at 50, 10 and 2 ms between pings: the longer the pause, the colder the caches
#   cpu-floor       CPU per Gbit of raw veth and of culvert-wg at one offered load (FLOOR_RATE, 1G):
#                   perf stat's task-clock and context switches of both iperf3 and of the
#                   daemons, and perf record -g of the daemons into $PROFILE_OUT/floor.data
#                   (docs/design.md, "The floor", reads it)
#   wakeups         per thread of both culvert-wg daemons at one offered load (FLOOR_RATE, 1G):
#                   sleeps (voluntary switches), preemptions (involuntary) and CPU per second,
#                   from /proc/PID/task/*/status and stat over PROFILE_SECS
#                   (docs/design.md, "What the kernel time is", reads it)
#   syscalls        per thread of both culvert-wg daemons at one offered load (FLOOR_RATE, 1G):
#                   system calls a second by name, and how many failed (EAGAIN), from
#                   perf trace -s over PROFILE_SECS (tracing slows the daemons; the counts
#                   are what to read, not the times)
#   switches        per thread of both culvert-wg daemons at one offered load (FLOOR_RATE, 1G):
#                   sleeps and preemptions a second, the system call each happened in and
#                   what ran next, from perf record -e sched:sched_switch over PROFILE_SECS
run_profile-wg() {
  local out=${PROFILE_OUT:?} s=${PROFILE_SECS:-4}
  culvert_wg_up; wait_ping 198.19.0.2
  ip netns exec tb iperf3 -s -1 -D -B 198.19.0.2 >/dev/null 2>&1; sleep 0.3
  ip netns exec ta iperf3 -c 198.19.0.2 -t $((s + 3)) -J >"$out/iperf.json" 2>/dev/null & local ip=$!
  sleep 1.5
  perf record -q -a -g -o "$out/perf.data" -- sleep "$s" >/dev/null 2>&1
  wait "$ip"
  echo "profile-wg done"; cleanup
}
rtt_intervals() { # NAME ADDR
  local i
  for i in 0.05 0.01 0.002; do
    printf "rtt-interval %-12s %-6s %s\n" "$1" "$i" \
      "$(ip netns exec ta ping -c 100 -i "$i" -q "$2" 2>/dev/null | awk -F/ '/rtt/{print $5}')"
  done
}
run_rtt-interval() {
  ns_up; wait_ping 198.18.0.2; rtt_intervals raw-veth 198.18.0.2; cleanup
  relay_floor_up; wait_ping 198.19.0.2; rtt_intervals relay-floor 198.19.0.2; cleanup
  culvert_wg_up; wait_ping 198.19.0.2; rtt_intervals culvert-wg 198.19.0.2; cleanup
}

iperf3_pids() { local p; for p in $(ip netns pids "$1" 2>/dev/null); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = iperf3 ] && echo "$p"; done; }
cpu_floor() { # NAME ADDR
  local out=${PROFILE_OUT:-$W} s=${PROFILE_SECS:-5} ip ips d st=
  ip netns exec tb iperf3 -s -1 -D -B "$2" >/dev/null 2>&1; sleep 0.3
  ip netns exec ta iperf3 -c "$2" -t $((s + 2)) -b "${FLOOR_RATE:-1G}" -J >"$W/floor.json" 2>/dev/null & ip=$!
  sleep 1
  ips=$( (iperf3_pids ta; iperf3_pids tb) | paste -sd,); d=$( (load_pids ta; load_pids tb) | paste -sd,)
  rm -f "$W/stat_i" "$W/stat_d"
  perf stat -x, -e task-clock,context-switches -p "$ips" -o "$W/stat_i" -- sleep "$s" >/dev/null 2>&1 & st=$!
  if [ -n "$d" ]; then
    perf stat -x, -e task-clock,context-switches -p "$d" -o "$W/stat_d" -- sleep "$s" >/dev/null 2>&1 & st="$st $!"
    perf record -q -g -p "$d" -o "$out/floor.data" -- sleep "$s" >/dev/null 2>&1
  fi
  wait "$ip" $st
  python3 - "$1" "$W/floor.json" "$s" "$W/stat_i" "$W/stat_d" <<'PY'
import json, sys, os
name, f, s, si, sd = sys.argv[1:]
def stat(p):
    v = {}
    if os.path.exists(p):
        for l in open(p):
            x = l.split(",")
            if len(x) > 2 and x[0].replace(".", "").isdigit():
                v[x[2]] = float(x[0])
    return v.get("task-clock", 0) / 1e3, int(v.get("context-switches", 0))
try:
    g = json.load(open(f))["end"]["sum_received"]["bits_per_second"] / 1e9
except Exception:
    g = 0
(ti, ci), (td, cd) = stat(si), stat(sd)
per = lambda t: "%.3f" % (t / float(s) / g) if g else "FAIL"
dd = (per(td), str(cd)) if os.path.exists(sd) else ("-", "-")
print("cpu-floor %-12s %5.2f Gbit/s  cpu_s_per_gbit iperf3 %s daemons %s  ctx_switches iperf3 %d daemons %s"
      % (name, g, per(ti), dd[0], ci, dd[1]))
PY
}
run_cpu-floor() {
  ns_up; wait_ping 198.18.0.2; cpu_floor raw-veth 198.18.0.2; cleanup
  culvert_wg_up; wait_ping 198.19.0.2; cpu_floor culvert-wg 198.19.0.2; cleanup
}

# culvert-wg up and one iperf3 stream through it at FLOOR_RATE (1G) for SECS + 2 s, in the
# background (its pid in floor_ip), returning once the stream has ramped up.
floor_stream_start() { # SECS
  culvert_wg_up; wait_ping 198.19.0.2
  ip netns exec tb iperf3 -s -1 -D -B 198.19.0.2 >/dev/null 2>&1; sleep 0.3
  ip netns exec ta iperf3 -c 198.19.0.2 -t $(($1 + 2)) -b "${FLOOR_RATE:-1G}" >/dev/null 2>&1 & floor_ip=$!
  sleep 1
}
# One line per thread: "NS/TID voluntary involuntary ticks", for the daemons in ta and tb.
thread_snap() {
  local ns p t
  for ns in ta tb; do for p in $(load_pids "$ns"); do for t in /proc/"$p"/task/*; do
    printf "%s/%s %s %s\n" "$ns" "${t##*/}" \
      "$(awk '/^voluntary_ctxt_switches/{v=$2} /^nonvoluntary_ctxt_switches/{n=$2} END{print v+0, n+0}' "$t/status" 2>/dev/null)" \
      "$(sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{print $12 + $13}')"
  done; done; done
}
run_wakeups() {
  local s=${PROFILE_SECS:-5} hz
  hz=$(getconf CLK_TCK)
  floor_stream_start "$s"
  thread_snap | sort >"$W/wk0"; sleep "$s"; thread_snap | sort >"$W/wk1"; wait "$floor_ip"
  # threads that did nothing (the handshake thread, idle workers) are left out
  join "$W/wk0" "$W/wk1" | awk -v s="$s" -v hz="$hz" '$7 > $4 {
    printf "wakeups %-12s sleeps/s %6d  preempted/s %6d  cpu %5.1f%%\n", $1, ($5 - $2) / s, ($6 - $3) / s, 100 * ($7 - $4) / hz / s }'
  cleanup
}
run_syscalls() {
  local s=${PROFILE_SECS:-4} d
  floor_stream_start "$s"
  d=$( (load_pids ta; load_pids tb) | paste -sd,)
  rm -f "$W/trace"
  [ -n "$d" ] && perf trace -s -p "$d" -o "$W/trace" -- sleep "$s" >/dev/null 2>&1
  wait "$floor_ip"
  # "culvert (TID), ..." opens a thread's table; its rows are "name calls errors ..."
  awk -v s="$s" '/^ *[^ ]+ \([0-9]+\), [0-9]+ events/ { t = $2; gsub(/[(),]/, "", t); next }
    t != "" && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ && $2 >= s {
      printf "syscalls %-8s %-12s %7d/s  failed %6d/s\n", t, $1, $2 / s, $3 / s }' "$W/trace" 2>/dev/null
  [ -s "$W/trace" ] || echo "syscalls FAIL (perf trace gave nothing)"
  cleanup
}
# Every switch away from a daemon thread (perf record -e sched:sched_switch -g, all CPUs): per
# thread, sleeps and preemptions a second, and for each the system call it was in and what ran
# next (docs/design.md, "Where the rounds come from", reads it).
run_switches() {
  local s=${PROFILE_SECS:-3} d
  floor_stream_start "$s"
  d=$( (load_pids ta | sed 's/^/ta /'; load_pids tb | sed 's/^/tb /') )
  perf record -q -e sched:sched_switch -g -a -o "$W/sw.data" -- sleep "$s" >/dev/null 2>&1
  wait "$floor_ip"
  perf script -i "$W/sw.data" -F tid,trace,ip,sym 2>/dev/null | python3 -c '
import os, re, sys, collections
secs = float(sys.argv[1])
ns = {}
for line in sys.argv[2].splitlines():
    if line.strip():
        n, p = line.split()
        for t in os.listdir("/proc/%s/task" % p) if os.path.isdir("/proc/%s/task" % p) else []:
            ns[t] = n
count = collections.Counter()
for ev in sys.stdin.read().split("\n\n"):
    lines = [l.strip() for l in ev.splitlines() if l.strip()]
    m = lines and re.search(r"prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(\S+)", lines[0])
    if not m or m.group(1) not in ns:
        continue
    frames = [l.split()[1] if len(l.split()) > 1 else "?" for l in lines[1:]]
    sys_ = [f for f in frames if f.startswith("__x64_sys_")]
    if sys_:
        call = sys_[0][len("__x64_sys_"):]
    elif "entry_SYSCALL_64_after_hwframe" in frames[:-1]:	# preempted on the way out of a call
        call = re.sub(r"^(__GI_)?_*(libc_)?", "", frames[frames.index("entry_SYSCALL_64_after_hwframe") + 1])
    else:
        call = "(user code)"
    kind = "sleep" if m.group(2).startswith(("S", "D")) else "preempt"
    nxt = re.sub(r"/\d+$", "", m.group(3))
    count[(ns[m.group(1)] + "/" + m.group(1), kind, call, nxt)] += 1
for (t, kind, call, nxt), n in sorted(count.items(), key=lambda kv: -kv[1]):
    if n / secs >= 50:
        print("switches %-12s %-8s %6d/s  in %-14s next %s" % (t, kind, n / secs, call, nxt))
' "$s" "$d"
  [ -s "$W/sw.data" ] || echo "switches FAIL (perf record gave nothing)"
  cleanup
}
