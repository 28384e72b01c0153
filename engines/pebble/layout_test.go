package pebble

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestAppendsNeedNoCompaction: a load of documents with rising IDs only
// appends to every structure, so each memtable flush adds L0 tables that
// overlap no earlier one and Pebble has nothing to compact, as with raw
// appends. A table spanning two structures, or a state record under one
// key, makes every flush overlap the last and the load rewrite its bodies.
func TestAppendsNeedNoCompaction(t *testing.T) {
	d := createDB(t, Options{MemTableSize: 1 << 20}, filepath.Join(t.TempDir(), "a.pebble"))
	loadDocs(t, d, risingIDs(8000), 1000, 500)
	pdb := d.cur.Load().pdb
	if err := pdb.Flush(); err != nil {
		t.Fatal(err)
	}
	m := pdb.Metrics()
	if m.Flush.Count < 4 {
		t.Fatalf("%d flushes: the load did not exercise L0", m.Flush.Count)
	}
	if m.Compact.Count != 0 || m.Compact.NumInProgress != 0 || m.Levels[0].Sublevels != 1 {
		t.Errorf("after %d flushes: %d compactions (%d running), %d L0 sublevels; want 0, 0, 1\n%s",
			m.Flush.Count, m.Compact.Count, m.Compact.NumInProgress, m.Levels[0].Sublevels, m)
	}
}

// TestStateLogSwept: every commit writes a new state record; the log
// drops the old ones as it goes, and a reopen reads the newest.
func TestStateLogSwept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.pebble")
	edb, err := New(Options{}).Create(path)
	if err != nil {
		t.Fatal(err)
	}
	d := edb.(*db)
	const commits = 3*stateSweep + 10
	for i := range commits {
		if err := d.SetSecurity(fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	records := countKeys(t, d.cur.Load().pdb, prefixState)
	if records < 1 || records > stateSweep {
		t.Errorf("%d state records after %d commits, want 1..%d", records, commits, stateSweep)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	edb, err = New(Options{}).Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer edb.Close()
	want := fmt.Sprintf(`{"n":%d}`, commits-1)
	if got := string(edb.Security()); got != want {
		t.Errorf("security after reopen = %s, want %s", got, want)
	}
}

func countKeys(t *testing.T, r pebble.Reader, prefix byte) int {
	t.Helper()
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefixStart(prefix), UpperBound: prefixEnd(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n
}
