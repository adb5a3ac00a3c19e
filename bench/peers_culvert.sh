# PEERS_EXTRA for bench/peers.sh: every culvert mode, in one file.
# Each bench/peers_*.sh beside this one adds run_NAME functions; $CULVERT is the binary.
for f in "$(dirname "${BASH_SOURCE[0]}")"/peers_*.sh; do
	[ "$f" = "${BASH_SOURCE[0]}" ] || source "$f"
done
