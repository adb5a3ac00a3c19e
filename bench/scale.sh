#!/bin/bash
# Scale figures of culvert's WireGuard daemon, one "scale KEY VALUE" line each:
#   setconf_s       wall time of `wg setconf` loading N peers (random keys, a /32 and a /128 each)
#   show_s          wall time of `wg show IFACE dump` listing them
#   rss0_kb rss_kb  daemon VmRSS with 0 and with N peers; bytes_per_peer = difference / N
#   x25519_ops hs_pairs hs_ratio   from the handshake benchmark (tests/unit/test_hsbench.c):
#                   X25519 ops/s, full initiation+response handshakes/s on one thread, and
#                   handshakes/s as a share of what the X25519 operations alone allow;
#   x25519_raw_ops hs_raw_ratio   the same against libcrypto's bare X25519 derive rate
# Usage: bench/scale.sh [N]   (root; env B=build dir, CULVERT=binary)
# Makes its own namespace (unique name), so it may run beside peers.sh.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}; case $B in /*) ;; *) B=$top/$B ;; esac
CULVERT=${CULVERT:-$B/culvert}
n=${1:-10000}
ns=cvscale$$ ifc=cs$$ sock=/var/run/wireguard/cs$$.sock
W=$(mktemp -d) pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && sleep 0.3
	ip netns del "$ns" 2>/dev/null; rm -rf "$W" "$sock"
}
trap cleanup EXIT
umask 077

# rss PID: VmRSS in kB
rss() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
# secs CMD...: wall time of CMD in seconds; fails with CMD
secs() {
	local t0 t1
	t0=$(date +%s.%N); "$@" >/dev/null || return 1; t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}

if [ -x "$CULVERT" ] && ip netns add "$ns"; then
	ip -n "$ns" link set lo up
	ip netns exec "$ns" "$CULVERT" wg -f "$ifc" >"$W/log" 2>&1 & pid=$!
	for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
	wg genkey >"$W/key"
	python3 "$top/bench/genpeers.py" "$n" "$W/key" >"$W/conf"
	if [ -S "$sock" ] && ip netns exec "$ns" wg set "$ifc" private-key "$W/key" listen-port 51899; then
		sleep 0.2; r0=$(rss "$pid")
		t=$(secs ip netns exec "$ns" wg setconf "$ifc" "$W/conf")
		got=$(ip netns exec "$ns" wg show "$ifc" peers | wc -l)
		sleep 0.2; r1=$(rss "$pid")
		ts=$(secs ip netns exec "$ns" wg show "$ifc" dump)
		echo "scale peers $got"
		echo "scale setconf_s ${t:-FAIL}"
		echo "scale show_s ${ts:-FAIL}"
		echo "scale rss0_kb $r0"
		echo "scale rss_kb $r1"
		[ "$got" -gt 0 ] && echo "scale bytes_per_peer $(( (r1 - r0) * 1024 / got ))"
	else
		echo "scale setconf_s FAIL (daemon did not start: $(tail -3 "$W/log"))"
	fi
else
	echo "scale setconf_s FAIL (no $CULVERT or no namespace)"
fi

# Handshakes: the cmocka benchmark prints "hsbench: x25519 N ops/s" and
# "hsbench: handshakes N pairs/s (ratio R of the X25519 bound)".
hb=$B/tests/test_hsbench
if [ -x "$hb" ]; then
	CMOCKA_MESSAGE_OUTPUT=stdout "$hb" >"$W/hs" 2>&1
	awk '/^hsbench: x25519 [0-9]/{print "scale x25519_ops " $3}
	     /^hsbench: handshakes/{print "scale hs_pairs " $3; print "scale hs_ratio " $6}
	     /^hsbench: x25519_raw/{print "scale x25519_raw_ops " $3}
	     /^hsbench: raw ratio/{print "scale hs_raw_ratio " $4}
	     /^hsbench: x25519 per pair/{print "scale x25519_per_pair " $5}' "$W/hs"
	grep -q '^\[  PASSED  \]' "$W/hs" || echo "scale hsbench FAIL"
else
	echo "scale hs_pairs FAIL (build $hb)"
fi
