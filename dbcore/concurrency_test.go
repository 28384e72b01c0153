package dbcore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/dbcore/revtree"
	"github.com/couchfs/couchfs/engines"
)

// TestConcurrentUpdates has 24 goroutines increment counters in 6 shared
// documents by read-modify-write, retrying on conflict, while each also
// creates documents of its own and a reader folds everything. Since every
// update names the revision it read, no increment can be lost: a
// document's counter equals the number of acknowledged increments, its
// winning revision sits at that number + 1 (the create is 1), its history
// is one branch with exactly one acknowledged revision per position, and
// every acknowledged revision is stored with the body written.
func TestConcurrentUpdates(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		const (
			writers    = 24
			shared     = 6
			increments = 4 // per writer
		)
		db := newDB(t, ec)
		for k := range shared {
			update(t, db, sharedID(k), "", `{"n":0}`)
		}
		type ack struct {
			rev, body string
			n         int
		}
		var (
			mu        sync.Mutex
			acks      = map[string][]ack{}
			conflicts atomic.Int64
			wg        sync.WaitGroup
			done      = make(chan struct{})
		)
		// A reader runs beside the writers.
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := db.Changes(0, 0, func(dbcore.Change) error { return nil }); err != nil {
					t.Errorf("Changes: %v", err)
					return
				}
				if err := db.AllDocs(engines.FoldOptions{}, func(dbcore.DocRow) error { return nil }); err != nil {
					t.Errorf("AllDocs: %v", err)
					return
				}
				if _, err := db.Get(sharedID(0)); err != nil {
					t.Errorf("Get: %v", err)
					return
				}
			}
		}()
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range increments {
					id := sharedID((w + i) % shared)
					for {
						d, err := db.Get(id)
						if err != nil {
							t.Errorf("Get(%s): %v", id, err)
							return
						}
						var body struct{ N int }
						if err := json.Unmarshal(d.Body, &body); err != nil {
							t.Errorf("%s body %s: %v", id, d.Body, err)
							return
						}
						n := body.N + 1
						nb := fmt.Sprintf(`{"n":%d,"by":%d}`, n, w)
						r, err := tryUpdate(db, &dbcore.Doc{ID: id, Rev: d.Rev, Body: []byte(nb)}, dbcore.UpdateOptions{})
						if errors.Is(err, dbcore.ErrConflict) {
							conflicts.Add(1)
							continue
						}
						if err != nil {
							t.Errorf("update %s: %v", id, err)
							return
						}
						mu.Lock()
						acks[id] = append(acks[id], ack{r, nb, n})
						mu.Unlock()
						break
					}
					own := fmt.Sprintf("own-%02d-%d", w, i)
					if _, err := db.SaveJSON(own, fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i), ""); err != nil {
						t.Errorf("SaveJSON(%s): %v", own, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(done)
		<-readerDone
		if t.Failed() {
			return
		}
		t.Logf("%d conflicts retried", conflicts.Load())

		total := 0
		for k := range shared {
			id := sharedID(k)
			as := acks[id]
			total += len(as)
			d := mustGet(t, db, id)
			var body struct{ N int }
			if err := json.Unmarshal(d.Body, &body); err != nil {
				t.Fatal(err)
			}
			if body.N != len(as) {
				t.Errorf("%s: counter %d after %d acknowledged increments (lost update)", id, body.N, len(as))
			}
			if p := revPos(t, d.Rev); p != uint64(len(as))+1 {
				t.Errorf("%s: winner at position %d after %d increments", id, p, len(as))
			}
			if len(d.Conflicts) != 0 {
				t.Errorf("%s: conflicts %q", id, d.Conflicts)
			}
			di := mustDocInfo(t, db, id)
			if len(di.RevTree) != 1 || len(revtree.Leaves(di.RevTree)) != 1 {
				t.Errorf("%s: %d branches, %d leaves; want one of each", id, len(di.RevTree), len(revtree.Leaves(di.RevTree)))
			}
			seen := map[uint64]bool{}
			for _, a := range as {
				p := revPos(t, a.rev)
				if seen[p] {
					t.Errorf("%s: two acknowledged revisions at position %d", id, p)
				}
				seen[p] = true
				if p != uint64(a.n)+1 {
					t.Errorf("%s: revision %s carries counter %d", id, a.rev, a.n)
				}
				g, err := db.GetRev(id, a.rev)
				if err != nil || string(g.Body) != a.body {
					t.Errorf("%s: acknowledged revision %s: %+v, %v", id, a.rev, g, err)
				}
			}
		}
		if total != writers*increments {
			t.Errorf("%d increments acknowledged, want %d", total, writers*increments)
		}
		for w := range writers {
			for i := range increments {
				d := mustGet(t, db, fmt.Sprintf("own-%02d-%d", w, i))
				if string(d.Body) != fmt.Sprintf(`{"w":%d,"i":%d}`, w, i) {
					t.Errorf("own doc %s = %s", d.ID, d.Body)
				}
			}
		}
		info := mustInfo(t, db)
		if want := uint64(shared + writers*increments); info.DocCount != want {
			t.Errorf("doc_count %d, want %d", info.DocCount, want)
		}
		// Every acknowledged write took one sequence, shared docs one per
		// increment: the feed has one row per doc, ending at update_seq.
		if want := uint64(shared + total + writers*increments); info.UpdateSeq != want {
			t.Errorf("update_seq %d, want %d", info.UpdateSeq, want)
		}
	})
}

