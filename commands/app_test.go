package commands

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// commandPaths lists every visible command, subcommands as
// "systemd render" (hidden ones are wanctl's own plumbing, e.g. lab's
// delay line, which takes no common flags).
func commandPaths(cmds []*cli.Command, prefix []string) [][]string {
	var out [][]string
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		p := append(append([]string{}, prefix...), c.Name)
		out = append(out, p)
		out = append(out, commandPaths(c.Subcommands, p)...)
	}
	return out
}

// Every command refuses a bad -log-format or -log-level before doing
// anything, whether the flag comes before or after its name, not only the
// commands that log.
func TestCommonFlagsCheckedByEveryCommand(t *testing.T) {
	paths := commandPaths(newApp(IO{}).Commands, nil)
	if len(paths) < 16 {
		t.Fatalf("commands: %v", paths)
	}
	// A configuration that does not exist: a command that does not check
	// the flags fails fast on it, with another message.
	const missing = "/nonexistent/wanctl.hcl"
	for _, p := range paths {
		for _, bad := range []struct{ flag, value, want string }{
			{"-log-format", "yaml", `Error: -log-format "yaml": use text or json` + "\n"},
			{"-log-level", "loud", `Error: -log-level "loud": use debug, info, warn or error` + "\n"},
		} {
			cfg := []string{"-config", missing}
			if p[0] == "demo" || p[0] == "version" {
				cfg = nil // they take no -config (TestHelpFlags)
			}
			after := append(append(append([]string{}, p...), bad.flag, bad.value), cfg...)
			before := append(append([]string{bad.flag, bad.value}, cfg...), p...)
			for _, args := range [][]string{after, before} {
				want := bad.want
				if p[0] == "version" && len(args) > 0 && args[0] == "version" {
					// version takes no common flag after its name at all.
					want = "Error: flag provided but not defined: " + bad.flag + " (see 'wanctl version -h')\n"
				}
				t.Run(strings.Join(args, " "), func(t *testing.T) {
					code, out, errOut := run(t, nil, "", args...)
					if code != 1 || out != "" || errOut != want {
						t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
					}
				})
			}
		}
	}
}

// The help writes flags as the docs do (-flag, not --flag), lists only the
// flags a command uses, and shows one default per flag.
func TestHelpFlags(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		want, without []string
	}{
		{[]string{"-h"}, []string{"\n   -config value ", "\n   -log-level value "}, nil},
		{[]string{"plan", "-h"}, []string{"\n   -config value ", "\n   -help, -h "}, nil},
		{[]string{"demo", "-h"}, []string{"\n   -duration value ", "\n   -log-level value "}, []string{"-config value", "-no-color"}},
		{[]string{"version", "-h"}, []string{"\n   -help, -h "}, []string{"-config", "-log-level", "-log-format", "-no-color"}},
		{[]string{"simulate", "-h"}, []string{"\n   -duration value       length of each run, 10s..24h (default: 2m for scenarios, the trace's length for -trace)\n"}, nil},
		{[]string{"systemd", "render", "-h"}, []string{"\n   -config value "}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, nil, "", tc.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if strings.Contains(out, "--") {
				t.Errorf("help shows a --flag:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.without {
				if strings.Contains(out, w) {
					t.Errorf("help shows %q:\n%s", w, out)
				}
			}
		})
	}
	code, _, errOut := run(t, nil, "", "-config", "x.hcl", "demo")
	if want := "Error: -config: the demo runs its built-in configuration against the emulator; use 'wanctl emulator' to try your own\n"; code != 1 || errOut != want {
		t.Errorf("demo with -config: exit %d, stderr %q; want 1, %q", code, errOut, want)
	}
}

// No flag of any command shows two defaults (a default written into the
// usage text besides the one the library prints).
func TestHelpOneDefaultPerFlag(t *testing.T) {
	for _, cmd := range newApp(IO{}).Commands {
		args := [][]string{{cmd.Name, "-h"}}
		for _, sub := range cmd.Subcommands {
			args = append(args, []string{cmd.Name, sub.Name, "-h"})
		}
		for _, a := range args {
			_, out, _ := run(t, nil, "", a...)
			for _, line := range strings.Split(out, "\n") {
				if strings.Count(line, "(default") > 1 {
					t.Errorf("%s: two defaults: %s", strings.Join(a, " "), line)
				}
			}
		}
	}
}

func TestUnknownCommandSuggests(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"platn"}, `Error: unknown command "platn"; did you mean "plan"? (see 'wanctl -h')`},
		{[]string{"PLAN"}, `Error: unknown command "PLAN"; did you mean "plan"? (see 'wanctl -h')`},
		{[]string{"valdate", "-json"}, `Error: unknown command "valdate"; did you mean "validate"? (see 'wanctl -h')`},
		{[]string{"sim"}, `Error: unknown command "sim"; did you mean "simulate"? (see 'wanctl -h')`},
		{[]string{"frobnicate"}, `Error: unknown command "frobnicate" (see 'wanctl -h')`},
		{[]string{"systemd", "rendr"}, `Error: unknown systemd subcommand "rendr"; did you mean "render"? (see 'wanctl systemd -h')`},
		{[]string{"systemd", "frobnicate"}, `Error: unknown systemd subcommand "frobnicate" (see 'wanctl systemd -h')`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, nil, "", tc.args...)
			if code != 1 || out != "" || errOut != tc.want+"\n" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, tc.want)
			}
		})
	}
}

// A duration reads the same in both log formats: "50ms", never the JSON
// handler's nanoseconds.
func TestLogDurationsAsText(t *testing.T) {
	for _, c := range []struct {
		format string
		want   []string
	}{
		{"json", []string{`"interval":"50ms"`, `"wan":{"cycle":"1.5s"}`, `"count":3`}},
		{"text", []string{`interval=50ms`, `wan.cycle=1.5s`, `count=3`}},
	} {
		t.Run(c.format, func(t *testing.T) {
			var out, errOut bytes.Buffer
			stdio := IO{In: strings.NewReader(""), Out: &out, Err: &errOut, Getenv: func(string) string { return "" }}
			app := &cli.App{
				Flags:          commonFlags(),
				ExitErrHandler: func(*cli.Context, error) {},
				Action: func(ctx *cli.Context) error {
					log, _, err := newLogger(ctx, stdio)
					if err != nil {
						return err
					}
					log.Info("tick", "interval", 50*time.Millisecond, slog.Group("wan", "cycle", 1500*time.Millisecond), "count", 3)
					return nil
				},
			}
			if err := app.Run([]string{"wanctl", "-log-format", c.format}); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("log %q lacks %s", errOut.String(), w)
				}
			}
		})
	}
}
