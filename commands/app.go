// Package commands builds the wanctl command line. One file per subcommand:
// flags, wiring and output only; the algorithms live in the other packages.
package commands

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/urfave/cli/v2"
)

// IO is where a command reads and writes. Tests pass buffers.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// Getenv looks up environment variables; nil means os.Getenv.
	Getenv func(string) string

	// autorate, calibrate and steer replace what those commands build (tests
	// only).
	autorate  *autorateDeps
	calibrate *calibrateDeps
	steer     *steerDeps
	// interrupts replaces SIGINT/SIGTERM for apply (tests only).
	interrupts <-chan os.Signal
}

func (s IO) getenv(k string) string {
	if s.Getenv != nil {
		return s.Getenv(k)
	}
	return os.Getenv(k)
}

// DefaultConfigPath is used when neither -config nor $WANCTL_CONFIG is given.
const DefaultConfigPath = "/etc/wanctl/wanctl.hcl"

// Build information, set with -ldflags "-X github.com/wanctl/wanctl/commands.version=...".
var (
	version = "dev"
	commit  = ""
)

// Run executes the command line args and returns the process exit code.
func Run(args []string, stdio IO) int {
	app := newApp(stdio)
	err := app.Run(args)
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stdio.Err, "Error:", msg)
		}
		return ec.ExitCode()
	}
	// Usage errors from flag parsing (unknown flag, bad value) end up here.
	fmt.Fprintln(stdio.Err, "Error:", err)
	return 1
}

func newApp(stdio IO) *cli.App {
	app := &cli.App{
		Name:                 "wanctl",
		Usage:                "keep an internet link responsive under load (CAKE on MikroTik RouterOS)",
		Reader:               stdio.In,
		Writer:               stdio.Out,
		ErrWriter:            stdio.Err,
		Flags:                commonFlags(),
		EnableBashCompletion: false,
		HideVersion:          true,
		// Exit codes are ours: never let urfave call os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		// Without a command: the help. With an unknown one: exit 1.
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return unknownCommand("command", c.Args().First(), c.App.Commands, "wanctl -h")
			}
			return cli.ShowAppHelp(c)
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit(fmt.Sprintf("%v (see 'wanctl %s -h')", err, c.Command.Name), 1)
		},
	}
	app.Commands = []*cli.Command{
		versionCommand(stdio),
		validateCommand(stdio),
		fmtCommand(stdio),
		emulatorCommand(stdio),
		systemdCommand(stdio),
		autorateCommand(stdio),
		calibrateCommand(stdio),
		statusCommand(stdio),
		planCommand(stdio),
		applyCommand(stdio),
		steerCommand(stdio),
		demoCommand(stdio),
		simulateCommand(stdio),
		labCommand(stdio),
	}
	for _, c := range app.Commands {
		c.Flags = append(c.Flags, commonFlagsFor(c.Name)...)
		if c.OnUsageError == nil {
			c.OnUsageError = app.OnUsageError
		}
	}
	app.Before = checkCommonFlags
	setBefore(app.Commands)
	return app
}

// setBefore makes checkCommonFlags every command's Before, subcommands
// included: a flag given after a subcommand's name is parsed only there.
func setBefore(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.Before == nil {
			c.Before = checkCommonFlags
		} else {
			own := c.Before
			c.Before = func(ctx *cli.Context) error {
				if err := checkCommonFlags(ctx); err != nil {
					return err
				}
				return own(ctx)
			}
		}
		setBefore(c.Subcommands)
	}
}

// commonFlags are accepted both before and after the subcommand name
// ("wanctl -log-level debug plan" and "wanctl plan -log-level debug").
func commonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "configuration file (default $WANCTL_CONFIG, then " + DefaultConfigPath + ")"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn or error"},
		&cli.BoolFlag{Name: "no-color", Usage: "never colour the output (also: NO_COLOR set in the environment)"},
	}
}

// commonFlagsFor are the common flags command name lists after its name:
// those it has a use for. version uses none; demo runs its built-in
// configuration and prints no colour. A flag left out is refused after
// the name ("flag provided but not defined") and not shown in its help;
// before the name the app still takes it.
func commonFlagsFor(name string) []cli.Flag {
	var out []cli.Flag
	for _, f := range commonFlags() {
		switch n := f.Names()[0]; {
		case name == "version":
			continue
		case name == "demo" && (n == "config" || n == "no-color"):
			continue
		}
		out = append(out, f)
	}
	return out
}

// singleDash rewrites a flag's help line from urfave/cli's "--config
// value\tusage" to "-config value\tusage", as the docs and Go's flag
// convention write it (urfave accepts both spellings on the command line).
func singleDash(stringer cli.FlagStringFunc) cli.FlagStringFunc {
	return func(f cli.Flag) string {
		s := stringer(f)
		names, usage, ok := strings.Cut(s, "\t")
		if !ok {
			return s
		}
		return strings.ReplaceAll(names, "--", "-") + "\t" + usage
	}
}

