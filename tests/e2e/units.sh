#!/bin/bash
# The systemd units as `make install` writes them: `systemd-analyze verify` passes on each
# (binary and man pages found), each carries the hardening directives, and
# `systemd-analyze security` rates it OK or better. No systemd runs here, so the daemon's
# survival under culvert-wg@'s hardening is checked as far as it can be without one (and that
# of culvert up under culvert-up@'s, for capabilities, system calls and sockets): the
# daemon runs (as root, then with --user) under the unit's CapabilityBoundingSet and
# NoNewPrivileges through setpriv, passes traffic, rebinds, answers culvert show, stops, and
# strace shows every system call it made allowed by the unit's SystemCallFilter, sockets only
# of the RestrictAddressFamilies, devices only /dev/net/tun and the pseudo-devices
# DevicePolicy=closed leaves, files written only under /run/wireguard (ProtectSystem=strict
# with its RuntimeDirectory), and no writable executable mapping (MemoryDenyWriteExecute).
source "$(dirname "$0")/lib.sh"
umask 077

P=$T_DIR/p
make -s -C "$TOP" B="$B" install PREFIX="$P" >"$T_DIR/install.log" 2>&1
U=$P/lib/systemd/system
check "make install writes both units" test -f "$U/culvert-wg@.service" -a -f "$U/culvert-up@.service"
check "ExecStart points at the installed binary" grep -qx "ExecStart=$P/bin/culvert wg --foreground %i" "$U/culvert-wg@.service"

for unit in culvert-wg@.service culvert-up@.service; do
	if MANPATH=$P/share/man systemd-analyze verify "$U/$unit" >"$T_DIR/verify.log" 2>&1; then
		pass "systemd-analyze verify $unit"
	else
		fail "systemd-analyze verify $unit" "$(head -5 "$T_DIR/verify.log")"
	fi
	for d in CapabilityBoundingSet= 'DeviceAllow=/dev/net/tun rw' DevicePolicy=closed ProtectSystem=strict \
		ProtectHome=yes NoNewPrivileges=yes RestrictAddressFamilies= SystemCallFilter=@system-service \
		MemoryDenyWriteExecute=yes RuntimeDirectory=wireguard; do
		grep -q "^$d" "$U/$unit" || fail "$unit has $d"
	done
	pass "$unit has the hardening directives"
	score=$(systemd-analyze security --offline=true "$U/$unit" 2>/dev/null |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	awk -v s="$score" 'BEGIN { exit !(s != "" && s < 4.0) }' &&
		pass "systemd-analyze security rates $unit OK or better ($score)" ||
		fail "systemd-analyze security rates $unit OK or better" "exposure '$score'"
done
# The ICMP transport's drop-in, linked for one instance of each unit as the man page says
DROPIN=$P/share/culvert/systemd/icmp.conf
check "make install writes the ICMP drop-in" test -f "$DROPIN"
mkdir -p "$T_DIR/units"
for unit in culvert-wg@.service culvert-up@.service; do
	inst=${unit/@/@icmp0} d=$T_DIR/units/${unit/@/@icmp0}.d
	cp "$U/$unit" "$T_DIR/units/" && mkdir -p "$d" && ln -s "$DROPIN" "$d/"
	if SYSTEMD_UNIT_PATH=$T_DIR/units: MANPATH=$P/share/man systemd-analyze verify "$inst" >"$T_DIR/verify.log" 2>&1; then
		pass "systemd-analyze verify $inst with the ICMP drop-in"
	else
		fail "systemd-analyze verify $inst with the ICMP drop-in" "$(head -5 "$T_DIR/verify.log")"
	fi
	out=$(SYSTEMD_UNIT_PATH=$T_DIR/units: systemd-analyze security --offline=true "$inst" 2>/dev/null)
	score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' <<<"$out")
	# the drop-in was read (the tunables are open) and the rating stays OK
	grep -q '✗ ProtectKernelTunables=' <<<"$out" && awk -v s="$score" 'BEGIN { exit !(s != "" && s < 4.0) }' &&
		pass "$inst takes the drop-in and rates OK or better ($score)" ||
		fail "$inst takes the drop-in and rates OK or better" "exposure '$score'"
done
# The man page for the units is where the Documentation= lines point
check "Documentation= names man pages that exist" bash -c "grep -h '^Documentation=' '$U'/*.service | grep -o 'man:[a-z-]*' | sed 's/man://' | while read m; do test -f '$P/share/man/man8/'\$m.8 || exit 1; done"

# ---- the daemon under culvert-wg@'s restrictions -----------------------------------------
unit=$U/culvert-wg@.service
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
systemd-analyze syscall-filter 2>/dev/null | python3 "$TOP/tests/e2e/syscall_groups.py" \
	"$(sed -n 's/^SystemCallFilter=//p' "$unit")" >"$T_DIR/allowed"
check "the SystemCallFilter expands to a syscall list" test "$(wc -l <"$T_DIR/allowed")" -gt 100
families=$(sed -n 's/^RestrictAddressFamilies=//p' "$unit")

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
ns_link "$A" va "$NB" vb
nsx "$A" ip addr add 198.18.44.1/24 dev va
nsx "$NB" ip addr add 198.18.44.2/24 dev vb
wg_keys a b
IA=${T_PREFIX}a IB=${T_PREFIX}b SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")
bg "$NB" "$IB" "$CULVERT" wg -f "$IB"
wait_for test -S "$SOCK/$IB.sock"
nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port 51820 peer "$(cat "$T_DIR/pa")" allowed-ips 198.19.44.1/32
ifconf "$NB" "$IB" 44 2

# trace_ok LABEL TRACE ALLOWED FAMILIES: every system call in strace's TRACE (the part before
# '(' of each line of strace -f's "PID name(...") is in the list ALLOWED, and its sockets are
# only of FAMILIES
trace_ok() {
	local n=$1 tr=$2 bad
	sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p' "$tr" | sort -u >"$tr.used"
	bad=$(comm -23 "$tr.used" "$3" | tr '\n' ' ')
	[ "$(wc -l <"$tr.used")" -gt 30 ] && [ -z "$bad" ] &&
		pass "$n: every system call it made ($(wc -l <"$tr.used")) is in SystemCallFilter" ||
		fail "$n: every system call it made is in SystemCallFilter" "outside: $bad"
	bad=$(sed -nE 's/^[0-9]+ +socket\((AF_[A-Z0-9]+),.*/\1/p' "$tr" | sort -u | grep -vxF -f <(tr ' ' '\n' <<<"$4") | tr '\n' ' ')
	[ -z "$bad" ] && pass "$n: sockets only of $4" || fail "$n: sockets only of RestrictAddressFamilies" "$bad"
}

# hardened RUN [culvert wg options]: one run under setpriv and strace, every check of it
hardened() {
	local run=$1 tr=$T_DIR/trace-$1 d; shift
	bg "$A" "h-$run" setpriv --bounding-set=-all,"$caps" --no-new-privs \
		strace -f -qq -o "$tr" "$CULVERT" wg -f "$@" "$IA"
	local st=$BG_PID
	wait_for test -S "$SOCK/$IA.sock" || { fail "$run: the daemon starts under the bounding set"; return; }
	d=$(pgrep -P "$st" | head -1)
	nsx "$A" wg set "$IA" private-key "$T_DIR/ka" listen-port 51820 peer "$(cat "$T_DIR/pb")" \
		allowed-ips 198.19.44.2/32 endpoint 198.18.44.2:51820
	nsx "$A" ip addr add 198.19.44.1/24 dev "$IA"; nsx "$A" ip link set "$IA" up
	check "$run: ping through the tunnel under CapabilityBoundingSet and NoNewPrivileges" wait_ping "$A" 198.19.44.2 25
	nsx "$A" wg set "$IA" listen-port 51821
	nsx "$NB" wg set "$IB" peer "$(cat "$T_DIR/pa")" endpoint 198.18.44.1:51821
	check "$run: ... and after a rebind to another port" wait_ping "$A" 198.19.44.2 25
	check "$run: culvert show answers" bash -c "ip netns exec '$A' '$CULVERT' show '$IA' | grep -q 'listening port: 51821'"
	kill "$d"
	wait_for test ! -e "$SOCK/$IA.sock"; local gone=$?
	[ $gone = 0 ] || { pkill -9 -P "$d"; kill -9 "$d"; } 2>/dev/null	# bounded, also on failure
	reap "$st" 10
	check "$run: SIGTERM ends it and removes the control socket" test $gone = 0
	trace_ok "$run" "$tr" "$T_DIR/allowed" "$families"
	local bad
	bad=$(grep -oE '"/dev/[^"]*"' "$tr" | tr -d '"' | sort -u | grep -vxE '/dev/net/tun|/dev/(null|zero|full|random|urandom)' | tr '\n' ' ')
	[ -z "$bad" ] && pass "$run: devices only /dev/net/tun and the pseudo-devices" || fail "$run: devices only /dev/net/tun" "$bad"
	bad=$(grep -E '^[0-9]+ +(mkdir|mkdirat|unlink|unlinkat|rename|renameat2?|bind|chmod|fchmodat)\(|O_CREAT|O_WRONLY|O_RDWR' "$tr" |
		grep -oE '"/[^"]*"' | tr -d '"' | grep -vE '^(/var)?/run/wireguard(/|$)|^/dev/(null|net/tun)$' | sort -u | tr '\n' ' ')
	[ -z "$bad" ] && pass "$run: writes only under /run/wireguard" || fail "$run: writes only under /run/wireguard" "$bad"
	check_not "$run: no mapping both writable and executable" grep -qE 'PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE|PROT_READ\|PROT_WRITE\|PROT_EXEC' "$tr"
	nsx "$NB" wg set "$IB" peer "$(cat "$T_DIR/pa")" endpoint 198.18.44.1:51820
}
hardened root
hardened user --user nobody

# ---- culvert up under culvert-up@'s restrictions ------------------------------------------
unit=$U/culvert-up@.service
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
systemd-analyze syscall-filter 2>/dev/null | python3 "$TOP/tests/e2e/syscall_groups.py" \
	"$(sed -n 's/^SystemCallFilter=//p' "$unit")" >"$T_DIR/allowed-up"
IU=${T_PREFIX}u
T_CLEANUP+=("rm -f $SOCK/$IU.sock")
cat >"$T_DIR/$IU.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/ka")
ListenPort = 51830
Address = 198.19.44.1/24

