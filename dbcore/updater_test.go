package dbcore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/dbcore/revtree"
	"github.com/couchfs/couchfs/engines"
)

// TestUpdateRules walks one document through CouchDB's interactive update
// rules; each step names the revision it edits by the label of an earlier
// step, and the revision it makes gets its own label.
func TestUpdateRules(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		type step struct {
			name    string
			base    string // label of the revision to edit, or a literal rev after "="
			deleted bool
			body    string
			want    error
			pos     uint64 // position of the new revision
			live    bool   // Get finds the document afterwards
		}
		steps := []step{
			{name: "create", body: `{"v":1}`, pos: 1, live: true},
			{name: "create over a live doc", body: `{"v":9}`, want: dbcore.ErrConflict, live: true},
			{name: "update", base: "create", body: `{"v":2}`, pos: 2, live: true},
			{name: "stale rev", base: "create", body: `{"v":9}`, want: dbcore.ErrConflict, live: true},
			{name: "unknown rev", base: "=2-00000000000000000000000000000000", body: `{"v":9}`, want: dbcore.ErrConflict, live: true},
			{name: "future rev", base: "=7-00000000000000000000000000000000", body: `{"v":9}`, want: dbcore.ErrConflict, live: true},
			{name: "malformed rev", base: "=abc", body: `{"v":9}`, want: dbcore.ErrInvalidDoc, live: true},
			{name: "update again", base: "update", body: `{"v":3}`, pos: 3, live: true},
			{name: "delete", base: "update again", deleted: true, pos: 4},
			{name: "delete the tombstone", base: "delete", deleted: true, want: dbcore.ErrConflict},
			{name: "update the tombstone", base: "delete", body: `{"v":9}`, want: dbcore.ErrConflict},
			{name: "update an old rev of a deleted doc", base: "update again", body: `{"v":9}`, want: dbcore.ErrConflict},
			{name: "delete without rev", deleted: true, want: dbcore.ErrConflict},
			{name: "recreate", body: `{"v":5}`, pos: 5, live: true},
			{name: "delete recreated", base: "recreate", deleted: true, pos: 6},
			{name: "recreate again", body: `{}`, pos: 7, live: true},
		}
		revs := map[string]string{}
		seq := db.UpdateSeq()
		for _, s := range steps {
			base := revs[s.base]
			if len(s.base) > 0 && s.base[0] == '=' {
				base = s.base[1:]
			} else if s.base != "" && base == "" {
				t.Fatalf("%s: no revision labelled %q", s.name, s.base)
			}
			got, err := tryUpdate(db, &dbcore.Doc{ID: "doc", Rev: base, Deleted: s.deleted, Body: []byte(s.body)}, dbcore.UpdateOptions{})
			wantErr(t, s.name, err, s.want)
			if s.want != nil {
				if got != "" {
					t.Errorf("%s: failed update returned rev %q", s.name, got)
				}
				if n := db.UpdateSeq(); n != seq {
					t.Errorf("%s: failed update moved update_seq %d → %d", s.name, seq, n)
				}
			} else {
				revs[s.name] = got
				if p := revPos(t, got); p != s.pos {
					t.Errorf("%s: rev %s, want position %d", s.name, got, s.pos)
				}
				if n := db.UpdateSeq(); n != seq+1 {
					t.Errorf("%s: update_seq %d → %d, want +1", s.name, seq, n)
				}
				seq = db.UpdateSeq()
			}
			d, err := db.Get("doc")
			if s.live {
				if err != nil {
					t.Fatalf("%s: Get: %v", s.name, err)
				}
				if s.want == nil && (d.Rev != got || string(d.Body) != s.body) {
					t.Errorf("%s: Get = %s %s, want %s %s", s.name, d.Rev, d.Body, got, s.body)
				}
			} else {
				wantErr(t, s.name+": Get", err, dbcore.ErrNotFound)
			}
			// Interactive edits never fork: one branch, one leaf.
			di, err := db.DocInfo("doc")
			if err != nil {
				t.Fatal(err)
			}
			if len(di.RevTree) != 1 || len(revtree.Leaves(di.RevTree)) != 1 {
				t.Fatalf("%s: tree has %d branches, %d leaves", s.name, len(di.RevTree), len(revtree.Leaves(di.RevTree)))
			}
			if di.Deleted == s.live {
				t.Errorf("%s: DocInfo.Deleted = %v", s.name, di.Deleted)
			}
		}
		// The recreation hangs below the tombstone it replaced.
		_, path, ok := revtree.Find(mustDocInfo(t, db, "doc").RevTree, mustParseRev(t, revs["recreate"]))
		if !ok || len(path) < 2 || revtree.FormatRev(path[1]) != revs["delete"] {
			t.Errorf("recreate's path %v, want the tombstone %s as parent", path, revs["delete"])
		}
		if d, err := db.GetRev("doc", revs["delete"]); err != nil || !d.Deleted {
			t.Errorf("GetRev(tombstone) = %+v, %v", d, err)
		}
		if d, err := db.GetRev("doc", revs["create"]); err != nil || string(d.Body) != `{"v":1}` {
			t.Errorf("GetRev(first) = %+v, %v", d, err)
		}
		_, err := db.GetRev("doc", "1-ffffffffffffffffffffffffffffffff")
		wantErr(t, "GetRev of an unknown rev", err, dbcore.ErrNotFound)
		_, err = db.GetRev("nosuch", revs["create"])
		wantErr(t, "GetRev of an unknown doc", err, dbcore.ErrNotFound)
		_, err = db.GetRev("doc", "garbage")
		wantErr(t, "GetRev of a malformed rev", err, dbcore.ErrInvalidDoc)
	})
}