// The help's flag format is a package variable of urfave/cli v2 (no
// per-App setting exists; its FlagNamePrefixer is never consulted in
// v2.27), so it is wrapped once here, before any App runs, rather than in
// newApp where concurrent tests would race on it.
func init() {
	cli.FlagStringer = singleDash(cli.FlagStringer)
}

// opt returns a common flag's value: the innermost command that set it on the
// command line wins, then the default of the innermost command defining it.
func opt(c *cli.Context, name string) string {
	for _, lc := range c.Lineage() {
		for _, n := range lc.LocalFlagNames() {
			if n == name {
				return fmt.Sprint(lc.Value(name))
			}
		}
	}
	return fmt.Sprint(c.Value(name))
}

// configPath resolves -config, then $WANCTL_CONFIG, then the default path.
func configPath(c *cli.Context, stdio IO) string {
	if p := opt(c, "config"); p != "" {
		return p
	}
	if p := stdio.getenv("WANCTL_CONFIG"); p != "" {
		return p
	}
	return DefaultConfigPath
}

// configArg is " -config PATH" when the user gave -config, for commands
// that output suggests running next ("" otherwise: they find it the same
// way, through $WANCTL_CONFIG or the default path).
func configArg(c *cli.Context) string {
	p := opt(c, "config")
	if p == "" {
		return ""
	}
	return " -config " + shellQuote(p)
}

// useColor reports whether w may receive ANSI colour: only a terminal, and
// never with -no-color or NO_COLOR.
func useColor(c *cli.Context, stdio IO, w io.Writer) bool {
	if opt(c, "no-color") == "true" || stdio.getenv("NO_COLOR") != "" {
		return false
	}
	return isTerminal(w)
}

// logLevel parses -log-level.
func logLevel(c *cli.Context) (slog.Level, error) {
	switch strings.ToLower(opt(c, "log-level")) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, cli.Exit(fmt.Sprintf("-log-level %q: use debug, info, warn or error", opt(c, "log-level")), 1)
}

// logJSON parses -log-format: true for json, false for text.
func logJSON(c *cli.Context) (bool, error) {
	switch strings.ToLower(opt(c, "log-format")) {
	case "text", "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, cli.Exit(fmt.Sprintf("-log-format %q: use text or json", opt(c, "log-format")), 1)
}

// checkCommonFlags is every command's Before: a bad -log-level or
// -log-format is refused by all of them, not only by those that log, so a
// typo in a unit or script shows on the first command it reaches.
func checkCommonFlags(c *cli.Context) error {
	if _, err := logLevel(c); err != nil {
		return err
	}
	_, err := logJSON(c)
	return err
}

// newLogger builds the structured logger from -log-format and -log-level.
// The level is a LevelVar so a daemon can toggle debug at runtime.
func newLogger(c *cli.Context, stdio IO) (*slog.Logger, *slog.LevelVar, error) {
	level, err := logLevel(c)
	if err != nil {
		return nil, nil, err
	}
	asJSON, err := logJSON(c)
	if err != nil {
		return nil, nil, err
	}
	lv := new(slog.LevelVar)
	lv.Set(level)
	ho := &slog.HandlerOptions{Level: lv, ReplaceAttr: durationAsText}
	if asJSON {
		return slog.New(slog.NewJSONHandler(stdio.Err, ho)), lv, nil
	}
	return slog.New(slog.NewTextHandler(stdio.Err, ho)), lv, nil
}

// durationAsText renders a time.Duration as its String ("50ms"). The
// text handler already does; the JSON handler would write nanoseconds
// (50000000), so one log line would read differently in the two formats
// and a reader of the JSON would have to know the unit.
func durationAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// suggestCommand returns the visible command closest to name (a unique
// prefix, or an edit distance below 3 as the configuration's "Did you
// mean" uses), or "".
func suggestCommand(name string, cmds []*cli.Command) string {
	best, bestDist := "", 3
	var prefixed []string
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		if strings.EqualFold(name, c.Name) {
			return c.Name
		}
		if name != "" && strings.HasPrefix(c.Name, strings.ToLower(name)) {
			prefixed = append(prefixed, c.Name)
		}
		if d := levenshtein.Distance(strings.ToLower(name), c.Name, nil); d < bestDist {
			best, bestDist = c.Name, d
		}
	}
	if best == "" && len(prefixed) == 1 {
		return prefixed[0]
	}
	return best
}

// unknownCommand is the error for an unknown (sub)command name: exit 1
// (urfave's own answer exits 3, which `fmt -check` uses for "unformatted"),
// with the closest name when there is one.
func unknownCommand(what, name string, cmds []*cli.Command, help string) error {
	msg := fmt.Sprintf("unknown %s %q", what, name)
	if s := suggestCommand(name, cmds); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return cli.Exit(msg+" (see '"+help+"')", 1)
}
