package dbcore_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	rawpebble "github.com/cockroachdb/pebble/v2"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/enginetest"
)

// benchBatch is the bulk-load batch of design.md §6.
const benchBatch = 1000

// benchEngines are the engines benchmarked: the durable ones.
var benchEngines = []string{"pebble", "couch"}

// BenchmarkUpdateDocs measures durable document writes through dbcore, one
// op being one ~1 KB document, beside two floors measured in the same run
// on the same disk: raw Pebble synced batches of the same bytes, and the
// engine itself driven directly (WriteDocBody, WriteDocInfos, Commit).
//
//	go test -run XXX -bench . -benchtime 2000x ./dbcore/
//	go test -run XXX -bench 'UpdateDocs/.*/Update' -benchtime 4000x -benchmem ./dbcore/
//
// Targets (design.md §6): Writers16 ≥ 5× Writers1 and Update16 ≥ 5×
// Update1; Bulk ≥ 50% of RawPebbleBulk. WritersN create documents;
// UpdateN rewrite documents that already have updateDepth revisions, as
// `couchfs bench` does, and also report the process's CPU time per save
// (cpu-µs/op): on two cores that, more than the disk, bounds many writers;
// and its page faults per save (faults/op, see processUsage).
func BenchmarkUpdateDocs(b *testing.B) {
	b.Run("RawPebbleBulk", benchRawPebbleBulk)
	for _, name := range benchEngines {
		ec := engineByName(b, name)
		b.Run(name+"/RawEngineBulk", func(b *testing.B) { benchRawEngineBulk(b, ec.new()) })
		b.Run(name+"/Bulk", func(b *testing.B) { benchBulk(b, ec) })
		for _, writers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/Writers%d", name, writers), func(b *testing.B) { benchWriters(b, ec, writers) })
		}
		for _, writers := range []int{1, 16} {
			// The documents are built once per variant, not for each of
			// the runs the testing package makes while sizing b.N.
			var fx *updateFixture
			b.Run(fmt.Sprintf("%s/Update%d", name, writers), func(sb *testing.B) {
				if fx == nil {
					fx = newUpdateFixture(b, ec)
				}
				benchUpdates(sb, fx, writers)
			})
			if fx != nil {
				fx.close(b)
			}
		}
	}
}

func engineByName(b *testing.B, name string) engineCase {
	for _, ec := range engineCases {
		if ec.name == name {
			return ec
		}
	}
	b.Fatalf("no engine %q in the table", name)
	return engineCase{}
}

// benchBody is enginetest's ~1 KB benchmark document without its "_id",
// which dbcore keeps apart from the body.
func benchBody(i int) []byte {
	d := enginetest.DocBody(i)
	cut := bytes.Index(d, []byte(`","n":`))
	return append([]byte{'{'}, d[cut+2:]...)
}

func benchDocID(i int) string { return fmt.Sprintf("doc-%08d", i) }

// benchBodies makes the n bodies a benchmark writes, before its timer
// starts, so that every variant times only the writing.
func benchBodies(b *testing.B, n int) [][]byte {
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = benchBody(i)
	}
	b.SetBytes(int64(len(bodies[0])))
	return bodies
}

func reportDocs(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "docs/s")
}

// benchDBFor opens a fresh database on a fresh server with ec's engine.
func benchDBFor(b *testing.B, ec engineCase) *dbcore.DB {
	b.Helper()
	s := startServer(b, dbcore.Options{Dir: b.TempDir(), Engines: []engines.Engine{ec.new()}, DefaultEngine: ec.name, Logger: quietLogger})
	return createDB(b, s, "bench")
}

