#!/bin/bash
# culvert simpletun end to end: tun and tap, TCP and UDP, IPv4 and IPv6 underlay, IPv4 and IPv6
# inside. Each case: pings both ways (v4 and v6), a full-MTU ping with DF set, and a 2 s iperf3
# run; the device culvert created is gone after it exits, a pre-existing one is left in place.
source "$(dirname "$0")/lib.sh"

ns_pair || { fail setup "cannot create namespaces"; t_done; }
nsx "$A" ip addr add 2001:db8:18::1/64 dev va nodad; nsx "$B_" ip addr add 2001:db8:18::2/64 dev vb nodad

# ifconf NS DEV N SIDE: tunnel addresses 198.19.N.SIDE/24 and 2001:db8:19:N::SIDE/64

n=0
run_case() { # tun|tap tcp|udp 4|6
	local mode=$1 tr=$2 u=$3 name="$1-$2-v$3" flags=() srv=198.18.0.2 sp cp g
	n=$((n + 1))
	[ "$mode" = tap ] && flags+=(-a)
	[ "$tr" = udp ] && flags+=(--udp)
	[ "$u" = 6 ] && srv=2001:db8:18::2
	bg "$B_" "srv-$name" "$CULVERT" simpletun -i st0 -s -p $((40000 + n)) "${flags[@]}"; sp=$BG_PID
	if ! wait_for dev_exists "$B_" st0; then fail "$name: server created st0"; stop $sp; return; fi
	ifconf "$B_" st0 $n 2
	bg "$A" "cli-$name" "$CULVERT" simpletun -i st0 -c "$srv" -p $((40000 + n)) "${flags[@]}"; cp=$BG_PID
	if ! wait_for dev_exists "$A" st0; then fail "$name: client created st0"; stop $sp; stop $cp; return; fi
	ifconf "$A" st0 $n 1
	# Client first: a UDP server learns its client from the first datagram.
	check "$name: ping v4 client->server" wait_ping "$A" 198.19.$n.2
	check "$name: ping v6 client->server" wait_ping "$A" 2001:db8:19:$n::2
	check "$name: ping v4 server->client" qping "$B_" -c 2 -i 0.2 -W 2 198.19.$n.1
	check "$name: ping v6 server->client" qping "$B_" -c 2 -i 0.2 -W 2 2001:db8:19:$n::1
	check "$name: MTU-sized ping with DF (1472 bytes)" qping "$A" -c 2 -i 0.2 -W 2 -M do -s 1472 198.19.$n.2
	g=$(iperf "$B_" "$A" 198.19.$n.2 2)
	if [ -n "$g" ] && awk -v g="$g" 'BEGIN { exit !(g > 0.05) }'; then
		pass "$name: iperf3 2 s ($g Gbit/s)"
	else
		fail "$name: iperf3 2 s" "got '${g}' Gbit/s"
	fi
	stop $cp; check "$name: client exits 0 on SIGTERM" test $? = 0
	stop $sp; check "$name: server exits 0 on SIGTERM" test $? = 0
	check "$name: counters printed at exit" grep -q 'tun->net [1-9][0-9]* frames' "$T_DIR/cli-$name.log"
	check "$name: one plaintext warning" test "$(grep -c 'NOT encrypted' "$T_DIR/srv-$name.log")" = 1
	check "$name: created devices removed at exit" wait_for dev_gone "$A" st0
	wait_for dev_gone "$B_" st0
}

for mode in tun tap; do
	for tr in tcp udp; do
		for u in 4 6; do run_case $mode $tr $u; done
	done
done

# A device that existed before is attached to and left in place; hostname as server address.
nsx "$A" ip tuntap add dev keep0 mode tun
nsx "$B_" ip tuntap add dev keep0 mode tun
ifconf "$A" keep0 99 1; ifconf "$B_" keep0 99 2
echo "198.18.0.2 st-server.test" >"$T_DIR/hosts"
bg "$B_" srv-keep "$CULVERT" simpletun -i keep0 -s -p 40100; sp=$BG_PID
sleep 0.2
bg "$A" cli-keep unshare -m sh -c "mount --bind '$T_DIR/hosts' /etc/hosts && exec '$CULVERT' simpletun -i keep0 -c st-server.test -p 40100"; cp=$BG_PID
check "existing device, server given by name: ping" wait_ping "$A" 198.19.99.2
stop $cp; stop $sp
check "existing device left in place (client side)" dev_exists "$A" keep0
check "existing device left in place (server side)" dev_exists "$B_" keep0
check "existing device: attach logged" grep -q 'attached to existing' "$T_DIR/srv-keep.log"
check "usage error exits 2" bash -c "'$CULVERT' simpletun -i x >/dev/null 2>&1; test \$? = 2"
for bad in "-s -c 198.18.0.2" "-s -u -a" "-s -4 -6"; do
	check "contradictory $bad exits 2" nsx "$A" bash -c "timeout 5 '$CULVERT' simpletun -i stbad0 $bad >/dev/null 2>&1; test \$? = 2"
done
t_done
