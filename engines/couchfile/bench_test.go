package couchfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/enginetest"
	pebbleengine "github.com/couchfs/couchfs/engines/pebble"
)

// BenchmarkCouchfile runs the shared engine benchmarks for couchfile and,
// in the same run on the same disk, for the pebble engine, beside their two
// floors: raw fdatasync of 1 KB appends (what SingleDocCommit is compared
// with) and raw synced Pebble batches (what BulkLoad is compared with).
//
//	go test -run '^$' -bench . -benchtime 20x ./engines/couchfile/
func BenchmarkCouchfile(b *testing.B) {
	b.Run("RawFdatasync", benchRawFdatasync)
	b.Run("RawPebbleBulk", enginetest.RawPebbleBulk)
	b.Run("couch", func(b *testing.B) {
		enginetest.RunBenchmarks(b, func(b *testing.B) engines.Engine { return New(Options{}) })
	})
	b.Run("pebble", func(b *testing.B) {
		enginetest.RunBenchmarks(b, func(b *testing.B) engines.Engine { return pebbleengine.New(pebbleengine.Options{}) })
	})
}

// benchRawFdatasync appends 1 KB to a file and fdatasyncs, as often as it
// can: the durability floor of design.md §6.
func benchRawFdatasync(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := enginetest.DocBody(0)[:1024]
	var off int64
	for b.Loop() {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		off += int64(len(buf))
		if err := datasync(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
}
