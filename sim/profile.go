package sim

import (
	"fmt"
	"math"
	"time"
)

// Point is one breakpoint of a Profile.
type Point struct {
	At time.Duration // since the start of the run
	V  float64
}

// Profile is a function of virtual time given by breakpoints in strictly
// increasing time order. Before the first point it has the first point's
// value, after the last the last one's. Between points it is linear, or held
// at the earlier point's value when Step is set (a CSV trace).
type Profile struct {
	Points []Point
	Step   bool
}

// Const is a profile with one value for all time.
func Const(v float64) Profile { return Profile{Points: []Point{{0, v}}} }

// validate checks the breakpoints: at least one, strictly increasing times,
// finite values within [lo, hi].
func (p *Profile) validate(what string, lo, hi float64) error {
	if len(p.Points) == 0 {
		return fmt.Errorf("%s: profile has no points", what)
	}
	for i, pt := range p.Points {
		if math.IsNaN(pt.V) || math.IsInf(pt.V, 0) || pt.V < lo || pt.V > hi {
			return fmt.Errorf("%s: value %g at %v is outside [%g, %g]", what, pt.V, pt.At, lo, hi)
		}
		if pt.At < 0 {
			return fmt.Errorf("%s: point at negative time %v", what, pt.At)
		}
		if i > 0 && pt.At <= p.Points[i-1].At {
			return fmt.Errorf("%s: point times must strictly increase (%v after %v)", what, pt.At, p.Points[i-1].At)
		}
	}
	return nil
}

// At evaluates the profile at t (any order; O(log n)).
func (p *Profile) At(t time.Duration) float64 {
	c := cursor{p: p}
	lo, hi := 0, len(p.Points)
	for lo < hi { // first point after t
		m := (lo + hi) / 2
		if p.Points[m].At <= t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	c.i = max(lo-1, 0)
	return c.at(t)
}

// cursor evaluates a profile at non-decreasing times in amortised O(1)
// without allocating: the 1 ms physics loop uses one per profile.
type cursor struct {
	p *Profile
	i int // index of the last point at or before the previous t
}

func (c *cursor) at(t time.Duration) float64 {
	pts := c.p.Points
	for c.i+1 < len(pts) && pts[c.i+1].At <= t {
		c.i++
	}
	a := pts[c.i]
	if t <= a.At || c.i+1 == len(pts) || c.p.Step {
		return a.V
	}
	b := pts[c.i+1]
	f := float64(t-a.At) / float64(b.At-a.At)
	return a.V + (b.V-a.V)*f
}

// builder appends breakpoints, keeping times strictly increasing: a point at
// or before the previous one moves to 1 ms after it. Scenario code uses it
// to describe shapes without fencepost bookkeeping.
type builder struct{ pts []Point }

func (b *builder) add(at time.Duration, v float64) {
	if n := len(b.pts); n > 0 && at <= b.pts[n-1].At {
		at = b.pts[n-1].At + time.Millisecond
	}
	b.pts = append(b.pts, Point{at, v})
}

// step holds the previous value until at, then jumps to v.
func (b *builder) step(at time.Duration, v float64) {
	if n := len(b.pts); n > 0 && b.pts[n-1].At < at-time.Millisecond {
		b.add(at-time.Millisecond, b.pts[n-1].V)
	}
	b.add(at, v)
}

func (b *builder) profile() Profile { return Profile{Points: b.pts} }
