package couchfile

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/couchfs/couchfs/engines"
)

// DB is an open .couch database. Getters, reads and folds may run on any
// goroutine: they load the current snapshot, an immutable set of tree roots
// and header fields, and read nodes through the append-only file, so they
// never wait for the updater. Writes, setters, Commit and compaction calls
// belong to the updater goroutine.
type DB struct {
	path string
	opts *Options

	// snap is what readers see: the last commit or a later write.
	snap   atomic.Pointer[snapshot]
	closed atomic.Bool

	// retired keeps the file a compaction replaced open for a grace period,
	// by generation, so a reader that got a doc info just before the swap
	// still reads its bodies.
	retired struct {
		sync.Mutex
		stores map[uint64]retiredStore
	}

	// Updater-only.
	st         *store
	committed  *snapshot   // the state the last durable header holds
	failed     error       // set by a failed write or commit; refuses writes until reopened
	compaction *compaction // the running compaction, if any
	arena      []byte      // validateDocs's encoding buffer
	// lastWritten lets validateDocs skip comparing an Old it stored itself.
	lastWritten engines.LastWritten
	// rollbacks counts failed writes rolled back: a read that fails while
	// it changes may have walked the discarded state (see fail).
	rollbacks atomic.Uint64
}

var (
	_ engines.DB                 = (*DB)(nil)
	_ engines.Compacter          = (*DB)(nil)
	_ engines.AttachmentStreamer = (*DB)(nil)
	_ engines.Checker            = (*DB)(nil)
)

// snapshot is one state of the database. It is never modified once
// published; a write builds a new one.
type snapshot struct {
	st       *store
	h        header // dataStart and regionCRC are unused here
	security []byte
}

const (
	defaultRevsLimit       = 1000
	defaultPurgeInfosLimit = 1000
)

var defaultSecurity = []byte("{}")

func (db *DB) errorf(format string, args ...any) error {
	return fmt.Errorf("couchfile: %s: "+format, append([]any{db.path}, args...)...)
}

// acquire returns the current snapshot with a reference on its file, which
// the caller releases. Any goroutine.
func (db *DB) acquire() (*snapshot, error) {
	for {
		if db.closed.Load() {
			return nil, db.errorf("%w", engines.ErrClosed)
		}
		s := db.snap.Load()
		if s.st.tryAcquire() {
			return s, nil
		}
		// The store closed under us: a compaction swapped in a new one,
		// which the next Load returns.
	}
}

// retiredGrace is how long a replaced file stays readable after a
// compaction swap.
const retiredGrace = 5 * time.Second

type retiredStore struct {
	st    *store
	timer *time.Timer
}

// retire keeps st readable for retiredGrace under its generation. Updater
// only.
func (db *DB) retire(st *store) {
	if !st.tryAcquire() {
		return
	}
	db.retired.Lock()
	defer db.retired.Unlock()
	if db.retired.stores == nil {
		db.retired.stores = map[uint64]retiredStore{}
	}
	if old, ok := db.retired.stores[st.gen]; ok && old.timer.Stop() {
		old.st.release()
	}
	db.retired.stores[st.gen] = retiredStore{st, time.AfterFunc(retiredGrace, func() { db.unretire(st) })}
}

func (db *DB) unretire(st *store) {
	db.retired.Lock()
	if r, ok := db.retired.stores[st.gen]; ok && r.st == st {
		delete(db.retired.stores, st.gen)
	}
	db.retired.Unlock()
	st.release()
}

// retiredStore returns the replaced file of generation gen with a reader
// reference, or nil if it is gone. Any goroutine.
func (db *DB) retiredStore(gen uint64) *store {
	db.retired.Lock()
	defer db.retired.Unlock()
	if r, ok := db.retired.stores[gen]; ok && r.st.tryAcquire() {
		return r.st
	}
	return nil
}

// UpdateSeq returns the highest update sequence. Any goroutine.
func (db *DB) UpdateSeq() uint64 { return db.snap.Load().h.updateSeq }

// PurgeSeq returns the highest purge sequence. Any goroutine.
func (db *DB) PurgeSeq() uint64 { return db.snap.Load().h.purgeSeq }

// DocCount returns how many documents have a live winner, from the id
// tree's reduction. Any goroutine.
func (db *DB) DocCount() uint64 {
	r := db.snap.Load().h.roots[treeID].red
	return r.count - r.del
}

// DelDocCount returns how many documents have a deleted winner. Any
// goroutine.
func (db *DB) DelDocCount() uint64 { return db.snap.Load().h.roots[treeID].red.del }

// RevsLimit returns the stored revs limit, 1000 by default. Any goroutine.
func (db *DB) RevsLimit() uint64 { return db.snap.Load().h.revsLimit }

// PurgeInfosLimit returns the stored purge infos limit, 1000 by default.
// Any goroutine.
func (db *DB) PurgeInfosLimit() uint64 { return db.snap.Load().h.purgeInfosLimit }

// Security returns a copy of the security object, "{}" by default. Any
// goroutine.
func (db *DB) Security() []byte { return append([]byte(nil), db.snap.Load().security...) }

// UUID returns the UUID fixed at Create. Any goroutine.
func (db *DB) UUID() string { return db.snap.Load().h.uuid }

