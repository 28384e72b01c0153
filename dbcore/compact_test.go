package dbcore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
)

// TestCompact writes while a compaction runs (the gated engine holds it
// open): every write, before, during and after, is readable afterwards,
// also after a restart, and the bodies of old revisions are gone.
func TestCompact(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		dir := t.TempDir()
		ge := newGatedEngine(checked(t, ec))
		gate := ge.gate
		opts := serverOptions(t, dir, ec)
		opts.Engines = []engines.Engine{ge}
		s := startServer(t, opts)
		db := createDB(t, s, "db")
		ctx := testContext(t, 30*time.Second)
		if err := db.WaitCompaction(ctx); err != nil {
			t.Fatalf("WaitCompaction with none running: %v", err)
		}

		// 200 documents of three revisions each, written in batches.
		const n = 200
		latest := map[string]string{} // id → body
		revs := map[string]string{}   // id → rev
		var first []string            // the first revision of each doc
		for round := range 3 {
			var docs []*dbcore.Doc
			for i := range n {
				id := fmt.Sprintf("doc%03d", i)
				docs = append(docs, &dbcore.Doc{ID: id, Rev: revs[id], Body: fmt.Appendf(nil, `{"i":%d,"round":%d,"pad":"%0100d"}`, i, round, i)})
			}
			res, err := db.UpdateDocs(docs, dbcore.UpdateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				revs[r.ID] = r.Rev
				latest[r.ID] = string(docs[i].Body)
				if round == 0 {
					first = append(first, r.Rev)
				}
			}
		}
		update(t, db, "_local/keep", "", `{"l":1}`)
		if err := db.SetSecurity([]byte(`{"members":{"names":["x"]}}`)); err != nil {
			t.Fatal(err)
		}
		if d, err := db.GetRev("doc000", first[0]); err != nil || d.Deleted {
			t.Fatalf("old revision before compaction: %+v, %v", d, err)
		}
		before := mustInfo(t, db)

		if err := db.Compact(); err != nil {
			t.Fatalf("Compact: %v", err)
		}
		if !mustInfo(t, db).CompactRunning {
			t.Fatal("compact_running is false during a compaction")
		}
		if err := db.Compact(); err != nil {
			t.Fatalf("second Compact: %v", err)
		}
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		err := db.WaitCompaction(short)
		cancel()
		wantErr(t, "WaitCompaction before the end", err, context.DeadlineExceeded)

		// Writes while the compaction runs: new documents, updates, a
		// delete, a local document, a setter.
		written := map[string]string{}
		for i := range 20 {
			id := fmt.Sprintf("during%02d", i)
			body := fmt.Sprintf(`{"during":%d}`, i)
			update(t, db, id, "", body)
			written[id] = body
		}
		for _, id := range []string{"doc001", "doc002"} {
			body := `{"updated":"during"}`
			revs[id] = update(t, db, id, revs[id], body)
			latest[id] = body
		}
		if _, err := db.DeleteDoc("doc003", revs["doc003"]); err != nil {
			t.Fatal(err)
		}
		delete(latest, "doc003")
		update(t, db, "_local/during", "", `{}`)
		if err := db.SetRevsLimit(50); err != nil {
			t.Fatal(err)
		}
		seq := db.UpdateSeq()
		close(gate)
		if err := db.WaitCompaction(ctx); err != nil {
			t.Fatalf("WaitCompaction: %v", err)
		}
		if got := db.UpdateSeq(); got != seq {
			t.Errorf("update_seq %d after compaction, %d before the swap", got, seq)
		}
		if mustInfo(t, db).CompactRunning {
			t.Error("compact_running after WaitCompaction")
		}
		check := func(db *dbcore.DB) {
			t.Helper()
			for id, body := range latest {
				if d := mustGet(t, db, id); d.Rev != revs[id] || string(d.Body) != body {
					t.Fatalf("%s after compaction: %s %s", id, d.Rev, d.Body)
				}
			}
			_, err := db.Get("doc003")
			wantErr(t, "doc deleted during compaction", err, dbcore.ErrNotFound)
			for id, body := range written {
				if d := mustGet(t, db, id); string(d.Body) != body {
					t.Fatalf("%s written during compaction: %s", id, d.Body)
				}
			}
			info := mustInfo(t, db)
			if want := uint64(n - 1 + len(written)); info.DocCount != want || info.DocDelCount != 1 {
				t.Errorf("doc_count %d, want %d", info.DocCount, want)
			}
			if got := len(changes(t, db, 0, 0)); got != n+len(written) {
				t.Errorf("%d changes rows, want %d", got, n+len(written))
			}
			if info.UUID != before.UUID || info.RevsLimit != 50 {
				t.Errorf("info after compaction %+v, before %+v", info, before)
			}
			for _, id := range []string{"_local/keep", "_local/during"} {
				if d := mustGet(t, db, id); d.Rev != "0-1" {
					t.Errorf("%s after compaction: %s", id, d.Rev)
				}
			}
			if got := string(db.Security()); got != `{"members":{"names":["x"]}}` {
				t.Errorf("security after compaction: %s", got)
			}
		}
		check(db)
		_, err = db.GetRev("doc000", first[0])
		wantErr(t, "GetRev of a non-leaf revision after compaction", err, dbcore.ErrNotFound)
		// Writes after compaction go on from the same state.
		update(t, db, "doc000", revs["doc000"], `{"after":true}`)
		latest["doc000"], revs["doc000"] = `{"after":true}`, mustGet(t, db, "doc000").Rev

		// And everything survives a restart.
		db.Close()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = startServer(t, serverOptions(t, dir, ec))
		check(openDB(t, s, "db"))
	})
}

