package commands

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/apply"
	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/plan"
	"github.com/wanctl/wanctl/routeros"
)

// approvePrompt is the question apply asks before changing the router.
const approvePrompt = "Do you want to perform these actions? Only 'yes' will be accepted: "

func applyCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "make the router match the configuration (or execute a saved plan)",
		ArgsUsage: "[PLANFILE]",
		Description: "Without PLANFILE: plans, shows the plan and asks for 'yes' before changing the router\n" +
			"(-auto-approve skips the question; without a terminal on stdin it is required).\n" +
			"With PLANFILE (from 'wanctl plan -out'): re-reads the router and executes exactly that plan,\n" +
			"refusing it when the router changed since (\"saved plan is stale\") or it was made from another configuration.\n" +
			"An interrupt (Ctrl-C) finishes the request in flight and stops, listing what was not done; a second one stops at once.\n" +
			"Exit status: 0 success or no changes, 1 error or interrupted.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "auto-approve", Usage: "apply without asking"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document (the plan and the result) instead of text; needs -auto-approve or PLANFILE"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return cli.Exit(fmt.Sprintf("apply takes at most one argument, the saved plan file (got %d)", c.NArg()), 1)
			}
			jsonOut := c.Bool("json")
			planFile := c.Args().First()
			if jsonOut && planFile == "" && !c.Bool("auto-approve") {
				return cli.Exit("apply -json cannot ask for confirmation: add -auto-approve, or apply a saved plan (wanctl plan -out FILE; wanctl apply -json FILE)", 1)
			}
			cfg, src, err := loadForPlan(c, stdio)
			if err != nil {
				return err
			}
			var p *plan.Plan
			var clients map[string]*routeros.Client
			if planFile != "" {
				if p, clients, err = loadSavedPlan(c, planFile, cfg, src); err != nil {
					return err
				}
			} else {
				if p, clients, err = makePlan(c.Context, cfg); err != nil {
					if jsonOut {
						fmt.Fprintln(stdio.Err, "Error:", err)
						return writeApplyJSON(stdio.Out, readFailure(err), apply.Result{}, nil, err)
					}
					return err
				}
				if !jsonOut {
					if err := showPlan(c, stdio, p); err != nil {
						return err
					}
				} else if len(p.Errors) > 0 {
					return writeApplyJSON(stdio.Out, p, apply.Result{}, nil, fmt.Errorf("planning failed with %d error(s); nothing was changed", len(p.Errors)))
				}
				if !p.HasChanges() {
					if jsonOut {
						return writeApplyJSON(stdio.Out, p, apply.Result{}, nil, nil)
					}
					return nil
				}
				if !c.Bool("auto-approve") {
					if err := confirm(stdio); err != nil {
						return err
					}
				}
			}
			cls := map[string]apply.Client{}
			for n, cl := range clients {
				cls[n] = cl
			}
			progress := stdio.Out
			if jsonOut {
				progress = io.Discard
			} else {
				fmt.Fprintln(stdio.Out)
			}
			ctx, stop, release := watchInterrupts(c.Context, stdio)
			res, aerr := apply.ApplyWith(ctx, p, cls, progress, apply.Options{Stop: stop})
			release()
			if jsonOut {
				return writeApplyJSON(stdio.Out, p, res, aerr, nil)
			}
			if aerr != nil {
				apply.Report(stdio.Err, res, aerr)
				return cli.Exit("", 1)
			}
			if !p.HasChanges() {
				fmt.Fprintln(stdio.Out, "No changes.")
				return nil
			}
			apply.Report(stdio.Out, res, nil)
			return nil
		},
	}
}

// watchInterrupts handles SIGINT and SIGTERM while apply writes, like
// Terraform: the first closes stop, so that apply finishes the request in
// flight and ends before the next one (every object done or untouched);
// the second cancels the context, abandoning that request, and gives the
// signals back to their default action, so that a third kills. release
// ends the watch; nothing is written to stdio.Err after it returns.
func watchInterrupts(parent context.Context, stdio IO) (ctx context.Context, stop <-chan struct{}, release func()) {
	sigs := stdio.interrupts
	restore := func() {}
	if sigs == nil {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		sigs = ch
		var once sync.Once
		restore = func() { once.Do(func() { signal.Stop(ch) }) }
	}
	ctx, cancel := context.WithCancel(parent)
	stopCh := make(chan struct{})
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for n := 1; ; n++ {
			select {
			case <-quit:
				return
			case <-sigs:
			}
			if n == 1 {
				close(stopCh)
				fmt.Fprintln(stdio.Err, "\nInterrupt received: finishing the request in flight, then stopping. Interrupt again to stop at once (the object in flight may then be left half-changed).")
				continue
			}
			cancel()
			restore()
			fmt.Fprintln(stdio.Err, "\nSecond interrupt received: stopping at once.")
			return
		}
	}()
	return ctx, stopCh, func() {
		close(quit)
		<-done
		restore()
		cancel()
	}
}

