package sim

import (
	"time"

	"github.com/wanctl/wanctl/loops/autorate"
)

// loadReadInterval and loadReadLatency: how often the simulated daemon
// reads the queue counters and how long the GET takes (TEMPORARY: the
// load branch brings the daemon's own).
const (
	loadReadInterval = 500 * time.Millisecond
	loadReadLatency  = 30 * time.Millisecond
)

type simLoad struct {
	next    time.Time
	pending [2]autorate.LoadReading
	due     time.Time
	have    bool
	cur     [2]autorate.LoadReading
}

func (s *simLoad) Load() [2]autorate.LoadReading { return s.cur }

func (s *simLoad) tick(in Input) {
	if s.have && !in.Now.Before(s.due) {
		s.cur, s.have = s.pending, false
	}
	if !s.have && !in.Now.Before(s.next) {
		at := in.Now.Add(loadReadLatency)
		for d := range 2 {
			s.pending[d] = autorate.LoadReading{Bytes: uint64(in.ShapedBits[d] / 8), At: at}
		}
		s.due, s.have = at, true
		s.next = in.Now.Add(loadReadInterval)
	}
}
