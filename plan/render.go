package plan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/wanctl/wanctl/routeros"
)

// ANSI colours, used only when the caller says so.
const (
	cReset  = "\x1b[0m"
	cBold   = "\x1b[1m"
	cRed    = "\x1b[31m"
	cGreen  = "\x1b[32m"
	cYellow = "\x1b[33m"
)

type painter bool

func (p painter) paint(color, s string) string {
	if !p || s == "" {
		return s
	}
	return color + s + cReset
}

func (p painter) symbol(a Action) string {
	switch a {
	case Create:
		return "  " + p.paint(cGreen, "+")
	case Update, Move:
		return "  " + p.paint(cYellow, "~")
	case Delete:
		return "  " + p.paint(cRed, "-")
	case Replace:
		return p.paint(cRed, "-") + "/" + p.paint(cGreen, "+")
	}
	return "   "
}

// WriteText renders the plan for humans, Terraform-like: the changes per
// router, the footer, then the warnings. Errors are not rendered here
// (WriteDiagnostics): a plan with errors has no changes.
func (p *Plan) WriteText(w io.Writer, color bool) error {
	bw := bufio.NewWriter(w)
	pt := painter(color)
	if len(p.Changes) == 0 {
		fmt.Fprintln(bw, pt.paint(cGreen+cBold, "No changes.")+" The router matches the configuration.")
	} else {
		used := map[Action]bool{}
		for _, c := range p.Changes {
			used[c.Action] = true
		}
		fmt.Fprintln(bw, "Actions are indicated with the following symbols:")
		for _, l := range []struct {
			a    []Action
			text string
		}{
			{[]Action{Create}, "create"},
			{[]Action{Update, Move}, "update in place (or move)"},
			{[]Action{Delete}, "destroy"},
			{[]Action{Replace}, "destroy and then create replacement (the new object is created first)"},
		} {
			for _, a := range l.a {
				if used[a] {
					fmt.Fprintf(bw, "%s %s\n", pt.symbol(a), l.text)
					break
				}
			}
		}
		router := ""
		for _, c := range p.Changes {
			if c.Router != router {
				router = c.Router
				fmt.Fprintf(bw, "\nwanctl will perform the following actions on router %q%s:\n", router, p.routerURL(router))
			}
			writeChange(bw, pt, c)
		}
		s := p.Summary
		fmt.Fprintf(bw, "\n%s %d to add, %d to change, %d to destroy.\n", pt.paint(cBold, "Plan:"), s.Add, s.Change, s.Destroy)
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintln(bw)
		writeDiags(bw, pt, p.Warnings)
	}
	return bw.Flush()
}

func (p *Plan) routerURL(name string) string {
	for _, r := range p.Routers {
		if r.Name == name && r.URL != "" {
			return " (" + r.URL + ")"
		}
	}
	return ""
}

func header(c *Change) string {
	switch c.Action {
	case Create:
		return "will be created"
	case Delete:
		return "will be destroyed"
	case Replace:
		return "must be replaced"
	case Move:
		return "will be moved " + position(c)
	}
	h := "will be updated in place"
	if c.Adopt {
		h = "will be adopted (updated in place to carry the wanctl marker)"
		if c.Menu == routeros.MenuQueueType {
			h = "will be adopted (updated in place; owned through the wanctl queue using it)"
		}
	}
	if c.Moved {
		h += " and moved " + position(c)
	}
	return h
}

func position(c *Change) string {
	if c.PlaceBefore == nil {
		return "to the end of the menu"
	}
	if c.PlaceBefore.Label != "" {
		return "before " + c.PlaceBefore.Label
	}
	return "before " + c.PlaceBefore.Address + c.PlaceBefore.ID
}

