#!/bin/bash
# One culvert server and three culvert clients (culvert up): each client reaches what the
# allowed IPs on both ends permit and nothing else, the server forwards between clients, and a
# client that sends with a spoofed inner source is dropped by the server and counted.
source "$(dirname "$0")/lib.sh"
umask 077

S=$(ns_new s) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$S")	# ns_new ran in a subshell: register for the clean-up here
C=()
for i in 1 2 3; do
	n=$(ns_new "c$i") || { fail setup "cannot create namespaces"; t_done; }
	C[$i]=$n; T_NS+=("$n")
	ns_link "$S" "s$i" "$n" "c$i"
	nsx "$S" ip addr add "198.18.3$i.1/24" dev "s$i"
	nsx "$n" ip addr add "198.18.3$i.2/24" dev "c$i"
done
# The server routes client to client over its one tunnel interface.
nsx "$S" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0

P=${T_PREFIX:0:12}
IS=${P}ps
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IS.sock $SOCK/${P}p1.sock $SOCK/${P}p2.sock $SOCK/${P}p3.sock")
for k in s 1 2 3; do "$CULVERT" genkey >"$T_DIR/k$k"; "$CULVERT" pubkey <"$T_DIR/k$k" >"$T_DIR/p$k"; done

# Server: in the foreground so its log can be read; configured with wg and ip like wg-quick does.
bg "$S" server "$CULVERT" wg -f "$IS"
wait_for test -S "$SOCK/$IS.sock" || { fail "server starts" "$(cat "$T_DIR/server.log")"; t_done; }
cat >"$T_DIR/server.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/ks")
ListenPort = 51830

[Peer]
PublicKey = $(cat "$T_DIR/p1")
AllowedIPs = 198.19.30.11/32

[Peer]
PublicKey = $(cat "$T_DIR/p2")
AllowedIPs = 198.19.30.12/32

[Peer]
PublicKey = $(cat "$T_DIR/p3")
AllowedIPs = 198.19.30.13/32, 198.19.31.0/24
EOF
check "server configured" nsx "$S" wg setconf "$IS" "$T_DIR/server.conf"
nsx "$S" ip addr add 198.19.30.1/24 dev "$IS"
nsx "$S" ip link set "$IS" up
nsx "$S" ip route add 198.19.31.0/24 dev "$IS"

# Clients 1 and 3 accept the whole tunnel network from the server, client 2 only the server.
allowed=([1]="198.19.30.0/24" [2]="198.19.30.1/32" [3]="198.19.30.0/24")
for i in 1 2 3; do
	cat >"$T_DIR/${P}p$i.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/k$i")
Address = 198.19.30.1$i/24

[Peer]
PublicKey = $(cat "$T_DIR/ps")
AllowedIPs = ${allowed[$i]}
Endpoint = 198.18.3$i.1:51830
EOF
	if nsx "${C[$i]}" "$CULVERT" up "$T_DIR/${P}p$i.conf" 2>"$T_DIR/up$i.err"; then pass "client $i up"; else
		fail "client $i up" "$(cat "$T_DIR/up$i.err")"; fi
done
nsx "${C[3]}" ip addr add 198.19.31.1/24 dev "${P}p3"

for i in 1 2 3; do check "client $i reaches the server" wait_ping "${C[$i]}" 198.19.30.1 25; done
check "server reaches client 2" quiet nsx "$S" ping -c2 -i0.2 -W1 198.19.30.12
check "server reaches client 3's extra prefix" quiet nsx "$S" ping -c2 -i0.2 -W1 198.19.31.1
check "client 1 reaches client 3 through the server" quiet nsx "${C[1]}" ping -c2 -i0.2 -W1 198.19.30.13
check "client 3 reaches client 1 through the server" quiet nsx "${C[3]}" ping -c2 -i0.2 -W1 198.19.30.11
check_not "client 2 refuses client 1 (its allowed IPs hold only the server)" \
	quiet nsx "${C[1]}" ping -c2 -i0.2 -W1 198.19.30.12
check_not "client 2 cannot send to client 1 (no peer for that destination)" \
	quiet nsx "${C[2]}" ping -c2 -i0.2 -W1 198.19.30.11
check_not "client 1 cannot reach client 3's extra prefix (outside its allowed IPs)" \
	quiet nsx "${C[1]}" ping -c1 -W1 198.19.31.1

# Spoofing: client 1 sends from an address the server does not allow for it.
drops_of() { # NS IFACE REASON: the culvert_drop_REASON count from culvert show --json, or empty
	nsx "$1" "$CULVERT" show "$2" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)["interfaces"][0]["drops"]
print(d.get(sys.argv[1], "") if d else "")' "$3"
}
before=$(drops_of "$S" "$IS" unallowed_src)
nsx "${C[1]}" ip addr add 198.19.30.99/32 dev "${P}p1"
check_not "spoofed inner source gets no answer" quiet nsx "${C[1]}" ping -c3 -i0.2 -W1 -I 198.19.30.99 198.19.30.1
check "client 1 still reaches the server with its own address" quiet nsx "${C[1]}" ping -c1 -W1 198.19.30.1
after=$(drops_of "$S" "$IS" unallowed_src)
if [ -n "$after" ]; then
	[ "$after" -ge $(( ${before:-0} + 3 )) ] &&
		pass "server counts culvert_drop_unallowed_src ($before -> $after, culvert show)" ||
		fail "server counts culvert_drop_unallowed_src" "before=$before after=$after"
	nsx "$S" "$CULVERT" show "$IS" | grep -Eq "^    unallowed_src: [0-9]+" &&
		pass "culvert show prints the drop under drops:" || fail "culvert show prints the drop under drops:"
else
	echo "note: the daemon exposes no culvert_drop_* counters yet; asserting on its log instead"
	grep -q "dropped a packet (unallowed_src)" "$T_DIR/server.log" &&
		pass "server drops the spoofed source as unallowed_src (daemon log; no counters in culvert show yet)" ||
		fail "server drops the spoofed source as unallowed_src" "$(tail -5 "$T_DIR/server.log")"
fi
for i in 1 2 3; do check "client $i down" nsx "${C[$i]}" "$CULVERT" down "${P}p$i"; done
t_done
