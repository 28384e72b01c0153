package jsondoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// seeds are documents the fuzzers start from (also run by go test), beyond
// the files in testdata/fuzz.
var seeds = []string{
	`{}`,
	`{"_id":"a","_rev":"1-x","_deleted":true,"a":[1,{"b":null}]}`,
	`{"_revisions":{"start":2,"ids":["b","a"]},"x":"\u00e9\ud83d\ude00"}`,
	` [1] `,
	`{"a":1,"a":2}`,
	"{\"a\":\"\xff\"}",
	`{"a":"\ud800"}`,
	`{"a":-0.5e-3,"b":1E+2,"c":"\/\b\f\n\r\t"}`,
	`{"a" 1}`,
	`{"_x":1}`,
}

func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data)
	})
}

// checkParse is the differential check against encoding/json.
func checkParse(t *testing.T, data []byte) {
	t.Helper()
	p, err := Parse(data, Limits{})
	if errors.Is(err, ErrTooDeep) {
		return // encoding/json allows deeper nesting
	}
	valid := json.Valid(data)
	if valid == errors.Is(err, ErrSyntax) {
		t.Fatalf("Parse(%q): %v, but json.Valid = %v", data, err, valid)
	}
	if errors.Is(err, ErrNotObject) {
		if first := bytes.TrimLeft(data, " \t\r\n"); first[0] == '{' {
			t.Fatalf("Parse(%q): %v for an object", data, err)
		}
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(data) {
			t.Fatalf("Parse(%q): bad error %#v", data, err)
		}
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var all map[string]any
	if err := dec.Decode(&all); err != nil {
		t.Fatalf("json cannot decode %q, which Parse accepted: %v", data, err)
	}
	want := map[string]any{}
	for k, v := range all {
		if !strings.HasPrefix(k, "_") {
			want[k] = v
		}
	}
	if got := decode(t, p.Body); !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(%q).Body = %s, want %v", data, p.Body, want)
	}
	if id, ok := all["_id"]; ok != p.HasID || (ok && id != p.ID) {
		t.Fatalf("Parse(%q): _id %q %v, json %v", data, p.ID, p.HasID, id)
	}
	if rev, ok := all["_rev"]; ok != p.HasRev || (ok && rev != p.Rev) {
		t.Fatalf("Parse(%q): _rev %q %v, json %v", data, p.Rev, p.HasRev, rev)
	}
	if del, _ := all["_deleted"].(bool); del != p.Deleted {
		t.Fatalf("Parse(%q): _deleted %v", data, p.Deleted)
	}
	// Parsing the body again is the identity.
	again, err := Parse(p.Body, Limits{})
	if err != nil || !bytes.Equal(again.Body, p.Body) {
		t.Fatalf("re-parsing body %s: %v", p.Body, err)
	}
	// Render re-parses to the same document.
	out := Render(p.ID, p.Rev, p.Deleted, p.Body)
	if n := RenderedSize(p.ID, p.Rev, p.Deleted, p.Body); n != len(out) {
		t.Fatalf("RenderedSize = %d, len(Render) = %d for %s", n, len(out), p.Body)
	}
	rendered := decode(t, out)
	if p.ID != "" {
		want["_id"] = p.ID
	}
	if p.Rev != "" {
		want["_rev"] = p.Rev
	}
	if p.Deleted {
		want["_deleted"] = true
	}
	if !reflect.DeepEqual(rendered, want) {
		t.Fatalf("Render = %s, decodes to %v, want %v", out, rendered, want)
	}
	checkRenderMatchesIndent(t, p.ID, p.Rev, p.Deleted, p.Body, out)
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return m
}

// TestParseDifferential runs the fuzz check over mutations of the seeds, so
// plain go test exercises it beyond the corpus.
func TestParseDifferential(t *testing.T) {
	var inputs [][]byte
	for _, s := range seeds {
		inputs = append(inputs, []byte(s))
	}
	const alphabet = "{}[]\":,\\ u0a1e-.+_\xff\xc3\xa9tfn"
	state := uint64(1)
	next := func(n int) int {
		state = state*6364136223846793005 + 1442695040888963407
		return int(state>>33) % n
	}
	for range 20000 {
		base := inputs[next(len(inputs))]
		m := append([]byte(nil), base...)
		for range 1 + next(3) {
			i := 0
			if len(m) > 0 {
				i = next(len(m) + 1)
			}
			c := alphabet[next(len(alphabet))]
			switch next(3) {
			case 0: // insert
				m = append(m[:i], append([]byte{c}, m[i:]...)...)
			case 1: // replace
				if i < len(m) {
					m[i] = c
				}
			default: // delete
				if i < len(m) {
					m = append(m[:i], m[i+1:]...)
				}
			}
		}
		checkParse(t, m)
		if len(inputs) < 2000 {
			if _, err := Parse(m, Limits{}); err == nil {
				inputs = append(inputs, m)
			}
		}
	}
}
