package pebble

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/couchfs/couchfs/engines"
)

var _ engines.ReadOnlyOpener = (*engine)(nil)

// errOpenedReadOnly is why a DB from OpenReadOnly refuses writes: every
// write method checks writable first, which reports it under ErrReadOnly.
var errOpenedReadOnly = errors.New("opened read-only")

// OpenReadOnly implements engines.ReadOnlyOpener. It opens the live
// generation with Pebble's ReadOnly option, which replays the WAL into
// memory instead of flushing it, writes no OPTIONS file and no MANIFEST,
// and removes no obsolete file, marker or temporary file. The file system
// it runs on (readOnlyFS) refuses every change, so if Pebble ever tried
// one the open would fail rather than touch the database, and it takes no
// lock: Pebble's LOCK may be held by a read-write Open of the same path in
// this process (the caller keeps other processes out). Stale generations
// stay where they are. Any goroutine.
func (e *engine) OpenReadOnly(path string) (engines.DB, error) {
	rofs := readOnlyFS{FS: e.fs}
	gen, err := readGen(rofs, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pebble: open %s read-only: %w", path, engines.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pebble: open %s read-only: %w", path, err)
	}
	pdb, err := e.openPebbleReadOnly(rofs, genDir(e.fs, path, gen))
	if errors.Is(err, pebble.ErrDBDoesNotExist) {
		return nil, fmt.Errorf("pebble: open %s read-only: generation %d is missing: %w", path, gen, engines.ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("pebble: open %s read-only: %w", path, wrapReadErr(err))
	}
	st, log, err := readState(pdb)
	if err != nil {
		_ = pdb.Close()
		return nil, fmt.Errorf("pebble: open %s read-only: %w", path, err)
	}
	d := newDB(e, path, gen, pdb, st, log)
	cause := errOpenedReadOnly
	d.failed.Store(&cause)
	return d, nil
}

// openPebbleReadOnly opens the Pebble database in dir read-only, with the
// options openPebble uses, so the OPTIONS check passes and lookups use the
// same cache and bloom filters.
func (e *engine) openPebbleReadOnly(rofs vfs.FS, dir string) (*pebble.DB, error) {
	opts, release := e.options(rofs)
	defer release()
	opts.ErrorIfNotExists = true
	opts.ReadOnly = true
	return pebble.Open(dir, opts)
}

// errWriteRefused is what readOnlyFS answers to anything that would change
// a file.
var errWriteRefused = fmt.Errorf("pebble: read-only open: %w", engines.ErrReadOnly)

func refused(op, name string) error {
	return &os.PathError{Op: op, Path: name, Err: errWriteRefused}
}

// readOnlyFS is the file system of a database opened read-only: reads go
// to the engine's file system, every change fails with errWriteRefused,
// and Lock takes no lock.
type readOnlyFS struct{ vfs.FS }

func (r readOnlyFS) Create(name string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	return nil, refused("create", name)
}

func (r readOnlyFS) Link(oldname, newname string) error { return refused("link", newname) }

func (r readOnlyFS) OpenReadWrite(name string, _ vfs.DiskWriteCategory, _ ...vfs.OpenOption) (vfs.File, error) {
	return nil, refused("open for writing", name)
}

func (r readOnlyFS) Remove(name string) error    { return refused("remove", name) }
func (r readOnlyFS) RemoveAll(name string) error { return refused("remove", name) }
func (r readOnlyFS) Rename(oldname, newname string) error {
	return refused("rename", oldname)
}

func (r readOnlyFS) ReuseForWrite(oldname, newname string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	return nil, refused("reuse for writing", oldname)
}

func (r readOnlyFS) MkdirAll(dir string, _ os.FileMode) error { return refused("mkdir", dir) }

// Lock takes no lock: exclusion is the caller's (see OpenReadOnly).
func (r readOnlyFS) Lock(string) (io.Closer, error) { return nopCloser{}, nil }

func (r readOnlyFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := r.FS.Open(name, opts...)
	if err != nil {
		return nil, err
	}
	return readOnlyFile{File: f, name: name}, nil
}

func (r readOnlyFS) OpenDir(name string) (vfs.File, error) {
	f, err := r.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return readOnlyFile{File: f, name: name}, nil
}

// Unwrap returns the engine's file system.
func (r readOnlyFS) Unwrap() vfs.FS { return r.FS }

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// readOnlyFile is a file or directory of a read-only open: reads pass,
// writes, preallocation and syncs fail.
type readOnlyFile struct {
	vfs.File
	name string
}

func (f readOnlyFile) Write([]byte) (int, error)          { return 0, refused("write", f.name) }
func (f readOnlyFile) WriteAt([]byte, int64) (int, error) { return 0, refused("write", f.name) }
func (f readOnlyFile) Preallocate(int64, int64) error     { return refused("preallocate", f.name) }
func (f readOnlyFile) Sync() error                        { return refused("sync", f.name) }
func (f readOnlyFile) SyncData() error                    { return refused("sync", f.name) }
func (f readOnlyFile) SyncTo(int64) (bool, error)         { return false, refused("sync", f.name) }
