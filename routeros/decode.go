package routeros

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

const hexDigits = "0123456789abcdef"

// sanitizeJSON escapes raw control bytes (< 0x20) inside JSON strings, which
// RouterOS sends verbatim (seen in host names) and encoding/json rejects.
// It returns b itself when there is nothing to fix.
func sanitizeJSON(b []byte) []byte {
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

// decodeObjects decodes a reply holding an array of objects, or one object
// (singleton menus such as system/resource), or nothing at all.
func decodeObjects(body []byte) ([]Object, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil, nil
	}
	b = sanitizeJSON(b)
	switch b[0] {
	case '[':
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
	case '{':
		o, err := decodeOne(b)
		if err != nil {
			return nil, err
		}
		return []Object{o}, nil
	}
	return nil, fmt.Errorf("reply is not a JSON array or object (starts with %q)", snippet(b, 20))
}

// decodeObject decodes a reply holding one object (GET by id, PUT, PATCH).
// A one-element array is accepted too.
func decodeObject(body []byte) (Object, error) {
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '[' {
		objs, err := decodeObjects(b)
		if err != nil {
			return nil, err
		}
		if len(objs) != 1 {
			return nil, fmt.Errorf("reply has %d objects where one was expected", len(objs))
		}
		return objs[0], nil
	}
	if len(b) == 0 {
		return nil, errors.New("empty reply where an object was expected")
	}
	return decodeOne(sanitizeJSON(b))
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

// snippet returns at most n bytes of b as printable text for error messages.
func snippet(b []byte, n int) string {
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
