#!/bin/bash
# culvert wg --transport icmp through a stateful firewall: diallers d1 and d2 reach the hub h
# only through m, whose nftables drop all UDP and TCP, forward echo requests only from the
# diallers' side and echo replies only as replies to them (ct state established), and
# masquerade IPv4 so both diallers share one address. Both handshake and ping the hub and each
# other through it, v4 inside over a v4 underlay and v6 inside over a v6 underlay; the hub
# reaches a dialler idle for 15 s (longer than m keeps an ICMP flow: only the dialler's polls
# keep the path open) and the idle dialler polls only a few times; iperf3 carries something
# both ways (downstream only in replies to polls); 1000 bad echo requests with our magic are
# counted by name while pings go on; the hub's echo sysctls come back after it stops, after
# SIGTERM and after SIGKILL.
source "$(dirname "$0")/lib.sh"
umask 077

SOCK=/var/run/wireguard
# ---- How the ICMP transport is asked for: the one place to adapt to the CLI ----------------
# Assumed: every `culvert wg --transport icmp` listens (takes echo requests, answers with echo
# replies, and keeps the kernel's own replies off in its namespace), and dials each peer it
# has an endpoint for (echo requests, polls); endpoints keep wg's host:port form.
icmp_wg() { # NS IF: start the daemon in the foreground, wait for its control socket
	bg "$1" "$2" "$CULVERT" wg -f -d --transport icmp "$2"
	local pid=$BG_PID i
	for i in $(seq 50); do
		[ -S "$SOCK/$2.sock" ] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}
endpoint() { case $1 in *:*) echo "[$1]:51820" ;; *) echo "$1:51820" ;; esac; }
# ---------------------------------------------------------------------------------------------

D1=$(ns_new d1) && D2=$(ns_new d2) && M=$(ns_new m) && H=$(ns_new h) || { fail setup; t_done; }
T_NS+=("$D1" "$D2" "$M" "$H")
ns_link "$D1" e0 "$M" m1 && ns_link "$D2" e0 "$M" m2 && ns_link "$H" e0 "$M" mh || { fail setup; t_done; }
for n in "$D1:61" "$D2:62" "$H:63"; do
	nsx "${n%:*}" ip addr add "198.18.${n#*:}.1/24" dev e0
	nsx "${n%:*}" ip -6 addr add "2001:db8:${n#*:}::1/64" dev e0 nodad
	nsx "${n%:*}" ip route add default via "198.18.${n#*:}.2"
	nsx "${n%:*}" ip -6 route add default via "2001:db8:${n#*:}::2"
done
nsx "$M" ip addr add 198.18.61.2/24 dev m1; nsx "$M" ip -6 addr add 2001:db8:61::2/64 dev m1 nodad
nsx "$M" ip addr add 198.18.62.2/24 dev m2; nsx "$M" ip -6 addr add 2001:db8:62::2/64 dev m2 nodad
nsx "$M" ip addr add 198.18.63.2/24 dev mh; nsx "$M" ip -6 addr add 2001:db8:63::2/64 dev mh nodad
nsx "$M" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
nsx "$M" nft -f - <<'NFT' || { fail "setup: the firewall's nftables rules"; t_done; }
table inet fw {
	chain pass_echo {
		type filter hook forward priority 0; policy drop;
		meta l4proto { tcp, udp } counter drop
		iifname "m1" oifname "mh" icmp type echo-request counter accept
		iifname "m2" oifname "mh" icmp type echo-request counter accept
		iifname { "m1", "m2" } oifname "mh" icmpv6 type echo-request counter accept
		iifname "mh" ct state established icmp type echo-reply counter accept
		iifname "mh" ct state established icmpv6 type echo-reply counter accept
		counter
	}
}
table ip nat {
	chain post { type nat hook postrouting priority 100; oifname "mh" masquerade; }
}
NFT
# m forgets an idle ICMP flow after 10 s, so a dialler idle for 15 s is reachable only if its
# polls keep the flow alive.
nsx "$M" sysctl -qw net.netfilter.nf_conntrack_icmp_timeout=10 net.netfilter.nf_conntrack_icmpv6_timeout=10 ||
	fail "setup: m's ICMP conntrack timeouts"
