#!/bin/bash
# The tutorial's LAN bridging: two sites, each a gateway namespace whose Linux bridge holds the
# LAN port to a host namespace and a tap device relayed by culvert simpletun -a. The hosts of
# the two sites share one subnet (198.19.0.0/24, 2001:db8:19::/64) and reach each other at L2.
source "$(dirname "$0")/lib.sh"

G1=$(ns_new g1) && G2=$(ns_new g2) && H1=$(ns_new h1) && H2=$(ns_new h2) ||
	{ fail setup "cannot create namespaces"; t_done; }
T_NS+=("$G1" "$G2" "$H1" "$H2")   # ns_new ran in a subshell: register for clean-up here
ns_link "$G1" wan "$G2" wan
nsx "$G1" ip addr add 198.18.0.1/24 dev wan; nsx "$G2" ip addr add 198.18.0.2/24 dev wan
for s in 1 2; do
	g=G$s h=H$s
	ns_link "${!g}" lan "${!h}" eth0
	nsx "${!g}" ip link add br0 type bridge
	nsx "${!g}" ip link set br0 up
	nsx "${!g}" ip link set lan master br0
	nsx "${!h}" ip addr add 198.19.0.$s/24 dev eth0
	nsx "${!h}" ip addr add 2001:db8:19::$s/64 dev eth0 nodad
done

# Site 1: a persistent tap made beforehand, as in the tutorial; site 2: culvert creates it.
nsx "$G1" ip tuntap add dev tap0 mode tap
nsx "$G1" ip link set tap0 master br0
nsx "$G1" ip link set tap0 up
bg "$G1" gw1 "$CULVERT" simpletun -i tap0 -a -s
bg "$G2" gw2 "$CULVERT" simpletun -i tap0 -a -c 198.18.0.1; gp=$BG_PID
check "site 2: tap created by culvert" wait_for dev_exists "$G2" tap0
nsx "$G2" ip link set tap0 master br0
nsx "$G2" ip link set tap0 up

check "host 1 -> host 2 (IPv4, same subnet)" wait_ping "$H1" 198.19.0.2
check "host 2 -> host 1 (IPv4)" qping "$H2" -c 3 -i 0.2 -W 2 198.19.0.1
check "host 1 -> host 2 (IPv6)" wait_ping "$H1" 2001:db8:19::2
check "host 2 -> host 1 (IPv6)" qping "$H2" -c 3 -i 0.2 -W 2 2001:db8:19::1
check "host 1 -> host 2 full-size frame with DF" qping "$H1" -c 2 -W 2 -M do -s 1472 198.19.0.2
m2=$(nsx "$H2" cat /sys/class/net/eth0/address)
check "host 1 learned host 2's MAC over the tunnel (ARP)" \
	bash -c "ip netns exec '$H1' ip neigh show 198.19.0.2 | grep -qi '$m2'"
g=$(iperf "$H2" "$H1" 198.19.0.2 2)
if [ -n "$g" ] && awk -v g="$g" 'BEGIN { exit !(g > 0.05) }'; then pass "iperf3 across the bridged sites ($g Gbit/s)"
else fail "iperf3 across the bridged sites" "got '$g'"; fi
t_done
