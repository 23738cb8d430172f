package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryAttribute keeps docs/config.md complete: every block of
// the schema has a section whose heading names it in backticks, and every
// attribute has a table row there with a type and a default.
func TestDocsListEveryAttribute(t *testing.T) {
	b, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	section := func(path string) []string {
		for i, l := range lines {
			if strings.HasPrefix(l, "#") && strings.Contains(l, "`"+path+"`") {
				end := i + 1
				for end < len(lines) && !strings.HasPrefix(lines[end], "#") {
					end++
				}
				return lines[i+1 : end]
			}
		}
		return nil
	}
	n := 0
	rootSchema.walk(func(bs *blockSchema) {
		if bs.Path == "" {
			return
		}
		sec := section(bs.Path)
		if sec == nil {
			t.Errorf("docs/config.md has no heading naming `%s`", bs.Path)
			return
		}
		for _, attr := range bs.Attrs {
			n++
			found := false
			for _, l := range sec {
				if !strings.HasPrefix(l, "| `"+attr+"` |") {
					continue
				}
				found = true
				cols := strings.Split(l, "|")
				if len(cols) < 6 || strings.TrimSpace(cols[2]) == "" || strings.TrimSpace(cols[3]) == "" || strings.TrimSpace(cols[4]) == "" {
					t.Errorf("`%s.%s`: row needs type, default and constraints: %s", bs.Path, attr, l)
				}
			}
			if !found {
				t.Errorf("docs/config.md: section `%s` has no row for `%s`", bs.Path, attr)
			}
		}
	})
	if n < 70 {
		t.Errorf("only %d attributes in the schema?", n)
	}
}
