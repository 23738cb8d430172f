package routeros

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestSanitizeJSON(t *testing.T) {
	for in, want := range map[string]string{
		`[{"a":"b"}]`:             `[{"a":"b"}]`,
		"[{\"host\":\"a\x01b\"}]": `[{"host":"a\u0001b"}]`,
		"{\"a\":\"x\ty\nz\"}":     `{"a":"x\u0009y\u000az"}`,
		"{\"a\":\"\\\x02\"}":      `{"a":"\u0002"}`,
		"{\"a\":\"q\\\"\x1f\"}":   `{"a":"q\"\u001f"}`,
		"[\n{\"a\":\t\"b\"}\r\n]": "[\n{\"a\":\t\"b\"}\r\n]",
	} {
		got := string(sanitizeJSON([]byte(in)))
		if got != want {
			t.Errorf("sanitizeJSON(%q) = %q, want %q", in, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("sanitizeJSON(%q) is not valid JSON", in)
		}
	}
	in := []byte(`[{"a":"b"}]`)
	if out := sanitizeJSON(in); &out[0] != &in[0] {
		t.Error("clean input was copied")
	}
}

func TestDecodeTolerant(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []Object
	}{
		{`[]`, []Object{}},
		{``, nil},
		{"  \n", nil},
		{`null`, nil},
		{`[{".id":"*1","name":"a"}]`, []Object{{".id": "*1", "name": "a"}}},
		{`[{"name":"a"},{"name":"b"}]`, []Object{{"name": "a"}, {"name": "b"}}},
		{`{"cpu-load":"3","uptime":"1d"}`, []Object{{"cpu-load": "3", "uptime": "1d"}}},
		{`[{"n":5,"b":true,"f":false,"z":null,"x":1.5,"o":{"k": [1, 2]},"s":"t"}]`,
			[]Object{{"n": "5", "b": "true", "f": "false", "z": "", "x": "1.5", "o": `{"k":[1,2]}`, "s": "t"}}},
		{"[{\"host-name\":\"bad\x07name\",\"unknown-extra\":\"x\"}]", []Object{{"host-name": "bad\x07name", "unknown-extra": "x"}}},
		{`[null]`, []Object{{}}},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := decodeObjects([]byte(c.in))
			if err != nil {
				t.Errorf("decodeObjects(%q): %v", c.in, err)
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("decodeObjects(%q) = %#v, want %#v", c.in, got, c.want)
			}
		})
	}
	for _, in := range []string{`<html>`, `[1,2]`, `"x"`, `[{"a":}]`, `{"a":"b"`, `[{"a":"b"}]x`} {
		if _, err := decodeObjects([]byte(in)); err == nil {
			t.Errorf("decodeObjects(%q): no error", in)
		}
	}
	if o, err := decodeObject([]byte(`[{"a":"b"}]`)); err != nil || o["a"] != "b" {
		t.Errorf("decodeObject of a one-element array: %v %v", o, err)
	}
	if _, err := decodeObject([]byte(`[{"a":"b"},{"a":"c"}]`)); err == nil {
		t.Error("decodeObject of two objects")
	}
	if _, err := decodeObject(nil); err == nil {
		t.Error("decodeObject of nothing")
	}
}

// FuzzDecode: replies never panic the decoder; whatever encoding/json
// accepts as an array of string maps decodes to the same objects.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`[]`, `[{".id":"*1","name":"a"}]`, `{"a":"b"}`, "[{\"a\":\"\x01\"}]", `[{"n":1,"b":true,"z":null}]`,
		`[{"a":"\u00e9\ud83d\ude00"}]`, `[{"o":{"x":[1,{"y":2}]}}]`, `[{"a":"\\"}]`, "{\"a\":\"\\\x02\"}", `[1]`, `[[]]`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := decodeObjects(b)
		_, _ = decodeObject(b)
		var ref []map[string]string
		if json.Unmarshal(b, &ref) != nil || ref == nil {
			return
		}
		if err != nil {
			t.Fatalf("encoding/json accepts %q, decodeObjects: %v", b, err)
		}
		if len(objs) != len(ref) {
			t.Fatalf("%q: %d objects, encoding/json %d", b, len(objs), len(ref))
		}
		for i := range ref {
			if ref[i] == nil {
				ref[i] = map[string]string{}
			}
			if !reflect.DeepEqual(map[string]string(objs[i]), ref[i]) {
				t.Fatalf("%q: object %d = %v, encoding/json %v", b, i, objs[i], ref[i])
			}
		}
	})
}
