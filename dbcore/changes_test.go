package dbcore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// checkGolden compares got with testdata/<name>, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// scriptChanges runs a fixed sequence of writes whose revision ids are
// deterministic, so the feed is the same on every engine.
func scriptChanges(t *testing.T, db *dbcore.DB) {
	t.Helper()
	ra := update(t, db, "a", "", `{"n":1}`)
	rb := update(t, db, "b", "", `{"n":2}`)
	update(t, db, "c", "", `{"n":3}`)
	ra = update(t, db, "a", ra, `{"n":4}`) // a moves after c
	if _, err := db.DeleteDoc("b", rb); err != nil {
		t.Fatal(err)
	}
	update(t, db, "_local/x", "", `{}`) // never in changes
	update(t, db, "_design/d", "", `{"views":{}}`)
	res, err := db.UpdateDocs([]*dbcore.Doc{ // one group: seqs in id order
		{ID: "z", Body: []byte(`{}`)},
		{ID: "e", Body: []byte(`{}`)},
		{ID: "a", Rev: ra, Body: []byte(`{"n":5}`)},
	}, dbcore.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	x, y := hexRev("1"), hexRev("2")
	replicate(t, db, "q", rev(1, x), nil, false, `{"from":"x"}`)
	replicate(t, db, "q", rev(1, y), nil, false, `{"from":"y"}`)
	replicate(t, db, "q", rev(1, y), nil, false, `{"from":"y"}`) // no-op
	replicate(t, db, "tomb", rev(2, y), []string{y, x}, true, `{}`)
	update(t, db, "id with \"quotes\" and ünïcode", "", `{}`)
}

func TestChangesGolden(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		scriptChanges(t, db)
		all := changes(t, db, 0, 0)
		var out []byte
		for _, c := range all {
			out = append(out, c.JSON()...)
		}
		checkGolden(t, "changes.golden", out)

		for i, c := range all {
			if i > 0 && c.Seq <= all[i-1].Seq {
				t.Fatalf("changes out of order: %+v after %+v", c, all[i-1])
			}
			var row map[string]any
			if err := json.Unmarshal(c.JSON(), &row); err != nil {
				t.Fatalf("change row %s is not JSON: %v", c.JSON(), err)
			}
			if last, err := db.LastChange(c.ID); err != nil || last != c {
				t.Errorf("LastChange(%q) = %+v, %v; want %+v", c.ID, last, err, c)
			}
		}
		if last := all[len(all)-1]; last.Seq != db.UpdateSeq() {
			t.Errorf("last change seq %d, update_seq %d", last.Seq, db.UpdateSeq())
		}
		_, err := db.LastChange("nosuch")
		wantErr(t, "LastChange of a missing doc", err, dbcore.ErrNotFound)

		// since and limit select windows of the same feed.
		for _, since := range []uint64{0, 1, all[2].Seq, all[2].Seq + 1, all[len(all)-1].Seq} {
			for _, limit := range []int{0, 1, 3, 100} {
				var want []dbcore.Change
				for _, c := range all {
					if c.Seq > since && (limit <= 0 || len(want) < limit) {
						want = append(want, c)
					}
				}
				if got := changes(t, db, since, limit); !slices.Equal(got, want) {
					t.Errorf("Changes(%d, %d) = %+v, want %+v", since, limit, got, want)
				}
			}
		}
		// AllDocs lists the live winners in id order, sized as rendered.
		rows := allDocs(t, db)
		var live []string
		for _, c := range all {
			if !c.Deleted {
				live = append(live, c.ID)
			}
		}
		slices.Sort(live)
		if ids := rowIDs(rows); !slices.Equal(ids, live) {
			t.Errorf("AllDocs = %q, want %q", ids, live)
		}
		for _, r := range rows {
			d := mustGet(t, db, r.ID)
			if r.Rev != d.Rev || r.Size != len(d.JSON()) || r.Size != d.Size() || r.Deleted {
				t.Errorf("AllDocs row %+v, Get %s (%d bytes)", r, d.Rev, len(d.JSON()))
			}
			if c, _ := db.LastChange(r.ID); c.Seq != r.Seq {
				t.Errorf("AllDocs row %s at seq %d, change at %d", r.ID, r.Seq, c.Seq)
			}
		}
		for _, c := range []struct {
			opts engines.FoldOptions
			want []string
		}{
			{engines.FoldOptions{Start: "c", HasStart: true, End: "q", HasEnd: true}, []string{"c", "e", "id with \"quotes\" and ünïcode", "q"}},
			{engines.FoldOptions{Start: "c", HasStart: true, End: "q", HasEnd: true, EndExclusive: true}, []string{"c", "e", "id with \"quotes\" and ünïcode"}},
			{engines.FoldOptions{Start: "e", HasStart: true, Reverse: true}, []string{"e", "c", "a", "_design/d"}},
		} {
			var got []dbcore.DocRow
			if err := db.AllDocs(c.opts, func(r dbcore.DocRow) error { got = append(got, r); return nil }); err != nil {
				t.Fatal(err)
			}
			if ids := rowIDs(got); !slices.Equal(ids, c.want) {
				t.Errorf("AllDocs(%+v) = %q, want %q", c.opts, ids, c.want)
			}
		}

		// An error from fn stops the feed and is returned.
		stop := errors.New("stop")
		n := 0
		err = db.Changes(0, 0, func(dbcore.Change) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("Changes with a failing fn: %v after %d rows", err, n)
		}
	})
}

