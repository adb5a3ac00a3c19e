# PEERS_EXTRA for ../shared/bench/peers.sh: adds "culvert-wg", culvert's WireGuard daemon on
# both ends, configured with wg(8) exactly like the wireguard-go run. CULVERT=path/to/culvert.
run_culvert-wg() {
  local c=${CULVERT:-culvert}
  ns_up; wg genkey >"$W/ca"; wg genkey >"$W/cb"; rm -f /var/run/wireguard/cw[ab].sock
  bg ip netns exec ta "$c" wg -f cwa; bg ip netns exec tb "$c" wg -f cwb
  for _ in $(seq 50); do [ -S /var/run/wireguard/cwa.sock ] && [ -S /var/run/wireguard/cwb.sock ] && break; sleep 0.1; done
  ip netns exec ta wg set cwa private-key "$W/ca" listen-port 51820 peer "$(wg pubkey <"$W/cb")" allowed-ips 198.19.0.2/32 endpoint 198.18.0.2:51820
  ip netns exec tb wg set cwb private-key "$W/cb" listen-port 51820 peer "$(wg pubkey <"$W/ca")" allowed-ips 198.19.0.1/32 endpoint 198.18.0.1:51820
  ns_ifup ta cwa 198.19.0.1; ns_ifup tb cwb 198.19.0.2; measure culvert-wg 198.19.0.2; cleanup
}
