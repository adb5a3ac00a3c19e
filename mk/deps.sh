#!/bin/sh
# Install the Debian packages a target needs, only those missing. Usage: deps.sh build|test|bench|profile
set -e
build="gcc make pkg-config libssl-dev libmnl-dev libseccomp-dev libcmocka-dev clang libclang-rt-dev libtsan2"
test="$build iproute2 iputils-ping iperf3 tshark tcpdump wireguard-go wireguard-tools openvpn openssl socat python3 procps psmisc kmod man-db gnuplot-nox nftables systemd strace prometheus dpkg-dev debhelper fakeroot lintian devscripts"
case "$1" in
build) want=$build ;;
test) want=$test ;;
bench) want="$test ptunnel-ng" ;;
profile) want="$test linux-perf" ;;
*) echo "usage: $0 build|test|bench|profile" >&2; exit 2 ;;
esac
missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "culvert: missing packages:$missing (run as root, or: apt-get install$missing)" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends $missing >/dev/null
