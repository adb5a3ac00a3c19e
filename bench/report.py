#!/usr/bin/env python3
"""Turn peers.sh output into bench/results.md (ratios to the peers of the same run) and plot data."""
import re, sys, time, platform, os

raw, md, dat, secs = sys.argv[1:5]
rows = []
for line in open(raw):
    m = re.match(r"^(\S+)\s+(\S+) Gbit/s\s+rtt (\S+) ms", line)
    if m:
        g = float(m.group(2)) if m.group(2) != "FAIL" else None
        r = float(m.group(3)) if m.group(3) != "FAIL" else None
        rows.append((m.group(1), g, r))
by = {n: (g, r) for n, g, r in rows}
peers = [n for n in ("raw-veth", "wireguard-go", "openvpn-udp", "openvpn-tcp", "socat-udp", "simpletun") if n in by]

def ratio(a, b):
    return "%.2fx" % (a / b) if a is not None and b else "-"

with open(md, "w") as f:
    f.write("# Benchmark results\n\n")
    f.write("One iperf3 TCP stream (%s s) and 20 pings through each tunnel, two network namespaces over a veth\n" % secs)
    f.write("pair, all in one run of `../shared/bench/peers.sh` (`make bench`). %d cores, kernel %s, %s.\n"
            "Absolute numbers vary with the machine; the ratios, taken within one run, are what to compare.\n\n"
            % (os.cpu_count(), platform.release(), time.strftime("%Y-%m-%d")))
    f.write("| tunnel | Gbit/s | RTT ms | " + " | ".join("vs " + p for p in peers) + " |\n")
    f.write("|---|---:|---:|" + "---:|" * len(peers) + "\n")
    for n, g, r in rows:
        f.write("| %s | %s | %s | %s |\n" % (n, "FAIL" if g is None else "%.2f" % g, "FAIL" if r is None else "%.3f" % r,
                " | ".join(ratio(g, by[p][0]) for p in peers)))
with open(dat, "w") as f:
    for n, g, r in rows:
        f.write('"%s" %s %s\n' % (n, g if g is not None else 0, r if r is not None else 0))
