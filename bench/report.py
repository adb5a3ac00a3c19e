#!/usr/bin/env python3
"""Turn one `make bench` run into bench/results.md and the plot data.

Usage: report.py RAW MD DAT SECS [SCALE]
RAW is bench/run.sh's record of the run ("bench KEY VALUE" lines), then bench/peers.sh's output
("version NAME V" lines, tunnel lines, "load-" lines from bench/peers_load.sh); SCALE is
bench/scale.sh's "scale KEY VALUE" lines. Every ratio is taken within this one run.
Two wireguard-go rows: "wireguard-go" is Debian's (old, no offloads), "wireguard-go-new" a
current one (WGGO_NEW); the headline compares with the current one when it was measured."""
import os, platform, re, sys, time

raw, md, dat, secs = sys.argv[1:5]
scale_file = sys.argv[5] if len(sys.argv) > 5 else None
PEERS = ("raw-veth", "wireguard-go", "wireguard-go-new", "openvpn-udp", "openvpn-tcp", "socat-udp", "simpletun")
# culvert's carriers, each family kept together in the tunnel table in this order, and side by
# side in the Transports table: the row, what it carries, over what, the family's UDP row.
TRANSPORTS = (
    ("culvert-wg", "IP packets, WireGuard", "UDP", "culvert-wg"),
    ("culvert-wg-tcp", "IP packets, WireGuard", "TCP", "culvert-wg"),
    ("culvert-wg-icmp", "IP packets, WireGuard", "ICMP echo", "culvert-wg"),
    ("culvert-wg-tap", "Ethernet frames, WireGuard", "UDP", "culvert-wg"),
    ("culvert-st-udp", "IP packets, unencrypted", "UDP", "culvert-st-udp"),
    ("culvert-st-tcp", "IP packets, unencrypted", "TCP", "culvert-st-udp"),
    ("culvert-st-icmp", "IP packets, unencrypted", "ICMP echo", "culvert-st-udp"),
    ("ptunnel-ng", "TCP connections", "ICMP echo", None),
)


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


rows, notes, load, versions, info = [], {}, {}, {}, {}
new_missing = None
for line in open(raw):
    p = line.split()
    if len(p) >= 3 and p[0] == "bench":
        info[p[1]] = " ".join(p[2:])
        continue
    if len(p) == 3 and p[0] == "version":
        versions[p[1]] = p[2]
        continue
    if line.startswith("wireguard-go-new skipped"):
        new_missing = line.partition("skipped")[2].strip(" :\n")
        continue
    m = re.match(r"^(load-\S+)\s+(\S+) Gbit/s\s+rtt_idle (\S+) ms\s+rtt_load (\S+) ms max (\S+) ms\s+"
                 r"cpu_s_per_gbit (\S+) send (\S+) recv (\S+)\s+rss_kb (\S+) (\S+) hwm_kb (\S+) (\S+)", line)
    if m:
        k = ("gbit", "idle", "avg", "max", "cpu", "cpu_s", "cpu_r", "rss_s", "rss_r", "hwm_s", "hwm_r")
        load.setdefault(m.group(1)[5:], []).append(dict(zip(k, map(num, m.groups()[1:]))))
        continue
    m = re.match(r"^(\S+)\s+(\S+) Gbit/s\s+rtt (\S+) ms", line)
    if m:
        rows.append((m.group(1), num(m.group(2)), num(m.group(3))))
        continue
    m = re.match(r"^(\S+)\s+(\S+) Gbit/s\s+\((.*)\)", line)   # e.g. culvert-wg-p8, no ping
    if m:
        rows.append((m.group(1), num(m.group(2)), None))
        notes[m.group(1)] = m.group(3)
scale = {}
if scale_file and os.path.exists(scale_file):
    for line in open(scale_file):
        p = line.split()
        if len(p) >= 3 and p[0] == "scale":
            scale[p[1]] = num(p[2])

# bench/run.sh runs each tunnel ROUNDS times, interleaved: one row a tunnel, with the median
# of its runs (and their range), in the order of first appearance.
def median(v):
    v = sorted(x for x in v if x is not None)
    return None if not v else (v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2)


