#!/bin/bash
# ICMP transport's socket layer, without the engine (tests/peers/icmp_pipe): dialler d1 and d2
# reach listener l only through router m, whose nftables forward only ICMP echo (no UDP, no
# TCP): requests from the diallers' side, replies only to them (ct state established, a flow
# forgotten 2 s after its last packet). m masquerades IPv4 so both diallers share one address.
# Both diallers use the same echo identifier, so the NAT must rewrite one and the listener must
# keep them apart by (address, identifier). Data both ways checked byte for byte, v4 and v6;
# ordinary pings to the listener are answered by it (the kernel's own replies are off); the
# sysctl comes back after SIGTERM and after SIGKILL (the guardian restores it).
. "$(dirname "$0")/lib.sh"
PIPE=$PEERS/icmp_pipe
[ -x "$PIPE" ] || { fail icmp_pipe_built "$PIPE missing (make build/peers/icmp_pipe)"; t_done; }

D1=$(ns_new d1) && D2=$(ns_new d2) && M=$(ns_new m) && L=$(ns_new l) || { fail setup; t_done; }
T_NS+=("$D1" "$D2" "$M" "$L")
ns_link "$D1" e0 "$M" m1 && ns_link "$D2" e0 "$M" m2 && ns_link "$L" e0 "$M" ml || { fail setup; t_done; }
nsx "$D1" ip addr add 198.18.1.1/24 dev e0; nsx "$D1" ip -6 addr add 2001:db8:1::1/64 dev e0 nodad
nsx "$D2" ip addr add 198.18.2.1/24 dev e0; nsx "$D2" ip -6 addr add 2001:db8:2::1/64 dev e0 nodad
nsx "$L" ip addr add 198.18.3.1/24 dev e0; nsx "$L" ip -6 addr add 2001:db8:3::1/64 dev e0 nodad
# A second address: the kernel would answer from the first, so d2 (dialling this one through
# the NAT) works only if replies leave from the address each request was sent to.
nsx "$L" ip addr add 198.18.3.5/24 dev e0; nsx "$L" ip -6 addr add 2001:db8:3::5/64 dev e0 nodad
nsx "$M" ip addr add 198.18.1.2/24 dev m1; nsx "$M" ip -6 addr add 2001:db8:1::2/64 dev m1 nodad
nsx "$M" ip addr add 198.18.2.2/24 dev m2; nsx "$M" ip -6 addr add 2001:db8:2::2/64 dev m2 nodad
nsx "$M" ip addr add 198.18.3.2/24 dev ml; nsx "$M" ip -6 addr add 2001:db8:3::2/64 dev ml nodad
for n in "$D1:1" "$D2:2" "$L:3"; do
	nsx "${n%:*}" ip route add default via "198.18.${n#*:}.2"
	nsx "${n%:*}" ip -6 route add default via "2001:db8:${n#*:}::2"
done
nsx "$M" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
nsx "$M" nft -f - <<'NFT' || { fail nft_rules; t_done; }
table inet mid {
	chain echo_only {
		type filter hook forward priority 0; policy drop;
		meta l4proto { tcp, udp } counter drop
		iifname { "m1", "m2" } oifname "ml" icmp type echo-request counter accept
		iifname { "m1", "m2" } oifname "ml" icmpv6 type echo-request counter accept
		iifname "ml" ct state established icmp type echo-reply counter accept
		iifname "ml" ct state established icmpv6 type echo-reply counter accept
	}
}
table ip nat {
	chain masq { type nat hook postrouting priority 100; oifname "ml" masquerade; }
}
NFT
# Stateful: replies pass only while m remembers the flow, here 2 s after its last packet, so
# the idle dialler's push below arrives only if its polls kept the flow open.
nsx "$M" sysctl -qw net.netfilter.nf_conntrack_icmp_timeout=2 net.netfilter.nf_conntrack_icmpv6_timeout=2 ||
	fail m_conntrack_timeouts

# The middle really blocks UDP and TCP.
nsx "$L" timeout 5 socat -u UDP4-RECV:5555 OPEN:"$T_DIR/udp",creat &
T_PIDS+=($!)
nsx "$L" timeout 5 socat -u TCP4-LISTEN:5556 OPEN:"$T_DIR/tcp",creat &
T_PIDS+=($!)
sleep 0.3
echo hi | nsx "$D1" socat -u - UDP4:198.18.3.1:5555 2>/dev/null
check_not middle_blocks_tcp nsx "$D1" timeout 3 socat -u - TCP4:198.18.3.1:5556 </dev/null
sleep 0.3
check_not middle_blocks_udp test -s "$T_DIR/udp"

sysctl_l() { nsx "$L" cat "$1"; }
P4=/proc/sys/net/ipv4/icmp_echo_ignore_all P6=/proc/sys/net/ipv6/icmp/echo_ignore_all
check sysctl_starts_0 [ "$(sysctl_l $P4)$(sysctl_l $P6)" = 00 ]

