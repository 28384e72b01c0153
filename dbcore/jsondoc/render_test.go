package jsondoc

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name    string
		id, rev string
		deleted bool
		body    string
		want    string
	}{
		{"doc", "x", "1-abc", false, `{"a":1,"b":[true,null,{"c":"}]\"{["}],"d":{},"e":[]}`,
			"{\n  \"_id\": \"x\",\n  \"_rev\": \"1-abc\",\n  \"a\": 1,\n  \"b\": [\n    true,\n    null,\n    {\n      \"c\": \"}]\\\"{[\"\n    }\n  ],\n  \"d\": {},\n  \"e\": []\n}\n"},
		{"tombstone", "x", "2-def", true, `{}`,
			"{\n  \"_id\": \"x\",\n  \"_rev\": \"2-def\",\n  \"_deleted\": true\n}\n"},
		{"escaped id", "a\"b\\\n", "0-1", false, `{"k":"v"}`,
			"{\n  \"_id\": \"a\\\"b\\\\\\n\",\n  \"_rev\": \"0-1\",\n  \"k\": \"v\"\n}\n"},
		{"body only", "", "", false, `{"k":[1,2]}`, "{\n  \"k\": [\n    1,\n    2\n  ]\n}\n"},
		{"nothing", "", "", false, `{}`, "{}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Render(tt.id, tt.rev, tt.deleted, []byte(tt.body))
			if string(got) != tt.want {
				t.Errorf("Render =\n%s\nwant\n%s", got, tt.want)
			}
			if n := RenderedSize(tt.id, tt.rev, tt.deleted, []byte(tt.body)); n != len(got) {
				t.Errorf("RenderedSize = %d, len(Render) = %d", n, len(got))
			}
			if a := AppendRender([]byte("x"), tt.id, tt.rev, tt.deleted, []byte(tt.body)); string(a) != "x"+string(got) {
				t.Errorf("AppendRender = %q", a)
			}
			checkRenderMatchesIndent(t, tt.id, tt.rev, tt.deleted, []byte(tt.body), got)
		})
	}
}

// checkRenderMatchesIndent compares Render with encoding/json's own
// indentation of the same compact document.
func checkRenderMatchesIndent(t *testing.T, id, rev string, deleted bool, body, got []byte) {
	t.Helper()
	compact := []byte{'{'}
	add := func(k string, v []byte) {
		if len(compact) > 1 {
			compact = append(compact, ',')
		}
		compact = AppendString(compact, k)
		compact = append(compact, ':')
		compact = append(compact, v...)
	}
	if id != "" {
		add("_id", AppendString(nil, id))
	}
	if rev != "" {
		add("_rev", AppendString(nil, rev))
	}
	if deleted {
		add("_deleted", []byte("true"))
	}
	if len(body) > 2 {
		if len(compact) > 1 {
			compact = append(compact, ',')
		}
		compact = append(compact, body[1:len(body)-1]...)
	}
	compact = append(compact, '}')
	var want bytes.Buffer
	if err := json.Indent(&want, compact, "", "  "); err != nil {
		t.Fatalf("json.Indent(%s): %v", compact, err)
	}
	want.WriteByte('\n')
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("Render differs from json.Indent:\n%s\nwant\n%s", got, want.Bytes())
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"abc", `"abc"`},
		{"a\"b\\c", `"a\"b\\c"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`},
		{"é😀<>&", `"é😀<>&"`},
		{"a\xffb", `"a\ufffdb"`},
		{"\xe2\x82", `"\ufffd\ufffd"`},
	}
	for _, tt := range tests {
		if got := string(AppendString([]byte("x"), tt.in)); got != "x"+tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if n := StringSize(tt.in); n != len(tt.want) {
			t.Errorf("StringSize(%q) = %d, want %d", tt.in, n, len(tt.want))
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\n", "é", "\xff", "\ud7ff", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := AppendString(nil, s)
		if len(enc) != StringSize(s) {
			t.Fatalf("StringSize(%q) = %d, len %d", s, StringSize(s), len(enc))
		}
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, enc, err)
		}
		// encoding/json maps each invalid byte to U+FFFD, as AppendString does.
		ref, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(ref, &want)
		if back != want {
			t.Fatalf("AppendString(%q) decodes to %q, want %q", s, back, want)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("valid string %q changed to %q", s, back)
		}
	})
}
