package config

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	hcl "github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// funcError is returned by env() and file(); evaluation turns it into a
// diagnostic with its own summary instead of HCL's generic
// "Error in function call".
type funcError struct {
	summary string
	detail  string
}

func (e *funcError) Error() string { return e.summary }

// evalContext offers exactly two functions and no variables.
func (d *decoder) evalContext() *hcl.EvalContext {
	return &hcl.EvalContext{
		Functions: map[string]function.Function{
			"env":  d.envFunc(),
			"file": d.fileFunc(),
		},
	}
}

func (d *decoder) envFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable of the wanctl process.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			v, ok := d.lookupEnv(name)
			if !ok {
				return cty.UnknownVal(cty.String), &funcError{
					summary: fmt.Sprintf("Environment variable %s is not set", name),
					detail: fmt.Sprintf("env(%q) reads the environment of the wanctl process, and %s is not set there. "+
						"Set it (export %s=...; for the systemd services put %s=... into /etc/wanctl/env), "+
						"or read the value from a file with file(\"/etc/wanctl/...\").", name, name, name, name),
				}
			}
			if !utf8.ValidString(v) {
				return cty.UnknownVal(cty.String), &funcError{
					summary: fmt.Sprintf("Environment variable %s is not valid UTF-8", name),
					detail:  "The configuration language only handles UTF-8 text.",
				}
			}
			return cty.StringVal(v), nil
		},
	})
}

func (d *decoder) fileFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Returns the contents of a file, without its trailing newline.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			full := d.resolvePath(p)
			b, err := d.readFile(full)
			if err != nil {
				return cty.UnknownVal(cty.String), &funcError{
					summary: fmt.Sprintf("Cannot read file %q", p),
					detail: fmt.Sprintf("file(%q) reads %s: %v. Relative paths are relative to the directory "+
						"of the configuration file. Create the file or fix the path.", p, full, err),
				}
			}
			if !utf8.Valid(b) {
				return cty.UnknownVal(cty.String), &funcError{
					summary: fmt.Sprintf("File %q is not valid UTF-8", p),
					detail:  fmt.Sprintf("file(%q) reads %s, which is not UTF-8 text.", p, full),
				}
			}
			return cty.StringVal(strings.TrimRight(string(b), "\r\n")), nil
		},
	})
}

// resolvePath makes a relative path relative to the configuration file's
// directory.
func (d *decoder) resolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.dir, p)
}

// eval evaluates an attribute. ok is false when the value is unusable; a
// diagnostic has then been recorded.
func (d *decoder) eval(a *hcl.Attribute) (cty.Value, bool) {
	v, diags := a.Expr.Value(d.ctx)
	for _, diag := range diags {
		d.diags = append(d.diags, rewriteFuncDiag(diag))
	}
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		d.errorf(a.Expr.Range(), "Null value",
			"The argument %q is null. Remove the line to use the default, or give it a value.", a.Name)
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		// Only failed function calls produce unknowns, and those have
		// already been reported.
		return cty.NilVal, false
	}
	if n := longestString(v); n > MaxStringLength {
		d.errorf(a.Expr.Range(), "Value too long",
			"%s holds a string of %d bytes; a value may have at most %d (names, addresses, user names and "+
				"passwords are far shorter). Check the value, or the variable or file it is read from.", a.Name, n, MaxStringLength)
		return cty.NilVal, false
	}
	return v, true
}

// longestString is the length of the longest string in a known value: the
// value itself or an element of a list.
func longestString(v cty.Value) int {
	switch {
	case v.IsNull() || !v.IsKnown():
		return 0
	case v.Type() == cty.String:
		return len(v.AsString())
	case v.CanIterateElements():
		n := 0
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			n = max(n, longestString(ev))
		}
		return n
	}
	return 0
}