func TestDeleteDoc(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		_, err := db.DeleteDoc("missing", "")
		wantErr(t, "DeleteDoc of a missing doc", err, dbcore.ErrNotFound)
		_, err = tryUpdate(db, &dbcore.Doc{ID: "missing", Deleted: true}, dbcore.UpdateOptions{})
		wantErr(t, "delete of a missing doc without rev", err, dbcore.ErrNotFound)
		_, err = db.DeleteDoc("missing", "1-abc")
		wantErr(t, "DeleteDoc of a missing doc with a rev", err, dbcore.ErrConflict)

		r1 := update(t, db, "d", "", `{"a":1}`)
		r2 := update(t, db, "d", r1, `{"a":2}`)
		_, err = db.DeleteDoc("d", r1)
		wantErr(t, "DeleteDoc with a stale rev", err, dbcore.ErrConflict)
		tomb, err := db.DeleteDoc("d", "")
		if err != nil || revPos(t, tomb) != 3 {
			t.Fatalf("DeleteDoc(d, \"\") = %q, %v", tomb, err)
		}
		_, err = db.DeleteDoc("d", "")
		wantErr(t, "DeleteDoc(\"\") of a deleted doc", err, dbcore.ErrNotFound)
		_, err = db.DeleteDoc("d", tomb)
		wantErr(t, "DeleteDoc(tombstone) of a deleted doc", err, dbcore.ErrConflict)
		_, err = db.DeleteDoc("d", r2)
		wantErr(t, "DeleteDoc(old leaf) of a deleted doc", err, dbcore.ErrConflict)
		c, err := db.LastChange("d")
		if err != nil || !c.Deleted || c.Rev != tomb {
			t.Errorf("LastChange = %+v, %v", c, err)
		}
		info := mustInfo(t, db)
		if info.DocCount != 0 || info.DocDelCount != 1 {
			t.Errorf("counts after delete: %d live, %d deleted", info.DocCount, info.DocDelCount)
		}
	})
}

