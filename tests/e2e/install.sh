#!/bin/bash
# make install into a DESTDIR; a program built with pkg-config against the installed libculvert
# attaches to a tun device and decodes a ping; culvert-wg is a link to culvert; man pages render.
source "$(dirname "$0")/lib.sh"
D=$T_DIR/root
make -s -C "$TOP" B="$B" install DESTDIR="$D" PREFIX=/usr >"$T_DIR/install.log" 2>&1
check "make install succeeds" test -x "$D/usr/bin/culvert"
check "culvert-wg installed as a link to culvert" test "$(readlink "$D/usr/bin/culvert-wg")" = culvert
check "header, library, pkg-config file installed" test -f "$D/usr/include/culvert.h" -a -f "$D/usr/lib/libculvert.a" -a -f "$D/usr/lib/pkgconfig/libculvert.pc"
check "man pages installed and render" bash -c "MANWIDTH=80 man -l '$D/usr/share/man/man8/culvert.8' 2>&1 | grep -q 'tun/tap toolkit'"
flags=$(PKG_CONFIG_PATH=$D/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config --cflags --libs --static libculvert)
check "example builds with pkg-config" cc -Wall -Wextra -o "$T_DIR/tunread" "$TOP/examples/tunread.c" $flags
A=$(ns_new a)
bg "$A" tunread "$T_DIR/tunread" cvt0 3
wait_for nsx "$A" ip link show cvt0
nsx "$A" ip addr add 198.19.7.1/24 dev cvt0; nsx "$A" ip link set cvt0 up
nsx "$A" ping -c 3 -i 0.2 -W 1 198.19.7.2 >/dev/null 2>&1
wait "$BG_PID" 2>/dev/null
check "example decodes the ping" grep -q "Read 84 bytes from cvt0: IP 198.19.7.1 > 198.19.7.2: ICMP echo request" "$T_DIR/tunread.log"
t_done
