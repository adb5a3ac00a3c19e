#!/bin/bash
# A launcher that opens the tun device and the control socket itself and hands them to the
# daemon as it would to wireguard-go (WG_TUN_FD, WG_UAPI_FD, WG_PROCESS_FOREGROUND=1): the
# daemon uses the tun's own name, serves the given socket, stays in the foreground as the
# launcher's own process, carries traffic to a culvert peer, and cleans up on SIGTERM; a bad
# descriptor is refused with one sentence.
source "$(dirname "$0")/lib.sh"
umask 077

A=$(ns_new a) && NB=$(ns_new b) || { fail setup "cannot create namespaces"; t_done; }
T_NS+=("$A" "$NB")
ns_link "$A" va "$NB" vb
nsx "$A" ip addr add 198.18.50.1/24 dev va
nsx "$NB" ip addr add 198.18.50.2/24 dev vb
P=${T_PREFIX:0:12}
IA=${P}la IB=${P}lb
SOCK=/var/run/wireguard
T_CLEANUP+=("rm -f $SOCK/$IA.sock $SOCK/$IB.sock")
for k in a b; do "$CULVERT" genkey >"$T_DIR/k$k"; "$CULVERT" pubkey <"$T_DIR/k$k" >"$T_DIR/p$k"; done
cat >"$T_DIR/$IB.conf" <<EOF
[Interface]
PrivateKey = $(cat "$T_DIR/kb")
ListenPort = 51850
Address = 198.19.50.2/24
[Peer]
PublicKey = $(cat "$T_DIR/pa")
AllowedIPs = 198.19.50.1/32
EOF
nsx "$NB" "$CULVERT" up "$T_DIR/$IB.conf" || { fail "peer up"; t_done; }

# The launcher: tun (IFF_TUN | IFF_NO_PI) and a listening socket, then it becomes the daemon.
cat >"$T_DIR/launch.py" <<'EOF'
import fcntl, os, socket, struct, sys
name, culvert = sys.argv[1], sys.argv[2]
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", name.encode(), 0x0001 | 0x1000))
os.makedirs("/var/run/wireguard", mode=0o755, exist_ok=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
path = "/var/run/wireguard/%s.sock" % name
s.bind(path)
os.chmod(path, 0o600)
s.listen(16)
os.set_inheritable(fd, True)
os.set_inheritable(s.fileno(), True)
env = dict(os.environ, WG_TUN_FD=str(fd), WG_UAPI_FD=str(s.fileno()), WG_PROCESS_FOREGROUND="1")
os.execve(culvert, ["culvert-wg", "not-this-name"], env)
EOF
bg "$A" launcher python3 "$T_DIR/launch.py" "$IA" "$CULVERT"
pid=$BG_PID
wait_for nsx "$A" wg show "$IA" && pass "the daemon serves the launcher's socket" ||
	fail "the daemon serves the launcher's socket" "$(cat "$T_DIR/launcher.log")"
dev_exists "$A" "$IA" && dev_gone "$A" not-this-name && pass "the tun's own name wins over IFACE" ||
	fail "the tun's own name wins over IFACE" "$(nsx "$A" ip -br link)"
sleep 0.3
kill -0 "$pid" 2>/dev/null && [ "$(pgrep -f "culvert-wg not-this-name")" = "$pid" ] &&
	pass "WG_PROCESS_FOREGROUND=1: the launcher's process is the daemon, not detached" ||
	fail "WG_PROCESS_FOREGROUND=1: the launcher's process is the daemon, not detached" "pid $pid: $(pgrep -af not-this-name)"
printf '[Interface]\nPrivateKey = %s\n[Peer]\nPublicKey = %s\nAllowedIPs = 198.19.50.2/32\nEndpoint = 198.18.50.2:51850\n' \
	"$(cat "$T_DIR/ka")" "$(cat "$T_DIR/pb")" >"$T_DIR/a.conf"
nsx "$A" wg setconf "$IA" "$T_DIR/a.conf" && nsx "$A" ip addr add 198.19.50.1/24 dev "$IA" &&
	nsx "$A" ip link set "$IA" up
check "ping through the launcher's tun" wait_ping "$A" 198.19.50.2 25
nsx "$A" "$CULVERT" show "$IA" | grep -q "latest handshake" && pass "culvert show on it" ||
	fail "culvert show on it" "$(nsx "$A" "$CULVERT" show "$IA" 2>&1)"
kill "$pid"
wait_for test ! -e "$SOCK/$IA.sock" && wait_for dev_gone "$A" "$IA" && pass "SIGTERM: socket and device gone" ||
	fail "SIGTERM: socket and device gone"

err=$(nsx "$A" env WG_TUN_FD=77 "$CULVERT" wg "$IA" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "WG_TUN_FD=77 is not an open file descriptor" <<<"$err" && [ "$(wc -l <<<"$err")" = 1 ] &&
	dev_gone "$A" "$IA" && pass "a bad WG_TUN_FD is refused in one sentence" ||
	fail "a bad WG_TUN_FD is refused in one sentence" "rc=$rc $err"
err=$(nsx "$A" env WG_UAPI_FD=0 "$CULVERT" wg "$IA" 2>&1 </dev/null); rc=$?
[ $rc = 1 ] && grep -q "WG_UAPI_FD=0 is not a listening socket" <<<"$err" && dev_gone "$A" "$IA" &&
	[ ! -e "$SOCK/$IA.sock" ] && pass "a WG_UAPI_FD that is no listening socket is refused" ||
	fail "a WG_UAPI_FD that is no listening socket is refused" "rc=$rc $err"
nsx "$NB" "$CULVERT" down "$IB"
t_done
