package pebble_test

import (
	"testing"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/enginetest"
	"github.com/couchfs/couchfs/engines/pebble"
)

// BenchmarkEngine runs the shared engine benchmarks; compare BulkLoad with
// BenchmarkRawPebble from the same run.
func BenchmarkEngine(b *testing.B) {
	enginetest.RunBenchmarks(b, func(b *testing.B) engines.Engine { return pebble.New(pebble.Options{}) })
}

// BenchmarkRawPebble is the bulk-load baseline: the same documents written
// straight into Pebble, one synced batch per 1000.
func BenchmarkRawPebble(b *testing.B) {
	enginetest.RawPebbleBulk(b)
}
