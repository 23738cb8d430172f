package config

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	hcl "github.com/hashicorp/hcl/v2"
)

// decoder turns the raw schema into a Config, applying defaults and
// checking every attribute on its own; validate.go checks what spans
// blocks. Every problem is recorded and decoding goes on, so that one run
// reports all mistakes.
type decoder struct {
	filename  string
	dir       string
	mode      fs.FileMode
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	realFS    bool // readFile is the real file system (file modes mean something)
	ctx       *hcl.EvalContext
	diags     hcl.Diagnostics

	// Ranges of what validate.go points at, kept beside the Config so that
	// the public types stay free of syntax details.
	wanAux    map[*WAN]*wanAux
	routerAux map[*Router]*rawRouter
	steerAux  *steerAux
	secrets   []hcl.Range // literal passwords, masked in snippets
}

type wanAux struct {
	raw            *rawWAN
	routerRange    hcl.Range // the router attribute's value, or the block
	routerDefault  bool      // router was taken from the only router block
	interfaceRange hcl.Range
	gatewayRange   hcl.Range
	measurement    *rawMeasurement
	reflectorRange map[netip.Addr]hcl.Range
	dir            map[string]*dirAux
	ok             bool // decoded without errors in the attributes validate.go uses
	dup            bool // a second WAN of the same name
}

type dirAux struct {
	raw *rawDirection
}

type steerAux struct {
	raw            *rawSteering
	primaryRange   hcl.Range
	alternateRange hcl.Range
	listRefs       []listRef
}

type listRef struct {
	name string
	rng  hcl.Range
}

func newDecoder(filename string, opts Options) *decoder {
	d := &decoder{
		filename:  filename,
		dir:       filepath.Dir(filename),
		mode:      opts.FileMode,
		lookupEnv: opts.LookupEnv,
		readFile:  opts.ReadFile,
		realFS:    opts.ReadFile == nil,
		wanAux:    map[*WAN]*wanAux{},
		routerAux: map[*Router]*rawRouter{},
	}
	if d.lookupEnv == nil {
		d.lookupEnv = os.LookupEnv
	}
	if d.readFile == nil {
		d.readFile = readFileLimited
	}
	d.ctx = d.evalContext()
	return d
}

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

func (d *decoder) warnf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

// require reports a missing required attribute at the block's header.
func (d *decoder) require(a *hcl.Attribute, name, block string, blockRange hcl.Range, example string) bool {
	if a != nil {
		return true
	}
	d.errorf(blockRange, "Missing required argument",
		"The argument %q is required in a %s block, for example: %s = %s.", name, block, name, example)
	return false
}

// single returns the only block of a kind, reporting a repeated one.
// required blocks also report their absence at the parent's header.
func single[T any](d *decoder, blocks []*T, defRange func(*T) hcl.Range, kind, parent string, parentRange hcl.Range, required bool) *T {
	if len(blocks) == 0 {
		if required {
			d.errorf(parentRange, fmt.Sprintf("Missing %s block", kind),
				"A %s block needs %s %s block inside it. See docs/config.md and the examples/ directory.", parent, article(kind), kind)
		}
		return nil
	}
	for _, b := range blocks[1:] {
		first := defRange(blocks[0])
		d.errorf(defRange(b), fmt.Sprintf("Duplicate %s block", kind),
			"Only one %s block is allowed here; another was defined at %s. Merge them.", kind, location(first))
	}
	return blocks[0]
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func (d *decoder) decodeFile(raw *rawFile) *Config {
	cfg := &Config{Filename: d.filename}
	for _, rr := range raw.Routers {
		cfg.Routers = append(cfg.Routers, d.router(rr))
	}
	cfg.Daemon = d.daemon(single(d, raw.Daemon, func(b *rawDaemon) hcl.Range { return b.DefRange }, "daemon", "configuration", hcl.Range{}, false))
	for _, rw := range raw.WANs {
		cfg.WANs = append(cfg.WANs, d.wan(rw, raw.Routers))
	}
	if s := single(d, raw.Steering, func(b *rawSteering) hcl.Range { return b.DefRange }, "steering", "configuration", hcl.Range{}, false); s != nil {
		cfg.Steering = d.steering(s)
	}
	return cfg
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// pick returns the first attribute that is set: the one to blame in an
// ordering error (the other side is a default).
func pick(as ...*hcl.Attribute) *hcl.Attribute {
	for _, a := range as {
		if a != nil {
			return a
		}
	}
	return nil
}

func (d *decoder) positiveDuration(a *hcl.Attribute, out *time.Duration) bool {
	if !d.duration(a, out) {
		return false
	}
	if a != nil && *out <= 0 {
		d.errorf(a.Expr.Range(), a.Name+" must be positive", "%s = %s must be more than 0.", a.Name, *out)
		return false
	}
	return true
}
