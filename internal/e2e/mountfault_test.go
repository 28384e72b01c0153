package e2e

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore"
)

// mountCallTimeout bounds one save, unlink or read through a mount under
// a storage fault. dbcore answers a writer within about two seconds
// (docs/dbcore.md, "Storage failures"); the rest is slack for a loaded
// 2-core machine.
const mountCallTimeout = 10 * time.Second

// TestStorageFaultsMounted repeats lasting storage faults of
// TestStorageFaults where applications meet them: through an in-process
// mount whose engines fail below their file seam. While the fault lasts
// every save (open, write, close) and unlink must fail promptly, with
// ENOSPC on a full disk and EIO otherwise, and every document must read
// through the mount in an allowed state: an acknowledged one with its
// content (dbcore serves the database read-only meanwhile). Once the fault
// clears, saving a new document through the mount must work again without
// a remount within faultRecoverTimeout, and after that every document must
// read back, and updates and deletes must work. After the unmount the
// database passes Check and holds every acknowledged write.
func TestStorageFaultsMounted(t *testing.T) {
	for _, engName := range []string{"couch", "pebble"} {
		for _, kind := range []faultKind{failSync, diskFull} {
			t.Run(engName+"/"+strings.ReplaceAll(kind.String(), " ", "_"), func(t *testing.T) {
				out := mountedFault(t, engName, kind)
				t.Logf("%s under %s through the mount: writes failed with %v; reads during the fault: %s; after the fault cleared: %s",
					engName, kind, out.errnos, out.readable, out.afterClear)
			})
		}
	}
}

// mountedFaultOutcome is what one engine did under one fault through the
// mount, for the log and docs/reliability.md.
type mountedFaultOutcome struct {
	errnos     map[syscall.Errno]int
	readable   string
	afterClear string
}

// mountedFaultRun is one engine's fault episode through a mount; the test
// goroutine owns it.
type mountedFaultRun struct {
	t      *testing.T
	faults *faultSet
	dbDir  string
	docs   []*docHistory
}

// do runs op, a system call sequence on the mount, within
// mountCallTimeout. An op that blocks while the fault lasts fails the
// test: the fault is cleared to see whether it then returns, and if even
// that does not help the test stops (the cleanup detaches the mount).
func (r *mountedFaultRun) do(what string, op func() error) error {
	r.t.Helper()
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return err
	case <-time.After(mountCallTimeout):
	}
	armed := r.faults.armed()
	r.faults.clear()
	select {
	case err := <-done:
		r.t.Errorf("%s blocked for %v while the %v fault lasted and returned (%v) only once it was cleared: an application must get an error, not wait for the disk",
			what, mountCallTimeout, armed, err)
		return err
	case <-time.After(mountCallTimeout):
	}
	r.t.Fatalf("%s did not return within %v, nor within %v after the %v fault was cleared", what, mountCallTimeout, mountCallTimeout, armed)
	return nil
}

// save writes the next version of h's document like `cat > doc.json` and
// records the outcome.
func (r *mountedFaultRun) save(h *docHistory) error {
	r.t.Helper()
	v := h.next
	h.next++
	h.ops = append(h.ops, opRecord{after: docState{Exists: true, V: v}})
	err := r.do("save "+h.id, func() error { return saveDoc(r.dbDir, h.id, docBody(h.id, v)) })
	h.ops[len(h.ops)-1].acked = err == nil
	return err
}

// remove unlinks h's document and records the outcome.
func (r *mountedFaultRun) remove(h *docHistory) error {
	r.t.Helper()
	h.ops = append(h.ops, opRecord{after: docState{}})
	err := r.do("unlink "+h.id, func() error { return unlinkDoc(r.dbDir, h.id) })
	h.ops[len(h.ops)-1].acked = err == nil
	return err
}

// checkReadable reads every document through the mount: each must read,
// in an allowed state (an acknowledged write with its content). A name
// whose create failed reads empty: it stays in the mount, unsaved
// (docs/semantics.md §4, "Creating"), which counts as absent. It returns
// how many documents read as allowed.
func (r *mountedFaultRun) checkReadable(when string) (ok int) {
	r.t.Helper()
	for _, h := range r.docs {
		var got docState
		err := r.do("read "+h.id, func() error {
			var err error
			got, err = readMountState(r.dbDir, h.id)
			return err
		})
		if err != nil {
			r.t.Errorf("%s: reading %s through the mount failed with %v: want its content", when, h.id, err)
			continue
		}
		if _, err := h.check(got); err != nil {
			r.t.Errorf("%s: through the mount: %v", when, err)
			continue
		}
		ok++
	}
	return ok
}

