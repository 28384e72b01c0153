package dbcore_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/couchfile"
	"github.com/couchfs/couchfs/engines/pebble"
)

// diskFault is a disk below an engine's file seam that, once armed, fails
// every operation that stores data with one errno until it is cleared: a
// failing disk (EIO) fails every write, sync, truncation and file
// creation; a full one (ENOSPC) the writes and creations, while a sync,
// a truncation and a directory's metadata still work, as on a real full
// disk. Opening and reading keep working. Any goroutine.
type diskFault struct {
	errno atomic.Uintptr // 0: the disk works
	hits  atomic.Int64   // operations it failed
}

func (f *diskFault) arm(errno syscall.Errno) { f.errno.Store(uintptr(errno)) }
func (f *diskFault) clear()                  { f.errno.Store(0) }

// fail returns the error an operation that stores data meets now,
// counting it.
func (f *diskFault) fail(op, name string) error {
	errno := syscall.Errno(f.errno.Load())
	if errno == 0 {
		return nil
	}
	f.hits.Add(1)
	return &os.PathError{Op: op, Path: name, Err: errno}
}

// failSync is fail for an operation a full disk still does: a sync, a
// truncation, a rename or removal.
func (f *diskFault) failSync(op, name string) error {
	if syscall.Errno(f.errno.Load()) == syscall.ENOSPC {
		return nil
	}
	return f.fail(op, name)
}

// faultyDiskEngine is engine name (couch or pebble) storing through f.
// It is the engine itself, not a wrapper, so dbcore finds its optional
// interfaces (engines.ReadOnlyOpener).
func faultyDiskEngine(t *testing.T, name string, f *diskFault) engines.Engine {
	switch name {
	case "couch":
		return couchfile.New(couchfile.Options{OpenFile: f.openCouchFile})
	case "pebble":
		return pebble.New(pebble.Options{FS: errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
			// Closing writes nothing, nor does locking, nor a MkdirAll of
			// a directory that exists (Pebble's Open makes sure of its
			// own): a disk that fails lets them pass.
			switch op.Kind {
			case errorfs.OpFileClose, errorfs.OpLock, errorfs.OpMkdirAll:
				return nil
			case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo, errorfs.OpFileFlush,
				errorfs.OpRemove, errorfs.OpRemoveAll, errorfs.OpRename:
				return f.failSync("sync", op.Path)
			}
			if op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
				return nil
			}
			return f.fail("write", op.Path)
		}))})
	}
	t.Fatalf("no faulty disk for engine %s", name)
	return nil
}

func (f *diskFault) openCouchFile(name string, flag int, perm os.FileMode) (couchfile.File, error) {
	if flag&os.O_CREATE != 0 {
		if err := f.fail("open", name); err != nil {
			return nil, err
		}
	}
	file, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyCouchFile{File: file, f: f}, nil
}

type faultyCouchFile struct {
	*os.File
	f *diskFault
}

func (c *faultyCouchFile) WriteAt(p []byte, off int64) (int, error) {
	if err := c.f.fail("write", c.Name()); err != nil {
		return 0, err
	}
	return c.File.WriteAt(p, off)
}

func (c *faultyCouchFile) Sync() error {
	if err := c.f.failSync("fsync", c.Name()); err != nil {
		return err
	}
	return c.File.Sync()
}

func (c *faultyCouchFile) Truncate(size int64) error {
	if err := c.f.failSync("truncate", c.Name()); err != nil {
		return err
	}
	return c.File.Truncate(size)
}

// readState renders everything a reader sees of db: Info's counters, every
// AllDocs row with the document Get returns, the changes feed, every local
// document and the security object. Equal renderings are equal states.
func readState(db *dbcore.DB) (string, error) {
	var b strings.Builder
	info, err := db.Info()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "info docs=%d deleted=%d update_seq=%d purge_seq=%d revs_limit=%d uuid=%s\n",
		info.DocCount, info.DocDelCount, info.UpdateSeq, info.PurgeSeq, info.RevsLimit, info.UUID)
	var ids []string
	err = db.AllDocs(engines.FoldOptions{}, func(r dbcore.DocRow) error {
		fmt.Fprintf(&b, "row %s %s %d %d\n", r.ID, r.Rev, r.Seq, r.Size)
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		return "", err
	}
	err = db.LocalDocs(engines.FoldOptions{}, func(r dbcore.DocRow) error {
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		return "", err
	}
	for _, id := range ids {
		d, err := db.Get(id)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "doc %s %s %s %v\n", d.ID, d.Rev, d.Body, d.Conflicts)
	}
	err = db.Changes(0, 0, func(c dbcore.Change) error {
		fmt.Fprintf(&b, "change %d %s %s %v\n", c.Seq, c.ID, c.Rev, c.Deleted)
		return nil
	})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "security %s\n", db.Security())
	return b.String(), nil
}

