package pebble

import (
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// tableWriteBuffer is how much of a new table bufferedFile gathers per
// write.
const tableWriteBuffer = 256 << 10

// tableBuffers keeps the buffers of closed table files: a flush writes
// several tables, often much smaller than a buffer.
var tableBuffers = sync.Pool{New: func() any { b := make([]byte, 0, tableWriteBuffer); return &b }}

// engineFS is the file system the engine gives Pebble: new tables are
// written in large writes (bufferedFile) and new WAL files keep a reserve
// of zeros past their end (walFile).
type engineFS struct{ vfs.FS }

// Create implements vfs.FS.
func (fs engineFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	switch {
	case err != nil:
		return f, err
	case strings.HasSuffix(name, ".sst"):
		return &bufferedFile{File: f}, nil
	case strings.HasSuffix(name, ".log"):
		return &walFile{File: f}, nil
	}
	return f, nil
}

// bufferedFile holds written bytes until it has tableWriteBuffer of them
// or until anything else is asked of the file, so that the file is as
// written before every other operation. Like the file Pebble writes a
// table through, it is used by one goroutine at a time. Pebble writes a table a data
// block (~4 KB) at a time, one write(2) each: in a bulk load, flushes made
// ~30,000 such calls per 100,000 documents, and a system call costs
// microseconds in a VM, on the core the updater needs.
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

// WAL reserve sizes: see walFile.
const (
	walReserve = 1 << 20
	walBulk    = 256 << 10
)

var walZeros [walReserve]byte

// walFile keeps zeros, really written, past the end of a new WAL file, as
// couchfile keeps a reserve past its append position: an fdatasync after
// an append past the file's end also commits ext4 metadata (new blocks, the
// size) through the journal, while one after an overwrite of written
// blocks flushes only the data (in the benchmark's floors, 5,936 against
// 7,668 syncs a second). Pebble preallocates its WAL with FALLOC_FL_KEEP_SIZE,
// whose unwritten extents still cost a metadata change at the first write.
// Pebble reads a zeroed tail after the last record as the end of the log
// (it preallocates and recycles WAL files, whose tails hold zeros or stale
// records), and a cleanly closed WAL ends with an EOF trailer.
//
// A sync after walBulk bytes or more leaves the reserve alone: its data
// streams to the disk anyway, and zeros the next large batches overwrite
// at once would only double their writes. Pebble's log writer writes and
// syncs a WAL from one goroutine at a time, so walFile has no lock.
type walFile struct {
	vfs.File
	end      int64 // bytes written by Write, which appends
	zeroEnd  int64 // zeros have been written up to here
	syncedAt int64 // end at the last sync
}

func (f *walFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.end += int64(n)
	return n, err
}

// reserve extends the zeros by walReserve when less than half of it is
// left. A failed extension is not the sync's failure: nothing depends on
// the zeros.
func (f *walFile) reserve() {
	appended := f.end - f.syncedAt
	f.syncedAt = f.end
	if appended >= walBulk || f.zeroEnd-f.end >= walReserve/2 {
		return
	}
	from := max(f.zeroEnd, f.end)
	if _, err := f.File.WriteAt(walZeros[:], from); err == nil {
		f.zeroEnd = from + walReserve
	}
}

func (f *walFile) Sync() error {
	f.reserve()
	return f.File.Sync()
}

func (f *walFile) SyncData() error {
	f.reserve()
	return f.File.SyncData()
}
