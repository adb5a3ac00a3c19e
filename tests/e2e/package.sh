#!/bin/bash
# The Debian package: `dpkg-buildpackage -us -uc -b` on a copy of this tree (its test step runs
# make check-unit) builds culvert and libculvert-dev; lintian finds no error; hardening-check
# passes on the binary; both packages install into a throwaway root with `dpkg --root` (the
# machine's own dpkg database is never touched), with the files where they belong,
# `culvert --version` saying the Makefile's version, which is the package's upstream version,
# and a program that builds against the installed pkg-config file; `dpkg --purge` then leaves
# nothing but dpkg's own database.
source "$(dirname "$0")/lib.sh"

host_has() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
host_before=$(host_has culvert; echo $?)$(host_has libculvert-dev; echo $?)

S=$T_DIR/src/culvert
mkdir -p "$S"
tar -C "$TOP" --exclude=./build --exclude=./.git -cf - . | tar -C "$S" -xf -
start=$(date +%s)
# without the test runner's B (the Makefile's build directory), which would send the copy's
# build, and its clean, into this tree's build directory
if (cd "$S" && env -u B -u CULVERT -u CULVERT_TOP DEB_BUILD_OPTIONS=parallel=2 \
	timeout 240 dpkg-buildpackage -us -uc -b) >"$T_DIR/build.log" 2>&1; then
	pass "dpkg-buildpackage -us -uc -b builds the packages ($(( $(date +%s) - start )) s)"
else
	fail "dpkg-buildpackage -us -uc -b builds the packages" "$(tail -15 "$T_DIR/build.log")"
	t_done
fi
VERSION=$(sed -n 's/^VERSION *:= *//p' "$TOP/Makefile")
DEBV=$(cd "$S" && dpkg-parsechangelog -SVersion)
ARCH=$(dpkg --print-architecture) MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
DEB=$T_DIR/src/culvert_${DEBV}_$ARCH.deb DEV=$T_DIR/src/libculvert-dev_${DEBV}_$ARCH.deb
check "both binary packages are there" test -f "$DEB" -a -f "$DEV"
check "the build ran the unit tests (make check-unit), and they passed" \
	grep -qE '^[0-9]+ passed, 0 failed$' "$T_DIR/build.log"

if lintian --fail-on error "$T_DIR/src/culvert_${DEBV}_$ARCH.changes" >"$T_DIR/lintian.log" 2>&1; then
	pass "lintian reports no errors ($(grep -c '^W: ' "$T_DIR/lintian.log") warnings)"
else
	fail "lintian reports no errors" "$(grep '^E: ' "$T_DIR/lintian.log" | head -5)"
fi

# ---- into a throwaway root ----------------------------------------------------------------
R=$T_DIR/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
touch "$R/var/lib/dpkg/status"
# dependencies (libc6, libssl3, libmnl0, ...) are the host's, not the empty root's
if dpkg --root="$R" --force-depends --force-not-root --log=/dev/null -i "$DEB" "$DEV" >"$T_DIR/dpkg-i.log" 2>&1; then
	pass "both packages install into a throwaway root"
else
	fail "both packages install into a throwaway root" "$(tail -5 "$T_DIR/dpkg-i.log")"
fi
check "/usr/bin/culvert is there and executable" test -x "$R/usr/bin/culvert"
check "culvert-wg is a link to culvert" test "$(readlink "$R/usr/bin/culvert-wg")" = culvert
n=$(ls "$TOP"/man/*.8 | wc -l)
check "all $n man pages are there" test "$(ls "$R"/usr/share/man/man8/*.8.gz | wc -l)" = "$n"
check "the units are in /lib/systemd/system and run /usr/bin/culvert" bash -c \
	"grep -q '^ExecStart=/usr/bin/culvert wg --foreground %i' '$R/lib/systemd/system/culvert-wg@.service' &&
	 grep -q '^ExecStart=/usr/bin/culvert up %i' '$R/lib/systemd/system/culvert-up@.service'"
check "the ICMP drop-in is in /usr/share/culvert/systemd and names its own path" \
	grep -q '^#   ln -s /usr/share/culvert/systemd/icmp.conf ' "$R/usr/share/culvert/systemd/icmp.conf"
check "libculvert-dev: headers, static library, pkg-config file (multiarch)" test -f "$R/usr/include/culvert.h" -a \
	-f "$R/usr/include/culvert/tun.h" -a -f "$R/usr/lib/$MA/libculvert.a" -a -f "$R/usr/lib/$MA/pkgconfig/libculvert.pc"
v=$("$R/usr/bin/culvert" --version)
check "culvert --version says the Makefile's version ($v)" test "$v" = "culvert $VERSION"
check "culvert-wg --version says the same" test "$("$R/usr/bin/culvert-wg" --version)" = "culvert-wg $VERSION"
check "the package's upstream version is that version ($DEBV)" test "${DEBV%-*}" = "$VERSION"
check "the man pages carry that version" bash -c "zcat '$R/usr/share/man/man8/culvert.8.gz' | head -1 | grep -q '\"culvert $VERSION\"'"
# bookworm's glibc crt1.o has no CET mark, so no program here can have one (not /usr/bin/wg
# either): --nocfprotection, every other check holds.
if hardening-check --nocfprotection "$R/usr/bin/culvert" >"$T_DIR/hc.log" 2>&1; then
	pass "hardening-check passes: PIE, stack protector, fortify, relro, bindnow, stack clash"
else
	fail "hardening-check passes" "$(grep -E ': no|unknown' "$T_DIR/hc.log")"
fi
export PKG_CONFIG_SYSROOT_DIR=$R PKG_CONFIG_PATH=$R/usr/lib/$MA/pkgconfig
check "libculvert.pc: Requires.private libmnl, libcrypto and libseccomp" test "$(pkg-config --print-requires-private libculvert | awk '{print $1}' | tr '\n' ' ')" = "libmnl libcrypto libseccomp "
check "a program builds against the installed package with pkg-config --static" \
	cc -Wall -o "$T_DIR/tunread" "$TOP/examples/tunread.c" $(pkg-config --cflags --libs --static libculvert)
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH

# ---- purge ---------------------------------------------------------------------------------
if dpkg --root="$R" --force-not-root --log=/dev/null --purge culvert libculvert-dev >"$T_DIR/dpkg-p.log" 2>&1; then
	pass "dpkg --purge removes both"
else
	fail "dpkg --purge removes both" "$(tail -5 "$T_DIR/dpkg-p.log")"
fi
left=$(cd "$R" && find . -mindepth 1 ! -path './var' ! -path './var/lib' ! -path './var/lib/dpkg' ! -path './var/lib/dpkg/*' | head)
[ -z "$left" ] && pass "purge leaves nothing but dpkg's database" || fail "purge leaves nothing" "$left"
check "dpkg's database knows neither package any more" bash -c \
	"! dpkg --root='$R' -l culvert libculvert-dev 2>/dev/null | grep -q '^[a-z][a-z] '"
check "the machine's own dpkg database was not touched" test "$(host_has culvert; echo $?)$(host_has libculvert-dev; echo $?)" = "$host_before"
t_done
