package commands

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
)

func planCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "show what apply would change on the router (reads only)",
		ArgsUsage: " ",
		Description: "Reads the router (one GET per menu) and compares it with the configuration. Nothing is written.\n" +
			"Exit status: 0 success (with -detailed-exitcode: no changes), 1 error, 2 changes (with -detailed-exitcode).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 2 when there are changes, 0 when there are none"},
			&cli.BoolFlag{Name: "json", Usage: "print the plan as one JSON document (docs/plan-json.md)"},
			&cli.StringFlag{Name: "out", Usage: "save the plan to `PLANFILE` for 'wanctl apply PLANFILE'"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("plan takes no arguments (got %q); pass the configuration with -config FILE", c.Args().First()), 1)
			}
			cfg, src, err := loadForPlan(c, stdio)
			if err != nil {
				return err
			}
			p, _, err := makePlan(c.Context, cfg)
			if err != nil {
				if c.Bool("json") {
					// Machines get the document they parse, its error in it.
					_ = readFailure(err).WriteJSON(stdio.Out)
				}
				return err
			}
			if err := showPlan(c, stdio, p); err != nil {
				return err
			}
			if out := c.String("out"); out != "" {
				if err := p.Save(out, src); err != nil {
					return cli.Exit(fmt.Sprintf("saving the plan to %s: %v", out, err), 1)
				}
				if !c.Bool("json") {
					fmt.Fprintf(stdio.Out, "\nSaved the plan to: %s\n\nTo perform exactly these actions, run:\n    wanctl apply%s %s\n", out, configArg(c), out)
				}
			}
			if c.Bool("detailed-exitcode") && p.HasChanges() {
				return cli.Exit("", 2)
			}
			return nil
		},
	}
}

// loadForPlan loads the configuration, printing its diagnostics to stderr,
// and describes the file (its absolute path and the hash of the bytes
// parsed) for a saved plan. It reads the file once, so that the hash is of
// exactly what was planned.
func loadForPlan(c *cli.Context, stdio IO) (*config.Config, plan.ConfigSource, error) {
	path := configPath(c, stdio)
	var cfg *config.Config
	var diags *config.Diagnostics
	var src plan.ConfigSource
	if b, mode, err := config.ReadFile(path); err != nil {
		// loadConfig words the diagnostic for an unreadable file.
		cfg, diags = loadConfig(path, stdio, nil)
	} else {
		opts := config.Options{FileMode: mode.Perm()}
		if stdio.Getenv != nil {
			opts.LookupEnv = func(k string) (string, bool) {
				v := stdio.getenv(k)
				return v, v != ""
			}
		}
		cfg, diags = config.Parse(path, b, opts)
		abs, aerr := filepath.Abs(path)
		if aerr != nil {
			abs = path
		}
		src = plan.HashConfig(abs, b)
	}
	if cfg == nil || len(diags.Warnings()) > 0 {
		if err := diags.WriteText(stdio.Err, useColor(c, stdio, stdio.Err)); err != nil {
			return nil, src, cli.Exit(fmt.Sprintf("writing diagnostics: %v", err), 1)
		}
	}
	if cfg == nil {
		n := len(diags.Errors())
		return nil, src, cli.Exit(fmt.Sprintf("%s is invalid: %d %s; nothing was sent to the router", path, n, plural(n, "error", "errors")), 1)
	}
	return cfg, src, nil
}

// makePlan reads every router of the configuration and plans; the clients
// are returned for apply.
func makePlan(ctx context.Context, cfg *config.Config) (*plan.Plan, map[string]*routeros.Client, error) {
	clients := map[string]*routeros.Client{}
	p, err := plan.Make(ctx, cfg, func(r *config.Router) (plan.Reader, error) {
		cl, err := routeros.New(r.ClientConfig())
		if err != nil {
			return nil, err
		}
		clients[r.Name] = cl
		return cl, nil
	})
	if err != nil {
		return nil, nil, cli.Exit(fmt.Sprintf("reading the router failed, nothing was changed: %v", err), 1)
	}
	return p, clients, nil
}

// readFailure is the plan document of a plan that could not read its
// routers: no routers, no changes, the error in errors.
func readFailure(err error) *plan.Plan {
	msg := err.Error()
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		msg = ec.Error()
	}
	return &plan.Plan{
		FormatVersion: plan.FormatVersion,
		Routers:       []*plan.RouterPlan{},
		Changes:       []*plan.Change{},
		Warnings:      plan.Diagnostics{},
		Errors:        plan.Diagnostics{{Severity: plan.SeverityError, Summary: msg}},
	}
}

// showPlan prints the plan (text or JSON); a plan with errors prints them
// and fails.
func showPlan(c *cli.Context, stdio IO, p *plan.Plan) error {
	if c.Bool("json") {
		if err := p.WriteJSON(stdio.Out); err != nil {
			return cli.Exit(fmt.Sprintf("writing the plan: %v", err), 1)
		}
	} else if len(p.Errors) == 0 {
		if err := p.WriteText(stdio.Out, useColor(c, stdio, stdio.Out)); err != nil {
			return cli.Exit(fmt.Sprintf("writing the plan: %v", err), 1)
		}
	}
	if n := len(p.Errors); n > 0 {
		if !c.Bool("json") {
			ds := append(append(plan.Diagnostics(nil), p.Errors...), p.Warnings...)
			_ = plan.WriteDiagnostics(stdio.Err, ds, useColor(c, stdio, stdio.Err))
			fmt.Fprintln(stdio.Err)
		}
		return cli.Exit(fmt.Sprintf("planning failed with %d %s (above); nothing was changed", n, plural(n, "error", "errors")), 1)
	}
	return nil
}
