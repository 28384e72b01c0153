package pebble

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestBufferedFileReadsAsWritten: whatever is asked of a table file in
// between writes, it sees every byte written so far, as an unbuffered file
// would.
func TestBufferedFileReadsAsWritten(t *testing.T) {
	fs := vfs.NewMem()
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		name := fmt.Sprintf("/%d.sst", seed)
		f, err := engineFS{fs}.Create(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(*bufferedFile); !ok {
			t.Fatalf("Create(%s) = %T, want a bufferedFile", name, f)
		}
		var want []byte
		for step := range 200 {
			switch r.IntN(6) {
			case 0, 1, 2:
				n := r.IntN(8 << 10)
				if r.IntN(20) == 0 {
					n = tableWriteBuffer + r.IntN(tableWriteBuffer)
				}
				p := make([]byte, n)
				for i := range p {
					p[i] = byte(r.Uint32())
				}
				want = append(want, p...)
				if _, err := f.Write(p); err != nil {
					t.Fatal(err)
				}
			case 3:
				st, err := f.Stat()
				if err != nil || st.Size() != int64(len(want)) {
					t.Fatalf("seed %d step %d: Stat size %d, %v; want %d", seed, step, st.Size(), err, len(want))
				}
			case 4:
				if len(want) == 0 {
					continue
				}
				off := r.IntN(len(want))
				got := make([]byte, min(len(want)-off, 1000))
				if _, err := f.ReadAt(got, int64(off)); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want[off:off+len(got)]) {
					t.Fatalf("seed %d step %d: ReadAt(%d) differs from what was written", seed, step, off)
				}
			case 5:
				if _, err := f.SyncTo(int64(len(want))); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := readAll(fs, name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("seed %d: file holds %d bytes, want the %d written", seed, len(got), len(want))
		}
	}
	if f, err := (engineFS{fs}).Create("/MANIFEST-000001", vfs.WriteCategoryUnspecified); err != nil {
		t.Fatal(err)
	} else if _, ok := f.(*bufferedFile); ok {
		t.Error("a manifest is buffered; only tables may be")
	}
}

func readAll(fs vfs.FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// TestTableWritesAreGathered: the tables a load flushes reach the file
// system in large writes, not one per data block.
func TestTableWritesAreGathered(t *testing.T) {
	fs := &writeCountingFS{FS: vfs.Default}
	d := createDB(t, Options{FS: fs, MemTableSize: 1 << 20}, filepath.Join(t.TempDir(), "w.pebble"))
	loadDocs(t, d, risingIDs(8000), 1000, 500)
	if err := d.cur.Load().pdb.Flush(); err != nil {
		t.Fatal(err)
	}
	tables, writes, n := fs.tables.Load(), fs.writes.Load(), fs.bytes.Load()
	if n < 1<<20 {
		t.Fatalf("%d bytes of tables written: the load did not flush enough", n)
	}
	// A data block is ~4 KB: unbuffered, these tables took one write per
	// 4 KB; gathered, a table takes one write per tableWriteBuffer and one
	// for its tail (each SyncTo, every 512 KB, forces one too).
	if limit := 2*tables + n/(64<<10); writes > limit {
		t.Errorf("%d tables of %d bytes in all took %d writes, want <= %d", tables, n, writes, limit)
	}
}

// writeCountingFS counts the writes made to table files.
type writeCountingFS struct {
	vfs.FS
	tables, writes, bytes atomic.Int64
}

func (fs *writeCountingFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil || !strings.HasSuffix(name, ".sst") {
		return f, err
	}
	fs.tables.Add(1)
	return &countedFile{File: f, fs: fs}, nil
}

type countedFile struct {
	vfs.File
	fs *writeCountingFS
}

func (f *countedFile) Write(p []byte) (int, error) {
	f.fs.writes.Add(1)
	f.fs.bytes.Add(int64(len(p)))
	return f.File.Write(p)
}

// TestWALKeepsAZeroReserve: small commits leave written zeros past the end
// of the WAL, so that their syncs overwrite blocks instead of growing the
// file, and a copy taken at that moment, as a crash would leave it, opens
// with every committed document.
func TestWALKeepsAZeroReserve(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "z.pebble")
	d := createDB(t, Options{}, path)
	bodies := loadDocs(t, d, risingIDs(50), 1000, 1)
	var wal string
	var written int64
	err := filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".log") {
			wal = p
		}
		return err
	})
	if err != nil || wal == "" {
		t.Fatalf("no WAL under %s: %v", path, err)
	}
	for _, b := range bodies {
		written += int64(len(b))
	}
	st, err := os.Stat(wal)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < written+walReserve/2 {
		t.Errorf("WAL is %d bytes after %d bytes of documents, want a reserve of zeros past them (>= %d)", st.Size(), written, written+walReserve/2)
	}
	crashed := filepath.Join(dir, "crashed.pebble")
	if err := os.CopyFS(crashed, os.DirFS(path)); err != nil {
		t.Fatal(err)
	}
	edb2, err := New(Options{}).Open(crashed)
	if err != nil {
		t.Fatalf("open the copy: %v", err)
	}
	defer edb2.Close()
	readBack(t, edb2.(*db), bodies)
}
