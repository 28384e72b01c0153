package fs_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/couchfile"
	pebbleengine "github.com/couchfs/couchfs/engines/pebble"
	couchfs "github.com/couchfs/couchfs/fs"
)

// TestMemoryBoundedByCaches: the mount's memory is bounded by its caches,
// not by the number of documents. The same shell work — ls of the database
// and of _changes, reading every document, saving a fixed number — is done
// on a database of small and then of five times as many documents, and the
// live heap of the process (mount, dbcore and engine together) after each
// round may grow by far less than those extra documents would take if
// anything kept them.
func TestMemoryBoundedByCaches(t *testing.T) {
	if testing.Short() {
		t.Skip("loads and reads 30,000 documents per engine")
	}
	const (
		small, large = 6000, 30000
		// A listed or opened document kept anywhere costs more than this
		// (its id alone, an inode, a cached doc info); caches reach their
		// bounds in the small round already.
		perExtraDoc = 64
	)
	for _, engine := range []string{"couch", "pebble"} {
		t.Run(engine, func(t *testing.T) {
			requireFUSE(t)
			// Caches small enough to be full after the first round, so
			// that what they hold cannot pass for growth.
			e := &env{t: t, data: t.TempDir(), log: &syncBuffer{}, engines: []engines.Engine{
				couchfile.New(couchfile.Options{CacheBytes: 256 << 10}),
				pebbleengine.New(pebbleengine.Options{CacheSize: 1 << 20, MemTableSize: 1 << 20}),
			}}
			e.mount(couchfs.Options{MaxDocNodes: 2000})
			sh(t, "mkdir "+e.p("mem."+engine))
			db := e.db("mem")
			loaded, saved := 0, 0 // documents bulk-loaded, and saved through the mount
			round := func(n int) uint64 {
				load(t, db, loaded, n, func(i int) *dbcore.Doc {
					return &dbcore.Doc{ID: fmt.Sprintf("doc%06d", i), Body: fmt.Appendf(nil, `{"i":%d,"text":"%s"}`, i, strings.Repeat("x", 200))}
				})
				loaded = n
				want := fmt.Sprint(loaded + saved)
				if got := strings.TrimSpace(sh(t, "ls -f "+e.p("mem")+" | grep -c '[.]json$'")); got != want {
					t.Fatalf("ls lists %s documents, want %s", got, want)
				}
				if got := strings.TrimSpace(sh(t, "ls -f "+e.p("mem", "_changes")+" | grep -c '[.]json$'")); got != want {
					t.Fatalf("ls _changes lists %s documents, want %s", got, want)
				}
				// Every document, as grep -r would: the kernel keeps the
				// names it looked up, and the mount a node for each, up to
				// MaxDocNodes.
				for i := 0; i < loaded; i++ {
					if _, err := os.ReadFile(e.p("mem", fmt.Sprintf("doc%06d.json", i))); err != nil {
						t.Fatal(err)
					}
				}
				for i := 0; i < 200; i++ {
					if err := os.WriteFile(e.p("mem", fmt.Sprintf("new%d-%06d.json", n, i)), []byte(`{"new":true}`), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				saved += 200
				runtime.GC()
				runtime.GC()
				// HeapAlloc right after a collection is the live heap.
				// HeapInuse also counts the free slots of partly used
				// spans, which moved by a megabyte from run to run with
				// pebble (its L0 holding many small tables) while the
				// live heap did not.
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return ms.HeapAlloc
			}
			h1 := round(small)
			h2 := round(large)
			grown := int64(h2) - int64(h1)
			t.Logf("%s: live heap %.1f MB at %d documents, %.1f MB at %d (%+d bytes per extra document)",
				engine, float64(h1)/(1<<20), small, float64(h2)/(1<<20), large, grown/(large-small))
			if grown > perExtraDoc*(large-small) {
				t.Fatalf("the live heap grew by %d bytes for %d more documents: more than %d bytes each",
					grown, large-small, perExtraDoc)
			}
		})
	}
}

// TestDocNodesBounded: reading more documents than Options.MaxDocNodes —
// what grep -r over a large database does — leaves the kernel holding at
// most that many document nodes once it has forgotten the names the mount
// dropped, and every document still reads back.
func TestDocNodesBounded(t *testing.T) {
	const (
		docs = 3000
		max  = 500
	)
	e := mountT(t, couchfs.Options{MaxDocNodes: max})
	e.mkdb("many")
	load(t, e.db("many"), 0, docs, func(i int) *dbcore.Doc {
		return &dbcore.Doc{ID: fmt.Sprintf("doc%05d", i), Body: fmt.Appendf(nil, `{"i":%d}`, i)}
	})
	read := func() {
		for i := range docs {
			b, err := os.ReadFile(e.p("many", fmt.Sprintf("doc%05d.json", i)))
			if err != nil || !strings.Contains(string(b), fmt.Sprintf(`"i": %d`, i)) && !strings.Contains(string(b), fmt.Sprintf(`"i":%d`, i)) {
				t.Fatalf("doc%05d: %q, %v", i, b, err)
			}
		}
	}
	read()
	// The kernel forgets a dropped name's node asynchronously.
	live := e.h.LiveDocNodes("many")
	for deadline := time.Now().Add(10 * time.Second); live > max && time.Now().Before(deadline); live = e.h.LiveDocNodes("many") {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d documents read with MaxDocNodes %d: the kernel holds %d document nodes (FORGET requests: %d)",
		docs, max, live, e.h.Stats()["FORGET"])
	if live > max {
		t.Fatalf("the kernel holds %d document nodes, more than MaxDocNodes %d", live, max)
	}
	read() // dropped names are looked up again
}
