# Shared helpers for end-to-end tests. Source it first: it sets a trap that removes every
# namespace and process the test made, even on failure.
# Namespaces are named "cv<pid>-NAME" so tests may run side by side. Addresses: underlay
# 198.18.0.0/16, tunnel 198.19.0.0/16, IPv6 2001:db8::/32, only inside these namespaces.
set -u
# A script that sets T_PRIVATE_TUN=1 before sourcing this file runs in its own mount namespace
# with its own /dev/net/tun of mode 0666 (a tmpfs over /dev/net), so unprivileged attach tests
# pass whatever the machine's node mode is (0600 on many minimal systems) and never change it;
# the namespace, and so the node, end with the script. t_tun_mode MODE changes that private node.
if [ -n "${T_PRIVATE_TUN:-}" ] && [ -z "${T_IN_PRIVATE_TUN:-}" ]; then
	export T_IN_PRIVATE_TUN=1
	exec unshare --mount --propagation private -- bash -c \
		'mount -t tmpfs -o mode=0755,size=64k,nosuid,noexec culvert-e2e /dev/net &&
		 mknod -m 0666 /dev/net/tun c 10 200 && exec bash "$0" "$@"' "$0" "$@"
fi
t_tun_mode() { [ -n "${T_IN_PRIVATE_TUN:-}" ] && chmod "$1" /dev/net/tun; }
TOP=${CULVERT_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
B=${B:-$TOP/build}; case $B in /*) ;; *) B=$TOP/$B ;; esac
CULVERT=${CULVERT:-$B/culvert}
PEERS=$B/peers
T_PREFIX="cv$$"
T_DIR=$(mktemp -d /tmp/culvert-e2e.XXXXXX)
T_NS=() T_PIDS=() T_FAILS=0 T_PASSES=0 T_CLEANUP=()

t_cleanup() {
	local p c
	for c in "${T_CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1; done
	for p in "${T_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${T_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	# ns_new runs in $(...) subshells, so T_NS may miss names: take every namespace of this run.
	for n in "${T_NS[@]}" $(ip netns list 2>/dev/null | awk -v p="$T_PREFIX-" 'index($1, p) == 1 {print $1}'); do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$T_DIR"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

pass() { echo "PASS: $1"; T_PASSES=$((T_PASSES + 1)); }
fail() { echo "FAIL: $1${2:+ — $2}"; T_FAILS=$((T_FAILS + 1)); }
# check NAME CMD...: PASS if CMD exits 0
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n" "command failed: $*"; fi; }
# check_not NAME CMD...: PASS if CMD exits non-zero
check_not() { local n=$1; shift; if "$@"; then fail "$n" "command unexpectedly succeeded: $*"; else pass "$n"; fi; }
# quiet CMD...: CMD with its output thrown away
quiet() { "$@" >/dev/null 2>&1; }
# ge A B: A >= B, as numbers with decimals
ge() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"; }
# ms: milliseconds on the clock; secs MS: MS as seconds with two decimals
ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { printf '%d.%02d' $(($1 / 1000)) $(($1 % 1000 / 10)); }
# loss NS ADDR COUNT: ping COUNT times at 10 ms; prints the loss in percent
loss() {
	nsx "$1" ping -q -c "$3" -i 0.01 -W 1 "$2" 2>/dev/null | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p'
}
# A daemon under its seccomp filter that made a call off the allow-list wrote a line and died:
# whatever the script checked, that is a failure (the line names the call).
t_done() {
	local hit
	hit=$(grep -h "seccomp: system call" "$T_DIR"/*.log 2>/dev/null | head -3)
	[ -z "$hit" ] || fail "no system call was refused by the seccomp filter" "$hit"
	[ "$T_FAILS" -eq 0 ]; exit $?
}

# ns_new NAME: make namespace, lo up, print its full name
ns_new() { local n="$T_PREFIX-$1"; ip netns add "$n" || return 1; T_NS+=("$n"); ip -n "$n" link set lo up; echo "$n"; }
# ns_link NS1 DEV1 NS2 DEV2: a veth pair between two namespaces, both ends up
ns_link() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || return 1
	ip -n "$1" link set "$2" up; ip -n "$3" link set "$4" up
}
# nsx NS CMD...: run in namespace
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }
# echo_only_router NS: NS forwards IPv4 and IPv6 but only ICMP echo requests and replies, all
# TCP and UDP dropped: the ICMP transport's middle box (table inet mid, chain echo_only, whose
# counters the tests read).
echo_only_router() {
	nsx "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 &&
		nsx "$1" nft -f - <<'NFT'
table inet mid {
	chain echo_only {
		type filter hook forward priority 0; policy drop;
		meta l4proto { tcp, udp } counter drop
		icmp type { echo-request, echo-reply } counter accept
		icmpv6 type { echo-request, echo-reply } counter accept
	}
}
NFT
}
# ns_pair: namespaces $A and $B_ joined by veth va/vb, underlay 198.18.0.1 and .2/24
ns_pair() {
	A=$(ns_new a) && B_=$(ns_new b) || return 1
	T_NS+=("$A" "$B_")   # ns_new ran in a subshell: register for clean-up here
	ns_link "$A" va "$B_" vb &&
		nsx "$A" ip addr add 198.18.0.1/24 dev va && nsx "$B_" ip addr add 198.18.0.2/24 dev vb
}
# ifconf NS DEV N HOST: DEV up with 198.19.N.HOST/24 and 2001:db8:19:N::HOST/64
ifconf() {
	nsx "$1" ip link set "$2" up &&
	nsx "$1" ip addr add "198.19.$3.$4/24" dev "$2" &&
	nsx "$1" ip addr add "2001:db8:19:$3::$4/64" dev "$2" nodad
}
# wg_keys NAME...: a key pair per NAME, private in $T_DIR/kNAME, public in $T_DIR/pNAME
wg_keys() { local k; for k; do wg genkey >"$T_DIR/k$k" && wg pubkey <"$T_DIR/k$k" >"$T_DIR/p$k" || return 1; done; }
dev_exists() { nsx "$1" ip link show "$2" >/dev/null 2>&1; }
dev_gone() { ! dev_exists "$@"; }
# stop PID: SIGTERM and wait; its exit status
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
# qping NS PING-ARGS...: ping quietly, status only
qping() { nsx "$1" ping -q "${@:2}" >/dev/null 2>&1; }
# bg NS LOGNAME CMD...: start in background inside NS, output to $T_DIR/LOGNAME.log; sets BG_PID
bg() { local n=$1 l=$2; shift 2; ip netns exec "$n" "$@" >>"$T_DIR/$l.log" 2>&1 & BG_PID=$!; T_PIDS+=("$BG_PID"); }
# wait_ping NS ADDR [TRIES]: until one ping answers (IPv6 if ADDR has ':')
wait_ping() { local i; for i in $(seq "${3:-50}"); do nsx "$1" ping -c1 -W1 "$2" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
# wait_for CMD...: poll up to 10 s
wait_for() { local i; for i in $(seq 50); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
# wait_listen NS PORT [tcp|udp]: until something in NS listens on PORT (10 s at most)
wait_listen() {
	local f=-Hltn; [ "${3:-tcp}" = udp ] && f=-Hlun
	wait_for sh -c "ip netns exec '$1' ss $f 'sport = :$2' | grep -q ."
}
# reap PID [SECS]: wait up to SECS (default 10) for PID to end, then end it; its exit status.
# Every wait on a background helper goes through here, so a peer that never connects costs
# seconds, not the whole script's time budget.
reap() {
	local i
	for ((i = 0; i < ${2:-10} * 10; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	# `nsx ... &` is a subshell whose child is the command: end the child too
	pkill -P "$1" 2>/dev/null; kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
# tshark_ip PCAP ARGS...: tshark -r that dissects nothing above TCP/UDP. The payloads are random
# bytes, and heuristic dissectors chewing on them made one run take minutes instead of a second.
tshark_ip() {
	local f=$1 t0; shift
	t0=$(ms)
	timeout 60 tshark -n -r "$f" --disable-protocol ALL --enable-protocol frame,raw,eth,ip,ipv6,tcp,udp \
		-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE "$@" 2>/dev/null
	slow_note "tshark -r $(basename "$f")" "$t0"
}
# capture_start NS DEV PCAP [FILTER...] / capture_stop: tcpdump writes each packet on DEV to
# PCAP as it comes (-U), so stopping it loses nothing. (tshark's live capture, used here before,
# sometimes took up to its whole 120 s timeout to stop in full runs.)
capture_start() {
	local l; l=capture-$(basename "$3")
	bg "$1" "$l" tcpdump -i "$2" -s 0 -U -w "$3" "${@:4}"; CAPTURE_PID=$BG_PID
	wait_for grep -q "listening on $2" "$T_DIR/$l.log"
}
capture_stop() {
	local t0; t0=$(ms)
	sleep 0.3; stop "$CAPTURE_PID"
	slow_note "stopping tcpdump" "$t0"
}
# slow_note WHAT T0_MS: a "SLOW:" line (tests/run.sh shows it) when WHAT took over 10 s, so
# that a step that sometimes stalls names itself in a full run's output
slow_note() {
	local d=$(($(ms) - $2))
	[ $d -le 10000 ] || echo "SLOW: $1 took $(secs $d) s" >&2
}
# xfer FROM_NS TO_NS ADDR FILE: FILE over TCP port 5001 to ADDR (IPv6 in brackets) in TO_NS;
# prints the sha256 of what arrived, non-zero when the transfer failed
xfer() {
	local v=4; [[ $3 == \[* ]] && v=6
	rm -f "$T_DIR/recv"
	nsx "$2" timeout 60 socat -u "TCP$v-LISTEN:5001,bind=$3,reuseaddr" "OPEN:$T_DIR/recv,creat,trunc" &
	local sp=$!; T_PIDS+=("$sp")
	wait_listen "$2" 5001
	nsx "$1" timeout 30 socat -u "OPEN:$4" "TCP$v:$3:5001" || { reap "$sp" 0; return 1; }
	reap "$sp" 10 || return 1
	sha256sum <"$T_DIR/recv" | cut -d' ' -f1
}
# iperf NS_SERVER NS_CLIENT ADDR [SECS] [extra client args]: prints Gbit/s received, non-zero on failure
iperf() {
	local s=$1 c=$2 a=$3 t=${4:-2}; shift 4 2>/dev/null || shift $#
	nsx "$s" timeout $((t + 30)) iperf3 -s -1 -B "$a" >"$T_DIR/iperf-s.log" 2>&1 & local sp=$!
	T_PIDS+=("$sp")
	wait_listen "$s" 5201
	nsx "$c" timeout $((t + 30)) iperf3 -c "$a" -t "$t" -J "$@" >"$T_DIR/iperf.json" 2>"$T_DIR/iperf-c.err" ||
		{ reap "$sp" 0; return 1; }
	reap "$sp" 5
	python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; s=e.get("sum_received") or e["sum"]; print("%.3f" % (s["bits_per_second"]/1e9))' "$T_DIR/iperf.json"
}

# ---- handshake floods (wg_flood.sh, wg_tcp_flood.sh, wg_icmp_flood.sh) ----
# flood_nets N: namespaces a (the real peer), b (the responder) and f (the attacker, on an
# underlay of its own), sets A NB F; a and b on 198.18.N.0/24 (.1, .2), f and b on
# 198.18.N+1.0/24 (.3, .2). Also makes sure the flooder is built (FLOODER).
flood_nets() {
	FLOODER=$PEERS/wg_flood
	[ -x "$FLOODER" ] || make -s -C "$TOP" B="$B" "$FLOODER" >/dev/null 2>&1 ||
		{ fail setup "no $FLOODER (make tests builds it)"; t_done; }
	A=$(ns_new a) && NB=$(ns_new b) && F=$(ns_new f) || { fail setup "cannot create namespaces"; t_done; }
	T_NS+=("$A" "$NB" "$F")
	ns_link "$A" va "$NB" vb && ns_link "$F" fl "$NB" bfl || { fail setup "cannot link namespaces"; t_done; }
	nsx "$A" ip addr add "198.18.$1.1/24" dev va
	nsx "$NB" ip addr add "198.18.$1.2/24" dev vb
	nsx "$F" ip addr add "198.18.$(($1 + 1)).3/24" dev fl
	nsx "$NB" ip addr add "198.18.$(($1 + 1)).2/24" dev bfl
}
# restart_a: the script's start_a again after a goes down (socket and device gone, so it makes
# a new device); PID_A and IA are the script's
restart_a() {
	stop "$PID_A"; wait_for test ! -S "/var/run/wireguard/$IA.sock"; wait_for dev_gone "$A" "$IA"
	start_a || fail "a restarts"
}
# drop NAME: b's (IB's) drop counter NAME from culvert show --json, empty when there is none;
# drops: its nonzero counters on one line
dropjson() {
	"$CULVERT" show "$IB" --json 2>/dev/null | python3 -c 'import json,sys
d = json.load(sys.stdin)["interfaces"][0]["drops"]
if len(sys.argv) > 1: print(d.get(sys.argv[1], ""))
else: print(" ".join("%s=%s" % kv for kv in d.items() if kv[1]) or "none")' "$@"
}
drop() { dropjson "$1"; }
drops() { dropjson; }
# handshake_time ADDR: seconds until a ping from a to ADDR answers (a was just restarted);
# fails after HS_MAX (11 s: two attempts are REKEY_TIMEOUT apart, plus jitter and round trips)
handshake_time() {
	local t0; t0=$(ms)
	while [ $(($(ms) - t0)) -lt $((${HS_MAX:-11} * 1000)) ]; do
		quiet nsx "$A" ping -c1 -W0.2 "$1" && { secs $(($(ms) - t0)); return 0; }
	done
	return 1
}
# flood_during ADDR MAX_LOSS SECS: while the flooder (FLOOD, logging to flood.log, SECS long)
# runs, ping loss from a to ADDR at most MAX_LOSS %, and a restarted a (restart_a) gets its
# handshake within HS_FLOOD_MAX (11 s); then the flooder is reaped and its totals read into
# FLOOD_RATE (valid initiations a second), FLOOD_SENT and FLOOD_TOTAL (its last line)
flood_during() {
	local l t
	l=$(loss "$A" "$1" 200)
	[ -n "$l" ] && ge "$2" "$l" && pass "ping loss during the flood ${l}% (<= $2%)" ||
		fail "ping loss during the flood <= $2%" "${l:-no answer}%"
	restart_a
	if t=$(HS_MAX=${HS_FLOOD_MAX:-11} handshake_time "$1") && kill -0 "$FLOOD" 2>/dev/null; then
		pass "restarted peer's handshake during the flood (${t} s)"
	else
		fail "restarted peer's handshake during the flood" "no answer within ${HS_FLOOD_MAX:-11} s (flooder $(kill -0 "$FLOOD" 2>/dev/null && echo running || echo done))"
	fi
	reap "$FLOOD" $(($3 + 5))
	FLOOD_TOTAL=$(grep '^total:' "$T_DIR/flood.log")
	echo "flooder $FLOOD_TOTAL"
	FLOOD_RATE=$(sed -n 's/^total: \([0-9]*\) sent.*/\1/p' <<<"$FLOOD_TOTAL")
	FLOOD_SENT=$(sed -n 's/^total: [0-9]* sent\/s (\([0-9]*\) sent.*/\1/p' <<<"$FLOOD_TOTAL")
}
# flood_after ADDR MIN_RATE WHAT: the flood was real (FLOOD_RATE >= MIN_RATE), b still serves
# and a's pings to ADDR go through, b answered with cookies and its rate limiter counted
flood_after() {
	local c r
	[ "${FLOOD_RATE:-0}" -ge "$2" ] && pass "the flood was real (${FLOOD_RATE}/s valid initiations over $3)" ||
		fail "the flood was real (>= $2/s)" "${FLOOD_RATE:-0}/s"
	check "b still serves" kill -0 "$PID_B"
	check "pings after the flood" wait_ping "$A" "$1" 25
	c=$(drop cookie_sent) r=$(drop ratelimited)
	echo "b after the flood: cookie_sent=$c ratelimited=$r"
	[ "${c:-0}" -gt 0 ] && pass "b answered the flood with cookies ($c)" || fail "b answered the flood with cookies" "cookie_sent=${c:-none}"
	[ "${r:-0}" -gt 0 ] && pass "per-source rate limiter counted ($r)" || fail "per-source rate limiter counted" "ratelimited=${r:-none}"
}