// TestReadableDuringStorageFailure fails every write and sync of a couch
// and a pebble database's disk, with EIO (a failing disk) and with ENOSPC
// (a full one). The write that meets the fault fails with its errno, and
// so does every later write while it lasts, at once (a pebble reopen is
// stuck retrying its flush on the full disk); meanwhile Get,
// AllDocs, LocalDocs, Changes and Info return exactly the committed state,
// and a reader running throughout never gets an error nor a committed
// document other than it is: the database is served by a read-only
// stand-in while its reopen cannot finish. Once the disk works again,
// writes do within faultRecovery, and the database shows the committed
// state plus them; the engine's Check passes after the server is closed.
func TestReadableDuringStorageFailure(t *testing.T) {
	for _, name := range []string{"couch", "pebble"} {
		for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
			t.Run(name+"/"+errnoName(errno), func(t *testing.T) {
				t.Parallel()
				readableDuringFailure(t, name, errno)
			})
		}
	}
}

func errnoName(errno syscall.Errno) string {
	if errno == syscall.ENOSPC {
		return "ENOSPC"
	}
	return "EIO"
}

// faultRecovery bounds how long writes may fail once the disk works again;
// a write waits at most two seconds for a reopen (docs/dbcore.md).
const faultRecovery = 5 * time.Second

