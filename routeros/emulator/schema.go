package emulator

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// SchemaVersion is the RouterOS version whose schema the emulator enforces
// on request fields: the version it reports in system/resource, so that it
// behaves as one real router does. Conformance with the other supported
// versions is the commands package's test (every request checked against
// every schema under schema/).
const SchemaVersion = "7.16.2"

//go:embed schema/7.16.2.json
var enforcedSchema []byte

// Schema is one RouterOS version's REST schema as /console/inspect reports
// it (schema/README.md): per menu, per command, the argument names.
type Schema struct {
	Version string
	// menus maps a menu path to its commands and their arguments; a menu
	// present with a nil map does not exist in this version.
	menus map[string]map[string]map[string]bool
}

// ParseSchema decodes one schema file (schema/<version>.json).
func ParseSchema(version string, data []byte) (*Schema, error) {
	var raw map[string]map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("schema %s: %w", version, err)
	}
	s := &Schema{Version: version, menus: make(map[string]map[string]map[string]bool, len(raw))}
	for menu, commands := range raw {
		if commands == nil {
			s.menus[menu] = nil
			continue
		}
		cm := make(map[string]map[string]bool, len(commands))
		for cmd, args := range commands {
			am := make(map[string]bool, len(args))
			for a := range args {
				am[a] = true
			}
			cm[cmd] = am
		}
		s.menus[menu] = cm
	}
	return s, nil
}

// SchemaViolation is a request the schema's router would refuse.
type SchemaViolation struct {
	Menu, Command string
	// Field is the refused body field; "" when the menu or the command is
	// what the version lacks.
	Field  string
	Reason string
}

func (v *SchemaViolation) Error() string {
	if v.Field != "" {
		return fmt.Sprintf("%s %s: unknown parameter %s", v.Menu, v.Command, v.Field)
	}
	return fmt.Sprintf("%s %s: %s", v.Menu, v.Command, v.Reason)
}

// restMeta are the REST API's own body keys, which no console command lists
// as an argument: the router reads them before the command sees the body.
var restMeta = map[string]bool{".id": true, ".proplist": true, ".query": true}

// Check reports whether the router would accept the request's menu, command
// and body fields: nil, or a *SchemaViolation. path is the URL path
// ("/rest/queue/tree/*1"). Query-string filters and .proplist names are
// properties, which the schema does not list, and are not checked.
func (s *Schema) Check(method, path string, body []byte) error {
	menu, rest, ok := s.route(path)
	if !ok {
		return &SchemaViolation{Menu: strings.Trim(strings.TrimPrefix(strings.Trim(path, "/"), "rest"), "/"), Reason: "menu not in the schema"}
	}
	cmds := s.menus[menu]
	if cmds == nil {
		return &SchemaViolation{Menu: menu, Reason: "menu does not exist in " + s.Version}
	}
	var cmd string
	switch method {
	case http.MethodGet:
		cmd = "print"
	case http.MethodPut:
		cmd = "add"
	case http.MethodPatch:
		cmd = "set"
	case http.MethodDelete:
		cmd = "remove"
	case http.MethodPost:
		if len(rest) == 0 {
			return &SchemaViolation{Menu: menu, Reason: "POST without a command"}
		}
		cmd = rest[0]
	default:
		return &SchemaViolation{Menu: menu, Reason: "method " + method}
	}
	args, ok := cmds[cmd]
	if !ok {
		return &SchemaViolation{Menu: menu, Command: cmd, Reason: "no such command in " + s.Version}
	}
	for _, f := range bodyFields(body) {
		name := strings.TrimPrefix(f, "!") // the REST form of unset, only on set
		if restMeta[f] || args[name] && (name == f || cmd == "set") {
			continue
		}
		return &SchemaViolation{Menu: menu, Command: cmd, Field: f}
	}
	return nil
}

// route splits a REST path into the longest menu the schema knows and what
// follows it.
func (s *Schema) route(path string) (string, []string, bool) {
	p := strings.Trim(path, "/")
	p = strings.TrimPrefix(strings.TrimPrefix(p, "rest"), "/")
	segs := strings.Split(p, "/")
	for k := len(segs); k > 0; k-- {
		m := strings.Join(segs[:k], "/")
		if _, ok := s.menus[m]; ok {
			return m, segs[k:], true
		}
	}
	return "", nil, false
}

// bodyFields returns a JSON object body's keys, sorted; none for an empty
// or malformed body (the handlers answer a malformed one).
func bodyFields(b []byte) []string {
	var raw map[string]json.RawMessage
	if len(strings.TrimSpace(string(b))) == 0 || json.Unmarshal(b, &raw) != nil {
		return nil
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mustEnforcedSchema decodes the embedded schema of SchemaVersion; it is
// part of the source, so an error is a broken build, found by any test.
func mustEnforcedSchema() *Schema {
	s, err := ParseSchema(SchemaVersion, enforcedSchema)
	if err != nil {
		panic(err)
	}
	return s
}

// schemaRefusal is the router's reply to a request that the enforced
// version refuses: a body field its command does not take (400 unknown
// parameter) or a POSTed command its menu lacks (406, as for any known
// command a menu lacks). ok is false when the schema accepts the request or
// does not know its menu, which the handlers answer as they always have.
func (e *Emulator) schemaRefusal(method, path string, body []byte) (int, []byte, bool) {
	var v *SchemaViolation
	if !errors.As(e.schema.Check(method, path, body), &v) {
		return 0, nil, false
	}
	switch {
	case v.Field != "":
		st, out := answerError(unknownParam(v.Field))
		return st, out, true
	case method == http.MethodPost && v.Command != "" && knownCommands[v.Command]:
		st, out := notAcceptable(v.Command)
		return st, out, true
	}
	return 0, nil, false
}
