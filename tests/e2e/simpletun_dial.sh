#!/bin/bash
# culvert simpletun's TCP client and a server name with several addresses (a hosts file bound
# over /etc/hosts in a private mount namespace): each address is dialled in turn, one that
# swallows the SYNs given LOOP_DIAL_TRY_MS (4 s), one that refuses skipped at once, until one
# connects; for a name none of whose addresses answers, one message names it, and the client
# keeps trying.
source "$(dirname "$0")/lib.sh"

ns_pair || { fail setup "cannot create namespaces"; t_done; }
# The server's name has three addresses on B, routed from A: .2, where the server listens (it
# binds that one alone), .9, whose TCP B drops unanswered, and .10, where a connection is
# refused. None is on A's subnet, so getaddrinfo's sort (which prefers the longest prefix in
# common with an on-link source) leaves the file's order.
for a in 2 9 10; do nsx "$B_" ip addr add 198.18.1.$a/32 dev lo; done
nsx "$A" ip route add 198.18.1.0/24 via 198.18.0.2
nsx "$B_" nft -f - <<'NFT' || { fail setup "nftables in B"; t_done; }
table inet dial {
	chain in {
		type filter hook input priority 0;
		ip daddr 198.18.1.9 tcp dport 40200 counter drop
	}
}
NFT
printf '%s\n' "198.18.1.9 st-multi.test" "198.18.1.10 st-multi.test" "198.18.1.2 st-multi.test" \
	"198.18.1.9 st-none.test" "198.18.1.10 st-none.test" >"$T_DIR/hosts"
client() { # LOG NAME: the client in A, resolving with the hosts file
	bg "$A" "$1" unshare -m sh -c "mount --bind '$T_DIR/hosts' /etc/hosts &&
		exec '$CULVERT' simpletun -i dial0 -c '$2' -p 40200"
}

bg "$B_" srv "$CULVERT" simpletun -i dial0 -s -b 198.18.1.2 -p 40200; sp=$BG_PID
wait_for dev_exists "$B_" dial0 && ifconf "$B_" dial0 50 2 || { fail setup "server device"; t_done; }
wait_listen "$B_" 40200

start=$(date +%s.%N)
client cli st-multi.test; cp=$BG_PID
wait_for dev_exists "$A" dial0 && ifconf "$A" dial0 50 1
check "three addresses: ping through the one that connects" wait_ping "$A" 198.19.50.2
log=$T_DIR/cli.log
check "the one that swallows SYNs is given up after 4 s" \
	grep -q 'cannot connect to st-multi.test (198.18.1.9:40200): no answer in 4 s; trying its next address' "$log"
check "the one that refuses is skipped" \
	grep -q 'cannot connect to st-multi.test (198.18.1.10:40200): Connection refused; trying its next address' "$log"
check "connected to the third" grep -q 'connected to server 198.18.1.2:40200' "$log"
t=$(grep -n 'connected to server' "$log" | head -1 | cut -d: -f1)
[ "$(grep -n 'trying its next address' "$log" | tail -1 | cut -d: -f1)" -lt "${t:-0}" ] &&
	pass "in the file's order, then connected" || fail "in the file's order, then connected" "$(cat "$log")"
check "SYNs to the silent address were dropped" \
	bash -c "ip netns exec '$B_' nft list chain inet dial in | grep -Eq 'packets [1-9]'"
check_not "no round failed" grep -q 'none of its' "$log"
stop $cp
wait_for dev_gone "$A" dial0

client none st-none.test; cp=$BG_PID
check "no address answers: one message names the server" \
	wait_for grep -q 'cannot connect to st-none.test: none of its 2 addresses answered (the last, 198.18.1.10:40200: Connection refused)' "$T_DIR/none.log"
check "... and the client keeps trying" kill -0 $cp
stop $cp; check "... until SIGTERM, exit 0" test $? = 0
stop $sp
t_done
