package enginetest

import (
	"encoding/binary"
	"fmt"
	"log"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/couchfs/couchfs/engines"
)

// benchBatch is the bulk-load batch size design.md §6 names.
const benchBatch = 1000

// benchDocs is how many documents the read benchmarks preload.
const benchDocs = 10_000

// DocBody returns a deterministic JSON object of about 1 KB for document i,
// the document the shared benchmarks write. Safe for concurrent use.
func DocBody(i int) []byte {
	b := fmt.Appendf(nil, `{"_id":"%s","n":%d,"title":"Document number %d","tags":["bench","doc-%d"],"text":"`, benchID(i), i, i, i%97)
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	const letters = "abcdefghijklmnopqrstuvwxyz      "
	for len(b) < 1000 {
		b = append(b, letters[r.IntN(len(letters))])
	}
	return append(b, `"}`...)
}

func benchID(i int) string { return fmt.Sprintf("doc-%08d", i) }

// RunBenchmarks runs the shared engine benchmarks against the engine
// newEngine returns: BulkLoad, SingleDocCommit, OpenDocsRandom, FoldChanges
// and FoldDocs. Each sub-benchmark uses a fresh database under b.TempDir.
func RunBenchmarks(b *testing.B, newEngine func(b *testing.B) engines.Engine) {
	b.Run("BulkLoad", func(b *testing.B) {
		db := benchDB(b, newEngine(b))
		b.SetBytes(int64(benchBatch * len(DocBody(0))))
		for i := 0; b.Loop(); i++ {
			loadBatch(b, db, i*benchBatch, benchBatch)
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "docs/s")
	})
	b.Run("SingleDocCommit", func(b *testing.B) {
		db := benchDB(b, newEngine(b))
		for i := 0; b.Loop(); i++ {
			loadBatch(b, db, i, 1)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	})
	b.Run("OpenDocsRandom", func(b *testing.B) {
		db := benchDB(b, newEngine(b))
		preload(b, db)
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			ids := []string{benchID(r.IntN(benchDocs))}
			dis, err := db.OpenDocs(ids)
			if err != nil || dis[0] == nil {
				b.Fatalf("OpenDocs(%q) = %v, %v", ids, dis, err)
			}
			if _, err := db.ReadDocBody(dis[0].RevTree[0].Root.Value.Ptr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FoldChanges", func(b *testing.B) {
		db := benchDB(b, newEngine(b))
		preload(b, db)
		for b.Loop() {
			n := 0
			if err := db.FoldChanges(0, func(*engines.DocInfo) error { n++; return nil }); err != nil || n != benchDocs {
				b.Fatalf("FoldChanges visited %d, %v", n, err)
			}
		}
		b.ReportMetric(float64(b.N*benchDocs)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("FoldDocs", func(b *testing.B) {
		db := benchDB(b, newEngine(b))
		preload(b, db)
		for b.Loop() {
			n := 0
			if err := db.FoldDocs(engines.FoldOptions{}, func(*engines.DocInfo) error { n++; return nil }); err != nil || n != benchDocs {
				b.Fatalf("FoldDocs visited %d, %v", n, err)
			}
		}
		b.ReportMetric(float64(b.N*benchDocs)/b.Elapsed().Seconds(), "rows/s")
	})
}

// benchDB creates a database that is closed and deleted when b ends.
func benchDB(b *testing.B, eng engines.Engine) engines.DB {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench"+eng.Ext())
	db, err := eng.Create(path)
	if err != nil {
		b.Fatalf("Create: %v", err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
		if err := eng.Delete(path); err != nil {
			b.Errorf("Delete: %v", err)
		}
	})
	return db
}

// loadBatch writes documents first..first+n-1 as new single-revision docs
// with one WriteDocInfos and one Commit, the way dbcore's bulk path does.
func loadBatch(b *testing.B, db engines.DB, first, n int) {
	seq := db.UpdateSeq()
	pairs := make([]engines.DocInfoPair, n)
	for j := range n {
		body := DocBody(first + j)
		ptr, active, err := db.WriteDocBody(body)
		if err != nil {
			b.Fatalf("WriteDocBody: %v", err)
		}
		seq++
		pairs[j].New = &engines.DocInfo{
			ID: benchID(first + j), UpdateSeq: seq, ActiveSize: active, ExternalSize: uint64(len(body)),
			RevTree: engines.RevTree{{Start: 1, Root: &engines.RevNode{
				ID:    fmt.Sprintf("%032x", first+j),
				Value: &engines.RevValue{Ptr: ptr, Seq: seq, Size: uint64(len(body))},
			}}},
		}
	}
	if err := db.WriteDocInfos(pairs, nil, nil); err != nil {
		b.Fatalf("WriteDocInfos: %v", err)
	}
	if err := db.Commit(); err != nil {
		b.Fatalf("Commit: %v", err)
	}
}

func preload(b *testing.B, db engines.DB) {
	b.Helper()
	for i := 0; i < benchDocs; i += benchBatch {
		loadBatch(b, db, i, benchBatch)
	}
}

// RawPebbleBulk is the baseline for BulkLoad: the same documents written
// straight into Pebble, benchBatch of them per synced batch, with no engine
// in between. Engines call it from a benchmark so the ratio comes from one
// run on one machine.
func RawPebbleBulk(b *testing.B) {
	pdb, err := pebble.Open(filepath.Join(b.TempDir(), "raw"), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		b.Fatalf("pebble.Open: %v", err)
	}
	defer pdb.Close()
	b.SetBytes(int64(benchBatch * len(DocBody(0))))
	var key [8]byte
	for i := 0; b.Loop(); i++ {
		batch := pdb.NewBatch()
		for j := range benchBatch {
			binary.BigEndian.PutUint64(key[:], uint64(i*benchBatch+j))
			if err := batch.Set(key[:], DocBody(i*benchBatch+j), nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(pebble.Sync); err != nil {
			b.Fatal(err)
		}
		batch.Close()
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "docs/s")
}

// quietLogger keeps Pebble's informational lines out of benchmark output;
// errors still reach the standard logger.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(format string, args ...any) { log.Printf(format, args...) }

func (quietLogger) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }
