#!/bin/bash
# culvert wg under its seccomp allow-list: the filter is in force on every thread of the
# daemon (and of the --user data-path child), `culvert show` says so, the tunnel, a rebind
# (listen-port, fwmark) and the control socket work under it, and --no-seccomp and
# CULVERT_WG_NO_SECCOMP=1 leave it off. (A refused call is test_sandbox's; the rest of the
# wg e2e suite runs with the filter on, its default.)
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
ns_link "$A" va "$NB" vb
nsx "$A" ip addr add 198.18.43.1/24 dev va
nsx "$NB" ip addr add 198.18.43.2/24 dev vb

wg_keys a b
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")
IA=${T_PREFIX}a IB=${T_PREFIX}b
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")

status_field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
# every_thread PID FIELD VALUE: all threads of PID have FIELD = VALUE
every_thread() {
	local t n=0
	for t in /proc/$1/task/*/status; do
		[ "$(awk -v f="$2:" '$1 == f {print $2}' "$t")" = "$3" ] || return 1
		n=$((n + 1))
	done
	[ $n -gt 0 ]
}
# start NS IF [ARGS]: culvert wg in the foreground; sets PID
start() {
	local ns=$1 ifc=$2; shift 2
	bg "$ns" "$ifc" "$CULVERT" wg -f -d "$@" "$ifc"
	PID=$BG_PID
	wait_for test -S "$SOCK/$ifc.sock"
}
# config NS IF KEY PEERKEY PEERIP LOCAL [ENDPOINT]
config() {
	nsx "$1" wg set "$2" private-key "$T_DIR/$3" listen-port 51820 \
		peer "$4" allowed-ips "$5/32" ${7:+endpoint "$7"} persistent-keepalive 1 &&
		nsx "$1" ip addr add "$6/24" dev "$2" && nsx "$1" ip link set "$2" up
}

# ---- 1. on by default ---------------------------------------------------------------------
start "$A" "$IA" --workers 2 && PA_PID=$PID || fail "culvert wg starts" "no control socket"
start "$NB" "$IB" && PB_PID=$PID || fail "peer starts" "no control socket"
config "$A" "$IA" ka "$PB" 198.19.43.2 198.19.43.1 198.18.43.2:51820
config "$NB" "$IB" kb "$PA" 198.19.43.1 198.19.43.2
check "ping through the tunnel with both daemons filtered" wait_ping "$A" 198.19.43.2
[ "$(status_field "$PA_PID" Seccomp)" = 2 ] && pass "/proc/PID/status: Seccomp 2 (filter)" ||
	fail "/proc/PID/status: Seccomp 2" "$(grep ^Seccomp "/proc/$PA_PID/status" 2>&1)"
every_thread "$PA_PID" Seccomp 2 && [ "$(ls /proc/$PA_PID/task | wc -l)" -ge 2 ] &&
	pass "every thread (both workers) is filtered" ||
	fail "every thread is filtered" "$(grep -H ^Seccomp /proc/$PA_PID/task/*/status 2>&1)"
out=$(nsx "$A" "$CULVERT" show "$IA" 2>&1)
echo "$out" | grep -q "^  seccomp: on$" && pass "culvert show: seccomp: on" || fail "culvert show: seccomp: on" "$out"
out=$(nsx "$A" "$CULVERT" show "$IA" --json 2>&1)
echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); i=d["interfaces"][0]; sys.exit(i["culvert"]["seccomp"] != "on")' &&
	pass "culvert show --json: \"seccomp\": \"on\"" || fail "culvert show --json: seccomp on" "$out"

