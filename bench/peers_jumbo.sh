# PEERS_EXTRA for bench/peers.sh: the culvert-wg and wireguard-go runs at the kernel
# selftest's jumbo MTU (34736 on the tunnels) over a veth of 65535, so no encrypted datagram is
# fragmented, as over the selftest's loopback: "culvert-wg-jumbo", "wggo-jumbo" (Debian's
# wireguard-go) and "wggo-new-jumbo" (WGGO_NEW=PATH, a current one, bench/README.md).
JUMBO_MTU=${JUMBO_MTU:-34736}
jumbo_mtu() { # DEV_A DEV_B
  ip -n ta link set va mtu 65535; ip -n tb link set vb mtu 65535
  ip -n ta link set "$1" mtu "$JUMBO_MTU"; ip -n tb link set "$2" mtu "$JUMBO_MTU"
}
run_culvert-wg-jumbo() { culvert_wg_up; jumbo_mtu cwa cwb; measure culvert-wg-jumbo 198.19.0.2; cleanup; }
wggo_jumbo() { # NAME BINARY
  ns_up; wg genkey >"$W/ka"; wg genkey >"$W/kb"; rm -f /var/run/wireguard/wj[ab].sock
  bg ip netns exec ta "$2" -f wja; bg ip netns exec tb "$2" -f wjb
  for _ in $(seq 50); do [ -S /var/run/wireguard/wja.sock ] && [ -S /var/run/wireguard/wjb.sock ] && break; sleep 0.1; done
  ip netns exec ta wg set wja private-key "$W/ka" listen-port 51820 peer "$(wg pubkey <"$W/kb")" allowed-ips 198.19.0.2/32 endpoint 198.18.0.2:51820
  ip netns exec tb wg set wjb private-key "$W/kb" listen-port 51820 peer "$(wg pubkey <"$W/ka")" allowed-ips 198.19.0.1/32 endpoint 198.18.0.1:51820
  ns_ifup ta wja 198.19.0.1; ns_ifup tb wjb 198.19.0.2; jumbo_mtu wja wjb
  measure "$1" 198.19.0.2; cleanup
}
run_wggo-jumbo() { wggo_jumbo wireguard-go-jumbo wireguard-go; }
run_wggo-new-jumbo() {
  [ -x "${WGGO_NEW:-}" ] || { echo "wireguard-go-new-jumbo skipped (set WGGO_NEW)"; return; }
  wggo_jumbo wireguard-go-new-jumbo "$WGGO_NEW"
}