# the load-* runs too: each field the median of its runs
load_runs = {n: len(v) for n, v in load.items()}
load = {n: {k: median(d[k] for d in v) for k in v[0]} for n, v in load.items()}

runs = {}
for n, g, r in rows:
    runs.setdefault(n, []).append((g, r))
rows = [(n, median(x[0] for x in v), median(x[1] for x in v)) for n, v in runs.items()]


def grouped(rows):
    """First appearance, except that each culvert transport family (the rows of one UDP row in
    TRANSPORTS) sits together where its first member appeared, in TRANSPORTS' order."""
    fam = {t[0]: t[3] for t in TRANSPORTS if t[3]}
    order = [t[0] for t in TRANSPORTS]
    out, placed = [], set()
    for r in rows:
        f = fam.get(r[0])
        if f is None:
            out.append(r)
        elif f not in placed:
            placed.add(f)
            out += sorted((x for x in rows if fam.get(x[0]) == f), key=lambda x: order.index(x[0]))
    return out


rows = grouped(rows)
spread = {n: (min((x[0] for x in v if x[0] is not None), default=None),
              max((x[0] for x in v if x[0] is not None), default=None), len(v)) for n, v in runs.items()}
by = {n: (g, r) for n, g, r in rows}
peers = [n for n in PEERS if n in by]


def ratio(a, b):
    if a is None or not b:
        return "-"
    q = a / b
    # ptunnel-ng moves about a thousandth of the others: keep its ratios readable both ways
    return "%.0fx" % q if q >= 100 else ("<0.01x" if 0 < q < 0.01 else "%.2fx" % q)


def gbit(v):
    """Gbit/s with two decimals, or two significant digits below 0.1 (ptunnel-ng's 0.00062)."""
    return "FAIL" if v is None else ("%.2g" % v if 0 < v < 0.1 else "%.2f" % v)


def fmt(v, f="%.2f"):
    return "FAIL" if v is None else f % v


def verdict(ok):
    return "-" if ok is None else ("met" if ok else "**not met**")


def cmp(a, b, le=True, factor=1.0):
    """a <= factor*b (le) or a >= factor*b; None when either is missing."""
    if a is None or b is None:
        return None
    return a <= factor * b if le else a >= factor * b


OLD, NEW = "wireguard-go", "wireguard-go-new"
# the wireguard-go every headline ratio compares with: the current one when it was measured
REF = NEW if by.get(NEW, (None,))[0] is not None else OLD


def label(n):
    """A wireguard-go row named by its version, so no ratio hides which one it compares with."""
    base = re.sub(r"-(capped|jumbo)$", "", n)
    if base not in (OLD, NEW):
        return n
    v = versions.get(base) or ("current" if base == NEW else "Debian's")
    return "wireguard-go %s%s" % (v, n[len(base):])


out = []
w = out.append
w("# Benchmark results\n")
w("`make bench`: every tunnel on the same two-namespace veth path, one iperf3 TCP stream (%s s) and\n"
  "20 pings each, all in one invocation of `bench/peers.sh`; then `bench/scale.sh`.\n"
  "%d cores, kernel %s, %s, culvert's src/ as of commit %s.\n"
  "Absolute numbers vary with the machine (and with what else runs on it); the ratios, taken\n"
  "within one run, are what to compare.\n"
  % (secs, os.cpu_count(), platform.release(), time.strftime("%Y-%m-%d"), info.get("commit", "unknown")))
if "loadavg_start" in info:
    w("Load average of the machine (1, 5, 15 min) at the start and at the end of the run: %s and\n"
      "%s; other work ran beside the bench, so throughput spread widely.\n"
      % (info["loadavg_start"], info.get("loadavg_end", "?")))
w("Two wireguard-go builds: Debian's %s (no TUN offloads, no UDP GSO/GRO) and, when\n"
  "`WGGO_NEW` names one, a current release (bench/README.md says how to build it); every ratio\n"
  "names the one it compares with.\n" % versions.get(OLD, "wireguard-go"))
