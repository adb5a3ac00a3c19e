#!/bin/bash
# bench/report.py on fixed bench output: every wireguard-go ratio names its version, the
# headline compares with the current wireguard-go when it ran, and a run without it says so.
# No namespaces: the bench path itself (ta/tb) is shared, and make bench exercises it.
source "$(dirname "$0")/lib.sh"
R=$TOP/bench/report.py

# a run with Debian's wireguard-go only, as bench/peers.sh prints it without WGGO_NEW
cat >"$T_DIR/old.txt" <<'OUT'
bench commit 1234abc
bench load_cap 200M
version wireguard-go 0.0.20220316
wireguard-go-new skipped: WGGO_NEW is not set; bench/README.md says how to build a current wireguard-go
raw-veth          10.00 Gbit/s  rtt 0.050 ms
wireguard-go       0.50 Gbit/s  rtt 0.400 ms
culvert-wg         4.00 Gbit/s  rtt 0.200 ms
OUT
python3 "$R" "$T_DIR/old.txt" "$T_DIR/old.md" "$T_DIR/old.dat" 5 >/dev/null 2>&1
check "report without the current wireguard-go writes results" test -s "$T_DIR/old.md"
check "it says plainly that the current wireguard-go was not measured" \
	grep -q 'The current wireguard-go was not measured in this run.*WGGO_NEW is not set' "$T_DIR/old.md"
check "its headline names Debian's version and gives the ratio" \
	grep -q '^| one TCP stream, Gbit/s (median) | 4.00 | 0.50 | 8.00x |' "$T_DIR/old.md"
check "its headline is against wireguard-go 0.0.20220316" \
	grep -q '^## Headline: culvert-wg against wireguard-go 0.0.20220316' "$T_DIR/old.md"

# a run with both, two rounds, and the capped load runs twice each
cat >"$T_DIR/new.txt" <<'OUT'
bench commit 1234abc
bench load_cap 1G
version wireguard-go 0.0.20220316
version wireguard-go-new 0.0.20250522
raw-veth          10.00 Gbit/s  rtt 0.050 ms
wireguard-go       0.50 Gbit/s  rtt 0.400 ms
wireguard-go-new   2.00 Gbit/s  rtt 0.500 ms
culvert-wg         4.00 Gbit/s  rtt 0.200 ms
load-wireguard-go-new-capped   0.95 Gbit/s  rtt_idle 0.5 ms  rtt_load 2.0 ms max 8 ms  cpu_s_per_gbit 1.200 send 0.6 recv 0.6  rss_kb 18000 20000 hwm_kb 19000 21000
load-culvert-wg-capped   0.95 Gbit/s  rtt_idle 0.2 ms  rtt_load 0.5 ms max 2 ms  cpu_s_per_gbit 0.400 send 0.2 recv 0.2  rss_kb 7000 7000 hwm_kb 7000 7000
load-culvert-st-udp-capped   0.95 Gbit/s  rtt_idle 0.2 ms  rtt_load 0.4 ms max 2 ms  cpu_s_per_gbit 0.300 send 0.1 recv 0.2  rss_kb 7000 7000 hwm_kb 7000 7000
raw-veth          12.00 Gbit/s  rtt 0.050 ms
wireguard-go       0.60 Gbit/s  rtt 0.400 ms
wireguard-go-new   3.00 Gbit/s  rtt 0.500 ms
culvert-wg         5.00 Gbit/s  rtt 0.200 ms
load-wireguard-go-new-capped   0.95 Gbit/s  rtt_idle 0.5 ms  rtt_load 2.0 ms max 8 ms  cpu_s_per_gbit 1.600 send 0.8 recv 0.8  rss_kb 18000 20000 hwm_kb 19000 21000
load-culvert-wg-capped   0.95 Gbit/s  rtt_idle 0.2 ms  rtt_load 0.5 ms max 2 ms  cpu_s_per_gbit 0.600 send 0.3 recv 0.3  rss_kb 7000 7000 hwm_kb 7000 7000
OUT
python3 "$R" "$T_DIR/new.txt" "$T_DIR/new.md" "$T_DIR/new.dat" 5 >/dev/null 2>&1
check "report with the current wireguard-go writes results" test -s "$T_DIR/new.md"
check_not "it does not call the current wireguard-go missing" grep -q 'not measured' "$T_DIR/new.md"
check "its headline is against wireguard-go 0.0.20250522" \
	grep -q '^## Headline: culvert-wg against wireguard-go 0.0.20250522' "$T_DIR/new.md"
# medians: culvert-wg 4.5, current wireguard-go 2.5 -> 1.80x
check "headline throughput ratio is of the medians" \
	grep -q '^| one TCP stream, Gbit/s (median) | 4.50 | 2.50 | 1.80x |' "$T_DIR/new.md"
# CPU at the capped load: medians 0.5 and 1.4 -> 0.36x
check "headline CPU per Gbit is at the same offered load (1G), medians of the load runs" \
	grep -q '^| CPU s per Gbit, both daemons, at the same offered load (1G) | 0.500 | 1.400 | 0.36x |' "$T_DIR/new.md"
