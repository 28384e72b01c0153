package e2e

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
)

// Storage fault test sizes: a few documents before the fault, a few
// operations of each kind while it lasts. faultCallTimeout bounds one call:
// dbcore waits at most two seconds for a reopen before it answers a writer
// (docs/dbcore.md, "Storage failures"), so a call taking longer is waiting
// for the disk. faultRecoverTimeout bounds how long writes may keep failing
// once the fault is gone: a reopen that was retrying the disk finishes in
// milliseconds then.
const (
	faultDocs           = 6
	faultCallTimeout    = 5 * time.Second
	faultRecoverTimeout = 5 * time.Second
	faultRetryInterval  = 20 * time.Millisecond
)

// faultOutcome is what one engine did under one fault, for the log and
// docs/reliability.md.
type faultOutcome struct {
	failed     int    // writes refused while the fault was armed
	hits       int64  // file operations the fault failed
	firstErr   string // what the first refused writer was told
	slowest    time.Duration
	readable   string // what reads did while the fault lasted
	afterClear string // what writes did once the fault was gone
}

// TestStorageFaults injects lasting failures below each engine, at its
// file seam: failing fsync, failing write, ENOSPC and short writes. While
// the fault is armed every create, update and delete must fail promptly
// with a storage error (never report success for something not durable,
// never block until the disk recovers). Every read must work and return
// an allowed state of the document, while dbcore reopens the database too
// (it serves the committed state read-only meanwhile). Once the fault
// clears, writes must work again without reopening the
// server, within faultRecoverTimeout, and then so must reads. Finally each
// database, opened by its engine directly, passes Check, its counters
// match a fold, and every acknowledged write is there with exactly its
// content.
func TestStorageFaults(t *testing.T) {
	for _, engName := range []string{"couch", "pebble"} {
		for _, kind := range []faultKind{failSync, failWrite, diskFull, shortWrite} {
			t.Run(engName+"/"+strings.ReplaceAll(kind.String(), " ", "_"), func(t *testing.T) {
				out := storageFault(t, engName, kind)
				t.Logf("%s under %s: %d writes refused (slowest answer %v; %d file operations failed), first error %q; reads during the fault: %v; after the fault cleared: %s",
					engName, kind, out.failed, out.slowest.Round(time.Millisecond), out.hits, out.firstErr, out.readable, out.afterClear)
			})
		}
	}
}

// faultServer is a dbcore server over engines with injectable faults. Its
// methods are called from the test goroutine only.
type faultServer struct {
	t       *testing.T
	dir     string
	faults  *faultSet
	srv     *dbcore.Server
	db      *dbcore.DB
	stalled bool // a call never returned: leave everything as it is
	// slowest is the longest a call took since it was last reset.
	slowest time.Duration
	// revs holds each document's current revision ("" for absent or
	// deleted) while it is known: after an acknowledged operation. A
	// failed one may or may not have landed, so the next save reads it.
	revs map[string]string
}

func openFaultServer(t *testing.T, dir string, faults *faultSet) *faultServer {
	t.Helper()
	fx := &faultServer{t: t, dir: dir, faults: faults, revs: map[string]string{}}
	srv, err := dbcore.NewServer(dbcore.Options{Dir: fx.dir, Engines: faultyEngines(fx.faults), DefaultEngine: "couch"})
	if err != nil {
		t.Fatal(err)
	}
	fx.srv = srv
	t.Cleanup(fx.close)
	return fx
}

func (fx *faultServer) openDB(name string) {
	fx.t.Helper()
	db, err := fx.srv.OpenDB(name)
	if err != nil {
		fx.t.Fatalf("open %s: %v", name, err)
	}
	fx.db = db
}

// close closes the handle and the server; a stalled server is abandoned
// (its goroutines are stuck), so the test can still report.
func (fx *faultServer) close() {
	if fx.srv == nil || fx.stalled {
		return
	}
	if fx.db != nil {
		fx.db.Close()
		fx.db = nil
	}
	srv := fx.srv
	fx.srv = nil
	if err := fx.call("close the server", srv.Close); err != nil {
		fx.t.Logf("close server: %v", err)
	}
}

// call runs fn with a deadline, returns its error and records how long it
// took in slowest. A storage layer that blocks while a fault lasts fails the test: the fault
// is cleared to see whether the call then completes (its result is
// returned), and if even that does not help the test stops with every
// goroutine's stack instead of hanging.
func (fx *faultServer) call(what string, fn func() error) error {
	fx.t.Helper()
	began := time.Now()
	defer func() { fx.slowest = max(fx.slowest, time.Since(began)) }()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(faultCallTimeout):
	}
	armed := fx.faults.armed()
	fx.faults.clear()
	select {
	case err := <-done:
		fx.t.Errorf("%s blocked for %v while the %v fault lasted and returned (%v) only once it was cleared: a writer must get an error, not wait for the disk",
			what, faultCallTimeout, armed, err)
		return err
	case <-time.After(faultCallTimeout):
	}
	fx.stalled = true
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	fx.t.Fatalf("%s did not return within %v, nor within %v after the %v fault was cleared; goroutines:\n%s",
		what, faultCallTimeout, faultCallTimeout, armed, buf)
	return nil
}

// base returns the revision a save of h edits: the known one, or the
// current one read from the database when a failed operation may have
// changed it. Inside call only.
func (fx *faultServer) base(h *docHistory) (string, error) {
	if rev, ok := fx.revs[h.id]; ok {
		return rev, nil
	}
	cur, err := fx.db.Get(h.id)
	switch {
	case err == nil:
		return cur.Rev, nil
	case errors.Is(err, dbcore.ErrNotFound):
		return "", nil
	}
	return "", fmt.Errorf("read %s before writing it: %w", h.id, err)
}

// save writes the next version of h's document on top of its current
// revision and records the outcome in h. Writes on a known revision go
// straight to the updater, without a read.
func (fx *faultServer) save(h *docHistory) error {
	fx.t.Helper()
	v := h.next
	h.next++
	h.ops = append(h.ops, opRecord{after: docState{Exists: true, V: v}})
	var rev string
	err := fx.call("save "+h.id, func() error {
		base, err := fx.base(h)
		if err != nil {
			return err
		}
		res, err := fx.db.SaveJSON(h.id, docBody(h.id, v), base)
		rev = res.Rev
		return err
	})
	fx.settle(h, err, rev)
	return err
}

// remove deletes h's document on its current revision and records the
// outcome in h.
func (fx *faultServer) remove(h *docHistory) error {
	fx.t.Helper()
	h.ops = append(h.ops, opRecord{after: docState{}})
	err := fx.call("delete "+h.id, func() error {
		base, err := fx.base(h)
		if err != nil {
			return err
		}
		_, err = fx.db.DeleteDoc(h.id, base)
		return err
	})
	fx.settle(h, err, "")
	return err
}

// settle records the outcome of h's last operation; rev is the revision
// it left ("" after a delete).
func (fx *faultServer) settle(h *docHistory, err error, rev string) {
	h.ops[len(h.ops)-1].acked = err == nil
	if err != nil {
		delete(fx.revs, h.id)
		return
	}
	fx.revs[h.id] = rev
}

