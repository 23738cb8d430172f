package testbed

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/wanctl/wanctl/sim"
)

// frame builds an Ethernet + IPv4 frame around payload.
func frame(proto byte, payload []byte, flagsFrag uint16) []byte {
	f := make([]byte, ethHeader+20+len(payload))
	binary.BigEndian.PutUint16(f[12:], etherTypeIPv4)
	ip := f[ethHeader:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(ip[6:], flagsFrag)
	ip[8], ip[9] = 64, proto
	copy(ip[12:], []byte{10, 71, 1, 2, 10, 71, 3, 2})
	copy(ip[20:], payload)
	return f
}

// verifies reports whether a frame's TCP/UDP checksum is right: the
// one's-complement sum over the pseudo-header and the segment, checksum
// included, is 0xffff. Written word by word, independently of onesSum.
func verifies(f []byte) bool {
	ip := f[ethHeader:]
	seg := ip[20:]
	var sum uint32
	for i := 12; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	sum += uint32(ip[9]) + uint32(len(seg))
	for i := 0; i+1 < len(seg); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(seg[i:]))
	}
	if len(seg)%2 == 1 {
		sum += uint32(seg[len(seg)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

func TestCompleteChecksum(t *testing.T) {
	body := make([]byte, 1001) // odd: the last byte is padded
	for i := range body {
		body[i] = byte(i*7 + 3)
	}
	for _, tc := range []struct {
		name  string
		proto byte
		frag  uint16
		fixed bool
	}{
		{"tcp", protoTCP, 0x4000, true}, // DF set, not a fragment
		{"udp", protoUDP, 0, true},
		{"icmp untouched", protoICMP, 0, false},
		{"fragment untouched", protoTCP, 0x2000, false}, // MF
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := frame(tc.proto, body, tc.frag)
			// A partial checksum, as a veth hands it over: not the full one.
			off := map[byte]int{protoTCP: 16, protoUDP: 6, protoICMP: 2}[tc.proto]
			binary.BigEndian.PutUint16(f[ethHeader+20+off:], 0x1234)
			changed := completeChecksum(f)
			if changed != tc.fixed {
				t.Fatalf("completeChecksum changed = %v, want %v", changed, tc.fixed)
			}
			if tc.fixed && !verifies(f) {
				t.Errorf("checksum %#04x does not verify", binary.BigEndian.Uint16(f[ethHeader+20+off:]))
			}
			if tc.fixed && completeChecksum(f) {
				t.Error("a complete checksum was changed again")
			}
		})
	}
}

func TestIsEchoRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    []byte
		want bool
	}{
		{"echo request", frame(protoICMP, []byte{8, 0, 0, 0, 0, 1, 0, 1}, 0), true},
		{"echo reply", frame(protoICMP, []byte{0, 0, 0, 0, 0, 1, 0, 1}, 0), false},
		{"timestamp request", frame(protoICMP, append([]byte{13, 0, 0, 0, 0, 1, 0, 1}, make([]byte, 12)...), 0), true},
		{"timestamp reply", frame(protoICMP, append([]byte{14, 0, 0, 0, 0, 1, 0, 1}, make([]byte, 12)...), 0), false},
		{"udp", frame(protoUDP, make([]byte, 8), 0), false},
		{"truncated", frame(protoICMP, []byte{8}, 0)[:ethHeader+10], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isEchoRequest(tc.f); got != tc.want {
				t.Errorf("isEchoRequest = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestScore checks the simulator's rules on probe samples: a load onset at
// 1 s with 2 s of 100 ms delay after it, a capacity drop at 5 s with 0.5 s
// of it, and 0.3 s of it in the idle phase after the load, which no score
// counts.
func TestScore(t *testing.T) {
	var capacity sim.Profile
	capacity.Step = true
	capacity.Points = []sim.Point{{At: 0, V: 1e7}, {At: 5 * time.Second, V: 5e6}}
	sc := &sim.Scenario{Name: "t", Duration: 10 * time.Second, Nominal: [2]float64{1e7, 1e7},
		Capacity: [2]sim.Profile{capacity, sim.Const(1e7)},
		Loaded:   [2][]sim.Span{{{Start: time.Second, End: 9 * time.Second}}, {{Start: time.Second, End: 9 * time.Second}}},
		RTTShift: sim.Const(0), ICMPLoss: sim.Const(0)}
	var samples []delaySample
	for at := time.Duration(0); at < sc.Duration; at += 10 * time.Millisecond {
		d := 0.5
		if (at >= time.Second && at < 3*time.Second) || (at >= 5*time.Second && at < 5500*time.Millisecond) ||
			(at >= 9200*time.Millisecond && at < 9500*time.Millisecond) {
			d = 100
		}
		samples = append(samples, delaySample{At: at, Delay: d})
	}
	if ev := sim.RecoveryEvents(sc, sim.Download); len(ev) != 2 || ev[0] != 1000 || ev[1] != 5000 {
		t.Fatalf("events %v, want [1000 5000] (the onset, the drop)", ev)
	}
	s := score(sc, sim.Download, samples, 7e7, 8e7, 36, 15*time.Millisecond)
	if s.Utilisation != 0.875 {
		t.Errorf("utilisation %v, want 0.875", s.Utilisation)
	}
	if s.RecoveryS != 2 {
		t.Errorf("recovery %v s, want 2 (the delay falls below target 2 s after the onset)", s.RecoveryS)
	}
	if s.AboveMaxS != 2 || s.AboveMeanS != 1.25 {
		t.Errorf("above 2 x target: worst event %v s, mean %v s; want 2 and 1.25 (the idle phase's 0.3 s not counted)", s.AboveMaxS, s.AboveMeanS)
	}
	if !slices.Equal(s.AboveEventsS, []float64{2, 0.5}) {
		t.Errorf("above 2 x target per event %v s, want [2 0.5]", s.AboveEventsS)
	}
	// 800 loaded samples, 250 of them at 100 ms: p50 is idle, p95 bloated.
	if s.AddedDelayMS.P50 != 0.5 || s.AddedDelayMS.P95 != 100 {
		t.Errorf("percentiles %+v, want p50 0.5 and p95 100", s.AddedDelayMS)
	}
	if want := 36 / sc.Duration.Hours(); s.WritesPerHour != want {
		t.Errorf("writes/h %v, want %v", s.WritesPerHour, want)
	}
}

func TestStaleName(t *testing.T) {
	for name, want := range map[string]bool{
		"wtb123-lan1":  true,
		"wtb9-srv12":   true,
		"wtb-lan1":     false,
		"wping123-1":   false,
		"wtb123-lan1x": true,
		"wtb123":       false,
	} {
		if got := staleName.MatchString(name); got != want {
			t.Errorf("%s: stale-name match %v, want %v", name, got, want)
		}
	}
}
