package dbcore_test

import (
	"testing"

	"github.com/couchfs/couchfs/dbcore"
)

// TestReadOnly: a read-only server serves reads and refuses every write
// with ErrReadOnly, changing nothing.
func TestReadOnly(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		dir := t.TempDir()
		s, err := dbcore.NewServer(serverOptions(t, dir, ec))
		if err != nil {
			t.Fatal(err)
		}
		db := createDB(t, s, "db")
		r := update(t, db, "doc", "", `{"v":1}`)
		update(t, db, "other", "", `{}`)
		update(t, db, "_local/l", "", `{}`)
		db.Close()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		opts := serverOptions(t, dir, ec)
		opts.ReadOnly = true
		s = startServer(t, opts)
		db = openDB(t, s, "db")
		before := mustInfo(t, db)
		writes := []struct {
			name string
			fn   func() error
		}{
			{"CreateDB", func() error { return s.CreateDB("new", "") }},
			{"DeleteDB", func() error { return s.DeleteDB("db", false) }},
			{"UpdateDocs", func() error {
				_, err := db.UpdateDocs([]*dbcore.Doc{{ID: "doc", Rev: r, Body: []byte(`{}`)}}, dbcore.UpdateOptions{})
				return err
			}},
			{"UpdateDocs replicated", func() error {
				_, err := db.UpdateDocs([]*dbcore.Doc{{ID: "x", Rev: rev(1, hexRev("a"))}}, dbcore.UpdateOptions{Replicated: true})
				return err
			}},
			{"UpdateDocs local", func() error {
				_, err := db.UpdateDocs([]*dbcore.Doc{{ID: "_local/l"}}, dbcore.UpdateOptions{})
				return err
			}},
			{"SaveJSON", func() error { _, err := db.SaveJSON("doc", []byte(`{"v":2}`), r); return err }},
			{"SaveJSON create", func() error { _, err := db.SaveJSON("new", []byte(`{}`), ""); return err }},
			{"DeleteDoc", func() error { _, err := db.DeleteDoc("doc", r); return err }},
			{"DeleteDoc current", func() error { _, err := db.DeleteDoc("doc", ""); return err }},
			{"DeleteDoc local", func() error { _, err := db.DeleteDoc("_local/l", ""); return err }},
			{"MoveDoc", func() error { _, err := db.MoveDoc("doc", "moved"); return err }},
			{"SetSecurity", func() error { return db.SetSecurity([]byte(`{}`)) }},
			{"SetRevsLimit", func() error { return db.SetRevsLimit(5) }},
			{"Purge", func() error { _, err := db.Purge(map[string][]string{"doc": {r}}); return err }},
			{"PurgeJSON", func() error { _, err := db.PurgeJSON([]byte(`{"doc":["` + r + `"]}`)); return err }},
			{"Compact", func() error { return db.Compact() }},
		}
		for _, w := range writes {
			wantErr(t, w.name+" on a read-only server", w.fn(), dbcore.ErrReadOnly)
		}
		after := mustInfo(t, db)
		after.Sizes, before.Sizes = dbcore.Sizes{}, dbcore.Sizes{}
		if after != before {
			t.Errorf("info changed: %+v → %+v", before, after)
		}
		if d := mustGet(t, db, "doc"); d.Rev != r {
			t.Errorf("doc changed to %s", d.Rev)
		}
		mustGet(t, db, "_local/l")
		if rows := allDocs(t, db); len(rows) != 2 {
			t.Errorf("AllDocs = %+v", rows)
		}
		if got := changes(t, db, 0, 0); len(got) != 2 {
			t.Errorf("changes = %+v", got)
		}
		if ok, err := s.Exists("new"); ok || err != nil {
			t.Errorf("Exists(new) = %v, %v", ok, err)
		}
	})
}
