package fs_test

import (
	"strings"
	"testing"
	"time"

	couchfs "github.com/couchfs/couchfs/fs"
)

// TestRequestCounts counts the FUSE requests of the shell's own operations
// (design.md §6): cat of an unchanged document already read ≤ 2, echo over
// an existing document ≤ 5, echo creating one ≤ 6. These are counts with
// the kernel's caches warm, so the timeouts are long enough that a slow
// machine cannot let them expire between warming and measuring.
func TestRequestCounts(t *testing.T) {
	e := mountT(t, couchfs.Options{EntryTimeout: 30 * time.Second, AttrTimeout: 30 * time.Second})
	e.mkdb("db")
	file := e.p("db", "doc.json")
	sh(t, `echo '{"title":"Blue"}' > `+file)
	sh(t, "cat "+file+" >/dev/null")
	sh(t, "cat "+file+" >/dev/null")

	measure := func(t *testing.T, name string, max uint64, script string) {
		t.Helper()
		settle(t, e)
		before := e.h.Stats()
		sh(t, script)
		settle(t, e)
		d := e.h.Stats().Sub(before)
		t.Logf("%s: %d requests %v", name, d.Total(), d)
		if d.Total() > max {
			t.Errorf("%s cost %d FUSE requests %v, want ≤ %d", name, d.Total(), d, max)
		}
	}
	measure(t, "cat of an unchanged document", 2, "cat "+file+" >/dev/null")
	measure(t, "echo over an existing document", 5, `echo '{"title":"Red"}' > `+file)
	if got := body(t, e.get("db", "doc"))["title"]; got != "Red" {
		t.Fatalf("title = %v", got)
	}
	// The first cat after a save refetches; the next is cached again.
	sh(t, "cat "+file+" >/dev/null")
	measure(t, "cat after the save", 2, "cat "+file+" >/dev/null")
	// A document saved by renaming a scratch file onto it (sed -i) is
	// cached like any other.
	sh(t, "sed -i s/Red/Blue/ "+file)
	sh(t, "cat "+file+" >/dev/null")
	measure(t, "cat after sed -i", 2, "cat "+file+" >/dev/null")
	measure(t, "echo creating a document", 6, `echo '{"title":"Green"}' > `+e.p("db", "new.json"))
	if got := body(t, e.get("db", "new"))["title"]; got != "Green" {
		t.Fatalf("title = %v", got)
	}
	// The first cat of a document saved elsewhere, whose name the kernel
	// has looked up (ls -l, grep -r's walk), needs no GETATTR: the open
	// stores its rendering in a page cache the kernel never had.
	if _, err := e.db("db").SaveJSON("other", []byte(`{"title":"Other"}`), ""); err != nil {
		t.Fatal(err)
	}
	other := e.p("db", "other.json")
	sh(t, "stat "+other+" >/dev/null")
	measure(t, "first cat of a document looked up", 2, "cat "+other+" >/dev/null")
	if got := sh(t, "cat "+other); !strings.Contains(got, `"Other"`) {
		t.Fatalf("cat other.json: %q", got)
	}
}

// settle waits until every file the kernel opened is released: RELEASE is
// asynchronous, so without this one command's RELEASE can be counted in
// the next command's requests.
func settle(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := e.h.Stats()
		if s["OPEN"]+s["CREATE"] == s["RELEASE"] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("files still open after 5 s: %v", s)
		}
		time.Sleep(time.Millisecond)
	}
}
