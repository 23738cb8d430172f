//go:build reliability

package reliability

import (
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/wanctl/wanctl/routeros/emulator"
)

// faultKinds are the emulator's faults as the matrix injects them into a
// write: every kind, every odd body, and a reply over the object cap.
// Without a duration the hanging kinds hold until the client gives up.
var faultKinds = []string{
	"5xx", "hang", "drop", "400applied", "hangapplied", "stall", "big:2M",
	"body:empty", "body:null", "body:object", "body:error",
}

// writeVerbs are the methods apply writes with: PUT adds, PATCH sets,
// DELETE removes, POST moves rules.
var writeVerbs = []string{http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodPost}

// scenario is a router state and the example's apply from it.
type scenario struct {
	name string
	// start brings a fresh router to the scenario's starting state.
	start func(r *router)
}

// drifted is the example as it was before an edit: another cake overhead,
// another address, the rules in another order with one more, and a
// renamed queue type. Applying the example from it uses every write verb.
func drifted(r *router) {
	r.t.Helper()
	old := r.config("",
		"overhead        = 18 # DOCSIS framing", "overhead        = 22",
		`addresses = ["192.168.88.50", "192.168.88.51"]`, `addresses = ["192.168.88.50", "192.168.88.52"]`,
		"  rule \"voip\" { # new UDP connections to SIP/STUN ports\n    protocol  = \"udp\"\n    dst_ports = \"3478-3481,5060\"\n  }\n\n  rule \"latency-sensitive\" {\n    dscp = [\"ef\", \"af41\"] # one mangle rule per value\n  }\n",
		"  rule \"gaming\" {\n    protocol  = \"udp\"\n    dst_ports = \"3074\"\n  }\n\n  rule \"latency-sensitive\" {\n    dscp = [\"ef\", \"af41\"]\n  }\n\n  rule \"voip\" {\n    protocol  = \"udp\"\n    dst_ports = \"3478-3481,5060\"\n  }\n",
		"  download {\n    ceiling = \"300M\"\n  }", "  download {\n    ceiling    = \"300M\"\n    queue_type = \"wanctl-fibre-dl\"\n  }",
	)
	for i := 0; ; i++ {
		if err := r.planApply(old); err != nil {
			r.t.Fatalf("starting state: %v", err)
		}
		if r.noChanges(old) == nil {
			break
		}
		if i == 2 {
			r.t.Fatal("starting state does not converge")
		}
	}
}

var scenarios = []scenario{
	{"fresh", func(*router) {}},
	{"edit", drifted},
}

// reference is a scenario's fault-free apply: how many writes of each verb
// it makes, and the router it leaves.
type reference struct {
	writes map[string]int
	inv    inventory
}

func referenceRun(t *testing.T, s scenario) reference {
	t.Helper()
	r := newRouter(t)
	s.start(r)
	cfg := r.config("")
	r.emu.ClearRequests()
	if err := r.planApply(cfg); err != nil {
		t.Fatalf("%s: fault-free apply: %v", s.name, err)
	}
	if err := r.noChanges(cfg); err != nil {
		t.Fatalf("%s: fault-free apply does not converge: %v", s.name, err)
	}
	ref := reference{writes: map[string]int{}, inv: r.inventory()}
	for _, q := range r.emu.Requests() {
		if isWrite(q.Method, q.Path) {
			ref.writes[q.Method]++
		}
	}
	return ref
}

// TestFaultDuringApply injects every fault kind at every write of every
// verb of the example's apply, from an empty router and from a drifted
// one. After the faulted apply (which may fail), one more plan and apply
// must succeed, the next plan must say "No changes", and the router must
// hold exactly what a fault-free apply leaves: no duplicate, no orphan.
func TestFaultDuringApply(t *testing.T) {
	var tried, survived, failedApplies atomic.Int64
	perVerb := map[string]*atomic.Int64{}
	for _, v := range writeVerbs {
		perVerb[v] = &atomic.Int64{}
	}
	t.Run("matrix", func(t *testing.T) {
		for _, s := range scenarios {
			ref := referenceRun(t, s)
			t.Logf("%s: the fault-free apply writes %v", s.name, ref.writes)
			verbs := 0
			for _, v := range writeVerbs {
				if ref.writes[v] > 0 {
					verbs++
				}
			}
			if s.name == "edit" && verbs != len(writeVerbs) {
				t.Fatalf("the edit scenario writes %v: want every verb of %v", ref.writes, writeVerbs)
			}
			for _, v := range writeVerbs {
				for n := 1; n <= ref.writes[v]; n++ {
					for _, spec := range faultKinds {
						fs, err := emulator.ParseFaults(spec)
						if err != nil {
							t.Fatal(err)
						}
						f := fs[0]
						t.Run(fmt.Sprintf("%s/%s#%d/%s", s.name, v, n, spec), func(t *testing.T) {
							t.Parallel()
							tried.Add(1)
							r := newRouter(t)
							s.start(r)
							cfg := r.config("")
							r.arm(v, n, f)
							if r.planApply(cfg) != nil {
								failedApplies.Add(1)
							}
							if !r.fired() {
								t.Fatalf("the apply made fewer than %d %s writes", n, v)
							}
							if err := r.planApply(cfg); err != nil {
								t.Fatalf("the apply after the fault: %v", err)
							}
							if err := r.noChanges(cfg); err != nil {
								t.Fatal(err)
							}
							if d := r.inventory().diff(ref.inv); d != "" {
								t.Fatalf("router after convergence: %s", d)
							}
							survived.Add(1)
							perVerb[v].Add(1)
						})
					}
				}
			}
		}
	})
	verbs := make([]string, 0, len(perVerb))
	for v, c := range perVerb {
		verbs = append(verbs, fmt.Sprintf("%s %d", v, c.Load()))
	}
	sort.Strings(verbs)
	t.Logf("faults tried %d, survived %d (%d of the faulted applies failed); survived by verb: %v",
		tried.Load(), survived.Load(), failedApplies.Load(), verbs)
}
