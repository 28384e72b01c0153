package couchfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/enginetest"
)

// readOnlyFile is a File whose every write, sync and truncate fails and is
// counted: a disk that refuses to change.
type readOnlyFile struct {
	File
	attempts *atomic.Int64
}

var errRefusedWrite = errors.New("test: this disk refuses writes")

func (f readOnlyFile) WriteAt([]byte, int64) (int, error) {
	f.attempts.Add(1)
	return 0, errRefusedWrite
}

func (f readOnlyFile) Sync() error {
	f.attempts.Add(1)
	return errRefusedWrite
}

func (f readOnlyFile) Truncate(int64) error {
	f.attempts.Add(1)
	return errRefusedWrite
}

// refusingOpenFile opens files for reading only; an open for writing fails
// and is counted.
func refusingOpenFile(attempts *atomic.Int64) func(string, int, os.FileMode) (File, error) {
	return func(name string, flag int, perm os.FileMode) (File, error) {
		if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
			attempts.Add(1)
			return nil, &os.PathError{Op: "open", Path: name, Err: errRefusedWrite}
		}
		f, err := openOSFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return readOnlyFile{File: f, attempts: attempts}, nil
	}
}

// TestOpenReadOnly opens a database read-only while a read-write handle
// has it open with uncommitted writes, some already in the file: the
// read-only DB answers exactly the committed state, keeps answering it
// after the read-write handle commits, refuses every write, and leaves
// every file of the directory as it was, compaction leftover included.
// The same holds on a disk that refuses every write, sync and truncate
// and on files and directories without write permission.
func TestOpenReadOnly(t *testing.T) {
	cases := []struct {
		name string
		ro   func(attempts *atomic.Int64) Options // options of the read-only engine
		// chmod removes the write permission of the file and its directory
		// while the read-only DB is open (root ignores it, others do not).
		chmod bool
	}{
		{"beside a read-write handle", func(*atomic.Int64) Options { return Options{} }, false},
		{"on a disk that refuses writes", func(a *atomic.Int64) Options { return Options{OpenFile: refusingOpenFile(a)} }, false},
		{"on read-only files", func(*atomic.Int64) Options { return Options{} }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A tiny FlushBytes puts uncommitted bytes into the file.
			_, rw, path := testDB(t, Options{FlushBytes: 1})
			for i := range 3 {
				if err := putDocs(rw, jsonBody, fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)); err != nil {
					t.Fatal(err)
				}
				if err := rw.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			if err := rw.SetSecurity([]byte(`{"members":{"names":["m"]}}`)); err != nil {
				t.Fatal(err)
			}
			committed := mustDump(t, rw)
			if err := putDocs(rw, bigBody, "uncommitted", "a0"); err != nil {
				t.Fatal(err)
			}
			if err := rw.WriteDocInfos(nil, []engines.LocalDoc{{ID: "_local/uncommitted", Rev: 1, Body: []byte(`{}`)}}, nil); err != nil {
				t.Fatal(err)
			}
			// Let the background write of the appended bytes finish, so
			// the file holds them and stops changing.
			if err := rw.st.land(); err != nil {
				t.Fatal(err)
			}
			if rw.st.flushed.Load() <= rw.st.regionStart {
				t.Fatal("no uncommitted byte reached the file")
			}
			if mustDump(t, rw) == committed {
				t.Fatal("the uncommitted writes changed nothing the read-write handle answers")
			}
			leftover := compactPath(path)
			if err := os.WriteFile(leftover, []byte("an interrupted compaction"), 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Dir(path)
			if tc.chmod {
				for _, p := range []string{path, leftover, dir} {
					fi, err := os.Stat(p)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.Chmod(p, fi.Mode().Perm()&^0o222); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { os.Chmod(p, fi.Mode().Perm()) })
				}
			}
			before := enginetest.DirState(t, dir)

			var attempts atomic.Int64
			ro, err := New(tc.ro(&attempts)).OpenReadOnly(path)
			if err != nil {
				t.Fatalf("OpenReadOnly: %v", err)
			}
			if got := mustDump(t, ro); got != committed {
				t.Errorf("read-only DB answers\n%s\nwant the committed state\n%s", got, committed)
			}
			if err := ro.(engines.Checker).Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
			enginetest.WantWritesRefused(t, ro)
			if got := mustDump(t, ro); got != committed {
				t.Errorf("after the refused writes the read-only DB answers\n%s", got)
			}
			if err := ro.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if n := attempts.Load(); n != 0 {
				t.Errorf("%d writes, syncs or truncates were attempted", n)
			}
			if after := enginetest.DirState(t, dir); after != before {
				t.Errorf("the directory changed:\nbefore\n%safter\n%s", before, after)
			}

			// What the read-write handle commits later does not change an
			// open read-only DB; a new one sees it.
			ro, err = New(tc.ro(&attempts)).OpenReadOnly(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			if tc.chmod {
				return // the read-write handle cannot commit to a read-only file for everyone
			}
			if err := rw.Commit(); err != nil {
				t.Fatal(err)
			}
			if got := mustDump(t, ro); got != committed {
				t.Errorf("after a commit of the read-write handle the read-only DB answers\n%s", got)
			}
			ro2, err := New(tc.ro(&attempts)).OpenReadOnly(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ro2.Close()
			if got, want := mustDump(t, ro2), mustDump(t, rw); got != want {
				t.Errorf("a read-only DB opened after the commit answers\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestOpenReadOnlyErrors: no file is ErrNotFound, a file without a valid
// header is ErrCorrupt, as for Open.
func TestOpenReadOnlyErrors(t *testing.T) {
	dir := t.TempDir()
	eng := New(Options{})
	if _, err := eng.OpenReadOnly(filepath.Join(dir, "none.couch")); !errors.Is(err, engines.ErrNotFound) {
		t.Errorf("OpenReadOnly of no file: %v, want ErrNotFound", err)
	}
	bad := filepath.Join(dir, "bad.couch")
	if err := os.WriteFile(bad, bytes.Repeat([]byte{0}, 3*blockSize), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := eng.OpenReadOnly(bad)
	wantCorrupt(t, "OpenReadOnly of a file without a header", err)
}
