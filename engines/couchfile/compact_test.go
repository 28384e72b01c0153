package couchfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// leafDump is dump as a compaction must leave it: interior revisions
// without values.
func leafDump(t *testing.T, db engines.DB) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "seq=%d purge=%d docs=%d del=%d revs=%d sec=%s\n",
		db.UpdateSeq(), db.PurgeSeq(), db.DocCount(), db.DelDocCount(), db.RevsLimit(), db.Security())
	err := db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
		var stack []*engines.RevNode
		for _, br := range di.RevTree {
			stack = append(stack, br.Root)
		}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			stack = append(stack, n.Children...)
			if len(n.Children) > 0 {
				n.Value = nil
			} else if n.Value != nil {
				body, err := db.ReadDocBody(n.Value.Ptr)
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "  body %s %s\n", n.ID, body)
				n.Value.Ptr = 0
			}
		}
		fmt.Fprintf(&b, "doc %x\n", engines.AppendDocInfo(nil, di))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := mustDump(t, db)
	// The rest of dump (changes, locals, purges, attachments) is position
	// independent.
	return b.String() + s[strings.Index(s, "change "):]
}

func TestCompactionWithConcurrentWrites(t *testing.T) {
	copied, resume := make(chan struct{}), make(chan struct{})
	eng, db, path := testDB(t, Options{afterCopy: func() { close(copied); <-resume }})
	var ids []string
	for i := range 3000 {
		ids = append(ids, fmt.Sprintf("doc-%05d", i))
	}
	for i := 0; i < len(ids); i += 500 {
		if err := putDocs(db, jsonBody, ids[i:i+500]...); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := putDocs(db, jsonBody, ids[:200]...); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := db.WriteAttachment(bytes.NewReader(bytes.Repeat([]byte("early"), 30000))); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	c, err := db.StartCompaction()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.StartCompaction(); !errors.Is(err, engines.ErrCompactionRunning) {
		t.Fatalf("second StartCompaction: %v", err)
	}
	// Write while the copy runs and after it caught up: updates, new docs,
	// a full purge, locals, an attachment, the security object.
	step := 0
	write := func() {
		step++
		if err := putDocs(db, jsonBody, ids[step*7], ids[2000+step], fmt.Sprintf("new-%03d", step)); err != nil {
			t.Fatal(err)
		}
		if err := db.WriteDocInfos(nil, []engines.LocalDoc{{ID: fmt.Sprintf("_local/%d", step%3), Rev: uint64(step), Body: []byte(`{}`)}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	write()
	<-copied // the snapshot is copied; these writes are behind it
	for range 100 {
		write() // enough for more than one catch-up round
	}
	close(resume)
	for done := false; !done; {
		select {
		case <-c.Done():
			done = true
		default:
			write()
		}
	}
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	write()
	old, _ := db.OpenDocs([]string{ids[2999]})
	if err := db.WriteDocInfos([]engines.DocInfoPair{{Old: old[0]}}, []engines.LocalDoc{{ID: "_local/0", Deleted: true}},
		[]engines.PurgeInfo{{Seq: 1, UUID: "u1", ID: ids[2999]}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.WriteAttachment(strings.NewReader("late attachment")); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSecurity([]byte(`{"members":{"names":["late"]}}`)); err != nil {
		t.Fatal(err)
	}
	write()
	if err := putDocs(db, jsonBody, "uncommitted-before-finish"); err != nil {
		t.Fatal(err)
	}
	want := leafDump(t, db)
	before := db.SizeInfo()
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if got := leafDump(t, db); got != want {
		t.Fatalf("state after Finish differs from before it")
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	after := db.SizeInfo()
	if after.File >= before.File/2 || after.Active > before.Active {
		t.Fatalf("compaction did not shrink the file: %+v → %+v", before, after)
	}
	if _, err := os.Stat(compactPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("compaction file left behind: %v", err)
	}
	if err := putDocs(db, jsonBody, "after-finish"); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	want = leafDump(t, db)
	db.Close()
	again, err := eng.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := leafDump(t, again); got != want {
		t.Fatal("the compacted database differs after reopening")
	}
	if again.(*DB).snap.Load().h.compactedSeq == 0 {
		t.Fatal("compacted seq not recorded")
	}
}

// TestReadersAcrossSwap holds a fold and an attachment reader open across
// Finish: they finish on the old file, and new reads see the new one.
func TestReadersAcrossSwap(t *testing.T) {
	_, db, _ := testDB(t, Options{})
	if err := putDocs(db, jsonBody, "a", "b", "c"); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 20000)
	att, _, err := db.WriteAttachment(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	ar, err := db.OpenAttachment(att)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 10)
	if _, err := io.ReadFull(ar, first); err != nil {
		t.Fatal(err)
	}
	inFold, swapped := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var bodies []string
	var foldErr error
	wg.Go(func() {
		n := 0
		foldErr = db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
			if n++; n == 1 {
				close(inFold)
				<-swapped
			}
			b, err := db.ReadDocBody(di.RevTree[0].Root.Value.Ptr)
			bodies = append(bodies, string(b))
			return err
		})
	})
	<-inFold
	c, err := db.StartCompaction()
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	close(swapped)
	wg.Wait()
	// The fold's doc infos point into the old file, which stays readable
	// for a grace period after the swap.
	if foldErr != nil {
		t.Fatalf("fold across the swap: %v", foldErr)
	}
	for i, b := range bodies {
		if b != string(jsonBody([]string{"a", "b", "c"}[i])) {
			t.Fatalf("fold across the swap read a wrong body: %q", b)
		}
	}
	rest, err := io.ReadAll(ar)
	if err != nil || !bytes.Equal(append(first, rest...), data) {
		t.Fatalf("attachment reader across the swap: %v", err)
	}
	if err := ar.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := db.OpenAttachment(att)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("attachment after compaction: %v", err)
	}
	// Once the old file is gone, an old pointer is refused, not misread.
	stale := (db.snap.Load().st.gen - 1) & genMask
	old := db.retiredStore(stale)
	db.unretire(old) // as its timer would
	old.release()    // the reference retiredStore took
	if db.retiredStore(stale) != nil {
		t.Fatal("the replaced file is still retired")
	}
	oldPtr := 4096<<genBits | stale
	if _, err := db.ReadDocBody(oldPtr); !errors.Is(err, engines.ErrCorrupt) {
		t.Fatalf("a pointer from before the swap: %v", err)
	}
}

func TestCompactionTrimsPurgeInfos(t *testing.T) {
	_, db, _ := testDB(t, Options{})
	if err := db.SetPurgeInfosLimit(3); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		if err := db.WriteDocInfos(nil, nil, []engines.PurgeInfo{{Seq: uint64(i), UUID: fmt.Sprint("u", i), ID: "gone"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	c, err := db.StartCompaction()
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	// Two more arrive during the compaction; the limit counts from the
	// purge seq at Finish.
	for i := 11; i <= 12; i++ {
		if err := db.WriteDocInfos(nil, nil, []engines.PurgeInfo{{Seq: uint64(i), UUID: fmt.Sprint("u", i), ID: "gone"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	if err := db.FoldPurgeInfos(0, func(pi engines.PurgeInfo) error { seqs = append(seqs, pi.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs) != "[10 11 12]" {
		t.Fatalf("purge infos after compaction: %v", seqs)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestCompactionLeftovers(t *testing.T) {
	eng, db, path := testDB(t, Options{})
	if err := putDocs(db, jsonBody, "a"); err != nil {
		t.Fatal(err)
	}
	c, err := db.StartCompaction()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(compactPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Cancel left the copy: %v", err)
	}
	if _, err := db.StartCompaction(); err != nil { // Close aborts it
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(compactPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Close left the copy: %v", err)
	}

	// A leftover from a crash is removed by Open and by Delete; on its own
	// it is not a database.
	if err := os.WriteFile(compactPath(path), []byte("partial copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	reopened, err := eng.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	reopened.Close()
	if _, err := os.Stat(compactPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open left the leftover: %v", err)
	}
	if err := os.WriteFile(compactPath(path), []byte("partial copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := eng.Delete(path); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, compactPath(path)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Delete left %s: %v", p, err)
		}
	}
	if err := os.WriteFile(compactPath(path), []byte("partial copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, err := eng.Exists(path); ok || err != nil {
		t.Fatalf("Exists with only a leftover: %v, %v", ok, err)
	}
	if _, err := eng.Open(path); !errors.Is(err, engines.ErrNotFound) {
		t.Fatalf("Open with only a leftover: %v", err)
	}
	if err := os.WriteFile(compactPath(path), []byte("partial copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := eng.Delete(path); err != nil {
		t.Fatalf("Delete of only a leftover: %v", err)
	}
	if err := eng.Delete(path); !errors.Is(err, engines.ErrNotFound) {
		t.Fatalf("Delete of nothing: %v", err)
	}
}