// TestReplicatedConflict stores two branches as a replicator would: Get
// shows the loser as a conflict, the winner does not depend on the order of
// arrival, and deleting the winner promotes the conflict.
func TestReplicatedConflict(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		s := newServer(t, ec)
		a, b := hexRev("a"), hexRev("b")
		c, d := hexRev("c"), hexRev("d")
		branches := []struct {
			rev  string
			hist []string
			body string
		}{
			{rev(3, c), []string{c, b, a}, `{"branch":"c"}`},
			{rev(3, d), []string{d, b, a}, `{"branch":"d"}`},
		}
		var winners []string
		for i, order := range [][]int{{0, 1}, {1, 0}} {
			db := createDB(t, s, fmt.Sprintf("db%d", i))
			for _, j := range order {
				br := branches[j]
				replicate(t, db, "doc", br.rev, br.hist, false, br.body)
			}
			got := mustGet(t, db, "doc")
			winners = append(winners, got.Rev)
			if got.Rev != rev(3, d) || string(got.Body) != `{"branch":"d"}` {
				t.Errorf("order %v: winner %s %s, want 3-d…", order, got.Rev, got.Body)
			}
			if !slices.Equal(got.Conflicts, []string{rev(3, c)}) {
				t.Errorf("order %v: conflicts %q", order, got.Conflicts)
			}
			if !slices.Contains([]string{rev(3, c), rev(3, d)}, got.Rev) {
				t.Fatalf("winner %s", got.Rev)
			}
			di := mustDocInfo(t, db, "doc")
			if len(di.RevTree) != 1 || len(revtree.Leaves(di.RevTree)) != 2 {
				t.Errorf("order %v: %d branches, %d leaves; want one tree with two leaves", order, len(di.RevTree), len(revtree.Leaves(di.RevTree)))
			}
			if info := mustInfo(t, db); info.DocCount != 1 || info.UpdateSeq != 2 {
				t.Errorf("order %v: info %+v", order, info)
			}
			// An interactive edit may extend either leaf.
			loser := update(t, db, "doc", rev(3, c), `{"branch":"c2"}`)
			if revPos(t, loser) != 4 {
				t.Fatalf("edit of the losing leaf: %s", loser)
			}
			got = mustGet(t, db, "doc")
			if got.Rev != loser || !slices.Equal(got.Conflicts, []string{rev(3, d)}) {
				t.Errorf("after extending the loser: %s, conflicts %q", got.Rev, got.Conflicts)
			}
			// Deleting the winner promotes the other leaf.
			tomb, err := db.DeleteDoc("doc", loser)
			if err != nil {
				t.Fatal(err)
			}
			got = mustGet(t, db, "doc")
			if got.Rev != rev(3, d) || len(got.Conflicts) != 0 {
				t.Errorf("after deleting the winner: %s, conflicts %q", got.Rev, got.Conflicts)
			}
			if ch, _ := db.LastChange("doc"); ch.Rev != rev(3, d) || ch.Deleted {
				t.Errorf("LastChange after deleting the winner: %+v", ch)
			}
			if _, err := db.DeleteDoc("doc", ""); err != nil {
				t.Fatal(err)
			}
			_, err = db.Get("doc")
			wantErr(t, "Get with every leaf deleted", err, dbcore.ErrNotFound)
			// Both tombstones are leaves; the winner among them is
			// deterministic (highest position, then id), and it is what a
			// recreation extends.
			di = mustDocInfo(t, db, "doc")
			w, _ := revtree.Winner(di.RevTree)
			if revtree.FormatRev(w.Rev) != tomb {
				t.Errorf("deleted winner %s, want %s", revtree.FormatRev(w.Rev), tomb)
			}
			re := update(t, db, "doc", "", `{"back":true}`)
			if revPos(t, re) != 6 {
				t.Errorf("recreation over tombstone %s: %s", tomb, re)
			}
		}
		if winners[0] != winners[1] {
			t.Errorf("winner depends on arrival order: %q", winners)
		}
	})
}

// TestReplicatedNoop re-inserts stored revisions: nothing changes and no
// sequence is taken, while a replicated edit of new history is stored.
func TestReplicatedNoop(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		a, b := hexRev("a"), hexRev("b")
		replicate(t, db, "doc", rev(2, b), []string{b, a}, false, `{"x":1}`)
		seq := db.UpdateSeq()
		before := mustDocInfo(t, db, "doc")
		for _, c := range []struct {
			rev  string
			hist []string
		}{
			{rev(2, b), []string{b, a}},
			{rev(2, b), nil},
		} {
			replicate(t, db, "doc", c.rev, c.hist, false, `{"different":"body"}`)
			if n := db.UpdateSeq(); n != seq {
				t.Errorf("re-inserting %s moved update_seq %d → %d", c.rev, seq, n)
			}
		}
		if got := mustGet(t, db, "doc"); string(got.Body) != `{"x":1}` {
			t.Errorf("body replaced by a re-insert: %s", got.Body)
		}
		if after := mustDocInfo(t, db, "doc"); after.UpdateSeq != before.UpdateSeq || !revtree.Equal(after.RevTree, before.RevTree) {
			t.Errorf("doc info changed by a re-insert")
		}
		// 1-a came only as history, without a body. Storing it supplies
		// the body (CouchDB's value_pref), which is a change; storing it
		// again is not.
		_, err := db.GetRev("doc", rev(1, a))
		wantErr(t, "GetRev of a history-only rev", err, dbcore.ErrNotFound)
		replicate(t, db, "doc", rev(1, a), nil, false, `{"first":true}`)
		if d, err := db.GetRev("doc", rev(1, a)); err != nil || string(d.Body) != `{"first":true}` {
			t.Errorf("GetRev(1-a) after storing it = %+v, %v", d, err)
		}
		seq = db.UpdateSeq()
		replicate(t, db, "doc", rev(1, a), nil, false, `{"first":"again"}`)
		if n := db.UpdateSeq(); n != seq {
			t.Errorf("re-inserting 1-a moved update_seq %d → %d", seq, n)
		}
		if got := mustGet(t, db, "doc"); got.Rev != rev(2, b) {
			t.Errorf("winner %s after storing an ancestor", got.Rev)
		}

		// Bad replicated input.
		for _, c := range []struct {
			name string
			doc  dbcore.Doc
		}{
			{"no rev", dbcore.Doc{ID: "x"}},
			{"position 0", dbcore.Doc{ID: "x", Rev: "0-abc"}},
			{"history not starting with rev", dbcore.Doc{ID: "x", Rev: rev(2, b), Revisions: []string{a, b}}},
			{"history longer than position", dbcore.Doc{ID: "x", Rev: rev(1, b), Revisions: []string{b, a}}},
			{"empty id in history", dbcore.Doc{ID: "x", Rev: rev(2, b), Revisions: []string{b, ""}}},
		} {
			_, err := tryUpdate(db, &c.doc, dbcore.UpdateOptions{Replicated: true})
			wantErr(t, c.name, err, dbcore.ErrInvalidDoc)
		}
		// A replicated tombstone of a new document counts as deleted.
		replicate(t, db, "gone", rev(1, a), nil, true, `{}`)
		_, err = db.Get("gone")
		wantErr(t, "Get of a replicated tombstone", err, dbcore.ErrNotFound)
		if info := mustInfo(t, db); info.DocCount != 1 || info.DocDelCount != 1 {
			t.Errorf("counts %d/%d", info.DocCount, info.DocDelCount)
		}
	})
}

