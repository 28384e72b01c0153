package dbcore_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
)

// TestSaveJSONRejected: every rejected save leaves the database as it was.
func TestSaveJSONRejected(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		opts := serverOptions(t, t.TempDir(), ec)
		opts.MaxDocumentSize = 1024
		db := createDB(t, startServer(t, opts), "db")
		r1 := update(t, db, "doc", "", `{"v":1}`)
		r2 := update(t, db, "doc", r1, `{"v":2}`)
		before := mustGet(t, db, "doc")
		seq := db.UpdateSeq()
		big := `{"pad":"` + strings.Repeat("x", 1100) + `"}`
		cases := []struct {
			name, id, data, base string
			want                 error
		}{
			{"_id mismatch", "doc", `{"_id":"other","v":3}`, r2, dbcore.ErrInvalidDoc},
			{"not JSON", "doc", `{"v":`, r2, dbcore.ErrInvalidDoc},
			{"trailing garbage", "doc", `{"v":3} x`, r2, dbcore.ErrInvalidDoc},
			{"array", "doc", `[1,2]`, r2, dbcore.ErrInvalidDoc},
			{"string", "doc", `"doc"`, r2, dbcore.ErrInvalidDoc},
			{"empty", "doc", ``, r2, dbcore.ErrInvalidDoc},
			{"duplicate keys", "doc", `{"v":3,"v":4}`, r2, dbcore.ErrInvalidDoc},
			{"nested duplicate keys", "doc", `{"o":{"k":1,"k":2}}`, r2, dbcore.ErrInvalidDoc},
			{"forbidden _field", "doc", `{"_attachments":{},"v":3}`, r2, dbcore.ErrInvalidDoc},
			{"unknown _field", "doc", `{"_foo":1}`, r2, dbcore.ErrInvalidDoc},
			{"bad UTF-8", "doc", "{\"v\":\"\xff\"}", r2, dbcore.ErrInvalidDoc},
			{"malformed _rev", "doc", `{"_rev":"nope","v":3}`, "", dbcore.ErrInvalidDoc},
			{"malformed baseRev", "doc", `{"v":3}`, "nope", dbcore.ErrInvalidDoc},
			{"_rev not a string", "doc", `{"_rev":2,"v":3}`, "", dbcore.ErrInvalidDoc},
			{"invalid id", "_doc", `{}`, "", dbcore.ErrInvalidDoc},
			{"too large", "doc", big, r2, dbcore.ErrTooLarge},
			{"too large new doc", "new", big, "", dbcore.ErrTooLarge},
			{"create over a live doc", "doc", `{"v":3}`, "", dbcore.ErrConflict},
			{"stale baseRev", "doc", `{"v":3}`, r1, dbcore.ErrConflict},
			{"stale _rev wins over a current baseRev", "doc", `{"_rev":"` + r1 + `","v":3}`, r2, dbcore.ErrConflict},
			{"update of a missing doc", "new", `{"v":3}`, r2, dbcore.ErrConflict},
			{"delete of a missing doc", "new", `{"_deleted":true}`, "", dbcore.ErrNotFound},
			{"stale delete", "doc", `{"_deleted":true}`, r1, dbcore.ErrConflict},
		}
		for _, c := range cases {
			res, err := db.SaveJSON(c.id, []byte(c.data), c.base)
			wantErr(t, c.name, err, c.want)
			if res.Rev != "" || res.Doc != nil {
				t.Errorf("%s: rejected save returned %+v", c.name, res)
			}
			if n := db.UpdateSeq(); n != seq {
				t.Fatalf("%s: update_seq %d → %d", c.name, seq, n)
			}
			after := mustGet(t, db, "doc")
			if !bytes.Equal(after.JSON(), before.JSON()) {
				t.Fatalf("%s: doc changed to %s", c.name, after.JSON())
			}
			if _, err := db.Get("new"); err == nil {
				t.Fatalf("%s: created new", c.name)
			}
		}
	})
}