if REF == OLD:
    w("**The current wireguard-go was not measured in this run**: %s. The ratios below are\n"
      "against Debian's old wireguard-go only, and overstate culvert's lead over what users run\n"
      "today.\n" % (new_missing or "no wireguard-go-new row"))

g = lambda n: by.get(n, (None, None))[0]
rt = lambda n: by.get(n, (None, None))[1]
ld = lambda n, k: load.get(n, {}).get(k)
refl = label(REF)
w("\n## Headline: culvert-wg against %s\n" % refl)
w("| measure | culvert-wg | %s | ratio |" % refl)
w("|---|---:|---:|---:|")
head = (("one TCP stream, Gbit/s (median)", g("culvert-wg"), g(REF), "%.2f"),
        ("idle ping RTT, ms (median)", rt("culvert-wg"), rt(REF), "%.3f"),
        ("CPU s per Gbit, both daemons, at the same offered load (%s)" % info.get("load_cap", "capped"),
         ld("culvert-wg-capped", "cpu"), ld(REF + "-capped", "cpu"), "%.3f"),
        ("loaded RTT avg, ms, at the same offered load", ld("culvert-wg-capped", "avg"), ld(REF + "-capped", "avg"), "%.3f"),
        ("peak RSS, larger end, KB, saturating", ld("culvert-wg", "hwm_s") and max(ld("culvert-wg", "hwm_s"), ld("culvert-wg", "hwm_r") or 0),
         ld(REF, "hwm_s") and max(ld(REF, "hwm_s"), ld(REF, "hwm_r") or 0), "%.0f"))
for desc, a, b_, f in head:
    w("| %s | %s | %s | %s |" % (desc, fmt(a, f), fmt(b_, f), ratio(a, b_)))
w("")
w("On a machine shared with other work the throughput spreads widely from run to run; rounds are\n"
  "interleaved and medians kept so drift hits every tunnel alike. CPU per Gbit at one capped\n"
  "rate is the steadier of the measures.\n")

w("\n## Tunnels\n")
nruns = max((s[2] for s in spread.values()), default=1)
if nruns > 1:
    w("Each tunnel ran %d times, the runs interleaved; the table shows the median of each (Gbit/s\n"
      "and RTT) and the range of its throughput.\n" % nruns)
w("| tunnel | Gbit/s | range | RTT ms | " + " | ".join("vs " + label(p) for p in peers) + " | RTT vs %s |" % refl)
w("|---|---:|---:|---:|" + "---:|" * len(peers) + "---:|")
for n, gb, r in rows:
    rtt = fmt(r, "%.3f") if n not in notes else "(%s)" % notes[n]
    lo, hi, k = spread[n]
    rng = "%s-%s" % (gbit(lo), gbit(hi)) if k > 1 and lo is not None else "-"
    w("| %s | %s | %s | %s | %s | %s |" % (label(n), gbit(gb), rng, rtt, " | ".join(ratio(gb, by[p][0]) for p in peers),
                                          ratio(r, rt(REF))))

w("\n| target | measured (ratio) | |")
w("|---|---:|---|")
def target(desc, a, b, le, factor=1.0):
    shown = ratio(a, b) if factor == 1.0 or a is None or b is None else "%.2fx" % (a / b)
    w("| %s | %s | %s |" % (desc, shown, verdict(cmp(a, b, le, factor))))

def rtt_within(a, b, ms):
    if a is None or b is None:
        return None
    return a - b <= ms

# The issues' targets: foundation (simpletun), encrypted tunnel, fast path, and the current
# wireguard-go (issue 13).
if g(NEW) is not None:
    target("culvert-wg throughput >= 2.5x %s" % label(NEW), g("culvert-wg"), g(NEW), False, 2.5)
target("culvert-wg throughput >= 5x %s" % label(OLD), g("culvert-wg"), g(OLD), False, 5.0)
target("culvert-wg throughput >= 3x openvpn-udp", g("culvert-wg"), g("openvpn-udp"), False, 3.0)
target("culvert-wg throughput >= 25% of raw veth", g("culvert-wg"), g("raw-veth"), False, 0.25)
target("culvert-wg RTT < %s" % refl, rt("culvert-wg"), rt(REF), True)
ok = rtt_within(rt("culvert-wg"), rt("raw-veth"), 0.1)
w("| culvert-wg RTT <= raw veth + 0.1 ms | +%s ms | %s |" % (
    fmt(rt("culvert-wg") - rt("raw-veth"), "%.3f") if ok is not None else "-", verdict(ok)))
