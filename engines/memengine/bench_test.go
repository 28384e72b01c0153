package memengine_test

import (
	"testing"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/enginetest"
	"github.com/couchfs/couchfs/engines/memengine"
)

func BenchmarkEngine(b *testing.B) {
	enginetest.RunBenchmarks(b, func(*testing.B) engines.Engine { return memengine.New() })
}

// BenchmarkRawPebbleBulk is BulkLoad's baseline, reported in the same run.
func BenchmarkRawPebbleBulk(b *testing.B) { enginetest.RawPebbleBulk(b) }
