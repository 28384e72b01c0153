package pebble

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/couchfs/couchfs/engines"
)

// createDB creates a database at path with opts, closed when the test
// ends.
func createDB(t *testing.T, opts Options, path string) *db {
	t.Helper()
	edb, err := New(opts).Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { edb.Close() })
	return edb.(*db)
}

// risingIDs returns n document IDs that sort in the order made.
func risingIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("doc-%08d", i)
	}
	return ids
}

// loadDocs writes n new documents with bodies of size bytes, batch per
// WriteDocInfos and Commit, IDs in the given order, and returns each
// document's body by ID.
func loadDocs(t *testing.T, d *db, ids []string, size, batch int) map[string][]byte {
	t.Helper()
	bodies := make(map[string][]byte, len(ids))
	for first := 0; first < len(ids); first += batch {
		var pairs []engines.DocInfoPair
		for _, id := range ids[first:min(len(ids), first+batch)] {
			body := bytes.Repeat([]byte(id+" "), size/(len(id)+1)+1)[:size]
			ptr, active, err := d.WriteDocBody(body)
			if err != nil {
				t.Fatal(err)
			}
			seq := d.UpdateSeq() + uint64(len(pairs)) + 1
			bodies[id] = body
			pairs = append(pairs, engines.DocInfoPair{New: &engines.DocInfo{
				ID: id, UpdateSeq: seq, ActiveSize: active, ExternalSize: uint64(size),
				RevTree: engines.RevTree{{Start: 1, Root: &engines.RevNode{
					ID: fmt.Sprintf("%032x", seq), Value: &engines.RevValue{Ptr: ptr, Seq: seq, Size: uint64(size)},
				}}},
			}})
		}
		if err := d.WriteDocInfos(pairs, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return bodies
}

// readBack reads every document back through OpenDocs and ReadDocBody.
func readBack(t *testing.T, d *db, bodies map[string][]byte) {
	t.Helper()
	ids := make([]string, 0, len(bodies))
	for id := range bodies {
		ids = append(ids, id)
	}
	infos, err := d.OpenDocs(ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, di := range infos {
		if di == nil {
			t.Fatalf("doc %q missing", ids[i])
		}
		got, err := d.ReadDocBody(di.RevTree[0].Root.Value.Ptr)
		if err != nil {
			t.Fatalf("doc %q: %v", ids[i], err)
		}
		if !bytes.Equal(got, bodies[ids[i]]) {
			t.Fatalf("doc %q: body of %d bytes, want %d", ids[i], len(got), len(bodies[ids[i]]))
		}
	}
	if err := d.Check(); err != nil {
		t.Fatal(err)
	}
}

func seqIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return ids
}

// TestBlockCacheKeepsBlocks checks that the block cache still holds blocks
// once memtables have grown to their largest: Pebble charges them to the
// cache, and without the engine's allowance for them lookups found every
// block missing.
func TestBlockCacheKeepsBlocks(t *testing.T) {
	shared := pebble.NewCache(2 << 20)
	defer shared.Unref()
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"private", Options{CacheSize: 2 << 20, MemTableSize: 1 << 20}},
		{"shared", Options{Cache: shared, MemTableSize: 1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := New(tc.opts)
			edb, err := eng.Create(filepath.Join(t.TempDir(), "c.pebble"))
			if err != nil {
				t.Fatal(err)
			}
			defer edb.Close()
			d := edb.(*db)
			// Enough to grow the memtable to MemTableSize and flush a
			// few of that size.
			ids := seqIDs("doc", 6000)
			bodies := loadDocs(t, d, ids, 1024, 500)
			pdb := d.cur.Load().pdb
			if err := pdb.Flush(); err != nil {
				t.Fatal(err)
			}
			readBack(t, d, bodies)
			probe := ids[:200]
			for range 2 {
				if _, err := d.OpenDocs(probe); err != nil {
					t.Fatal(err)
				}
			}
			m := pdb.Metrics()
			if m.BlockCache.Hits == 0 {
				t.Fatalf("block cache: %d hits, %d misses, %d blocks held: the cache keeps nothing", m.BlockCache.Hits, m.BlockCache.Misses, m.BlockCache.Count)
			}
		})
	}
}
