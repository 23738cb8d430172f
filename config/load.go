package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Options are the outside world Parse sees. Zero values mean the real one.
type Options struct {
	// FileMode is the configuration file's mode: a literal password in a
	// file readable by group or others is an error. 0 = not from a file.
	FileMode fs.FileMode
	// LookupEnv backs env(); nil = os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile backs file() and the ca_file check; nil = the real file
	// system, reading at most 1 MiB.
	ReadFile func(string) ([]byte, error)
}

// Load reads, decodes, defaults and validates the configuration at path,
// with the real environment and the file's real mode. The Config is nil
// when the diagnostics have errors.
func Load(path string) (*Config, *Diagnostics) { return LoadFile(path, Options{}) }

// LoadFile is Load with options: LookupEnv and ReadFile as for Parse; the
// file mode, when opts.FileMode is zero, is the file's own.
func LoadFile(path string, opts Options) (*Config, *Diagnostics) {
	src, mode, err := ReadFile(path)
	if err != nil {
		return nil, &Diagnostics{Files: map[string]*hcl.File{}, Diags: hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration file",
			Detail: fmt.Sprintf("%v. Pass the file with -config FILE or set WANCTL_CONFIG "+
				"(the default is /etc/wanctl/wanctl.hcl); examples are in the examples/ directory.", err),
		}}}
	}
	if opts.FileMode == 0 {
		opts.FileMode = mode.Perm()
	}
	return Parse(path, src, opts)
}

// Parse decodes, defaults and validates configuration source. filename
// names it in diagnostics, and relative paths in file() and ca_file are
// relative to its directory. The Config is nil when the diagnostics have
// errors; warnings alone leave it set.
func Parse(filename string, src []byte, opts Options) (*Config, *Diagnostics) {
	if d := CheckSource(filename, src); d != nil {
		return nil, d
	}
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, filename)
	out := &Diagnostics{Files: p.Files()}
	if diags.HasErrors() || f == nil {
		out.Diags = sortDiags(diags)
		return nil, out
	}
	if body, ok := f.Body.(*hclsyntax.Body); ok {
		if more := checkExpressions(body); more.HasErrors() {
			out.Diags = sortDiags(append(diags, more...))
			return nil, out
		}
	}
	d := newDecoder(filename, opts)
	d.diags = diags
	var raw rawFile
	d.diags = append(d.diags, improveSchemaDiags(gohcl.DecodeBody(f.Body, nil, &raw), f)...)
	cfg := d.decodeFile(&raw)
	d.validate(cfg, &raw)
	out.Diags = sortDiags(d.diags)
	out.secrets = d.secrets
	if out.Diags.HasErrors() {
		return nil, out
	}
	return cfg, out
}

// snippetFile offers the source for the diagnostic's snippet unless its
// line is too long to show (a generated line of brackets).
func snippetFile(filename string, src []byte, at *hcl.Range) map[string]*hcl.File {
	start := bytes.LastIndexByte(src[:at.Start.Byte], '\n') + 1
	end := bytes.IndexByte(src[at.Start.Byte:], '\n')
	if end < 0 {
		end = len(src) - at.Start.Byte
	}
	if at.Start.Byte+end-start > 200 {
		return map[string]*hcl.File{}
	}
	return map[string]*hcl.File{filename: {Bytes: src}}
}

// sortDiags orders diagnostics by position, so that output is stable and
// reads top to bottom.
func sortDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
	return diags
}

// Diagnostics are the problems found while loading a configuration, with the
// parsed files so that renderings can show source snippets.
type Diagnostics struct {
	Diags hcl.Diagnostics
	Files map[string]*hcl.File

	// secrets are the ranges of passwords written literally in the file:
	// snippets show them as asterisks.
	secrets []hcl.Range
}

// HasErrors reports whether any diagnostic is an error (warnings are not).
func (d *Diagnostics) HasErrors() bool { return d != nil && d.Diags.HasErrors() }

// Warnings returns the warnings only.
func (d *Diagnostics) Warnings() hcl.Diagnostics {
	if d == nil {
		return nil
	}
	var w hcl.Diagnostics
	for _, diag := range d.Diags {
		if diag.Severity == hcl.DiagWarning {
			w = append(w, diag)
		}
	}
	return w
}

// Errors returns the errors only.
func (d *Diagnostics) Errors() hcl.Diagnostics {
	if d == nil {
		return nil
	}
	var e hcl.Diagnostics
	for _, diag := range d.Diags {
		if diag.Severity == hcl.DiagError {
			e = append(e, diag)
		}
	}
	return e
}

// textWidth wraps the detail paragraphs for a terminal.
const textWidth = 78

