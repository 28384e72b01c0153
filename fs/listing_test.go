package fs_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
	couchfs "github.com/couchfs/couchfs/fs"
)

// dirent is one entry getdents64 returned: its name and the offset that
// lseek takes to continue after it.
type dirent struct {
	name string
	off  int64
}

// getdents reads directory fd to its end with buffers of bufSize bytes, so
// that a big listing takes many READDIR requests, and returns every entry.
func getdents(t *testing.T, fd int, bufSize int) []dirent {
	t.Helper()
	var out []dirent
	buf := make([]byte, bufSize)
	for {
		n, err := syscall.Getdents(fd, buf)
		if err != nil {
			t.Fatalf("getdents: %v", err)
		}
		if n == 0 {
			return out
		}
		for b := buf[:n]; len(b) > 0; {
			// struct linux_dirent64: ino u64, off s64, reclen u16,
			// type u8, then the NUL-terminated name.
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			name := b[19:reclen]
			name = name[:slices.Index(name, 0)]
			out = append(out, dirent{name: string(name), off: int64(binary.NativeEndian.Uint64(b[8:16]))})
			b = b[reclen:]
		}
	}
}

func direntNames(ds []dirent) []string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.name
	}
	return names
}

// TestBigListing lists a database of a few listing batches and its
// _changes with small getdents buffers: every entry once, in order (ids in
// the database, seqs in _changes), across many READDIR requests; a seek
// back to the middle continues with the same entries; and the entries the
// kernel asked attributes for along with the listing (READDIRPLUS) carry
// the right sizes.
func TestBigListing(t *testing.T) {
	const n = 3500 // three full batches and a partial one
	for _, eng := range []string{"couch", "pebble"} {
		t.Run(eng, func(t *testing.T) {
			e := mountT(t, couchfs.Options{})
			db := eng + "db"
			if err := e.srv.CreateDB(db, eng); err != nil {
				t.Fatal(err)
			}
			d := e.db(db)
			for start := 0; start < n; start += 500 {
				docs := make([]*dbcore.Doc, 0, 500)
				for i := start; i < start+500; i++ {
					// Ids written out of order: the listing orders them.
					// Sizes differ, so an attribute from the wrong row
					// shows.
					k := (i * 7919) % n
					docs = append(docs, &dbcore.Doc{ID: fmt.Sprintf("d%05d", k), Body: []byte(fmt.Sprintf(`{"pad":"%s"}`, strings.Repeat("x", k%13)))})
				}
				if _, err := d.UpdateDocs(docs, dbcore.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			// An update moves a document to the end of the feed.
			if _, err := d.SaveJSON("d00000", []byte(`{"v":2}`), e.get(db, "d00000").Rev); err != nil {
				t.Fatal(err)
			}

			var wantDocs []string
			if err := d.AllDocs(engines.FoldOptions{}, func(r dbcore.DocRow) error {
				wantDocs = append(wantDocs, couchfs.EncodeName(r.ID))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var wantChanges []string
			rows := map[string]dbcore.Change{}
			if err := d.Changes(0, 0, func(c dbcore.Change) error {
				name := couchfs.ChangeName(c.Seq, c.ID)
				wantChanges = append(wantChanges, name)
				rows[name] = c
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(wantDocs) != n || len(wantChanges) != n {
				t.Fatalf("database has %d docs and %d changes, want %d", len(wantDocs), len(wantChanges), n)
			}
			if !strings.HasSuffix(wantChanges[n-1], "-d00000.json") {
				t.Fatalf("last change %s", wantChanges[n-1])
			}

			for _, c := range []struct {
				dir  string
				want []string
			}{
				{e.p(db), append([]string{".", "..", ".rejected", "_changes", "_compact", "_design", "_info", "_local", "_purge", "_revs_limit", "_security"}, wantDocs...)},
				{e.p(db, "_changes"), append([]string{".", ".."}, wantChanges...)},
			} {
				fd, err := syscall.Open(c.dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
				if err != nil {
					t.Fatal(err)
				}
				before := e.h.Stats()
				got := getdents(t, fd, 4096)
				reqs := e.h.Stats().Sub(before)
				if !slices.Equal(direntNames(got), c.want) {
					syscall.Close(fd)
					t.Fatalf("%s lists %d entries, want %d in order; first difference at %d", c.dir, len(got), len(c.want), firstDiff(direntNames(got), c.want))
				}
				if r := reqs["READDIR"] + reqs["READDIRPLUS"]; r < 10 {
					t.Errorf("%s listed in %d READDIR requests %v: the test should take many", c.dir, r, reqs)
				}
				// Seek back into the middle of a batch and read on.
				mid := len(got)/2 + 17
				if _, err := syscall.Seek(fd, got[mid].off, 0); err != nil {
					syscall.Close(fd)
					t.Fatal(err)
				}
				rest := getdents(t, fd, 4096)
				syscall.Close(fd)
				if !slices.Equal(direntNames(rest), c.want[mid+1:]) {
					t.Fatalf("%s after a seek to entry %d lists %d entries, want %d", c.dir, mid, len(rest), len(c.want)-mid-1)
				}
			}

			// The first entries came with READDIRPLUS: their inodes are
			// the listing's own, and right.
			for _, name := range wantChanges[:5] {
				data, err := os.ReadFile(e.p(db, "_changes", name))
				if err != nil {
					t.Fatal(err)
				}
				if want := rows[name].JSON(); string(data) != string(want) {
					t.Errorf("%s: %s, want %s", name, data, want)
				}
			}
			for _, name := range wantDocs[:5] {
				id, _ := couchfs.DecodeName(name)
				st, err := os.Stat(e.p(db, name))
				if err != nil {
					t.Fatal(err)
				}
				if want := int64(len(e.get(db, id).JSON())); st.Size() != want {
					t.Errorf("%s: size %d, want %d", name, st.Size(), want)
				}
			}
		})
	}
}

// firstDiff returns the first index where a and b differ.
func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
