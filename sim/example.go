package sim

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/wanctl/wanctl/config"
)

//go:embed example.hcl
var exampleHCL []byte

// ExampleFile is the name the built-in example configuration reports in
// diagnostics.
const ExampleFile = "built-in example (sim/example.hcl)"

// ExampleConfig parses the built-in example configuration: one WAN
// ("example", 450M/45M ceilings, four reflectors, defaults elsewhere), what
// `wanctl simulate` runs without -config. Its password is a placeholder:
// the simulator never talks to a router.
func ExampleConfig() (*config.Config, error) { return parseExample(exampleHCL) }

// ExampleConfigAt is the built-in example on a line of another nominal
// capacity (bits/s, download and upload): its ceilings are CeilingShare
// of it, its floors and steps follow them as the configuration's defaults
// do. `wanctl simulate -nominal` runs it: the testbed's WAN at 50/10 Mbit/s.
func ExampleConfigAt(nominal [2]int64) (*config.Config, error) {
	src := exampleHCL
	for d, from := range [2]string{`ceiling = "450M"`, `ceiling = "45M"`} {
		at := bytes.Index(src, []byte(from))
		if at < 0 {
			return nil, fmt.Errorf("the built-in example has no %s", from)
		}
		to := fmt.Sprintf("ceiling = \"%d\"", int64(CeilingShare*float64(nominal[d])))
		src = append(append(append([]byte(nil), src[:at]...), to...), src[at+len(from):]...)
	}
	return parseExample(src)
}

func parseExample(src []byte) (*config.Config, error) {
	cfg, diags := config.Parse(ExampleFile, src, config.Options{
		LookupEnv: func(string) (string, bool) { return "unused-by-the-simulator", true },
	})
	if cfg == nil {
		return nil, fmt.Errorf("the built-in example configuration is invalid: %v", diags)
	}
	return cfg, nil
}
