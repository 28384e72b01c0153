package pebble_test

import (
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/couchfs/couchfs/engines/pebble"
)

// TestCrashRecovery commits batches on a crashable in-memory file system and
// takes crash images at random points, some with a batch applied but not
// committed. Reopened, every image must show exactly the last commit that
// returned before it was taken, or that commit plus the uncommitted batch
// whole: never a lost commit, never half a batch.
func TestCrashRecovery(t *testing.T) {
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 99))
		fs := vfs.NewCrashableMem()
		eng := pebble.New(pebble.Options{FS: fs})
		const path = "/db.pebble"
		db, err := eng.Create(path)
		must(t, err)
		m := newModel()
		for round := range 30 {
			m.randomBatch(t, db, r, 8)
			must(t, db.Commit())
			committed := m.view()
			allowed := []string{"committed"}
			views := []view{committed}
			if r.IntN(3) == 0 {
				m.randomBatch(t, db, r, 8) // applied, not yet committed
				views = append(views, m.view())
				allowed = append(allowed, "committed+pending")
			}
			if r.IntN(3) != 0 {
				continue
			}
			img := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: r.IntN(101), RNG: r})
			cdb, err := pebble.New(pebble.Options{FS: img}).Open(path)
			if err != nil {
				t.Fatalf("seed %d round %d: open crash image: %v", seed, round, err)
			}
			check(t, cdb)
			got := capture(t, cdb)
			ok := false
			for _, v := range views {
				ok = ok || equalViews(got, v)
			}
			if !ok {
				t.Fatalf("seed %d round %d: crash image shows %v\nwant one of %v: %v", seed, round, got, allowed, views)
			}
			must(t, cdb.Close())
			must(t, db.Commit())
		}
		must(t, db.Close())
	}
}

// TestCrashDuringCreateAndDelete: an interrupted Create or Delete leaves
// nothing that Exists or Open accepts, and Create succeeds over it.
func TestCrashDuringCreateAndDelete(t *testing.T) {
	fs := vfs.NewMem()
	eng := pebble.New(pebble.Options{FS: fs})
	const path = "/db.pebble"
	for _, leftover := range []string{path + "/gen-1", path + ".trash/gen-1"} {
		must(t, fs.MkdirAll(leftover, 0o755))
		if ok, err := eng.Exists(path); err != nil || ok {
			t.Fatalf("leftover %s: Exists = %v, %v", leftover, ok, err)
		}
		if _, err := eng.Open(path); err == nil {
			t.Fatalf("leftover %s: Open succeeded", leftover)
		}
		db, err := eng.Create(path)
		must(t, err)
		must(t, db.Close())
		must(t, eng.Delete(path))
		if names, _ := fs.List("/"); len(names) != 0 {
			t.Fatalf("after Delete the file system holds %v", names)
		}
	}
}
