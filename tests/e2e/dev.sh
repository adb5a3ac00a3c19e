#!/bin/bash
# culvert dev: root makes a persistent tap owned by nobody; nobody, with no capabilities,
# attaches and reads a frame the kernel sends out of it; other uids are refused with a sentence
# about ownership; mode mismatch, busy device, kernel-picked names, deletion; a /dev/net/tun
# closed to the owner is warned about by add, show and an unprivileged dump.
T_PRIVATE_TUN=1 source "$(dirname "$0")/lib.sh"

ns=$(ns_new dev) || { fail "ns_new"; t_done; }
NOBODY=65534 OTHER=4242
# Run as uid $1 (same gid), no supplementary groups, no capabilities at all.
as_uid() { local u=$1; shift; nsx "$ns" setpriv --reuid="$u" --regid="$u" --clear-groups \
	--inh-caps=-all --bounding-set=-all "$@"; }
json() { nsx "$ns" "$CULVERT" dev show --json; }
# jq-less JSON check: python expression over the list d
json_check() { json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"; }

check "add persistent tap owned by nobody" nsx "$ns" "$CULVERT" dev add cvtap0 mode tap user "$NOBODY"
check "show --json lists it with owner" json_check \
	'[(t["mode"], t["uid"], t["owner"], t["flags"], t["attached"]) for t in d if t["name"] == "cvtap0"] == [("tap", 65534, "nobody", ["persist"], False)]'
out=$(nsx "$ns" "$CULVERT" dev show cvtap0)
check "show text" [ "$out" = "cvtap0: tap persist user nobody attached no owner_can_open yes" ]

out=$(nsx "$ns" "$CULVERT" dev add cvtap0 mode tap 2>&1); rc=$?
check "add existing refused" [ $rc -eq 1 ]
check "add existing says so" grep -q "cvtap0 already exists" <<<"$out"
nsx "$ns" "$CULVERT" dev add cvtap1 mode sideways 2>/dev/null; rc=$?
check "bad mode is a usage error" [ $rc -eq 2 ]

# nobody attaches without privileges and waits for one frame.
ip netns exec "$ns" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps=-all \
	--bounding-set=-all "$PEERS/tunattach" cvtap0 tap 10 >"$T_DIR/attach.log" 2>&1 &
apid=$!; T_PIDS+=("$apid")
check "nobody attaches with no capabilities" wait_for grep -q "^attached cvtap0" "$T_DIR/attach.log"
check "show reports attached" json_check '[t["attached"] for t in d if t["name"] == "cvtap0"] == [True]'

# While nobody holds the single queue, even the owner gets "busy".
out=$(as_uid $NOBODY "$CULVERT" dev del cvtap0 2>&1); rc=$?
check "second attach is refused" [ $rc -eq 1 ]
check "busy message" grep -q "cvtap0 is already attached by another process" <<<"$out"

# A different uid is refused, and told who owns the device.
out=$(as_uid $OTHER "$CULVERT" dev del cvtap0 2>&1); rc=$?
check "other uid refused" [ $rc -eq 1 ]
check "refusal names the owner" grep -q "owned by uid 65534 (nobody): run as that user or root" <<<"$out"
as_uid $OTHER "$PEERS/tunattach" cvtap0 tap 1 >"$T_DIR/other.log" 2>&1; rc=$?
check "other uid gets EPERM from the kernel" [ $rc -eq 1 ]
check "kernel said EPERM" grep -q "EPERM" "$T_DIR/other.log"
out=$(as_uid $OTHER "$CULVERT" dev set cvtap0 up 2>&1); rc=$?
check "link changes need CAP_NET_ADMIN" grep -q "needs CAP_NET_ADMIN" <<<"$out"

# Bringing the tap up with addresses makes the kernel send IPv6 DAD/MLD; a ping on the subnet ARPs.
check "dev set up with addresses" nsx "$ns" "$CULVERT" dev set cvtap0 mtu 1400 addr 198.19.0.1/24 \
	addr 2001:db8::1/64 up route 198.19.1.0/24
check "address is there" nsx "$ns" ip -4 addr show dev cvtap0 to 198.19.0.1/24
check "mtu set" grep -q "mtu 1400" <(nsx "$ns" ip link show cvtap0)
check "route is there" grep -q "198.19.1.0/24 dev cvtap0" <(nsx "$ns" ip route)
nsx "$ns" ping -c1 -W1 198.19.0.2 >/dev/null 2>&1
wait "$apid"; rc=$?
check "nobody read a frame" [ $rc -eq 0 ]
check "frame length reported" grep -Eq "^read [0-9]+ bytes" "$T_DIR/attach.log"
check "detached after exit" json_check '[t["attached"] for t in d if t["name"] == "cvtap0"] == [False]'

# The same through culvert dump, where that command is built.
# The link goes down first: coming up with a reader attached is what makes the kernel send.
if "$CULVERT" dump --help >/dev/null 2>&1; then
	nsx "$ns" "$CULVERT" dev set cvtap0 down
	ip netns exec "$ns" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps=-all \
		--bounding-set=-all timeout 10 "$CULVERT" dump cvtap0 --tap -c 1 >"$T_DIR/dump.log" 2>&1 &
	dpid=$!; T_PIDS+=("$dpid")
	check "culvert dump attaches as nobody" wait_for json_check \
		'[t["attached"] for t in d if t["name"] == "cvtap0"] == [True]'
	nsx "$ns" "$CULVERT" dev set cvtap0 up
	nsx "$ns" ping -c1 -W1 198.19.0.3 >/dev/null 2>&1
	wait "$dpid"; rc=$?
	check "culvert dump as nobody read a frame" [ $rc -eq 0 ]
	out=$(as_uid $OTHER "$CULVERT" dump cvtap0 --tap -c 1 2>&1); rc=$?
	check "culvert dump as another uid refused" [ $rc -ne 0 ]
	check "culvert dump names the owner" grep -q "owned by uid 65534" <<<"$out"
fi

# Mode mismatch, from the CLI and from the kernel.
out=$(nsx "$ns" "$CULVERT" dev del cvtap0 mode tun 2>&1); rc=$?
check "del with wrong mode refused" [ $rc -eq 1 ]
check "mode mismatch message" grep -q "cvtap0 is a tap device but tun was asked: use mode tap" <<<"$out"
as_uid $NOBODY "$PEERS/tunattach" cvtap0 tun 1 >"$T_DIR/mode.log" 2>&1
check "kernel refuses tun on a tap" grep -q "EINVAL" "$T_DIR/mode.log"

check "del removes it" nsx "$ns" "$CULVERT" dev del cvtap0 mode tap
check_not "device gone" nsx "$ns" ip link show cvtap0
check "show no longer lists it" json_check 'not [t for t in d if t["name"] == "cvtap0"]'
out=$(nsx "$ns" "$CULVERT" dev del cvtap0 2>&1)
check "del of a missing device" grep -q "cvtap0 does not exist" <<<"$out"
out=$(nsx "$ns" "$CULVERT" dev del lo 2>&1)
check "del refuses non-tun" grep -q "lo is not a tun/tap device" <<<"$out"

# Kernel-picked name, flags, group; the owner may delete its own device without capabilities.
name=$(nsx "$ns" "$CULVERT" dev add 'cvt%d' mode tun multi_queue vnet_hdr user $NOBODY group $NOBODY)
check "kernel-picked name printed" [ "$name" = cvt0 ]
check "flags and group shown" json_check \
	'[(t["flags"], t["gid"]) for t in d if t["name"] == "cvt0"] == [(["vnet_hdr", "multi_queue", "persist"], 65534)]'
check "owner deletes its own device" as_uid $NOBODY "$CULVERT" dev del cvt0
check_not "owner's delete worked" nsx "$ns" ip link show cvt0

out=$(as_uid $NOBODY "$CULVERT" dev add cvtap9 mode tap 2>&1); rc=$?
check "unprivileged add refused" [ $rc -eq 1 ]
check "add explains CAP_NET_ADMIN" grep -q "needs CAP_NET_ADMIN" <<<"$out"
# /dev/net/tun closed to the owner (this script's private node, so the machine's is untouched):
# add warns in one sentence naming mode and owner, show says so, an unprivileged dump explains.
t_tun_mode 0600
out=$(nsx "$ns" "$CULVERT" dev add cvn0 mode tun user $NOBODY 2>&1); rc=$?
check "add with a closed node still succeeds" [ $rc -eq 0 ]
check "add warns that the owner cannot open /dev/net/tun" grep -q \
	"^culvert dev: warning: cvn0: user nobody (65534) cannot open /dev/net/tun (mode 0600, owner root:root).*chmod 0666" <<<"$out"
check "the warning is one line" [ "$(wc -l <<<"$out")" -eq 1 ]
out=$(nsx "$ns" "$CULVERT" dev add cvn1 mode tun group $OTHER 2>&1)
check "add warns for a group too" grep -q "warning: cvn1: gid 4242 cannot open /dev/net/tun (mode 0600" <<<"$out"
check "show text says the owner cannot open it" grep -qx "cvn0: tun persist user nobody attached no owner_can_open no" \
	<(nsx "$ns" "$CULVERT" dev show cvn0)
check "show --json says the owner cannot open it" json_check \
	'[t["owner_can_open"] for t in d if t["name"] in ("cvn0", "cvn1")] == [False, False]'
out=$(as_uid $NOBODY "$CULVERT" dump cvn0 -c 1 2>&1); rc=$?
check "unprivileged dump on a closed node fails" [ $rc -ne 0 ]
check "unprivileged dump explains the node's mode" grep -q \
	"user nobody (65534) cannot open /dev/net/tun (mode 0600, owner root:root)" <<<"$out"
t_tun_mode 0666
out=$(nsx "$ns" "$CULVERT" dev add cvn2 mode tun user $NOBODY 2>&1); rc=$?
check "add on an open node is silent" eval "[ $rc -eq 0 ] && [ -z \"\$out\" ]"
check "show --json says the owner can open it now" json_check \
	'[t["owner_can_open"] for t in d if t["name"] in ("cvn0", "cvn2")] == [True, True]'
check "a root device has no owner to judge" eval "nsx $ns $CULVERT dev add cvn3 mode tun && json_check '[t[\"owner_can_open\"] for t in d if t[\"name\"] == \"cvn3\"] == [None]'"
for d in cvn0 cvn1 cvn2 cvn3; do nsx "$ns" "$CULVERT" dev del $d >/dev/null 2>&1; done

check "help exits 0" "$CULVERT" dev add --help
out=$(nsx "$ns" "$CULVERT" dev set lo up down 2>&1); rc=$?
check "set up and down together is a usage error" [ $rc -eq 2 ]
out=$(nsx "$ns" "$CULVERT" dev add cvu0 mode tun user no-such-user-h 2>&1); rc=$?
check "unknown user: one culvert dev sentence, exit 2" eval "[ $rc -eq 2 ] && grep -q \"^culvert dev: there is no user 'no-such-user-h'\" <<<\"\$out\""

t_done