// benchBulk writes b.N documents with UpdateDocs calls of benchBatch.
func benchBulk(b *testing.B, ec engineCase) {
	db := benchDBFor(b, ec)
	bodies := benchBodies(b, b.N)
	b.ResetTimer()
	for first := 0; first < b.N; first += benchBatch {
		n := min(benchBatch, b.N-first)
		docs := make([]*dbcore.Doc, n)
		for j := range docs {
			docs[j] = &dbcore.Doc{ID: benchDocID(first + j), Body: bodies[first+j]}
		}
		res, err := db.UpdateDocs(docs, dbcore.UpdateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	reportDocs(b, b.N)
}

// benchWriters has `writers` goroutines create b.N documents between
// them, one UpdateDocs call per document: what group commit is for.
func benchWriters(b *testing.B, ec engineCase, writers int) {
	db := benchDBFor(b, ec)
	bodies := benchBodies(b, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if _, err := tryUpdate(db, &dbcore.Doc{ID: benchDocID(i), Body: bodies[i]}, dbcore.UpdateOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	reportDocs(b, b.N)
}

// updateSlots and updateDepth shape the update benchmarks: that many
// documents, each with that many revisions before the timer starts, like
// the documents `couchfs bench` rewrites.
const (
	updateSlots = 256
	updateDepth = 100
)

// updateFixture is a database of updateSlots documents of updateDepth
// revisions and the current revision of each.
type updateFixture struct {
	srv    *dbcore.Server
	db     *dbcore.DB
	bodies [][]byte
	revs   []string
}

func newUpdateFixture(b *testing.B, ec engineCase) *updateFixture {
	srv, err := dbcore.NewServer(dbcore.Options{Dir: b.TempDir(), Engines: []engines.Engine{ec.new()}, DefaultEngine: ec.name, Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	fx := &updateFixture{srv: srv, revs: make([]string, updateSlots)}
	if err := srv.CreateDB("bench", ""); err != nil {
		b.Fatal(err)
	}
	if fx.db, err = srv.OpenDB("bench"); err != nil {
		b.Fatal(err)
	}
	fx.bodies = benchBodies(b, updateSlots)
	docs := make([]*dbcore.Doc, updateSlots)
	for range updateDepth {
		for s := range docs {
			docs[s] = &dbcore.Doc{ID: benchDocID(s), Rev: fx.revs[s], Body: fx.bodies[s]}
		}
		res, err := fx.db.UpdateDocs(docs, dbcore.UpdateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for s, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			fx.revs[s] = r.Rev
		}
	}
	return fx
}

func (fx *updateFixture) close(b *testing.B) {
	fx.db.Close()
	if err := fx.srv.Close(); err != nil {
		b.Error(err)
	}
}

// benchUpdates has `writers` goroutines make b.N SaveJSON updates between
// them, each writer rewriting its own share of the fixture's documents
// with the revision its previous save returned.
func benchUpdates(b *testing.B, fx *updateFixture, writers int) {
	b.SetBytes(int64(len(fx.bodies[0])))
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu, faults := processUsage(b)
	b.ResetTimer()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				if int(next.Add(1)) > b.N {
					return
				}
				// Writer w owns the slots w, w+writers, …: no two writers
				// edit one document, so no save conflicts.
				s := w + k%(updateSlots/writers)*writers
				res, err := fx.db.SaveJSON(benchDocID(s), fx.bodies[(s+k)%updateSlots], fx.revs[s])
				if err != nil {
					b.Error(err)
					return
				}
				fx.revs[s] = res.Rev
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpuEnd, faultsEnd := processUsage(b)
	b.ReportMetric(float64((cpuEnd-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(faultsEnd-faults)/float64(b.N), "faults/op")
	reportDocs(b, b.N)
}

// processUsage returns the CPU time the process has used so far, user and
// system, and the page faults it has taken that needed no I/O. With group
// commit, the CPU a save costs is what bounds the rate of many writers on
// two cores, and it is less disturbed by other load on the machine than
// the wall time. Each such fault is a first write to fresh memory, which
// costs ~10 µs on the VMs measured, so a save that keeps touching new
// memory (a memtable growing, a heap returned to the system and taken
// back) pays for it on the updater.
func processUsage(b *testing.B) (time.Duration, int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Minflt
}

// benchRawEngineBulk writes b.N single-revision documents straight into
// the engine, benchBatch per WriteDocInfos and Commit: dbcore's bulk path
// without dbcore.
func benchRawEngineBulk(b *testing.B, eng engines.Engine) {
	db, err := eng.Create(filepath.Join(b.TempDir(), "raw"+eng.Ext()))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bodies := benchBodies(b, b.N)
	b.ResetTimer()
	seq := uint64(0)
	for first := 0; first < b.N; first += benchBatch {
		n := min(benchBatch, b.N-first)
		pairs := make([]engines.DocInfoPair, n)
		for j := range pairs {
			body := bodies[first+j]
			ptr, active, err := db.WriteDocBody(body)
			if err != nil {
				b.Fatal(err)
			}
			seq++
			pairs[j].New = &engines.DocInfo{
				ID: benchDocID(first + j), UpdateSeq: seq, ActiveSize: active, ExternalSize: uint64(len(body)),
				RevTree: engines.RevTree{{Start: 1, Root: &engines.RevNode{
					ID:    fmt.Sprintf("%032x", first+j),
					Value: &engines.RevValue{Ptr: ptr, Seq: seq, Size: uint64(len(body))},
				}}},
			}
		}
		if err := db.WriteDocInfos(pairs, nil, nil); err != nil {
			b.Fatal(err)
		}
		if err := db.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	reportDocs(b, b.N)
}

// benchRawPebbleBulk is enginetest.RawPebbleBulk counted per document: the
// same bodies set straight into Pebble, one synced batch per benchBatch.
func benchRawPebbleBulk(b *testing.B) {
	pdb, err := rawpebble.Open(filepath.Join(b.TempDir(), "raw"), &rawpebble.Options{Logger: benchLogger{}})
	if err != nil {
		b.Fatal(err)
	}
	defer pdb.Close()
	bodies := benchBodies(b, b.N)
	b.ResetTimer()
	var key [8]byte
	for first := 0; first < b.N; first += benchBatch {
		batch := pdb.NewBatch()
		for j := range min(benchBatch, b.N-first) {
			binary.BigEndian.PutUint64(key[:], uint64(first+j))
			if err := batch.Set(key[:], bodies[first+j], nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(rawpebble.Sync); err != nil {
			b.Fatal(err)
		}
		batch.Close()
	}
	reportDocs(b, b.N)
}

// benchLogger keeps Pebble's informational lines out of benchmark output.
type benchLogger struct{}

func (benchLogger) Infof(string, ...any) {}

func (benchLogger) Errorf(format string, args ...any) { log.Printf(format, args...) }

func (benchLogger) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }
