#!/bin/bash
# --user. culvert wg: the data path runs as an unprivileged user with CAP_NET_ADMIN and
# CAP_NET_BIND_SERVICE only, the tunnel works, wg can still change the port (below 1024 too)
# and the fwmark, and the root monitor removes the control socket however the child ends.
# culvert simpletun: both ends run with no capabilities at all, over TCP (with a reconnect)
# and UDP.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
ns_link "$A" va "$NB" vb
nsx "$A" ip addr add 198.18.41.1/24 dev va
nsx "$NB" ip addr add 198.18.41.2/24 dev vb

wg_keys a b
PA=$(cat "$T_DIR/pa") PB=$(cat "$T_DIR/pb")
IA=${T_PREFIX}a IB=${T_PREFIX}b
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")
NOBODY=$(id -u nobody) NOGROUP=$(id -g nobody)

# status_field PID FIELD: the first value of a /proc/PID/status line
status_field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
# child_of PID: the data-path process the monitor forked
child_of() { pgrep -P "$1" | head -1; }
# up_a [ARGS]: culvert wg --user nobody on side a, configured; sets MON and CHILD
up_a() {
	bg "$A" "$IA" "$CULVERT" wg -f -d --user nobody "$@" "$IA"
	MON=$BG_PID
	wait_for test -S "$SOCK/$IA.sock" || return 1
	CHILD=$(child_of "$MON")
	[ -n "$CHILD" ] || return 1
	nsx "$A" wg set "$IA" private-key "$T_DIR/ka" listen-port 51820 \
		peer "$PB" allowed-ips 198.19.41.2/32 endpoint 198.18.41.2:51820 &&
		nsx "$A" ip addr add 198.19.41.1/24 dev "$IA" && nsx "$A" ip link set "$IA" up
}

bg "$NB" "$IB" "$CULVERT" wg -f "$IB"
wait_for test -S "$SOCK/$IB.sock" || fail "root peer starts" "no control socket"
nsx "$NB" wg set "$IB" private-key "$T_DIR/kb" listen-port 51820 peer "$PA" allowed-ips 198.19.41.1/32
nsx "$NB" ip addr add 198.19.41.2/24 dev "$IB"; nsx "$NB" ip link set "$IB" up

# ---- 1. who the data path runs as -------------------------------------------------------
check "culvert wg --user nobody starts and takes wg set" up_a
[ "$(status_field "$CHILD" Uid)" = "$NOBODY" ] && grep -q "^Uid:[[:space:]]*$NOBODY[[:space:]]*$NOBODY[[:space:]]*$NOBODY[[:space:]]*$NOBODY\$" "/proc/$CHILD/status" &&
	pass "the data path runs as nobody (real, effective, saved uid)" ||
	fail "the data path runs as nobody" "$(grep ^Uid "/proc/$CHILD/status" 2>&1)"
[ "$(status_field "$CHILD" Gid)" = "$NOGROUP" ] && [ "$(status_field "$CHILD" Groups)" = "$NOGROUP" ] &&
	pass "its group is nobody's primary group, no other groups" ||
	fail "its group is nobody's primary group" "$(grep -E '^(Gid|Groups)' "/proc/$CHILD/status" 2>&1)"
for f in CapEff CapPrm CapBnd; do
	v=$(status_field "$CHILD" "$f")
	[ "$v" = 0000000000001400 ] && pass "$f is net_admin + net_bind_service only" ||
		fail "$f is net_admin + net_bind_service only" "got $v"
done
[ "$(status_field "$CHILD" CapInh)" = 0000000000000000 ] && [ "$(status_field "$CHILD" CapAmb)" = 0000000000000000 ] &&
	pass "nothing inheritable or ambient" || fail "nothing inheritable or ambient"
[ "$(status_field "$CHILD" NoNewPrivs)" = 1 ] && pass "no_new_privs is set" || fail "no_new_privs is set"
# every thread, not only the first: capabilities are per thread
bad=0
for t in /proc/"$CHILD"/task/*; do
	[ "$(awk '$1 == "CapEff:" {print $2}' "$t/status")" = 0000000000001400 ] || bad=1
done
[ "$bad" = 0 ] && [ "$(ls /proc/"$CHILD"/task | wc -l)" -ge 2 ] &&
	pass "every worker thread has the same two capabilities" || fail "every worker thread has the same two capabilities"
[ "$(status_field "$MON" Uid)" = 0 ] && pass "the monitor stays root" || fail "the monitor stays root"
[ "$(ls /proc/"$MON"/fd | wc -l)" -le 3 ] && pass "the monitor holds no descriptor but stdio" ||
	fail "the monitor holds no descriptor but stdio" "$(ls -l /proc/"$MON"/fd 2>&1)"

# ---- 2. the tunnel works, and what wg may still change -----------------------------------
check "ping through the tunnel a->b" wait_ping "$A" 198.19.41.2 25
check "ping through the tunnel b->a" qping "$NB" -c2 -i0.2 -W1 198.19.41.1
gbps=$(iperf "$NB" "$A" 198.19.41.2 1) && pass "iperf3 through the unprivileged side ($gbps Gbit/s)" ||
	fail "iperf3 through the unprivileged side"
check "wg set listen-port 999 (below 1024) as nobody" nsx "$A" wg set "$IA" listen-port 999
[ "$(nsx "$A" wg show "$IA" listen-port)" = 999 ] && pass "wg show says port 999" || fail "wg show says port 999"
wait_listen "$A" 999 udp && nsx "$A" ss -Hulpn 'sport = :999' | grep -q "pid=$CHILD," &&
	pass "the unprivileged process holds UDP port 999" || fail "the unprivileged process holds UDP port 999"
nsx "$NB" wg set "$IB" peer "$PA" endpoint 198.18.41.1:999
check "ping after the port change" wait_ping "$NB" 198.19.41.1 25
check "wg set fwmark (needs CAP_NET_ADMIN) as nobody" nsx "$A" wg set "$IA" fwmark 0x51
[ "$(nsx "$A" wg show "$IA" fwmark)" = 0x51 ] && pass "wg show says fwmark 0x51" || fail "wg show says fwmark 0x51"
check "ping with the fwmark set" qping "$A" -c2 -i0.2 -W1 198.19.41.2
out=$(nsx "$A" "$CULVERT" show "$IA" 2>&1)
echo "$out" | grep -q "user: uid $NOBODY gid $NOGROUP, capabilities: net_bind_service net_admin" &&
	pass "culvert show names the user and the capabilities" || fail "culvert show names the user" "$out"
out=$(nsx "$NB" "$CULVERT" show "$IB" 2>&1)
echo "$out" | grep -q "user: root" && pass "culvert show says root for a daemon run without --user" ||
	fail "culvert show says root without --user" "$out"

# ---- 3. however the child ends, the monitor cleans up -------------------------------------
kill -9 "$CHILD"
reap "$MON" 10
rc=$?
[ ! -e "$SOCK/$IA.sock" ] && pass "after kill -9 of the data path the monitor removed the socket" ||
	fail "after kill -9 the socket is removed"
wait_for dev_gone "$A" "$IA" && pass "after kill -9 the device is gone" || fail "after kill -9 the device is gone"
[ "$rc" = 137 ] && pass "the monitor exits 128+9 for a child killed by SIGKILL" || fail "monitor exit status after SIGKILL" "got $rc"

check "culvert wg --user nobody --group $NOGROUP starts again" up_a --group "$NOGROUP"
check "and passes traffic" wait_ping "$A" 198.19.41.2 25
kill -TERM "$MON"
reap "$MON" 10
rc=$?
[ "$rc" = 0 ] && pass "SIGTERM to the monitor: clean exit 0" || fail "SIGTERM to the monitor: clean exit" "got $rc"
pgrep -f "wg -f -d --user nobody --group $NOGROUP $IA" >/dev/null && fail "no process is left" || pass "no process is left"
[ ! -e "$SOCK/$IA.sock" ] && pass "after SIGTERM the socket is removed" || fail "after SIGTERM the socket is removed"
wait_for dev_gone "$A" "$IA" && pass "after SIGTERM the device is gone" || fail "after SIGTERM the device is gone"
grep -q "running as uid $NOBODY gid $NOGROUP with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only" "$T_DIR/$IA.log" &&
	pass "the log says what it runs as" || fail "the log says what it runs as"

# ---- 4. CULVERT_WG_USER, the way in through wg-quick ----------------------------------------
bg "$A" "$IA" env CULVERT_WG_USER=nobody "$CULVERT" wg -f "$IA"
MON=$BG_PID
if wait_for test -S "$SOCK/$IA.sock" && CHILD=$(child_of "$MON") && [ -n "$CHILD" ]; then
	[ "$(status_field "$CHILD" Uid)" = "$NOBODY" ] && [ "$(status_field "$CHILD" CapEff)" = 0000000000001400 ] &&
		pass "CULVERT_WG_USER=nobody drops like --user" || fail "CULVERT_WG_USER=nobody drops like --user"
	# a rebind on the same port (what wg-quick's fwmark does) joins the sockets opened at
	# start-up with SO_REUSEPORT, which needs them to belong to the same user
	check "wg set fwmark right after start (same-port rebind, $(nproc) workers)" nsx "$A" wg set "$IA" fwmark 0x52
	[ "$(nsx "$A" wg show "$IA" fwmark)" = 0x52 ] && pass "wg show says fwmark 0x52" || fail "wg show says fwmark 0x52"
else
	fail "CULVERT_WG_USER=nobody starts" "no socket or no child"
fi
kill -TERM "$MON"; reap "$MON" 10
[ ! -e "$SOCK/$IA.sock" ] && pass "and cleans up on SIGTERM" || fail "CULVERT_WG_USER run cleans up on SIGTERM"

# ---- 5. culvert simpletun --user --------------------------------------------------------
# st_up NS DEV ADDR ARGS...: simpletun as nobody on a device it creates, with ADDR on it
st_up() {
	local n=$1 d=$2 a=$3; shift 3
	bg "$n" "st-$d" "$CULVERT" simpletun -i "$d" --user nobody "$@"
	ST_PID=$BG_PID
	wait_for dev_exists "$n" "$d" && nsx "$n" ip addr add "$a/24" dev "$d" && nsx "$n" ip link set "$d" up
}
st_caps_ok() { # PID
	[ "$(status_field "$1" Uid)" = "$NOBODY" ] && [ "$(status_field "$1" CapEff)" = 0000000000000000 ] &&
		[ "$(status_field "$1" CapPrm)" = 0000000000000000 ] && [ "$(status_field "$1" NoNewPrivs)" = 1 ]
}
for mode in tcp udp; do
	flag=; port=55555; [ $mode = udp ] && flag=--udp port=55556
	check "simpletun $mode server --user nobody starts" st_up "$NB" stb 198.19.42.2 -s -p $port $flag
	SRV=$ST_PID
	check "simpletun $mode client --user nobody starts" st_up "$A" sta 198.19.42.1 -c 198.18.41.2 -p $port $flag
	CLI=$ST_PID
	check "simpletun $mode: ping through it" wait_ping "$A" 198.19.42.2 50
	check "simpletun $mode server: uid nobody, no capabilities, no_new_privs" st_caps_ok "$SRV"
	check "simpletun $mode client: uid nobody, no capabilities, no_new_privs" st_caps_ok "$CLI"
	if [ $mode = tcp ]; then
		kill "$SRV"; reap "$SRV" 5
		check "simpletun tcp server restarts as nobody" st_up "$NB" stb 198.19.42.2 -s -p $port
		SRV=$ST_PID
		check "the unprivileged client reconnected and traffic flows" wait_ping "$A" 198.19.42.2 100
	fi
	grep -q "running as uid $NOBODY gid $NOGROUP with no capabilities" "$T_DIR/st-sta.log" &&
		pass "simpletun $mode logs what it runs as" || fail "simpletun $mode logs what it runs as"
	kill "$SRV" "$CLI"; reap "$SRV" 5; reap "$CLI" 5
	wait_for dev_gone "$A" sta && wait_for dev_gone "$NB" stb && pass "simpletun $mode: the devices it made are gone" ||
		fail "simpletun $mode: the devices it made are gone"
	: >"$T_DIR/st-sta.log"
done
out=$(nsx "$A" "$CULVERT" simpletun -i x0 -s --group "$NOGROUP" 2>&1); rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q -- "--group needs --user" &&
	pass "simpletun --group without --user is refused with exit 2" || fail "simpletun --group without --user" "rc=$rc: $out"

# ---- 6. refused up front -------------------------------------------------------------------
out=$(nsx "$A" "$CULVERT" wg -f --user no-such-user-here x0 2>&1); rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "no user 'no-such-user-here'" &&
	pass "an unknown user is refused with exit 2, naming it" || fail "unknown user refused" "rc=$rc: $out"
out=$(nsx "$A" "$CULVERT" wg -f --group "$NOGROUP" x0 2>&1); rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q -- "--group needs --user" &&
	pass "--group without --user is refused with exit 2" || fail "--group without --user refused" "rc=$rc: $out"
for u in root 0; do
	out=$(nsx "$A" "$CULVERT" wg -f --user "$u" x0 2>&1); rc=$?
	[ "$rc" = 2 ] && echo "$out" | grep -q "is uid 0" && [ "$(echo "$out" | wc -l)" = 1 ] &&
		pass "culvert wg --user $u is refused with exit 2 in one sentence" || fail "culvert wg --user $u refused" "rc=$rc: $out"
done
out=$(nsx "$A" env CULVERT_WG_USER=root "$CULVERT" wg -f x0 2>&1); rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "is uid 0" && pass "CULVERT_WG_USER=root is refused with exit 2" ||
	fail "CULVERT_WG_USER=root refused" "rc=$rc: $out"
out=$(nsx "$A" "$CULVERT" simpletun -i x0 -s --user root 2>&1); rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "is uid 0" && pass "simpletun --user root is refused with exit 2" ||
	fail "simpletun --user root refused" "rc=$rc: $out"
dev_gone "$A" x0 && [ ! -e "$SOCK/x0.sock" ] && pass "a refused start leaves no device or socket" ||
	fail "a refused start leaves no device or socket"
"$CULVERT" wg --help | grep -q "adduser --system" && "$CULVERT" simpletun --help | grep -q "adduser" &&
	pass "--help recommends an account of its own" || fail "--help recommends an account of its own"

# ---- 7. a warning when the user already runs processes -----------------------------------
# a throwaway system account, removed however the script ends
U=cv$$u
if useradd --system --no-create-home --user-group --shell /usr/sbin/nologin "$U"; then
	T_CLEANUP+=("userdel $U")
	# warned_start [ARGS]: culvert wg --user U started and stopped; its stderr in $T_DIR/$IA.log
	warned_start() {
		: >"$T_DIR/$IA.log"
		bg "$A" "$IA" "$CULVERT" wg -f --user "$U" "$IA"
		local mon=$BG_PID
		wait_for test -S "$SOCK/$IA.sock"; local up=$?
		kill "$mon"; reap "$mon" 5
		return $up
	}
	check "culvert wg --user $U (a dedicated account) starts" warned_start
	grep -q "warning" "$T_DIR/$IA.log" && fail "no warning while the account runs nothing else" "$(cat "$T_DIR/$IA.log")" ||
		pass "no warning while the account runs nothing else"
	setpriv --reuid="$U" --regid="$U" --clear-groups sleep 30 &
	SLEEPER=$!; T_PIDS+=("$SLEEPER")
	wait_for sh -c "[ \"\$(awk '\$1 == \"Uid:\" {print \$2}' /proc/$SLEEPER/status)\" = $(id -u "$U") ]"
	check "culvert wg --user $U starts while another process of $U runs" warned_start
	w=$(grep -c "warning" "$T_DIR/$IA.log")
	[ "$w" = 1 ] && grep -q "warning: user '$U' (uid $(id -u "$U")) already runs 1 other process (pid $SLEEPER)" "$T_DIR/$IA.log" &&
		pass "one warning line names the other process" || fail "one warning line names the other process" "$(cat "$T_DIR/$IA.log")"
	kill "$SLEEPER"; wait "$SLEEPER" 2>/dev/null
	userdel "$U" && pass "the throwaway account is removed" || fail "the throwaway account is removed"
else
	fail "useradd --system $U"
fi

t_done
