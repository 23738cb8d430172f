package restjson

import (
	"bytes"
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
		got := string(Sanitize([]byte(in)))
		if got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("Sanitize(%q) is not valid JSON", in)
		}
	}
	in := []byte(`[{"a":"b"}]`)
	if out := Sanitize(in); &out[0] != &in[0] {
		t.Error("clean input was copied")
	}
}

func TestDecodeTolerant(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []Object
	}{
		{`[]`, []Object{}},
		{" [ ]\n", []Object{}},
		{`[{".id":"*1","name":"a"}]`, []Object{{".id": "*1", "name": "a"}}},
		{`[{"name":"a"},{"name":"b"}]`, []Object{{"name": "a"}, {"name": "b"}}},
		{`[{"n":5,"b":true,"f":false,"z":null,"x":1.5,"o":{"k": [1, 2]},"s":"t"}]`,
			[]Object{{"n": "5", "b": "true", "f": "false", "z": "", "x": "1.5", "o": `{"k":[1,2]}`, "s": "t"}}},
		{"[{\"host-name\":\"bad\x07name\",\"unknown-extra\":\"x\"}]", []Object{{"host-name": "bad\x07name", "unknown-extra": "x"}}},
		{`[null]`, []Object{{}}},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := Objects([]byte(c.in), false)
			if err != nil {
				t.Errorf("Objects(%q): %v", c.in, err)
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Objects(%q) = %#v, want %#v", c.in, got, c.want)
			}
		})
	}
	for _, in := range []string{`<html>`, `[1,2]`, `"x"`, `[{"a":}]`, `{"a":"b"`, `[{"a":"b"}]x`,
		``, "  \n", `null`, `{}`, `{"a":"b"}`, `{"error":400,"message":"Bad Request"}`} {
		if _, err := Objects([]byte(in), false); err == nil {
			t.Errorf("Objects(%q): no error", in)
		}
	}
	// A singleton menu answers with an object, never with an error object.
	if got, err := Objects([]byte(`{"cpu-load":"3","uptime":"1d"}`), true); err != nil || !reflect.DeepEqual(got, []Object{{"cpu-load": "3", "uptime": "1d"}}) {
		t.Errorf("singleton: %v %v", got, err)
	}
	for _, in := range []string{``, `null`, `{"error":404,"message":"Not Found"}`} {
		if _, err := Objects([]byte(in), true); err == nil {
			t.Errorf("singleton Objects(%q): no error", in)
		}
	}
	for _, in := range []string{``, `null`, `"x"`, `7`, `{"error":"400","message":"Bad Request","detail":"x"}`} {
		if _, err := OneObject([]byte(in)); err == nil {
			t.Errorf("OneObject(%q): no error", in)
		}
	}
	if _, err := Written([]byte(`{"name":"a"}`)); err == nil {
		t.Error("Written of an object without .id")
	}
	if o, err := OneObject([]byte(`[{"a":"b"}]`)); err != nil || o["a"] != "b" {
		t.Errorf("OneObject of a one-element array: %v %v", o, err)
	}
	if _, err := OneObject([]byte(`[{"a":"b"},{"a":"c"}]`)); err == nil {
		t.Error("OneObject of two objects")
	}
	if _, err := OneObject(nil); err == nil {
		t.Error("OneObject of nothing")
	}
}

// FuzzDecode: replies never panic the decoder; only a JSON array is a menu,
// and whatever encoding/json accepts as an array of string maps decodes to
// the same objects.
//
// It lives in this package, whose test binary holds the standard library
// only: in routeros' (resty, net/http, TLS, the emulator) every exec paid
// for the coverage counters of all that code, at under half the rate. Inputs
// are kept short, and encoding/json's reference decode runs only for
// arrays: long inputs whose coverage differs only in loop counts were kept
// as new and then minimised for seconds each, stalling the search (0 execs/s
// after some 30k execs).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`[]`, `[{".id":"*1","name":"a"}]`, `{"a":"b"}`, "[{\"a\":\"\x01\"}]", `[{"n":1,"b":true,"z":null}]`,
		`[{"a":"\u00e9\ud83d\ude00"}]`, `[{"o":{"x":[1,{"y":2}]}}]`, `[{"a":"\\"}]`, "{\"a\":\"\\\x02\"}", `[1]`, `[[]]`, `nul`,
		``, `null`, `{}`, `{"error":400,"message":"Bad Request"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		objs, err := Objects(b, false)
		if o, oerr := OneObject(b); oerr == nil && (o == nil || IsErrorObject(o)) {
			t.Fatalf("OneObject(%q) = %v", b, o)
		}
		t0 := bytes.TrimSpace(b)
		if len(t0) == 0 || t0[0] != '[' {
			if err == nil {
				t.Fatalf("Objects(%q) read a menu from what is not an array", b)
			}
			return
		}
		var ref []map[string]string
		if json.Unmarshal(b, &ref) != nil || ref == nil {
			return
		}
		if err != nil {
			t.Fatalf("encoding/json accepts %q, Objects: %v", b, err)
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

// maxFuzzInput bounds FuzzDecode's inputs: a few objects of a menu.
const maxFuzzInput = 256