func sharedID(k int) string { return fmt.Sprintf("shared-%d", k) }

// TestGroupCommit: 32 concurrent writers of distinct documents share
// commits. The counting engine makes each commit take 2 ms, as an fsync
// does, and counts them.
func TestGroupCommit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		const writers, each = 32, 8
		ce := newCountingEngine(checked(t, ec))
		ce.commitDelay = 2 * time.Millisecond
		opts := serverOptions(t, t.TempDir(), ec)
		opts.Engines = []engines.Engine{ce}
		db := createDB(t, startServer(t, opts), "db")
		base, stats := ce.commits.Load(), db.CommitStats()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if _, err := tryUpdate(db, &dbcore.Doc{ID: fmt.Sprintf("w%02d-%d", w, i), Body: []byte(`{}`)}, dbcore.UpdateOptions{}); err != nil {
						t.Errorf("write: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		commits := ce.commits.Load() - base
		writes := int64(writers * each)
		t.Logf("%d writes in %d commits", writes, commits)
		if commits*4 > writes {
			t.Errorf("%d writes took %d commits: writers are not grouped", writes, commits)
		}
		got := db.CommitStats()
		if got.Commits-stats.Commits != uint64(commits) || got.Requests-stats.Requests != uint64(writes) {
			t.Errorf("CommitStats went from %+v to %+v over %d writes in %d commits", stats, got, writes, commits)
		}
		info := mustInfo(t, db)
		if info.DocCount != uint64(writes) || info.UpdateSeq != uint64(writes) {
			t.Errorf("info %+v after %d writes", info, writes)
		}
		seqs := map[uint64]bool{}
		for _, c := range changes(t, db, 0, 0) {
			if seqs[c.Seq] {
				t.Errorf("seq %d given twice", c.Seq)
			}
			seqs[c.Seq] = true
		}
		if len(seqs) != int(writes) {
			t.Errorf("%d changes rows", len(seqs))
		}
	})
}

// TestRequestsBehindAGroup queues, behind a held commit, an update, a
// setter and another update: the first update's group ends at the setter,
// and the setter and the last update are still served, in that order.
func TestRequestsBehindAGroup(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		ce := newCountingEngine(checked(t, ec))
		ce.commitDelay = 50 * time.Millisecond
		opts := serverOptions(t, t.TempDir(), ec)
		opts.Engines = []engines.Engine{ce}
		db := createDB(t, startServer(t, opts), "db")
		done := make(chan string, 4)
		update := func(id string) {
			if _, err := tryUpdate(db, &dbcore.Doc{ID: id, Body: []byte(`{}`)}, dbcore.UpdateOptions{}); err != nil {
				t.Errorf("update %s: %v", id, err)
			}
			done <- id
		}
		go update("a") // its commit holds the updater
		time.Sleep(10 * time.Millisecond)
		go update("b")
		time.Sleep(5 * time.Millisecond)
		go func() {
			if err := db.SetRevsLimit(7); err != nil {
				t.Errorf("SetRevsLimit: %v", err)
			}
			done <- "limit"
		}()
		time.Sleep(5 * time.Millisecond)
		go update("c")
		var order []string
		for range 4 {
			select {
			case id := <-done:
				order = append(order, id)
			case <-time.After(5 * time.Second):
				t.Fatalf("after %v, the rest were never answered", order)
			}
		}
		if got := db.RevsLimit(); got != 7 {
			t.Errorf("revs limit %d, want 7", got)
		}
		if slices.Index(order, "limit") > slices.Index(order, "c") {
			t.Errorf("answered in the order %v: the setter queued before c", order)
		}
		for _, id := range []string{"a", "b", "c"} {
			if _, err := db.Get(id); err != nil {
				t.Errorf("Get %s: %v", id, err)
			}
		}
	})
}

