package memengine

import (
	"fmt"
	"sync"

	"github.com/couchfs/couchfs/engines"
)

// DB is an open in-memory database. Getters, reads and folds are safe on any
// goroutine; writes, setters, Commit and compaction calls belong to the
// updater goroutine, as the engines package documents.
type DB struct {
	path  string
	store *store

	mu         sync.RWMutex
	working    *state
	pending    []func(*state) // redo log of writes since the last Commit
	closed     bool
	compaction *compaction
}

var (
	_ engines.DB                 = (*DB)(nil)
	_ engines.Compacter          = (*DB)(nil)
	_ engines.AttachmentStreamer = (*DB)(nil)
	_ engines.Checker            = (*DB)(nil)
)

func openStore(path string, st *store) *DB {
	st.mu.Lock()
	defer st.mu.Unlock()
	return &DB{path: path, store: st, working: st.committed.clone()}
}

// UpdateSeq returns the highest update sequence written. Any goroutine.
func (db *DB) UpdateSeq() uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.working.updateSeq
}

// PurgeSeq returns the highest purge sequence written. Any goroutine.
func (db *DB) PurgeSeq() uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.working.purgeSeq
}

// DocCount returns the number of documents whose winner is live. Any
// goroutine.
func (db *DB) DocCount() uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.working.docCount
}

// DelDocCount returns the number of documents whose winner is deleted. Any
// goroutine.
func (db *DB) DelDocCount() uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.working.delCount
}

// RevsLimit returns the stored revs limit, 1000 by default. Any goroutine.
func (db *DB) RevsLimit() uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.working.revsLimit
}

// PurgeInfosLimit returns the stored purge infos limit, 1000 by default. Any
// goroutine.
func (db *DB) PurgeInfosLimit() uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.working.purgeInfosLimit
}

// Security returns a copy of the security object, "{}" by default. Any
// goroutine.
func (db *DB) Security() []byte {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return append([]byte(nil), db.working.security...)
}

// UUID returns the database UUID fixed at Create. Any goroutine.
func (db *DB) UUID() string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.working.uuid
}

// SizeInfo reports the bytes held for bodies and attachments as File, and
// the sums of the doc infos' ActiveSize and ExternalSize. Any goroutine.
func (db *DB) SizeInfo() engines.SizeInfo {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s := db.working
	return engines.SizeInfo{File: s.stored, Active: s.active, External: s.external}
}

// SetRevsLimit stores n and commits. Updater only.
func (db *DB) SetRevsLimit(n uint64) error {
	return db.set(func(s *state) { s.revsLimit = n })
}

// SetPurgeInfosLimit stores n and commits. Updater only.
func (db *DB) SetPurgeInfosLimit(n uint64) error {
	return db.set(func(s *state) { s.purgeInfosLimit = n })
}

// SetSecurity stores a copy of obj and commits. Updater only.
func (db *DB) SetSecurity(obj []byte) error {
	obj = append([]byte(nil), obj...)
	return db.set(func(s *state) { s.security = obj })
}

// set applies a setting and commits it with everything pending, which makes
// it durable on return as the contract asks.
func (db *DB) set(op func(*state)) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	op(db.working)
	db.pending = append(db.pending, op)
	db.commitLocked()
	return nil
}

// Commit replays the writes made since the last Commit onto the registry's
// committed state. Updater only.
func (db *DB) Commit() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	db.commitLocked()
	return nil
}

func (db *DB) commitLocked() {
	db.store.mu.Lock()
	defer db.store.mu.Unlock()
	for _, op := range db.pending {
		op(db.store.committed)
	}
	db.pending = nil
}

// Close drops uncommitted writes and cancels a running compaction. Later
// calls fail with ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	db.closed = true
	db.pending = nil
	db.compaction = nil
	return nil
}
