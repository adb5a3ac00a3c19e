#!/usr/bin/env python3
"""Reads `systemd-analyze syscall-filter` on stdin and prints every system call that the filter
(a SystemCallFilter= value: groups such as @system-service and system call names) allows,
groups expanded, one per line."""
import sys

groups, cur = {}, None
for line in sys.stdin:
    s = line.strip()
    if not s or s.startswith("#"):
        continue
    if not line[0].isspace():
        cur = s
        groups[cur] = []
    elif cur:
        groups[cur].append(s)

def expand(g, seen):
    if g in seen:
        return set()
    seen.add(g)
    out = set()
    for m in groups.get(g, []):
        out |= expand(m, seen) if m.startswith("@") else {m}
    return out

allowed = set()
for tok in sys.argv[1].split():
    allowed |= expand(tok, set()) if tok.startswith("@") else {tok}
for name in sorted(allowed):
    print(name)
