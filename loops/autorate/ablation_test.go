package autorate

import "testing"

func TestRuleNames(t *testing.T) {
	rs := Rules()
	if len(rs) != len(ruleNames) {
		t.Fatalf("Rules() has %d rules, ruleNames %d", len(rs), len(ruleNames))
	}
	for _, r := range rs {
		got, ok := ParseRule(r.String())
		if !ok || got != r {
			t.Errorf("ParseRule(%q) = %v, %v; want %v", r.String(), got, ok, r)
		}
	}
	if s := (RuleTurns | RuleFastFall).String(); s != "turns+fast-fall" {
		t.Errorf("String of two rules = %q", s)
	}
	if _, ok := ParseRule("nope"); ok {
		t.Error("ParseRule accepted an unknown name")
	}
}

// A controller with every rule removed still decides without allocating,
// and one without the capacity cut falls back to factor_down.
func TestDisableRules(t *testing.T) {
	c := NewController(testWAN())
	c.Disable(Rule(ruleEnd - 1))
	if c.on(RuleTurns) || c.on(RuleFastFall) || !c.legs[0].est.noLate {
		t.Fatalf("Disable(all) left rules on: off=%v", c.off)
	}
	c.Disable(0)
	if c.off != ruleEnd-1 {
		t.Fatalf("Disable(0) changed the set: %v", c.off)
	}
}

// Removing the fast fall leaves the loaded delta on its EWMA when the raw
// delta drops: the rule is what makes it follow at once.
func TestDisableFastFall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		disable Rule
		atOnce  bool
	}{
		{"in force", 0, true},
		{"removed", RuleFastFall, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testWAN())
			h.c.Disable(tc.disable)
			h.cycles(40, 40*ms)
			d := h.cycle(0)
			if got := d.Delta == 0; got != tc.atOnce {
				t.Fatalf("loaded delta after the raw delta fell to 0: %v", d.Delta)
			}
		})
	}
}

func TestStepAllocatesNothingWithRulesRemoved(t *testing.T) {
	h := newHarness(t, testWAN())
	h.c.Disable(ruleEnd - 1)
	if n := testing.AllocsPerRun(1000, func() { h.cycle(7 * ms) }); n != 0 {
		t.Fatalf("Step allocates %v times per cycle", n)
	}
}
