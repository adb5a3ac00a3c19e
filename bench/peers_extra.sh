#!/bin/bash
# culvert simpletun in bench/peers.sh: PEERS_EXTRA=bench/peers_extra.sh CULVERT=PATH.
# "culvert-st-tcp", "culvert-st-udp" and "culvert-st-icmp", one a carrier.
# Same path as the built-in "simpletun" (persistent st0 in ta and tb, 198.19.0.1/2), so the
# original (SIMPLETUN=build/peers/simpletun_orig) is the baseline in the same run.
run_culvert_st() { # NAME [extra flags]
  local name=$1; shift
  [ -x "${CULVERT:-}" ] || { echo "$name skipped (set CULVERT)"; return; }
  ns_up; for n in ta tb; do ip netns exec $n ip tuntap add dev st0 mode tun; done
  ns_ifup ta st0 198.19.0.1; ns_ifup tb st0 198.19.0.2
  bg ip netns exec tb "$CULVERT" simpletun -i st0 -s "$@"; sleep 0.3
  bg ip netns exec ta "$CULVERT" simpletun -i st0 -c 198.18.0.2 "$@"
  measure "$name" 198.19.0.2; cleanup
}
run_culvert-st-tcp() { run_culvert_st culvert-st-tcp; }
run_culvert-st-udp() { run_culvert_st culvert-st-udp --udp; }
# ICMP echo as the carrier; left out of bench/run.sh's default rows while simpletun has no --icmp
run_culvert-st-icmp() {
  "${CULVERT:-culvert}" simpletun --help 2>&1 | grep -q -- --icmp ||
    { printf "%-16s %6s Gbit/s  (%s)\n" culvert-st-icmp FAIL "culvert simpletun has no --icmp"; return; }
  run_culvert_st culvert-st-icmp --icmp
}