if None not in (rt("relay-floor"), rt("raw-veth"), rt("culvert-wg")):
    # bench/relay_floor.c: what leaving the kernel costs any userspace tunnel on this machine
    w("| (floor) relay-floor, a bare tun <-> UDP copy in userspace, RTT vs raw veth | +%.3f ms | - |"
      % (rt("relay-floor") - rt("raw-veth")))
    w("| (floor) culvert-wg RTT vs relay-floor | %+.3f ms | - |" % (rt("culvert-wg") - rt("relay-floor")))
target("culvert-wg-jumbo (MTU 34736) >= %s-jumbo" % label(OLD), g("culvert-wg-jumbo"), g("wireguard-go-jumbo"), False)
target("culvert-wg-jumbo (MTU 34736) >= %s-jumbo" % label(NEW), g("culvert-wg-jumbo"), g("wireguard-go-new-jumbo"), False)
target("culvert-wg-jumbo (MTU 34736) >= culvert-wg (MTU 1420)", g("culvert-wg-jumbo"), g("culvert-wg"), False)
target("culvert-wg 8 streams >= 1 stream", g("culvert-wg-p8"), g("culvert-wg"), False)
target("culvert-wg with 10k peers >= 90% of 1 peer", g("culvert-wg-10k"), g("culvert-wg"), False, 0.9)
target("culvert-st-tcp >= 5x original simpletun", g("culvert-st-tcp"), g("simpletun"), False, 5.0)
target("culvert-st-tcp >= 2x openvpn-tcp", g("culvert-st-tcp"), g("openvpn-tcp"), False, 2.0)
ok = rtt_within(rt("culvert-st-tcp"), rt("raw-veth"), 0.2)
w("| culvert-st-tcp RTT within 0.2 ms of raw veth | +%s ms | %s |" % (
    fmt(rt("culvert-st-tcp") - rt("raw-veth"), "%.3f") if ok is not None else "-", verdict(ok)))
target("culvert-st-udp >= socat-udp", g("culvert-st-udp"), g("socat-udp"), False)
target("culvert-st-udp >= 40% of raw veth", g("culvert-st-udp"), g("raw-veth"), False, 0.4)


# The carriers side by side (only when a run had more than the UDP rows): each against its
# family's UDP row, the ICMP ones against ptunnel-ng too.
trows = [t for t in TRANSPORTS if t[0] in by]
if any(t[0] not in ("culvert-wg", "culvert-st-udp", "culvert-st-tcp") for t in trows):
    w("\n## Transports\n")
    w("culvert's carriers beside each other, from the tunnel table above: WireGuard over UDP, TCP\n"
      "and ICMP echo and in tap mode (Ethernet frames over UDP), simpletun over UDP, TCP and ICMP\n"
      "echo; and ptunnel-ng, which carries TCP connections (not packets) over ICMP echo, so has no\n"
      "ping RTT.\n")
    w("| tunnel | carries | over | Gbit/s | RTT ms | vs its UDP row | vs ptunnel-ng |")
    w("|---|---|---|---:|---:|---:|---:|")
    for n, what, over, udp in trows:
        gb, r = by[n]
        rtt = "(%s)" % notes[n] if n in notes else fmt(r, "%.3f")
        vs_udp = ratio(gb, g(udp)) if udp and udp != n else "-"
        vs_pt = ratio(gb, g("ptunnel-ng")) if over == "ICMP echo" and n != "ptunnel-ng" else "-"
        w("| %s | %s | %s | %s | %s | %s | %s |" % (n, what, over, gbit(gb), rtt, vs_udp, vs_pt))


def same_load(n, base):
    """The wireguard-go row (OLD or NEW) at the same kind of load as row n."""
    return base + "-capped" if n.endswith("-capped") else base


