package jsondoc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseFields(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Parsed
	}{
		{"empty", `{}`, Parsed{Body: []byte(`{}`)}},
		{"whitespace", " \t\r\n{ \"a\" : 1 ,\n \"b\" : [ 1 , 2 ] } \n", Parsed{Body: []byte(`{"a":1,"b":[1,2]}`)}},
		{"specials", `{"_id":"x","a":true,"_rev":"1-abc","_deleted":true,"b":null}`,
			Parsed{ID: "x", HasID: true, Rev: "1-abc", HasRev: true, Deleted: true, Body: []byte(`{"a":true,"b":null}`)}},
		{"deleted false", `{"_deleted":false}`, Parsed{Body: []byte(`{}`)}},
		{"escaped id", `{"_id":"a\"b\u00e9\ud83d\ude00\/"}`, Parsed{ID: "a\"bé😀/", HasID: true, Body: []byte(`{}`)}},
		{"escaped special key", `{"\u005fid":"x"}`, Parsed{ID: "x", HasID: true, Body: []byte(`{}`)}},
		{"strings kept as given", `{"k\u0041":"\n\u00e9é","n":-1.5e+10}`, Parsed{Body: []byte(`{"k\u0041":"\n\u00e9é","n":-1.5e+10}`)}},
		{"revisions", `{"_revisions":{"ids":["c","b","a"],"start":5,"x":[{}]}}`,
			Parsed{RevisionsStart: 5, RevisionsIDs: []string{"c", "b", "a"}, HasRevisions: true, Body: []byte(`{}`)}},
		{"revisions spaced", `{"_revisions" : { "start" : 1 , "ids" : [ "a" ] } }`,
			Parsed{RevisionsStart: 1, RevisionsIDs: []string{"a"}, HasRevisions: true, Body: []byte(`{}`)}},
		{"nested", `{"a":{"b":{"c":[[],{},""]}}}`, Parsed{Body: []byte(`{"a":{"b":{"c":[[],{},""]}}}`)}},
		{"same key in different objects", `{"a":{"a":1},"b":{"a":2}}`, Parsed{Body: []byte(`{"a":{"a":1},"b":{"a":2}}`)}},
		{"nested underscore keys are data", `{"a":{"_id":1,"_x":2}}`, Parsed{Body: []byte(`{"a":{"_id":1,"_x":2}}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.want.ID || got.HasID != tt.want.HasID || got.Rev != tt.want.Rev ||
				got.HasRev != tt.want.HasRev || got.Deleted != tt.want.Deleted ||
				got.RevisionsStart != tt.want.RevisionsStart || got.HasRevisions != tt.want.HasRevisions ||
				strings.Join(got.RevisionsIDs, ",") != strings.Join(tt.want.RevisionsIDs, ",") ||
				string(got.Body) != string(tt.want.Body) {
				t.Errorf("got  %+v body %s\nwant %+v body %s", *got, got.Body, tt.want, tt.want.Body)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 4) + "1" + strings.Repeat("}", 4)
	tests := []struct {
		name   string
		in     string
		lim    Limits
		kind   error
		offset int
	}{
		{"empty input", ``, Limits{}, ErrSyntax, 0},
		{"only spaces", `   `, Limits{}, ErrSyntax, 3},
		{"trailing garbage", `{} x`, Limits{}, ErrSyntax, 3},
		{"two objects", `{}{}`, Limits{}, ErrSyntax, 2},
		{"unterminated object", `{"a":1`, Limits{}, ErrSyntax, 6},
		{"trailing comma", `{"a":1,}`, Limits{}, ErrSyntax, 7},
		{"missing colon", `{"a" 1}`, Limits{}, ErrSyntax, 5},
		{"unquoted key", `{a:1}`, Limits{}, ErrSyntax, 1},
		{"single quotes", `{'a':1}`, Limits{}, ErrSyntax, 1},
		{"bad literal", `{"a":tru}`, Limits{}, ErrSyntax, 8},
		{"leading zero", `{"a":01}`, Limits{}, ErrSyntax, 6},
		{"bare minus", `{"a":-}`, Limits{}, ErrSyntax, 6},
		{"dot without digits", `{"a":1.}`, Limits{}, ErrSyntax, 7},
		{"empty exponent", `{"a":1e}`, Limits{}, ErrSyntax, 7},
		{"plus sign", `{"a":+1}`, Limits{}, ErrSyntax, 5},
		{"control char in string", "{\"a\":\"x\ny\"}", Limits{}, ErrSyntax, 7},
		{"bad escape", `{"a":"\x"}`, Limits{}, ErrSyntax, 6},
		{"short unicode escape", `{"a":"\u12"}`, Limits{}, ErrSyntax, 6},
		{"unterminated string", `{"a":"abc`, Limits{}, ErrSyntax, 9},
		{"array trailing comma", `{"a":[1,]}`, Limits{}, ErrSyntax, 8},
		{"syntax beats earlier duplicate", `{"a":1,"a":2,}`, Limits{}, ErrSyntax, 13},
		{"not object: array", `[1,2]`, Limits{}, ErrNotObject, 0},
		{"not object: string", ` "x"`, Limits{}, ErrNotObject, 1},
		{"not object: null", `null`, Limits{}, ErrNotObject, 0},
		{"not object and garbage", `[1] x`, Limits{}, ErrSyntax, 4},
		{"invalid utf8", "{\"a\":\"\xff\"}", Limits{}, ErrInvalidUTF8, 6},
		{"invalid utf8 in key", "{\"\xc3\":1}", Limits{}, ErrInvalidUTF8, 2},
		{"truncated utf8", "{\"a\":\"\xe2\x82\"}", Limits{}, ErrInvalidUTF8, 6},
		{"overlong utf8", "{\"a\":\"\xc0\xaf\"}", Limits{}, ErrInvalidUTF8, 6},
		{"lone high surrogate", `{"a":"x\ud800"}`, Limits{}, ErrInvalidUTF8, 7},
		{"high surrogate then letter", `{"a":"\ud800\u0041"}`, Limits{}, ErrInvalidUTF8, 6},
		{"lone low surrogate", `{"a":"\udc00"}`, Limits{}, ErrInvalidUTF8, 6},
		{"duplicate top-level", `{"a":1,"b":2,"a":3}`, Limits{}, ErrDuplicateKey, 13},
		{"duplicate nested", `{"x":{"a":1,"a":2}}`, Limits{}, ErrDuplicateKey, 12},
		{"duplicate in array element", `{"x":[{"a":1,"a":2}]}`, Limits{}, ErrDuplicateKey, 13},
		{"duplicate after unescape", `{"a":1,"\u0061":2}`, Limits{}, ErrDuplicateKey, 7},
		{"duplicate special", `{"_id":"a","_id":"b"}`, Limits{}, ErrDuplicateKey, 11},
		{"too deep", deep, Limits{MaxDepth: 3}, ErrTooDeep, 15},
		{"too deep arrays", `{"a":[[[1]]]}`, Limits{MaxDepth: 3}, ErrTooDeep, 7},
		{"depth at limit is fine but syntax", deep + "x", Limits{MaxDepth: 4}, ErrSyntax, len(deep)},
		{"too large", `{"a":"0123456789"}`, Limits{MaxSize: 10}, ErrTooLarge, 10},
		{"attachments", `{"a":1,"_attachments":{}}`, Limits{}, ErrForbiddenField, 7},
		{"conflicts", `{"_conflicts":[]}`, Limits{}, ErrForbiddenField, 1},
		{"deleted conflicts", `{"_deleted_conflicts":[]}`, Limits{}, ErrForbiddenField, 1},
		{"local seq", `{"_local_seq":1}`, Limits{}, ErrForbiddenField, 1},
		{"revs info", `{"_revs_info":[]}`, Limits{}, ErrForbiddenField, 1},
		{"unknown special", `{"_foo":1}`, Limits{}, ErrForbiddenField, 1},
		{"id not string", `{"_id":1}`, Limits{}, ErrBadField, 7},
		{"rev not string", `{"_rev":null}`, Limits{}, ErrBadField, 8},
		{"deleted not bool", `{"_deleted":"true"}`, Limits{}, ErrBadField, 12},
		{"revisions not object", `{"_revisions":[]}`, Limits{}, ErrBadField, 14},
		{"revisions without ids", `{"_revisions":{"start":1}}`, Limits{}, ErrBadField, 14},
		{"revisions start float", `{"_revisions":{"start":1.5,"ids":["a"]}}`, Limits{}, ErrBadField, 14},
		{"revisions start negative", `{"_revisions":{"start":-1,"ids":["a"]}}`, Limits{}, ErrBadField, 14},
		{"revisions ids not strings", `{"_revisions":{"start":1,"ids":[1]}}`, Limits{}, ErrBadField, 14},
		{"revisions ids empty", `{"_revisions":{"start":1,"ids":[]}}`, Limits{}, ErrBadField, 14},
		{"revisions empty id", `{"_revisions":{"start":1,"ids":[""]}}`, Limits{}, ErrBadField, 14},
		{"revisions more ids than start", `{"_revisions":{"start":1,"ids":["b","a"]}}`, Limits{}, ErrBadField, 14},
		{"first problem wins", `{"_foo":1,"a":"\udc00"}`, Limits{}, ErrForbiddenField, 1},
	}
	kinds := []error{ErrSyntax, ErrNotObject, ErrInvalidUTF8, ErrDuplicateKey, ErrTooDeep, ErrTooLarge, ErrForbiddenField, ErrBadField}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in), tt.lim)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want %v", tt.in, got, tt.kind)
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Parse(%q): %v, want %v", tt.in, err, tt.kind)
			}
			for _, k := range kinds {
				if k != tt.kind && errors.Is(err, k) {
					t.Errorf("error %v also matches %v", err, k)
				}
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if e.Offset != tt.offset {
				t.Errorf("Parse(%q): %v: offset %d, want %d", tt.in, err, e.Offset, tt.offset)
			}
			if !strings.Contains(err.Error(), "at byte") {
				t.Errorf("message %q lacks the offset", err)
			}
		})
	}
}

