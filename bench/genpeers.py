#!/usr/bin/env python3
"""Print N wg(8) [Peer] sections with random public keys, for scale runs.

Usage: genpeers.py N [PRIVATE_KEY_FILE]
Peer i gets 198.19.(100 + i / 250).(1 + i % 250)/32 and 2001:db8:5ca1:e::i/128, so N is at
most 38750 and nothing overlaps the 198.19.0.0/24 used for the real peers of a run. With
PRIVATE_KEY_FILE an [Interface] section comes first (for wg setconf)."""
import base64, os, sys

n = int(sys.argv[1])
if not 0 <= n <= 155 * 250:
    sys.exit("genpeers.py: N must be 0..38750")
out = []
if len(sys.argv) > 2:
    out.append("[Interface]\nPrivateKey = %s\n" % open(sys.argv[2]).read().strip())
for i in range(n):
    key = base64.b64encode(os.urandom(32)).decode()
    out.append("[Peer]\nPublicKey = %s\nAllowedIPs = 198.19.%d.%d/32, 2001:db8:5ca1:e::%x/128\n"
               % (key, 100 + i // 250, 1 + i % 250, i + 1))
sys.stdout.write("\n".join(out))
