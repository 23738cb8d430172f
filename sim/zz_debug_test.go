package sim

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/wanctl/wanctl/loops/autorate"
)

func TestZZDebug(t *testing.T) {
	name := os.Getenv("SC")
	if name == "" {
		return
	}
	seed, _ := strconv.Atoi(os.Getenv("SEED"))
	if seed == 0 {
		seed = 1
	}
	from, _ := strconv.ParseFloat(os.Getenv("FROM"), 64)
	to, _ := strconv.ParseFloat(os.Getenv("TO"), 64)
	dir := 0
	if os.Getenv("DIR") == "up" {
		dir = 1
	}
	w, interval := defaultWAN(t)
	sc, err := NewScenario(name, NominalCapacity(w), 0, int64(seed))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := NewWanctl(w)
	p.OnCycle(func(now time.Time, d autorate.Decision) {
		s := now.Sub(Epoch).Seconds()
		if s < from || s > to {
			return
		}
		c := p.Loop().Controller()
		a, at, ok := c.Achieved(dir == 1)
		dd := d.Dir(dir == 1)
		capa := sc.Capacity[dir].At(now.Sub(Epoch))
		fmt.Printf("%7.2f %-8s rate %6.1f cap %6.1f ach %6.1f(%v,%4.0fms) raw %5.1f load %5.1f g%d %s\n", s, dd.Zone, float64(dd.Rate)/1e6, capa/1e6, a/1e6, ok, now.Sub(at).Seconds()*1000, float64(d.RawDelta)/1e6, float64(d.Delta)/1e6, dd.GreenStreak, dd.Action)
	})
	if _, err := Evaluate(sc, OptionsFromWAN(w, interval), p); err != nil {
		t.Fatal(err)
	}
}
