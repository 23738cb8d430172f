#!/bin/bash
# daemon-cost.sh: CPU and peak memory of a running `wanctl autorate`.
#
#   scripts/daemon-cost.sh [CONFIG] [SECONDS] [RUNS]
#
# Starts `$BIN autorate -config CONFIG` (BIN default: wanctl on PATH), lets
# it settle for $WARMUP seconds (default 3), then measures its CPU time over
# SECONDS (default 30) from /proc/<pid>/task/*/schedstat (the first field is
# the nanoseconds each thread spent on a CPU, exact, unlike the tick-sampled
# /proc/<pid>/stat), stops it with SIGTERM and prints one line per run:
#
#   wanctl.hcl run 1/3: cpu=0.412% of one core  wakeups=61/s  VmHWM=19876kB  VmRSS=19020kB
#
# wakeups counts the threads' context switches per second (voluntary and
# not): how often the process was scheduled, which is what its CPU time on
# a mostly idle machine is made of, and which other jobs do not disturb.
# CONFIG's routers must answer (a `wanctl emulator` will do, see
# BENCHMARKS.md "Daemon cost"), its state_dir and lock_dir must be writable
# and its reflectors must answer pings (127.0.0.x do). Extra arguments for
# the daemon go in ARGS (e.g. ARGS="-wan one"); its log goes to $LOG
# (default: /dev/null). Run it as the user the daemon would run as.
set -euo pipefail
cfg=${1:-/etc/wanctl/wanctl.hcl}
dur=${2:-30}
runs=${3:-1}
bin=${BIN:-wanctl}
warmup=${WARMUP:-3}
log=${LOG:-/dev/null}

cpu_ns() { # sum of the first schedstat field over the process's threads
	local t=0 a
	for f in /proc/"$1"/task/*/schedstat; do
		read -r a _ <"$f" || continue
		t=$((t + a))
	done
	echo "$t"
}

wakeups() { # context switches of the process's threads: how often they ran
	cat /proc/"$1"/task/*/status 2>/dev/null |
		awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {n += $2} END {print n + 0}'
}

for run in $(seq 1 "$runs"); do
	# shellcheck disable=SC2086
	"$bin" autorate -config "$cfg" ${ARGS:-} >>"$log" 2>&1 &
	pid=$!
	sleep "$warmup"
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "daemon exited during warm-up; see its log (LOG=/tmp/daemon.log $0 ...)" >&2
		exit 1
	fi
	a=$(cpu_ns "$pid")
	wa=$(wakeups "$pid")
	t0=$(date +%s%N)
	sleep "$dur"
	b=$(cpu_ns "$pid")
	wb=$(wakeups "$pid")
	t1=$(date +%s%N)
	hwm=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status)
	rss=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)
	kill -TERM "$pid"
	wait "$pid" || true
	# CPU ns / wall ns, in percent of one core, 3 decimals.
	pct=$(awk -v c=$((b - a)) -v w=$((t1 - t0)) 'BEGIN { printf "%.3f", 100 * c / w }')
	wps=$(awk -v n=$((wb - wa)) -v w=$((t1 - t0)) 'BEGIN { printf "%.0f", n * 1e9 / w }')
	echo "$(basename "$cfg") run $run/$runs: cpu=${pct}% of one core  wakeups=${wps}/s  VmHWM=${hwm}kB  VmRSS=${rss}kB"
done