func TestForbiddenFieldMessages(t *testing.T) {
	for in, want := range map[string]string{
		`{"_attachments":{}}`: "not supported",
		`{"_conflicts":[]}`:   "read-only",
		`{"_bogus":1}`:        "only _id, _rev, _deleted and _revisions",
	} {
		_, err := Parse([]byte(in), Limits{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s): %v, want a message containing %q", in, err, want)
		}
	}
}

func TestDuplicateKeysInLargeObject(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	ok := b.String() + "}"
	if _, err := Parse([]byte(ok), Limits{}); err != nil {
		t.Fatalf("100 distinct keys: %v", err)
	}
	dup := b.String() + `,"kxxxxx":2}`
	if _, err := Parse([]byte(dup), Limits{}); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("duplicate among 100 keys: %v", err)
	}
}

func TestDefaultLimits(t *testing.T) {
	deep := strings.Repeat("[", DefaultMaxDepth-1) + strings.Repeat("]", DefaultMaxDepth-1)
	if _, err := Parse([]byte(`{"a":`+deep+`}`), Limits{}); err != nil {
		t.Errorf("depth %d: %v", DefaultMaxDepth, err)
	}
	if _, err := Parse([]byte(`{"a":[`+deep+`]}`), Limits{}); !errors.Is(err, ErrTooDeep) {
		t.Errorf("depth %d: %v", DefaultMaxDepth+1, err)
	}
	big := make([]byte, DefaultMaxSize+1)
	if _, err := Parse(big, Limits{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d bytes: %v", len(big), err)
	}
}

// TestPlainWord checks the word-at-a-time string scan against the byte
// rule it replaces, for every byte value at every position of a word
// otherwise plain.
func TestPlainWord(t *testing.T) {
	plainByte := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	for pos := range 8 {
		for c := range 256 {
			w := []byte("abcdefgh")
			w[pos] = byte(c)
			x := binary.LittleEndian.Uint64(w)
			if got, want := plainWord(x), plainByte(byte(c)); got != want {
				t.Fatalf("plainWord(%q) = %v, want %v", w, got, want)
			}
		}
	}
	// Two special bytes, where a borrow from one could hide the other.
	for _, w := range []string{"\x00\x00\x00\x00\x00\x00\x00\x00", "\x1f\x20\x20\x20\x20\x20\x20\x22", "\"\\\x1f\x80\xff\x21\x23\x5b"} {
		if plainWord(binary.LittleEndian.Uint64([]byte(w))) {
			t.Errorf("plainWord(%q) = true", w)
		}
	}
}

// TestBodyOfACompactDocumentIsItsInput: a document that is already its
// body is not copied; any other body is a slice of its own, which later
// parses (reusing the scratch buffers of compact ones) never overwrite.
func TestBodyOfACompactDocumentIsItsInput(t *testing.T) {
	compact := []byte(`{"a":1,"b":"x"}`)
	d, err := Parse(compact, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if &d.Body[0] != &compact[0] || len(d.Body) != len(compact) {
		t.Errorf("compact document: Body is a copy")
	}
	var kept [][]byte
	for i := range 50 {
		spaced := fmt.Appendf(nil, `{ "_id": "d%d", "n": %d }`, i, i)
		d, err := Parse(spaced, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"n":%d}`, i); string(d.Body) != want {
			t.Fatalf("body %q, want %q", d.Body, want)
		}
		kept = append(kept, d.Body)
		if _, err := Parse(fmt.Appendf(nil, `{"zzzzzzzzzzzz":%d}`, i), Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	// No buffer handed out as a Body may be in the pool, where a later
	// parse would write over it.
	for {
		b, ok := outPool.Get().(*[]byte)
		if !ok {
			break
		}
		for _, k := range kept {
			if cap(*b) > 0 && &(*b)[:1][0] == &k[0] {
				t.Fatalf("the buffer of body %q is in the pool", k)
			}
		}
	}
	for i, b := range kept {
		if want := fmt.Sprintf(`{"n":%d}`, i); string(b) != want {
			t.Errorf("body %d became %q after later parses, want %q", i, b, want)
		}
	}
}