# fw_count PATTERN: packets counted by the rule matching PATTERN
fw_count() {
	nsx "$M" nft list chain inet fw pass_echo | grep -F -- "$1" |
		awk '{for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}' | head -1
}
# The hub forwards between its diallers.
nsx "$H" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.send_redirects=0

# ---- 0. the firewall: no UDP, no TCP, no echo request from the hub's side -----------------
nsx "$H" timeout 5 socat -u UDP4-RECV:5555 OPEN:"$T_DIR/udp",creat &
T_PIDS+=($!)
nsx "$H" timeout 5 socat -u TCP4-LISTEN:5556 OPEN:"$T_DIR/tcp",creat &
T_PIDS+=($!)
sleep 0.3
echo hi | nsx "$D1" socat -u - UDP4:198.18.63.1:5555 2>/dev/null
check_not "firewall drops TCP" nsx "$D1" timeout 3 socat -u - TCP4:198.18.63.1:5556 </dev/null
sleep 0.3
check_not "firewall drops UDP" test -s "$T_DIR/udp"
check "firewall passes a dialler's ping (v4, masqueraded)" qping "$D1" -c 1 -W 2 198.18.63.1
check "firewall passes a dialler's ping (v6)" qping "$D1" -6 -c 1 -W 2 2001:db8:63::1
check_not "firewall drops the hub's echo requests (v4)" qping "$H" -c 1 -W 1 198.18.61.1
check_not "firewall drops the hub's echo requests (v6)" qping "$H" -6 -c 1 -W 1 2001:db8:61::1

P4=/proc/sys/net/ipv4/icmp_echo_ignore_all P6=/proc/sys/net/ipv6/icmp/echo_ignore_all
echo_sysctls() { echo "$(nsx "$H" cat $P4)$(nsx "$H" cat $P6)"; }
check "hub's echo sysctls start at 0" [ "$(echo_sysctls)" = 00 ]

wg_keys h d1 d2
PH=$(cat "$T_DIR/ph") PD1=$(cat "$T_DIR/pd1") PD2=$(cat "$T_DIR/pd2")
IH=${T_PREFIX}h ID1=${T_PREFIX}1 ID2=${T_PREFIX}2
T_CLEANUP+=("rm -f $SOCK/$IH.sock $SOCK/$ID1.sock $SOCK/$ID2.sock")

conf_hub() {
	nsx "$H" wg set "$IH" private-key "$T_DIR/kh" listen-port 51820 \
		peer "$PD1" allowed-ips 198.19.61.2/32,2001:db8:19:61::2/128 \
		peer "$PD2" allowed-ips 198.19.61.3/32,2001:db8:19:61::3/128
}
# conf_dialler NS IF KEY HUB_ADDR: the hub as the only peer, for the whole tunnel subnet; no
# persistent keepalive, so an idle dialler sends nothing but the transport's polls
conf_dialler() {
	nsx "$1" wg set "$2" private-key "$T_DIR/$3" \
		peer "$PH" allowed-ips 198.19.61.0/24,2001:db8:19:61::/64 endpoint "$(endpoint "$4")"
}
# drop_count NAME [NS IF]: a drop counter of the hub (or of IF in NS)
drop_count() {
	local n; n=$(nsx "${2:-$H}" "$CULVERT" show "${3:-$IH}" | awk -v k="$1:" '$1 == k {print $2}'); echo "${n:-0}"
}

# ---- 1. the hub and two diallers behind the NAT, v4 underlay ------------------------------
if ! icmp_wg "$H" "$IH"; then
	fail "culvert wg has no icmp transport" "$(head -3 "$T_DIR/$IH.log" | tr '\n' ' ')"
	t_done
fi
PID_H=$BG_PID
pass "culvert wg --transport icmp starts"
check "hub configured" conf_hub
ifconf "$H" "$IH" 61 1
check "hub's echo sysctls set while it listens" [ "$(echo_sysctls)" = 11 ]
icmp_wg "$D1" "$ID1" && icmp_wg "$D2" "$ID2" || fail "diallers start" "$(head -3 "$T_DIR/$ID1.log" "$T_DIR/$ID2.log")"
check "dialler 1 configured (v4 underlay)" conf_dialler "$D1" "$ID1" kd1 198.18.63.1
check "dialler 2 configured (v4 underlay)" conf_dialler "$D2" "$ID2" kd2 198.18.63.1
ifconf "$D1" "$ID1" 61 2; ifconf "$D2" "$ID2" 61 3

