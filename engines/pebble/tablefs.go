package pebble

import (
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// tableWriteBuffer is how much of a new table tableFS gathers per write.
const tableWriteBuffer = 256 << 10

// tableBuffers keeps the buffers of closed table files: a flush writes
// several tables, often much smaller than a buffer.
var tableBuffers = sync.Pool{New: func() any { b := make([]byte, 0, tableWriteBuffer); return &b }}

// tableFS gathers the writes of new tables into large ones. Pebble writes
// a table a data block (~4 KB) at a time, one write(2) each: in a bulk
// load, flushes made ~30,000 such calls per 100,000 documents, and a
// system call costs microseconds in a VM, on the core the updater needs.
type tableFS struct{ vfs.FS }

// Create implements vfs.FS.
func (fs tableFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil || !strings.HasSuffix(name, ".sst") {
		return f, err
	}
	return &bufferedFile{File: f}, nil
}

// bufferedFile holds written bytes until it has tableWriteBuffer of them
// or until anything else is asked of the file, so that the file is as
// written before every other operation.
type bufferedFile struct {
	vfs.File
	buf  []byte
	pool *[]byte // where buf came from
}

func (f *bufferedFile) Write(p []byte) (int, error) {
	if len(f.buf)+len(p) > tableWriteBuffer {
		if err := f.flush(); err != nil {
			return 0, err
		}
		if len(p) >= tableWriteBuffer {
			return f.File.Write(p)
		}
	}
	if f.pool == nil {
		f.pool = tableBuffers.Get().(*[]byte)
		f.buf = (*f.pool)[:0]
	}
	f.buf = append(f.buf, p...)
	return len(p), nil
}

func (f *bufferedFile) flush() error {
	if len(f.buf) == 0 {
		return nil
	}
	_, err := f.File.Write(f.buf)
	f.buf = f.buf[:0]
	return err
}

func (f *bufferedFile) Close() error {
	err := f.flush()
	if f.pool != nil {
		tableBuffers.Put(f.pool)
		f.pool, f.buf = nil, nil
	}
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}

func (f *bufferedFile) Read(p []byte) (int, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *bufferedFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *bufferedFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.flush(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *bufferedFile) Preallocate(off, n int64) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Preallocate(off, n)
}

func (f *bufferedFile) Stat() (vfs.FileInfo, error) {
	if err := f.flush(); err != nil {
		return nil, err
	}
	return f.File.Stat()
}

func (f *bufferedFile) Sync() error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *bufferedFile) SyncTo(n int64) (bool, error) {
	if err := f.flush(); err != nil {
		return false, err
	}
	return f.File.SyncTo(n)
}

func (f *bufferedFile) SyncData() error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *bufferedFile) Prefetch(off, n int64) error {
	if err := f.flush(); err != nil {
		return err
	}
	return f.File.Prefetch(off, n)
}
