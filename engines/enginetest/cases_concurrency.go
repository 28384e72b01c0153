package enginetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/couchfs/couchfs/engines"
)

// concurrencyCases run readers on other goroutines while the updater writes
// (and compacts, when the engine can): every fold must see one consistent
// state, committed or later, never a half-applied write.
func concurrencyCases(p *env) []testCase {
	cs := []testCase{
		{"readers_during_writes", func(e *env) {
			withReaders(e, true, func() {
				for i := range 40 {
					var ops []op
					for j := range 10 {
						ops = append(ops, put(fmt.Sprintf("doc-%04d", i*10+j), fmt.Sprintf(`{"i":%d}`, j)))
					}
					if i > 0 {
						ops = append(ops, put(fmt.Sprintf("doc-%04d", i*7%(i*10)), `{"updated":true}`))
					}
					e.w.apply(ops...)
				}
			})
		}},
	}
	if p.caps.compacter {
		cs = append(cs, testCase{"readers_during_compaction", func(e *env) {
			fill(e, 200)
			withReaders(e, false, func() {
				c := startAndWait(e)
				for i := range 10 {
					e.w.apply(put(fmt.Sprintf("doc-%04d", i+1), `{"during":true}`), put(fmt.Sprintf("new-%02d", i), `{}`))
				}
				if err := c.Finish(); err != nil {
					e.t.Fatalf("Finish: %v", err)
				}
				for i := range 10 {
					e.w.apply(put(fmt.Sprintf("doc-%04d", i+100), `{"after":true}`))
				}
			})
		}})
	}
	return cs
}

// withReaders runs write on the calling goroutine (the updater) while three
// readers fold, open and count; each reader makes at least one full pass.
// readBodies also reads every winner's body, which is only safe while no
// compaction swaps files under the reader.
func withReaders(e *env, readBodies bool, write func()) {
	e.t.Helper()
	db := e.db
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			var last readerView
			for {
				v, err := readerPass(db, readBodies)
				if err == nil {
					err = v.follows(last)
				}
				if err != nil {
					errs <- err
					return
				}
				last = v
				if stop.Load() {
					return
				}
			}
		})
	}
	write()
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Error(err)
	}
}

// readerView is what one reader pass saw; the next pass must see the same
// or a later state.
type readerView struct {
	updateSeq, docs, changes uint64
}

func (v readerView) follows(prev readerView) error {
	if v.updateSeq < prev.updateSeq || v.docs < prev.docs || v.changes < prev.changes {
		return fmt.Errorf("reader went back in time: %+v after %+v", v, prev)
	}
	return nil
}

func readerPass(db engines.DB, readBodies bool) (readerView, error) {
	var v readerView
	v.updateSeq = db.UpdateSeq()
	last := ""
	var ids []string
	err := db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
		if di.ID <= last && v.docs > 0 {
			return fmt.Errorf("FoldDocs: %q after %q", di.ID, last)
		}
		last = di.ID
		v.docs++
		ids = append(ids, di.ID)
		if len(di.RevTree) == 0 {
			return fmt.Errorf("FoldDocs: %q has an empty rev tree", di.ID)
		}
		if readBodies {
			w := leaves(di.RevTree)[0]
			if _, err := db.ReadDocBody(w.value.Ptr); err != nil {
				return fmt.Errorf("ReadDocBody for %q: %w", di.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return v, err
	}
	var lastSeq uint64
	seen := map[string]bool{}
	err = db.FoldChanges(0, func(di *engines.DocInfo) error {
		if di.UpdateSeq <= lastSeq || seen[di.ID] {
			return fmt.Errorf("FoldChanges: %s after seq %d (seen before: %v)", changeKey(di), lastSeq, seen[di.ID])
		}
		lastSeq = di.UpdateSeq
		seen[di.ID] = true
		v.changes++
		return nil
	})
	if err != nil {
		return v, err
	}
	if v.changes < v.docs {
		// Documents are only added in these cases, so the later fold
		// sees at least as many.
		return v, fmt.Errorf("FoldChanges saw %d docs after FoldDocs saw %d", v.changes, v.docs)
	}
	if len(ids) > 0 {
		dis, err := db.OpenDocs([]string{ids[0], ids[len(ids)/2], ids[len(ids)-1]})
		if err != nil {
			return v, err
		}
		if dis[0] == nil || dis[1] == nil || dis[2] == nil {
			return v, errors.New("OpenDocs misses a document a fold visited")
		}
	}
	return v, nil
}
