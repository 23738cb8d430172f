package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/wanctl/wanctl/routeros"
	"github.com/wanctl/wanctl/statefile"
)

// SavedKind identifies a saved-plan file.
const SavedKind = "wanctl-plan"

// saved is the file `wanctl plan -out` writes: the JSON plan document plus
// its kind and the configuration it was made from. It holds router names
// and URLs (without credentials), object fields, the fingerprint of each
// router's state and the configuration's hash, never a password.
type saved struct {
	Kind   string        `json:"kind"`
	Config *ConfigSource `json:"config"`
	*Plan
}

// ErrNoConfig is the error of a saved plan that does not say which
// configuration it was made from.
var ErrNoConfig = errors.New("the plan file does not record the configuration it was made from (an older wanctl wrote it)")

// ConfigSource identifies the configuration file a plan was made from. The
// plan's changes follow from that file's content, so a saved plan is applied
// only with the same content; the path is for the messages. Only a hash is
// kept: the file may hold a literal password.
type ConfigSource struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// HashConfig describes the configuration read from path as src.
func HashConfig(path string, src []byte) ConfigSource {
	sum := sha256.Sum256(src)
	return ConfigSource{Path: path, SHA256: hex.EncodeToString(sum[:])}
}

// CheckConfig refuses to apply a plan made from a configuration whose
// content differs from cur (the one apply was given).
func (s ConfigSource) CheckConfig(cur ConfigSource) error {
	if s.SHA256 == cur.SHA256 {
		return nil
	}
	if s.Path == cur.Path {
		return fmt.Errorf("the saved plan was made from %s, which has changed since", s.Path)
	}
	return fmt.Errorf("the saved plan was made from %s, not from %s (their contents differ)", s.Path, cur.Path)
}

// Save writes the plan, made from the configuration src, to path
// atomically (temp file, fsync, rename), mode 0600. A plan with errors
// cannot be saved.
func (p *Plan) Save(path string, src ConfigSource) error {
	if len(p.Errors) > 0 {
		return errors.New("a plan with errors cannot be saved")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(saved{Kind: SavedKind, Config: &src, Plan: p}); err != nil {
		return err
	}
	return statefile.WriteAtomic(path, b.Bytes(), 0o600)
}

// LoadSaved reads a plan written by Save and checks that it is one this
// version can apply; it returns the configuration the plan was made from.
func LoadSaved(path string) (*Plan, ConfigSource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, ConfigSource{}, err
	}
	p, src, err := DecodeSaved(b)
	if err != nil {
		return nil, ConfigSource{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, src, nil
}

// DecodeSaved decodes and checks a saved plan.
func DecodeSaved(b []byte) (*Plan, ConfigSource, error) {
	var s saved
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&s); err != nil {
		return nil, ConfigSource{}, fmt.Errorf("not a wanctl plan file (write one with 'wanctl plan -out FILE'): %w", err)
	}
	if s.Kind != SavedKind || s.Plan == nil {
		return nil, ConfigSource{}, errors.New("not a wanctl plan file (write one with 'wanctl plan -out FILE')")
	}
	p := s.Plan
	if err := checkSaved(p); err != nil {
		return nil, ConfigSource{}, err
	}
	// Plans saved before the configuration was recorded cannot be matched
	// to one; the document's format_version is unchanged (plan -json never
	// had the field), so the field's absence is what tells them apart.
	if s.Config == nil || s.Config.SHA256 == "" {
		return nil, ConfigSource{}, ErrNoConfig
	}
	return p, *s.Config, nil
}

func checkSaved(p *Plan) error {
	if p.FormatVersion != FormatVersion {
		return fmt.Errorf("plan format_version %d, this wanctl reads %d: make a new plan with this wanctl", p.FormatVersion, FormatVersion)
	}
	if len(p.Errors) > 0 {
		return errors.New("the plan has errors and cannot be applied")
	}
	routers := map[string]bool{}
	for _, r := range p.Routers {
		if r == nil || r.Name == "" || r.Fingerprint == "" {
			return errors.New("plan file: a router entry lacks its name or fingerprint")
		}
		routers[r.Name] = true
	}
	for i, c := range p.Changes {
		if err := checkChange(c, routers); err != nil {
			return fmt.Errorf("plan file: change %d: %w", i, err)
		}
	}
	return nil
}

func checkChange(c *Change, routers map[string]bool) error {
	if c == nil {
		return errors.New("null change")
	}
	if !routers[c.Router] {
		return fmt.Errorf("%s: unknown router %q", c.Address, c.Router)
	}
	if MenuRank(c.Menu) < 0 {
		return fmt.Errorf("%s: menu %q is not one wanctl manages", c.Address, c.Menu)
	}
	switch c.Action {
	case Create:
		if len(c.After) == 0 {
			return fmt.Errorf("%s: create without fields", c.Address)
		}
	case Update, Replace:
		if c.ID == "" || len(c.After) == 0 {
			return fmt.Errorf("%s: %s without id or fields", c.Address, c.Action)
		}
	case Delete, Move:
		if c.ID == "" {
			return fmt.Errorf("%s: %s without id", c.Address, c.Action)
		}
	default:
		return fmt.Errorf("%s: unknown action %q", c.Address, c.Action)
	}
	if (c.Action == Move || c.Moved) && !isMangle(c.Menu) {
		return fmt.Errorf("%s: only mangle rules move", c.Address)
	}
	return nil
}

// CheckOwned verifies, against what the router holds now, that a plan's
// changes for that router only touch objects wanctl owns (or adopts, when
// the change says so) and only create marked objects. A saved plan is a
// file: this keeps an edited one from changing anything else.
func (p *Plan) CheckOwned(router string, act Actual) error {
	ownedTypes := map[string]bool{}
	for _, t := range act[routeros.MenuQueueTree] {
		if IsMarked(t) && !builtinOrDynamic(t) {
			ownedTypes[t["queue"]] = true
		}
	}
	for _, c := range p.Changes {
		if c.Router != router {
			continue
		}
		if c.Action == Create || c.Action == Replace {
			if c.Menu != routeros.MenuQueueType && c.After["comment"] != Marker(c.Address) {
				return fmt.Errorf("%s: the new object would not carry its marker %q", c.Address, Marker(c.Address))
			}
		}
		if c.Action == Create {
			continue
		}
		var o routeros.Object
		for _, x := range act[c.Menu] {
			if x.ID() == c.ID {
				o = x
				break
			}
		}
		switch {
		case o == nil:
			return fmt.Errorf("%s: /%s %s is not on the router", c.Address, c.Menu, c.ID)
		case builtinOrDynamic(o):
			return fmt.Errorf("%s: /%s %s is built in or dynamic; wanctl never changes those", c.Address, c.Menu, c.ID)
		case c.Adopt:
		case c.Menu == routeros.MenuQueueType && ownedTypes[o["name"]]:
		case c.Menu != routeros.MenuQueueType && IsMarked(o):
		default:
			return fmt.Errorf("%s: /%s %s is not wanctl's (no wanctl marker, not adopted)", c.Address, c.Menu, c.ID)
		}
	}
	return nil
}