[Peer]
PublicKey = $(cat "$T_DIR/pb")
AllowedIPs = 198.19.44.2/32
Endpoint = 198.18.44.2:51820
EOF
nsx "$NB" wg set "$IB" peer "$(cat "$T_DIR/pa")" endpoint 198.18.44.1:51830
# strace -f follows culvert up into the daemon it starts, and ends when that daemon does
nsx "$A" setpriv --bounding-set=-all,"$caps" --no-new-privs \
	strace -f -qq -o "$T_DIR/trace-up" "$CULVERT" up "$T_DIR/$IU.conf" >"$T_DIR/up.log" 2>&1 &
ST=$!; T_PIDS+=("$ST")
check "culvert up brings the interface up under the bounding set" wait_for test -S "$SOCK/$IU.sock"
check "culvert up: ping through the tunnel" wait_ping "$A" 198.19.44.2 25
check "culvert down takes it down" nsx "$A" "$CULVERT" down "$IU"
reap "$ST" 10
trace_ok "culvert up (and its daemon)" "$T_DIR/trace-up" "$T_DIR/allowed-up" "$(sed -n 's/^RestrictAddressFamilies=//p' "$unit")"

# ---- the ICMP transport under culvert-wg@ and its drop-in ---------------------------------
unit=$U/culvert-wg@.service
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
caps_icmp=$caps,$(sed -n 's/^CapabilityBoundingSet=//p' "$DROPIN" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
env_icmp=$(sed -n 's/^Environment=//p' "$DROPIN")
check "the drop-in sets the transport" test "$env_icmp" = CULVERT_WG_TRANSPORT=icmp
I4=${T_PREFIX}i
T_CLEANUP+=("rm -f $SOCK/$I4.sock")
bg "$NB" "$I4" "$CULVERT" wg -f --transport icmp "$I4"
wait_for test -S "$SOCK/$I4.sock"
nsx "$NB" wg set "$I4" private-key "$T_DIR/kb" peer "$(cat "$T_DIR/pa")" allowed-ips 198.19.45.1/32
ifconf "$NB" "$I4" 45 2
# without the drop-in: the unit's own set has no raw sockets, and the daemon says so
nsx "$A" timeout 10 setpriv --bounding-set=-all,"$caps" --no-new-privs \
	env "$env_icmp" "$CULVERT" wg -f "$IA" >"$T_DIR/icmp-bare.log" 2>&1; rc=$?
check "ICMP under the unit alone: refused, naming CAP_NET_RAW" \
	bash -c "test $rc = 1 && grep -q 'needs CAP_NET_RAW' '$T_DIR/icmp-bare.log'"
# with its capability but /proc/sys read-only (ProtectKernelTunables=yes): refused too
nsx "$A" timeout 10 unshare -m sh -c "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys &&
	exec setpriv --bounding-set=-all,'$caps_icmp' --no-new-privs env '$env_icmp' '$CULVERT' wg -f '$IA'" \
	>"$T_DIR/icmp-ro.log" 2>&1; rc=$?
check "ICMP with /proc/sys read-only: refused, naming the echo replies" \
	bash -c "test $rc = 1 && grep -q \"turn off the kernel's echo replies\" '$T_DIR/icmp-ro.log'"
# with the drop-in's capability and environment: a tunnel, under strace
bg "$A" icmp-hardened setpriv --bounding-set=-all,"$caps_icmp" --no-new-privs \
	env "$env_icmp" strace -f -qq -o "$T_DIR/trace-icmp" "$CULVERT" wg -f "$IA"
st=$BG_PID
if wait_for test -S "$SOCK/$IA.sock"; then
	pass "ICMP with the drop-in: the daemon starts"
	nsx "$A" wg set "$IA" private-key "$T_DIR/ka" peer "$(cat "$T_DIR/pb")" allowed-ips 198.19.45.2/32 \
		endpoint 198.18.44.2:1
	ifconf "$A" "$IA" 45 1
	check "ICMP with the drop-in: ping through the tunnel" wait_ping "$A" 198.19.45.2 25
	check "ICMP with the drop-in: the transport is ICMP" \
		bash -c "ip netns exec '$A' '$CULVERT' show '$IA' | grep -q 'transport icmp'"
	kill "$(pgrep -P "$st" | head -1)" 2>/dev/null
	wait_for test ! -e "$SOCK/$IA.sock"
else
	fail "ICMP with the drop-in: the daemon starts" "$(tail -3 "$T_DIR/icmp-hardened.log")"
fi
reap "$st" 10
trace_ok ICMP "$T_DIR/trace-icmp" "$T_DIR/allowed" "$families"
check "ICMP: raw sockets it had" grep -qE '^[0-9]+ +socket\(AF_INET, SOCK_RAW' "$T_DIR/trace-icmp"
t_done
