package commands

import (
	"bytes"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/statefile"
)

// exitUnformatted is fmt -check's exit status when a file needs formatting.
const exitUnformatted = 3

func fmtCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "fmt",
		Usage:     "rewrite configuration files in the canonical HCL format",
		ArgsUsage: "[FILE|DIR|-]...",
		Description: "Formats each FILE in place (every *.hcl file of a DIR), listing the files it changed.\n" +
			"No argument formats the configuration file (-config, $WANCTL_CONFIG, then " + DefaultConfigPath + "), as validate reads it.\n" +
			"\"-\" formats standard input to standard output (with -check: only the exit status).\n" +
			"Exit status: 0 done, 1 a file could not be read, parsed or written, 3 -check found unformatted files.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "check", Usage: "change nothing; list the files that are not formatted and exit 3 if any"},
		},
		Action: func(c *cli.Context) error {
			check := c.Bool("check")
			args := c.Args().Slice()
			// Standard input only when asked for: guessing it from "not a
			// terminal" made `fmt -check` in CI read an empty stdin and pass
			// without looking at the configuration file.
			if len(args) == 0 {
				args = []string{configPath(c, stdio)}
			}
			color := useColor(c, stdio, stdio.Err)
			var failed, unformatted []string
			for _, arg := range args {
				if arg == "-" {
					ok, changed := fmtStdin(stdio, check, color)
					if !ok {
						failed = append(failed, "standard input")
					} else if changed && check {
						unformatted = append(unformatted, "standard input")
					}
					continue
				}
				files, err := hclFiles(arg)
				if err != nil {
					fmt.Fprintf(stdio.Err, "Error: %v\n", err)
					failed = append(failed, arg)
					continue
				}
				for _, f := range files {
					ok, changed := fmtFile(stdio, f, check, color)
					switch {
					case !ok:
						failed = append(failed, f)
					case changed:
						fmt.Fprintln(stdio.Out, f)
						if check {
							unformatted = append(unformatted, f)
						}
					}
				}
			}
			switch {
			case len(failed) > 0:
				return cli.Exit(fmt.Sprintf("could not format %s", strings.Join(failed, ", ")), 1)
			case len(unformatted) > 0:
				return cli.Exit(fmt.Sprintf("%d %s not formatted; run 'wanctl fmt' to fix",
					len(unformatted), plural(len(unformatted), "file is", "files are")), exitUnformatted)
			}
			return nil
		},
	}
}

// hclFiles expands a directory into its *.hcl files.
func hclFiles(arg string) ([]string, error) {
	st, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{arg}, nil
	}
	files, err := filepath.Glob(filepath.Join(arg, "*.hcl"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}

// formatHCL returns src in canonical form; it refuses source that does not
// parse, since hclwrite would happily reformat garbage.
func formatHCL(name string, src []byte) ([]byte, *config.Diagnostics) {
	if d := config.CheckSource(name, src); d != nil {
		return nil, d
	}
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, &config.Diagnostics{Diags: diags, Files: map[string]*hcl.File{name: f}}
	}
	return hclwrite.Format(src), nil
}

func fmtFile(stdio IO, path string, check, color bool) (ok, changed bool) {
	// Only a regular file of at most config.MaxFileSize: a FIFO would hang
	// the read and /dev/zero fill the memory.
	src, _, err := config.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stdio.Err, "Error: %v\n", err)
		return false, false
	}
	out, diags := formatHCL(path, src)
	if diags != nil {
		_ = diags.WriteText(stdio.Err, color)
		return false, false
	}
	if bytes.Equal(src, out) {
		return true, false
	}
	if check {
		return true, true
	}
	st, err := os.Stat(path)
	if err != nil {
		fmt.Fprintf(stdio.Err, "Error: %v\n", err)
		return false, false
	}
	if err := statefile.WriteAtomic(path, out, st.Mode().Perm()); err != nil {
		fmt.Fprintf(stdio.Err, "Error: %v\n", err)
		return false, false
	}
	return true, true
}

func fmtStdin(stdio IO, check, color bool) (ok, changed bool) {
	if stdio.In == nil {
		fmt.Fprintln(stdio.Err, "Error: no standard input")
		return false, false
	}
	src, err := io.ReadAll(io.LimitReader(stdio.In, config.MaxFileSize+1))
	if err != nil {
		fmt.Fprintf(stdio.Err, "Error: reading standard input: %v\n", err)
		return false, false
	}
	if len(src) > config.MaxFileSize {
		fmt.Fprintf(stdio.Err, "Error: standard input is larger than %d bytes\n", config.MaxFileSize)
		return false, false
	}
	out, diags := formatHCL("<stdin>", src)
	if diags != nil {
		_ = diags.WriteText(stdio.Err, color)
		return false, false
	}
	if !check {
		if _, err := stdio.Out.Write(out); err != nil {
			fmt.Fprintf(stdio.Err, "Error: writing standard output: %v\n", err)
			return false, false
		}
	}
	return true, !bytes.Equal(src, out)
}

// isTerminal reports whether r is a terminal. A character device is not
// enough: /dev/null is one (cron, CI and `< /dev/null` would get a prompt
// nobody answers).
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