wgs = [b_ for b_ in (OLD, NEW) if b_ in load or b_ + "-capped" in load]


def load_table(head, key, f, extra=()):
    w("| tunnel | " + " | ".join(head) + "".join(" | %s vs %s" % (key[0], label(b_)) for b_ in wgs) + " |")
    w("|---|" + "---:|" * (len(head) + len(wgs)))
    for n, d in load.items():
        cells = [fmt(d[k], f) if k != "gbit" else fmt(d[k]) for k in key[1]]
        rat = [ratio(key[2](d), key[2](load.get(same_load(n, b_)))) for b_ in wgs]
        w("| %s | %s |" % (label(n), " | ".join(cells + rat)))


if load:
    runs_l = max(load_runs.values())
    w("\n## Latency under load\n")
    w("Ping through the tunnel (every 100 ms) while one iperf3 TCP stream saturates it (the\n"
      "`-capped` rows: the same stream capped at %s, so that the tunnels compared carry the same\n"
      "load). Ratios compare like with like: saturating with saturating, capped with capped.\n%s"
      % (info.get("load_cap", "one rate"),
         ("Each ran %d times, interleaved with the tunnels above; medians.\n" % runs_l) if runs_l > 1 else ""))
    load_table(("Gbit/s during", "idle RTT ms", "loaded RTT avg ms", "loaded RTT max ms"),
               ("avg", ("gbit", "idle", "avg", "max"), lambda d: d and d["avg"]), "%.3f")
    for b_ in wgs:
        cw, cc = load.get("culvert-wg"), load.get("culvert-wg-capped")
        wb, wc = load.get(b_), load.get(b_ + "-capped")
        line = "\nTarget: culvert-wg's average RTT under load <= %s's:" % label(b_)
        if cw and wb:
            line += " saturating each: %s (%s)" % (verdict(cmp(cw["avg"], wb["avg"])), ratio(cw["avg"], wb["avg"]))
        if cc and wc:
            line += "%s at the same offered load: %s (%s)" % (";" if cw and wb else "",
                                                           verdict(cmp(cc["avg"], wc["avg"])), ratio(cc["avg"], wc["avg"]))
        w(line + ".")
    w("")

    w("\n## CPU per Gbit/s\n")
    w("The daemons' own CPU time (utime + stime from /proc/PID/stat, all threads) over the transfer\n"
      "divided by the gigabits moved: CPU seconds per gigabit, which is also cores per Gbit/s. The\n"
      "capped rows (%s offered to each) compare the tunnels at equal load.\n" % info.get("load_cap", "one rate"))
    load_table(("both ends", "sender", "receiver"), ("both", ("cpu", "cpu_s", "cpu_r"), lambda d: d and d["cpu"]), "%.3f")
    cc = load.get("culvert-wg-capped")
    for b_ in wgs:
        wc = load.get(b_ + "-capped")
        if wc and cc:
            w("\nTarget: culvert-wg <= a third of %s's CPU per Gbit at the same offered load: %s (%s)."
              % (label(b_), verdict(cmp(cc["cpu"], wc["cpu"], True, 1 / 3)), ratio(cc["cpu"], wc["cpu"])))
            # Equal load only if both carried it: one that falls short spends more per gigabit.
            if wc["gbit"] and cc["gbit"] and wc["gbit"] < 0.95 * cc["gbit"]:
                w("%s carried %.2f Gbit/s of the %s offered (median), culvert-wg %.2f: the load was not "
                  "equal, and a tunnel short of the offered rate spends more per gigabit, so this ratio "
                  "flatters culvert-wg." % (label(b_), wc["gbit"], info.get("load_cap", "rate"), cc["gbit"]))
    sc = load.get("culvert-st-udp-capped")
    if sc and cc and sc["cpu"] and cc["cpu"]:
        add = cc["cpu"] - sc["cpu"]
        w("\nThe same engine carrying the same load in plaintext (`culvert simpletun --udp`, no crypto,\n"
          "no WireGuard framing) spent %.3f CPU-s per Gbit: culvert-wg's encryption and protocol add\n"
          "%.3f (%.0f%% of its %.3f). Whatever the AEAD costs, culvert-wg cannot spend less than the\n"
          "plaintext row." % (sc["cpu"], add, 100 * add / cc["cpu"], cc["cpu"]))
    w("")

    w("\n## Memory under load\n")
    w("VmRSS of each daemon sampled mid-transfer, and VmHWM (its peak) after it, in KB.\n")
    pk = lambda d: d and (max(d["hwm_s"] or 0, d["hwm_r"] or 0) or None)
    load_table(("sender RSS", "receiver RSS", "sender peak", "receiver peak"),
               ("peak", ("rss_s", "rss_r", "hwm_s", "hwm_r"), pk), "%.0f")
    for b_ in wgs:
        w("\nTarget: culvert-wg's peak RSS <= %s's: %s (%s)."
          % (label(b_), verdict(cmp(pk(load.get("culvert-wg")), pk(load.get(b_)))),
             ratio(pk(load.get("culvert-wg")), pk(load.get(b_)))))
    w("")

