package fs_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
	couchfs "github.com/couchfs/couchfs/fs"
)

// TestLargeDatabase lists a 10,000-document database (loaded through dbcore
// in batches) with ls and ls _changes, and compares with the database.
func TestLargeDatabase(t *testing.T) {
	const n = 10000
	e := mountT(t, couchfs.Options{})
	e.mkdb("big")
	db := e.db("big")
	load(t, db, 0, n, func(i int) *dbcore.Doc {
		return &dbcore.Doc{ID: fmt.Sprintf("doc%05d", i), Body: []byte(fmt.Sprintf(`{"i":%d}`, i))}
	})
	// One id that needs escaping.
	if _, err := db.SaveJSON("a/b%c", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}

	var want []string
	if err := db.AllDocs(engines.FoldOptions{}, func(r dbcore.DocRow) error {
		want = append(want, couchfs.EncodeName(r.ID))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, name := range strings.Fields(sh(t, "ls "+e.p("big"))) {
		if strings.HasSuffix(name, ".json") {
			got = append(got, name)
		}
	}
	sort.Strings(want)
	if len(got) != n+1 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ls lists %d documents, the database has %d", len(got), len(want))
	}

	var wantChanges []string
	if err := db.Changes(0, 0, func(c dbcore.Change) error {
		wantChanges = append(wantChanges, couchfs.ChangeName(c.Seq, c.ID))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gotChanges := strings.Fields(sh(t, "ls "+e.p("big", "_changes")))
	if strings.Join(gotChanges, "\n") != strings.Join(wantChanges, "\n") {
		t.Fatalf("ls _changes lists %d entries, the feed has %d", len(gotChanges), len(wantChanges))
	}
	// ls's order is seq order.
	last := gotChanges[len(gotChanges)-1]
	if !strings.HasSuffix(last, "-a%2Fb%25c.json") {
		t.Errorf("last change %s, want the last document written", last)
	}
	if out := sh(t, "cat "+e.p("big", "_changes", last)); !strings.Contains(out, `"id":"a/b%c"`) && !strings.Contains(out, `"id": "a/b%c"`) {
		t.Errorf("change row %s", out)
	}
	// ls -l stats every entry from the listing itself.
	if lines := strings.Count(sh(t, "ls -l "+e.p("big")), "\n"); lines < n {
		t.Errorf("ls -l printed %d lines", lines)
	}
}
