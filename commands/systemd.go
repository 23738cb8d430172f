package commands

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/systemd"
)

func systemdCommand(stdio IO) *cli.Command {
	binFlag := &cli.StringFlag{Name: "bin", Usage: "absolute path of the wanctl binary the units run (default: this executable)"}
	sub := []*cli.Command{
		{
			Name:      "render",
			Usage:     "write the unit files and the sysusers.d entry into a directory",
			ArgsUsage: " ",
			Description: "Writes " + strings.Join(systemd.Units(), ", ") + " and " + systemd.SysusersConf + " (sysusers.d)\n" +
				"into -dir, with ExecStart= naming -bin and the configuration file. The state and lock\n" +
				"directories come from the configuration's daemon block.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "dir", Usage: "directory to write the files into (created if missing)"},
				binFlag,
			},
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return cli.Exit(fmt.Sprintf("render takes no arguments (got %q); pass the directory with -dir", c.Args().First()), 1)
				}
				dir := c.String("dir")
				if dir == "" {
					return cli.Exit("render needs -dir DIR: the directory to write the units into (or use 'wanctl systemd install')", 1)
				}
				opts, err := renderOptions(c, stdio)
				if err != nil {
					return err
				}
				files, err := systemd.Render(opts)
				if err != nil {
					return cli.Exit(err.Error(), 1)
				}
				if err := systemd.Write(dir, files); err != nil {
					return cli.Exit(err.Error(), 1)
				}
				for _, name := range sortedNames(files) {
					fmt.Fprintf(stdio.Out, "Wrote %s\n", filepath.Join(dir, name))
				}
				return nil
			},
		},
		{
			Name:      "install",
			Usage:     "install the units into /etc/systemd/system and the wanctl user into /etc/sysusers.d",
			ArgsUsage: " ",
			Description: "Writes the units to /etc/systemd/system and " + systemd.SysusersConf + " to /etc/sysusers.d, then prints\n" +
				"the commands that create the user and start the services; -now runs them.",
			Flags: []cli.Flag{
				binFlag,
				&cli.BoolFlag{Name: "now", Usage: "also create the user, reload systemd and enable --now the services"},
				&cli.StringFlag{Name: "root", Value: "/", Usage: "install below this directory instead of / (image builds); -now then enables the units there without starting them"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return cli.Exit(fmt.Sprintf("install takes no arguments (got %q)", c.Args().First()), 1)
				}
				return systemdInstall(c, stdio)
			},
		},
	}
	for _, s := range sub {
		s.Flags = append(s.Flags, commonFlags()...)
		s.OnUsageError = func(c *cli.Context, err error, _ bool) error {
			return cli.Exit(fmt.Sprintf("%v (see 'wanctl systemd %s -h')", err, c.Command.Name), 1)
		}
	}
	return &cli.Command{
		Name:        "systemd",
		Usage:       "render or install the systemd units (autorate service, steer service and timer)",
		Subcommands: sub,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return unknownCommand("systemd subcommand", c.Args().First(), c.Command.Subcommands, "wanctl systemd -h")
			}
			return cli.Exit("systemd needs a subcommand: render -dir DIR, or install [-now]", 1)
		},
	}
}

// renderOptions resolves the binary, the configuration path and the
// daemon's directories. An explicit configuration (-config or
// $WANCTL_CONFIG) must load; the default one may be missing (the units are
// then rendered with the default directories) but not invalid.
func renderOptions(c *cli.Context, stdio IO) (systemd.RenderOptions, error) {
	var opts systemd.RenderOptions
	bin := c.String("bin")
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return opts, cli.Exit(fmt.Sprintf("cannot find this executable's path (%v): pass -bin /path/to/wanctl", err), 1)
		}
		bin = exe
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return opts, cli.Exit(fmt.Sprintf("-bin %q: %v", bin, err), 1)
	}
	opts.Binary = abs
	if st, err := os.Stat(abs); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		fmt.Fprintf(stdio.Err, "Warning: %s is not an executable file here; the units will fail to start until it is.\n", abs)
	}

	path := configPath(c, stdio)
	explicit := opt(c, "config") != "" || stdio.getenv("WANCTL_CONFIG") != ""
	if opts.ConfigPath, err = filepath.Abs(path); err != nil {
		return opts, cli.Exit(fmt.Sprintf("-config %q: %v", path, err), 1)
	}
	if _, err := os.Stat(opts.ConfigPath); !explicit && errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stdio.Err, "Note: %s does not exist yet; rendering with the default state_dir %s and lock_dir %s.\n",
			opts.ConfigPath, systemd.DefaultStateDir, systemd.DefaultLockDir)
		warnSandbox(stdio, opts)
		return opts, nil
	}
	var missing []string
	cfg, diags := loadConfig(opts.ConfigPath, stdio, &missing)
	if len(diags.Diags) > 0 {
		if err := diags.WriteText(stdio.Err, useColor(c, stdio, stdio.Err)); err != nil {
			return opts, cli.Exit(fmt.Sprintf("writing diagnostics: %v", err), 1)
		}
	}
	if cfg == nil {
		n := len(diags.Errors())
		return opts, cli.Exit(fmt.Sprintf("%s is invalid: %d %s; fix it (see 'wanctl validate') before rendering units for it",
			opts.ConfigPath, n, plural(n, "error", "errors")), 1)
	}
	if len(missing) > 0 {
		fmt.Fprintf(stdio.Err, "Note: %s %s not set here; the services read it from /etc/wanctl/env (EnvironmentFile=).\n",
			strings.Join(missing, ", "), plural(len(missing), "is", "are"))
	}
	opts.StateDir, opts.LockDir = cfg.Daemon.StateDir, cfg.Daemon.LockDir
	warnSandbox(stdio, opts)
	return opts, nil
}