func TestSaveJSON(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		// A create: _id may be given if it matches; whitespace and key
		// order as written, body fields in stored order.
		res, err := db.SaveJSON("doc", []byte("{\"_id\": \"doc\",\n \"b\": 1, \"a\": [1, {\"x\": null}]}\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		r1 := res.Rev
		if revPos(t, r1) != 1 || res.Doc == nil || res.Doc.Rev != r1 || string(res.Doc.Body) != `{"b":1,"a":[1,{"x":null}]}` {
			t.Fatalf("SaveJSON create = %+v", res)
		}
		want := fmt.Sprintf("{\n  \"_id\": \"doc\",\n  \"_rev\": %q,\n  \"b\": 1,\n  \"a\": [\n    1,\n    {\n      \"x\": null\n    }\n  ]\n}\n", r1)
		got := mustGet(t, db, "doc")
		if string(got.JSON()) != want || string(res.Doc.JSON()) != want {
			t.Errorf("JSON = %q, want %q", got.JSON(), want)
		}
		if got.Size() != len(want) {
			t.Errorf("Size = %d, want %d", got.Size(), len(want))
		}
		rows := allDocs(t, db)
		if len(rows) != 1 || rows[0].Size != len(want) || rows[0].Rev != r1 {
			t.Errorf("AllDocs = %+v, want size %d", rows, len(want))
		}
		// Saving what was read back (with _id and _rev) is an update.
		res, err = db.SaveJSON("doc", got.JSON(), "")
		if err != nil || revPos(t, res.Rev) != 2 {
			t.Fatalf("save of the read-back JSON = %+v, %v", res, err)
		}
		r2 := res.Rev
		// _rev in the data wins over a stale baseRev.
		res, err = db.SaveJSON("doc", []byte(`{"_rev":"`+r2+`","c":3}`), r1)
		if err != nil || revPos(t, res.Rev) != 3 {
			t.Fatalf("_rev over a stale baseRev = %+v, %v", res, err)
		}
		r3 := res.Rev
		// baseRev alone.
		res, err = db.SaveJSON("doc", []byte(`{"d":4}`), r3)
		if err != nil || revPos(t, res.Rev) != 4 || string(res.Doc.Body) != `{"d":4}` {
			t.Fatalf("baseRev update = %+v, %v", res, err)
		}
		r4 := res.Rev
		if g := mustGet(t, db, "doc"); g.Rev != r4 || !bytes.Equal(g.JSON(), res.Doc.JSON()) {
			t.Errorf("Get = %s, SaveResult.Doc = %s", g.JSON(), res.Doc.JSON())
		}
		// _deleted:true deletes; the result has no document.
		res, err = db.SaveJSON("doc", []byte(`{"_deleted":true}`), r4)
		if err != nil || revPos(t, res.Rev) != 5 || res.Doc != nil {
			t.Fatalf("_deleted save = %+v, %v", res, err)
		}
		_, err = db.Get("doc")
		wantErr(t, "Get after _deleted save", err, dbcore.ErrNotFound)
		// A save with no rev recreates it on the tombstone.
		res, err = db.SaveJSON("doc", []byte(`{"e":5}`), "")
		if err != nil || revPos(t, res.Rev) != 6 {
			t.Fatalf("recreate = %+v, %v", res, err)
		}
		// Design documents are documents.
		res, err = db.SaveJSON("_design/app", []byte(`{"views":{"v":{"map":"function(doc){}"}}}`), "")
		if err != nil || res.Doc.ID != "_design/app" {
			t.Fatalf("design doc save = %+v, %v", res, err)
		}
		if d := mustGet(t, db, "_design/app"); d.Rev != res.Rev {
			t.Errorf("design doc rev %s", d.Rev)
		}
		// An empty object is a valid document.
		res, err = db.SaveJSON("empty", []byte(`{}`), "")
		if err != nil || string(res.Doc.JSON()) != fmt.Sprintf("{\n  \"_id\": \"empty\",\n  \"_rev\": %q\n}\n", res.Rev) {
			t.Errorf("empty doc = %+v, %v", res, err)
		}
		// Saving the winner of a conflicted doc reports the conflict.
		a, b := hexRev("a"), hexRev("b")
		replicate(t, db, "conf", rev(1, a), nil, false, `{"x":"a"}`)
		replicate(t, db, "conf", rev(1, b), nil, false, `{"x":"b"}`)
		res, err = db.SaveJSON("conf", []byte(`{"x":"a2"}`), rev(1, a))
		if err != nil {
			t.Fatal(err)
		}
		if res.Doc == nil || res.Doc.Rev != res.Rev || len(res.Doc.Conflicts) != 1 || res.Doc.Conflicts[0] != rev(1, b) {
			t.Errorf("save of a conflicted doc = %+v", res.Doc)
		}
		// Editing the losing leaf: the result is the winner Get shows.
		res, err = db.SaveJSON("conf", []byte(`{"x":"b2"}`), rev(1, b))
		if err != nil {
			t.Fatal(err)
		}
		if g := mustGet(t, db, "conf"); res.Doc == nil || !bytes.Equal(g.JSON(), res.Doc.JSON()) {
			t.Errorf("SaveResult.Doc = %+v, Get = %s", res.Doc, g.JSON())
		}
	})
}
