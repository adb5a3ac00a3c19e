# Sourced by bench/peers.sh: the bench path and the helpers every run_NAME uses.
# Two hosts, namespaces ta and tb, joined by one veth pair va <-> vb: underlay 198.18.0.1 and
# 198.18.0.2, tunnel addresses 198.19.0.1 and 198.19.0.2 (the benchmarking ranges of RFC 2544).
# The names are fixed so that every tunnel, culvert's and the peers', crosses the same path;
# bench/run.sh waits while another run holds them.
# Needs $W (scratch directory) and $secs (seconds per transfer) from the caller.

# bench_ns_wait: until no one else holds ta and tb (10 min at most). ns_up deletes them first,
# so starting while another run uses them would break that run. A lock directory (with the
# holder's pid, so a dead holder's is taken over) orders runs of this harness; the namespace
# check also waits for other harnesses (the shared cross-check peers.sh). bench_ns_unlock
# releases the lock.
bench_lock=/run/lock/culvert-bench-ns
bench_ns_wait() {
	local i held
	for i in $(seq 120); do
		if mkdir "$bench_lock" 2>/dev/null; then
			echo $$ >"$bench_lock/pid"
			ip netns list 2>/dev/null | grep -qE '^t[ab]( |$)' || return 0
			bench_ns_unlock
		else
			held=$(cat "$bench_lock/pid" 2>/dev/null)
			[ -n "$held" ] && ! kill -0 "$held" 2>/dev/null && { rm -rf "$bench_lock"; continue; }
		fi
		[ "$i" = 1 ] && echo "bench: namespaces ta/tb are in use (another bench run?); waiting up to 10 min" >&2
		sleep 5
	done
	echo "bench: ta/tb still in use after 10 min; not starting" >&2
	return 1
}
bench_ns_unlock() { [ "$(cat "$bench_lock/pid" 2>/dev/null)" = $$ ] && rm -rf "$bench_lock"; true; }

bench_ns_down() { ip netns del ta 2>/dev/null; ip netns del tb 2>/dev/null; true; }

ns_up() {
	bench_ns_down
	ip netns add ta && ip netns add tb || return 1
	ip link add va netns ta type veth peer name vb netns tb || return 1
	ip -n ta addr add 198.18.0.1/24 dev va
	ip -n tb addr add 198.18.0.2/24 dev vb
	local n
	for n in ta tb; do ip -n $n link set lo up; done
	ip -n ta link set va up; ip -n tb link set vb up
}

# ns_ifup NS DEV ADDR: DEV up in NS with ADDR/24
ns_ifup() { ip -n "$1" link set "$2" up && ip -n "$1" addr add "$3/24" dev "$2"; }

# bg CMD...: a daemon for this tunnel; its output goes to $W/log, cleanup ends it
bench_pids=()
bg() { "$@" >>"$W/log" 2>&1 & bench_pids+=($!); }

# cleanup: end this tunnel's daemons (only the ones bg started), then drop the namespaces
cleanup() {
	local p= i
	for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null; done
	# gone before the next tunnel reuses the names and ports (3 s, then KILL)
	for i in $(seq 30); do
		for p in "${bench_pids[@]}"; do kill -0 "$p" 2>/dev/null && break; p=; done
		[ -z "$p" ] && break
		sleep 0.1
	done
	for p in "${bench_pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	bench_pids=()
	bench_ns_down
}

# wait_ping ADDR: until ADDR answers from ta (10 s at most)
wait_ping() {
	local i
	for i in $(seq 50); do
		ip netns exec ta ping -c 1 -W 1 "$1" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# iperf_run ADDR SECS [iperf3 client options]: one TCP stream ta -> tb; prints Gbit/s
# (received) and both ends' CPU share as iperf3 reports it, or FAIL
iperf_run() {
	rm -f "$W/iperf-s.pid"
	ip netns exec tb iperf3 -s -1 -D -B "$1" -I "$W/iperf-s.pid" >/dev/null 2>&1
	sleep 0.3
	# iperf3 3.12 exits 0 with -J even when it cannot connect: the JSON says whether it ran
	ip netns exec ta iperf3 -c "$1" -t "${2:-5}" -J ${3:-} >"$W/iperf.json" 2>/dev/null
	python3 - "$W/iperf.json" <<-'PY' && return 0
	import json, sys
	try:
	    end = json.load(open(sys.argv[1]))["end"]
	    s = end.get("sum_received") or end["sum"]
	    c = end["cpu_utilization_percent"]
	except (ValueError, KeyError):
	    sys.exit(1)
	g = s["bits_per_second"] / 1e9
	# two decimals, or three significant digits for the slowest tunnels (ptunnel-ng, < 0.01)
	print("%s cpu_send=%.0f%% cpu_recv=%.0f%%" % ("%.2f" % g if g >= 0.01 else "%.3g" % g, c["host_total"], c["remote_total"]))
	PY
	# the server waits for its one client forever: do not leave it behind
	[ -s "$W/iperf-s.pid" ] && kill "$(cat "$W/iperf-s.pid")" 2>/dev/null
	echo FAIL
	return 1
}

# measure NAME ADDR: the line bench/report.py reads, "NAME  G Gbit/s  rtt R ms": R is the
# average of 20 idle pings, G one stream for $secs
measure() {
	local g rtt
	wait_ping "$2"
	rtt=$(ip netns exec ta ping -c 20 -i 0.05 -q "$2" 2>/dev/null | awk -F/ '/^rtt/{print $5}')
	g=$(iperf_run "$2" "$secs" | awk '{print $1}')
	printf "%-16s %6s Gbit/s  rtt %s ms\n" "$1" "${g:-FAIL}" "${rtt:-FAIL}"
}