// checkReadable reads every document through dbcore. Each must read (or
// read as absent) in one of its allowed states: never a lost acknowledged
// write, never content nobody wrote. A read must not fail, not even while
// the database is being reopened. It returns how many documents read as
// allowed.
func (fx *faultServer) checkReadable(when string, docs []*docHistory) (ok int) {
	fx.t.Helper()
	for _, h := range docs {
		var got docState
		err := fx.call("read "+h.id, func() error {
			d, err := fx.db.Get(h.id)
			if errors.Is(err, dbcore.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			v, err := parseDoc(h.id, d.Body, false)
			got = docState{Exists: true, V: v}
			return err
		})
		if err != nil {
			fx.t.Errorf("%s: reading %s failed with %v: want its content", when, h.id, err)
			continue
		}
		if _, err := h.check(got); err != nil {
			fx.t.Errorf("%s: %v", when, err)
			continue
		}
		ok++
	}
	return ok
}

// isDocumentError reports whether err is one of dbcore's answers about a
// document or request rather than about the storage: a storage failure
// must never be reported as one of these.
func isDocumentError(err error) bool {
	for _, s := range []error{dbcore.ErrNotFound, dbcore.ErrConflict, dbcore.ErrInvalidDoc, dbcore.ErrDBNotFound,
		dbcore.ErrTooLarge, dbcore.ErrInvalidArgument} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// awaitWrites creates fresh documents, one attempt every
// faultRetryInterval, until one is acknowledged or faultRecoverTimeout
// passes, and returns how many attempts failed and how long it took. Every
// attempt is recorded in docs, so the final check also covers those whose
// failure was not the whole story. Failures must be storage errors.
func (fx *faultServer) awaitWrites(docs *[]*docHistory, prefix string) (failed int, took time.Duration, last error) {
	fx.t.Helper()
	began := time.Now()
	for {
		h := &docHistory{id: fmt.Sprintf("%s%d", prefix, failed), next: 1}
		*docs = append(*docs, h)
		fx.revs[h.id] = ""
		err := fx.save(h)
		if err == nil {
			return failed, time.Since(began), nil
		}
		if isDocumentError(err) {
			fx.t.Errorf("a create failed with %v: a storage failure must not look like a document error", err)
		}
		failed++
		if time.Since(began) > faultRecoverTimeout {
			return failed, time.Since(began), err
		}
		time.Sleep(faultRetryInterval)
	}
}

func storageFault(t *testing.T, engName string, kind faultKind) faultOutcome {
	eng := engineByName(t, engName)
	faults := &faultSet{}
	fx := openFaultServer(t, t.TempDir(), faults)
	if err := fx.srv.CreateDB("f", engName); err != nil {
		t.Fatal(err)
	}
	fx.openDB("f")

	var docs []*docHistory
	for i := range faultDocs {
		h := &docHistory{id: fmt.Sprintf("doc%d", i), next: 1}
		docs = append(docs, h)
		if err := fx.save(h); err != nil {
			t.Fatalf("save before the fault: %v", err)
		}
	}
	fresh := &docHistory{id: "fresh", next: 1}
	docs = append(docs, fresh)
	fx.revs[fresh.id] = ""

	// Every revision is known, so each write reaches the updater (and the
	// disk) instead of failing at a read.
	var out faultOutcome
	faults.arm(kind)
	fx.slowest = 0
	armedOps := []struct {
		what string
		op   func() error
	}{
		{"create", func() error { return fx.save(fresh) }},
		{"update", func() error { return fx.save(docs[0]) }},
		{"delete", func() error { return fx.remove(docs[1]) }},
		{"second update", func() error { return fx.save(docs[2]) }},
	}
	for _, o := range armedOps {
		err := o.op()
		if faults.armed() == noFault {
			break // a call blocked and cleared the fault; call reported it
		}
		if err == nil {
			t.Errorf("%s succeeded while every %s fails: a write reported durable that cannot be", o.what, kind)
			continue
		}
		out.failed++
		if out.firstErr == "" {
			out.firstErr = err.Error()
		}
		if isDocumentError(err) {
			t.Errorf("%s under %s failed with %v: a storage failure must not look like a document error", o.what, kind, err)
		}
	}
	out.readable = "not tried: a write blocked until the fault was cleared"
	if faults.armed() != noFault {
		ok := fx.checkReadable("while the fault lasts", docs)
		out.readable = fmt.Sprintf("%d of %d documents read as allowed", ok, len(docs))
	}
	out.slowest = fx.slowest
	out.hits = faults.hits.Load()
	if out.hits == 0 {
		t.Errorf("the %s fault never triggered: the seam is not in the write path", kind)
	}

	faults.clear()
	failed, took, err := fx.awaitWrites(&docs, "after")
	switch {
	case err != nil:
		t.Errorf("after the %s fault cleared, writes still failed after %d attempts in %v: %v", kind, failed, took.Round(time.Millisecond), err)
		out.afterClear = fmt.Sprintf("writes still fail after %v", took.Round(time.Millisecond))
	case failed == 0:
		out.afterClear = "the first write works"
	default:
		out.afterClear = fmt.Sprintf("writes work after %d failed attempts (%v)", failed, took.Round(time.Millisecond))
	}
	if err == nil {
		fx.checkReadable("once writes work again", docs)
		for _, h := range docs[:3] {
			if err := fx.save(h); err != nil {
				t.Errorf("update after the fault cleared: %v", err)
			}
		}
		if err := fx.remove(docs[4]); err != nil {
			t.Errorf("delete after the fault cleared: %v", err)
		}
		if err := fx.save(fresh); err != nil {
			t.Errorf("create after the fault cleared: %v", err)
		}
	}
	fx.close()

	if _, lost, _ := verifyDataDir(t, fx.dir, "f", eng, docs); lost > 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
	return out
}

// verifyDataDir checks database name in dataDir with nothing serving it:
// the engine's Check and counters (checkStored), then every document
// against its model through a read-only dbcore server (verifyRecovered,
// which settles the model). It returns the engine's counts, how many
// acknowledged operations were lost and how many unacknowledged ones
// landed.
func verifyDataDir(t *testing.T, dataDir, name string, eng engines.Engine, docs []*docHistory) (counts storedCounts, lost, inFlight int) {
	t.Helper()
	counts, err := checkStored(dataDir, name, eng)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := readStored(dataDir, name)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(stored)) != counts.Live {
		t.Errorf("dbcore lists %d live documents, the engine counts %d", len(stored), counts.Live)
	}
	lost, inFlight = verifyRecovered(t, stored, docs)
	return counts, lost, inFlight
}

// TestTransientStorageFault fails exactly one write or fsync below each
// engine, during a save. That save must fail; dbcore then reopens the
// database from disk (the engine may hold writes that are visible but not
// durable), so every read must keep working and the next writes must work
// with no reopen by the caller. Afterwards nothing acknowledged is lost and
// the engine's Check passes.
func TestTransientStorageFault(t *testing.T) {
	for _, engName := range []string{"couch", "pebble"} {
		for _, kind := range []faultKind{failSync, failWrite, shortWrite} {
			t.Run(engName+"/"+strings.ReplaceAll(kind.String(), " ", "_"), func(t *testing.T) {
				transientFault(t, engName, kind)
			})
		}
	}
}

func transientFault(t *testing.T, engName string, kind faultKind) {
	eng := engineByName(t, engName)
	faults := &faultSet{}
	fx := openFaultServer(t, t.TempDir(), faults)
	if err := fx.srv.CreateDB("f", engName); err != nil {
		t.Fatal(err)
	}
	fx.openDB("f")
	var docs []*docHistory
	for i := range faultDocs {
		h := &docHistory{id: fmt.Sprintf("doc%d", i), next: 1}
		docs = append(docs, h)
		if err := fx.save(h); err != nil {
			t.Fatalf("save before the fault: %v", err)
		}
	}

	faults.armOnce(kind)
	if err := fx.save(docs[0]); err == nil {
		t.Errorf("a save whose %s failed reported success", kind)
	} else {
		t.Logf("the save that met the %s: %v", kind, err)
	}
	if faults.hits.Load() != 1 {
		t.Fatalf("the one-shot %s fault failed %d operations; want 1", kind, faults.hits.Load())
	}
	fx.checkReadable("after one failed save", docs)
	if d, err := fx.db.Get(docs[0].id); err == nil {
		if v, _ := parseDoc(docs[0].id, d.Body, false); v == docs[0].next-1 {
			// Written but not known durable: the reopened engine found it.
			t.Logf("%s: the save that failed with a %s is visible after the database was reopened: a storage error means the outcome is unknown", engName, kind)
		}
	}
	for _, h := range docs[:3] {
		if err := fx.save(h); err != nil {
			t.Errorf("save after a single %s: %v", kind, err)
		}
	}
	if err := fx.remove(docs[3]); err != nil {
		t.Errorf("delete after a single %s: %v", kind, err)
	}
	fx.checkReadable("after recovery", docs)
	fx.close()
	if _, lost, _ := verifyDataDir(t, fx.dir, "f", eng, docs); lost > 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
}
