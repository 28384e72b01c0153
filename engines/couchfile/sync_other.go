//go:build !linux

package couchfile

import "os"

// datasync falls back to fsync where fdatasync is not available.
func datasync(f *os.File) error { return f.Sync() }

// Writeback does nothing where sync_file_range is not available.
func (f osFile) Writeback(off, n int64) error { return nil }
