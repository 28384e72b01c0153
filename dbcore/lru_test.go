package dbcore_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
)

// TestLRU opens 20 databases with MaxDBsOpen 3: idle ones are closed least
// recently used first, a database with an open handle never is, and a
// closed one reopens with its data.
func TestLRU(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		const maxOpen, dbs = 3, 20
		dir := t.TempDir()
		ce := newCountingEngine(checked(t, ec))
		s := startServer(t, dbcore.Options{
			Dir: dir, Engines: []engines.Engine{ce}, DefaultEngine: ec.name,
			MaxDBsOpen: maxOpen, Logger: quietLogger,
		})
		name := func(i int) string { return fmt.Sprintf("db%02d", i) }
		path := func(i int) string { return filepath.Join(dir, name(i)+ce.Ext()) }
		checkOpen := func(limit int64, when string) {
			t.Helper()
			if n := ce.open.Load(); n > limit {
				t.Fatalf("%s: %d engine handles open, want at most %d", when, n, limit)
			}
		}
		// revs[i] is the current revision of db i's document "d".
		revs := make([]string, dbs)
		touch := func(db *dbcore.DB, i int) {
			t.Helper()
			if revs[i] != "" {
				d := mustGet(t, db, "d")
				if d.Rev != revs[i] {
					t.Fatalf("%s: d is %s, want %s", name(i), d.Rev, revs[i])
				}
			}
			revs[i] = update(t, db, "d", revs[i], fmt.Sprintf(`{"i":%d}`, i))
		}

		for i := range dbs {
			if err := s.CreateDB(name(i), ""); err != nil {
				t.Fatal(err)
			}
			db, err := s.OpenDB(name(i))
			if err != nil {
				t.Fatal(err)
			}
			touch(db, i)
			db.Close()
			checkOpen(maxOpen, "creating "+name(i))
		}
		if ce.closed(path(0)) == 0 {
			t.Fatal("the least recently used database was never closed")
		}

		// Two held handles survive every eviction.
		held := []*dbcore.DB{openDB(t, s, name(0)), openDB(t, s, name(1))}
		closes0, closes1 := ce.closed(path(0)), ce.closed(path(1))
		for i := 2; i < dbs; i++ {
			db, err := s.OpenDB(name(i))
			if err != nil {
				t.Fatal(err)
			}
			touch(db, i)
			db.Close()
			checkOpen(maxOpen, "with two handles held")
		}
		if ce.closed(path(0)) != closes0 || ce.closed(path(1)) != closes1 {
			t.Fatal("a database with an open handle was closed")
		}
		touch(held[0], 0)
		touch(held[1], 1)

		// More handles held than MaxDBsOpen: the bound gives way.
		var many []*dbcore.DB
		for i := 2; i < 7; i++ {
			db := openDB(t, s, name(i))
			touch(db, i)
			many = append(many, db)
		}
		if n := ce.open.Load(); n != 7 {
			t.Errorf("%d engine handles open with 7 databases in use", n)
		}
		for _, db := range append(many, held...) {
			touch(db, indexOf(t, db.Name()))
			db.Close()
		}
		db := openDB(t, s, name(10))
		touch(db, 10)
		db.Close()
		checkOpen(maxOpen, "after releasing the handles")

		// Every database reopens with everything written to it.
		for i := range dbs {
			db, err := s.OpenDB(name(i))
			if err != nil {
				t.Fatal(err)
			}
			touch(db, i)
			db.Close()
			checkOpen(maxOpen, "reopening "+name(i))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if n := ce.open.Load(); n != 0 {
			t.Errorf("%d engine handles open after Server.Close", n)
		}
	})
}

func indexOf(t *testing.T, name string) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(name, "db%02d", &i); err != nil {
		t.Fatalf("db name %q: %v", name, err)
	}
	return i
}

// TestLRUConcurrent opens, writes and closes 10 databases from 8 goroutines
// with MaxDBsOpen 3, so evictions race with opens; every write lands.
func TestLRUConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		const dbs, workers, ops = 10, 8, 25
		ce := newCountingEngine(checked(t, ec))
		s := startServer(t, dbcore.Options{
			Dir: t.TempDir(), Engines: []engines.Engine{ce}, DefaultEngine: ec.name,
			MaxDBsOpen: 3, Logger: quietLogger,
		})
		for i := range dbs {
			if err := s.CreateDB(fmt.Sprintf("db%02d", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		// revs[w][i]: worker w's document in db i.
		revs := make([][]string, workers)
		var wg sync.WaitGroup
		for w := range workers {
			revs[w] = make([]string, dbs)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range ops {
					i := (w*7 + k*3) % dbs
					db, err := s.OpenDB(fmt.Sprintf("db%02d", i))
					if err != nil {
						t.Errorf("OpenDB: %v", err)
						return
					}
					r, err := tryUpdate(db, &dbcore.Doc{ID: fmt.Sprintf("w%d", w), Rev: revs[w][i], Body: fmt.Appendf(nil, `{"k":%d}`, k)}, dbcore.UpdateOptions{})
					db.Close()
					if err != nil {
						t.Errorf("update: %v", err)
						return
					}
					revs[w][i] = r
				}
			}()
		}
		wg.Wait()
		for i := range dbs {
			db := openDB(t, s, fmt.Sprintf("db%02d", i))
			for w := range workers {
				if revs[w][i] == "" {
					continue
				}
				if d := mustGet(t, db, fmt.Sprintf("w%d", w)); d.Rev != revs[w][i] {
					t.Errorf("db%02d/w%d = %s, want %s", i, w, d.Rev, revs[w][i])
				}
			}
			db.Close()
		}
		if n := ce.open.Load(); n > 3 {
			t.Errorf("%d engine handles open once idle", n)
		}
	})
}
