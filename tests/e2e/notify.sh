#!/bin/bash
# Readiness for systemd (Type=notify): culvert wg -f sends READY=1 with a STATUS= line once the
# device exists and the control socket accepts, WATCHDOG=1 at half of WATCHDOG_USEC (and none
# when WATCHDOG_PID names another process), STOPPING=1 on SIGTERM; with --user every message
# still comes from the root monitor, the PID systemd knows. The manager's socket is played by
# tests/e2e/notify_listen.py, which records each datagram's sender PID. Logs: with stderr the
# stream JOURNAL_STREAM names, every line carries its syslog priority; LOG_LEVEL as in
# wireguard-go.
source "$(dirname "$0")/lib.sh"

A=$(ns_new a) || { fail setup "cannot create a namespace"; t_done; }
IF=${T_PREFIX}n
T_CLEANUP+=("rm -f /var/run/wireguard/$IF.sock")
N=0

# listen: a new listener on $T_DIR/notifyN; sets SOCK and LOG
listen() {
	N=$((N + 1)); SOCK=$T_DIR/notify$N; LOG=$T_DIR/listen$N.log
	bg "$A" "listen$N" python3 "$TOP/tests/e2e/notify_listen.py" "$SOCK" --check "$IF"
	LOG=$T_DIR/listen$N.log
	wait_for grep -q listening "$LOG"
}
# got PATTERN: the listener has a line matching PATTERN (waits up to 10 s)
got() { wait_for grep -qE -- "$1" "$LOG"; }
# count PATTERN: lines matching now
count() { grep -cE -- "$1" "$LOG"; }

# ---- 1. root, with a watchdog ------------------------------------------------------------
listen
bg "$A" wg1 env NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=1000000 "$CULVERT" wg -f "$IF"
D=$BG_PID
check "READY=1 arrives" got 'READY=1'
check "READY=1 comes from the main PID" got "^pid=$D .*READY=1"
check "the device exists and the control socket accepts when READY=1 is sent" got 'READY=1.* ready_dev=yes ready_sock=yes$'
check "a STATUS= line names the interface, transport, port and workers" got "STATUS=$IF up, UDP port [0-9]+, [0-9]+ workers?"
sleep 3.2
n=$(count "^pid=$D .*WATCHDOG=1")
[ "$n" -ge 5 ] && pass "WATCHDOG=1 about every half interval ($n in ~3 s, interval 1 s)" ||
	fail "WATCHDOG=1 about every half interval" "$n in ~3 s"
gap=$(awk '/WATCHDOG=1/ { t = substr($2, 3); if (p != "" && t - p > m) m = t - p; p = t } END { printf "%.3f", m }' "$LOG")
awk -v g="$gap" 'BEGIN { exit !(g > 0 && g < 1.0) }' && pass "no gap between watchdog pings reaches the interval (longest ${gap} s)" ||
	fail "no gap between watchdog pings reaches the interval" "longest ${gap} s"
kill "$D"
check "STOPPING=1 on SIGTERM, from the main PID" got "^pid=$D .*STOPPING=1"
reap "$D" 5
check "the daemon is gone after STOPPING=1" dev_gone "$A" "$IF"

# ---- 2. the watchdog of another process is not ours ----------------------------------------
listen
bg "$A" wg2 env NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=200000 WATCHDOG_PID=1 "$CULVERT" wg -f "$IF"
D=$BG_PID
got 'READY=1'
sleep 1
check_not "no WATCHDOG=1 when WATCHDOG_PID is another process" grep -q WATCHDOG=1 "$LOG"
stop "$D"

# ---- 3. --user: the child's messages reach the manager from the root monitor ----------------
listen
bg "$A" wg3 env NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=1000000 "$CULVERT" wg -f --user nobody "$IF"
M=$BG_PID
check "with --user, READY=1 arrives from the root monitor (the main PID)" got "^pid=$M .*READY=1.* ready_dev=yes ready_sock=yes$"
CHILD=$(pgrep -P "$M" | head -1)
[ -n "$CHILD" ] && [ "$(awk '$1 == "Uid:" {print $2}' "/proc/$CHILD/status")" = "$(id -u nobody)" ] &&
	pass "the data path runs as nobody meanwhile" || fail "the data path runs as nobody meanwhile"
check "the child's watchdog pings are relayed by the monitor" got "^pid=$M .*WATCHDOG=1"
check_not "nothing reaches the manager from any other PID" grep -qvE "^(listening|pid=$M )" "$LOG"
kill "$M"
check "STOPPING=1 relayed on SIGTERM" got "^pid=$M .*STOPPING=1"
reap "$M" 5

# ---- 4. a NOTIFY_SOCKET no one listens on does not stop the daemon ----------------------------
bg "$A" wg4 env NOTIFY_SOCKET="$T_DIR/nobody-listens" "$CULVERT" wg -f "$IF"
D=$BG_PID
check "a dead NOTIFY_SOCKET is harmless" wait_for test -S "/var/run/wireguard/$IF.sock"
check "... and the daemon stays up" kill -0 "$D"
stop "$D"

# ---- 5. logs for the journal, LOG_LEVEL -----------------------------------------------------
# logrun NAME ENV...: a daemon whose stderr is $T_DIR/NAME.log, started, pinged at, stopped
logrun() {
	local n=$1; shift
	: >"$T_DIR/$n.log"
	bg "$A" "$n" env "$@" "$CULVERT" wg -f "$IF"
	local d=$BG_PID
	wait_for test -S "/var/run/wireguard/$IF.sock" || { stop "$d"; return 1; }
	nsx "$A" ip link set "$IF" up
	nsx "$A" ip addr add 198.19.45.1/24 dev "$IF"
	qping "$A" -c1 -W1 198.19.45.2	# no peer for it: a debug line
	stop "$d"
	wait_for dev_gone "$A" "$IF"
}
js=$(touch "$T_DIR/j.log" && stat -c '%d:%i' "$T_DIR/j.log")
check "a daemon with stderr the journal's stream starts" logrun j JOURNAL_STREAM="$js" LOG_LEVEL=verbose
L=$T_DIR/j.log
check "journal: the info lines start with <6>" grep -qE "^<6>culvert-wg $IF: interface $IF (\\(tun\\) )?up" "$L"
check "journal: LOG_LEVEL=verbose adds debug lines, with <7>" grep -q "^<7>culvert-wg $IF: no peer has an allowed IP" "$L"
check_not "journal: no line without a priority" grep -qvE '^<[3-7]>culvert-wg ' "$L"
check "a daemon with another stderr starts" logrun p JOURNAL_STREAM="$js"
check "stderr that is not the journal's stream: plain lines" grep -qE "^culvert-wg $IF: interface $IF (\\(tun\\) )?up" "$T_DIR/p.log"
check_not "... and no debug lines by default" grep -q 'no peer has an allowed IP' "$T_DIR/p.log"
check "a daemon with LOG_LEVEL=error starts" logrun e LOG_LEVEL=error
check_not "LOG_LEVEL=error: no info lines" grep -qE "interface $IF (\\(tun\\) )?up" "$T_DIR/e.log"
t_done
