package couchfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/couchfs/couchfs/engines"
)

var _ engines.ReadOnlyOpener = (*Engine)(nil)

// errOpenedReadOnly is why a DB from OpenReadOnly refuses writes: every
// write method checks writable first, which reports it under ErrReadOnly.
var errOpenedReadOnly = errors.New("opened read-only")

// OpenReadOnly implements engines.ReadOnlyOpener: it opens the file
// O_RDONLY and finds the newest valid header the way Open does, but leaves
// the file exactly as it is: no compaction leftover is removed, no tail is
// cut and nothing is fsynced. The header it finds is the one a read-write
// Open would find, so the DB answers what a reopen would. It refuses every
// write, setter, Commit, WriteAttachment and StartCompaction with
// ErrReadOnly. Any goroutine.
func (e *Engine) OpenReadOnly(path string) (engines.DB, error) {
	f, err := e.opts.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("couchfile: open %s read-only: %w", path, engines.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("couchfile: open %s read-only: %w", path, err)
	}
	db, err := e.openFileReadOnly(f, path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("couchfile: open %s read-only: %w", path, err)
	}
	return db, nil
}

func (e *Engine) openFileReadOnly(f File, path string) (*DB, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h, _, end, err := findHeader(f, fi.Size())
	if err != nil {
		return nil, err
	}
	// The store ends at the header: bytes past it (a zero tail, a commit
	// that never completed, or what a read-write handle is appending right
	// now) are never read, since no pointer of this header reaches them.
	st := newStore(f, path, end, h.generation, &e.opts)
	sec := defaultSecurity
	if h.securityPtr != 0 {
		if sec, err = st.readChunk(h.securityPtr, kindSecurity, blockSize); err != nil {
			return nil, err
		}
	}
	db := newDB(path, &e.opts, st, h, sec)
	db.failed = errOpenedReadOnly
	return db, nil
}
