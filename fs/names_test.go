package fs

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestEncodeName(t *testing.T) {
	tests := []struct{ id, name string }{
		{"blue", "blue.json"},
		{"a/b", "a%2Fb.json"},
		{"100%", "100%25.json"},
		{"%2F", "%252F.json"},
		{".hidden", "%2Ehidden.json"},
		{"a.b", "a.b.json"},
		{"..", "%2E..json"},
		{"x.json", "x.json.json"},
		{"nul\x00", "nul%00.json"},
		{"ümlaut", "ümlaut.json"},
		{"a b", "a b.json"},
	}
	for _, tt := range tests {
		if got := EncodeName(tt.id); got != tt.name {
			t.Errorf("EncodeName(%q) = %q, want %q", tt.id, got, tt.name)
		}
		id, ok := DecodeName(tt.name)
		if !ok || id != tt.id {
			t.Errorf("DecodeName(%q) = %q, %v; want %q", tt.name, id, ok, tt.id)
		}
	}
}

func TestDecodeNameRejects(t *testing.T) {
	for _, name := range []string{
		".json",          // empty id
		"blue",           // no suffix
		"blue.json~",     // vim backup
		".blue.json.swp", // vim swap
		".#blue.json",    // emacs lock: leading dot
		"4913",           // vim probe
		"a%2fb.json",     // lower-case escape is not what the encoder writes
		"a%41.json",      // escaped byte that needs no escape
		"x%2E.json",      // '.' escaped where it needs none
		"a%2.json",       // truncated escape
		"a%.json",        // truncated escape
		"a%zz.json",      // not hex
		"sedAbC123",      // sed -i temp file
	} {
		if id, ok := DecodeName(name); ok {
			t.Errorf("DecodeName(%q) = %q, want rejection", name, id)
		}
	}
}

func TestScratchNames(t *testing.T) {
	tests := []struct {
		name    string
		scratch bool
	}{
		{"blue.json", false},
		{".blue.json.swp", true},
		{"blue.json~", true},
		{"4913", true},
		{"#blue.json#", true},
		{".#blue.json", true},
		{"sedXyZ123", true},
		{"tmpa1b2c3d4", true},
		{"blue.conflicts", false},
	}
	for _, tt := range tests {
		if got := isScratchName(tt.name); got != tt.scratch {
			t.Errorf("isScratchName(%q) = %v, want %v", tt.name, got, tt.scratch)
		}
	}
}

func TestChangeName(t *testing.T) {
	tests := []struct {
		seq  uint64
		id   string
		name string
	}{
		{1, "blue", "000000000001-blue.json"},
		{42, "_design/view", "000000000042-_design%2Fview.json"},
		{123456789012, "a-b", "123456789012-a-b.json"},
		{1234567890123, "x", "1234567890123-x.json"},
	}
	for _, tt := range tests {
		if got := ChangeName(tt.seq, tt.id); got != tt.name {
			t.Errorf("ChangeName(%d, %q) = %q, want %q", tt.seq, tt.id, got, tt.name)
		}
		seq, id, ok := ParseChangeName(tt.name)
		if !ok || seq != tt.seq || id != tt.id {
			t.Errorf("ParseChangeName(%q) = %d, %q, %v", tt.name, seq, id, ok)
		}
	}
	for _, bad := range []string{"1-blue.json", "00000000000a-blue.json", "000000000001blue.json", "0000000000001-x.json", "000000000001-.x.json"} {
		if _, _, ok := ParseChangeName(bad); ok {
			t.Errorf("ParseChangeName(%q) accepted", bad)
		}
	}
}

func TestConflictsName(t *testing.T) {
	if got := ConflictsName("a/b"); got != "a%2Fb.conflicts" {
		t.Errorf("ConflictsName = %q", got)
	}
	if id, ok := DecodeConflictsName("a%2Fb.conflicts"); !ok || id != "a/b" {
		t.Errorf("DecodeConflictsName = %q, %v", id, ok)
	}
	if _, ok := DecodeConflictsName("a.json"); ok {
		t.Error("DecodeConflictsName accepted a document name")
	}
}