w("\n## Scale\n")
s = scale.get
n_peers = s("peers")
w("`bench/scale.sh`: %s peers with random public keys (a /32 and a /128 each) loaded into one\n"
  "culvert daemon by `wg setconf`; the handshake figures come from `tests/unit/test_hsbench.c`\n"
  "(one thread, CPU time, initiation + response with MACs and session keys, 8 X25519 operations\n"
  "a pair); the 10k throughput from `culvert-wg-10k` in the tunnel table above.\n"
  % ("%.0f" % n_peers if n_peers else "FAIL:"))
N = "{:,}".format(int(n_peers)) if n_peers else "N"
tp10k = g("culvert-wg-10k") / g("culvert-wg") if g("culvert-wg-10k") is not None and g("culvert-wg") else None
w("| measure | value | target | |")
w("|---|---:|---|---|")
scale_rows = (
    ("`wg setconf` of %s peers" % N, s("setconf_s"), "%.3f s", "< 1 s", lambda v: v < 1.0),
    ("memory per peer (VmRSS with %s peers - with 0) / %s" % (N, N), s("bytes_per_peer"), "%.0f bytes",
     "< 2048 bytes", lambda v: v < 2048),
    ("throughput to one peer with 10,000 configured / with 1", tp10k, "%.2f", ">= 0.90", lambda v: v >= 0.90),
    ("handshakes per second, one core", s("hs_pairs"), "%.0f /s", "", None),
    ("X25519 ops/s through crypto_x25519()", s("x25519_ops"), "%.0f /s", "", None),
    ("handshakes / (crypto_x25519 ops/s / 8)", s("hs_ratio"), "%.2f", ">= 0.5", lambda v: v >= 0.5),
    ("libcrypto's bare X25519 derive, ops/s", s("x25519_raw_ops"), "%.0f /s", "", None),
    ("handshakes / (bare X25519 ops/s / 8)", s("hs_raw_ratio"), "%.2f", ">= 0.5 (stricter reading)",
     lambda v: v >= 0.5),
    ("`wg show dump` of %s peers" % N, s("show_s"), "%.3f s", "", None),
    ("daemon VmRSS with 0 peers", s("rss0_kb"), "%.0f KB", "", None),
    ("daemon VmRSS with %s peers" % N, s("rss_kb"), "%.0f KB", "", None),
)
for desc, v, f, target, ok in scale_rows:
    w("| %s | %s | %s | %s |" % (desc, fmt(v, f), target, verdict(ok(v) if ok and v is not None else (False if ok else None))))
w("")

# bench/flood.sh writes its own section (make bench-flood); keep it
try:
    m = re.search(r"\n## Under a handshake flood\n.*?(?=\n## |\Z)", open(md).read(), re.S)
except FileNotFoundError:
    m = None
if m:
    out += [m.group(0).strip("\n"), ""]
with open(md, "w") as f:
    f.write("\n".join(out))
with open(dat, "w") as f:
    for n, gb, r in rows:
        f.write('"%s" %s %s\n' % (n, gb if gb is not None else 0, r if r is not None else 0))
