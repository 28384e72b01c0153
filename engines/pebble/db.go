package pebble

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/couchfs/couchfs/engines"
)

// db is one open database.
//
// Visibility and durability: WriteDocInfos builds one Pebble batch and
// leaves it deferred. Commit (or a setter) adds the state record and commits
// it synced, so a bulk write costs one WAL sync as in raw Pebble. Any read
// before that first applies the deferred batch unsynced, so every
// goroutine sees the write at once and atomically; the next synced batch
// then makes it durable with everything before it. Writes applied but not
// yet committed are recorded in an undo log that Close applies, so Close
// discards them as the contract says; a crash may keep or lose them, each
// WriteDocInfos whole.
type db struct {
	eng  *engine
	fs   vfs.FS
	path string

	cur    atomic.Pointer[handle] // nil once closed
	st     atomic.Pointer[state]  // what getters report
	closed atomic.Bool
	failed atomic.Pointer[error] // the commit failure that made the db read-only

	handles sync.WaitGroup // open generations, current and retired
	errs    errList

	// Updater only.
	gen          uint64
	committed    *state // the state as of the last synced batch
	stateLog     stateLog
	nextPtr      uint64
	lastInfosPtr uint64 // nextPtr at the end of the last WriteDocInfos
	dirty        bool   // something since the last synced batch
	undo         []undoEntry
	compaction   *compaction
	ungrant      func() // takes back the shared cache's memtable grant

	pending     pendingBodies
	lastWritten engines.LastWritten
	encBuf      []byte // WriteDocInfos' doc-info encodings, reused

	// deferred is the batch of the last WriteDocInfos while no one has
	// applied it yet; applyMu serializes applying it.
	deferred atomic.Pointer[ownedBatch]
	applyMu  sync.Mutex
	// spare is the last committed batch, emptied, for newBatch to reuse.
	spare atomic.Pointer[ownedBatch]
}

// undoEntry restores one key to its value before an uncommitted write.
type undoEntry struct {
	key     []byte
	value   []byte
	old     *engines.DocInfo // a doc info whose encoding is the value, when value is nil
	changes bool             // the value is old's changes entry (changesInfo)
	present bool
}

// prior returns the value u restores.
func (u *undoEntry) prior() []byte {
	if u.value == nil && u.old != nil {
		if u.changes {
			return changesEntry(u.old, nil)
		}
		return engines.AppendDocInfo(nil, u.old)
	}
	return u.value
}

var _ engines.DB = (*db)(nil)
var _ engines.Compacter = (*db)(nil)
var _ engines.Checker = (*db)(nil)

func newDB(e *engine, path string, gen uint64, pdb *pebble.DB, st *state, log stateLog) *db {
	d := &db{eng: e, fs: e.fs, path: path, gen: gen, committed: st, stateLog: log, nextPtr: st.NextPtr,
		lastInfosPtr: st.NextPtr, ungrant: e.grantMemTables()}
	d.pending.base = st.NextPtr
	d.st.Store(st)
	d.cur.Store(newHandle(pdb, genDir(e.fs, path, gen), e.fs, &d.handles, &d.errs))
	return d
}

// acquire returns the current generation with a reference the caller must
// release.
func (d *db) acquire() (*handle, error) {
	if err := d.applyDeferred(); err != nil {
		return nil, err
	}
	for {
		h := d.cur.Load()
		if h == nil {
			return nil, fmt.Errorf("pebble: %s: %w", d.path, engines.ErrClosed)
		}
		if h.tryRef() {
			return h, nil
		}
		// h was retired after the Load; its successor is already current.
	}
}

// writable reports why the updater may not write, if it may not.
func (d *db) writable() error {
	if d.closed.Load() {
		return fmt.Errorf("pebble: %s: %w", d.path, engines.ErrClosed)
	}
	if p := d.failed.Load(); p != nil {
		return fmt.Errorf("pebble: %s: %w (after: %w)", d.path, engines.ErrReadOnly, *p)
	}
	return nil
}

func (d *db) fail(err error) error {
	d.failed.CompareAndSwap(nil, &err)
	return fmt.Errorf("pebble: %s: %w", d.path, err)
}

// UpdateSeq implements engines.DB. Any goroutine.
func (d *db) UpdateSeq() uint64 { return d.st.Load().UpdateSeq }