# Both at once: two handshakes behind one address.
wait_ping "$D1" 198.19.61.1 75 & w1=$!
wait_ping "$D2" 198.19.61.1 75 & w2=$!
wait $w1; check "v4 underlay: dialler 1 handshakes and pings the hub" [ $? = 0 ]
wait $w2; check "v4 underlay: dialler 2 handshakes and pings the hub" [ $? = 0 ]
check "v4 underlay: the hub pings dialler 1" qping "$H" -c 2 -i 0.3 -W 3 198.19.61.2
check "v4 underlay: dialler 1 pings dialler 2 through the hub" wait_ping "$D1" 198.19.61.3 25
check "v4 underlay: dialler 2 pings dialler 1 through the hub" qping "$D2" -c 2 -i 0.3 -W 3 198.19.61.2
eps=$(nsx "$H" wg show "$IH" endpoints)
[ "$(echo "$eps" | awk '{print $2}' | grep -c '^198\.18\.63\.2:')" = 2 ] &&
	pass "the hub sees both diallers at the NAT's one address" ||
	fail "the hub sees both diallers at the NAT's one address" "$(echo "$eps" | tr '\n' ' ')"
[ "$(fw_count 'icmp type echo-reply')" -ge 1 ] 2>/dev/null &&
	pass "replies passed the firewall as established flows" ||
	fail "replies passed the firewall as established flows" "$(fw_count 'icmp type echo-reply')"
# Ordinary pings from the dialler's host: their replies are not the daemon's, and the kernel
# keeps them off its socket (not even read to be dropped as icmp_foreign).
ours() { echo "$(drop_count icmp_foreign "$D1" "$ID1")/$(drop_count icmp_wrong_id "$D1" "$ID1")"; }
o0=$(ours)
check "ordinary pings from a dialler's host are answered" qping "$D1" -c 20 -i 0.05 -W 2 198.18.63.1
o1=$(ours)
check "their replies never reach the dialling daemon (icmp_foreign/icmp_wrong_id $o0 -> $o1)" [ "$o0" = "$o1" ]
nsx "$D1" ss -Huanp | grep -q culvert && fail "no UDP socket in ICMP mode" || pass "no UDP socket in ICMP mode"
check "culvert show says transport icmp" sh -c "ip netns exec '$H' '$CULVERT' show '$IH' | grep -q 'transport icmp'"

# Downstream after idleness: nothing but polls for 15 s (m's ICMP flows time out after 10),
# then the hub starts a ping. The idle dialler polls, but few times: about 1.25 a second for
# 10 s, then thinning out.
q0=$(fw_count 'iifname "m1" oifname "mh" icmp type')
sleep 15
q1=$(fw_count 'iifname "m1" oifname "mh" icmp type')
nsx "$H" ping -c 1 -W 8 198.19.61.2 >"$T_DIR/idle4" 2>&1
check "v4 underlay: the hub reaches dialler 1 after 15 s idle" grep -q ' 1 received' "$T_DIR/idle4"
grep -o 'time=[0-9.]* ms' "$T_DIR/idle4"
check "an idle dialler polls, a few times ($((q1 - q0)) requests in 15 s)" [ $((q1 - q0)) -ge 3 -a $((q1 - q0)) -le 30 ]

# Both ways: upstream rides in requests, downstream only in replies to the dialler's polls,
# whose rate must follow the traffic (at one poll per 0.8 s this would be some kbit/s).
g=$(iperf "$H" "$D1" 198.19.61.1 3)
if [ -n "$g" ] && awk -v g="$g" 'BEGIN { exit !(g > 0.005) }'; then
	pass "iperf3 dialler 1 -> hub over ICMP ($g Gbit/s)"
else
	fail "iperf3 dialler 1 -> hub over ICMP" "got '${g}' Gbit/s, want > 0.005"
fi
g=$(iperf "$D1" "$H" 198.19.61.2 3)
if [ -n "$g" ] && awk -v g="$g" 'BEGIN { exit !(g > 0.005) }'; then
	pass "iperf3 hub -> dialler 1 over ICMP, in replies to polls ($g Gbit/s)"
else
	fail "iperf3 hub -> dialler 1 over ICMP, in replies to polls" "got '${g}' Gbit/s, want > 0.005"
