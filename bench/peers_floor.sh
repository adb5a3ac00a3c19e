# PEERS_EXTRA for bench/peers.sh: "relay-floor", the least a userspace tunnel can do
# ($B/relay_floor: a blocking tun <-> UDP copy, no crypto, no batching), on the same path as
# every tunnel. Its idle RTT minus raw veth's is what any userspace design pays on this machine
# before doing any work of its own (two extra wake-ups each way, tun and UDP system calls).
relay_floor_up() {
  local r=${B:?}/relay_floor
  [ -x "$r" ] || { echo "relay-floor: $r missing (make bench builds it)" >&2; return 1; }
  ns_up
  bg ip netns exec ta "$r" rfa 51820 198.18.0.2 51820
  bg ip netns exec tb "$r" rfb 51820 198.18.0.1 51820
  for _ in $(seq 50); do ip -n ta link show rfa >/dev/null 2>&1 && ip -n tb link show rfb >/dev/null 2>&1 && break; sleep 0.1; done
  ip -n ta link set rfa mtu 1420; ip -n tb link set rfb mtu 1420
  ns_ifup ta rfa 198.19.0.1; ns_ifup tb rfb 198.19.0.2
}
run_relay-floor() {
  if relay_floor_up; then measure relay-floor 198.19.0.2; else echo "relay-floor FAIL Gbit/s  rtt FAIL ms"; fi
  cleanup
}