func rewriteFuncDiag(diag *hcl.Diagnostic) *hcl.Diagnostic {
	switch diag.Summary {
	case "Call to unknown function":
		c := *diag
		c.Detail += " The configuration has two functions: env(NAME) reads an environment variable and file(PATH) a file."
		return &c
	case "Variables not allowed":
		c := *diag
		c.Detail += " Write the value itself (strings in double quotes), or read it with env(NAME) or file(PATH)."
		return &c
	}
	extra, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](diag)
	if !ok {
		return diag
	}
	var fe *funcError
	if !errors.As(extra.FunctionCallError(), &fe) {
		return diag
	}
	c := *diag
	c.Summary = fe.summary
	c.Detail = fe.detail
	// The value listing of HCL's text writer adds nothing for these.
	c.Expression, c.EvalContext = nil, nil
	return &c
}

func (d *decoder) typeError(a *hcl.Attribute, want, example string) {
	d.errorf(a.Expr.Range(), "Incorrect attribute value type",
		"Inappropriate value for attribute %q: %s required, for example %s = %s.", a.Name, want, a.Name, example)
}

// str decodes a string attribute into out; absent leaves out as is.
// It returns false when the attribute is present but unusable.
func (d *decoder) str(a *hcl.Attribute, out *string) bool {
	if a == nil {
		return true
	}
	v, ok := d.eval(a)
	if !ok {
		return false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		d.typeError(a, "a string", `"..."`)
		return false
	}
	*out = s.AsString()
	return true
}

func (d *decoder) boolean(a *hcl.Attribute, out *bool) bool {
	if a == nil {
		return true
	}
	v, ok := d.eval(a)
	if !ok {
		return false
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil {
		d.typeError(a, "a bool", "true")
		return false
	}
	*out = b.True()
	return true
}

// number decodes a numeric attribute (a string holding a number is accepted,
// as everywhere in HCL).
func (d *decoder) number(a *hcl.Attribute, example string) (*big.Float, bool) {
	v, ok := d.eval(a)
	if !ok {
		return nil, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil {
		d.typeError(a, "a number", example)
		return nil, false
	}
	return n.AsBigFloat(), true
}

// integer decodes a whole number within [lo, hi].
func (d *decoder) integer(a *hcl.Attribute, out *int64, lo, hi int64, what string) bool {
	if a == nil {
		return true
	}
	f, ok := d.number(a, fmt.Sprint(lo))
	if !ok {
		return false
	}
	i, acc := f.Int64()
	if acc != big.Exact || !f.IsInt() {
		d.errorf(a.Expr.Range(), a.Name+" out of range",
			"%s must be a whole number from %d to %d; got %s.", what, lo, hi, formatNumber(f))
		return false
	}
	if i < lo || i > hi {
		d.errorf(a.Expr.Range(), a.Name+" out of range",
			"%s must be from %d to %d; got %d.", what, lo, hi, i)
		return false
	}
	*out = i
	return true
}

func (d *decoder) intField(a *hcl.Attribute, out *int, lo, hi int64, what string) bool {
	v := int64(*out)
	ok := d.integer(a, &v, lo, hi, what)
	*out = int(v)
	return ok
}

func (d *decoder) float(a *hcl.Attribute, out *float64) bool {
	if a == nil {
		return true
	}
	f, ok := d.number(a, "0.5")
	if !ok {
		return false
	}
	*out, _ = f.Float64()
	return true
}

func (d *decoder) duration(a *hcl.Attribute, out *time.Duration) bool {
	if a == nil {
		return true
	}
	v, ok := d.eval(a)
	if !ok {
		return false
	}
	if v.Type() != cty.String {
		d.errorf(a.Expr.Range(), "Invalid duration",
			"%s must be a duration string with a unit, such as \"50ms\", \"2s\" or \"5m\".", a.Name)
		return false
	}
	s := v.AsString()
	dur, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid duration",
			"%s = %q is not a duration: write a number with a unit (ns, us, ms, s, m, h), such as \"50ms\" or \"1m30s\".", a.Name, s)
		return false
	}
	*out = dur
	return true
}