func TestStemming(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		if got := db.RevsLimit(); got != 1000 {
			t.Errorf("default revs limit %d", got)
		}
		if err := db.SetRevsLimit(3); err != nil {
			t.Fatal(err)
		}
		r := ""
		var all []string
		for i := range 10 {
			r = update(t, db, "doc", r, fmt.Sprintf(`{"i":%d}`, i))
			all = append(all, r)
		}
		di := mustDocInfo(t, db, "doc")
		if len(di.RevTree) != 1 {
			t.Fatalf("%d branches after stemming a linear history", len(di.RevTree))
		}
		if br := di.RevTree[0]; br.Start != 8 || depth(br.Root) != 3 {
			t.Errorf("stemmed branch starts at %d with depth %d, want 8 and 3", br.Start, depth(br.Root))
		}
		for i, r := range all {
			_, _, kept := revtree.Find(di.RevTree, mustParseRev(t, r))
			if kept != (i >= 7) {
				t.Errorf("rev %d (%s) kept = %v", i+1, r, kept)
			}
		}
		if got := mustGet(t, db, "doc"); got.Rev != r {
			t.Errorf("winner %s, want %s", got.Rev, r)
		}
		// A stale edit of a stemmed revision is still a conflict.
		_, err := tryUpdate(db, &dbcore.Doc{ID: "doc", Rev: all[0]}, dbcore.UpdateOptions{})
		wantErr(t, "edit of a stemmed rev", err, dbcore.ErrConflict)
	})
}

// TestDeterministicRevs makes the same edits on two servers with different
// engines: the revision ids agree.
func TestDeterministicRevs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		dbs := []*dbcore.DB{newDB(t, ec), newDB(t, otherEngine(ec))}
		var revs [2][]string
		for i, db := range dbs {
			r := update(t, db, "doc", "", `{"a":1,"b":[true,null]}`)
			revs[i] = append(revs[i], r)
			r = update(t, db, "doc", r, `{"a":2}`)
			revs[i] = append(revs[i], r)
			r, err := db.DeleteDoc("doc", r)
			if err != nil {
				t.Fatal(err)
			}
			revs[i] = append(revs[i], r)
			revs[i] = append(revs[i], update(t, db, "doc", "", `{"a":3}`))
			res, err := db.SaveJSON("other", []byte("{\n  \"a\": 1,\n  \"b\": [true, null]\n}\n"), "")
			if err != nil {
				t.Fatal(err)
			}
			revs[i] = append(revs[i], res.Rev)
		}
		if !slices.Equal(revs[0], revs[1]) {
			t.Errorf("revisions differ between servers:\n%q\n%q", revs[0], revs[1])
		}
		// Same body, same parent: the same id, whatever the whitespace.
		if revs[0][0] != revs[0][4] {
			t.Errorf("same first edit of two docs: %s vs %s", revs[0][0], revs[0][4])
		}
		// Different body or deleted flag: different ids.
		if len(map[string]bool{revs[0][0]: true, revs[0][1]: true, revs[0][2]: true, revs[0][3]: true}) != 4 {
			t.Errorf("revision ids collide: %q", revs[0])
		}
	})
}

