# PEERS_EXTRA for bench/peers.sh, used by bench/profile.sh (not by make bench):
#   profile-wg      perf record -a -g for PROFILE_SECS while one iperf3 TCP stream runs through
#                   culvert-wg, into $PROFILE_OUT/perf.data (iperf3's JSON beside it)
#   rtt-interval    idle ping RTT of raw veth, relay-floor (bench/peers_floor.sh) and culvert-wg
#                   at 50, 10 and 2 ms between pings: the longer the pause, the colder the caches
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