// WriteText renders every diagnostic with file:line:col, the source lines
// and, without colour, a ^^^ marker under the offending range. Secrets are
// masked in the source lines (see redact.go) and URL credentials in the
// texts.
func (d *Diagnostics) WriteText(w io.Writer, color bool) error {
	if d == nil {
		return nil
	}
	files := d.redactedFiles()
	lineStarts := map[string][]int{}
	for _, diag := range d.Diags {
		diag = redactDiag(diag)
		var buf bytes.Buffer
		if err := writeDiagnostic(&buf, files, lineStarts, diag, color); err != nil {
			return err
		}
		text := buf.String()
		if s := diag.Subject; s != nil {
			// HCL names only the line; say file:line:col, as compilers do.
			old := fmt.Sprintf("  on %s line %d", s.Filename, s.Start.Line)
			text = strings.Replace(text, old, fmt.Sprintf("  on %s:%d:%d", s.Filename, s.Start.Line, s.Start.Column), 1)
			if !color {
				text = addCaret(text, diag.Subject, files[s.Filename])
			}
		}
		if _, err := io.WriteString(w, text); err != nil {
			return err
		}
	}
	return nil
}

// writeDiagnostic is HCL's text rendering of one diagnostic, given only the
// lines around its subject: HCL's writer scans the whole file for every
// diagnostic, which made many diagnostics in a large file quadratic (a
// fuzzed megabyte with 150,000 errors did not finish in ten minutes). The
// window's ranges are shifted into it and its line numbers shifted back in
// the output, so the text is the same as with the whole file.
func writeDiagnostic(w io.Writer, files map[string]*hcl.File, lineStarts map[string][]int, diag *hcl.Diagnostic, color bool) error {
	var f *hcl.File
	if diag.Subject != nil {
		f = files[diag.Subject.Filename]
	}
	if f == nil || f.Bytes == nil {
		return hcl.NewDiagnosticTextWriter(w, files, textWidth, color).WriteDiagnostic(diag)
	}
	name, src := diag.Subject.Filename, f.Bytes
	starts := lineStarts[name]
	if starts == nil {
		starts = []int{0}
		for i, c := range src {
			if c == '\n' {
				starts = append(starts, i+1)
			}
		}
		lineStarts[name] = starts
	}
	snip := *diag.Subject
	if diag.Context != nil {
		snip = hcl.RangeOver(snip, *diag.Context)
	}
	// The lines of the snippet, and one more on each side: HCL decides
	// which of them to show.
	lineOf := func(off int) int {
		off = min(max(off, 0), len(src))
		return sort.Search(len(starts), func(i int) bool { return starts[i] > off }) - 1
	}
	first := max(lineOf(snip.Start.Byte)-1, 0)
	last := min(lineOf(snip.End.Byte)+1, len(starts)-1)
	from, to := starts[first], len(src)
	if last+1 < len(starts) {
		to = starts[last+1]
	}
	shift := func(r *hcl.Range) *hcl.Range {
		if r == nil || r.Filename != name {
			return r
		}
		c := *r
		c.Start.Byte, c.End.Byte = c.Start.Byte-from, c.End.Byte-from
		c.Start.Line, c.End.Line = c.Start.Line-first, c.End.Line-first
		return &c
	}
	wd := *diag
	wd.Subject, wd.Context = shift(diag.Subject), shift(diag.Context)
	window := map[string]*hcl.File{name: {Bytes: src[from:to], Nav: shiftedNav{f.Nav, from}}}
	var buf bytes.Buffer
	if err := hcl.NewDiagnosticTextWriter(&buf, window, textWidth, color).WriteDiagnostic(&wd); err != nil {
		return err
	}
	// Put the real line numbers back: in the header, and before each
	// source line (from the header to the blank line after the snippet).
	out := strings.SplitAfter(buf.String(), "\n")
	header := fmt.Sprintf("  on %s line %d", name, wd.Subject.Start.Line)
	for i, l := range out {
		if !strings.HasPrefix(l, header) {
			continue
		}
		out[i] = fmt.Sprintf("  on %s line %d", name, diag.Subject.Start.Line) + l[len(header):]
		for j := i + 1; j < len(out) && out[j] != "\n"; j++ {
			num, rest, ok := strings.Cut(out[j], ": ")
			n, err := strconv.Atoi(strings.TrimSpace(num))
			if !ok || err != nil {
				break
			}
			out[j] = fmt.Sprintf("%4d: %s", n+first, rest)
		}
		break
	}
	_, err := io.WriteString(w, strings.Join(out, ""))
	return err
}

// shiftedNav answers HCL's "in <block>" question for a window of a file
// that starts at byte delta.
type shiftedNav struct {
	nav   any
	delta int
}

