#!/bin/bash
# The control socket, driven with stock `wg` and raw clients:
# - keys as the kernel module's selftest (netns.sh) checks them: private and preshared keys set
#   and cleared, our own public key never a peer, and the private key stored clamped, so
#   `wg show private-key` prints +EUw... for /EUw... and `wg showconf` round-trips;
# - two clients at once (issue 9, point 4): A sends "set=1", "public_key=P" and pauses, B
#   removes P (remove, wg setconf's replace_peers, a private key whose public half is P), A
#   goes on; A's request applies whole after B's, and no freed peer is left in the tables;
# - the request limits: over 8 MiB, errno=-90 and closed; over 65536 peers, errno=-7 and
#   nothing applied;
# - /var/run/wireguard, in a private mount namespace (tmpfs over /run): made 0755 when
#   missing, refused when writable by others or owned by another user.
source "$(dirname "$0")/lib.sh"
umask 077

NS=$(ns_new uapi) || { fail setup "cannot create namespace"; t_done; }
T_NS+=("$NS")
IF=${T_PREFIX:0:12}ua
SOCK=/var/run/wireguard/$IF.sock
T_CLEANUP+=("rm -f $SOCK")
start_daemon() {
	rm -f "$SOCK"
	bg "$NS" daemon "$CULVERT" wg -f "$IF"
	DPID=$BG_PID
	wait_for test -S "$SOCK"
}
start_daemon || { fail "daemon starts" "$(cat "$T_DIR/daemon.log")"; t_done; }
w() { nsx "$NS" wg "$@"; }
hex() { base64 -d <<<"$1" | od -An -tx1 -v | tr -d ' \n'; }

key1=$(wg genkey) key2=$(wg genkey) psk=$(wg genpsk)
pub2=$(wg pubkey <<<"$key2")

# ---- keys, as the module's selftest checks them ----
w set "$IF" private-key <(echo "$key1") peer "$pub2" preshared-key <(echo "$psk")
check "private key shown" test "$(w show "$IF" private-key)" = "$key1"
check "preshared key shown" test "$(w show "$IF" preshared-keys)" = "$pub2	$psk"
w set "$IF" private-key /dev/null peer "$pub2" preshared-key /dev/null
check "private key cleared" test "$(w show "$IF" private-key)" = "(none)"
check "preshared key cleared" test "$(w show "$IF" preshared-keys)" = "$pub2	(none)"
w set "$IF" peer "$pub2"
w set "$IF" private-key <(echo "$key2")
check "a peer with our new public key is removed" test -z "$(w show "$IF" peers)"
w set "$IF" peer "$pub2"
check "our own public key is never a peer" test -z "$(w show "$IF" peers)"
w set "$IF" private-key <(echo "$key1")
w set "$IF" peer "$pub2"
check "peer added again" test "$(w show "$IF" peers)" = "$pub2"
w set "$IF" private-key <(echo "/${key1:1}")
check "private key stored clamped (/... shown as +...)" test "$(w show "$IF" private-key)" = "+${key1:1}"
check "public key that of the clamped key" test "$(w show "$IF" public-key)" = "$(wg pubkey <<<"+${key1:1}")"

# showconf round-trips: what it prints, set again, prints the same; a file with the
# unclamped key reads back clamped.
printf '[Interface]\nPrivateKey = /%s\nListenPort = 51877\n\n[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 198.19.0.2/32, 2001:db8:19::2/128\nEndpoint = 198.18.0.2:51820\n' \
	"${key1:1}" "$pub2" "$psk" >"$T_DIR/unclamped.conf"
w setconf "$IF" "$T_DIR/unclamped.conf"
w showconf "$IF" >"$T_DIR/show1.conf"
check "showconf prints the clamped key" grep -qx "PrivateKey = +${key1:1}" "$T_DIR/show1.conf"
w setconf "$IF" "$T_DIR/show1.conf"
w showconf "$IF" >"$T_DIR/show2.conf"
check "showconf round-trips" cmp -s "$T_DIR/show1.conf" "$T_DIR/show2.conf"

# ---- two clients at once ----
P_KEY=$(wg genkey)
P=$(wg pubkey <<<"$P_KEY")
# race NAME B-CMD...: client A opens a set for P and pauses, B runs, A sends the rest.
race() {
	local name=$1 sp; shift
	rm -f "$T_DIR/a.in" "$T_DIR/a.out"; mkfifo "$T_DIR/a.in"
	socat -t 5 STDIO "UNIX-CONNECT:$SOCK" <"$T_DIR/a.in" >"$T_DIR/a.out" 2>>"$T_DIR/socat.log" &
	sp=$!; T_PIDS+=("$sp")
	exec 7<>"$T_DIR/a.in"	# read-write: does not wait for socat to open it
	printf 'set=1\npublic_key=%s\n' "$(hex "$P")" >&7
	sleep 0.5	# the daemon has read A's first lines
	"$@"
	printf 'endpoint=198.18.0.2:51820\nallowed_ip=198.19.0.9/32\n\n' >&7
	exec 7>&-
	reap "$sp" 10
	check "$name: A answered errno=0" test "$(cat "$T_DIR/a.out")" = "errno=0"
	check "$name: daemon alive" kill -0 "$DPID"
}
printf '[Interface]\nPrivateKey = %s\n' "$key1" >"$T_DIR/nopeers.conf"
# fresh NAME: P the only peer, the tunnel up; a daemon the previous case killed is restarted,
# so that each case shows on its own
fresh() {
	kill -0 "$DPID" 2>/dev/null || start_daemon || fail "$1: daemon restarts"
	w setconf "$IF" "$T_DIR/nopeers.conf"
	w set "$IF" peer "$P"
	nsx "$NS" ip link set "$IF" up
	nsx "$NS" ip addr replace 198.19.0.1/24 dev "$IF"
}

