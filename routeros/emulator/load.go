package emulator

import (
	"math"
	"strconv"
	"time"

	"github.com/wanctl/wanctl/routeros"
)

// loadPacket is the packet size the offered-load counters assume: full
// Ethernet frames, what a bulk transfer sends.
const loadPacket = 1500

// queueLoad is the traffic offered to one queue-tree entry (SetQueueLoad).
type queueLoad struct {
	offered int64     // bits/s
	at      time.Time // counters accounted up to here
	bits    float64   // bits passed but not yet whole bytes
	pktRem  int64     // bytes passed but not yet a whole packet
}

// SetQueueLoad offers bits/s of traffic to the queue-tree entry with that
// name: from now on its bytes and packets counters grow at
// min(offered, max-limit) (max-limit 0 is unlimited; a disabled queue
// passes nothing), and its rate and packet-rate show that throughput. The
// counters are brought up to date whenever they are read or anything that
// moves them changes (a PATCH of max-limit, reset-counters,
// SetQueueStats), from the time elapsed on Config.Now, so a test's clock
// decides how much passed. The load follows the name (a queue removed and
// added again keeps it); 0 stops it.
func (e *Emulator) SetQueueLoad(name string, offered int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.accrueLoads()
	if offered <= 0 {
		if l := e.loads[name]; l != nil {
			delete(e.loads, name)
			if o := e.findByName(routeros.MenuQueueTree, name); o != nil {
				o["rate"], o["packet-rate"] = "0", "0"
			}
		}
		return
	}
	if e.loads == nil {
		e.loads = map[string]*queueLoad{}
	}
	l := e.loads[name]
	if l == nil {
		l = &queueLoad{at: e.now()}
		e.loads[name] = l
	}
	l.offered = offered
	e.accrueLoads() // shows the new rate at once
}

// accrueLoads adds what each loaded queue passed since it was last
// accounted to its counters. The caller holds e.mu.
func (e *Emulator) accrueLoads() {
	if len(e.loads) == 0 {
		return
	}
	now := e.now()
	for name, l := range e.loads {
		dt := now.Sub(l.at)
		if dt < 0 {
			dt = 0 // a clock that went back: nothing passed
		}
		l.at = now
		o := e.findByName(routeros.MenuQueueTree, name)
		if o == nil {
			continue
		}
		through := l.offered
		if ml, err := routeros.ParseRate(o["max-limit"]); err == nil && ml > 0 {
			through = min(through, ml)
		}
		if b, _ := routeros.ParseBool(o["disabled"]); b {
			through = 0
		}
		l.bits += float64(through) * dt.Seconds()
		whole := math.Floor(l.bits / 8)
		l.bits -= whole * 8
		add := int64(whole)
		l.pktRem += add
		pkts := l.pktRem / loadPacket
		l.pktRem -= pkts * loadPacket
		o["bytes"] = strconv.FormatInt(counter(o["bytes"])+add, 10)
		o["packets"] = strconv.FormatInt(counter(o["packets"])+pkts, 10)
		o["rate"] = strconv.FormatInt(through, 10)
		o["packet-rate"] = strconv.FormatInt(through/(8*loadPacket), 10)
	}
}

// counter reads a stored counter; anything unreadable counts as 0.
func counter(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