func (n shiftedNav) ContextString(offset int) string {
	if c, ok := n.nav.(interface{ ContextString(int) string }); ok {
		return c.ContextString(offset + n.delta)
	}
	return ""
}

// redactDiag masks URL credentials in the texts of a diagnostic.
func redactDiag(diag *hcl.Diagnostic) *hcl.Diagnostic {
	s, d := redactText(diag.Summary), redactText(diag.Detail)
	if s == diag.Summary && d == diag.Detail {
		return diag
	}
	c := *diag
	c.Summary, c.Detail = s, d
	return &c
}

// redactedFiles returns the files with secrets masked: lexically (see
// redact.go), and the literal passwords the decoder found.
func (d *Diagnostics) redactedFiles() map[string]*hcl.File {
	files := make(map[string]*hcl.File, len(d.Files))
	for name, f := range d.Files {
		if f != nil && len(f.Bytes) > 0 {
			if b := redactSource(f.Bytes); &b[0] != &f.Bytes[0] {
				c := *f
				c.Bytes = b
				f = &c
			}
		}
		files[name] = f
	}
	for _, r := range d.secrets {
		f := files[r.Filename]
		if f == nil || r.End.Byte > len(f.Bytes) || r.End.Byte-r.Start.Byte < 2 {
			continue
		}
		if f == d.Files[r.Filename] {
			c := *f
			c.Bytes = append([]byte(nil), f.Bytes...)
			files[r.Filename], f = &c, &c
		}
		// Keep the quotes and the line structure; mask what is between.
		for i := r.Start.Byte + 1; i < r.End.Byte-1; i++ {
			if f.Bytes[i] != '\n' {
				f.Bytes[i] = '*'
			}
		}
	}
	return files
}

// addCaret inserts a line of ^ under the subject's first source line.
func addCaret(text string, s *hcl.Range, f *hcl.File) string {
	if f == nil {
		return text
	}
	prefix := fmt.Sprintf("%4d: ", s.Start.Line)
	lines := strings.SplitAfter(text, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		src := strings.TrimSuffix(strings.TrimPrefix(l, prefix), "\n")
		col := s.Start.Column - 1
		if col > len(src) {
			col = len(src)
		}
		// Keep tabs so the marker lines up under tab-indented source.
		var pad strings.Builder
		for _, r := range src[:col] {
			if r == '\t' {
				pad.WriteByte('\t')
			} else {
				pad.WriteByte(' ')
			}
		}
		n := 1
		if s.End.Line == s.Start.Line && s.End.Column > s.Start.Column {
			n = s.End.Column - s.Start.Column
		} else if s.End.Line > s.Start.Line {
			n = max(1, len([]rune(src))-col)
		}
		caret := strings.Repeat(" ", len(prefix)) + pad.String() + strings.Repeat("^", n) + "\n"
		return strings.Join(lines[:i+1], "") + caret + strings.Join(lines[i+1:], "")
	}
	return text
}

// jsonDiag is one element of Diagnostics.JSON.
type jsonDiag struct {
	Severity string `json:"severity"` // "error" or "warning"
	Summary  string `json:"summary"`
	Detail   string `json:"detail"`
	Filename string `json:"filename"` // "" when the problem has no position
	Line     int    `json:"line"`
	Column   int    `json:"column"`
}

// JSON renders the diagnostics as a JSON array (never null):
// [{"severity","summary","detail","filename","line","column"}].
func (d *Diagnostics) JSON() ([]byte, error) {
	out := []jsonDiag{}
	if d != nil {
		for _, diag := range d.Diags {
			diag = redactDiag(diag)
			j := jsonDiag{Severity: "error", Summary: diag.Summary, Detail: diag.Detail}
			if diag.Severity == hcl.DiagWarning {
				j.Severity = "warning"
			}
			if s := diag.Subject; s != nil {
				j.Filename, j.Line, j.Column = s.Filename, s.Start.Line, s.Start.Column
			}
			out = append(out, j)
		}
	}
	return json.MarshalIndent(out, "", "  ")
}

// Error renders one line per diagnostic, "file:line:col: summary"
// (warnings say "warning: " before the summary), for wrapping into other
// commands' errors. WriteText has the details and hints.
func (d *Diagnostics) Error() string {
	if d == nil {
		return ""
	}
	var b strings.Builder
	for i, diag := range d.Diags {
		if i > 0 {
			b.WriteByte('\n')
		}
		if s := diag.Subject; s != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", s.Filename, s.Start.Line, s.Start.Column)
		}
		if diag.Severity == hcl.DiagWarning {
			b.WriteString("warning: ")
		}
		b.WriteString(redactText(diag.Summary))
	}
	return b.String()
}
