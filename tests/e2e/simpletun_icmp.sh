#!/bin/bash
# culvert simpletun --icmp: the plaintext tunnel over the ICMP transport. Client c reaches
# server s only through m, whose nftables drop all UDP and TCP and forward only ICMP echo.
# IPv4 and IPv6 underlays, each with pings both ways (v4 and v6 inside) and a short iperf3;
# the server keeps the kernel's echo replies off while it runs and puts them back at exit.
source "$(dirname "$0")/lib.sh"

# ---- How the ICMP transport is asked for: the one place to adapt to the CLI ----------------
# Assumed: the server (-s) listens for echo requests and answers with echo replies; the client
# (-c) dials; --icmp picks the transport on both, and -p has no meaning with it.
st_icmp() { # NS LOG server|ADDR: start simpletun on st0, wait for the device
	local role=(-s)
	[ "$3" = server ] || role=(-c "$3")
	bg "$1" "$2" "$CULVERT" simpletun -i st0 "${role[@]}" --icmp
	local pid=$BG_PID i
	for i in $(seq 50); do
		dev_exists "$1" st0 && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}
# ---------------------------------------------------------------------------------------------

C=$(ns_new c) && M=$(ns_new m) && S=$(ns_new s) || { fail setup; t_done; }
T_NS+=("$C" "$M" "$S")
ns_link "$C" e0 "$M" mc && ns_link "$S" e0 "$M" ms || { fail setup; t_done; }
nsx "$C" ip addr add 198.18.71.1/24 dev e0; nsx "$C" ip -6 addr add 2001:db8:71::1/64 dev e0 nodad
nsx "$S" ip addr add 198.18.72.1/24 dev e0; nsx "$S" ip -6 addr add 2001:db8:72::1/64 dev e0 nodad
nsx "$M" ip addr add 198.18.71.2/24 dev mc; nsx "$M" ip -6 addr add 2001:db8:71::2/64 dev mc nodad
nsx "$M" ip addr add 198.18.72.2/24 dev ms; nsx "$M" ip -6 addr add 2001:db8:72::2/64 dev ms nodad
for n in "$C:71" "$S:72"; do
	nsx "${n%:*}" ip route add default via "198.18.${n#*:}.2"
	nsx "${n%:*}" ip -6 route add default via "2001:db8:${n#*:}::2"
done
echo_only_router "$M" || { fail "setup: the middle box's nftables rules"; t_done; }
echo_count() {
	nsx "$M" nft list chain inet mid echo_only | grep -F -- "$1 type" |
		awk '{for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}' | head -1
}

nsx "$S" timeout 4 socat -u TCP4-LISTEN:5556 OPEN:"$T_DIR/tcp",creat &
T_PIDS+=($!)
sleep 0.3
check_not "the middle box drops TCP" nsx "$C" timeout 2 socat -u - TCP4:198.18.72.1:5556 </dev/null

P4=/proc/sys/net/ipv4/icmp_echo_ignore_all P6=/proc/sys/net/ipv6/icmp/echo_ignore_all
echo_sysctls() { echo "$(nsx "$S" cat $P4)$(nsx "$S" cat $P6)"; }
check "server's echo sysctls start at 0" [ "$(echo_sysctls)" = 00 ]

n=72
for u in 4 6; do
	srv=198.18.72.1 name="v$u underlay" proto=icmp
	[ $u = 6 ] && srv=2001:db8:72::1 proto=icmpv6
	before=$(echo_count $proto)
	if ! st_icmp "$S" "srv$u" server; then
		fail "culvert simpletun has no icmp transport" "$(head -3 "$T_DIR/srv$u.log" | tr '\n' ' ')"
		t_done
	fi
	sp=$BG_PID
	ifconf "$S" st0 $n 2
	check "$name: server's echo sysctls set while it runs" [ "$(echo_sysctls)" = 11 ]
	st_icmp "$C" "cli$u" "$srv" || fail "$name: client starts" "$(head -3 "$T_DIR/cli$u.log" | tr '\n' ' ')"
	cp=$BG_PID
	ifconf "$C" st0 $n 1
	check "$name: ping v4 client->server" wait_ping "$C" 198.19.$n.2
	check "$name: ping v6 client->server" wait_ping "$C" 2001:db8:19:$n::2
	check "$name: ping v4 server->client" qping "$S" -c 2 -i 0.3 -W 3 198.19.$n.1
	check "$name: ping v6 server->client" qping "$S" -c 2 -i 0.3 -W 3 2001:db8:19:$n::1
	after=$(echo_count $proto)
	[ "${after:-0}" -gt "$((${before:-0} + 8))" ] && pass "$name: the tunnel crossed the middle box as $proto echo" ||
		fail "$name: the tunnel crossed the middle box as $proto echo" "${before:-?} -> ${after:-?}"
	g=$(iperf "$S" "$C" 198.19.$n.2 2)
	if [ -n "$g" ] && awk -v g="$g" 'BEGIN { exit !(g > 0.005) }'; then
		pass "$name: iperf3 client->server ($g Gbit/s)"
	else
		fail "$name: iperf3 client->server" "got '${g}' Gbit/s, want > 0.005"
	fi
	stop $cp; check "$name: client exits 0 on SIGTERM" test $? = 0
	stop $sp; check "$name: server exits 0 on SIGTERM" test $? = 0
	check "$name: one plaintext warning" test "$(grep -c 'NOT encrypted' "$T_DIR/srv$u.log")" = 1
	check "$name: server's echo sysctls restored at exit" [ "$(echo_sysctls)" = 00 ]
	check "$name: created devices removed at exit" wait_for dev_gone "$C" st0
	wait_for dev_gone "$S" st0
	n=$((n + 1))
done
t_done
