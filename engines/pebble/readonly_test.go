package pebble_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/enginetest"
	"github.com/couchfs/couchfs/engines/pebble"
)

var errRefusedWrite = errors.New("test: this disk refuses writes")

// refusingFS is the operating system's file system failing every
// operation that would change something (closing a file aside), counting
// them.
func refusingFS(attempts *atomic.Int64) vfs.FS {
	return errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && op.Kind != errorfs.OpFileClose {
			attempts.Add(1)
			return errRefusedWrite
		}
		return nil
	}))
}

// TestOpenReadOnly opens a database read-only while a read-write handle
// has it open with an uncommitted write, with committed data both in
// sstables (flushed by a reopen, a large body included) and in the WAL:
// the read-only DB answers
// exactly the committed state, keeps answering it after the read-write
// handle commits, refuses every write, and leaves every file of the
// directory as it was, Pebble's LOCK and the leftovers Open would remove
// (a stale generation, a GENERATION.tmp) included. The same holds on a
// file system that fails every write and sync, and on files and
// directories without write permission.
func TestOpenReadOnly(t *testing.T) {
	cases := []struct {
		name string
		fs   func(attempts *atomic.Int64) vfs.FS // the read-only engine's
		// chmod removes the write permission of every file and directory
		// while the read-only DB is open (root ignores it, others do not).
		chmod bool
	}{
		{"beside a read-write handle", func(*atomic.Int64) vfs.FS { return vfs.Default }, false},
		{"on a file system that refuses writes", refusingFS, false},
		{"on read-only files", func(*atomic.Int64) vfs.FS { return vfs.Default }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "db.pebble")
			eng := pebble.New(pebble.Options{})
			rw, err := eng.Create(path)
			must(t, err)
			m := newModel()
			commit := func(ids ...string) {
				t.Helper()
				var pairs []engines.DocInfoPair
				for _, id := range ids {
					pairs = append(pairs, m.put(t, rw, id, false))
				}
				must(t, rw.WriteDocInfos(pairs, []engines.LocalDoc{m.local("_local/l", false)}, nil))
				must(t, rw.Commit())
			}
			commit("a0", "a1", "a2")
			// A body large enough for Pebble to keep apart from its key
			// where it separates values.
			big := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 8<<10))
			ptr, active, err := rw.WriteDocBody([]byte(big))
			must(t, err)
			m.seq++
			m.bodies[ptr] = big
			m.docs["big"] = &engines.DocInfo{ID: "big", UpdateSeq: m.seq, ActiveSize: active, ExternalSize: uint64(len(big)),
				RevTree: engines.RevTree{{Start: 1, Root: &engines.RevNode{ID: "rbig", Value: &engines.RevValue{Ptr: ptr, Seq: m.seq, Size: uint64(len(big))}}}}}
			must(t, rw.WriteDocInfos([]engines.DocInfoPair{{New: m.docs["big"]}}, nil, nil))
			must(t, rw.Commit())
			must(t, rw.SetSecurity([]byte(`{"members":{"names":["m"]}}`)))
			// A reopen flushes the WAL into an sstable.
			must(t, rw.Close())
			rw, err = eng.Open(path)
			must(t, err)
			t.Cleanup(func() { rw.Close() })
			commit("b0", "a1")
			committed := m.view()
			uncommitted := m.clone()
			must(t, rw.WriteDocInfos([]engines.DocInfoPair{uncommitted.put(t, rw, "uncommitted", false)}, nil, nil))

			for _, leftover := range []string{filepath.Join(path, "gen-99"), filepath.Join(path, "GENERATION.tmp")} {
				if err := os.WriteFile(leftover, []byte("left over"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.chmod {
				err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					fi, err := d.Info()
					if err != nil {
						return err
					}
					t.Cleanup(func() { os.Chmod(p, fi.Mode().Perm()) })
					return os.Chmod(p, fi.Mode().Perm()&^0o222)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			before := enginetest.DirState(t, dir)

			var attempts atomic.Int64
			roEng := pebble.New(pebble.Options{FS: tc.fs(&attempts)}).(engines.ReadOnlyOpener)
			ro, err := roEng.OpenReadOnly(path)
			if err != nil {
				t.Fatalf("OpenReadOnly: %v", err)
			}
			if got := capture(t, ro); !equalViews(got, committed) {
				t.Errorf("read-only DB answers %v, want the committed %v", got, committed)
			}
			check(t, ro)
			if got := string(ro.Security()); got != `{"members":{"names":["m"]}}` {
				t.Errorf("Security = %s", got)
			}
			for id, di := range m.docs {
				body, err := ro.ReadDocBody(di.RevTree[0].Root.Value.Ptr)
				if err != nil || string(body) != m.bodies[di.RevTree[0].Root.Value.Ptr] {
					t.Errorf("body of %s's first revision: %q, %v", id, body, err)
				}
			}
			enginetest.WantWritesRefused(t, ro)
			if got := capture(t, ro); !equalViews(got, committed) {
				t.Errorf("after the refused writes the read-only DB answers %v", got)
			}
			must(t, ro.Close())
			if n := attempts.Load(); n != 0 {
				t.Errorf("%d operations that change files reached the file system", n)
			}
			if after := enginetest.DirState(t, dir); after != before {
				t.Errorf("the directory changed:\nbefore\n%safter\n%s", before, after)
			}

			// A commit of the read-write handle does not change an open
			// read-only DB; a new one sees it.
			ro, err = roEng.OpenReadOnly(path)
			must(t, err)
			defer ro.Close()
			if tc.chmod {
				return // the read-write handle cannot commit into read-only files for everyone
			}
			must(t, rw.Commit())
			if got := capture(t, ro); !equalViews(got, committed) {
				t.Errorf("after a commit of the read-write handle the read-only DB answers %v", got)
			}
			ro2, err := roEng.OpenReadOnly(path)
			must(t, err)
			defer ro2.Close()
			if got, want := capture(t, ro2), uncommitted.view(); !equalViews(got, want) {
				t.Errorf("a read-only DB opened after the commit answers %v, want %v", got, want)
			}
		})
	}
}

// TestOpenReadOnlyNotFound: no database is ErrNotFound, as for Open.
func TestOpenReadOnlyNotFound(t *testing.T) {
	eng := pebble.New(pebble.Options{}).(engines.ReadOnlyOpener)
	if _, err := eng.OpenReadOnly(filepath.Join(t.TempDir(), "none.pebble")); !errors.Is(err, engines.ErrNotFound) {
		t.Errorf("OpenReadOnly of nothing: %v, want ErrNotFound", err)
	}
}
