package autorate

import "strings"

// Rule names one of the controller's rules beyond the zone rules of
// docs/autorate.md's "Zones and rates", so that the bench can measure what
// each one is worth: the robustness matrix is run with each rule removed
// (BENCHMARKS.md, "Ablation"). The daemon never disables any.
type Rule uint32

// The rules that can be removed.
const (
	// RuleCapacityCut: a cut aims below the capacity estimated from the
	// queue's growth, by a margin that drains it (without it the zones'
	// factor_down moves alone).
	RuleCapacityCut Rule = 1 << iota
	// RuleRepeatGate: a repeated decrease in the same zone waits for
	// replies that show the previous cut was not enough (cutMayDo).
	RuleRepeatGate
	// RuleOtherProbe: a YELLOW right after the other direction raised is
	// blamed on that raise, and this direction holds.
	RuleOtherProbe
	// RuleTurns: the two directions take turns to raise (othersTurn).
	RuleTurns
	// RuleOwnProbeCut: a raise whose queue grows is cut at once, before
	// dwell_cycles above target_bloat (probeOvershot).
	RuleOwnProbeCut
	// RuleClimbLimit: GREEN climbs at most one growing jump above the
	// router's rate, and slowly near the capacity estimate.
	RuleClimbLimit
	// RuleHoldReturn: after a cut GREEN returns at once to just below the
	// estimated capacity.
	RuleHoldReturn
	// RuleSilenceUndo: at the loss of signal, raises that have not held
	// are undone.
	RuleSilenceUndo
	// RuleSilenceDecrease: RED and SOFT_RED go on decreasing through a
	// loss of signal.
	RuleSilenceDecrease
	// RuleLateRequests: requests in flight longer than the replies show
	// count as delay in the raw delta.
	RuleLateRequests
	// RuleFastFall: the loaded delta follows a falling raw delta at once
	// instead of through load_time_constant.
	RuleFastFall
	// RuleNoise: growth and lateness must stand out from the measured
	// jitter to count.
	RuleNoise

	ruleEnd
)

var ruleNames = [...]string{
	"capacity-cut", "repeat-gate", "other-probe", "turns", "own-probe-cut", "climb-limit",
	"hold-return", "silence-undo", "silence-decrease", "late-requests", "fast-fall", "noise",
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
	c.est.noNoise = r&RuleNoise != 0 || c.est.noNoise
	c.est.noLate = r&RuleLateRequests != 0 || c.est.noLate
}

// on reports whether rule r is in force.
func (c *Controller) on(r Rule) bool { return c.off&r == 0 }
