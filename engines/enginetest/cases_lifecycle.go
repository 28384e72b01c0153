package enginetest

import (
	"path/filepath"

	"github.com/couchfs/couchfs/engines"
)

// lifecycleCases port cpse_test_open_close_delete, plus the leftovers of an
// interrupted compaction and the fate of uncommitted writes.
func lifecycleCases(p *env) []testCase {
	cs := []testCase{
		{"open_non_existent", func(e *env) {
			missing := filepath.Join(e.t.TempDir(), "missing"+e.eng.Ext())
			for range 2 {
				_, err := e.eng.Open(missing)
				e.wantErr("Open of a missing db", err, engines.ErrNotFound)
			}
			if ok, err := e.eng.Exists(missing); err != nil || ok {
				e.t.Fatalf("Exists after failed Opens = %v, %v; a failed Open must not create", ok, err)
			}
		}},
		{"open_create", func(e *env) {
			path := filepath.Join(e.t.TempDir(), "other"+e.eng.Ext())
			if ok, err := e.eng.Exists(path); err != nil || ok {
				e.t.Fatalf("Exists before Create = %v, %v", ok, err)
			}
			_, err := e.eng.Open(path)
			e.wantErr("Open before Create", err, engines.ErrNotFound)
			db := e.create(path)
			if ok, err := e.eng.Exists(path); err != nil || !ok {
				e.t.Fatalf("Exists after Create = %v, %v", ok, err)
			}
			if err := db.Close(); err != nil {
				e.t.Fatal(err)
			}
		}},
		{"create_when_exists", func(e *env) {
			e.w.apply(put("a", `{"v":1}`))
			_, err := e.eng.Create(e.path)
			e.wantErr("second Create", err, engines.ErrExists)
			if got := e.winnerBody("a"); got != `{"v":1}` {
				e.t.Fatalf("after refused Create, body %s", got)
			}
		}},
		{"terminate", func(e *env) {
			e.close()
			if ok, err := e.eng.Exists(e.path); err != nil || !ok {
				e.t.Fatalf("Exists after Close = %v, %v", ok, err)
			}
			e.db = e.open(e.path)
		}},
		{"rapid_recycle", func(e *env) {
			e.w.apply(put("a", `{}`))
			uuid := e.db.UUID()
			for range 20 {
				e.reopen()
			}
			if e.db.UUID() != uuid || e.db.DocCount() != 1 {
				e.t.Fatalf("after 20 reopens: uuid %s count %d", e.db.UUID(), e.db.DocCount())
			}
		}},
		{"delete", func(e *env) {
			e.w.apply(put("a", `{}`))
			e.close()
			if err := e.eng.Delete(e.path); err != nil {
				e.t.Fatalf("Delete: %v", err)
			}
			if ok, err := e.eng.Exists(e.path); err != nil || ok {
				e.t.Fatalf("Exists after Delete = %v, %v", ok, err)
			}
			_, err := e.eng.Open(e.path)
			e.wantErr("Open after Delete", err, engines.ErrNotFound)
			e.wantErr("second Delete", e.eng.Delete(e.path), engines.ErrNotFound)
		}},
		{"delete_then_create_is_empty", func(e *env) {
			e.w.apply(put("a", `{}`), localPut("_local/a", `{}`))
			uuid := e.db.UUID()
			e.close()
			if err := e.eng.Delete(e.path); err != nil {
				e.t.Fatalf("Delete: %v", err)
			}
			e.db = e.create(e.path)
			e.counts(0, 0, 0, 0)
			if e.openDoc("a") != nil || e.openLocal("_local/a") != nil {
				e.t.Fatal("a recreated database shows the deleted one's documents")
			}
			if e.db.UUID() == uuid {
				e.t.Fatal("a recreated database kept the deleted one's UUID")
			}
		}},
		{"delete_missing", func(e *env) {
			missing := filepath.Join(e.t.TempDir(), "missing"+e.eng.Ext())
			e.wantErr("Delete of a missing db", e.eng.Delete(missing), engines.ErrNotFound)
		}},
		{"uncommitted_writes_dropped_on_close", func(e *env) {
			e.w.apply(put("kept", `{"v":1}`))
			e.w.commit = false
			e.w.apply(put("lost", `{}`), put("kept", `{"v":2}`), localPut("_local/lost", `{}`))
			if e.openDoc("lost") == nil {
				e.t.Fatal("a written doc is not visible before Commit")
			}
			e.w.commit = true
			e.reopen()
			if e.openDoc("lost") != nil || e.openLocal("_local/lost") != nil {
				e.t.Fatal("uncommitted writes survived Close")
			}
			if got := e.winnerBody("kept"); got != `{"v":1}` {
				e.t.Fatalf("kept doc body %s after reopen, want the committed one", got)
			}
			e.counts(1, 0, 1, 0)
		}},
		{"calls_after_close_fail", func(e *env) {
			db := e.db
			e.close()
			_, err := db.OpenDocs([]string{"a"})
			e.wantErr("OpenDocs after Close", err, engines.ErrClosed)
			err = db.FoldDocs(engines.FoldOptions{}, func(*engines.DocInfo) error { return nil })
			e.wantErr("FoldDocs after Close", err, engines.ErrClosed)
			err = db.WriteDocInfos(nil, []engines.LocalDoc{{ID: "_local/x", Rev: 1, Body: []byte("{}")}}, nil)
			e.wantErr("WriteDocInfos after Close", err, engines.ErrClosed)
			e.wantErr("Commit after Close", db.Commit(), engines.ErrClosed)
			e.db = e.open(e.path)
		}},
		{"exists_on_other_path", func(e *env) {
			sibling := e.path + "x"
			if ok, err := e.eng.Exists(sibling); err != nil || ok {
				e.t.Fatalf("Exists(%s) = %v, %v next to an existing db", sibling, ok, err)
			}
			other := filepath.Join(e.t.TempDir(), "db"+e.eng.Ext())
			if ok, err := e.eng.Exists(other); err != nil || ok {
				e.t.Fatalf("Exists(%s) = %v, %v for the same name in another directory", other, ok, err)
			}
		}},
	}
	if p.caps.compacter {
		cs = append(cs,
			testCase{"delete_with_compaction_leftovers", func(e *env) {
				fill(e, 20)
				startAndWait(e)
				// Closing without Finish is what a crash leaves: the
				// compaction's files next to the database.
				e.close()
				if err := e.eng.Delete(e.path); err != nil {
					e.t.Fatalf("Delete: %v", err)
				}
				if ok, err := e.eng.Exists(e.path); err != nil || ok {
					e.t.Fatalf("Exists after Delete = %v, %v: leftovers count as a database", ok, err)
				}
				_, err := e.eng.Open(e.path)
				e.wantErr("Open after Delete", err, engines.ErrNotFound)
				e.db = e.create(e.path)
				e.counts(0, 0, 0, 0)
			}},
			testCase{"reopen_after_unfinished_compaction", func(e *env) {
				fill(e, 20)
				before := capture(e.t, e.db, exact)
				startAndWait(e)
				e.reopen()
				diffSnapshots(e.t, "reopen after unfinished compaction", before, capture(e.t, e.db, exact))
				compact(e)
				e.w.apply(put("doc-0001", `{"after":true}`))
			}},
		)
	}
	return cs
}
