#!/bin/bash
# culvert simpletun with tun offloads (64 KB device reads split to the MTU, TCP segments merged
# into one device write, UDP GSO/GRO) and with --no-offload, over TCP and UDP: iperf3 both ways
# inside IPv4 and IPv6, DF pings at the MTU, the offloads named in the logs and really used.
# Then one side offloading and the other not: 20 MB files (IPv4 and IPv6 inside) arrive with
# the same sha256, and every TCP/IP checksum the offloading side computed, as captured on the
# plain side's device, verifies in tshark.
source "$(dirname "$0")/lib.sh"

ns_pair || { fail setup "cannot create namespaces"; t_done; }

speed() { # NAME SRV_NS CLI_NS ADDR
	local g; g=$(iperf "$2" "$3" "$4" 1)
	if [ -n "$g" ] && awk -v g="$g" 'BEGIN { exit !(g > 0.05) }'; then pass "$1 ($g Gbit/s)"; else fail "$1" "got '$g' Gbit/s"; fi
}
# counter LOG NAME: the value of NAME=N in the exit counters
counter() { grep -o " $2=[0-9]*" "$1" | tail -1 | cut -d= -f2; }
positive() { [ -n "$1" ] && [ "$1" -gt 0 ]; }

dd if=/dev/urandom of="$T_DIR/in" bs=1M count=20 status=none
SUM=$(sha256sum <"$T_DIR/in" | cut -d' ' -f1)

n=0 SP= CP=
# up NAME SERVER_FLAGS -- CLIENT_FLAGS: a pair on st0, tunnel 198.19.n.0/24, 2001:db8:19:n::/64
up() {
	local name=$1 sf=() cf=(); shift
	while [ "$1" != -- ]; do sf+=("$1"); shift; done; shift; cf=("$@")
	n=$((n + 1))
	bg "$B_" "srv-$name" "$CULVERT" simpletun -i st0 -s -p $((41000 + n)) "${sf[@]}"; SP=$BG_PID
	wait_for dev_exists "$B_" st0 && ifconf "$B_" st0 $n 2
	bg "$A" "cli-$name" "$CULVERT" simpletun -i st0 -c 198.18.0.2 -p $((41000 + n)) "${cf[@]}"; CP=$BG_PID
	wait_for dev_exists "$A" st0 && ifconf "$A" st0 $n 1
	check "$name: tunnel up" wait_ping "$A" "198.19.$n.2"
	wait_ping "$A" "2001:db8:19:$n::2" 10 >/dev/null
}
down() {
	stop "$CP"; check "$1: client exits 0" test $? = 0
	stop "$SP"; check "$1: server exits 0" test $? = 0
	wait_for dev_gone "$A" st0; wait_for dev_gone "$B_" st0
}

both() { # NAME [--udp] [--no-offload]: same flags on both sides
	local name=$1; shift
	up "$name" "$@" -- "$@"
	speed "$name: iperf3 v4 a->b" "$B_" "$A" "198.19.$n.2"
	speed "$name: iperf3 v4 b->a" "$A" "$B_" "198.19.$n.1"
	speed "$name: iperf3 v6 a->b" "$B_" "$A" "2001:db8:19:$n::2"
	speed "$name: iperf3 v6 b->a" "$A" "$B_" "2001:db8:19:$n::1"
	check "$name: DF ping v4 at the MTU (1472)" qping "$A" -c 2 -i 0.2 -W 2 -M do -s 1472 "198.19.$n.2"
	check "$name: DF ping v6 at the MTU (1452)" qping "$B_" -c 2 -i 0.2 -W 2 -M do -s 1452 "2001:db8:19:$n::1"
	down "$name"
}