func readableDuringFailure(t *testing.T, name string, errno syscall.Errno) {
	fault := &diskFault{}
	eng := faultyDiskEngine(t, name, fault)
	dir := t.TempDir()
	s, err := dbcore.NewServer(dbcore.Options{Dir: dir, Engines: []engines.Engine{eng}, DefaultEngine: name, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			fault.clear()
			s.Close()
		}
	})
	if err := s.CreateDB("db", ""); err != nil {
		t.Fatal(err)
	}
	db, err := s.OpenDB("db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// The committed state: documents with histories, a deleted one, a
	// conflict, a local document and a security object.
	keep := update(t, db, "keep", "", `{"v":"kept"}`)
	ra := update(t, db, "a", "", `{"v":1}`)
	update(t, db, "a", ra, `{"v":2}`)
	rd := update(t, db, "deleted", "", `{"v":1}`)
	if _, err := db.DeleteDoc("deleted", rd); err != nil {
		t.Fatal(err)
	}
	replicate(t, db, "c", rev(1, hexRev("1")), nil, false, `{"side":1}`)
	replicate(t, db, "c", rev(1, hexRev("2")), nil, false, `{"side":2}`)
	update(t, db, "_local/l", "", `{"local":true}`)
	if err := db.SetSecurity([]byte(`{"members":{"names":["m"]}}`)); err != nil {
		t.Fatal(err)
	}
	committed, err := readState(db)
	if err != nil {
		t.Fatal(err)
	}

	// Two readers run from before the fault until writes work again, so
	// that they meet every swap of the engine handle. One reads Info
	// without pause; the other reads "keep", which must read as committed,
	// also while writes fail under it: a read that overlaps a failing
	// commit may meet the engine rolling back what it had just shown
	// (engines.ErrRolledBack), and dbcore reads again. Every read must work.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	var readerErr atomic.Pointer[error]
	reader := func(read func() error) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := read(); err != nil {
				readerErr.CompareAndSwap(nil, &err)
				return
			}
			reads.Add(1)
			time.Sleep(200 * time.Microsecond)
		}
	}
	wg.Add(2)
	go reader(func() error {
		_, err := db.Info()
		return err
	})
	go reader(func() error {
		d, err := db.Get("keep")
		if err == nil && (d.Rev != keep || string(d.Body) != `{"v":"kept"}`) {
			err = fmt.Errorf("keep reads %s %s", d.Rev, d.Body)
		}
		return err
	})
	stopReaders := func() {
		close(stop)
		wg.Wait()
		if p := readerErr.Load(); p != nil {
			t.Errorf("a concurrent read failed (after %d worked): %v", reads.Load(), *p)
		}
		if reads.Load() == 0 {
			t.Error("the concurrent readers never read")
		}
	}

	fault.arm(errno)
	writes := []struct {
		what string
		call func() error
	}{
		{"create", func() error {
			_, err := tryUpdate(db, &dbcore.Doc{ID: "new", Body: []byte(`{}`)}, dbcore.UpdateOptions{})
			return err
		}},
		{"update", func() error {
			_, err := tryUpdate(db, &dbcore.Doc{ID: "a", Rev: mustGet(t, db, "a").Rev, Body: []byte(`{"v":3}`)}, dbcore.UpdateOptions{})
			return err
		}},
		{"set security", func() error { return db.SetSecurity([]byte(`{}`)) }},
	}
	for i, w := range writes {
		began := time.Now()
		err := w.call()
		took := time.Since(began)
		switch {
		case err == nil:
			t.Errorf("%s succeeded on a disk that fails every write", w.what)
		case !errors.Is(err, errno):
			t.Errorf("%s failed with %v: want %v", w.what, err, errnoName(errno))
		case errors.Is(err, dbcore.ErrReadOnly):
			t.Errorf("%s failed with %v: a storage failure is not the server's read-only mode", w.what, err)
		}
		// The first write waits up to two seconds for the reopen; later
		// ones do not wait for one that is stuck on the disk.
		limit := faultRecovery
		if i > 0 {
			limit = time.Second
		}
		if took > limit {
			t.Errorf("%s took %v to fail", w.what, took)
		}
		if i == 0 && fault.hits.Load() == 0 {
			t.Fatalf("the fault never triggered below %s", name)
		}
		got, err := readState(db)
		if err != nil {
			t.Fatalf("reading after the failed %s while the disk fails: %v", w.what, err)
		}
		if got != committed {
			t.Fatalf("after the failed %s the database reads\n%s\nwant the committed state\n%s", w.what, got, committed)
		}
	}

	fault.clear()
	began := time.Now()
	var rn string
	for {
		rn, err = tryUpdate(db, &dbcore.Doc{ID: "new", Body: []byte(`{"after":true}`)}, dbcore.UpdateOptions{})
		if err == nil {
			break
		}
		if errors.Is(err, dbcore.ErrConflict) {
			t.Fatalf("a failed create of new was stored: %v", err)
		}
		if time.Since(began) > faultRecovery {
			t.Fatalf("writes still fail %v after the disk works again: %v", faultRecovery, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let the readers meet the database as it is once it works again.
	time.Sleep(20 * time.Millisecond)
	stopReaders()
	if d := mustGet(t, db, "new"); d.Rev != rn {
		t.Errorf("new = %s after the write, want %s", d.Rev, rn)
	}
	ra3 := update(t, db, "a", mustGet(t, db, "a").Rev, `{"v":3}`)
	if d := mustGet(t, db, "a"); d.Rev != ra3 || string(d.Body) != `{"v":3}` {
		t.Errorf("a = %s %s", d.Rev, d.Body)
	}
	if d := mustGet(t, db, "keep"); d.Rev != keep {
		t.Errorf("keep = %s", d.Rev)
	}
	db.Close()
	closed = true
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	edb, err := eng.Open(dir + "/db" + eng.Ext())
	if err != nil {
		t.Fatal(err)
	}
	defer edb.Close()
	if err := edb.(engines.Checker).Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestCloseDuringStorageFailure closes the server while a couch database's
// disk fails every write and sync, so that a read-only stand-in serves it:
// Close closes it and returns, reads then fail with ErrClosed, and once
// the disk works the database opens with its committed documents.
func TestCloseDuringStorageFailure(t *testing.T) {
	fault := &diskFault{}
	eng := faultyDiskEngine(t, "couch", fault)
	opts := dbcore.Options{Dir: t.TempDir(), Engines: []engines.Engine{eng}, DefaultEngine: "couch", Logger: quietLogger}
	s, err := dbcore.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDB("db", ""); err != nil {
		t.Fatal(err)
	}
	db, err := s.OpenDB("db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keep := update(t, db, "keep", "", `{"v":1}`)
	fault.arm(syscall.EIO)
	if _, err := tryUpdate(db, &dbcore.Doc{ID: "lost", Body: []byte(`{}`)}, dbcore.UpdateOptions{}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("a write on a failing disk: %v, want EIO", err)
	}
	if d := mustGet(t, db, "keep"); d.Rev != keep {
		t.Fatalf("keep = %s on the failing disk", d.Rev)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close while the disk fails: %v", err)
		}
	case <-time.After(faultRecovery):
		fault.clear()
		t.Fatalf("Close did not return within %v while the disk fails", faultRecovery)
	}
	if _, err := db.Get("keep"); !errors.Is(err, dbcore.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}

	fault.clear()
	s = startServer(t, opts)
	db2 := openDB(t, s, "db")
	if d := mustGet(t, db2, "keep"); d.Rev != keep {
		t.Errorf("keep = %s after the restart", d.Rev)
	}
	if _, err := db2.Get("lost"); !errors.Is(err, dbcore.ErrNotFound) {
		t.Errorf("the failed write: %v, want ErrNotFound", err)
	}
}