// TestGroupAllOrNothing queues four requests behind a held commit, so the
// updater merges them in one group:
//
//	A: d r1 → rA
//	B: all-or-nothing [d rA → rB, create e (exists: conflict)]
//	C: d rB → … (must conflict: B was rolled back)
//	D: d rA → rD (must succeed: d's leaf is still rA)
//
// Revision ids are deterministic, so rA and rB are known in advance.
func TestGroupAllOrNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		for attempt := 1; ; attempt++ {
			grouped := groupAllOrNothing(t, ec)
			if grouped || t.Failed() {
				return
			}
			if attempt == 5 {
				t.Fatal("the four requests never landed in one group in order")
			}
			t.Logf("attempt %d: requests were not grouped; again", attempt)
		}
	})
}

func groupAllOrNothing(t *testing.T, ec engineCase) (grouped bool) {
	ce := newCountingEngine(checked(t, ec))
	entered, release := make(chan struct{}), make(chan struct{})
	var hold atomic.Bool
	ce.beforeCommit = func() {
		if hold.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
	}
	opts := serverOptions(t, t.TempDir(), ec)
	opts.Engines = []engines.Engine{ce}
	db := createDB(t, startServer(t, opts), "db")
	r1 := update(t, db, "d", "", `{"v":1}`)
	update(t, db, "e", "", `{}`)
	rA := nextRev(t, r1, `{"by":"A"}`)
	rB := nextRev(t, rA, `{"by":"B"}`)
	rD := nextRev(t, rA, `{"by":"D"}`)

	hold.Store(true)
	blocker := make(chan error, 1)
	go func() {
		_, err := tryUpdate(db, &dbcore.Doc{ID: "blocker"}, dbcore.UpdateOptions{})
		blocker <- err
	}()
	<-entered
	base := ce.commits.Load()

	reqs := []struct {
		docs []*dbcore.Doc
		opts dbcore.UpdateOptions
	}{
		{[]*dbcore.Doc{{ID: "d", Rev: r1, Body: []byte(`{"by":"A"}`)}}, dbcore.UpdateOptions{}},
		{[]*dbcore.Doc{{ID: "d", Rev: rA, Body: []byte(`{"by":"B"}`)}, {ID: "e", Body: []byte(`{}`)}}, dbcore.UpdateOptions{AllOrNothing: true}},
		{[]*dbcore.Doc{{ID: "d", Rev: rB, Body: []byte(`{"by":"C"}`)}}, dbcore.UpdateOptions{}},
		{[]*dbcore.Doc{{ID: "d", Rev: rA, Body: []byte(`{"by":"D"}`)}}, dbcore.UpdateOptions{}},
	}
	results := make([][]dbcore.UpdateResult, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := db.UpdateDocs(r.docs, r.opts)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			results[i] = res
		}()
		// Queue them in order: each goroutine only has to validate one
		// small document before queueing.
		time.Sleep(15 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if err := <-blocker; err != nil {
		t.Fatalf("blocker: %v", err)
	}
	if t.Failed() {
		return true
	}
	// The blocker's commit completes after release, then one more.
	if n := ce.commits.Load() - base; n != 2 {
		t.Logf("%d commits after the blocker's", n-1)
		return false
	}
	// D queued before A (a goroutine 45 ms late) makes D conflict: not the
	// order this test needs, try again. A rollback bug that makes D fail
	// every time still fails the test, after the last attempt.
	if errors.Is(results[3][0].Err, dbcore.ErrConflict) && results[2][0].Err != nil {
		t.Logf("D conflicted: requests queued out of order?")
		return false
	}
	check := func(what string, res dbcore.UpdateResult, want error, rev string) {
		t.Helper()
		if want == nil && (res.Err != nil || res.Rev != rev) {
			t.Errorf("%s = %+v, want rev %s", what, res, rev)
		}
		if want != nil && (!errors.Is(res.Err, want) || res.Rev != "") {
			t.Errorf("%s = %+v, want %v", what, res, want)
		}
	}
	check("A", results[0][0], nil, rA)
	check("B's d", results[1][0], dbcore.ErrConflict, "")
	check("B's e", results[1][1], dbcore.ErrConflict, "")
	check("C", results[2][0], dbcore.ErrConflict, "")
	check("D", results[3][0], nil, rD)

	if got := mustGet(t, db, "d"); got.Rev != rD || string(got.Body) != `{"by":"D"}` || len(got.Conflicts) != 0 {
		t.Errorf("d = %s %s conflicts %q", got.Rev, got.Body, got.Conflicts)
	}
	_, err := db.GetRev("d", rB)
	wantErr(t, "GetRev of the rolled-back revision", err, dbcore.ErrNotFound)
	if d, err := db.GetRev("d", rA); err != nil || string(d.Body) != `{"by":"A"}` {
		t.Errorf("GetRev(rA) = %+v, %v", d, err)
	}
	di := mustDocInfo(t, db, "d")
	if len(revtree.Leaves(di.RevTree)) != 1 {
		t.Errorf("d has %d leaves", len(revtree.Leaves(di.RevTree)))
	}
	// The group took one sequence for d (A and D), none for e; the
	// blocker took its own.
	if n := db.UpdateSeq(); n != 4 {
		t.Errorf("update_seq %d, want 4", n)
	}
	return true
}

// nextRev is the revision an interactive edit of parent ("" for a create)
// with a compact body makes.
func nextRev(t *testing.T, parent, body string) string {
	t.Helper()
	var p engines.Rev
	if parent != "" {
		p = mustParseRev(t, parent)
	}
	return rev(p.Pos+1, revtree.NewRevID(false, p, []byte(body)))
}

// TestCloseAndDeleteWithWritersInFlight: Server.Close and DeleteDB with 16
// writers running end every writer with an error rather than a hang, and
// after Close every acknowledged write is on disk.
func TestCloseAndDeleteWithWritersInFlight(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		for _, op := range []string{"close", "delete"} {
			dir := t.TempDir()
			opts := serverOptions(t, dir, ec)
			s := startServer(t, opts)
			db := createDB(t, s, "db")
			const writers = 16
			var (
				mu    sync.Mutex
				acked []string
				wg    sync.WaitGroup
				ends  = make(chan error, writers)
			)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						id := fmt.Sprintf("w%02d-%04d", w, i)
						if _, err := tryUpdate(db, &dbcore.Doc{ID: id}, dbcore.UpdateOptions{}); err != nil {
							ends <- err
							return
						}
						mu.Lock()
						acked = append(acked, id)
						mu.Unlock()
					}
				}()
			}
			waitSeq(t, db, 64)
			var err error
			if op == "close" {
				err = s.Close()
			} else {
				err = s.DeleteDB("db", false)
			}
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			select {
			case <-finished:
			case <-testContext(t, 20*time.Second).Done():
				t.Fatalf("%s: writers still blocked", op)
			}
			close(ends)
			for err := range ends {
				if !errors.Is(err, dbcore.ErrDBNotFound) && !errors.Is(err, dbcore.ErrClosed) {
					t.Errorf("%s: writer ended with %v", op, err)
				}
			}
			db.Close()
			if op == "delete" {
				if ok, err := s.Exists("db"); ok || err != nil {
					t.Errorf("Exists after delete with writers: %v, %v", ok, err)
				}
				continue
			}
			db = openDB(t, startServer(t, opts), "db")
			for _, id := range acked {
				if _, err := db.Get(id); err != nil {
					t.Fatalf("acknowledged %s lost: %v", id, err)
				}
			}
			if info := mustInfo(t, db); info.DocCount != uint64(len(acked)) {
				t.Errorf("%d docs on disk, %d acknowledged", info.DocCount, len(acked))
			}
		}
	})
}