# -d names the offloads at start (and -d logs every packet, so it is not used for speed).
startup() { # NAME EXPECTED-REGEX FLAGS...
	local name=$1 want=$2; shift 2
	bg "$B_" "start-$name" "$CULVERT" simpletun -i st9 -s -p 41999 -d "$@"; local p=$BG_PID
	check "start-up line: $name" wait_for grep -Eq "st9: offloads: $want" "$T_DIR/start-$name.log"
	stop $p; wait_for dev_gone "$B_" st9
}
startup default 'tun vnet_hdr csum tso4 tso6( uso)? gro$'
startup no-offload 'tun plain \(--no-offload\)$' --no-offload
startup tap 'tap vnet_hdr csum tso4 tso6( uso)? gro$' -a
startup udp 'tun vnet_hdr' --udp
check "start-up line: udp socket caps" grep -Eq 'UDP socket: gso on, gro on' "$T_DIR/start-udp.log"

both tcp-offload
L=$T_DIR/cli-tcp-offload.log S=$T_DIR/srv-tcp-offload.log
check "tcp-offload: exit counters name the offloads" grep -q 'offloads: tun vnet_hdr csum tso4 tso6' "$L"
check "tcp-offload: super-packets were split (client)" positive "$(counter "$L" tso_split)"
check "tcp-offload: super-packets were split (server)" positive "$(counter "$S" tso_split)"
check "tcp-offload: segments were merged (server)" positive "$(counter "$S" gro_merged)"
check "tcp-offload: segments were merged (client)" positive "$(counter "$L" gro_merged)"
check "tcp-offload: no bad_offload drops" test "$(counter "$L" bad_offload)$(counter "$S" bad_offload)" = 00

both udp-offload --udp
L=$T_DIR/cli-udp-offload.log S=$T_DIR/srv-udp-offload.log
check "udp-offload: exit counters name the offloads" grep -q 'offloads: tun vnet_hdr csum tso4 tso6.*; udp gso on, gro on' "$L"
check "udp-offload: super-packets were split (client)" positive "$(counter "$L" tso_split)"
check "udp-offload: segments were merged (server)" positive "$(counter "$S" gro_merged)"

both tcp-plain --no-offload
check "tcp-plain: exit counters say plain" grep -q 'offloads: tun plain (--no-offload)' "$T_DIR/cli-tcp-plain.log"
check "tcp-plain: nothing split" test "$(counter "$T_DIR/cli-tcp-plain.log" tso_split)" = 0
both udp-plain --udp --no-offload
check "udp-plain: exit counters say plain, udp gso off" grep -q 'offloads: tun plain (--no-offload); udp gso off, gro off' "$T_DIR/cli-udp-plain.log"

# mixed NAME [--udp]: client offloads, server plain. What the client's split computed reaches
# the server's device byte for byte, so a capture there checks our checksums.
mixed() {
	local name=$1 cap bad good; shift
	up "$name" "$@" --no-offload -- "$@"
	cap=$T_DIR/$name.pcap
	capture_start "$B_" st0 "$cap" tcp
	for a in "198.19.$n.2" "[2001:db8:19:$n::2]"; do
		check "$name: 20 MB file to $a, same sha256" test "$(xfer "$A" "$B_" "$a" "$T_DIR/in")" = "$SUM"
	done
	capture_stop
	good=$(tshark_ip "$cap" -Y 'tcp.checksum.status == 1' | wc -l)
	# 0xffff for a computed 0 is the same number (RFC 1624) and what the kernel's own
	# skb_checksum_help writes; tshark flags it all the same.
	bad=$(tshark_ip "$cap" \
		-Y '(tcp.checksum.status == 0 && !(tcp.checksum == 0xffff && tcp.checksum_calculated == 0)) || ip.checksum.status == 0' \
		2>/dev/null | wc -l)
	check "$name: tshark verified TCP checksums on the plain side's device ($good)" test "$good" -gt 1000
	check "$name: tshark found no bad checksum ($bad)" test "$bad" = 0
	down "$name"
	check "$name: client split super-packets" positive "$(counter "$T_DIR/cli-$name.log" tso_split)"
	check "$name: server stayed plain" grep -q 'offloads: tun plain' "$T_DIR/srv-$name.log"
}
mixed tcp-mixed
mixed udp-mixed --udp
t_done
