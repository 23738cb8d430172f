package commands

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/config"
)

func validateCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check the configuration file; print every problem with file:line:col and the source line",
		ArgsUsage: " ",
		Description: "Parses and validates the configuration (-config, $WANCTL_CONFIG, then " + DefaultConfigPath + ").\n" +
			"Nothing is sent to the router. Exit status: 0 valid, 1 invalid.\n" +
			"-json prints {\"format_version\": 1, \"valid\": true|false, \"diagnostics\": [...]} (docs/config.md).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the verdict and the diagnostics as one JSON document on stdout"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("validate takes no arguments; pass the file with -config %s", c.Args().First()), 1)
			}
			log, _, err := newLogger(c, stdio)
			if err != nil {
				return err
			}
			path := configPath(c, stdio)
			cfg, diags := loadConfig(path, stdio, nil)
			if cfg != nil {
				log.Debug("configuration loaded", "file", path, "routers", len(cfg.Routers), "wans", len(cfg.WANs),
					"steering", cfg.Steering != nil, "warnings", len(diags.Warnings()))
			}
			if c.Bool("json") {
				b, err := validateJSON(cfg != nil, diags)
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

// validateFormatVersion is validate -json's format_version; like plan's and
// simulate's it changes only when a field changes meaning or goes away.
const validateFormatVersion = 1

type validateDoc struct {
	FormatVersion int             `json:"format_version"`
	Valid         bool            `json:"valid"`
	Diagnostics   json.RawMessage `json:"diagnostics"`
}

// validateJSON wraps the diagnostics array (config's rendering, unchanged)
// in a versioned document.
func validateJSON(valid bool, diags *config.Diagnostics) ([]byte, error) {
	d, err := diags.JSON()
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(validateDoc{FormatVersion: validateFormatVersion, Valid: valid, Diagnostics: d}, "", "  ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// loadConfig is config.Load with the command's environment: when stdio has
// its own Getenv (tests), env() reads from it, an empty value counting as
// unset. With unset non-nil, an unset env() variable is no error: it reads
// as a placeholder and its name is recorded — for commands that never talk
// to the router (status, calibrate, systemd render), whose users' shells
// usually lack the secrets the services get from /etc/wanctl/env.
func loadConfig(path string, stdio IO, unset *[]string) (*config.Config, *config.Diagnostics) {
	if stdio.Getenv == nil && unset == nil {
		return config.Load(path)
	}
	return config.LoadFile(path, config.Options{
		LookupEnv: func(k string) (string, bool) {
			if v := stdio.getenv(k); v != "" {
				return v, true
			}
			if unset == nil {
				return "", false
			}
			if !slices.Contains(*unset, k) {
				*unset = append(*unset, k)
			}
			return "unset-" + k, true
		},
	})
}
