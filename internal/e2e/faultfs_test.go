package e2e

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/couchfile"
	"github.com/couchfs/couchfs/engines/pebble"
)

// faultKind is a storage failure injected below an engine, at its file
// seam (couchfile.Options.OpenFile, pebble.Options.FS).
type faultKind int32

const (
	noFault faultKind = iota
	// failSync: every fsync/fdatasync fails with EIO; writes work, so the
	// bytes may reach the page cache without ever being durable.
	failSync
	// failWrite: every write fails with EIO and writes nothing.
	failWrite
	// diskFull: every write, preallocation and file creation fails with
	// ENOSPC and writes nothing.
	diskFull
	// shortWrite: every write stores only the first half of its bytes and
	// returns io.ErrShortWrite, as a write(2) cut short would leave it.
	shortWrite
)

func (k faultKind) String() string {
	return [...]string{"none", "failing fsync", "failing write", "ENOSPC", "short write"}[k]
}

// faultSet is the switch every wrapped file consults on each operation.
// Any goroutine may arm, clear or read it.
type faultSet struct {
	kind atomic.Int32
	once atomic.Bool  // the armed fault clears itself after failing one operation
	hits atomic.Int64 // operations an armed fault failed
}

// arm makes every later operation of kind k fail until clear.
func (f *faultSet) arm(k faultKind) {
	f.once.Store(false)
	f.kind.Store(int32(k))
}

// armOnce makes the next operation of kind k fail, and only that one: a
// transient failure.
func (f *faultSet) armOnce(k faultKind) {
	f.once.Store(true)
	f.kind.Store(int32(k))
}

func (f *faultSet) clear() { f.kind.Store(int32(noFault)) }

func (f *faultSet) armed() faultKind {
	return faultKind(f.kind.Load())
}

// trigger reports whether an operation of kind k fails now, counting it.
func (f *faultSet) trigger(k faultKind) bool {
	if f.armed() != k {
		return false
	}
	if f.once.Load() && !f.kind.CompareAndSwap(int32(k), int32(noFault)) {
		return false // another operation took the one failure
	}
	f.hits.Add(1)
	return true
}

// write performs a write of p through do unless a fault says otherwise.
func (f *faultSet) write(name string, p []byte, do func([]byte) (int, error)) (int, error) {
	switch {
	case f.trigger(failWrite):
		return 0, &os.PathError{Op: "write", Path: name, Err: syscall.EIO}
	case f.trigger(diskFull):
		return 0, &os.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
	case len(p) > 1 && f.trigger(shortWrite):
		n, err := do(p[:len(p)/2])
		if err != nil {
			return n, err
		}
		return n, fmt.Errorf("write %s: %w", name, io.ErrShortWrite)
	}
	return do(p)
}

func (f *faultSet) sync(name string, do func() error) error {
	if f.trigger(failSync) {
		return &os.PathError{Op: "fsync", Path: name, Err: syscall.EIO}
	}
	return do()
}

// create fails with ENOSPC on a full disk: a new file needs a directory
// entry and an inode.
func (f *faultSet) create(name string) error {
	if f.trigger(diskFull) {
		return &os.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
	}
	return nil
}

// faultyEngines is the engine table with every file of every database
// going through faults.
func faultyEngines(faults *faultSet) []engines.Engine {
	return []engines.Engine{
		couchfile.New(couchfile.Options{OpenFile: faults.openCouchFile}),
		pebble.New(pebble.Options{FS: faultyFS{FS: vfs.Default, faults: faults}}),
	}
}

// couchFile is couchfile's File with faults in WriteAt and Sync.
type couchFile struct {
	*os.File
	faults *faultSet
}

func (f *faultSet) openCouchFile(name string, flag int, perm os.FileMode) (couchfile.File, error) {
	if flag&os.O_CREATE != 0 {
		if _, err := os.Stat(name); os.IsNotExist(err) {
			if err := f.create(name); err != nil {
				return nil, err
			}
		}
	}
	file, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &couchFile{File: file, faults: f}, nil
}

func (c *couchFile) WriteAt(p []byte, off int64) (int, error) {
	return c.faults.write(c.Name(), p, func(b []byte) (int, error) { return c.File.WriteAt(b, off) })
}

func (c *couchFile) Sync() error { return c.faults.sync(c.Name(), c.File.Sync) }

// faultyFS is Pebble's file system with faults in every file opened for
// writing and in directory syncs.
type faultyFS struct {
	vfs.FS
	faults *faultSet
}

func (ffs faultyFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &pebbleFile{File: f, name: name, faults: ffs.faults}, nil
}

func (ffs faultyFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if err := ffs.faults.create(name); err != nil {
		return nil, err
	}
	f, err := ffs.FS.Create(name, c)
	return ffs.wrap(name, f, err)
}

func (ffs faultyFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := ffs.FS.OpenReadWrite(name, c, opts...)
	return ffs.wrap(name, f, err)
}

func (ffs faultyFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := ffs.FS.ReuseForWrite(oldname, newname, c)
	return ffs.wrap(newname, f, err)
}

func (ffs faultyFS) OpenDir(name string) (vfs.File, error) {
	f, err := ffs.FS.OpenDir(name)
	return ffs.wrap(name, f, err)
}

func (ffs faultyFS) Unwrap() vfs.FS { return ffs.FS }

// pebbleFile is a Pebble file with faults in every write and sync.
type pebbleFile struct {
	vfs.File
	name   string
	faults *faultSet
}

func (p *pebbleFile) Write(b []byte) (int, error) {
	return p.faults.write(p.name, b, p.File.Write)
}

func (p *pebbleFile) WriteAt(b []byte, off int64) (int, error) {
	return p.faults.write(p.name, b, func(b []byte) (int, error) { return p.File.WriteAt(b, off) })
}

func (p *pebbleFile) Preallocate(off, length int64) error {
	if p.faults.trigger(diskFull) {
		return &os.PathError{Op: "fallocate", Path: p.name, Err: syscall.ENOSPC}
	}
	return p.File.Preallocate(off, length)
}

func (p *pebbleFile) Sync() error     { return p.faults.sync(p.name, p.File.Sync) }
func (p *pebbleFile) SyncData() error { return p.faults.sync(p.name, p.File.SyncData) }

func (p *pebbleFile) SyncTo(length int64) (bool, error) {
	if err := p.faults.sync(p.name, func() error { return nil }); err != nil {
		return false, err
	}
	return p.File.SyncTo(length)
}

// Fd hides the descriptor so that Pebble cannot reach the file around the
// wrapper (sync_file_range, fadvise on the raw fd).
func (p *pebbleFile) Fd() uintptr { return vfs.InvalidFd }
