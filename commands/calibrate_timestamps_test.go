package commands

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/ping"
)

// TestCalibrateTimestampsLoopback calibrates a WAN with timestamps against
// real loopback reflectors with the real bursts (only watched): the kernel
// answers type 13 for 127.0.0.0/8 with stamped replies, ::1 gets echo, so
// no echo burst follows and nothing is flagged.
func TestCalibrateTimestampsLoopback(t *testing.T) {
	cfg, stateDir, _ := calibConfig(t, `"127.0.0.1", "127.0.0.2", "::1"`, "    timestamps = true")
	deps := &calibrateDeps{}
	defer deps.defaultBursts(slog.New(slog.DiscardHandler))()
	stampBurst, burst := deps.stampBurst, deps.burst
	var got []ping.Reply
	echoBursts := 0
	deps.stampBurst = func(ctx context.Context, w *config.WAN, count int, interval, timeout time.Duration) ([]ping.Reply, ping.Stats, error) {
		rs, st, err := stampBurst(ctx, w, count, interval, timeout)
		got = rs
		return rs, st, err
	}
	deps.burst = func(ctx context.Context, w *config.WAN, count int, interval, timeout time.Duration) ([]ping.Reply, ping.Stats, error) {
		echoBursts++
		return burst(ctx, w, count, interval, timeout)
	}
	out, errb := &safeBuffer{}, &safeBuffer{}
	code := Run([]string{"wanctl", "calibrate", "-config", cfg, "-duration", "500ms"}, IO{Out: out, Err: errb, Getenv: func(string) string { return "" }, calibrate: deps})
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if len(got) == 0 || echoBursts != 0 {
		t.Fatalf("%d replies to the timestamp burst, %d echo bursts", len(got), echoBursts)
	}
	for _, r := range got {
		if r.Stamped != r.Target.Is4() {
			t.Errorf("reply %+v: want IPv4 ones stamped, IPv6 ones not", r)
		}
	}
	if !strings.Contains(out.String(), "WAN lo: 3 reflectors, 500ms at 40 pings/s, timestamp requests\n") {
		t.Errorf("header:\n%s", out)
	}
	for _, a := range []string{"127.0.0.1", "127.0.0.2", "::1"} {
		if line := reflectorLine(out.String(), a); !strings.HasSuffix(line, "  ok") {
			t.Errorf("reflector %s: %q, want ok\n%s", a, line, out)
		}
	}
	if strings.Contains(out.String(), "flagged") || strings.Contains(errb.String(), "no timestamp request") {
		t.Errorf("loopback flagged:\n%s\n%s", out, errb)
	}
	st, err := autorate.ReadState(autorate.StatePath(stateDir, "lo"))
	if err != nil || len(st.Reflectors) != 3 {
		t.Fatalf("state %+v %v", st, err)
	}
}

// reflectorLine is the table row of reflector addr ("" if none).
func reflectorLine(out, addr string) string {
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, addr+" ") {
			return strings.TrimRight(l, "\n")
		}
	}
	return ""
}