// SizeInfo reports the file size up to the append position (the zero
// tail kept past it is reserved space, not garbage: see reserve.go), the
// active bytes (the documents' ActiveSize, the attachments' stored bytes
// and every tree's nodes: what a compaction keeps) and the documents'
// ExternalSize. Any goroutine.
func (db *DB) SizeInfo() engines.SizeInfo {
	s := db.snap.Load()
	var trees uint64
	for _, r := range s.h.roots {
		trees += r.size
	}
	id := s.h.roots[treeID].red
	return engines.SizeInfo{
		File:     uint64(s.st.size.Load()),
		Active:   id.active + s.h.roots[treeAtt].red.active + trees,
		External: id.external,
	}
}

// writable reports why the updater may not write, if it may not.
func (db *DB) writable() error {
	if db.closed.Load() {
		return db.errorf("%w", engines.ErrClosed)
	}
	if db.failed != nil {
		return db.errorf("%w (after: %v)", engines.ErrReadOnly, db.failed)
	}
	return nil
}

// publish makes s what readers see.
func (db *DB) publish(s *snapshot) { db.snap.Store(s) }

// next returns a copy of the current snapshot for the updater to change
// and publish.
func (db *DB) next() *snapshot {
	c := *db.snap.Load()
	return &c
}

// fail puts the database into its read-only state after a write or commit
// error: the file is cut back to the last durable header and readers go
// back to that state, which is what a reopen would find. Updater only.
//
// The order matters to readers: the committed state is published first,
// then the rollback counted, then the file cut. A reader that walked the
// discarded state and failed finds the count changed, and its retry loads
// the committed snapshot; a reader that loads the count after the change
// already loads that snapshot (see readAgain).
func (db *DB) fail(err error) error {
	db.failed = err
	db.lastWritten.Reset()
	if c := db.compaction; c != nil {
		c.abort()
		db.compaction = nil
	}
	db.publish(db.committed)
	db.rollbacks.Add(1)
	if rbErr := db.st.rollback(); rbErr != nil {
		err = fmt.Errorf("%w (and %v)", err, rbErr)
	}
	return db.errorf("%w", err)
}

// rolledBack marks err, of a read that began when the rollback count was
// r0, as engines.ErrRolledBack if a failed write was rolled back meanwhile.
func (db *DB) rolledBack(r0 uint64, err error) error {
	if err != nil && db.rollbacks.Load() != r0 && !errors.Is(err, engines.ErrRolledBack) {
		return fmt.Errorf("%w: %w", engines.ErrRolledBack, err)
	}
	return err
}

// readAgain runs a read that returns its whole result at once, and runs it
// once more if it failed while a failed write was rolled back: the second
// run reads the committed state.
func readAgain[T any](db *DB, read func() (T, error)) (T, error) {
	r0 := db.rollbacks.Load()
	v, err := read()
	if err == nil || db.rollbacks.Load() == r0 {
		return v, err
	}
	r0 = db.rollbacks.Load()
	v, err = read()
	return v, db.rolledBack(r0, err)
}

// SetRevsLimit stores n and commits. Updater only.
func (db *DB) SetRevsLimit(n uint64) error {
	return db.set(func(s *snapshot) error { s.h.revsLimit = n; return nil })
}

// SetPurgeInfosLimit stores n and commits. Updater only.
func (db *DB) SetPurgeInfosLimit(n uint64) error {
	return db.set(func(s *snapshot) error { s.h.purgeInfosLimit = n; return nil })
}

// SetSecurity stores a copy of obj as its own chunk, which the header
// points to, and commits. Updater only.
func (db *DB) SetSecurity(obj []byte) error {
	return db.set(func(s *snapshot) error {
		ptr, _, err := db.st.appendData(kindSecurity, obj, true)
		if err != nil {
			return err
		}
		s.h.securityPtr, s.security = ptr, append([]byte(nil), obj...)
		return nil
	})
}

// set applies a setting and commits it with everything pending, which
// makes it durable on return as the contract asks.
func (db *DB) set(fn func(*snapshot) error) error {
	if err := db.writable(); err != nil {
		return err
	}
	s := db.next()
	if err := fn(s); err != nil {
		return db.fail(err)
	}
	db.publish(s)
	return db.Commit()
}

// Commit makes the current state durable: one header and one fdatasync,
// two if more than 16 MiB were written since the last commit
// (docs/on-disk-format.md says why one is enough). It does nothing if
// nothing changed. After a failure the database refuses writes with
// ErrReadOnly until reopened, and reads see the last durable state.
// Updater only.
func (db *DB) Commit() error {
	if err := db.writable(); err != nil {
		return err
	}
	s := db.snap.Load()
	if s == db.committed {
		return nil
	}
	h := s.h
	if err := db.st.commit(&h); err != nil {
		return db.fail(err)
	}
	db.committed = s
	return nil
}

// Close stops a running compaction and releases the file; a reader still
// in flight keeps it open until it is done. Uncommitted writes are
// discarded. Close is called once, after every other call has returned.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return db.errorf("%w", engines.ErrClosed)
	}
	if c := db.compaction; c != nil {
		c.abort()
		db.compaction = nil
	}
	_ = db.st.land() // uncommitted, so its outcome does not matter; the file must not close under it
	db.retired.Lock()
	for gen, r := range db.retired.stores {
		if r.timer.Stop() {
			r.st.release()
		}
		delete(db.retired.stores, gen)
	}
	db.retired.Unlock()
	if err := db.st.release(); err != nil {
		return db.errorf("close: %w", err)
	}
	return nil
}
