package pebble_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/pebble"
)

var errInjected = errors.New("injected sync failure")

// TestFailedSync: when the WAL sync fails, Commit reports it, the database
// refuses writes with ErrReadOnly but keeps answering reads, and a reopen
// finds every commit that returned nil.
func TestFailedSync(t *testing.T) {
	mem := vfs.NewMem()
	failing := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData) && strings.HasSuffix(op.Path, ".log") {
			return errInjected
		}
		return nil
	})}
	eng := pebble.New(pebble.Options{FS: errorfs.Wrap(mem, failing)})
	const path = "/db.pebble"
	db, err := eng.Create(path)
	must(t, err)
	m := newModel()
	must(t, db.WriteDocInfos([]engines.DocInfoPair{m.put(t, db, "kept", false)}, nil, nil))
	must(t, db.Commit())
	durable := m.view()

	failing.On()
	must(t, db.WriteDocInfos([]engines.DocInfoPair{m.put(t, db, "doomed", false)}, nil, nil))
	if err := db.Commit(); err == nil {
		t.Fatal("Commit returned nil although the WAL sync failed")
	}
	failing.Off()

	writes := map[string]error{
		"Commit":        db.Commit(),
		"SetRevsLimit":  db.SetRevsLimit(5),
		"SetSecurity":   db.SetSecurity([]byte(`{}`)),
		"WriteDocInfos": db.WriteDocInfos(nil, []engines.LocalDoc{{ID: "_local/x", Rev: 1, Body: []byte(`{}`)}}, nil),
	}
	_, _, err = db.WriteDocBody([]byte(`{}`))
	writes["WriteDocBody"] = err
	_, err = db.(engines.Compacter).StartCompaction()
	writes["StartCompaction"] = err
	for name, err := range writes {
		if !errors.Is(err, engines.ErrReadOnly) {
			t.Errorf("%s after a failed commit: %v, want ErrReadOnly", name, err)
		}
	}
	if dis, err := db.OpenDocs([]string{"kept"}); err != nil || dis[0] == nil {
		t.Fatalf("OpenDocs after a failed commit: %v, %v", dis, err)
	}
	if _, err := db.ReadDocBody(m.docs["kept"].RevTree[0].Root.Value.Ptr); err != nil {
		t.Fatalf("ReadDocBody after a failed commit: %v", err)
	}
	_ = db.Close() // may report the failure again

	db, err = eng.Open(path)
	must(t, err)
	defer db.Close()
	check(t, db)
	got := capture(t, db)
	if got.Docs["kept"] != durable.Docs["kept"] {
		t.Fatalf("after reopen the committed doc is %q", got.Docs["kept"])
	}
	// Whether "doomed" survived is unknown after a failed sync; the
	// database must be consistent either way and writable again.
	must(t, db.WriteDocInfos(nil, []engines.LocalDoc{{ID: "_local/y", Rev: 1, Body: []byte(`{}`)}}, nil))
	must(t, db.Commit())
}