// checkMountShowsStore requires every document to read through the mount
// exactly as dbcore, below the mount, holds it: once the database works
// again, what a failed save left behind must not hide what is stored.
func (r *mountedFaultRun) checkMountShowsStore(srv *dbcore.Server, dbName string) {
	r.t.Helper()
	db, err := srv.OpenDB(dbName)
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	for _, h := range r.docs {
		var stored docState
		d, err := db.Get(h.id)
		switch {
		case errors.Is(err, dbcore.ErrNotFound):
		case err != nil:
			r.t.Errorf("dbcore Get(%q) once the database works again: %v", h.id, err)
			continue
		default:
			v, err := parseDoc(h.id, d.Body, false)
			if err != nil {
				r.t.Error(err)
				continue
			}
			stored = docState{Exists: true, V: v}
		}
		got, err := readMountState(r.dbDir, h.id)
		if err != nil || got != stored {
			r.t.Errorf("once the database works again, %s reads %v through the mount (err %v) but dbcore holds %v", h.id, got, err, stored)
		}
	}
}

// readMountState reads a document through the mount; an empty file (a
// name created in the mount and never saved) reads as absent.
func readMountState(dbDir, id string) (docState, error) {
	data, err := os.ReadFile(docPath(dbDir, id))
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(data) == 0) {
		return docState{}, nil
	}
	if err != nil {
		return docState{}, err
	}
	v, err := parseDoc(id, data, true)
	if err != nil {
		return docState{}, err
	}
	return docState{Exists: true, V: v}, nil
}

// storageErrno returns the errno of a failed system call and requires it
// to be the one the fault produces (docs/semantics.md §12): ENOSPC on a
// full disk, EIO for any other storage failure, also while dbcore reopens
// the database. A save fails at close(): its open() only reads.
func (r *mountedFaultRun) storageErrno(what string, kind faultKind, err error) syscall.Errno {
	r.t.Helper()
	var errno syscall.Errno
	errors.As(err, &errno)
	want := syscall.EIO
	if kind == diskFull {
		want = syscall.ENOSPC
	}
	if errno != want || (saveStep(err) != "" && saveStep(err) != "close") {
		r.t.Errorf("%s under %s failed with %v: want %v (at close() for a save)", what, kind, err, want)
	}
	return errno
}

func mountedFault(t *testing.T, engName string, kind faultKind) mountedFaultOutcome {
	eng := engineByName(t, engName)
	faults := &faultSet{}
	m := mountEngines(t, faultyEngines(faults))
	r := &mountedFaultRun{t: t, faults: faults, dbDir: mkdirDB(t, m.mnt, "f", eng.Ext())}
	for i := range faultDocs {
		h := &docHistory{id: fmt.Sprintf("doc%d", i), next: 1}
		r.docs = append(r.docs, h)
		if err := r.save(h); err != nil {
			t.Fatalf("save before the fault: %v", err)
		}
	}
	fresh := &docHistory{id: "fresh", next: 1}
	r.docs = append(r.docs, fresh)

	out := mountedFaultOutcome{errnos: map[syscall.Errno]int{}}
	faults.arm(kind)
	armedOps := []struct {
		what string
		op   func() error
	}{
		{"create", func() error { return r.save(fresh) }},
		{"update", func() error { return r.save(r.docs[0]) }},
		{"unlink", func() error { return r.remove(r.docs[1]) }},
		{"second update", func() error { return r.save(r.docs[2]) }},
	}
	for _, o := range armedOps {
		err := o.op()
		if faults.armed() == noFault {
			break // an op blocked and cleared the fault; do reported it
		}
		if err == nil {
			t.Errorf("%s through the mount succeeded while every %s fails: a write reported durable that cannot be", o.what, kind)
			continue
		}
		out.errnos[r.storageErrno(o.what, kind, err)]++
	}
	out.readable = "not tried: a write blocked until the fault was cleared"
	if faults.armed() != noFault {
		ok := r.checkReadable("while the fault lasts")
		out.readable = fmt.Sprintf("%d of %d documents read as allowed", ok, len(r.docs))
	}
	if faults.hits.Load() == 0 {
		t.Errorf("the %s fault never triggered below the mount", kind)
	}

	faults.clear()
	began := time.Now()
	var err error
	for attempt := 0; ; attempt++ {
		h := &docHistory{id: fmt.Sprintf("after%d", attempt), next: 1}
		r.docs = append(r.docs, h)
		if err = r.save(h); err == nil {
			if attempt == 0 {
				out.afterClear = "the first save works"
			} else {
				out.afterClear = fmt.Sprintf("saves work after %d failed attempts (%v)", attempt, time.Since(began).Round(time.Millisecond))
			}
			break
		}
		r.storageErrno("a save after the fault cleared", kind, err)
		if time.Since(began) > faultRecoverTimeout {
			out.afterClear = fmt.Sprintf("saves still fail after %d attempts in %v (%v)", attempt+1, time.Since(began).Round(time.Millisecond), err)
			t.Errorf("after the %s fault cleared, saving a new document through the mount still fails after %d attempts in %v: %v",
				kind, attempt+1, time.Since(began).Round(time.Millisecond), err)
			// Go on with the other checks if a save that needs no lookup
			// (a document the mount already shows) brings it back.
			if err = r.save(r.docs[3]); err == nil {
				out.afterClear += "; an update of a document the mount already showed worked"
			} else {
				out.afterClear += fmt.Sprintf("; so does an update of a document the mount already showed (%v)", err)
			}
			break
		}
		time.Sleep(faultRetryInterval)
	}
	if err == nil {
		r.checkReadable("once saves work again")
		r.checkMountShowsStore(m.srv, "f")
		for _, h := range r.docs[:3] {
			if err := r.save(h); err != nil {
				t.Errorf("update after the fault cleared: %v", err)
			}
		}
		if err := r.remove(r.docs[4]); err != nil {
			t.Errorf("unlink after the fault cleared: %v", err)
		}
		if err := r.save(fresh); err != nil {
			t.Errorf("create after the fault cleared: %v", err)
		}
	}
	if err := m.stop(); err != nil {
		t.Errorf("unmount after the fault: %v", err)
	}
	if _, lost, _ := verifyDataDir(t, m.dataDir, "f", eng, r.docs); lost > 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
	return out
}

