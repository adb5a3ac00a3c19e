#!/bin/bash
# make demo: two namespaces joined by a veth pair, an encrypted culvert tunnel between them
# (the WireGuard protocol, configured with culvert's own keys and wg-style control socket),
# a ping across it and an iperf3 throughput figure. Removes everything it made on exit.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}; case $B in /*) ;; *) B=$top/$B ;; esac
C=$B/culvert
[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces)"; exit 1; }
p="cvdemo$$"; A=$p-a Z=$p-b; IA=cvd$$a; IZ=cvd$$b
W=$(mktemp -d); pids=()
cleanup() {
	for x in "${pids[@]}"; do kill "$x" 2>/dev/null; done
	for n in "$A" "$Z"; do ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null; done; sleep 0.3
	for n in "$A" "$Z"; do ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del "$n" 2>/dev/null; done
	rm -f /var/run/wireguard/"$IA".sock /var/run/wireguard/"$IZ".sock; rm -rf "$W"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "two namespaces, $A (198.18.0.1) and $Z (198.18.0.2), joined by a veth pair"
ip netns add "$A"; ip netns add "$Z"
ip link add va netns "$A" type veth peer name vb netns "$Z"
ip -n "$A" addr add 198.18.0.1/24 dev va; ip -n "$Z" addr add 198.18.0.2/24 dev vb
for n in "$A" "$Z"; do ip -n "$n" link set lo up; done
ip -n "$A" link set va up; ip -n "$Z" link set vb up

step "keys: umask 077; culvert genkey | culvert pubkey"
# Secrets are born private: every file written from here on is readable by root only.
umask 077
"$C" genkey >"$W/a.key"; "$C" genkey >"$W/b.key"
pa=$("$C" pubkey <"$W/a.key"); pb=$("$C" pubkey <"$W/b.key")
echo "A public key $pa"; echo "B public key $pb"

step "an encrypted tunnel: culvert up with a wg-quick config on each side"
cat >"$W/$IA.conf" <<EOC
[Interface]
PrivateKey = $(cat "$W/a.key")
ListenPort = 51820
Address = 198.19.0.1/24, 2001:db8:19::1/64

[Peer]
PublicKey = $pb
AllowedIPs = 198.19.0.2/32, 2001:db8:19::2/128
Endpoint = 198.18.0.2:51820
EOC
cat >"$W/$IZ.conf" <<EOC
[Interface]
PrivateKey = $(cat "$W/b.key")
ListenPort = 51820
Address = 198.19.0.2/24, 2001:db8:19::2/64

[Peer]
PublicKey = $pa
AllowedIPs = 198.19.0.1/32, 2001:db8:19::1/128
Endpoint = 198.18.0.1:51820
EOC
ip netns exec "$A" "$C" up "$W/$IA.conf" || exit 1
ip netns exec "$Z" "$C" up "$W/$IZ.conf" || exit 1

step "ping across the tunnel (IPv4 and IPv6)"
ip netns exec "$A" ping -c 3 -i 0.2 198.19.0.2 || exit 1
ip netns exec "$A" ping -6 -c 3 -i 0.2 2001:db8:19::2 || exit 1

step "throughput: iperf3, one TCP stream, 3 seconds"
ip netns exec "$Z" iperf3 -s -1 -B 198.19.0.2 >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 50); do ip netns exec "$Z" ss -Hltn 'sport = :5201' | grep -q . && break; sleep 0.1; done
ip netns exec "$A" iperf3 -c 198.19.0.2 -t 3 -f g | grep -E 'sender|receiver'

step "culvert show"
ip netns exec "$A" "$C" show "$IA"

ip netns exec "$A" "$C" down "$IA" >/dev/null 2>&1
ip netns exec "$Z" "$C" down "$IZ" >/dev/null 2>&1
step "done; namespaces removed"
