package pebble_test

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/pebble"
)

// stripped is m's view as a compaction leaves it: interior revisions
// without values.
func (m *model) stripped() view {
	c := m.clone()
	for id, di := range c.docs {
		cp := *di
		cp.RevTree = nil
		for _, br := range di.RevTree {
			cp.RevTree = append(cp.RevTree, engines.RevBranch{Start: br.Start, Root: stripNode(br.Root)})
		}
		c.docs[id] = &cp
	}
	return c.view()
}

func stripNode(n *engines.RevNode) *engines.RevNode {
	c := &engines.RevNode{ID: n.ID, Value: n.Value}
	if len(n.Children) > 0 {
		c.Value = nil
	}
	for _, k := range n.Children {
		c.Children = append(c.Children, stripNode(k))
	}
	return c
}

func waitDone(t *testing.T, c engines.Compaction) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("compaction not done after 20s")
	}
	must(t, c.Err())
}

// TestCompactionWithConcurrentWrites keeps committing while the copy runs;
// Finish must keep every write.
func TestCompactionWithConcurrentWrites(t *testing.T) {
	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 7))
		eng := pebble.New(pebble.Options{FS: vfs.NewMem()})
		db, err := eng.Create("/db.pebble")
		must(t, err)
		m := newModel()
		for range 40 {
			m.randomBatch(t, db, r, 10)
			must(t, db.Commit())
		}
		c, err := db.(engines.Compacter).StartCompaction()
		must(t, err)
		for i := 0; i < 20; i++ {
			m.randomBatch(t, db, r, 10)
			must(t, db.Commit())
		}
		waitDone(t, c)
		m.randomBatch(t, db, r, 10) // applied but not committed: Finish commits it
		must(t, c.Finish())
		check(t, db)
		if got, want := capture(t, db), m.stripped(); !equalViews(got, want) {
			t.Fatalf("seed %d: after compaction %v\nwant %v", seed, got, want)
		}
		for ptr, body := range m.bodies {
			if !isLeafPtr(m, ptr) {
				continue
			}
			got, err := db.ReadDocBody(ptr)
			if err != nil || string(got) != body {
				t.Fatalf("seed %d: body %d = %q, %v; want %q", seed, ptr, got, err, body)
			}
		}
		must(t, db.Close())
		db, err = eng.Open("/db.pebble")
		must(t, err)
		check(t, db)
		if got, want := capture(t, db), m.stripped(); !equalViews(got, want) {
			t.Fatalf("seed %d: after reopen %v\nwant %v", seed, got, want)
		}
		must(t, db.Close())
	}
}

func isLeafPtr(m *model, ptr uint64) bool {
	for _, di := range m.docs {
		for n := di.RevTree[0].Root; n != nil; {
			if len(n.Children) == 0 {
				if n.Value.Ptr == ptr {
					return true
				}
				break
			}
			n = n.Children[0]
		}
	}
	return false
}

// TestReaderSpansCompactionSwitch: a fold that started on the old
// generation finishes on it after Finish switched, and the old generation's
// directory goes once the fold returns.
func TestReaderSpansCompactionSwitch(t *testing.T) {
	fs := vfs.NewMem()
	db, err := pebble.New(pebble.Options{FS: fs}).Create("/db.pebble")
	must(t, err)
	defer db.Close()
	m := newModel()
	var pairs []engines.DocInfoPair
	for _, id := range []string{"a", "b", "c"} {
		pairs = append(pairs, m.put(t, db, id, false))
	}
	must(t, db.WriteDocInfos(pairs, nil, nil))
	must(t, db.Commit())
	c, err := db.(engines.Compacter).StartCompaction()
	must(t, err)
	waitDone(t, c)

	inFold, switched, folded := make(chan struct{}), make(chan struct{}), make(chan []string)
	go func() {
		var ids []string
		err := db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
			if len(ids) == 0 {
				close(inFold)
				<-switched
			}
			ids = append(ids, di.ID)
			return nil
		})
		if err != nil {
			ids = append(ids, "error: "+err.Error())
		}
		folded <- ids
	}()
	<-inFold
	must(t, c.Finish())
	if names, _ := fs.List("/db.pebble"); !slices.Contains(names, "gen-1") {
		t.Fatalf("old generation removed while a fold still reads it: %v", names)
	}
	close(switched)
	if ids := <-folded; !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("fold across the switch saw %v", ids)
	}
	names, _ := fs.List("/db.pebble")
	slices.Sort(names)
	if !slices.Equal(names, []string{"GENERATION", "gen-2"}) {
		t.Fatalf("after the last reader of the old generation left: %v", names)
	}
	if got, want := capture(t, db), m.stripped(); !equalViews(got, want) {
		t.Fatalf("after the switch %v, want %v", got, want)
	}
}

// TestCrashAroundCompactionSwitch: a crash image taken before Finish opens
// the old generation and discards the copy; one taken after Finish opens
// the compacted one and discards the old.
func TestCrashAroundCompactionSwitch(t *testing.T) {
	fs := vfs.NewCrashableMem()
	eng := pebble.New(pebble.Options{FS: fs})
	db, err := eng.Create("/db.pebble")
	must(t, err)
	defer db.Close()
	r := rand.New(rand.NewPCG(3, 3))
	m := newModel()
	for range 20 {
		m.randomBatch(t, db, r, 6)
		must(t, db.Commit())
	}
	c, err := db.(engines.Compacter).StartCompaction()
	must(t, err)
	waitDone(t, c)
	images := map[string]*vfs.MemFS{"before Finish": fs.CrashClone(vfs.CrashCloneCfg{})}
	wants := map[string]view{"before Finish": m.view()}
	must(t, c.Finish())
	images["after Finish"] = fs.CrashClone(vfs.CrashCloneCfg{})
	wants["after Finish"] = m.stripped()
	for _, name := range slices.Sorted(maps.Keys(images)) {
		img := images[name]
		cdb, err := pebble.New(pebble.Options{FS: img}).Open("/db.pebble")
		if err != nil {
			t.Fatalf("%s: Open: %v", name, err)
		}
		check(t, cdb)
		if got := capture(t, cdb); !equalViews(got, wants[name]) {
			t.Fatalf("%s: %v, want %v", name, got, wants[name])
		}
		must(t, cdb.Close())
		names, _ := img.List("/db.pebble")
		if len(names) != 2 {
			t.Fatalf("%s: leftovers after Open: %v", name, names)
		}
	}
}
