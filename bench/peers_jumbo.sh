# PEERS_EXTRA for ../shared/bench/peers.sh: "culvert-wg-jumbo" and "wggo-jumbo", the culvert-wg
# and wggo runs at the kernel selftest's jumbo MTU (34736 on the tunnels) over a veth of 65535,
# so no encrypted datagram is fragmented, as over the selftest's loopback.
JUMBO_MTU=${JUMBO_MTU:-34736}
jumbo_mtu() { # DEV_A DEV_B
  ip -n ta link set va mtu 65535; ip -n tb link set vb mtu 65535
  ip -n ta link set "$1" mtu "$JUMBO_MTU"; ip -n tb link set "$2" mtu "$JUMBO_MTU"
}
run_culvert-wg-jumbo() { culvert_wg_up; jumbo_mtu cwa cwb; measure culvert-wg-jumbo 198.19.0.2; cleanup; }
run_wggo-jumbo() {
  ns_up; wg genkey >"$W/ka"; wg genkey >"$W/kb"; rm -f /var/run/wireguard/wg[ab].sock
  bg ip netns exec ta wireguard-go -f wga; bg ip netns exec tb wireguard-go -f wgb
  for _ in $(seq 50); do [ -S /var/run/wireguard/wga.sock ] && [ -S /var/run/wireguard/wgb.sock ] && break; sleep 0.1; done
  ip netns exec ta wg set wga private-key "$W/ka" listen-port 51820 peer "$(wg pubkey <"$W/kb")" allowed-ips 198.19.0.2/32 endpoint 198.18.0.2:51820
  ip netns exec tb wg set wgb private-key "$W/kb" listen-port 51820 peer "$(wg pubkey <"$W/ka")" allowed-ips 198.19.0.1/32 endpoint 198.18.0.1:51820
  ns_ifup ta wga 198.19.0.1; ns_ifup tb wgb 198.19.0.2; jumbo_mtu wga wgb
  measure wireguard-go-jumbo 198.19.0.2; cleanup
}