// PurgeSeq implements engines.DB. Any goroutine.
func (d *db) PurgeSeq() uint64 { return d.st.Load().PurgeSeq }

// DocCount implements engines.DB. Any goroutine.
func (d *db) DocCount() uint64 { return d.st.Load().DocCount }

// DelDocCount implements engines.DB. Any goroutine.
func (d *db) DelDocCount() uint64 { return d.st.Load().DelDocCount }

// RevsLimit implements engines.DB. Any goroutine.
func (d *db) RevsLimit() uint64 { return d.st.Load().RevsLimit }

// PurgeInfosLimit implements engines.DB. Any goroutine.
func (d *db) PurgeInfosLimit() uint64 { return d.st.Load().PurgeInfosLimit }

// Security implements engines.DB: a copy of the stored object. Any goroutine.
func (d *db) Security() []byte { return append([]byte(nil), d.st.Load().Security...) }

// UUID implements engines.DB. Any goroutine.
func (d *db) UUID() string { return d.st.Load().UUID }

// SizeInfo implements engines.DB. File is the size of the whole database
// directory, including generations waiting to be removed; Active and
// External are the sums of the live documents' sizes. Any goroutine.
func (d *db) SizeInfo() engines.SizeInfo {
	st := d.st.Load()
	return engines.SizeInfo{File: dirSize(d.fs, d.path), Active: st.ActiveSize, External: st.ExternalSize}
}

func dirSize(fs vfs.FS, dir string) uint64 {
	names, err := fs.List(dir)
	if err != nil {
		return 0
	}
	var n uint64
	for _, name := range names {
		p := fs.PathJoin(dir, name)
		fi, err := fs.Stat(p)
		if err != nil {
			continue // removed meanwhile
		}
		if fi.IsDir() {
			n += dirSize(fs, p)
		} else {
			n += uint64(fi.Size())
		}
	}
	return n
}

// SetRevsLimit implements engines.DB: durable on return. Updater only.
func (d *db) SetRevsLimit(n uint64) error {
	return d.setState(func(s *state) { s.RevsLimit = n })
}

// SetPurgeInfosLimit implements engines.DB: durable on return. Updater only.
func (d *db) SetPurgeInfosLimit(n uint64) error {
	return d.setState(func(s *state) { s.PurgeInfosLimit = n })
}

// SetSecurity implements engines.DB: stores a copy of obj, durable on
// return. Updater only.
func (d *db) SetSecurity(obj []byte) error {
	obj = append([]byte(nil), obj...)
	return d.setState(func(s *state) { s.Security = obj })
}

func (d *db) setState(change func(*state)) error {
	if err := d.writable(); err != nil {
		return err
	}
	next := d.st.Load().clone()
	change(next)
	return d.sync(next)
}

// Close implements engines.DB: writes applied since the last Commit are
// undone, a running compaction is cancelled. Called once, after every
// other call has returned.
func (d *db) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	var errs []error
	if d.compaction != nil {
		errs = append(errs, d.compaction.cancel())
	}
	h := d.cur.Load()
	if ob := d.deferred.Swap(nil); ob != nil {
		_ = ob.b.Close() // never applied: nothing to undo
	}
	if ob := d.spare.Swap(nil); ob != nil {
		_ = ob.b.Close()
	}
	if len(d.undo) > 0 && d.failed.Load() == nil {
		errs = append(errs, d.rollback(h.pdb))
	}
	d.cur.Store(nil)
	h.release()
	d.handles.Wait()
	d.ungrant()
	errs = append(errs, d.errs.take()...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pebble: close %s: %w", d.path, err)
	}
	return nil
}

// rollback restores every key written since the last synced batch. Entries
// are applied newest first so each key ends at its oldest recorded value.
func (d *db) rollback(pdb *pebble.DB) error {
	b := pdb.NewBatch()
	defer b.Close()
	for i := len(d.undo) - 1; i >= 0; i-- {
		u := d.undo[i]
		if u.present {
			_ = b.Set(u.key, u.prior(), nil)
		} else {
			_ = b.Delete(u.key, nil)
		}
	}
	d.stateLog.put(b, d.committed)
	d.undo = nil
	return commitBatch(b, pebble.NoSync)
}