for v in 4 6; do
	if [ $v = 4 ]; then dst=198.18.3.1 dst2=198.18.3.5 P=$P4; else dst=2001:db8:3::1 dst2=2001:db8:3::5 P=$P6; fi
	bg "$L" listen$v "$PIPE" listen -$v -q 64
	lp=$BG_PID
	wait_for grep -q listening "$T_DIR/listen$v.log" || fail "v${v}_listener_up"
	check "v${v}_sysctl_set" [ "$(sysctl_l $P)" = 1 ]
	# The host stays pingable: the listener answers ordinary pings itself, exactly once each.
	nsx "$D1" ping -$v -c 3 -i 0.2 -W 2 "$dst" >"$T_DIR/ping$v" 2>&1
	check "v${v}_plain_ping_answered" grep -q ' 0% packet loss' "$T_DIR/ping$v"
	check_not "v${v}_plain_ping_no_dups" grep -q 'DUP' "$T_DIR/ping$v"
	nsx "$D1" ping -$v -c 1 -W 2 "$dst2" >"$T_DIR/ping2$v" 2>&1
	check "v${v}_plain_ping_answered_from_contacted_address" grep -q "bytes from $dst2" "$T_DIR/ping2$v"
	# Never answered when sent to a broadcast or multicast address (no amplification).
	if [ $v = 4 ]; then
		check_not v4_broadcast_ping_not_answered qping "$M" -b -c 1 -W 1 198.18.3.255
	else
		# M answers its own multicast ping; the listener's link-local address must not.
		ll=$(nsx "$L" ip -6 -o addr show dev e0 scope link | awk '{print $4}' | cut -d/ -f1)
		nsx "$M" ping -6 -c 2 -i 0.3 -W 1 ff02::1%ml >"$T_DIR/mping" 2>&1
		check v6_multicast_ping_reaches_m grep -q 'bytes from' "$T_DIR/mping"
		check_not v6_multicast_ping_not_answered grep -q "from ${ll:-none}" "$T_DIR/mping"
	fi
	# A payload with our magic but a lying length: counted, dropped, not answered.
	check_not "v${v}_lying_length_not_answered" qping "$D1" -$v -c 1 -W 1 -s 6 -p 63760100ffff "$dst"
	# Three diallers behind the NAT with the same identifier, at once: d1 and d2 to one address
	# (the NAT must rewrite one identifier), d1 again to the second address (no rewrite needed:
	# the listener tells it apart by the address it was sent to, and must answer from it).
	ps=()
	for j in "1 $D1 $dst" "2 $D2 $dst" "3 $D1 $dst2"; do
		set -- $j
		nsx "$2" timeout 40 "$PIPE" dial -$v -i 4660 -n 300 -p 60 "$3" >"$T_DIR/d$1_$v" 2>&1 &
		ps+=($!); T_PIDS+=($!)
	done
	for j in 1 2 3; do
		wait "${ps[j-1]}"
		check "v${v}_dialler${j}_intact_both_ways" [ $? = 0 ]
		head -1 "$T_DIR/d${j}_$v"
		# d1 and d3 share a namespace and an identifier: each socket must be handed only the
		# replies from the address it dialled, or a burst to one crowds out the other's.
		check "v${v}_dialler${j}_gets_only_its_replies" grep -q '^drop icmp_wrong_id 0$' "$T_DIR/d${j}_$v"
	done
	# Downstream while the dialler is idle: the listener queues 20 messages 3 s after the
	# request; they must leave at once through a held poll (not wait for the next one), and
	# the idle dialler must have polled only a few times meanwhile.
	nsx "$D1" timeout 20 "$PIPE" dial -$v -n 5 -p 20 -w 3000 "$dst" >"$T_DIR/idle_$v" 2>&1
	check "v${v}_idle_downstream_intact" [ $? = 0 ]
	head -1 "$T_DIR/idle_$v"
	read -r pms pa < <(sed -n 's/.*polls_after_push \([0-9]*\) push_ms \([0-9]*\).*/\2 \1/p' "$T_DIR/idle_$v")
	check "v${v}_idle_downstream_prompt" [ "${pms:-99999}" -lt 3500 ]
	# one poll per message plus one per ICMPW_REFRESH_NS (0.8 s) of idleness
	check "v${v}_idle_few_polls" [ "${pa:-999}" -le 26 ]
	stop "$lp"
	check "v${v}_lying_length_counted" grep -q '^drop icmp_length [1-9]' "$T_DIR/listen$v.log"
	check "v${v}_foreign_answered" grep -q 'foreign_answered [1-9]' "$T_DIR/listen$v.log"
	check "v${v}_two_sessions_no_table_full" grep -q '^drop icmp_table_full 0' "$T_DIR/listen$v.log"
	# Over v4 all three share the NAT's address: three sessions (and the idle test's fourth)
	# means the NAT rewrote one identifier and the listener kept (address, identifier, local
	# address) apart.
	check "v${v}_four_sessions" grep -q '^sessions 4$' "$T_DIR/listen$v.log"
	check "v${v}_sysctl_restored_sigterm" [ "$(sysctl_l $P)" = 0 ]
	check "v${v}_kernel_answers_again" qping "$D1" -$v -c 1 -W 2 "$dst"
done

# SIGKILL: the guardian restores it.
bg "$L" listen_kill "$PIPE" listen -4
wait_for grep -q listening "$T_DIR/listen_kill.log"
check sigkill_sysctl_set [ "$(sysctl_l $P4)" = 1 ]
kill -9 "$BG_PID"
wait_for sh -c "[ \"\$(ip netns exec '$L' cat $P4)\" = 0 ]"
check sigkill_sysctl_restored [ "$(sysctl_l $P4)" = 0 ]
check middle_forwarded_replies_as_established sh -c "ip netns exec '$M' nft list chain inet mid echo_only | grep -q 'established icmp type echo-reply counter packets [1-9]'"
check middle_forwarded_v6_replies_as_established sh -c "ip netns exec '$M' nft list chain inet mid echo_only | grep -q 'established icmpv6 type echo-reply counter packets [1-9]'"
t_done
