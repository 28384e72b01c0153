package pebble_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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

// TestFailingFlushIsPaced: Pebble retries a failed flush at once, without
// end; on a full or failing disk that pinned a core for as long as the
// disk stayed so. The engine paces the retries: over a second of a disk
// that refuses every new table, a handful of attempts, not thousands.
func TestFailingFlushIsPaced(t *testing.T) {
	var attempts atomic.Int64
	failing := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpCreate && strings.HasSuffix(op.Path, ".sst") {
			attempts.Add(1)
			return syscall.ENOSPC
		}
		return nil
	})}
	eng := pebble.New(pebble.Options{FS: errorfs.Wrap(vfs.NewMem(), failing), MemTableSize: 1 << 20})
	db, err := eng.Create("/db.pebble")
	must(t, err)
	failing.On()
	// Enough to fill the memtable and ask for a flush.
	big := []byte(`{"pad":"` + strings.Repeat("x", 64<<10) + `"}`)
	for round := range 40 {
		var locals []engines.LocalDoc
		for i := range 8 {
			locals = append(locals, engines.LocalDoc{ID: fmt.Sprintf("_local/%d-%d", round, i), Rev: 1, Body: big})
		}
		must(t, db.WriteDocInfos(nil, locals, nil))
		must(t, db.Commit())
		if attempts.Load() > 0 {
			break
		}
	}
	if attempts.Load() == 0 {
		t.Fatal("no flush was attempted")
	}
	time.Sleep(time.Second)
	n := attempts.Load()
	failing.Off()
	t.Logf("%d flush attempts in a second of a failing disk", n)
	if n > 50 {
		t.Fatalf("%d flush attempts in a second: retries are not paced", n)
	}
	// The disk is back: the next retry flushes, and writes go on.
	must(t, db.WriteDocInfos(nil, []engines.LocalDoc{{ID: "_local/after", Rev: 1, Body: []byte(`{}`)}}, nil))
	must(t, db.Commit())
	must(t, db.Close())
	db, err = eng.Open("/db.pebble")
	must(t, err)
	if got, err := db.OpenLocalDocs([]string{"_local/after", "_local/0-0"}); err != nil || got[0] == nil || got[1] == nil {
		t.Fatalf("after the disk came back: %v, %v", got, err)
	}
	must(t, db.Close())
}