func TestLocalDocs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		seq := db.UpdateSeq()
		res, err := db.SaveJSON("_local/b", []byte(`{"n":1}`), "")
		if err != nil || res.Rev != "0-1" || string(res.Doc.Body) != `{"n":1}` {
			t.Fatalf("first local save = %+v, %v", res, err)
		}
		// No conflict check on local docs: any base (or none) continues.
		for i, base := range []string{"", "0-1", "0-7"} {
			r, err := tryUpdate(db, &dbcore.Doc{ID: "_local/b", Rev: base, Body: []byte(fmt.Sprintf(`{"n":%d}`, i+2))}, dbcore.UpdateOptions{})
			want := map[string]string{"": "0-1", "0-1": "0-2", "0-7": "0-8"}[base]
			if err != nil || r != want {
				t.Errorf("local update from %q = %q, %v; want %q", base, r, err, want)
			}
		}
		_, err = tryUpdate(db, &dbcore.Doc{ID: "_local/b", Rev: "1-abc"}, dbcore.UpdateOptions{})
		wantErr(t, "local doc with a non-local rev", err, dbcore.ErrInvalidDoc)
		update(t, db, "_local/a", "", `{}`)
		update(t, db, "doc", "", `{}`)
		update(t, db, "_design/x", "", `{"views":{}}`)

		got := mustGet(t, db, "_local/b")
		if got.Rev != "0-8" || string(got.Body) != `{"n":4}` {
			t.Errorf("Get local = %s %s", got.Rev, got.Body)
		}
		if d, err := db.GetRev("_local/b", "0-8"); err != nil || d.Rev != "0-8" {
			t.Errorf("GetRev local = %+v, %v", d, err)
		}
		_, err = db.GetRev("_local/b", "0-1")
		wantErr(t, "GetRev of an old local rev", err, dbcore.ErrNotFound)
		rows := localDocs(t, db)
		if len(rows) != 2 || rows[0].ID != "_local/a" || rows[1].ID != "_local/b" || rows[1].Rev != "0-8" || rows[1].Size != len(got.JSON()) || rows[1].Seq != 0 {
			t.Errorf("LocalDocs = %+v", rows)
		}
		for _, r := range allDocs(t, db) {
			if r.ID == "_local/a" || r.ID == "_local/b" {
				t.Errorf("AllDocs lists local doc %s", r.ID)
			}
		}
		if ids := changeIDs(changes(t, db, 0, 0)); !slices.Equal(ids, []string{"doc", "_design/x"}) {
			t.Errorf("changes = %q, want doc and the design doc only", ids)
		}
		info := mustInfo(t, db)
		if info.DocCount != 2 || info.UpdateSeq != seq+2 {
			t.Errorf("info with local docs: doc_count %d update_seq %d", info.DocCount, info.UpdateSeq)
		}
		_, err = db.DocInfo("_local/b")
		wantErr(t, "DocInfo of a local doc", err, dbcore.ErrNotFound)

		tomb, err := db.DeleteDoc("_local/b", "")
		if err != nil || tomb != "0-0" {
			t.Errorf("DeleteDoc local = %q, %v", tomb, err)
		}
		_, err = db.Get("_local/b")
		wantErr(t, "Get of a deleted local doc", err, dbcore.ErrNotFound)
		_, err = db.DeleteDoc("_local/b", "")
		wantErr(t, "DeleteDoc of a deleted local doc", err, dbcore.ErrNotFound)
		res, err = db.SaveJSON("_local/a", []byte(`{"_deleted":true}`), "")
		if err != nil || res.Rev != "0-0" || res.Doc != nil {
			t.Errorf("SaveJSON _deleted local = %+v, %v", res, err)
		}
		if rows := localDocs(t, db); len(rows) != 0 {
			t.Errorf("LocalDocs after deletes = %+v", rows)
		}
		// Recreated from scratch.
		if r := update(t, db, "_local/b", "", `{}`); r != "0-1" {
			t.Errorf("recreated local doc rev %s", r)
		}
		if n := db.UpdateSeq(); n != seq+2 {
			t.Errorf("local docs moved update_seq to %d", n)
		}
	})
}

