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
check "the tunnel table has a column for each wireguard-go version" \
	grep -q '| vs wireguard-go 0.0.20220316 | vs wireguard-go 0.0.20250522 |' "$T_DIR/new.md"
check "the 2.5x target names the current version" \
	grep -q '^| culvert-wg throughput >= 2.5x wireguard-go 0.0.20250522 | 1.80x | \*\*not met\*\* |' "$T_DIR/new.md"
check "make bench needs nothing outside the repository" \
	bash -c "! grep -n 'shared/bench' '$TOP/bench/run.sh' '$TOP/bench/peers.sh' '$TOP/bench/netns.sh' '$TOP/bench/profile.sh'"
t_done