func TestWaitForChange(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		ctx := testContext(t, 20*time.Second)
		r := update(t, db, "a", "", `{}`)
		seq := db.UpdateSeq()
		if got, err := db.WaitForChange(ctx, seq-1); err != nil || got != seq {
			t.Errorf("WaitForChange(past) = %d, %v", got, err)
		}

		type result struct {
			seq uint64
			err error
		}
		waiting := make(chan result, 1)
		go func() {
			s, err := db.WaitForChange(ctx, seq)
			waiting <- result{s, err}
		}()
		select {
		case r := <-waiting:
			t.Fatalf("WaitForChange returned %+v before any write", r)
		case <-time.After(20 * time.Millisecond):
		}
		update(t, db, "a", r, `{"n":2}`)
		select {
		case r := <-waiting:
			if r.err != nil || r.seq != seq+1 {
				t.Errorf("WaitForChange = %+v, want %d", r, seq+1)
			}
		case <-ctx.Done():
			t.Fatal("WaitForChange did not return after a write")
		}

		// Cancelling the context ends the wait.
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			s, err := db.WaitForChange(cctx, seq+1)
			waiting <- result{s, err}
		}()
		cancel()
		select {
		case r := <-waiting:
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("cancelled WaitForChange = %+v", r)
			}
		case <-ctx.Done():
			t.Fatal("WaitForChange ignored its context")
		}

		// A setter is a change too.
		go func() {
			s, err := db.WaitForChange(ctx, seq+1)
			waiting <- result{s, err}
		}()
		if err := db.SetSecurity([]byte(`{"members":{}}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-waiting:
			if r.err != nil || r.seq != seq+2 {
				t.Errorf("WaitForChange after SetSecurity = %+v", r)
			}
		case <-ctx.Done():
			t.Fatal("WaitForChange did not return after SetSecurity")
		}
	})
}

func TestInfo(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		db := newDB(t, ec)
		var live []string
		for _, id := range []string{"a", "b", "c"} {
			update(t, db, id, "", `{"id":"`+id+`"}`)
			live = append(live, id)
		}
		r := update(t, db, "gone", "", `{}`)
		if _, err := db.DeleteDoc("gone", r); err != nil {
			t.Fatal(err)
		}
		update(t, db, "_local/l", "", `{"big":"local docs are not counted"}`)
		info := mustInfo(t, db)
		js := info.JSON()
		if !bytes.HasSuffix(js, []byte("}\n")) || !bytes.Contains(js, []byte("\n  \"db_name\": \"db\"")) {
			t.Errorf("Info.JSON is not indented with a trailing newline:\n%s", js)
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"compact_running", "db_name", "doc_count", "doc_del_count", "engine", "purge_seq", "revs_limit", "sizes", "update_seq", "uuid"}; !slices.Equal(keys, want) {
			t.Errorf("info keys %q, want %q", keys, want)
		}
		sizes, _ := m["sizes"].(map[string]any)
		if len(sizes) != 3 || sizes["file"] == nil || sizes["external"] == nil || sizes["active"] == nil {
			t.Errorf("sizes = %v", m["sizes"])
		}
		if m["db_name"] != "db" || m["engine"] != ec.name || m["doc_count"] != 3.0 || m["doc_del_count"] != 1.0 ||
			m["update_seq"] != 5.0 || m["purge_seq"] != 0.0 || m["compact_running"] != false || m["revs_limit"] != 1000.0 {
			t.Errorf("info = %s", js)
		}
		if uuid, _ := m["uuid"].(string); len(uuid) != 32 {
			t.Errorf("uuid %q", uuid)
		}
		// External size: the rendered leaves, tombstone included.
		var want uint64
		for _, id := range live {
			want += uint64(mustGet(t, db, id).Size())
		}
		c, _ := db.LastChange("gone")
		want += uint64((&dbcore.Doc{ID: "gone", Rev: c.Rev, Deleted: true}).Size())
		if info.Sizes.External != want {
			t.Errorf("external size %d, want %d", info.Sizes.External, want)
		}
		if ec.onDisk && info.Sizes.File == 0 {
			t.Errorf("file size 0")
		}
		if db.UpdateSeq() != info.UpdateSeq {
			t.Errorf("UpdateSeq %d, info %d", db.UpdateSeq(), info.UpdateSeq)
		}
	})
}

func rowIDs(rows []dbcore.DocRow) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}