// TestAllOrNothing: one failing document fails the whole call.
func TestAllOrNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		r := update(t, db, "live", "", `{"v":1}`)
		seq := db.UpdateSeq()
		docs := func() []*dbcore.Doc {
			return []*dbcore.Doc{
				{ID: "new1", Body: []byte(`{}`)},
				{ID: "live", Rev: r, Body: []byte(`{"v":2}`)},
				{ID: "live", Body: []byte(`{"v":3}`)}, // a create of a live doc
				{ID: "_local/l", Body: []byte(`{}`)},
			}
		}
		res, err := db.UpdateDocs(docs(), dbcore.UpdateOptions{AllOrNothing: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if !errors.Is(r.Err, dbcore.ErrConflict) || r.Rev != "" {
				t.Errorf("all-or-nothing result %d = %+v, want a conflict", i, r)
			}
		}
		if n := db.UpdateSeq(); n != seq {
			t.Errorf("failed all-or-nothing update moved update_seq %d → %d", seq, n)
		}
		for _, id := range []string{"new1", "_local/l"} {
			_, err := db.Get(id)
			wantErr(t, id+" after a failed all-or-nothing update", err, dbcore.ErrNotFound)
		}
		if got := mustGet(t, db, "live"); got.Rev != r {
			t.Errorf("live changed to %s", got.Rev)
		}

		// Invalid documents fail it too, before reaching the updater.
		res, err = db.UpdateDocs([]*dbcore.Doc{{ID: "new2"}, {ID: "_bad"}}, dbcore.UpdateOptions{AllOrNothing: true})
		if err != nil || !errors.Is(res[1].Err, dbcore.ErrInvalidDoc) || !errors.Is(res[0].Err, dbcore.ErrConflict) {
			t.Errorf("all-or-nothing with an invalid id = %+v, %v", res, err)
		}
		_, err = db.Get("new2")
		wantErr(t, "new2", err, dbcore.ErrNotFound)

		// Without AllOrNothing the good documents are written.
		res, err = db.UpdateDocs(docs(), dbcore.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []error{nil, nil, dbcore.ErrConflict, nil} {
			wantErr(t, fmt.Sprintf("result %d", i), res[i].Err, want)
		}
		if got := mustGet(t, db, "live"); got.Rev != res[1].Rev || string(got.Body) != `{"v":2}` {
			t.Errorf("live = %s %s", got.Rev, got.Body)
		}
		// Both documents took one sequence each, in id order.
		if ids := changeIDs(changes(t, db, seq, 0)); !slices.Equal(ids, []string{"live", "new1"}) {
			t.Errorf("changes of the batch = %q", ids)
		}

		// A successful all-or-nothing call with two edits of one doc.
		r2 := res[1].Rev
		res, err = db.UpdateDocs([]*dbcore.Doc{
			{ID: "live", Rev: r2, Body: []byte(`{"v":4}`)},
			{ID: "other", Body: []byte(`{}`)},
		}, dbcore.UpdateOptions{AllOrNothing: true})
		if err != nil || res[0].Err != nil || res[1].Err != nil {
			t.Fatalf("good all-or-nothing = %+v, %v", res, err)
		}
		if got := mustGet(t, db, "live"); got.Rev != res[0].Rev {
			t.Errorf("live = %s, want %s", got.Rev, res[0].Rev)
		}
	})
}