# ---- 2. what the control socket makes the daemon do, under the filter ----------------------
check "wg set listen-port rebinds" nsx "$A" wg set "$IA" listen-port 51821
check "wg set fwmark reopens the sockets" nsx "$A" wg set "$IA" fwmark 0x43
nsx "$NB" wg set "$IB" peer "$PA" endpoint 198.18.43.1:51821
check "ping after the rebinds" wait_ping "$A" 198.19.43.2
check "wg show dumps" quiet nsx "$A" wg show "$IA" dump
check "an IPv6 scoped endpoint is parsed (if_nametoindex)" nsx "$A" wg set "$IA" peer "$PB" endpoint "[fe80::1%va]:51820"
kill -0 "$PA_PID" 2>/dev/null && [ "$(status_field "$PA_PID" Seccomp)" = 2 ] &&
	pass "the daemon is alive and still filtered" || fail "the daemon is alive" "$(cat "$T_DIR/$IA.log")"
grep -q "seccomp: system call" "$T_DIR/$IA.log" "$T_DIR/$IB.log" &&
	fail "no call was refused" "$(grep -h "seccomp: system call" "$T_DIR"/*.log)" || pass "no call was refused"
kill -TERM "$PA_PID"
reap "$PA_PID"; rc=$?
[ "$rc" = 0 ] && [ ! -e "$SOCK/$IA.sock" ] && ! nsx "$A" ip link show "$IA" >/dev/null 2>&1 &&
	pass "SIGTERM under the filter: exit 0, socket and device removed" ||
	fail "SIGTERM under the filter" "exit $rc; $(tail -3 "$T_DIR/$IA.log")"

# ---- 3. --user: the data-path child is filtered ---------------------------------------------
start "$A" "$IA" --user nobody && MON=$PID || fail "culvert wg --user nobody starts" "no control socket"
CHILD=$(pgrep -P "$MON" | head -1)
[ -n "$CHILD" ] && every_thread "$CHILD" Seccomp 2 && pass "--user: the data-path child is filtered" ||
	fail "--user: the data-path child is filtered" "$(grep -H ^Seccomp /proc/$CHILD/task/*/status 2>&1)"
config "$A" "$IA" ka "$PB" 198.19.43.2 198.19.43.1 198.18.43.2:51820
nsx "$NB" wg set "$IB" peer "$PA" endpoint 198.18.43.1:51820
check "--user: ping through the tunnel" wait_ping "$A" 198.19.43.2
nsx "$A" "$CULVERT" show "$IA" | grep -q "^  seccomp: on$" && pass "--user: culvert show: seccomp: on" ||
	fail "--user: culvert show: seccomp: on"
kill -TERM "$MON"
reap "$MON"; rc=$?
[ "$rc" = 0 ] && [ ! -e "$SOCK/$IA.sock" ] && pass "--user: SIGTERM ends both, socket removed" ||
	fail "--user: SIGTERM ends both" "exit $rc"

# ---- 4. off when asked ------------------------------------------------------------------------
start "$A" "$IA" --no-seccomp || fail "culvert wg --no-seccomp starts" "no control socket"
[ "$(status_field "$PID" Seccomp)" = 0 ] && pass "--no-seccomp: Seccomp 0" ||
	fail "--no-seccomp: Seccomp 0" "$(grep ^Seccomp "/proc/$PID/status")"
nsx "$A" "$CULVERT" show "$IA" | grep -q "^  seccomp: off$" && pass "--no-seccomp: culvert show: seccomp: off" ||
	fail "--no-seccomp: culvert show: seccomp: off" "$(nsx "$A" "$CULVERT" show "$IA" 2>&1)"
kill -TERM "$PID"; reap "$PID" >/dev/null
wait_for sh -c "! test -e $SOCK/$IA.sock"
CULVERT_WG_NO_SECCOMP=1 start "$A" "$IA" || fail "culvert wg with CULVERT_WG_NO_SECCOMP=1 starts" "no control socket"
[ "$(status_field "$PID" Seccomp)" = 0 ] && pass "CULVERT_WG_NO_SECCOMP=1: Seccomp 0" ||
	fail "CULVERT_WG_NO_SECCOMP=1: Seccomp 0" "$(grep ^Seccomp "/proc/$PID/status")"
kill -TERM "$PID"; reap "$PID" >/dev/null
t_done