// TestTransientStorageFaultMounted fails exactly one write or fsync below
// each engine while a new document is created and another updated through
// the mount. Each of those saves fails with EIO, which means its outcome
// is unknown (docs/semantics.md §4): the save may have been stored. So, as
// the contract tells applications to, the test reads both documents again
// through the mount: they must read exactly as dbcore holds them, and a
// save on top of what was read must work, without a remount.
func TestTransientStorageFaultMounted(t *testing.T) {
	for _, engName := range []string{"couch", "pebble"} {
		for _, kind := range []faultKind{failSync, failWrite} {
			t.Run(engName+"/"+strings.ReplaceAll(kind.String(), " ", "_"), func(t *testing.T) {
				transientMounted(t, engName, kind)
			})
		}
	}
}

func transientMounted(t *testing.T, engName string, kind faultKind) {
	eng := engineByName(t, engName)
	faults := &faultSet{}
	m := mountEngines(t, faultyEngines(faults))
	r := &mountedFaultRun{t: t, faults: faults, dbDir: mkdirDB(t, m.mnt, "f", eng.Ext())}
	for i := range faultDocs {
		h := &docHistory{id: fmt.Sprintf("doc%d", i), next: 1}
		r.docs = append(r.docs, h)
		if err := r.save(h); err != nil {
			t.Fatalf("save before the fault: %v", err)
		}
	}
	fresh := &docHistory{id: "fresh", next: 1}
	r.docs = append(r.docs, fresh)
	for _, h := range []*docHistory{fresh, r.docs[0]} {
		faults.armOnce(kind)
		if err := r.save(h); err == nil {
			t.Errorf("a save of %s whose %s failed reported success", h.id, kind)
		} else {
			r.storageErrno("save "+h.id, kind, err)
		}
		if faults.hits.Load() == 0 {
			t.Fatalf("the one-shot %s fault never triggered below the mount", kind)
		}
		faults.hits.Store(0)
	}
	r.checkMountShowsStore(m.srv, "f")
	for _, h := range []*docHistory{fresh, r.docs[0], r.docs[1]} {
		if err := r.save(h); err != nil {
			t.Errorf("after a single %s, saving %s on top of what the mount shows: %v", kind, h.id, err)
		}
	}
	r.checkReadable("after recovery")
	if err := m.stop(); err != nil {
		t.Errorf("unmount: %v", err)
	}
	if _, lost, _ := verifyDataDir(t, m.dataDir, "f", eng, r.docs); lost > 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
}
