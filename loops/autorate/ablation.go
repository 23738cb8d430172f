package autorate

import "strings"

// Rule names one of the controller's rules beyond the zone rules of
// docs/autorate.md ("Zones", "Rates"), so that the bench can measure what
// each one is worth: the robustness matrix is run with each rule removed
// (BENCHMARKS.md, "Ablation"). The daemon never disables any.
type Rule uint32

// The rules that can be removed.
const (
	// RuleCapacityCut: a cut aims below the capacity estimated from the
	// queue's growth (without it the zones' factors move alone).
	RuleCapacityCut Rule = 1 << iota
	// RuleLoadEstimate: a direction that delivered clearly less than its
	// rate while the queue stood estimates the capacity from the counters.
	RuleLoadEstimate
	// RuleDrain: the cut goes below the estimate by a margin that drains
	// the standing queue (without it: the smallest margin).
	RuleDrain
	// RuleRepeatGate: a repeated decrease in the same zone waits while the
	// queue drains by itself.
	RuleRepeatGate
	// RuleLoadGate: GREEN raises only while the direction is loaded.
	RuleLoadGate
	// RuleIdleRelax: an idle direction relaxes to the last rate that held.
	RuleIdleRelax
	// RuleTurns: the two directions take turns to raise.
	RuleTurns
	// RuleOwnProbeCut: a raise whose queue grows is cut at once.
	RuleOwnProbeCut
	// RuleClimbLimit: GREEN climbs at most maxJump above the router's
	// rate (the slower probing near the estimate is RuleTurns').
	RuleClimbLimit
	// RuleHoldReturn: after a cut GREEN returns at once to just below the
	// estimated capacity.
	RuleHoldReturn
	// RuleSilenceDecrease: RED and SOFT_RED go on decreasing through a
	// loss of signal.
	RuleSilenceDecrease
	// RuleLateRequests: requests in flight longer than the replies show
	// count as delay in the raw delta.
	RuleLateRequests
	// RuleFastFall: the loaded delta follows a falling raw delta at once.
	RuleFastFall
	// RuleJitterFloor: the zones judge the delay above the jitter every
	// reply carries.
	RuleJitterFloor
	// RuleProbeJump: after an own probe's overshoot the next raises are
	// small, growing with each that holds.
	RuleProbeJump
	// RuleFallbackReturn: while only the TCP fallback measures, GREEN
	// returns to just below the last rate that held.
	RuleFallbackReturn
	// RuleProbeFloor: an own-probe cut goes no lower than the rate the
	// raise started from.
	RuleProbeFloor

	ruleEnd
)

var ruleNames = [...]string{
	"capacity-cut", "load-estimate", "drain", "repeat-gate", "load-gate", "idle-relax", "turns",
	"own-probe-cut", "climb-limit", "hold-return", "silence-decrease", "late-requests", "fast-fall", "jitter-floor",
	"probe-jump", "fallback-return", "probe-floor",
}

// Rules lists every rule that can be removed, in order.
func Rules() []Rule {
	var rs []Rule
	for r := Rule(1); r < ruleEnd; r <<= 1 {
		rs = append(rs, r)
	}
	return rs
}

func (r Rule) String() string {
	var names []string
	for i, n := range ruleNames {
		if r&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "+")
}

// ParseRule is the inverse of String for one rule's name.
func ParseRule(s string) (Rule, bool) {
	for i, n := range ruleNames {
		if n == s {
			return 1 << i, true
		}
	}
	return 0, false
}

// Disable removes rules from the controller (the bench's ablation); it
// keeps what was disabled before.
func (c *Controller) Disable(r Rule) {
	c.off |= r
	for k := range c.legs {
		c.legs[k].est.noLate = c.off&RuleLateRequests != 0
	}
}

// on reports whether rule r is in force.
func (c *Controller) on(r Rule) bool { return c.off&r == 0 }