fi

# Bad echo requests with our magic at the hub, through the firewall like any dialler's,
# while dialler 1 keeps pinging: each counted by name, nothing else touched.
v0=$(drop_count icmp_version) l0=$(drop_count icmp_length)
nsx "$D1" ping -c 20 -i 0.1 -W 2 198.19.61.1 >"$T_DIR/gping" 2>&1 & gp=$!
nsx "$D1" python3 "$TOP/tests/e2e/icmp_garbage.py" 4 198.18.63.1 1000 0.002 >"$T_DIR/garbage" 2>&1
wait $gp
cat "$T_DIR/garbage"
check "pings keep working during 1000 bad echo requests" grep -q ' 0% packet loss' "$T_DIR/gping"
v1=$(drop_count icmp_version) l1=$(drop_count icmp_length)
check "500 wrong versions counted (icmp_version $v0 -> $v1)" [ $((v1 - v0)) = 500 ]
check "500 lying lengths counted (icmp_length $l0 -> $l1)" [ $((l1 - l0)) = 500 ]
check "the tunnel works after the bad requests" qping "$D2" -c 2 -i 0.3 -W 3 198.19.61.2

# ---- 2. v6 underlay: the diallers move to the hub's IPv6 address --------------------------
r6=$(fw_count 'icmpv6 type echo-reply')
check "dialler 1 moves to the v6 underlay" conf_dialler "$D1" "$ID1" kd1 2001:db8:63::1
check "dialler 2 moves to the v6 underlay" conf_dialler "$D2" "$ID2" kd2 2001:db8:63::1
check "v6 underlay: dialler 1 pings the hub (v6 inside)" wait_ping "$D1" 2001:db8:19:61::1 50
check "v6 underlay: dialler 2 pings the hub (v6 inside)" wait_ping "$D2" 2001:db8:19:61::1 50
check "v6 underlay: the hub pings dialler 2 (v6 inside)" qping "$H" -6 -c 2 -i 0.3 -W 3 2001:db8:19:61::3
check "v6 underlay: dialler 1 pings dialler 2 through the hub (v6 inside)" wait_ping "$D1" 2001:db8:19:61::3 25
check "v6 underlay: dialler 2 pings dialler 1 through the hub (v6 inside)" qping "$D2" -6 -c 2 -i 0.3 -W 3 2001:db8:19:61::2
[ "$(fw_count 'icmpv6 type echo-reply')" -gt "${r6:-0}" ] 2>/dev/null &&
	pass "the tunnel's replies crossed the firewall over ICMPv6" ||
	fail "the tunnel's replies crossed the firewall over ICMPv6" "$r6 -> $(fw_count 'icmpv6 type echo-reply')"
sleep 15
nsx "$H" ping -6 -c 1 -W 8 2001:db8:19:61::2 >"$T_DIR/idle6" 2>&1
check "v6 underlay: the hub reaches dialler 1 after 15 s idle" grep -q ' 1 received' "$T_DIR/idle6"
grep -o 'time=[0-9.]* ms' "$T_DIR/idle6"

# ---- 3. the hub's echo sysctls come back however it ends ---------------------------------
nsx "$H" ip link del "$IH" 2>/dev/null   # how wg-quick down stops it
reap "$PID_H" 10
check "echo sysctls restored after the hub stops (device deleted)" wait_for sh -c "[ \"\$(ip netns exec '$H' cat $P4)\$(ip netns exec '$H' cat $P6)\" = 00 ]"
for sig in TERM KILL; do
	if ! icmp_wg "$H" "$IH"; then fail "hub restarts for SIG$sig"; continue; fi
	conf_hub
	check "echo sysctls set again (before SIG$sig)" [ "$(echo_sysctls)" = 11 ]
	kill -$sig "$BG_PID"
	reap "$BG_PID" 10
	check "echo sysctls restored after SIG$sig" wait_for sh -c "[ \"\$(ip netns exec '$H' cat $P4)\$(ip netns exec '$H' cat $P6)\" = 00 ]"
	nsx "$H" ip link del "$IH" 2>/dev/null
	rm -f "$SOCK/$IH.sock"
done
check "the hub's kernel answers pings again" qping "$D1" -c 1 -W 2 198.18.63.1
t_done
