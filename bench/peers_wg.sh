# PEERS_EXTRA for bench/peers.sh: adds "culvert-wg", culvert's WireGuard daemon on
# both ends, configured with wg(8) exactly like the wireguard-go run, "culvert-wg-tcp", the same
# over the TCP transport, "culvert-wg-icmp" over ICMP echo, "culvert-wg-tap" in tap mode
# (Ethernet frames between the two tap devices, which hold the tunnel addresses), and
# "culvert-wg-p8", the same with 8 parallel iperf3 streams (aggregate). CULVERT=path/to/culvert; CULVERT_WG_ARGS="--workers 1" (or --no-offload...) is
# passed to both daemons.
culvert_wg_up() {
  local c=${CULVERT:-culvert}
  ns_up; wg genkey >"$W/ca"; wg genkey >"$W/cb"; rm -f /var/run/wireguard/cw[ab].sock
  bg ip netns exec ta "$c" wg -f ${CULVERT_WG_ARGS:-} cwa; bg ip netns exec tb "$c" wg -f ${CULVERT_WG_ARGS:-} cwb
  for _ in $(seq 50); do [ -S /var/run/wireguard/cwa.sock ] && [ -S /var/run/wireguard/cwb.sock ] && break; sleep 0.1; done
  ip netns exec ta wg set cwa private-key "$W/ca" listen-port 51820 peer "$(wg pubkey <"$W/cb")" allowed-ips 198.19.0.2/32 endpoint 198.18.0.2:51820
  ip netns exec tb wg set cwb private-key "$W/cb" listen-port 51820 peer "$(wg pubkey <"$W/ca")" allowed-ips 198.19.0.1/32 endpoint 198.18.0.1:51820
  ns_ifup ta cwa 198.19.0.1; ns_ifup tb cwb 198.19.0.2
}
run_culvert-wg() { culvert_wg_up; measure culvert-wg 198.19.0.2; cleanup; }
# The TCP transport (culvert peers only), same set-up: for its ratio to UDP and to the peers.
run_culvert-wg-tcp() {
  CULVERT_WG_ARGS="${CULVERT_WG_ARGS:-} --transport tcp" culvert_wg_up; measure culvert-wg-tcp 198.19.0.2; cleanup
}
# ICMP echo as the carrier (culvert peers only): bench/run.sh leaves it out of the default rows
# while the culvert it runs has no --transport icmp; named anyway, the row says why it failed.
run_culvert-wg-icmp() {
  "${CULVERT:-culvert}" wg --help 2>&1 | grep -q icmp ||
    { printf "%-16s %6s Gbit/s  (%s)\n" culvert-wg-icmp FAIL "culvert wg has no --transport icmp"; return; }
  CULVERT_WG_ARGS="${CULVERT_WG_ARGS:-} --transport icmp" culvert_wg_up; measure culvert-wg-icmp 198.19.0.2; cleanup
}
# Tap mode: the same two peers, the addresses on the taps (MTU 1394), so ARP crosses the tunnel
# and every packet pays the Ethernet header and the switch's lookup.
run_culvert-wg-tap() {
  CULVERT_WG_ARGS="${CULVERT_WG_ARGS:-} --mode tap" culvert_wg_up; measure culvert-wg-tap 198.19.0.2; cleanup
}
run_culvert-wg-p8() {
  culvert_wg_up; wait_ping 198.19.0.2
  local g; g=$(iperf_run 198.19.0.2 "$secs" "-P 8" | awk '{print $1}')
  printf "%-16s %6s Gbit/s  (8 streams, aggregate)\n" culvert-wg-p8 "${g:-FAIL}"; cleanup
}