// FuzzNames checks that encoding is a bijection between ids and document
// names: every id round-trips, and every name the decoder accepts is the
// encoding of what it decodes to.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"blue", "a/b", "%", ".x", "x.json", "%2F", "\x00", "..", "a%25b.json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if id, ok := DecodeName(s); ok && EncodeName(id) != s {
			t.Fatalf("name %q decodes to %q which encodes to %q", s, id, EncodeName(id))
		}
		if s == "" {
			return // not an id
		}
		name := EncodeName(s)
		if id, ok := DecodeName(name); !ok || id != s {
			t.Fatalf("id %q → %q → %q, %v", s, name, id, ok)
		}
		if strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
			t.Fatalf("EncodeName(%q) = %q is not a safe file name", s, name)
		}
	})
}

func TestNameLength(t *testing.T) {
	tests := []struct {
		id   string
		name string // EncodeName(id)
		fits bool   // docFileName(id) succeeds
	}{
		{strings.Repeat("a", 250), strings.Repeat("a", 250) + ".json", true},                // 255 bytes
		{strings.Repeat("a", 251), strings.Repeat("a", 251) + ".json", false},               // 256 bytes
		{strings.Repeat("/", 83), strings.Repeat("%2F", 83) + ".json", true},                // 254 bytes once escaped
		{strings.Repeat("/", 84), strings.Repeat("%2F", 84) + ".json", false},               // 84-byte id, 257-byte name
		{strings.Repeat("ü", 125), strings.Repeat("ü", 125) + ".json", true},                // 255 bytes of UTF-8
		{"." + strings.Repeat("b", 248), "%2E" + strings.Repeat("b", 248) + ".json", false}, // 249-byte id, 256-byte name
	}
	for _, tt := range tests {
		if got := EncodeName(tt.id); got != tt.name {
			t.Fatalf("EncodeName(%d bytes) = %q", len(tt.id), got)
		}
		nameErr := checkName(tt.name)
		if (nameErr == nil) != tt.fits {
			t.Errorf("checkName(%d bytes) = %v, want fits %v", len(tt.name), nameErr, tt.fits)
		}
		name, err := docFileName(tt.id)
		switch {
		case tt.fits && (err != nil || name != tt.name):
			t.Errorf("docFileName(%d-byte id) = %q, %v; want %q", len(tt.id), name, err, tt.name)
		case !tt.fits && !errors.Is(err, errNameTooLong):
			t.Errorf("docFileName(%d-byte id) = %q, %v; want errNameTooLong", len(tt.id), name, err)
		}
		if want := map[bool]syscall.Errno{true: 0, false: syscall.ENAMETOOLONG}[tt.fits]; nameErrno("ok.json", tt.name) != want {
			t.Errorf("nameErrno(%d bytes) = %v, want %v", len(tt.name), nameErrno(tt.name), want)
		}
	}
}

func TestRejectedName(t *testing.T) {
	long := strings.Repeat("a", 250) + ".json"
	tests := []struct {
		file string
		n    int
		want string
	}{
		{"doc.json", 1, "doc.json.1"},
		{"_design/x.json", 12, "_design%2Fx.json.12"},
		{long, 7, strings.Repeat("a", 250) + ".js.7"},
		{"_design/" + long, 3, "_design%2F" + strings.Repeat("a", 243) + ".3"},
		{strings.Repeat("ü", 126) + ".json", 10, strings.Repeat("ü", 126) + ".10"}, // no half character
	}
	for _, tt := range tests {
		got := rejectedName(tt.file, tt.n)
		if got != tt.want || len(got) > maxNameLen {
			t.Errorf("rejectedName(%d bytes, %d) = %q (%d bytes), want %q", len(tt.file), tt.n, got, len(got), tt.want)
		}
	}
}
