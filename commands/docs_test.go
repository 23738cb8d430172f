package commands

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// docFiles are the documents whose command lines must match the binary.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	return append([]string{"../README.md"}, files...)
}

// codeSegments returns the code of a Markdown file with its line numbers:
// every line of a fenced block, and every inline `code span` elsewhere.
func codeSegments(t *testing.T, path string) (lines []int, segs []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	span := regexp.MustCompile("`([^`]+)`")
	fenced := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			lines, segs = append(lines, n), append(segs, line)
			continue
		}
		for _, m := range span.FindAllStringSubmatch(line, -1) {
			lines, segs = append(lines, n), append(segs, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines, segs
}

// wanctlInvocation finds "wanctl ..." where a shell would run it: at the
// start of the code, after sudo, a prompt, ;, && or |, with environment
// assignments and a directory in front allowed ("./wanctl",
// "WANCTL_CONFIG=x wanctl"). "-bin /usr/bin/wanctl" and "-o wanctl" are
// arguments, not invocations.
var wanctlInvocation = regexp.MustCompile(`(?:^\s*|[;&|(]\s*|\$ |sudo )(?:\w+=\S*\s+)*(?:\S*/)?wanctl\s+(.*)$`)

// docFlag is a -flag or --flag at the start of a word, or after [ or a
// \| alternative in a synopsis ("[-scenario S\|-trace CSV]").
var docFlag = regexp.MustCompile(`(?:^|[\s\[|(])--?([a-zA-Z][\w-]*)`)

// visibleFlagNames are the names --help shows for flags.
func visibleFlagNames(flags []cli.Flag) map[string]bool {
	names := map[string]bool{"help": true, "h": true}
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		for _, n := range f.Names() {
			names[n] = true
		}
	}
	return names
}

// findCommand returns the visible command named name, or nil.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name && !c.Hidden {
			return c
		}
	}
	return nil
}

// docFlagProblems checks one piece of code: every flag after "wanctl CMD"
// must be one of CMD's visible flags (global flags before CMD, the app's).
// Code that names no wanctl command is not checked.
func docFlagProblems(app *cli.App, code string) []string {
	m := wanctlInvocation.FindStringSubmatch(code)
	if m == nil {
		return nil
	}
	rest := m[1]
	for _, sep := range []string{" | ", " && ", "; ", " #"} {
		if i := strings.Index(rest, sep); i >= 0 {
			rest = rest[:i]
		}
	}
	words := strings.Fields(rest)
	var problems []string
	check := func(flags []cli.Flag, where, text string) {
		known := visibleFlagNames(flags)
		for _, f := range docFlag.FindAllStringSubmatch(text, -1) {
			if !known[f[1]] {
				problems = append(problems, fmt.Sprintf("-%s is not a flag of %s (see its -h)", f[1], where))
			}
		}
	}
	// Global flags before the command; a flag without "=" that takes a
	// value consumes the next word.
	i := 0
	for i < len(words) && strings.HasPrefix(words[i], "-") {
		check(app.Flags, "wanctl", words[i])
		name := strings.TrimLeft(words[i], "-")
		if !strings.Contains(name, "=") && !isBoolFlag(app.Flags, name) {
			i++
		}
		i++
	}
	if i >= len(words) {
		return problems
	}
	cmd := findCommand(app.Commands, words[i])
	if cmd == nil {
		return problems
	}
	path := "wanctl " + cmd.Name
	i++
	if i < len(words) {
		if sub := findCommand(cmd.Subcommands, words[i]); sub != nil {
			cmd, path = sub, path+" "+sub.Name
			i++
		}
	}
	check(cmd.Flags, path, strings.Join(words[i:], " "))
	return problems
}

func isBoolFlag(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, ok := f.(*cli.BoolFlag)
				return ok
			}
		}
	}
	return false
}

// Every flag the README and docs/ show after "wanctl CMD" is one --help
// lists for CMD: a renamed, removed or hidden flag fails here.
func TestDocsFlagsExist(t *testing.T) {
	app := newApp(IO{})
	checked := 0
	for _, file := range docFiles(t) {
		lines, segs := codeSegments(t, file)
		for k, seg := range segs {
			if wanctlInvocation.MatchString(seg) {
				checked++
			}
			for _, p := range docFlagProblems(app, seg) {
				t.Errorf("%s:%d: `%s`: %s", strings.TrimPrefix(file, "../"), lines[k], strings.TrimSpace(seg), p)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d wanctl command lines found in the docs: is the matching broken?", checked)
	}
}

// The checker itself: what it must catch and what it must leave alone.
func TestDocFlagProblems(t *testing.T) {
	app := newApp(IO{})
	for _, c := range []struct {
		code string
		bad  int
	}{
		{"wanctl plan -json -out p.plan", 0},
		{"./wanctl plan -detailed-exitcode -config x.hcl", 0},
		{"wanctl plan -jsn", 1},
		{"sudo wanctl systemd install -now -root /mnt", 0},
		{"wanctl systemd install -dir x", 1},
		{"wanctl systemd render -dir ./units -bin /usr/bin/wanctl -config /etc/wanctl/wanctl.hcl", 0},
		{"wanctl -log-level debug plan -json", 0},
		{"wanctl -log-level debug plan -nope", 1},
		{"wanctl -verbose plan", 1},
		{"wanctl simulate [-scenario S\\|-trace CSV] [-json]", 0},
		{"wanctl simulate [-scenario S\\|-trce CSV]", 1},
		{"WANCTL_CONFIG=ugly.hcl wanctl fmt -check </dev/null", 0},
		{"wanctl plan -json | jq -r .x", 0},
		{"wanctl emulator -latency -1s", 0},
		{"install -d -o wanctl -g wanctl -m 0755 /srv/wanctl", 0},
		{"go build -o /usr/local/bin/wanctl .", 0},
		{"wanctl keeps a link -responsive", 0}, // prose: no such command
	} {
		t.Run(c.code, func(t *testing.T) {
			if got := docFlagProblems(app, c.code); len(got) != c.bad {
				t.Errorf("%d problems, want %d: %q", len(got), c.bad, got)
			}
		})
	}
}

// The documents name only files that are in the repository: every
// relative link target, and every NAME.md they mention (found next to the
// document or at the top of the repository).
func TestDocsReferToRepoFiles(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)#\s]+)[^)]*\)`)
	mdName := regexp.MustCompile(`[A-Za-z0-9_./-]*[A-Za-z0-9_-]+\.md\b`)
	url := regexp.MustCompile(`\w+://\S+`)
	files := append(docFiles(t), "../CHANGELOG.md", "../BENCHMARKS.md")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		exists := func(ref string) bool {
			for _, dir := range []string{filepath.Dir(file), ".."} {
				if _, err := os.Stat(filepath.Join(dir, ref)); err == nil {
					return true
				}
			}
			return false
		}
		for n, line := range strings.Split(string(b), "\n") {
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				if !strings.Contains(m[1], "://") && !strings.HasPrefix(m[1], "mailto:") && !exists(m[1]) {
					t.Errorf("%s:%d: link to %s, which is not in the repository", strings.TrimPrefix(file, "../"), n+1, m[1])
				}
			}
			for _, ref := range mdName.FindAllString(url.ReplaceAllString(line, ""), -1) {
				if !exists(ref) {
					t.Errorf("%s:%d: names %s, which is not in the repository", strings.TrimPrefix(file, "../"), n+1, ref)
				}
			}
		}
	}
}