fresh remove
race "remove" w set "$IF" peer "$P" remove
check "remove: A's request applied whole after B's" \
	test "$(w show "$IF" allowed-ips)" = "$P	198.19.0.9/32"
check "remove: with A's endpoint" test "$(w show "$IF" endpoints)" = "$P	198.18.0.2:51820"
# traffic for that allowed IP reaches a live peer (after a use-after-free it reached freed memory)
qping "$NS" -c 2 -i 0.2 -W 1 198.19.0.9
check "remove: daemon alive after traffic to P" kill -0 "$DPID"

fresh replace_peers
race "replace_peers" w setconf "$IF" "$T_DIR/nopeers.conf"
check "replace_peers: A's request applied whole after B's" \
	test "$(w show "$IF" allowed-ips)" = "$P	198.19.0.9/32"
qping "$NS" -c 2 -i 0.2 -W 1 198.19.0.9
check "replace_peers: daemon alive after traffic to P" kill -0 "$DPID"

fresh "private key"
race "private key" w set "$IF" private-key <(echo "$P_KEY")
check "private key: P is our own key now, no peer" test -z "$(w show "$IF" peers)"
check "private key: no allowed IP left" test -z "$(w show "$IF" allowed-ips)"
qping "$NS" -c 2 -i 0.2 -W 1 198.19.0.9
check "private key: daemon alive after traffic" kill -0 "$DPID"

# ---- limits ----
fresh limits
w setconf "$IF" "$T_DIR/nopeers.conf"
# client PYTHON-GENERATOR: sends what the generator prints, prints the answer
client() {
	python3 - "$SOCK" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(20)
try:
    s.sendall(eval(sys.argv[2]).encode())
    s.shutdown(socket.SHUT_WR)
except (BrokenPipeError, ConnectionResetError):
    pass
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except (ConnectionResetError, socket.timeout):
    pass
sys.stdout.write(out.decode())
EOF
}
r=$(client '"set=1\n" + "fwmark=1\n" * (1 << 20) + "\n"')
check "a 9 MiB request: errno=-90" test "$r" = "errno=-90"
check "nothing of it applied" test -z "$(w show "$IF" fwmark | grep -v off)"
r=$(client '"set=1\n" + "".join("public_key=%064x\n" % (i + 1) for i in range(65537)) + "\n"')
check "65537 peers in one set: errno=-7" test "$r" = "errno=-7"
check "no peer of it added" test -z "$(w show "$IF" peers)"
r=$(client '"set=1\n" + "".join("public_key=%064x\n" % (i + 1) for i in range(3)) + "\nget=1\n\n"')
check "3 peers and a get on one connection: all listed" test "$(grep -c '^public_key=' <<<"$r")" = 3
check "daemon alive after the limits" kill -0 "$DPID"

# ---- /var/run/wireguard, in a private mount namespace ----
HOSTDIR=$(stat -c '%a %u' /run/wireguard)
NS2=$(ns_new dir) || { fail setup "cannot create namespace"; t_done; }
T_NS+=("$NS2")
IF2=${T_PREFIX:0:12}ud
# dirtest SETUP: tmpfs over /run, SETUP, then culvert wg IF2 (stopped once its socket is there);
# prints the directory's mode and owner, the daemon's stderr in $T_DIR/dir.err; status of wg show
dirtest() {
	nsx "$NS2" unshare -m --propagation private sh -c '
		mount -t tmpfs -o mode=0755 tmpfs /run || exit 90
		'"$1"' || exit 91
		"$0" wg -f "$1" 2>"$2" & p=$!
		for i in $(seq 50); do [ -S "/run/wireguard/$1.sock" ] && break; kill -0 $p 2>/dev/null || break; sleep 0.1; done
		wg show "$1" >/dev/null 2>&1; r=$?
		stat -c "%a %u" /run/wireguard
		kill $p 2>/dev/null; wait $p
		exit $r' "$CULVERT" "$IF2" "$T_DIR/dir.err"
}
out=$(dirtest true)
check "missing directory: daemon serves" test $? -eq 0
check "missing directory: made 0755 root" test "$out" = "755 0"
check "0700 root directory: daemon serves" dirtest "mkdir -m 0700 /run/wireguard"
for m in 0777 1777 0775; do
	dirtest "mkdir /run/wireguard && chmod $m /run/wireguard" >/dev/null
	check_not "$m directory refused" test $? -eq 0
	check "$m directory: says what to fix" grep -q "chmod go-w /var/run/wireguard" "$T_DIR/dir.err"
done
dirtest "mkdir -m 0755 /run/wireguard && chown 65534 /run/wireguard" >/dev/null
check_not "directory owned by another user refused" test $? -eq 0
check "other owner: says what to fix" grep -q "owner uid 65534" "$T_DIR/dir.err"
check "machine's directory untouched" test "$(stat -c '%a %u' /run/wireguard)" = "$HOSTDIR"
check "no socket of those daemons in the machine's directory" test ! -e "/var/run/wireguard/$IF2.sock"
t_done