// TestCompactCancelledByClose closes the server in the middle of a
// compaction: nothing is lost, and the database compacts later.
func TestCompactCancelledByClose(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		dir := t.TempDir()
		s, err := dbcore.NewServer(serverOptions(t, dir, ec))
		if err != nil {
			t.Fatal(err)
		}
		db := createDB(t, s, "db")
		var docs []*dbcore.Doc
		for i := range 500 {
			docs = append(docs, &dbcore.Doc{ID: fmt.Sprintf("d%03d", i), Body: fmt.Appendf(nil, `{"i":%d}`, i)})
		}
		if _, err := db.UpdateDocs(docs, dbcore.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Compact(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close during compaction: %v", err)
		}
		// The handle's database is closed: waiting ends at once.
		if err := db.WaitCompaction(testContext(t, 10*time.Second)); err != nil {
			t.Errorf("WaitCompaction after server Close: %v", err)
		}
		db.Close()

		s = startServer(t, serverOptions(t, dir, ec))
		db = openDB(t, s, "db")
		if info := mustInfo(t, db); info.DocCount != 500 || info.CompactRunning {
			t.Fatalf("after restart: %+v", info)
		}
		if err := db.Compact(); err != nil {
			t.Fatal(err)
		}
		if err := db.WaitCompaction(testContext(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if d := mustGet(t, db, "d499"); string(d.Body) != `{"i":499}` {
			t.Errorf("d499 = %s", d.Body)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := db.Compact(); err != nil {
			t.Fatal(err)
		}
		if err := db.WaitCompaction(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("WaitCompaction with a cancelled context: %v", err)
		}
		if err := db.WaitCompaction(testContext(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
	})
}

// waitSeq waits until the update sequence reaches seq.
func waitSeq(t *testing.T, db *dbcore.DB, seq uint64) {
	t.Helper()
	ctx := testContext(t, 20*time.Second)
	for db.UpdateSeq() < seq {
		if _, err := db.WaitForChange(ctx, db.UpdateSeq()); err != nil {
			t.Fatalf("waiting for update_seq %d: %v", seq, err)
		}
	}
}

// TestDeleteDuringCompaction deletes a database whose compaction is held
// open: the delete cancels it, leaves nothing behind, and the name can be
// reused.
func TestDeleteDuringCompaction(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		ge := newGatedEngine(checked(t, ec))
		t.Cleanup(func() { close(ge.gate) })
		opts := serverOptions(t, t.TempDir(), ec)
		opts.Engines = []engines.Engine{ge}
		s := startServer(t, opts)
		db := createDB(t, s, "db")
		for i := range 50 {
			update(t, db, fmt.Sprintf("d%02d", i), "", `{}`)
		}
		if err := db.Compact(); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteDB("db", false); err != nil {
			t.Fatalf("DeleteDB during compaction: %v", err)
		}
		if err := db.WaitCompaction(testContext(t, 10*time.Second)); err != nil {
			t.Errorf("WaitCompaction on a deleted db: %v", err)
		}
		if all, err := s.AllDBs(); err != nil || len(all) != 0 {
			t.Errorf("AllDBs after delete = %q, %v", all, err)
		}
		if ok, err := s.Exists("db"); ok || err != nil {
			t.Errorf("Exists = %v, %v", ok, err)
		}
		db2 := createDB(t, s, "db")
		if info := mustInfo(t, db2); info.DocCount != 0 || info.CompactRunning {
			t.Errorf("recreated db: %+v", info)
		}
	})
}
