package pebble_test

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/pebble"
)

// TestBodiesReadableAtOnce: a body is readable as soon as WriteDocBody
// returns, from memory, then from Pebble once a batch stored it; one never
// referenced nor committed is gone after Close.
func TestBodiesReadableAtOnce(t *testing.T) {
	eng := pebble.New(pebble.Options{FS: vfs.NewMem()})
	db, err := eng.Create("/db.pebble")
	must(t, err)
	read := func(ptr uint64, want string) {
		t.Helper()
		got, err := db.ReadDocBody(ptr)
		if err != nil || string(got) != want {
			t.Fatalf("ReadDocBody(%d) = %q, %v; want %q", ptr, got, err, want)
		}
	}
	p1, size, err := db.WriteDocBody([]byte(`{"a":1}`))
	must(t, err)
	if size != 7 {
		t.Fatalf("active size %d, want 7", size)
	}
	p2, _, err := db.WriteDocBody([]byte(`{"b":2}`))
	must(t, err)
	if p1 == p2 {
		t.Fatalf("two bodies got pointer %d", p1)
	}
	read(p1, `{"a":1}`)
	read(p2, `{"b":2}`)
	must(t, db.Commit())
	read(p1, `{"a":1}`)
	p3, _, err := db.WriteDocBody([]byte(`{"c":3}`))
	must(t, err)
	read(p3, `{"c":3}`)
	if si := db.SizeInfo(); si.File == 0 {
		t.Fatalf("SizeInfo.File = 0 for a database on disk")
	}
	must(t, db.Close())
	if _, err := db.ReadDocBody(p1); err == nil {
		t.Fatal("ReadDocBody after Close succeeded")
	}

	db, err = eng.Open("/db.pebble")
	must(t, err)
	defer db.Close()
	read(p1, `{"a":1}`)
	if _, err := db.ReadDocBody(p3); err == nil {
		t.Fatal("an uncommitted body survived Close")
	}
	p4, _, err := db.WriteDocBody([]byte(`{}`))
	must(t, err)
	if p4 <= p2 {
		t.Fatalf("pointer %d reused after reopen (committed up to %d)", p4, p2)
	}
	if _, ok := db.(engines.Checker); !ok {
		t.Fatal("the pebble engine has no Checker")
	}
}