// rate decodes bits/s: a whole number, or a string with k/M/G.
func (d *decoder) rate(a *hcl.Attribute, out *int64) bool {
	if a == nil {
		return true
	}
	v, ok := d.eval(a)
	if !ok {
		return false
	}
	switch v.Type() {
	case cty.Number:
		f := v.AsBigFloat()
		i, acc := f.Int64()
		if !f.IsInt() || acc != big.Exact || i < 0 {
			d.errorf(a.Expr.Range(), "Invalid rate",
				"%s must be a whole number of bits/s or a string such as \"940M\", \"37.5M\" or \"800k\"; got %s.", a.Name, formatNumber(f))
			return false
		}
		*out = i
	case cty.String:
		r, err := ParseRate(v.AsString())
		if err != nil {
			d.errorf(a.Expr.Range(), "Invalid rate", "%s: %v. k, M and G are powers of 1000 (bits/s).", a.Name, err)
			return false
		}
		*out = r
	default:
		d.errorf(a.Expr.Range(), "Invalid rate",
			"%s must be a number of bits/s or a string such as \"940M\".", a.Name)
		return false
	}
	if *out <= 0 {
		d.errorf(a.Expr.Range(), "Rate must be positive", "%s must be more than 0 bits/s.", a.Name)
		return false
	}
	return true
}

// strList decodes a list of strings (a single string is not a list). It
// returns each element's range for precise diagnostics.
func (d *decoder) strList(a *hcl.Attribute, out *[]string, ranges *[]hcl.Range) bool {
	if a == nil {
		return true
	}
	v, ok := d.eval(a)
	if !ok {
		return false
	}
	if !v.Type().IsTupleType() && !v.Type().IsListType() && !v.Type().IsSetType() {
		d.typeError(a, "a list of strings", `["...", "..."]`)
		return false
	}
	var vals []string
	var rngs []hcl.Range
	good := true
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, ev := it.Element()
		rng := elemRange(a.Expr, i)
		s, err := convert.Convert(ev, cty.String)
		if err != nil || s.IsNull() {
			d.errorf(rng, "Incorrect attribute value type",
				"Element %d of %s must be a string.", i+1, a.Name)
			good = false
			continue
		}
		vals = append(vals, s.AsString())
		rngs = append(rngs, rng)
	}
	if !good {
		return false
	}
	*out = vals
	if ranges != nil {
		*ranges = rngs
	}
	return true
}

// elemRange is the range of element i of a list literal, or of the whole
// expression when it is not a literal.
func elemRange(e hcl.Expression, i int) hcl.Range {
	if t, ok := e.(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
		return t.Exprs[i].Range()
	}
	return e.Range()
}

// ipAddr decodes an IP address; "" leaves out unset.
func (d *decoder) ipAddr(a *hcl.Attribute, out *netip.Addr) bool {
	if a == nil {
		return true
	}
	var s string
	if !d.str(a, &s) {
		return false
	}
	if s == "" {
		return true
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || ip.Zone() != "" {
		d.errorf(a.Expr.Range(), "Invalid IP address",
			"%s = %q is not an IP address; write it like \"192.168.88.10\" or \"2001:db8::10\".", a.Name, s)
		return false
	}
	if ip.IsUnspecified() || ip.IsMulticast() {
		d.errorf(a.Expr.Range(), "Invalid IP address", "%s = %q must be a unicast address.", a.Name, s)
		return false
	}
	*out = ip.Unmap()
	return true
}

// formatNumber renders a number for a message. Huge or tiny numbers are not
// rendered: converting 1e100000000 to decimal takes minutes.
func formatNumber(f *big.Float) string {
	if exp := f.MantExp(nil); f.Sign() != 0 && (exp > 70 || exp < -70) {
		return "a number out of range"
	}
	return f.Text('g', 10)
}
