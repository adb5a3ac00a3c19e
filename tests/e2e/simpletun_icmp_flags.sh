#!/bin/bash
# culvert simpletun --icmp with its other flags: a tap device (-a) without offloads
# (--no-offload) over IPv6 only (-6), the server and client running as an unprivileged user
# (--user) once their sockets are open; the flags that make no sense with --icmp refused; the
# exit line counting the transport's drops by name.
source "$(dirname "$0")/lib.sh"

C=$(ns_new c) && S=$(ns_new s) || { fail setup; t_done; }
T_NS+=("$C" "$S")
ns_link "$C" e0 "$S" e0 || { fail setup; t_done; }
nsx "$C" ip -6 addr add 2001:db8:73::1/64 dev e0 nodad
nsx "$S" ip -6 addr add 2001:db8:73::2/64 dev e0 nodad

for f in "-p 5000" "-b 2001:db8:73::2" "--udp"; do
	out=$(nsx "$S" "$CULVERT" simpletun -i st0 -s --icmp $f 2>&1); rc=$?
	check "--icmp $f refused with a usage error" [ $rc = 2 ]
	check "--icmp $f: one line saying why" [ "$(echo "$out" | wc -l)" = 1 ]
done
check "--icmp refused: no device left" dev_gone "$S" st0

bg "$S" srv "$CULVERT" simpletun -i st0 -a -s --icmp -6 --no-offload --user nobody
sp=$BG_PID
bg "$C" cli "$CULVERT" simpletun -i st0 -a -c 2001:db8:73::2 --icmp -6 --no-offload --user nobody
cp=$BG_PID
check "both devices up" wait_for dev_exists "$S" st0
check "client device up" wait_for dev_exists "$C" st0
check "tap MTU fits a 1500-byte IPv6 path" [ "$(nsx "$C" cat /sys/class/net/st0/mtu)" = 1432 ]
ifconf "$S" st0 73 2; ifconf "$C" st0 73 1
check "ping v4 over tap, client->server" wait_ping "$C" 198.19.73.2
check "ping v6 over tap, server->client" qping "$S" -c 2 -i 0.3 -W 3 2001:db8:19:73::1
check "an ordinary ping to the server is answered by it" qping "$C" -c 2 -i 0.3 -W 3 2001:db8:73::2
check "server runs as nobody" [ "$(ps -o user= -p $sp | tr -d ' ')" = nobody ]
check "client runs as nobody" [ "$(ps -o user= -p $cp | tr -d ' ')" = nobody ]
stop $cp; check "client exits 0" test $? = 0
stop $sp; check "server exits 0" test $? = 0
check "server's echo sysctl restored" [ "$(nsx "$S" cat /proc/sys/net/ipv6/icmp/echo_ignore_all)" = 0 ]
check "exit line names the ICMP drops" grep -q "drops:.* icmp_foreign=[1-9]" "$T_DIR/srv.log"
check "no offloads used" grep -q "offloads: tun plain\|offloads: tap plain" "$T_DIR/srv.log"
t_done