// confirm asks for "yes" on a terminal.
func confirm(stdio IO) error {
	if !isTerminal(stdio.In) {
		return cli.Exit("apply needs confirmation, but stdin is not a terminal: review the plan above and run 'wanctl apply -auto-approve', "+
			"or save it with 'wanctl plan -out FILE' and run 'wanctl apply FILE'. Nothing was changed.", 1)
	}
	fmt.Fprintf(stdio.Out, "\n%s", approvePrompt)
	line, err := bufio.NewReader(stdio.In).ReadString('\n')
	if err != nil && line == "" {
		return cli.Exit("Apply cancelled: no answer. Nothing was changed.", 1)
	}
	if strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r") != "yes" {
		return cli.Exit("Apply cancelled: only 'yes' approves. Nothing was changed.", 1)
	}
	return nil
}

// loadSavedPlan reads a saved plan, checks that it was made from the
// configuration src, connects to its routers with the configuration's
// credentials, and checks that each router still holds what the plan was
// made against.
func loadSavedPlan(c *cli.Context, path string, cfg *config.Config, src plan.ConfigSource) (*plan.Plan, map[string]*routeros.Client, error) {
	remake := fmt.Sprintf("Nothing was changed. Make a new plan from the configuration you mean to apply (wanctl plan%s -out %s) and apply that", configArg(c), path)
	p, made, err := plan.LoadSaved(path)
	if errors.Is(err, plan.ErrNoConfig) {
		return nil, nil, cli.Exit(fmt.Sprintf("%v. %s", err, remake), 1)
	}
	if err != nil {
		return nil, nil, cli.Exit(fmt.Sprintf("reading the saved plan: %v", err), 1)
	}
	// Router names alone do not tie a plan to its configuration: another
	// file naming the same router would have planned other changes.
	if err := made.CheckConfig(src); err != nil {
		return nil, nil, cli.Exit(fmt.Sprintf("%v. %s", err, remake), 1)
	}
	clients := map[string]*routeros.Client{}
	for _, rp := range p.Routers {
		r := cfg.Router(rp.Name)
		if r == nil {
			return nil, nil, cli.Exit(fmt.Sprintf("the saved plan is for router %q, which the configuration does not declare; use the configuration the plan was made with (-config)", rp.Name), 1)
		}
		if u := plan.RedactURL(r.URL); u != rp.URL {
			return nil, nil, cli.Exit(fmt.Sprintf("the saved plan was made for router %q at %s, but the configuration says %s; make a new plan", rp.Name, rp.URL, u), 1)
		}
		cl, err := routeros.New(r.ClientConfig())
		if err != nil {
			return nil, nil, cli.Exit(fmt.Sprintf("router %q: %v", rp.Name, err), 1)
		}
		act, _, err := plan.ReadActual(c.Context, cl, rp.MenusRead, rp.ReadFilters)
		if err != nil {
			return nil, nil, cli.Exit(fmt.Sprintf("router %q: re-reading to check the saved plan failed, nothing was changed: %v", rp.Name, err), 1)
		}
		if plan.Fingerprint(act) != rp.Fingerprint {
			return nil, nil, cli.Exit(fmt.Sprintf("saved plan is stale: router %q changed since the plan was made, so its actions may no longer be right. Nothing was changed. Make a new plan (wanctl plan%s -out %s) and apply that", rp.Name, configArg(c), path), 1)
		}
		if err := p.CheckOwned(rp.Name, act); err != nil {
			return nil, nil, cli.Exit(fmt.Sprintf("the saved plan would change an object wanctl does not own, refusing it; nothing was changed: %v", err), 1)
		}
		clients[rp.Name] = cl
	}
	return p, clients, nil
}

type applyJSON struct {
	FormatVersion int          `json:"format_version"`
	Plan          *plan.Plan   `json:"plan"`
	Result        apply.Result `json:"result"`
	Error         *applyError  `json:"error"`
}

type applyError struct {
	Address   string `json:"address,omitempty"`
	Operation string `json:"operation,omitempty"`
	Message   string `json:"message"`
}

// writeApplyJSON prints the -json result; a failure exits 1.
func writeApplyJSON(w io.Writer, p *plan.Plan, res apply.Result, aerr, perr error) error {
	doc := applyJSON{FormatVersion: plan.FormatVersion, Plan: p, Result: res}
	var ae *apply.Error
	switch {
	case errors.As(aerr, &ae):
		doc.Error = &applyError{Address: ae.Step.Change.Address, Operation: string(ae.Step.Op), Message: ae.Err.Error()}
	case aerr != nil:
		doc.Error = &applyError{Message: aerr.Error()}
	case perr != nil:
		doc.Error = &applyError{Message: perr.Error()}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return cli.Exit(fmt.Sprintf("writing the result: %v", err), 1)
	}
	if doc.Error != nil {
		return cli.Exit("", 1)
	}
	return nil
}
