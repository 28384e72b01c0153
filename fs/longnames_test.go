package fs_test

import (
	"os"
	"strings"
	"syscall"
	"testing"

	couchfs "github.com/couchfs/couchfs/fs"
)

// TestLongNames: a file name over 255 bytes (Linux's NAME_MAX, which the
// kernel does not enforce for FUSE) fails with ENAMETOOLONG in every
// directory and for every operation that takes one, and stores nothing; a
// 255-byte document name works; a document whose name would be longer
// (written through dbcore) is left out of the listings.
func TestLongNames(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	fits := strings.Repeat("f", 250) + ".json" // 255 bytes
	long := strings.Repeat("l", 251) + ".json" // 256 bytes
	sh(t, `echo '{"v":1}' > `+e.p("db", "small.json"))
	if err := writeFile(e.p("db", fits), []byte(`{"v":255}`)); err != nil {
		t.Fatalf("255-byte document name: %v", err)
	}
	if got := e.get("db", strings.TrimSuffix(fits, ".json")); body(t, got)["v"] != float64(255) {
		t.Errorf("255-byte document: %s", got.Body)
	}

	tests := []struct {
		name string
		op   func() error
	}{
		{"create a document", func() error { return writeFile(e.p("db", long), []byte(`{"v":256}`)) }},
		{"stat a document", func() error { _, err := os.Stat(e.p("db", long)); return err }},
		{"create a scratch file", func() error { return writeFile(e.p("db", "."+long), []byte("x")) }},
		{"create a design document", func() error { return writeFile(e.p("db", "_design", long), []byte(`{}`)) }},
		{"create a local document", func() error { return writeFile(e.p("db", "_local", long), []byte(`{}`)) }},
		{"rename a document to it", func() error { return os.Rename(e.p("db", "small.json"), e.p("db", long)) }},
		{"symlink", func() error { return os.Symlink("small.json", e.p("db", "."+long)) }},
		{"mkdir in a database", func() error { return os.Mkdir(e.p("db", long), 0o755) }},
		{"mkdir a database", func() error { return os.Mkdir(e.p(strings.Repeat("d", 256)), 0o755) }},
		{"create at the top", func() error { return writeFile(e.p(long), []byte(`{}`)) }},
		{"look up a change", func() error { _, err := os.Stat(e.p("db", "_changes", "000000000001-"+long)); return err }},
		{"look up a rejected save", func() error { _, err := os.Stat(e.p("db", ".rejected", long+".1")); return err }},
		{"look up a conflicts directory", func() error {
			_, err := os.Stat(e.p("db", strings.Repeat("c", 246)+".conflicts"))
			return err
		}},
	}
	for _, tt := range tests {
		if err := tt.op(); errnoOf(err) != syscall.ENAMETOOLONG {
			t.Errorf("%s with a 256-byte name: %v, want ENAMETOOLONG", tt.name, err)
		}
	}
	db := e.db("db")
	for _, id := range []string{strings.TrimSuffix(long, ".json"), "_design/" + strings.TrimSuffix(long, ".json")} {
		if _, err := db.Get(id); err == nil {
			t.Errorf("%d-byte id stored although its name was refused", len(id))
		}
	}
	if _, err := os.Stat(e.p("db", "small.json")); err != nil {
		t.Errorf("the failed rename moved the document: %v", err)
	}

	// A document written through dbcore whose name would not fit is left
	// out of the listing and of _changes/ instead of showing a name no
	// program could use.
	hidden := strings.Repeat("h", 251)
	if _, err := db.SaveJSON(hidden, []byte(`{"v":"hidden"}`), ""); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{e.p("db"), e.p("db", "_changes")} {
		for _, name := range readDirNames(t, dir) {
			if len(name) > 255 {
				t.Errorf("%s lists a %d-byte name", dir, len(name))
			}
			if strings.Contains(name, hidden) {
				t.Errorf("%s lists %s…", dir, name[:20])
			}
		}
	}
	if names := strings.Join(readDirNames(t, e.p("db")), " "); !strings.Contains(names, fits) || !strings.Contains(names, "small.json") {
		t.Errorf("listing lost documents: %s", names)
	}
}