func TestMoveDoc(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		ra := update(t, db, "a", "", `{"x":"a"}`)
		rc := update(t, db, "c", "", `{"x":"c"}`)
		seq := db.UpdateSeq()

		rb, err := db.MoveDoc("a", "b")
		if err != nil || revPos(t, rb) != 1 {
			t.Fatalf("MoveDoc(a, b) = %q, %v", rb, err)
		}
		_, err = db.Get("a")
		wantErr(t, "Get of the moved doc", err, dbcore.ErrNotFound)
		if got := mustGet(t, db, "b"); got.Rev != rb || string(got.Body) != `{"x":"a"}` {
			t.Errorf("b = %s %s", got.Rev, got.Body)
		}
		if n := db.UpdateSeq(); n != seq+2 {
			t.Errorf("move took update_seq %d → %d, want +2", seq, n)
		}

		// Onto a live doc: a conflict, and neither side changes.
		seq = db.UpdateSeq()
		_, err = db.MoveDoc("b", "c")
		wantErr(t, "MoveDoc onto a live doc", err, dbcore.ErrConflict)
		if got := mustGet(t, db, "b"); got.Rev != rb {
			t.Errorf("source changed by a failed move: %s", got.Rev)
		}
		if got := mustGet(t, db, "c"); got.Rev != rc || string(got.Body) != `{"x":"c"}` {
			t.Errorf("target changed by a failed move: %s %s", got.Rev, got.Body)
		}
		if n := db.UpdateSeq(); n != seq {
			t.Errorf("failed move moved update_seq %d → %d", seq, n)
		}

		// Onto a deleted doc: the target's tombstone branch is extended.
		r, err := db.MoveDoc("c", "a")
		if err != nil {
			t.Fatal(err)
		}
		if revPos(t, r) != 3 {
			t.Errorf("move onto the tombstone of a (%s) made %s", ra, r)
		}
		if got := mustGet(t, db, "a"); string(got.Body) != `{"x":"c"}` {
			t.Errorf("a = %s", got.Body)
		}

		_, err = db.MoveDoc("missing", "z")
		wantErr(t, "MoveDoc of a missing doc", err, dbcore.ErrNotFound)
		_, err = db.MoveDoc("a", "_bad")
		wantErr(t, "MoveDoc to an invalid id", err, dbcore.ErrInvalidDoc)
		if r2, err := db.MoveDoc("a", "a"); err != nil || r2 != r {
			t.Errorf("MoveDoc onto itself = %q, %v", r2, err)
		}
		if info := mustInfo(t, db); info.DocCount != 2 || info.DocDelCount != 1 {
			t.Errorf("counts after moves: %d live %d deleted", info.DocCount, info.DocDelCount)
		}
	})
}

func mustDocInfo(t testing.TB, db *dbcore.DB, id string) *engines.DocInfo {
	t.Helper()
	di, err := db.DocInfo(id)
	if err != nil {
		t.Fatalf("DocInfo(%q): %v", id, err)
	}
	return di
}

func mustParseRev(t testing.TB, s string) engines.Rev {
	t.Helper()
	r, err := revtree.ParseRev(s)
	if err != nil {
		t.Fatalf("ParseRev(%q): %v", s, err)
	}
	return r
}

// depth is the length of the longest path from n down to a leaf, n included.
func depth(n *engines.RevNode) int {
	d := 0
	for _, c := range n.Children {
		d = max(d, depth(c))
	}
	return d + 1
}

func changeIDs(cs []dbcore.Change) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func TestUpdateDocsInvalid(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		opts := serverOptions(t, t.TempDir(), ec)
		opts.MaxDocumentSize = 1000
		db := createDB(t, startServer(t, opts), "db")
		big := []byte(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)
		cases := []struct {
			name string
			doc  dbcore.Doc
			want error
		}{
			{"_id in body", dbcore.Doc{ID: "a", Body: []byte(`{"_id":"a"}`)}, dbcore.ErrInvalidDoc},
			{"_rev in body", dbcore.Doc{ID: "a", Body: []byte(`{"_rev":"1-abc"}`)}, dbcore.ErrInvalidDoc},
			{"_deleted in body", dbcore.Doc{ID: "a", Body: []byte(`{"_deleted":true}`)}, dbcore.ErrInvalidDoc},
			{"_revisions in body", dbcore.Doc{ID: "a", Body: []byte(`{"_revisions":{"start":1,"ids":["x"]}}`)}, dbcore.ErrInvalidDoc},
			{"other _ field", dbcore.Doc{ID: "a", Body: []byte(`{"_x":1}`)}, dbcore.ErrInvalidDoc},
			{"not JSON", dbcore.Doc{ID: "a", Body: []byte(`{`)}, dbcore.ErrInvalidDoc},
			{"array", dbcore.Doc{ID: "a", Body: []byte(`[]`)}, dbcore.ErrInvalidDoc},
			{"empty id", dbcore.Doc{ID: ""}, dbcore.ErrInvalidDoc},
			{"reserved id", dbcore.Doc{ID: "_all_docs"}, dbcore.ErrInvalidDoc},
			{"malformed rev", dbcore.Doc{ID: "a", Rev: "x-y"}, dbcore.ErrInvalidDoc},
			{"bad local rev", dbcore.Doc{ID: "_local/a", Rev: "0-x"}, dbcore.ErrInvalidDoc},
			{"too large", dbcore.Doc{ID: "a", Body: big}, dbcore.ErrTooLarge},
		}
		docs := make([]*dbcore.Doc, len(cases))
		for i := range cases {
			docs[i] = &cases[i].doc
		}
		// One call with every bad document and one good one: each bad
		// document fails alone.
		res, err := db.UpdateDocs(append(docs, &dbcore.Doc{ID: "good"}), dbcore.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			wantErr(t, c.name, res[i].Err, c.want)
			if res[i].ID != c.doc.ID {
				t.Errorf("%s: result id %q", c.name, res[i].ID)
			}
		}
		if r := res[len(cases)]; r.Err != nil || r.ID != "good" || revPos(t, r.Rev) != 1 {
			t.Errorf("good doc beside bad ones: %+v", r)
		}
		if info := mustInfo(t, db); info.DocCount != 1 || info.UpdateSeq != 1 {
			t.Errorf("info %+v", info)
		}
		// A large batch (validated on several goroutines) keeps its
		// results in input order.
		var batch []*dbcore.Doc
		for i := range 700 {
			d := &dbcore.Doc{ID: fmt.Sprintf("bulk%03d", i), Body: fmt.Appendf(nil, `{"i":%d}`, i)}
			if i%97 == 3 {
				d.Body = []byte(`{"_bad":1}`)
			}
			batch = append(batch, d)
		}
		res, err = db.UpdateDocs(batch, dbcore.UpdateOptions{})
		if err != nil || len(res) != len(batch) {
			t.Fatalf("bulk: %d results, %v", len(res), err)
		}
		for i, r := range res {
			if r.ID != batch[i].ID || (i%97 == 3) != errors.Is(r.Err, dbcore.ErrInvalidDoc) || (i%97 != 3 && r.Err != nil) {
				t.Fatalf("bulk result %d = %+v", i, r)
			}
		}
		if res, err := db.UpdateDocs(nil, dbcore.UpdateOptions{}); err != nil || len(res) != 0 {
			t.Errorf("UpdateDocs(nil) = %v, %v", res, err)
		}
	})
}

