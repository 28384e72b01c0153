package dbcore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/dbcore/revtree"
	"github.com/couchfs/couchfs/engines"
)

// The updater keeps the doc infos it commits (docCache) and hands them to
// the engine as the Old of the next write of the same document. Engines
// refuse an Old that differs from what they store, so a stale entry shows
// as a failed save; these tests rewrite cached documents after everything
// that changes stored doc infos behind a plain update.

// leafRevs returns the leaves of a document's stored tree, winner first.
func leafRevs(t *testing.T, db *dbcore.DB, id string) []string {
	t.Helper()
	di, err := db.DocInfo(id)
	if err != nil {
		t.Fatalf("DocInfo(%q): %v", id, err)
	}
	var out []string
	for _, l := range revtree.LeafRevs(di.RevTree) {
		out = append(out, revtree.FormatRev(l.Rev))
	}
	return out
}

func TestDocCacheAfterFailedCommit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		fe := &faultEngine{Engine: checked(t, ec)}
		opts := serverOptions(t, t.TempDir(), ec)
		opts.Engines = []engines.Engine{fe}
		db := createDB(t, startServer(t, opts), "db")
		r1 := update(t, db, "a", "", `{"v":1}`)
		r2 := update(t, db, "a", r1, `{"v":2}`)

		// The failed group also read and merged b, which was never stored.
		fe.failCommits.Store(1)
		_, err := db.UpdateDocs([]*dbcore.Doc{{ID: "a", Rev: r2, Body: []byte(`{"v":3}`)}, {ID: "b"}}, dbcore.UpdateOptions{})
		wantErr(t, "update with a failing commit", err, errInjected)

		// Editing r2 again works and makes a one-branch history.
		r3 := update(t, db, "a", r2, `{"v":"3 again"}`)
		if got := leafRevs(t, db, "a"); len(got) != 1 || got[0] != r3 || revPos(t, r3) != 3 {
			t.Fatalf("leaves of a = %v, want [%s] at position 3", got, r3)
		}
		// The uncommitted b is new again.
		update(t, db, "b", "", `{}`)
		update(t, db, "a", r3, `{"v":4}`)
	})
}

func TestDocCacheAfterPurge(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		// a: 1 → 2, and a replicated conflict 2-x on 1.
		r1 := update(t, db, "a", "", `{"v":1}`)
		r2 := update(t, db, "a", r1, `{"v":2}`)
		p1, _ := revtree.ParseRev(r1)
		x := rev(2, hexRev("f"))
		replicate(t, db, "a", x, []string{hexRev("f"), p1.ID}, false, `{"v":"x"}`)
		// b: purged completely.
		update(t, db, "b", update(t, db, "b", "", `{}`), `{"v":2}`)
		rb := mustGet(t, db, "b").Rev

		if _, err := db.Purge(map[string][]string{"a": {r2}, "b": {rb}}); err != nil {
			t.Fatal(err)
		}
		if got := leafRevs(t, db, "a"); len(got) != 1 || got[0] != x {
			t.Fatalf("leaves of a after the purge = %v, want [%s]", got, x)
		}
		// a is edited from its remaining leaf; b is created anew.
		r3 := update(t, db, "a", x, `{"v":3}`)
		if d := mustGet(t, db, "a"); d.Rev != r3 || len(d.Conflicts) != 0 {
			t.Fatalf("a = %s %v, want %s without conflicts", d.Rev, d.Conflicts, r3)
		}
		if nb := update(t, db, "b", "", `{"new":true}`); revPos(t, nb) != 1 {
			t.Fatalf("b recreated as %s, want a first revision", nb)
		}
	})
}

