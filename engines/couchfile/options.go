package couchfile

import (
	"io"
	"os"
)

// File is the seam between the engine and the operating system: everything
// the engine does to a database file goes through it, so tests can inject a
// failing fsync, a failing or short write, or ENOSPC. *os.File satisfies it
// except that the default Sync is fdatasync (see osFile).
//
// ReadAt must be safe for concurrent use with itself and with WriteAt to
// other offsets, as pread/pwrite are.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes every byte written so far durable, including the file
	// size (fdatasync semantics are enough).
	Sync() error
	Truncate(size int64) error
	Close() error
	Stat() (os.FileInfo, error)
}

// Options configures an Engine. The zero value is ready to use.
type Options struct {
	// OpenFile opens a database or compaction file. flag and perm are as
	// for os.OpenFile. Default: os.OpenFile with fdatasync as Sync.
	OpenFile func(name string, flag int, perm os.FileMode) (File, error)
	// CacheBytes bounds the decoded B+tree nodes kept in memory per open
	// database, in bytes of their encoding. Default 8 MiB.
	CacheBytes int
	// FlushBytes is how many appended bytes are buffered before they are
	// written to the file ahead of the next Commit (and, on Linux, their
	// writeback started). Default 256 KiB.
	FlushBytes int

	// maxSealedBytes is the largest region a commit seals with the header's
	// checksum alone; a larger one is fdatasynced before its header.
	// Default 16 MiB; tests lower it to reach the two-fdatasync path.
	maxSealedBytes int

	// afterCopy, if set, runs on a compaction's goroutine between the copy
	// of the snapshot and the catch-up rounds: tests use it to write while
	// the copy is provably behind.
	afterCopy func()
}

const (
	defaultCacheBytes = 8 << 20
	defaultFlushBytes = 256 << 10
	defaultMaxSealed  = 16 << 20
)

func (o Options) withDefaults() Options {
	if o.OpenFile == nil {
		o.OpenFile = openOSFile
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = defaultCacheBytes
	}
	if o.FlushBytes <= 0 {
		o.FlushBytes = defaultFlushBytes
	}
	if o.maxSealedBytes <= 0 {
		o.maxSealedBytes = defaultMaxSealed
	}
	return o
}

// osFile is the default File: an *os.File whose Sync is fdatasync where the
// platform has it, which is all a commit needs (data and size, not mtime).
type osFile struct{ *os.File }

func openOSFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Sync is fdatasync (fsync where the platform lacks it).
func (f osFile) Sync() error { return datasync(f.File) }
