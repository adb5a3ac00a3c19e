# PEERS_EXTRA for bench/peers.sh: "culvert-wg-10k", the culvert-wg run with 10,000
# more peers configured on both ends (random keys, a /32 and a /128 each, no endpoints), so
# the same run shows what a large peer table costs the one peer that carries traffic.
run_culvert-wg-10k() {
  declare -F culvert_wg_up >/dev/null || { echo "culvert-wg-10k   skipped (no culvert_wg_up)"; return; }
  local here; here=$(dirname "${BASH_SOURCE[0]}")
  culvert_wg_up
  python3 "$here/genpeers.py" 10000 >"$W/10k-a.conf"; python3 "$here/genpeers.py" 10000 >"$W/10k-b.conf"
  ip netns exec ta wg addconf cwa "$W/10k-a.conf"; ip netns exec tb wg addconf cwb "$W/10k-b.conf"
  echo "culvert-wg-10k   peers: $(ip netns exec ta wg show cwa peers | wc -l) and $(ip netns exec tb wg show cwb peers | wc -l)"
  measure culvert-wg-10k 198.19.0.2; cleanup
}
