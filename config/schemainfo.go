package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// blockSchema is the shape of one block kind, read from the raw structs'
// tags: used for hints ("reflectors belongs in a measurement block") and
// by the test that keeps docs/config.md complete.
type blockSchema struct {
	Path   string   // "wan.download.floor"; "" for the file
	Attrs  []string // in declaration order
	Labels []string
	Blocks []*blockSchema
}

func (b *blockSchema) child(name string) *blockSchema {
	for _, c := range b.Blocks {
		if c.name() == name {
			return c
		}
	}
	return nil
}

func (b *blockSchema) name() string { return b.Path[strings.LastIndex(b.Path, ".")+1:] }

// walk visits b and every block below it.
func (b *blockSchema) walk(f func(*blockSchema)) {
	f(b)
	for _, c := range b.Blocks {
		c.walk(f)
	}
}

var rootSchema = schemaOf(reflect.TypeOf(rawFile{}), "")

func schemaOf(t reflect.Type, path string) *blockSchema {
	b := &blockSchema{Path: path}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("hcl")
		if !ok {
			continue
		}
		name, kind, _ := strings.Cut(tag, ",")
		switch kind {
		case "attr", "optional", "":
			b.Attrs = append(b.Attrs, name)
		case "label":
			b.Labels = append(b.Labels, name)
		case "block":
			et := f.Type
			for et.Kind() == reflect.Slice || et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			b.Blocks = append(b.Blocks, schemaOf(et, p))
		}
	}
	return b
}

// blockPathAt returns the block types enclosing pos, outermost first.
func blockPathAt(body *hclsyntax.Body, pos hcl.Pos) []string {
	var path []string
	for body != nil {
		var next *hclsyntax.Body
		for _, blk := range body.Blocks {
			r := blk.Body.SrcRange
			if r.Start.Byte <= pos.Byte && pos.Byte < r.End.Byte {
				path = append(path, blk.Type)
				next = blk.Body
				break
			}
		}
		body = next
	}
	return path
}

// improveSchemaDiags adds hints to HCL's "Unsupported argument/block type"
// diagnostics when HCL itself found no close spelling: where that name
// does belong, or which names are valid here.
func improveSchemaDiags(diags hcl.Diagnostics, f *hcl.File) hcl.Diagnostics {
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return diags
	}
	out := make(hcl.Diagnostics, 0, len(diags))
	for _, diag := range diags {
		isAttr := diag.Summary == "Unsupported argument"
		isBlock := diag.Summary == "Unsupported block type"
		if (!isAttr && !isBlock) || diag.Subject == nil || strings.Contains(diag.Detail, "Did you mean") {
			out = append(out, diag)
			continue
		}
		name := string(diag.Subject.SliceBytes(f.Bytes))
		here := rootSchema
		for _, p := range blockPathAt(body, diag.Subject.Start) {
			if here = here.child(p); here == nil {
				break
			}
		}
		if here == nil {
			out = append(out, diag)
			continue
		}
		c := *diag
		c.Detail += hintFor(name, isAttr, here)
		out = append(out, &c)
	}
	return out
}

func hintFor(name string, isAttr bool, here *blockSchema) string {
	desc := func(b *blockSchema) string {
		if b.Path == "" {
			return "the top level"
		}
		return "a " + b.Path + " block"
	}
	var elsewhere []string
	rootSchema.walk(func(b *blockSchema) {
		if b == here {
			return
		}
		if (isAttr && contains(b.Attrs, name)) || (!isAttr && b.child(name) != nil) {
			elsewhere = append(elsewhere, desc(b))
		}
	})
	kind, valid := "arguments", here.Attrs
	if !isAttr {
		kind, valid = "blocks", nil
		for _, b := range here.Blocks {
			valid = append(valid, b.name())
		}
	}
	if len(elsewhere) > 0 {
		return fmt.Sprintf(" %q belongs in %s, not in %s.", name, strings.Join(elsewhere, " or "), desc(here))
	}
	if len(valid) == 0 {
		return fmt.Sprintf(" No %s are allowed in %s.", kind, desc(here))
	}
	sorted := append([]string(nil), valid...)
	sort.Strings(sorted)
	return fmt.Sprintf(" Valid %s in %s: %s.", kind, desc(here), strings.Join(sorted, ", "))
}
