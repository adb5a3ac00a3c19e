#!/usr/bin/env python3
"""bench/profile.md from what bench/profile.sh left in DIR: perf.data (perf record -a -g under
one iperf3 stream through culvert-wg), iperf.json, aead.txt (aead_bench) and peers.txt (the
rtt-interval lines). Usage: profile.py DIR OUT.md"""
import json, re, subprocess, sys

d, out = sys.argv[1], sys.argv[2]
data = d + "/perf.data"


def report(*args):
    """perf report lines as (percent of all samples, [children,] name)"""
    r = subprocess.run(["perf", "report", "-i", data, "-q", "-g", "none", "--percent-limit", "0.01", *args],
                       capture_output=True, text=True)
    rows = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(?:([\d.]+)%\s+)?(.*\S)", line)
        if m:
            rows.append((float(m.group(1)), float(m.group(2)) if m.group(2) else None, m.group(3).strip()))
    return rows


def pct(rows, name):
    for p, c, n in rows:
        if n == name:
            return p
    return 0.0


comm = report("--no-children", "--sort", "comm")
dso = report("--no-children", "--comm", "culvert", "--sort", "dso")
# children: a kernel entry point with everything it called, in culvert's threads
kids = {n.split("] ", 1)[-1]: p for p, c, n in report("--children", "--comm", "culvert", "--sort", "sym")}
own = [(p, n.split("] ", 1)[-1]) for p, c, n in report("--no-children", "--comm", "culvert", "--dso", "culvert", "--sort", "sym")]

try:
    e = json.load(open(d + "/iperf.json"))["end"]
    gbit = (e.get("sum_received") or e["sum"])["bits_per_second"] / 1e9
except Exception:
    gbit = None

L = []
w = L.append
w("# Where culvert-wg's time goes")
w("")
w("`make profile` (bench/profile.sh): `perf record -a -g` over both cores while one iperf3 TCP stream")
w("runs through culvert-wg on the bench's two-namespace veth path (both tunnel ends, both iperf3")
w("ends and the kernel share the same 2 vCPUs), then the AEAD's cost per packet and idle RTT")
w("against the ping interval. Percentages are of all samples on all CPUs.")
w("")
if gbit:
    w("Throughput during the profile: %.2f Gbit/s." % gbit)
    w("")
w("## Who runs")
w("")
w("| task | share of both CPUs |")
w("|---|---:|")
for p, c, n in comm[:6]:
    w("| %s | %.1f%% |" % ({"swapper": "idle (swapper)"}.get(n, n), p))
w("")
w("The culvert rows include kernel work done in culvert's system calls: a write to the tun device")
w("runs the inner TCP receive path of iperf3's stream, a UDP send runs the veth transmit.")
w("")
w("## Inside culvert")
w("")
w("| where | share of both CPUs |")
w("|---|---:|")
lib = pct(dso, "libcrypto.so.3")
w("| libcrypto (ChaCha20-Poly1305 and its EVP layer) | %.1f%% |" % lib)
# perf's dso view leaves the kernel out under a comm filter: it is what the others do not cover
kern = pct(comm, "culvert") - sum(p for p, c, n in dso)
w("| kernel, in culvert's system calls and interrupts | %.1f%% |" % kern)
w("| culvert's own code | %.1f%% |" % pct(dso, "culvert"))
w("| libc (memcpy, syscall stubs) | %.1f%% |" % pct(dso, "libc.so.6"))
w("")
w("Kernel time by entry point (each with everything below it):")
w("")
w("| entry | what it is | share |")
w("|---|---|---:|")
for sym, what in [("tun_chr_write_iter", "write decrypted packets to tun (incl. inner TCP receive)"),
                  ("__sys_sendmmsg", "send encrypted datagrams (UDP GSO, veth transmit)"),
                  ("do_recvmmsg", "receive datagrams (UDP GRO)"),
                  ("tun_chr_read_iter", "read packets from tun (TSO super-packets)"),
                  ("do_epoll_wait", "epoll_wait"),
                  ("__x64_sys_sched_yield", "sched_yield in the busy-poll window")]:
    w("| `%s` | %s | %.1f%% |" % (sym, what, kids.get(sym, 0.0)))
inner = kids.get("tcp_v4_rcv", 0.0) + kids.get("tcp_v6_rcv", 0.0)
copies = kids.get("_copy_from_iter", 0.0) + kids.get("_copy_to_iter", 0.0) + kids.get("copy_page_from_iter", 0.0) \
    + kids.get("copy_page_to_iter", 0.0)
w("")
w("Of that, the inner stream's TCP receive (`tcp_v4_rcv`, run inside culvert's tun writes): %.1f%%;" % inner)
w("copies between culvert's buffers and the kernel (`_copy_*_iter`, `copy_page_*_iter`): %.1f%%." % copies)
w("")
w("culvert's own hottest functions:")
w("")
w("| function | share |")
w("|---|---:|")
for p, n in own[:8]:
    w("| `%s` | %.2f%% |" % (n, p))
w("")
w("## The AEAD per packet")
w("")
w("`aead_bench`: culvert's seal (one keyed OpenSSL context, a new nonce per packet), one core.")
w("")
w("```")
w(open(d + "/aead.txt").read().strip())
w("```")
w("")
w("## Idle RTT against the ping interval")
w("")
rtt = {}
for line in open(d + "/peers.txt"):
    p = line.split()
    if len(p) == 4 and p[0] == "rtt-interval":
        rtt.setdefault(p[1], {})[p[2]] = float(p[3]) if p[3] != "" else None
w("| path | 50 ms apart | 10 ms apart | 2 ms apart |")
w("|---|---:|---:|---:|")
IV = ("0.05", "0.01", "0.002")
for name in ("raw-veth", "relay-floor", "culvert-wg"):
    r = rtt.get(name, {})
    w("| %s | %s |" % (name, " | ".join("%.3f ms" % r[i] if r.get(i) else "-" for i in IV)))
for a, b in (("relay-floor", "raw-veth"), ("culvert-wg", "raw-veth"), ("culvert-wg", "relay-floor")):
    if a in rtt and b in rtt:
        w("| %s - %s | %s |" % (a, b, " | ".join(
            "%+.3f ms" % (rtt[a][i] - rtt[b][i]) if rtt[a].get(i) and rtt[b].get(i) else "-" for i in IV)))
w("")
w("relay-floor (bench/relay_floor.c) is the least a userspace tunnel can do: one poll() loop copying")
w("tun <-> UDP, no crypto, no batching. What it adds to raw veth is the toll of leaving the kernel")
w("(two more wake-ups and four more system calls per round trip), paid before any work of a")
w("tunnel's own. After a pause the whole path runs from cold caches: the `aead cold` lines above")
w("show the same 64-byte seal costing tens of microseconds when it follows a sleep and well under")
w("one right after. Pings 2 ms apart keep more of it warm; the bench's pings are 50 ms apart.")
w("")
open(out, "w").write("\n".join(L) + "\n")