// TestSameDocTwice: edits of one document within one call apply in order.
func TestSameDocTwice(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		r1 := nextRev(t, "", `{"v":1}`)
		res, err := db.UpdateDocs([]*dbcore.Doc{
			{ID: "a", Body: []byte(`{"v":1}`)},
			{ID: "a", Body: []byte(`{"v":9}`)}, // a second create: conflict
			{ID: "a", Rev: r1, Body: []byte(`{"v":2}`)},
		}, dbcore.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "first", res[0].Err, nil)
		wantErr(t, "second create", res[1].Err, dbcore.ErrConflict)
		wantErr(t, "update from the first", res[2].Err, nil)
		if res[0].Rev != r1 || revPos(t, res[2].Rev) != 2 {
			t.Errorf("revs %q %q", res[0].Rev, res[2].Rev)
		}
		if got := mustGet(t, db, "a"); got.Rev != res[2].Rev || string(got.Body) != `{"v":2}` {
			t.Errorf("a = %s %s", got.Rev, got.Body)
		}
		// One document, one sequence.
		if n := db.UpdateSeq(); n != 1 {
			t.Errorf("update_seq %d", n)
		}
		// Both revisions kept their bodies.
		if d, err := db.GetRev("a", r1); err != nil || string(d.Body) != `{"v":1}` {
			t.Errorf("GetRev(r1) = %+v, %v", d, err)
		}

		// With revs_limit 1 the intermediate revision is stemmed in the
		// same pass; the engine check on close verifies every leaf has
		// its body.
		if err := db.SetRevsLimit(1); err != nil {
			t.Fatal(err)
		}
		rb := nextRev(t, "", `{"b":1}`)
		res, err = db.UpdateDocs([]*dbcore.Doc{
			{ID: "b", Body: []byte(`{"b":1}`)},
			{ID: "b", Rev: rb, Body: []byte(`{"b":2}`)},
			{ID: "b", Rev: nextRev(t, rb, `{"b":2}`), Body: []byte(`{"b":3}`)},
		}, dbcore.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			wantErr(t, fmt.Sprintf("b edit %d", i), r.Err, nil)
		}
		di := mustDocInfo(t, db, "b")
		if len(di.RevTree) != 1 || di.RevTree[0].Start != 3 || depth(di.RevTree[0].Root) != 1 {
			t.Errorf("b's tree: %d branches, start %d", len(di.RevTree), di.RevTree[0].Start)
		}
		if got := mustGet(t, db, "b"); string(got.Body) != `{"b":3}` {
			t.Errorf("b = %s", got.Body)
		}
	})
}