// TestCalibrateTimestampsFlags fakes the bursts of a WAN with timestamps:
// one reflector answers timestamp requests, one only echo (measured again
// with echo and flagged), one sends non-standard stamps, one answers
// nothing, and an IPv6 one answers the echo requests it gets.
func TestCalibrateTimestampsFlags(t *testing.T) {
	const (
		good     = "192.0.2.1"
		echoOnly = "192.0.2.2"
		nonStd   = "192.0.2.3"
		dead     = "192.0.2.4"
		v6       = "2001:db8::1"
	)
	all := `"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "2001:db8::1"`
	// answer fakes a burst to w's reflectors: reflector a answers every
	// request when answers(a), stamped when stamped(a).
	answer := func(w *config.WAN, count int, answers, stamped func(netip.Addr) bool) ([]ping.Reply, ping.Stats) {
		var rs []ping.Reply
		var st ping.Stats
		for _, a := range w.Measurement.Reflectors {
			ts := ping.TargetStats{Target: a, Sent: uint64(count)}
			if answers(a) {
				i := slices.Index(autorateReflectors(all), a)
				for k := range count {
					rs = append(rs, ping.Reply{Target: a, RTT: time.Duration(10+i) * time.Millisecond * time.Duration(1+k%2), Stamped: stamped(a)})
				}
				ts.Replies = uint64(count)
				if stamped(a) {
					ts.Stamped = uint64(count)
				}
			} else {
				ts.Timeouts = uint64(count)
			}
			st.Targets = append(st.Targets, ts)
		}
		return rs, st
	}
	is := func(as ...string) func(netip.Addr) bool {
		return func(a netip.Addr) bool { return slices.Contains(as, a.String()) }
	}
	var stampCalls, echoCalls [][]netip.Addr
	var echoCount int
	var echoInterval time.Duration
	deps := &calibrateDeps{
		now: func() time.Time { return time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC) },
		stampBurst: func(ctx context.Context, w *config.WAN, count int, interval, timeout time.Duration) ([]ping.Reply, ping.Stats, error) {
			stampCalls = append(stampCalls, w.Measurement.Reflectors)
			rs, st := answer(w, count, is(good, nonStd, v6), is(good))
			return rs, st, nil
		},
		burst: func(ctx context.Context, w *config.WAN, count int, interval, timeout time.Duration) ([]ping.Reply, ping.Stats, error) {
			echoCalls = append(echoCalls, w.Measurement.Reflectors)
			echoCount, echoInterval = count, interval
			rs, st := answer(w, count, is(good, echoOnly, nonStd, v6), is())
			return rs, st, nil
		},
	}

	cfg, stateDir, _ := calibConfig(t, all, "    timestamps = true")
	out, errb := &safeBuffer{}, &safeBuffer{}
	code := Run([]string{"wanctl", "calibrate", "-config", cfg, "-duration", "3s"}, IO{Out: out, Err: errb, Getenv: func(string) string { return "" }, calibrate: deps})
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if len(stampCalls) != 1 || len(stampCalls[0]) != 5 {
		t.Fatalf("timestamp bursts to %v, want one to the 5 reflectors", stampCalls)
	}
	// 5 reflectors at 40/s: one round every 125 ms, 24 rounds in 3 s; the
	// echo burst keeps that per-reflector rate.
	if want := mustAddrList(echoOnly, dead); len(echoCalls) != 1 || !slices.Equal(echoCalls[0], want) || echoCount != 24 || echoInterval != 125*time.Millisecond {
		t.Fatalf("echo bursts to %v (count %d, interval %v), want one to %v (24 rounds, 125ms)", echoCalls, echoCount, echoInterval, want)
	}
	if !strings.Contains(errb.String(), "wan lo: 192.0.2.2, 192.0.2.4 answered no timestamp request; pinging with echo requests for another 3s...") {
		t.Errorf("stderr lacks the second measurement:\n%s", errb)
	}
	for _, c := range []struct{ addr, note string }{
		{good, "  ok"},
		{echoOnly, "  ignores timestamps"},
		{nonStd, "  non-standard timestamps"},
		{dead, "  no replies"},
		{v6, "  ok"},
	} {
		t.Run(c.addr, func(t *testing.T) {
			line := reflectorLine(out.String(), c.addr)
			if !strings.HasSuffix(line, c.note) {
				t.Errorf("row %q, want note %q", line, strings.TrimSpace(c.note))
			}
			// Every answering reflector has RTT statistics, the
			// re-measured one from its echo replies.
			if c.addr != dead && !strings.Contains(line, " 24 ") {
				t.Errorf("row %q, want 24 replies", line)
			}
		})
	}
	want := "3 reflector(s) flagged: consider replacing them in measurement.reflectors (the median tolerates one bad reflector, not several). " +
		"2 of them without one-way delays (the daemon would count their RTTs in both directions): replace them, or set timestamps = false in the WAN's measurement block.\n"
	if !strings.Contains(out.String(), "WAN lo: 5 reflectors, 3s at 40 pings/s, timestamp requests\n") || !strings.Contains(out.String(), want) {
		t.Errorf("output lacks the header or %q:\n%s", want, out)
	}
	st, err := autorate.ReadState(autorate.StatePath(stateDir, "lo"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range st.Reflectors {
		got = append(got, r.Address)
	}
	// The reflector that ignores timestamps has its echo baseline (11 ms:
	// the 10th percentile of 11 and 22 ms); the dead one none.
	if !slices.Equal(got, []string{good, echoOnly, nonStd, v6}) || st.Reflectors[1].BaselineRTTMs != 11 {
		t.Errorf("state reflectors %+v", st.Reflectors)
	}

	// A WAN without timestamps never sends timestamp requests.
	cfg, _, _ = calibConfig(t, all)
	stampCalls, echoCalls = nil, nil
	out, errb = &safeBuffer{}, &safeBuffer{}
	Run([]string{"wanctl", "calibrate", "-config", cfg, "-duration", "3s"}, IO{Out: out, Err: errb, Getenv: func(string) string { return "" }, calibrate: deps})
	if len(stampCalls) != 0 || len(echoCalls) != 1 || strings.Contains(out.String(), "timestamp") {
		t.Errorf("without timestamps: %d timestamp bursts, %d echo bursts\n%s", len(stampCalls), len(echoCalls), out)
	}
}

func mustAddrList(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// autorateReflectors parses a calibConfig reflector list.
func autorateReflectors(list string) []netip.Addr {
	var out []netip.Addr
	for f := range strings.SplitSeq(list, ",") {
		out = append(out, netip.MustParseAddr(strings.Trim(strings.TrimSpace(f), `"`)))
	}
	return out
}

// calibrateNoRawEnv names the config that the child process of
// TestCalibrateTimestampsNoRawSocket calibrates.
const calibrateNoRawEnv = "WANCTL_CALIBRATE_TEST_NORAW_CONFIG"

// Without CAP_NET_RAW (the test binary run again under setpriv, without it
// in its bounding set) a WAN with timestamps cannot be measured, and the
// error says how to grant it or to turn timestamps off.
func TestCalibrateTimestampsNoRawSocket(t *testing.T) {
	if cfg := os.Getenv(calibrateNoRawEnv); cfg != "" {
		// The child: the real calibrate, its exit status for the parent.
		os.Exit(Run([]string{"wanctl", "calibrate", "-config", cfg, "-duration", "100ms"},
			IO{Out: os.Stdout, Err: os.Stderr, Getenv: func(string) string { return "" }}))
	}
	cfg, _, _ := calibConfig(t, `"127.0.0.1"`, "    timestamps = true")
	cmd := exec.Command("setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--",
		os.Args[0], "-test.run=^TestCalibrateTimestampsNoRawSocket$")
	cmd.Env = append(os.Environ(), calibrateNoRawEnv+"="+cfg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("calibrate without CAP_NET_RAW: %v, want exit status 1\n%s\n%s", err, &out, &errb)
	}
	for _, want := range []string{"wan lo: ping: not permitted to open a raw IPv4 ICMP socket, which ICMP timestamp requests need", "AmbientCapabilities=CAP_NET_RAW", "turn timestamps off", "calibration failed for 1 of 1 WANs"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, &errb)
		}
	}
}
