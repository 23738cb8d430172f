// Package restjson decodes RouterOS REST replies: every value a string,
// tolerant of what routers send (raw control bytes, numbers, nested values),
// strict about the shape (only an array is a menu). It depends on the
// standard library only, so that its fuzz target runs in a small binary.
package restjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Object is one RouterOS object: field name to value.
type Object = map[string]string

const hexDigits = "0123456789abcdef"

// Sanitize escapes raw control bytes (< 0x20) inside JSON strings, which
// RouterOS sends verbatim (seen in host names) and encoding/json rejects.
// It returns b itself when there is nothing to fix.
func Sanitize(b []byte) []byte {
	var out []byte // allocated on the first byte that needs escaping
	inStr, esc := false, false
	for i, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
				if c < 0x20 {
					// "\" + raw byte is no valid escape; "\" + "u00XX" is.
					if out == nil {
						out = append(make([]byte, 0, len(b)+16), b[:i]...)
					}
					out = append(out, 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
					continue
				}
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			case c < 0x20:
				if out == nil {
					out = append(make([]byte, 0, len(b)+16), b[:i]...)
				}
				out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
				continue
			}
		} else if c == '"' {
			inStr = true
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return b
	}
	return out
}

// flexValue accepts any JSON value where RouterOS should send a string:
// strings as they are, numbers and booleans as their JSON text, null as "",
// nested objects and arrays as compact JSON text.
type flexValue string

func (f *flexValue) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexValue(s)
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		*f = flexValue(buf.String())
	default:
		*f = flexValue(b)
	}
	return nil
}

// Objects decodes a menu's reply: a JSON array of objects. Nothing
// else is a menu: an empty body, null, an object or an error object read as
// "no objects" would have apply create every object again. Singleton menus
// (system/resource) answer with one object instead.
func Objects(body []byte, singleton bool) ([]Object, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '[' {
		if singleton && len(b) > 0 && b[0] == '{' {
			o, err := OneObject(b)
			if err != nil {
				return nil, err
			}
			return []Object{o}, nil
		}
		return nil, fmt.Errorf("reply is %s where a JSON array (the menu's objects) was expected", describe(b))
	}
	b = Sanitize(b)
	var objs []Object
	err := json.Unmarshal(b, &objs)
	if err == nil {
		return nonNil(objs), nil
	}
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return nil, fmt.Errorf("reply is not valid JSON: %w", err)
	}
	// Some value is not a string: take the slow, tolerant path.
	var flex []map[string]flexValue
	if err := json.Unmarshal(b, &flex); err != nil {
		return nil, fmt.Errorf("reply is not a JSON array of objects: %w", err)
	}
	objs = make([]Object, len(flex))
	for i, m := range flex {
		objs[i] = fromFlex(m)
	}
	return objs, nil
}

// OneObject decodes a reply holding one object (GET by id, PUT, PATCH).
// A one-element array is accepted too; an error object is not an object.
func OneObject(body []byte) (Object, error) {
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '[' {
		objs, err := Objects(b, false)
		if err != nil {
			return nil, err
		}
		if len(objs) != 1 {
			return nil, fmt.Errorf("reply has %d objects where one was expected", len(objs))
		}
		return objs[0], nil
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("reply is %s where a JSON object was expected", describe(b))
	}
	o, err := decodeOne(Sanitize(b))
	if err != nil {
		return nil, err
	}
	if IsErrorObject(o) {
		return nil, fmt.Errorf("reply is %s where a JSON object was expected", describe(b))
	}
	return o, nil
}

// Written decodes the reply to a PUT or PATCH: the object written,
// with its .id.
func Written(body []byte) (Object, error) {
	o, err := OneObject(body)
	if err != nil {
		return nil, err
	}
	if o[".id"] == "" {
		return nil, errors.New("reply is an object without .id where the object written was expected")
	}
	return o, nil
}

// ErrorReply decodes the body of an error status: any JSON object (an
// error object, which OneObject refuses); ok is false for anything else.
func ErrorReply(body []byte) (Object, bool) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return nil, false
	}
	o, err := decodeOne(Sanitize(b))
	return o, err == nil
}

// IsErrorObject: RouterOS error replies are {"error":N,"message":...}; no
// object of a menu has those fields and no .id.
func IsErrorObject(o Object) bool {
	_, hasErr := o["error"]
	_, hasMsg := o["message"]
	_, hasID := o[".id"]
	return hasErr && hasMsg && !hasID
}

// describe names what a reply that is not the expected JSON holds, for
// errors.
func describe(b []byte) string {
	switch {
	case len(b) == 0:
		return "empty"
	case bytes.Equal(b, []byte("null")):
		return "null"
	case b[0] == '{':
		if o, err := decodeOne(Sanitize(b)); err == nil {
			if IsErrorObject(o) {
				s := "an error object (" + o["message"]
				if o["detail"] != "" {
					s += ": " + o["detail"]
				}
				return s + ")"
			}
			return "a JSON object"
		}
	case b[0] == '[':
		return "a JSON array"
	}
	return fmt.Sprintf("not JSON (starts with %q)", Snippet(b, 20))
}

func decodeOne(b []byte) (Object, error) {
	var o Object
	err := json.Unmarshal(b, &o)
	if err == nil {
		if o == nil {
			o = Object{}
		}
		return o, nil
	}
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return nil, fmt.Errorf("reply is not valid JSON: %w", err)
	}
	var flex map[string]flexValue
	if err := json.Unmarshal(b, &flex); err != nil {
		return nil, fmt.Errorf("reply is not a JSON object: %w", err)
	}
	return fromFlex(flex), nil
}

func fromFlex(m map[string]flexValue) Object {
	o := make(Object, len(m))
	for k, v := range m {
		o[k] = string(v)
	}
	return o
}

func nonNil(objs []Object) []Object {
	if objs == nil {
		return []Object{}
	}
	for i, o := range objs {
		if o == nil {
			objs[i] = Object{}
		}
	}
	return objs
}

// Snippet returns at most n bytes of b as printable text for error messages.
func Snippet(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	r := []rune(string(b))
	for i, c := range r {
		if c < 0x20 || c == 0x7f {
			r[i] = ' '
		}
	}
	return string(r)
}