// warnSandbox says which paths the units' sandbox would hide from the
// services: the units are still written (an image build may move things
// into place afterwards), but they would fail to start as they are.
func warnSandbox(stdio IO, opts systemd.RenderOptions) {
	for _, p := range systemd.SandboxProblems(opts) {
		fmt.Fprintf(stdio.Err, "Warning: %s.\n", p)
	}
}

// step is one follow-up shell line: commands joined with "&&".
type step [][]string

func (s step) String() string {
	parts := make([]string, len(s))
	for i, argv := range s {
		q := make([]string, len(argv))
		for j, a := range argv {
			q[j] = shellQuote(a)
		}
		parts[i] = strings.Join(q, " ")
	}
	return strings.Join(parts, " && ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9@%_+=:,./-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func systemdInstall(c *cli.Context, stdio IO) error {
	root := c.String("root")
	if root == "" || !filepath.IsAbs(root) {
		return cli.Exit(fmt.Sprintf("-root %q: give an absolute directory", root), 1)
	}
	opts, err := renderOptions(c, stdio)
	if err != nil {
		return err
	}
	files, err := systemd.Render(opts)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	units := map[string][]byte{}
	for _, u := range systemd.Units() {
		units[u] = files[u]
	}
	targets := []struct {
		dir   string
		files map[string][]byte
	}{
		{sysusersDir, map[string][]byte{systemd.SysusersConf: files[systemd.SysusersConf]}},
		{unitDir, units},
	}
	for _, tg := range targets {
		dir := filepath.Join(root, tg.dir)
		if err := systemd.Write(dir, tg.files); err != nil {
			return cli.Exit(fmt.Sprintf("%v (installing needs root; or use 'wanctl systemd render -dir DIR')", err), 1)
		}
		for _, name := range sortedNames(tg.files) {
			fmt.Fprintf(stdio.Out, "Wrote %s\n", filepath.Join(dir, name))
		}
	}

	steps, notes := installSteps(root, opts)
	if !c.Bool("now") {
		fmt.Fprintln(stdio.Out, "\nNext, as root:")
		for _, s := range steps {
			fmt.Fprintf(stdio.Out, "  %s\n", s)
		}
		for _, n := range notes {
			fmt.Fprintf(stdio.Out, "Note: %s.\n", n)
		}
		return nil
	}
	for _, s := range steps {
		for _, argv := range s {
			fmt.Fprintf(stdio.Out, "+ %s\n", step{argv})
			cmd := exec.CommandContext(c.Context, argv[0], argv[1:]...)
			cmd.Stdout, cmd.Stderr = stdio.Out, stdio.Err
			if err := cmd.Run(); err != nil {
				return cli.Exit(fmt.Sprintf("%s: %v; the files are installed, run the remaining steps by hand", step{argv}, err), 1)
			}
		}
	}
	for _, n := range notes {
		fmt.Fprintf(stdio.Out, "Note: %s.\n", n)
	}
	return nil
}

// Where install puts the files, below its root.
const (
	unitDir     = "/etc/systemd/system"
	sysusersDir = "/etc/sysusers.d"
)

// installSteps are the commands that follow writing the files, and notes
// for what wanctl will not do itself.
func installSteps(root string, opts systemd.RenderOptions) (steps []step, notes []string) {
	offline := filepath.Clean(root) != "/"
	if offline {
		// No running systemd in another root: create the user there and
		// enable the units; they start when that system boots.
		steps = append(steps,
			step{{"systemd-sysusers", "--root=" + root}},
			step{{"systemctl", "--root=" + root, "enable", systemd.AutorateService, systemd.SteerTimer}})
		for _, d := range systemd.UnmanagedDirs(opts) {
			notes = append(notes, fmt.Sprintf("create %s inside %s, owned by the wanctl user", d, root))
		}
	} else {
		steps = append(steps, step{{"systemd-sysusers", filepath.Join(sysusersDir, systemd.SysusersConf)}})
		for _, d := range systemd.UnmanagedDirs(opts) {
			steps = append(steps, step{{"install", "-d", "-o", "wanctl", "-g", "wanctl", "-m", "0755", d}})
		}
		steps = append(steps, step{{"systemctl", "daemon-reload"}, {"systemctl", "enable", "--now", systemd.AutorateService, systemd.SteerTimer}})
	}
	if !wanctlCanRead(opts.ConfigPath) {
		notes = append(notes, fmt.Sprintf("the services run as user wanctl: let it read %s (e.g. chgrp wanctl %s && chmod g+r %s)",
			opts.ConfigPath, shellQuote(opts.ConfigPath), shellQuote(opts.ConfigPath)))
	}

	return steps, notes
}

// wanctlCanRead reports whether the wanctl user can read an existing file
// (other-readable, or readable through the wanctl user or group). A file
// that does not exist (yet) or an unknown user give no warning.
func wanctlCanRead(path string) bool {
	st, err := os.Stat(path)
	if err != nil {
		return true
	}
	perm := st.Mode().Perm()
	if perm&0o004 != 0 {
		return true
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	if u, err := user.Lookup("wanctl"); err == nil && u.Uid == strconv.FormatUint(uint64(sys.Uid), 10) && perm&0o400 != 0 {
		return true
	}
	if g, err := user.LookupGroup("wanctl"); err == nil && g.Gid == strconv.FormatUint(uint64(sys.Gid), 10) && perm&0o040 != 0 {
		return true
	}
	return false
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
