#!/bin/bash
# daemon-cost.sh: CPU time, wake-ups and peak memory of a running
# `wanctl autorate`, measured the same way for any daemon-like program.
#
#   scripts/daemon-cost.sh [SECONDS] [RUNS]
#
# By default it is self-contained: it starts `$BIN emulator` (no latency) on
# 127.0.0.1:$EMU_PORT, writes a configuration with $WANS WANs (default 2),
# each pinging 4 loopback reflectors (127.0.0.x) at $PING_RATE per second
# (default 20), runs `$BIN apply -auto-approve` on it, then RUNS times
# (default 5): starts `$BIN autorate`, lets it settle for $WARMUP seconds
# (default 3), measures it over SECONDS (default 30), stops it with SIGTERM.
# It prints one line per run and the median with the range:
#
#   run 1/5: cpu=0.412% of one core  wakeups=61/s  VmHWM=19876kB  VmRSS=19020kB
#   median of 5: cpu=0.405% (0.391..0.447)  wakeups=60/s (58..63)  VmHWM=19876kB (19700..20100)
#
# CPU time is the sum over the process's threads of the first field of
# /proc/<pid>/task/*/schedstat (nanoseconds on a CPU, exact, unlike the
# tick-sampled /proc/<pid>/stat) over the wall time, in % of one core.
# wakeups counts the threads' context switches per second (voluntary and
# not): how often the process was scheduled, which is what an idle
# daemon's CPU time is made of, and which other jobs disturb little.
#
# Environment:
#   BIN        wanctl binary (default: built from this checkout into a
#              temporary directory)
#   CONFIG     measure `$BIN autorate -config $CONFIG` with your own
#              configuration instead (no emulator, no apply): its routers
#              must answer, its state_dir and lock_dir must be writable
#   DAEMON     measure this command instead of `$BIN autorate` (e.g. the
#              floor program: DAEMON=/tmp/daemon-floor, see
#              scripts/daemon-floor.go); no emulator, no configuration
#   ARGS       extra arguments for `autorate` (e.g. "-wan one")
#   WANS, PING_RATE, INTERVAL (default 50ms), EMU_PORT (default 18180),
#   LISTEN_PORT (default 19180), WARMUP, LOG (daemon log, default /dev/null)
#   REPLY_DELAY  run everything in a new network namespace where
#              scripts/echo-responder.go answers the pings after this delay
#              (e.g. 20ms; plus up to REPLY_SPREAD, default 12ms, per
#              reflector) instead of the kernel at once: replies then arrive
#              between the ticks, as on a real link (needs root)
#
# The daemon needs ICMP: root, or net.ipv4.ping_group_range covering its
# group. It pings loopback addresses only.
set -euo pipefail
dur=${1:-30}
runs=${2:-5}
wans=${WANS:-2}
rate=${PING_RATE:-20}
interval=${INTERVAL:-50ms}
warmup=${WARMUP:-3}
log=${LOG:-/dev/null}
emu_port=${EMU_PORT:-18180}
listen_port=${LISTEN_PORT:-19180}

work=$(mktemp -d /tmp/daemon-cost.XXXXXX)
emu_pid=
cleanup() {
	if [ -n "$emu_pid" ]; then
		kill "$emu_pid" 2>/dev/null || true
		wait "$emu_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# REPLY_DELAY: re-run this script inside a network namespace of its own whose
# kernel does not answer pings; scripts/echo-responder.go answers them from
# user space after REPLY_DELAY (+ up to REPLY_SPREAD per reflector), so that
# replies arrive between the ticks as on a real link.
if [ -n "${REPLY_DELAY:-}" ] && [ -z "${DAEMON_COST_NETNS:-}" ]; then
	ns=wanctl-cost-$$
	resp_pid=
	(cd "$(dirname "$0")/.." && go build -o "$work/echo-responder" scripts/echo-responder.go)
	ip netns add "$ns"
	trap '[ -z "$resp_pid" ] || kill "$resp_pid" 2>/dev/null || true; ip netns del "$ns"; cleanup' EXIT
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv4.icmp_echo_ignore_all=1
	ip netns exec "$ns" "$work/echo-responder" -delay "$REPLY_DELAY" -spread "${REPLY_SPREAD:-12ms}" &
	resp_pid=$!
	DAEMON_COST_NETNS=$ns ip netns exec "$ns" "$0" "$@"
	exit
fi

if [ -z "${BIN:-}" ] && [ -z "${DAEMON:-}" ]; then
	(cd "$(dirname "$0")/.." && go build -o "$work/wanctl" .)
	BIN=$work/wanctl
fi

cfg=${CONFIG:-}
if [ -z "$cfg" ] && [ -z "${DAEMON:-}" ]; then
	cfg=$work/wanctl.hcl
	{
		cat <<EOF
router "edge" {
  url      = "http://127.0.0.1:$emu_port"
  username = "wanctl"
  password = "wanctl"
  # The emulator's default firewall FastTracks; nothing is forwarded here.
  allow_fasttrack = true
}

daemon {
  state_dir = "$work/state"
  lock_dir  = "$work/run"
  listen    = "127.0.0.1:$listen_port"
  interval  = "$interval"
}
EOF
		for w in $(seq 1 "$wans"); do
			r=$((4 * (w - 1)))
			cat <<EOF

wan "wan$w" {
  router    = "edge"
  interface = "ether$w"
  measurement {
    reflectors = ["127.0.0.$((r + 1))", "127.0.0.$((r + 2))", "127.0.0.$((r + 3))", "127.0.0.$((r + 4))"]
    ping_rate  = $rate
  }
  download {
    ceiling = "500M"
  }
  upload {
    ceiling = "20M"
  }
}
EOF
		done
	} >"$cfg"
	chmod 600 "$cfg" # it holds the emulator's password
	env -u WANCTL_CPUPROFILE "$BIN" emulator -listen "127.0.0.1:$emu_port" -latency 0 >"$work/emulator.log" 2>&1 &
	emu_pid=$!
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$emu_port") 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	if ! env -u WANCTL_CPUPROFILE "$BIN" apply -config "$cfg" -auto-approve >"$work/apply.log" 2>&1; then
		echo "apply failed:" >&2
		cat "$work/apply.log" "$work/emulator.log" >&2
		exit 1
	fi
fi

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

results=$work/results
: >"$results"
for run in $(seq 1 "$runs"); do
	if [ -n "${DAEMON:-}" ]; then
		# shellcheck disable=SC2086
		$DAEMON >>"$log" 2>&1 &
	else
		# shellcheck disable=SC2086
		"$BIN" autorate -config "$cfg" ${ARGS:-} >>"$log" 2>&1 &
	fi
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
	echo "run $run/$runs: cpu=${pct}% of one core  wakeups=${wps}/s  VmHWM=${hwm}kB  VmRSS=${rss}kB"
	echo "$pct $wps $hwm" >>"$results"
done

median() { # column $1 of $results: median$2 (min..max)
	sort -g -k"$1","$1" "$results" | awk -v c="$1" -v u="$2" '{v[NR] = $c}
		END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s%s (%s..%s)", m, u, v[1], v[NR]}'
}
echo "median of $runs: cpu=$(median 1 %)  wakeups=$(median 2 /s)  VmHWM=$(median 3 kB)"
