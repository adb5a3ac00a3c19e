#!/bin/bash
# culvert simpletun interoperates byte for byte with the tutorial's program (re-created in
# tests/peers/simpletun_orig.c), either side being the original: tun over TCP, pings and iperf3;
# and a tap (-a) with culvert's offloads on.
source "$(dirname "$0")/lib.sh"

ORIG=$PEERS/simpletun_orig
[ -x "$ORIG" ] || { fail "original peer built" "missing $ORIG (make tests)"; t_done; }
ns_pair || { fail setup "cannot create namespaces"; t_done; }

speed_ok() { [ -n "$1" ] && awk -v g="$1" 'BEGIN { exit !(g > 0.005) }'; }

# pair NAME N SERVER_CMD... -- CLIENT_CMD...: server in b, client in a, devices st0
pair() {
	local name=$1 n=$2 scmd=() ccmd=() sp cp g; shift 2
	while [ "$1" != -- ]; do scmd+=("$1"); shift; done; shift; ccmd=("$@")
	bg "$B_" "srv-$name" "${scmd[@]}"; sp=$BG_PID
	wait_for dev_exists "$B_" st0 && ifconf "$B_" st0 "$n" 2
	sleep 0.2   # the original client does not retry: let the server listen first
	bg "$A" "cli-$name" "${ccmd[@]}"; cp=$BG_PID
	wait_for dev_exists "$A" st0 && ifconf "$A" st0 "$n" 1
	check "$name: ping v4 a->b" wait_ping "$A" "198.19.$n.2"
	check "$name: ping v6 a->b" wait_ping "$A" "2001:db8:19:$n::2"
	check "$name: ping v4 b->a" qping "$B_" -c 3 -i 0.2 -W 2 "198.19.$n.1"
	check "$name: 1472-byte ping with DF" qping "$A" -c 2 -i 0.2 -W 2 -M do -s 1472 "198.19.$n.2"
	if [ "${DO_IPERF:-1}" = 1 ]; then
		g=$(iperf "$B_" "$A" "198.19.$n.2" 2)
		if speed_ok "$g"; then pass "$name: iperf3 a->b ($g Gbit/s)"; else fail "$name: iperf3 a->b" "got '$g'"; fi
		g=$(iperf "$A" "$B_" "198.19.$n.1" 2)
		if speed_ok "$g"; then pass "$name: iperf3 b->a ($g Gbit/s)"; else fail "$name: iperf3 b->a" "got '$g'"; fi
	fi
	stop $cp; stop $sp
	for _ in $(seq 20); do dev_exists "$A" st0 || dev_exists "$B_" st0 || break; sleep 0.1; done
}

pair culvert-server-orig-client 1 "$CULVERT" simpletun -i st0 -s -- "$ORIG" -i st0 -c 198.18.0.2
pair orig-server-culvert-client 2 "$ORIG" -i st0 -s -- "$CULVERT" simpletun -i st0 -c 198.18.0.2

pair tap-culvert-server-orig-client 4 "$CULVERT" simpletun -i st0 -s -a -- "$ORIG" -i st0 -c 198.18.0.2 -a

# culvert reads 64 KB super-packets from its device (offloads on by default) but the original
# takes frames of at most 2000 bytes: the iperf3 runs above only work if every one was split
# to the MTU (for a tap, into frames with the Ethernet header in front). Make sure the split
# really happened.
for l in srv-culvert-server-orig-client cli-orig-server-culvert-client srv-tap-culvert-server-orig-client; do
	dev=tun; [[ $l == *tap* ]] && dev=tap
	check "$l: culvert ran with offloads" grep -q "offloads: $dev vnet_hdr csum tso4 tso6" "$T_DIR/$l.log"
	check "$l: super-packets split into MTU frames for the original" grep -Eq 'tso_split=[1-9]' "$T_DIR/$l.log"
done

# Debug lines in the original's style, on both sides, for the same packets.
DO_IPERF=0 pair debug-lines 3 "$ORIG" -i st0 -s -d -- "$CULVERT" simpletun -i st0 -c 198.18.0.2 -d
check "debug: culvert logs TAP2NET reads like the original" \
	grep -Eq 'TAP2NET [0-9]+: Read 84 bytes from the tap interface' "$T_DIR/cli-debug-lines.log"
check "debug: culvert logs NET2TAP writes like the original" \
	grep -Eq 'NET2TAP [0-9]+: Written 84 bytes to the tap interface' "$T_DIR/cli-debug-lines.log"
check "debug: the original logged the same packets" \
	grep -Eq 'NET2TAP [0-9]+: Written 84 bytes to the tap interface' "$T_DIR/srv-debug-lines.log"
t_done
