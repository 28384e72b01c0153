package couchfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync is fdatasync(2): it flushes the data and the metadata needed to
// read it back (the size), which is what a commit must make durable.
func datasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// Writeback starts writing the dirty pages of [off, off+n) to the device
// without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE), so a large
// commit's data is mostly on its way before the commit's fdatasync. It is
// only a hint: durability still comes from Sync.
func (f osFile) Writeback(off, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
