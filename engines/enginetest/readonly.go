package enginetest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// WantWritesRefused calls every write of the contract on db, a DB from
// engines.ReadOnlyOpener holding at least one document, and requires each
// to fail with engines.ErrReadOnly. Each write would be valid on a
// writable DB (the document write replaces the first document's doc info
// with the next update sequence), so a refusal is the DB's read-only
// state and not the input. Optional features are tried where db has them.
func WantWritesRefused(t testing.TB, db engines.DB) {
	t.Helper()
	var first *engines.DocInfo
	err := db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
		first = di
		return engines.ErrStopFold
	})
	if err != nil && !errors.Is(err, engines.ErrStopFold) {
		t.Fatalf("FoldDocs: %v", err)
	}
	if first == nil {
		t.Fatal("WantWritesRefused needs a database holding a document")
	}
	writes := []struct {
		name string
		call func() error
	}{
		{"WriteDocBody", func() error { _, _, err := db.WriteDocBody([]byte(`{}`)); return err }},
		{"WriteDocInfos", func() error {
			next := *first
			next.UpdateSeq = db.UpdateSeq() + 1
			return db.WriteDocInfos([]engines.DocInfoPair{{Old: first, New: &next}}, nil, nil)
		}},
		{"WriteDocInfos of a local doc", func() error {
			return db.WriteDocInfos(nil, []engines.LocalDoc{{ID: "_local/refused", Rev: 1, Body: []byte(`{}`)}}, nil)
		}},
		{"SetUpdateSeq", func() error { return db.SetUpdateSeq(db.UpdateSeq() + 10) }},
		{"Commit", db.Commit},
		{"SetRevsLimit", func() error { return db.SetRevsLimit(7) }},
		{"SetPurgeInfosLimit", func() error { return db.SetPurgeInfosLimit(7) }},
		{"SetSecurity", func() error { return db.SetSecurity([]byte(`{"admins":{}}`)) }},
	}
	if c, ok := db.(engines.Compacter); ok {
		writes = append(writes, struct {
			name string
			call func() error
		}{"StartCompaction", func() error { _, err := c.StartCompaction(); return err }})
	}
	if a, ok := db.(engines.AttachmentStreamer); ok {
		writes = append(writes, struct {
			name string
			call func() error
		}{"WriteAttachment", func() error { _, _, err := a.WriteAttachment(bytes.NewReader([]byte("data"))); return err }})
	}
	for _, w := range writes {
		if err := w.call(); !errors.Is(err, engines.ErrReadOnly) {
			t.Errorf("%s on a read-only DB: %v, want ErrReadOnly", w.name, err)
		}
	}
}

// DirState renders every entry under dir with its size, mode and
// modification time: equal renderings mean nothing in dir changed, which
// is what a read-only open promises.
func DirState(t testing.TB, dir string) string {
	t.Helper()
	var b bytes.Buffer
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %v %d\n", p, fi.Size(), fi.Mode(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
