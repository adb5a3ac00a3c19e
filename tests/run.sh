#!/bin/bash
# Runs every test and ends with "N passed, N failed". Phases: unit (cmocka), the same unit tests
# under ASan+UBSan and under TSan, a short libFuzzer run of every fuzz target, end-to-end scripts
# in namespaces.
# Usage: tests/run.sh [unit|asan|tsan|fuzz|e2e]... [-k PATTERN]   (default: all phases)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}; case $B in /*) ;; *) B=$top/$B ;; esac
logs=$B/test-logs; mkdir -p "$logs"
export B CULVERT=$B/culvert CULVERT_TOP=$top
phases=() pattern=
while [ $# -gt 0 ]; do
	case "$1" in -k) pattern=$2; shift 2 ;; *) phases+=("$1"); shift ;; esac
done
[ ${#phases[@]} -eq 0 ] && phases=(unit asan tsan fuzz e2e)
passed=0 failed=0 skipped=0 failures=() skips=()

note_fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL: $1"; }

# cmocka prints "[  PASSED  ] N test(s).", "[  FAILED  ] N test(s), listed below:" and
# "[  SKIPPED ] N test(s), listed below:". A skipped case (one that needs root, run as a user)
# counts as neither: it is listed at the end.
run_cmocka() { # LABEL [WRAPPER...] BIN
	local log=$logs/$1.log p f s rc
	mkdir -p "$(dirname "$log")"
	CMOCKA_MESSAGE_OUTPUT=stdout timeout 120 "${@:2}" >"$log" 2>&1; rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	passed=$((passed + ${p:-0}))
	[ -n "$s" ] && [ "$s" -gt 0 ] && { skipped=$((skipped + s)); skips+=("$1 ($s cases)"); }
	if [ -n "$f" ] && [ "$f" -gt 0 ]; then
		failed=$((failed + f)); failures+=("$1 ($f cases)")
		grep -E '^\[  (FAILED|ERROR) +\]|error:|Error' "$log" | head -20
	elif [ $rc -ne 0 ] || [ -z "$p" ]; then
		note_fail "$1 (exit $rc, see $log)"; tail -20 "$log"
	fi
	echo "$1: ${p:-0} passed, ${f:-0} failed${s:+, $s skipped}"
}

phase_unit() {
	for t in "$B"/tests/test_*; do
		[ -x "$t" ] || continue
		[ -n "$pattern" ] && [[ $t != *$pattern* ]] && continue
		run_cmocka "unit/$(basename "$t")" "$t"
	done
}

phase_asan() {
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	for t in "$B"/asan/tests/test_*; do
		[ -x "$t" ] || continue
		[ -n "$pattern" ] && [[ $t != *$pattern* ]] && continue
		run_cmocka "asan/$(basename "$t")" "$t"
	done
	unset ASAN_OPTIONS UBSAN_OPTIONS
}

# Every unit test under ThreadSanitizer (the multi-threaded ones are the point: test_wg_threads,
# test_device_threads, test_ratelimiter, test_uapi_client); a race report fails the binary
# (exit 66) even when its cases pass. TSan's shadow memory wants a fixed address layout, which
# some kernels' ASLR (vm.mmap_rnd_bits > 28) breaks, so the binaries run with ASLR off for them
# alone when setarch can do that.
phase_tsan() {
	local wrap=()
	setarch "$(uname -m)" -R true 2>/dev/null && wrap=(setarch "$(uname -m)" -R)
	export TSAN_OPTIONS=exitcode=66:second_deadlock_stack=1:history_size=4
	for t in "$B"/tsan/tests/test_*; do
		[ -x "$t" ] || continue
		[ -n "$pattern" ] && [[ $t != *$pattern* ]] && continue
		run_cmocka "tsan/$(basename "$t")" "${wrap[@]}" "$t"
		grep -E '^SUMMARY: ThreadSanitizer' "$logs/tsan/$(basename "$t").log" | sort | uniq -c | head -20
	done
	unset TSAN_OPTIONS
}

# Each fuzz target runs a bounded time from its seed corpus; a crash or leak fails it.
phase_fuzz() {
	for t in "$B"/fuzz/fuzz_*; do
		[ -x "$t" ] || continue
		local n; n=$(basename "$t")
		[ -n "$pattern" ] && [[ $n != *$pattern* ]] && continue
		local corpus=$logs/corpus-$n; rm -rf "$corpus"; mkdir -p "$corpus"
		[ -d "$top/fuzz/corpus/$n" ] && cp -r "$top/fuzz/corpus/$n/." "$corpus/"
		if (cd "$logs" && timeout 120 "$t" -max_total_time="${FUZZ_SECONDS:-8}" -max_len=4096 \
			"$corpus" >"$logs/fuzz-$n.log" 2>&1); then
			passed=$((passed + 1)); echo "PASS: fuzz/$n"
		else
			note_fail "fuzz/$n (see $logs/fuzz-$n.log)"; tail -30 "$logs/fuzz-$n.log"
		fi
	done
}

# An e2e script prints "PASS: name" / "FAIL: name" lines; a script that exits non-zero without a
# FAIL line, or asserts nothing, counts as one failure.
phase_e2e() {
	if [ "$(id -u)" != 0 ]; then
		note_fail "e2e (needs root for network namespaces)"; return
	fi
	for s in "$top"/tests/e2e/[0-9a-z]*.sh; do
		local n; n=$(basename "$s" .sh)
		[ "$n" = lib ] && continue
		[ -n "$pattern" ] && [[ $n != *$pattern* ]] && continue
		echo "== e2e/$n"
		local log=$logs/e2e-$n.log rc p f t0=$SECONDS
		timeout "${E2E_TIMEOUT:-300}" bash "$s" >"$log" 2>&1; rc=$?
		# each script's time, so a slow one shows against the suite's 30-minute budget
		echo "== e2e/$n took $((SECONDS - t0)) s"
		p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log")
		grep -E '^(PASS|FAIL): ' "$log" | sed -E "s#^(PASS|FAIL): #\\1: e2e/$n/#"
		grep '^SLOW: ' "$log" | sed "s#^SLOW: #slow: e2e/$n: #"
		passed=$((passed + p)); failed=$((failed + f))
		if [ "$f" -gt 0 ]; then
			while IFS= read -r l; do failures+=("e2e/$n/${l#FAIL: }"); done < <(grep '^FAIL: ' "$log")
			tail -40 "$log"
		fi
		if [ $rc -eq 124 ]; then
			note_fail "e2e/$n (timed out after ${E2E_TIMEOUT:-300} s; see $log)"; tail -40 "$log"
		elif [ "$f" -eq 0 ] && { [ $rc -ne 0 ] || [ "$p" -eq 0 ]; }; then
			note_fail "e2e/$n (exit $rc with $p verdicts and no FAIL line; see $log)"; tail -40 "$log"
		fi
	done
}

start=$(date +%s)
for ph in "${phases[@]}"; do
	echo "=== $ph"
	"phase_$ph"
done
echo "=== done in $(( $(date +%s) - start ))s"
for f in "${skips[@]}"; do echo "skipped: $f"; done
[ "$skipped" -gt 0 ] && echo "$skipped skipped (not counted as passed)"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