func writeChange(w io.Writer, pt painter, c *Change) {
	fmt.Fprintf(w, "\n  %s %s\n", pt.paint(cBold, "# "+c.Address), header(c))
	id := ""
	if c.ID != "" {
		id = " (" + c.ID + ")"
	}
	fmt.Fprintf(w, "%s /%s %s%s {\n", pt.symbol(c.Action), c.Menu, strconv.Quote(c.Name), id)
	type line struct{ sym, key, text string }
	var lines []line
	switch c.Action {
	case Create:
		for _, k := range sortedKeys(c.After) {
			lines = append(lines, line{pt.paint(cGreen, "+"), k, quote(c.After[k])})
		}
		if c.PlaceBefore != nil || isMangle(c.Menu) {
			lines = append(lines, line{" ", "# position", position(c)})
		}
	case Delete:
		for _, k := range sortedKeys(c.Before) {
			lines = append(lines, line{pt.paint(cRed, "-"), k, quote(c.Before[k])})
		}
	default:
		force := map[string]bool{}
		for _, f := range c.ReplaceFields {
			force[f] = true
		}
		for _, k := range c.ChangedFields {
			b, hadB := c.Before[k]
			a, hasA := c.After[k]
			var l line
			switch {
			case hadB && b != "" && hasA:
				l = line{pt.paint(cYellow, "~"), k, quote(b) + " -> " + quote(a)}
			case hasA:
				l = line{pt.paint(cGreen, "+"), k, quote(a)}
			default:
				l = line{pt.paint(cRed, "-"), k, quote(b) + " -> null"}
			}
			if force[k] {
				l.text += pt.paint(cRed, " # forces replacement")
			}
			lines = append(lines, l)
		}
		if hidden := len(c.After) - len(c.ChangedFields); hidden > 0 && c.Action != Replace {
			lines = append(lines, line{" ", "", fmt.Sprintf("# (%d unchanged attributes hidden)", hidden)})
		}
	}
	width := 0
	for _, l := range lines {
		if len(l.key) > width && !strings.HasPrefix(l.key, "#") {
			width = len(l.key)
		}
	}
	for _, l := range lines {
		switch {
		case l.key == "":
			fmt.Fprintf(w, "      %s %s\n", l.sym, l.text)
		case strings.HasPrefix(l.key, "#"):
			fmt.Fprintf(w, "      %s %s: %s\n", l.sym, l.key, l.text)
		default:
			fmt.Fprintf(w, "      %s %-*s = %s\n", l.sym, width, l.key, l.text)
		}
	}
	fmt.Fprintln(w, "    }")
}

func isMangle(menu string) bool {
	return menu == routeros.MenuMangle || menu == routeros.MenuMangle6
}

func quote(s string) string { return strconv.Quote(s) }

func sortedKeys(o routeros.Object) []string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteDiagnostics renders errors and warnings for humans.
func WriteDiagnostics(w io.Writer, ds Diagnostics, color bool) error {
	bw := bufio.NewWriter(w)
	writeDiags(bw, painter(color), ds)
	return bw.Flush()
}

func writeDiags(w io.Writer, pt painter, ds Diagnostics) {
	for i, d := range ds {
		if i > 0 {
			fmt.Fprintln(w)
		}
		label := pt.paint(cYellow+cBold, "Warning:")
		if d.Severity == SeverityError {
			label = pt.paint(cRed+cBold, "Error:")
		}
		fmt.Fprintf(w, "%s %s\n", label, sanitize(d.Summary))
		if d.Address != "" {
			fmt.Fprintf(w, "\n  with %s", d.Address)
			if d.Router != "" {
				fmt.Fprintf(w, " on router %q", d.Router)
			}
			fmt.Fprintln(w)
		}
		if d.Detail != "" {
			fmt.Fprintf(w, "\n%s\n", wrap(sanitize(d.Detail), "  ", 78))
		}
	}
}

// sanitize drops control characters (router-supplied text may hold them)
// except newlines.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || (r >= 0x20 && r != 0x7f) {
			return r
		}
		return -1
	}, s)
}

// WriteJSON writes the plan as one JSON document (docs/plan-json.md).
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(p)
}

// wrap fills text to width columns, each line indented; newlines in text
// start new paragraphs.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	for pi, para := range strings.Split(text, "\n") {
		if pi > 0 {
			b.WriteByte('\n')
		}
		col := 0
		for i, word := range strings.Fields(para) {
			switch {
			case i == 0:
				b.WriteString(indent)
				col = len(indent)
			case col+1+len(word) > width:
				b.WriteString("\n" + indent)
				col = len(indent)
			default:
				b.WriteByte(' ')
				col++
			}
			b.WriteString(word)
			col += len(word)
		}
	}
	return b.String()
}
