#!/bin/bash
# make demo as a new user runs it: it succeeds, pings and measures across the tunnel, and prints
# no warning (its keys are written under umask 077, so nothing complains of readable secrets).
source "$(dirname "$0")/lib.sh"

B="$B" timeout 120 bash "$TOP/tests/demo.sh" >"$T_DIR/demo.log" 2>&1; rc=$?
check "make demo exits 0" [ $rc -eq 0 ]
check "demo pings across the tunnel" grep -q "3 packets transmitted, 3 received" "$T_DIR/demo.log"
check "demo measures throughput" grep -qE "Gbits/sec .*receiver" "$T_DIR/demo.log"
check_not "demo prints no warning" grep -qi "warning" "$T_DIR/demo.log"
grep -i warning "$T_DIR/demo.log" | head -3
t_done
