package commands

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/hcl"
)

func validateCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check the configuration file; print every problem with file:line:col and the source line",
		ArgsUsage: " ",
		Description: "Parses and validates the configuration (-config, $WANCTL_CONFIG, then " + DefaultConfigPath + ").\n" +
			"Nothing is sent to the router. Exit status: 0 valid, 1 invalid.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the diagnostics as a JSON array on stdout"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("validate takes no arguments; pass the file with -config %s", c.Args().First()), 1)
			}
			path := configPath(c, stdio)
			cfg, diags := loadConfig(path, stdio)
			if c.Bool("json") {
				b, err := diags.JSON()
				if err != nil {
					return cli.Exit(fmt.Sprintf("rendering diagnostics: %v", err), 1)
				}
				fmt.Fprintf(stdio.Out, "%s\n", b)
				if cfg == nil {
					return cli.Exit("", 1)
				}
				return nil
			}
			if err := diags.WriteText(stdio.Err, useColor(c, stdio, stdio.Err)); err != nil {
				return cli.Exit(fmt.Sprintf("writing diagnostics: %v", err), 1)
			}
			if cfg == nil {
				n := len(diags.Errors())
				return cli.Exit(fmt.Sprintf("%s is invalid: %d %s", path, n, plural(n, "error", "errors")), 1)
			}
			msg := "The configuration is valid."
			if n := len(diags.Warnings()); n > 0 {
				msg = fmt.Sprintf("The configuration is valid, with %d %s.", n, plural(n, "warning", "warnings"))
			}
			fmt.Fprintln(stdio.Out, msg)
			return nil
		},
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// loadConfig is hcl.Load with the command's environment: when stdio has its
// own Getenv (tests), env() reads from it, an empty value counting as unset.
func loadConfig(path string, stdio IO) (*hcl.Config, *hcl.Diagnostics) {
	if stdio.Getenv == nil {
		return hcl.Load(path)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return hcl.Load(path) // the same read error, rendered by hcl
	}
	var mode os.FileMode
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	return hcl.Parse(path, src, hcl.Options{
		FileMode: mode,
		LookupEnv: func(k string) (string, bool) {
			v := stdio.Getenv(k)
			return v, v != ""
		},
	})
}