func TestDocCacheAfterCompaction(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		ge := newGatedEngine(checked(t, ec))
		opts := serverOptions(t, t.TempDir(), ec)
		opts.Engines = []engines.Engine{ge}
		db := createDB(t, startServer(t, opts), "db")
		ra := update(t, db, "a", "", `{"v":1}`)
		for i := range 3 {
			ra = update(t, db, "a", ra, `{"v":`+string(rune('2'+i))+`}`)
		}
		if err := db.Compact(); err != nil {
			if errors.Is(err, dbcore.ErrInvalidArgument) {
				t.Skipf("the %s engine does not compact", ec.name)
			}
			t.Fatal(err)
		}
		// Edits made while the copy runs are cached with the old file's
		// places for their bodies; the swap moves them.
		ra = update(t, db, "a", ra, `{"during":1}`)
		rb := update(t, db, "b", "", `{"during":2}`)
		close(ge.gate)
		if err := db.WaitCompaction(testContext(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if mustInfo(t, db).CompactRunning {
			t.Fatal("compaction still running")
		}
		ra = update(t, db, "a", ra, `{"after":1}`)
		rb = update(t, db, "b", rb, `{"after":2}`)
		if d := mustGet(t, db, "a"); d.Rev != ra || string(d.Body) != `{"after":1}` {
			t.Fatalf("a = %s %s", d.Rev, d.Body)
		}
		if d := mustGet(t, db, "b"); d.Rev != rb {
			t.Fatalf("b = %s, want %s", d.Rev, rb)
		}
	})
}

func TestDocCacheReplicatedEdits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		r1 := update(t, db, "a", "", `{"v":1}`)
		r2 := update(t, db, "a", r1, `{"v":2}`)
		p1, _ := revtree.ParseRev(r1)
		p2, _ := revtree.ParseRev(r2)
		// Extending the cached leaf, then the same edit again (a no-op
		// that must leave the cached tree as stored).
		r3 := rev(3, hexRev("c"))
		for range 2 {
			replicate(t, db, "a", r3, []string{hexRev("c"), p2.ID, p1.ID}, false, `{"v":3}`)
		}
		// A conflict branching off the first revision.
		z := rev(2, hexRev("d"))
		replicate(t, db, "a", z, []string{hexRev("d"), p1.ID}, false, `{"v":"z"}`)
		if d := mustGet(t, db, "a"); d.Rev != r3 || len(d.Conflicts) != 1 || d.Conflicts[0] != z {
			t.Fatalf("a = %s conflicts %v, want %s with [%s]", d.Rev, d.Conflicts, r3, z)
		}
		// Interactive edits of both leaves.
		r4 := update(t, db, "a", r3, `{"v":4}`)
		z3 := update(t, db, "a", z, `{"v":"z3"}`)
		_, err := tryUpdate(db, &dbcore.Doc{ID: "a", Rev: r3, Body: []byte(`{}`)}, dbcore.UpdateOptions{})
		wantErr(t, "edit of a replaced leaf", err, dbcore.ErrConflict)
		if got := leafRevs(t, db, "a"); len(got) != 2 || got[0] != r4 || got[1] != z3 {
			t.Fatalf("leaves of a = %v, want [%s %s]", got, r4, z3)
		}
	})
}

// TestDocCacheGroupedEdits edits one document several times in one
// UpdateDocs call, which the updater applies in one group, then again.
func TestDocCacheGroupedEdits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		r1 := update(t, db, "a", "", `{"v":1}`)
		res, err := db.UpdateDocs([]*dbcore.Doc{
			{ID: "a", Rev: r1, Body: []byte(`{"v":2}`)},
			{ID: "a", Rev: r1, Body: []byte(`{"v":"2 again"}`)},
		}, dbcore.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || !errors.Is(res[1].Err, dbcore.ErrConflict) {
			t.Fatalf("results %+v, want the second to conflict", res)
		}
		r3 := update(t, db, "a", res[0].Rev, `{"v":3}`)
		if got := leafRevs(t, db, "a"); len(got) != 1 || got[0] != r3 {
			t.Fatalf("leaves of a = %v, want [%s]", got, r3)
		}
	})
}
