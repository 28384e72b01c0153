package couchfile

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// TestZeroTail follows the zero tail through single-document commits, a
// reopen, a compaction and an open that finds a tail longer than a commit
// leaves: every commit ends with at least a chunk of zeros past the append
// position, so most commits overwrite allocated blocks and only a few
// extend the file; SizeInfo reports the append position; a compacted file
// has no tail until its next commit.
func TestZeroTail(t *testing.T) {
	eng, db, path := testDB(t, Options{})
	const commits = 100
	extensions := 0
	for i := range commits {
		phys := db.st.phys
		if err := putDocs(db, jsonBody, fmt.Sprintf("doc-%03d", i)); err != nil {
			t.Fatal(err)
		}
		if err := db.Commit(); err != nil {
			t.Fatal(err)
		}
		if db.st.phys != phys {
			extensions++
		}
		checkTail(t, db, path, reserveChunk(db.st.end))
	}
	if extensions > commits/4 {
		t.Errorf("%d of %d single-document commits extended the file", extensions, commits)
	}

	want := mustDump(t, db)
	end, phys := db.st.end, db.st.phys
	db.Close()
	db = reopen(t, eng, path, want)
	if db.st.end != end || db.st.phys != phys {
		t.Fatalf("reopened with append position %d and size %d, want %d and %d", db.st.end, db.st.phys, end, phys)
	}

	c, err := db.StartCompaction()
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	checkTail(t, db, path, 0)
	if fi, err := os.Stat(path); err != nil || fi.Size() != db.st.end {
		t.Fatalf("compacted file keeps a tail: %d bytes, append position %d, %v", fi.Size(), db.st.end, err)
	}
	if err := putDocs(db, jsonBody, "after-compaction"); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	checkTail(t, db, path, reserveChunk(db.st.end))

	want, end = mustDump(t, db), db.st.end
	db.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, maxTail(end))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db = reopen(t, eng, path, want)
	defer db.Close()
	if fi, err := os.Stat(path); err != nil || fi.Size() != end {
		t.Fatalf("a tail longer than %d was kept: file of %d bytes, append position %d, %v", maxTail(end), fi.Size(), end, err)
	}
}

// checkTail requires the file to hold at least min and at most maxTail
// zeros past the append position, and SizeInfo to report the append
// position.
func checkTail(t *testing.T, db *DB, path string, min int64) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := db.st.end
	tail := int64(len(raw)) - end
	if tail < min || tail > maxTail(end) || int64(len(raw)) != db.st.phys {
		t.Fatalf("file of %d bytes (phys %d), append position %d: tail of %d, want [%d, %d]", len(raw), db.st.phys, end, tail, min, maxTail(end))
	}
	if !bytes.Equal(raw[end:], make([]byte, tail)) {
		t.Fatalf("the tail past %d is not all zeros", end)
	}
	if got := db.SizeInfo().File; got != uint64(end) {
		t.Fatalf("SizeInfo().File = %d, want the append position %d", got, end)
	}
}

// reopen opens path and requires its state to be want and to check.
func reopen(t *testing.T, eng *Engine, path, want string) *DB {
	t.Helper()
	dbi, err := eng.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db := dbi.(*DB)
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	if got := mustDump(t, db); got != want {
		db.Close()
		t.Fatalf("reopened as\n%s\nwant\n%s", got, want)
	}
	return db
}

// TestCrashTail is a crash that leaves a commit's bytes past the newest
// valid header, its own header among them: Open falls back to the commit
// before, whose append position is now inside the lost commit's bytes, and
// later commits overwrite them from there. The lost header stays in the
// file past the new append position and must never be taken for the newest
// one: every reopen answers the last commit made.
func TestCrashTail(t *testing.T) {
	tornHeader := func(raw []byte, hdr int) []byte { raw[hdr+5] ^= 0xff; return raw }
	cutHeader := func(raw []byte, hdr int) []byte { return raw[:hdr+10] }
	tests := []struct {
		name   string
		opts   Options
		damage func(raw []byte, hdr int) []byte // hdr: the lost commit's header offset
	}{
		{"torn header", Options{}, tornHeader},
		{"torn header, data synced first", Options{maxSealedBytes: 1}, tornHeader},
		{"header cut short", Options{}, cutHeader},
		{"header cut short, data synced first", Options{maxSealedBytes: 1}, cutHeader},
		{"region page lost", Options{}, func(raw []byte, hdr int) []byte {
			clear(raw[hdr-3*blockSize : hdr-2*blockSize])
			return raw
		}},
		{"region page stale", Options{}, func(raw []byte, hdr int) []byte {
			copy(raw[hdr-3*blockSize+100:], bytes.Repeat([]byte{0xaa}, blockSize))
			return raw
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, db, path := testDB(t, tt.opts)
			if err := putDocs(db, jsonBody, "a", "b", "c"); err != nil {
				t.Fatal(err)
			}
			if err := db.Commit(); err != nil {
				t.Fatal(err)
			}
			before, end := mustDump(t, db), db.st.end
			if err := putDocs(db, noiseBody, "lost-1", "lost-2", "lost-3", "lost-4"); err != nil {
				t.Fatal(err)
			}
			if err := db.Commit(); err != nil {
				t.Fatal(err)
			}
			_, hdr, _, err := findHeader(db.st.f, db.st.end)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(raw, int(hdr)), 0o644); err != nil {
				t.Fatal(err)
			}

			db = reopen(t, eng, path, before)
			if db.st.end != end {
				t.Fatalf("append position %d after the crash, want %d, right after the last valid header", db.st.end, end)
			}
			want := ""
			for i := range 3 {
				if err := putDocs(db, jsonBody, fmt.Sprintf("after-%d", i)); err != nil {
					t.Fatal(err)
				}
				if err := db.Commit(); err != nil {
					t.Fatal(err)
				}
				if db.st.end >= hdr {
					t.Fatalf("commit %d reached the lost header at %d: nothing left to mistake", i, hdr)
				}
				want = mustDump(t, db)
				db.Close()
				db = reopen(t, eng, path, want)
			}
			defer db.Close()
			raw, err = os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if raw[hdr] != blockHeader {
				t.Fatalf("the lost header at %d is gone: the test proves nothing", hdr)
			}
		})
	}
}
