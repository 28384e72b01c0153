package memengine

import (
	"fmt"

	"github.com/couchfs/couchfs/engines"
)

// WriteDocBody stores a copy of body under a new pointer. Its active size is
// its length. Updater only.
func (db *DB) WriteDocBody(body []byte) (uint64, uint64, error) {
	b := append([]byte(nil), body...)
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return 0, 0, fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	ptr := db.working.nextPtr
	db.working.putBody(ptr, b)
	db.pending = append(db.pending, func(s *state) { s.putBody(ptr, b) })
	return ptr, uint64(len(b)), nil
}

// WriteDocInfos validates the whole write against the working state and
// applies it only if every part is valid, so a contract violation
// (ErrInvalidWrite) leaves nothing applied. Updater only.
func (db *DB) WriteDocInfos(pairs []engines.DocInfoPair, locals []engines.LocalDoc, purges []engines.PurgeInfo) error {
	w, err := copyWrite(pairs, locals, purges)
	if err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	if err := db.working.validate(w); err != nil {
		return err
	}
	db.working.apply(w)
	db.pending = append(db.pending, func(s *state) { s.apply(w) })
	return nil
}

// copyWrite deep-copies the caller's arguments so that what is stored shares
// nothing with them.
func copyWrite(pairs []engines.DocInfoPair, locals []engines.LocalDoc, purges []engines.PurgeInfo) (*write, error) {
	w := &write{
		pairs:  make([]engines.DocInfoPair, len(pairs)),
		locals: make([]engines.LocalDoc, len(locals)),
		purges: make([]engines.PurgeInfo, len(purges)),
	}
	var err error
	for i, p := range pairs {
		if w.pairs[i].Old, err = copyDocInfo(p.Old); err != nil {
			return nil, err
		}
		if w.pairs[i].New, err = copyDocInfo(p.New); err != nil {
			return nil, err
		}
	}
	for i, ld := range locals {
		w.locals[i] = ld
		w.locals[i].Body = append([]byte(nil), ld.Body...)
	}
	for i, pi := range purges {
		w.purges[i] = pi
		w.purges[i].Revs = append([]engines.Rev(nil), pi.Revs...)
	}
	return w, nil
}

// SetUpdateSeq raises UpdateSeq to seq; it becomes durable with the next
// Commit or setter. Updater only.
func (db *DB) SetUpdateSeq(seq uint64) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	op := func(s *state) { s.updateSeq = max(s.updateSeq, seq) }
	op(db.working)
	db.pending = append(db.pending, op)
	return nil
}
