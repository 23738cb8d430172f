package sim

import (
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
func ExampleConfig() (*config.Config, error) {
	cfg, diags := config.Parse(ExampleFile, exampleHCL, config.Options{
		LookupEnv: func(string) (string, bool) { return "unused-by-the-simulator", true },
	})
	if cfg == nil {
		return nil, fmt.Errorf("the built-in example configuration is invalid: %v", diags)
	}
	return cfg, nil
}