# the plaintext engine at the same load: 0.300 of culvert-wg's 0.500, so the crypto adds 0.200
check "the CPU section gives the engine's plaintext cost and what the crypto adds" \
	grep -q 'no WireGuard framing) spent 0.300 CPU-s per Gbit: culvert-wg.s encryption and protocol add' "$T_DIR/new.md"
check "what the crypto adds is the difference of the medians" grep -q '^0.200 (40% of its 0.500)' "$T_DIR/new.md"
check "the tunnel table has a column for each wireguard-go version" \
	grep -q '| vs wireguard-go 0.0.20220316 | vs wireguard-go 0.0.20250522 |' "$T_DIR/new.md"
check "the 2.5x target names the current version" \
	grep -q '^| culvert-wg throughput >= 2.5x wireguard-go 0.0.20250522 | 1.80x | \*\*not met\*\* |' "$T_DIR/new.md"
# culvert's carriers, in another order than the report's, ptunnel-ng (no ping through it), an
# ICMP row whose culvert lacks the option, and culvert-wg-tap in two rounds
cat >"$T_DIR/tr.txt" <<'OUT'
bench commit 1234abc
version wireguard-go-new 0.0.20250522
raw-veth          10.00 Gbit/s  rtt 0.050 ms
wireguard-go-new   2.00 Gbit/s  rtt 0.500 ms
culvert-wg-tap     3.00 Gbit/s  rtt 0.250 ms
ptunnel-ng       0.000500 Gbit/s  (TCP only: no ping through it)
culvert-st-icmp    1.00 Gbit/s  rtt 0.150 ms
culvert-wg         4.00 Gbit/s  rtt 0.200 ms
culvert-wg-icmp    FAIL Gbit/s  (culvert wg has no --transport icmp)
culvert-st-udp     5.00 Gbit/s  rtt 0.100 ms
culvert-wg-tcp     2.00 Gbit/s  rtt 0.300 ms
culvert-wg-tap     1.00 Gbit/s  rtt 0.350 ms
OUT
python3 "$R" "$T_DIR/tr.txt" "$T_DIR/tr.md" "$T_DIR/tr.dat" 5 >/dev/null 2>&1
check "report with the carriers writes results" test -s "$T_DIR/tr.md"
# the tunnel table's rows in order (line 1 is its header, 2 raw-veth, 3 wireguard-go)
sed -n '/^## Tunnels/,/^| target/p' "$T_DIR/tr.md" | awk -F' [|] ' '/^[|] [a-z]/ {print $1}' | tr -d '| ' >"$T_DIR/tr.rows"
check "culvert-wg's carriers sit together where culvert-wg's family first appeared (udp, tcp, icmp, tap)" \
	test "$(grep -n . "$T_DIR/tr.rows" | grep -E 'culvert-wg(-|$)' | tr '\n' ' ')" = \
	"4:culvert-wg 5:culvert-wg-tcp 6:culvert-wg-icmp 7:culvert-wg-tap "
check "simpletun's carriers sit together (udp before icmp)" \
	test "$(grep culvert-st "$T_DIR/tr.rows" | tr '\n' ' ')" = "culvert-st-udp culvert-st-icmp "
check "culvert-wg-tap is the median of its two runs, with their range" \
	grep -q '^| culvert-wg-tap | 2.00 | 1.00-3.00 | 0.300 |' "$T_DIR/tr.md"
check "a missing ICMP transport is a FAIL row that says which option is missing" \
	grep -q '^| culvert-wg-icmp | FAIL | - | (culvert wg has no --transport icmp) |' "$T_DIR/tr.md"
check "ptunnel-ng's sub-megabit throughput keeps its digits, and it has no RTT" \
	grep -q '^| ptunnel-ng | 0.0005 | - | (TCP only: no ping through it) | <0.01x |' "$T_DIR/tr.md"
check "the report has a Transports table" grep -q '^## Transports' "$T_DIR/tr.md"
check "each carrier against its family's UDP row: culvert-wg-tcp 0.50x" \
	grep -q '^| culvert-wg-tcp | IP packets, WireGuard | TCP | 2.00 | 0.300 | 0.50x | - |' "$T_DIR/tr.md"
check "tap mode against UDP: 0.50x" \
	grep -q '^| culvert-wg-tap | Ethernet frames, WireGuard | UDP | 2.00 | 0.300 | 0.50x | - |' "$T_DIR/tr.md"
check "an ICMP carrier against its UDP row and against ptunnel-ng" \
	grep -q '^| culvert-st-icmp | IP packets, unencrypted | ICMP echo | 1.00 | 0.150 | 0.20x | 2000x |' "$T_DIR/tr.md"
check "the plot data has a bar for ptunnel-ng" grep -q '^"ptunnel-ng" 0.0005 0$' "$T_DIR/tr.dat"
check_not "a run of UDP rows only has no Transports table" grep -q '^## Transports' "$T_DIR/new.md"
check "make bench needs nothing outside the repository" \
	bash -c "! grep -n 'shared/bench' '$TOP/bench/run.sh' '$TOP/bench/peers.sh' '$TOP/bench/netns.sh' '$TOP/bench/profile.sh'"
t_done
