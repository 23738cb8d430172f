package config

import (
	hcl "github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// checkExpressions allows only what a configuration needs: literal values,
// lists, strings (with ${...} interpolation), negative numbers and calls to
// env() and file(). No arithmetic, conditionals, for-expressions, indexes
// or objects. Besides keeping configurations plain, this bounds the work
// evaluation can do: a number like 1e100000000 turned into a string would
// otherwise print a hundred million digits.
func checkExpressions(body *hclsyntax.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	// VisitAll walks in source order, parents first: an expression inside
	// a reported one comes after it, before anything reported later, so
	// comparing with the last report is enough (comparing with every one
	// was quadratic: a megabyte of "1+1," reports 250,000 times).
	var last *hcl.Range
	inside := func(r hcl.Range) bool {
		return last != nil && last.Filename == r.Filename && last.Start.Byte <= r.Start.Byte && r.End.Byte <= last.End.Byte
	}
	report := func(r hcl.Range, summary, detail string) {
		if inside(r) {
			return
		}
		last = &r
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()})
	}
	const plain = "Configuration values are plain: strings, numbers, bools, lists, and env(NAME) / file(PATH) " +
		"(also inside strings: \"${env(\\\"X\\\")}\"). Write the value itself."
	_ = hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		switch e := n.(type) {
		case *hclsyntax.BinaryOpExpr, *hclsyntax.ConditionalExpr, *hclsyntax.ForExpr, *hclsyntax.SplatExpr,
			*hclsyntax.IndexExpr, *hclsyntax.RelativeTraversalExpr, *hclsyntax.ObjectConsExpr, *hclsyntax.TemplateJoinExpr:
			report(e.(hclsyntax.Expression).Range(), "Unsupported expression", plain)
		case *hclsyntax.UnaryOpExpr:
			if lit, ok := e.Val.(*hclsyntax.LiteralValueExpr); !ok || e.Op != hclsyntax.OpNegate || lit.Val.Type() != cty.Number {
				report(e.Range(), "Unsupported expression", plain+" Only a number can have a minus sign.")
			}
		case *hclsyntax.LiteralValueExpr:
			if e.Val.Type() == cty.Number && !e.Val.IsNull() {
				f := e.Val.AsBigFloat()
				if exp := f.MantExp(nil); f.Sign() != 0 && (exp > 70 || exp < -70) {
					report(e.Range(), "Number out of range",
						"This number is too large or too small for any setting here.")
				}
			}
		}
		return nil
	})
	return diags
}
