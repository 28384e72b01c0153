package couchfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/couchfs/couchfs/engines"
)

// Engine is the append-only B+tree engine: name "couch", extension
// ".couch", one file per database. Safe for concurrent use; dbcore
// serializes the lifecycle calls for any one path.
type Engine struct {
	opts Options
}

var _ engines.Engine = (*Engine)(nil)

// New returns the engine with opts (the zero Options is the default).
func New(opts Options) *Engine {
	return &Engine{opts: opts.withDefaults()}
}

// Name returns "couch".
func (*Engine) Name() string { return "couch" }

// Ext returns ".couch".
func (*Engine) Ext() string { return ".couch" }

// compactPath is where a compaction of the database at path builds its copy.
func compactPath(path string) string { return path + ".compact" }

// Exists reports whether the database file is at path. A compaction file
// alone is a leftover, not a database.
func (e *Engine) Exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("couchfile: %w", err)
}

// Create makes a new database at path: a file holding one header, synced
// with its directory entry before Create returns. It fails with ErrExists if
// a database is there. An empty file, which only a Create that crashed
// before writing its header leaves, is taken over, as CouchDB does.
func (e *Engine) Create(path string) (engines.DB, error) {
	uuid, err := newUUID()
	if err != nil {
		return nil, err
	}
	if err := removeIfExists(compactPath(path)); err != nil {
		return nil, err
	}
	f, err := e.opts.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		f, err = e.takeOverEmpty(path)
	}
	if err != nil {
		return nil, err
	}
	h := header{revsLimit: defaultRevsLimit, purgeInfosLimit: defaultPurgeInfosLimit, uuid: uuid}
	st := newStore(f, path, 0, 0, &e.opts)
	st.live = true
	err = st.commit(&h)
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		// A header whose fsync failed may still sit in the page cache and
		// open fine; a Create that failed must leave no database.
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("couchfile: create %s: %w", path, err)
	}
	return newDB(path, &e.opts, st, &h, defaultSecurity), nil
}

func (e *Engine) takeOverEmpty(path string) (File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("couchfile: create %s: %w", path, err)
	}
	if fi.Size() != 0 || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("couchfile: create %s: %w", path, engines.ErrExists)
	}
	f, err := e.opts.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("couchfile: create %s: %w", path, err)
	}
	return f, nil
}

// Open opens the database at path: it finds the newest valid header
// scanning back from the end, appends right after it, keeping what follows
// (the zero tail, and any commit that never completed) for the next
// commits to overwrite unless it is longer than a zero tail gets, and
// fsyncs. A leftover compaction file is removed: the rename that ends a
// compaction is atomic, so a .compact file still there was never swapped
// in. Open fails with ErrNotFound if there is no file and
// with an error wrapping ErrCorrupt if no header is valid.
func (e *Engine) Open(path string) (engines.DB, error) {
	if err := removeIfExists(compactPath(path)); err != nil {
		return nil, err
	}
	f, err := e.opts.OpenFile(path, os.O_RDWR, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("couchfile: open %s: %w", path, engines.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("couchfile: open %s: %w", path, err)
	}
	db, err := e.openFile(f, path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("couchfile: open %s: %w", path, err)
	}
	return db, nil
}

func (e *Engine) openFile(f File, path string) (*DB, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	phys := fi.Size()
	h, _, end, err := findHeader(f, phys)
	if err != nil {
		return nil, err
	}
	// What follows the newest valid header is the zero tail, or the bytes
	// of a commit that never completed, or both. It is kept as the
	// reserve the next commits overwrite: no later header can be mistaken
	// for one of its stale ones (see docs/on-disk-format.md, "The zero
	// tail"). A tail longer than a commit leaves is cut off instead.
	if phys-end > maxTail(end) {
		if err := f.Truncate(end); err != nil {
			return nil, err
		}
		phys = end
	}
	// CouchDB fsyncs on open too: a header found in the page cache after a
	// crash of the process (not the machine) is made durable before
	// anything is built on it.
	if err := f.Sync(); err != nil {
		return nil, err
	}
	st := newStore(f, path, end, h.generation, &e.opts)
	st.phys, st.live = phys, true
	sec := defaultSecurity
	if h.securityPtr != 0 {
		if sec, err = st.readChunk(h.securityPtr, kindSecurity, blockSize); err != nil {
			return nil, err
		}
	}
	return newDB(path, &e.opts, st, h, sec), nil
}

func newDB(path string, opts *Options, st *store, h *header, security []byte) *DB {
	db := &DB{path: path, opts: opts, st: st}
	s := &snapshot{st: st, h: *h, security: security}
	db.snap.Store(s)
	db.committed = s
	return db
}

// Delete removes the database at path and its compaction leftovers,
// leftovers first: an interrupted Delete leaves either the database whole
// or nothing Open accepts. It fails with ErrNotFound if there is neither.
// The database must be closed.
func (e *Engine) Delete(path string) error {
	_, errMain := os.Stat(path)
	_, errCompact := os.Stat(compactPath(path))
	if errors.Is(errMain, fs.ErrNotExist) && errors.Is(errCompact, fs.ErrNotExist) {
		return fmt.Errorf("couchfile: delete %s: %w", path, engines.ErrNotFound)
	}
	if err := removeIfExists(compactPath(path)); err != nil {
		return err
	}
	if err := removeIfExists(path); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("couchfile: delete %s: %w", path, err)
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("couchfile: %w", err)
	}
	return nil
}

// syncDir makes a creation, rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("couchfile: uuid: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
