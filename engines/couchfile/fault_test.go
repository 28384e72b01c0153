package couchfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/couchfs/couchfs/engines"
)

// commitPaths are the two ways a commit reaches the disk: a header sealing
// its region by checksum with one fdatasync, and, for a region over
// maxSealedBytes (here: every region), data fdatasynced before the header.
var commitPaths = []struct {
	name string
	opts Options
}{
	{"sealed region", Options{}},
	{"data synced first", Options{maxSealedBytes: 1}},
}

// history builds a small database through a series of commits of every
// kind of write and returns its file's bytes, zero tail included, and the
// dump after each commit: the states a crash may leave.
func history(t *testing.T, opts Options) ([]byte, []string) {
	t.Helper()
	_, db, path := testDB(t, opts)
	states := []string{mustDump(t, db)}
	step := func(what string, err error) {
		t.Helper()
		if err == nil {
			err = db.Commit()
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		states = append(states, mustDump(t, db))
	}
	for i := range 8 {
		ids := []string{fmt.Sprintf("doc-%02d", i), fmt.Sprintf("doc-%02d", i+20)}
		step("put", putDocs(db, jsonBody, ids...))
	}
	step("big bodies", putDocs(db, bigBody, "big-1", "big-2", "doc-03"))
	step("update", putDocs(db, jsonBody, "doc-01", "doc-02", "big-1"))
	step("locals", db.WriteDocInfos(nil, []engines.LocalDoc{{ID: "_local/a", Rev: 1, Body: []byte(`{"x":1}`)},
		{ID: "_local/b", Rev: 1, Body: bigBody("local")}}, nil))
	old, _ := db.OpenDocs([]string{"doc-05"})
	step("purge", db.WriteDocInfos([]engines.DocInfoPair{{Old: old[0]}}, []engines.LocalDoc{{ID: "_local/a", Deleted: true}},
		[]engines.PurgeInfo{{Seq: 1, UUID: "p1", ID: "doc-05", Revs: []engines.Rev{{Pos: 1, ID: "x"}}}}))
	_, _, err := db.WriteAttachment(bytes.NewReader(bytes.Repeat([]byte("attachment "), 9000)))
	step("attachment", err)
	if err := db.SetSecurity([]byte(`{"admins":{"names":["a"]}}`)); err != nil {
		t.Fatal(err)
	}
	states = append(states, mustDump(t, db))
	step("after security", putDocs(db, jsonBody, "doc-00", "zzz"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw, states
}

// dataEnd is the offset just past the last byte of raw that is not zero:
// where the zero tail of a file history wrote starts, give or take the
// header's last zero bytes.
func dataEnd(raw []byte) int {
	end := len(raw)
	for end > 0 && raw[end-1] == 0 {
		end--
	}
	return end
}

// openDamaged writes raw as a database file and opens it. It requires an
// error wrapping ErrCorrupt or a database whose every answer is a committed
// state (or ErrCorrupt for the parts that are damaged). It returns the
// state's index, or -1.
func openDamaged(t *testing.T, raw []byte, states []string, what string) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "damaged.couch")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	eng := New(Options{})
	dbi, err := eng.Open(path)
	if err != nil {
		wantCorrupt(t, what+": Open", err)
		return -1
	}
	defer dbi.Close()
	db := dbi.(*DB)
	if err := db.Check(); err != nil {
		wantCorrupt(t, what+": Check", err)
	}
	got, err := dump(db)
	if err != nil {
		wantCorrupt(t, what+": reading", err)
		return -1
	}
	for i, s := range states {
		if got == s {
			return i
		}
	}
	t.Fatalf("%s: the database answers a state that was never committed:\n%s", what, got)
	return -1
}

// TestTruncation cuts the file at every block boundary and at seeded random
// offsets: every cut opens as one of the committed states (the latest whose
// header and data survived) or fails with ErrCorrupt, and a recovered
// database takes new commits.
func TestTruncation(t *testing.T) {
	for _, p := range commitPaths {
		t.Run(p.name, func(t *testing.T) { testTruncation(t, p.opts) })
	}
}

func testTruncation(t *testing.T, opts Options) {
	raw, states := history(t, opts)
	r := rand.New(rand.NewPCG(7, 7))
	cuts := []int{len(raw), len(raw) - 1}
	for off := 0; off <= len(raw); off += blockSize {
		cuts = append(cuts, off, off+1)
	}
	for range 60 {
		cuts = append(cuts, r.IntN(len(raw)+1))
	}
	slices.Sort(cuts)
	last := -1
	for _, cut := range cuts {
		cut = min(cut, len(raw))
		i := openDamaged(t, raw[:cut], states, fmt.Sprintf("cut at %d", cut))
		if cut == len(raw) && i != len(states)-1 {
			t.Fatalf("the whole file opens as state %d of %d", i, len(states)-1)
		}
		if cut < blockSize && i >= 0 && i != 0 {
			t.Fatalf("cut at %d opens as state %d", cut, i)
		}
		if i >= 0 && i < last && cut > 0 {
			t.Fatalf("cut at %d opens as state %d, an earlier cut gave %d", cut, i, last)
		}
		last = max(last, i)
	}
	// A recovered database continues: write on the state a torn tail left.
	path := filepath.Join(t.TempDir(), "torn.couch")
	if err := os.WriteFile(path, raw[:dataEnd(raw)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	eng := New(Options{})
	db, err := eng.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := putDocs(db, jsonBody, "after-recovery"); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	want := mustDump(t, db)
	db.Close()
	if db, err = eng.Open(path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := mustDump(t, db); got != want || !strings.Contains(got, "after-recovery") {
		t.Fatal("a commit after recovering from a torn tail did not survive reopening")
	}
}

// TestByteFlips flips seeded random bytes: the file opens as a committed
// state, or answers ErrCorrupt where the damage is, or fails to open with
// ErrCorrupt. Never a panic, never data that was not written.
func TestByteFlips(t *testing.T) {
	for _, p := range commitPaths {
		t.Run(p.name, func(t *testing.T) { testByteFlips(t, p.opts) })
	}
}

func testByteFlips(t *testing.T, opts Options) {
	raw, states := history(t, opts)
	r := rand.New(rand.NewPCG(11, 13))
	for trial := range 200 {
		damaged := bytes.Clone(raw)
		off := r.IntN(len(damaged))
		if end := dataEnd(raw); trial%5 == 0 {
			off = end - 1 - r.IntN(min(end, 2*blockSize)) // the newest commit
		}
		damaged[off] ^= byte(1 + r.IntN(255))
		openDamaged(t, damaged, states, fmt.Sprintf("flip at %d", off))
	}
}

func TestAllHeadersCorrupt(t *testing.T) {
	raw, _ := history(t, Options{})
	for off := 0; off < len(raw); off += blockSize {
		if raw[off] == blockHeader {
			raw[off+5] ^= 0xff // inside the header's length/checksum
		}
	}
	path := filepath.Join(t.TempDir(), "x.couch")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{}).Open(path)
	wantCorrupt(t, "open with every header damaged", err)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{}).Open(path)
	wantCorrupt(t, "open of an empty file", err)
}

// faults is shared by the files a test's engine opens and decides which
// call fails.
type faults struct {
	mu        sync.Mutex
	syncs     int   // fail the Sync after this many more succeed; <0 never
	synced    int   // Syncs that succeeded
	writes    int   // fail the WriteAt after this many more succeed; <0 never
	writeErr  error // nil: a short write
	failed    int
	truncates []int64
}

func newFaults() *faults { return &faults{syncs: -1, writes: -1} }

func (ff *faults) next(n *int) bool {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	if *n < 0 {
		return false
	}
	if *n == 0 {
		*n = -1
		ff.failed++
		return true
	}
	*n--
	return false
}

type faultFile struct {
	File
	ff *faults
}

func (f faultFile) WriteAt(b []byte, off int64) (int, error) {
	if f.ff.next(&f.ff.writes) {
		if f.ff.writeErr == nil {
			n, err := f.File.WriteAt(b[:len(b)/2], off)
			if err == nil {
				return n, nil // short, without an error
			}
			return n, err
		}
		return 0, &os.PathError{Op: "write", Path: "fault", Err: f.ff.writeErr}
	}
	return f.File.WriteAt(b, off)
}

func (f faultFile) Sync() error {
	if f.ff.next(&f.ff.syncs) {
		return &os.PathError{Op: "fdatasync", Path: "fault", Err: syscall.EIO}
	}
	err := f.File.Sync()
	if err == nil {
		f.ff.mu.Lock()
		f.ff.synced++
		f.ff.mu.Unlock()
	}
	return err
}

func (f faultFile) Truncate(size int64) error {
	f.ff.mu.Lock()
	f.ff.truncates = append(f.ff.truncates, size)
	f.ff.mu.Unlock()
	return f.File.Truncate(size)
}

func faultOptions(ff *faults) Options {
	return Options{OpenFile: func(name string, flag int, perm os.FileMode) (File, error) {
		f, err := openOSFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return faultFile{f, ff}, nil
	}}
}

// TestFailedCommit injects a failing fsync, write, ENOSPC or short write
// into a commit: the commit returns an error, every later write is refused
// with ErrReadOnly, reads answer the last committed state, and a reopen
// finds that state.
func TestFailedCommit(t *testing.T) {
	tests := []struct {
		name   string
		arm    func(ff *faults)
		big    bool // a batch large enough to be written in the background
		opts   func(o *Options)
		onWith bool
	}{
		{name: "fsync fails", arm: func(ff *faults) { ff.syncs = 0 }},
		{name: "write fails", arm: func(ff *faults) { ff.writes, ff.writeErr = 0, syscall.EIO }},
		{name: "disk full", arm: func(ff *faults) { ff.writes, ff.writeErr = 0, syscall.ENOSPC }},
		{name: "short write", arm: func(ff *faults) { ff.writes = 0 }},
		{name: "background write fails", big: true, arm: func(ff *faults) { ff.writes, ff.writeErr = 1, syscall.ENOSPC }},
		{name: "background short write", big: true, arm: func(ff *faults) { ff.writes = 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ff := newFaults()
			opts := faultOptions(ff)
			opts.FlushBytes = 8 << 10
			eng, db, path := testDB(t, opts)
			if err := putDocs(db, jsonBody, "a", "b"); err != nil {
				t.Fatal(err)
			}
			if err := db.Commit(); err != nil {
				t.Fatal(err)
			}
			committed := mustDump(t, db)
			committedSize := db.st.regionStart
			tt.arm(ff)
			body := jsonBody
			if tt.big {
				body = noiseBody
			}
			err := putDocs(db, body, "a", "c", "d", "e", "f", "g")
			if err == nil {
				err = db.Commit()
			}
			if err == nil || ff.failed == 0 {
				t.Fatalf("the write survived the fault (failed %d): %v", ff.failed, err)
			}
			if errors.Is(err, engines.ErrReadOnly) {
				t.Fatalf("the failing call itself reported only ErrReadOnly: %v", err)
			}
			for what, err := range map[string]error{
				"Commit":        db.Commit(),
				"SetRevsLimit":  db.SetRevsLimit(5),
				"SetUpdateSeq":  db.SetUpdateSeq(100),
				"WriteDocInfos": putDocs(db, jsonBody, "z"),
				"WriteDocBody":  func() error { _, _, err := db.WriteDocBody([]byte(`{}`)); return err }(),
			} {
				if !errors.Is(err, engines.ErrReadOnly) {
					t.Errorf("%s after the failure: %v, want ErrReadOnly", what, err)
				}
			}
			if _, err := db.StartCompaction(); !errors.Is(err, engines.ErrReadOnly) {
				t.Errorf("StartCompaction after the failure: %v", err)
			}
			if got := mustDump(t, db); got != committed {
				t.Fatalf("reads after the failure do not answer the committed state:\n%s", got)
			}
			if err := db.Check(); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != committedSize {
				t.Fatalf("file not cut back to the last header at %d: %v, %v", committedSize, fi.Size(), err)
			}
			db.Close()
			again, err := eng.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			if got := mustDump(t, again); got != committed {
				t.Fatalf("reopened after the failure:\n%s\nwant\n%s", got, committed)
			}
		})
	}
}

func TestCreateFailures(t *testing.T) {
	ff := newFaults()
	ff.syncs = 0
	eng := New(faultOptions(ff))
	path := filepath.Join(t.TempDir(), "x.couch")
	if _, err := eng.Create(path); err == nil {
		t.Fatal("Create succeeded although its fsync failed")
	}
	if ok, err := eng.Exists(path); ok || err != nil {
		t.Fatalf("a failed Create left a database: %v, %v", ok, err)
	}
	// A crashed Create leaves an empty file at worst, which Create takes
	// over and Open refuses.
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := eng.Open(path)
	wantCorrupt(t, "Open of an empty file", err)
	db, err := eng.Create(path)
	if err != nil {
		t.Fatalf("Create over an empty file: %v", err)
	}
	db.Close()
	if _, err := eng.Create(path); !errors.Is(err, engines.ErrExists) {
		t.Fatalf("Create over a database: %v", err)
	}
}

// TestFailedCompactionWrite makes the copy's writes fail: the compaction
// reports it, the database is untouched and keeps taking writes.
func TestFailedCompactionWrite(t *testing.T) {
	ff := newFaults()
	_, db, path := testDB(t, faultOptions(ff))
	for i := range 20 {
		if err := putDocs(db, noiseBody, fmt.Sprintf("d%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	want := mustDump(t, db)
	ff.mu.Lock()
	ff.writes, ff.writeErr = 1, syscall.ENOSPC
	ff.mu.Unlock()
	c, err := db.StartCompaction()
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if c.Err() == nil {
		t.Fatal("the compaction did not report its failed write")
	}
	if err := c.Finish(); err == nil {
		t.Fatal("Finish of a failed compaction succeeded")
	}
	if _, err := os.Stat(compactPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed copy is still there: %v", err)
	}
	if got := mustDump(t, db); got != want {
		t.Fatal("a failed compaction changed the database")
	}
	if err := putDocs(db, jsonBody, "after"); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
}

// noiseBody is a 20 KB body that does not compress.
func noiseBody(id string) []byte {
	return fmt.Appendf(nil, `{"_id":%q,"noise":"%x"}`, id, randomBytes(10000+len(id)))
}

// TestLostRegionPage is the crash the one-fdatasync commit relies on the
// region checksum for: the newest header reached the disk but one page of
// the data it seals did not (it reads back as zeros). For every page of
// that region, the file must open as the state before the commit whenever
// the lost page held written bytes, and as the newest state otherwise.
func TestLostRegionPage(t *testing.T) {
	raw, states := history(t, Options{})
	f, err := os.CreateTemp(t.TempDir(), "history")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(raw); err != nil {
		t.Fatal(err)
	}
	h, pos, _, err := findHeader(osFile{f}, int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if h.dataStart >= pos {
		t.Fatalf("the newest header at %d seals an empty region", pos)
	}
	newest, before := len(states)-1, len(states)-2
	lostData := 0
	for page := h.dataStart / blockSize * blockSize; page < pos; page += blockSize {
		from, to := max(page, h.dataStart), min(page+blockSize, pos)
		damaged := bytes.Clone(raw)
		clear(damaged[from:to])
		want := newest
		if !bytes.Equal(damaged, raw) {
			want = before
			lostData++
		}
		if got := openDamaged(t, damaged, states, fmt.Sprintf("page at %d lost", page)); got != want {
			t.Fatalf("page [%d, %d) lost: opened as state %d, want %d", from, to, got, want)
		}
	}
	if lostData == 0 {
		t.Fatal("the newest commit's region holds no data to lose")
	}
}

// TestCommitSyncs counts the fdatasyncs of a commit: one when the header
// seals its region by checksum, two when the region is over maxSealedBytes
// and its data is synced first, which leaves the header sealing an empty
// region. Both kinds of commit reopen to the same state.
func TestCommitSyncs(t *testing.T) {
	ff := newFaults()
	opts := faultOptions(ff)
	opts.maxSealedBytes = 64 << 10
	eng, db, path := testDB(t, opts)
	tests := []struct {
		name      string
		body      func(string) []byte
		syncs     int
		emptySeal bool
	}{
		{"small commit", jsonBody, 1, false},
		{"commit over maxSealedBytes", noiseBody, 2, true},
		{"small commit after it", jsonBody, 1, false},
	}
	for i, tt := range tests {
		ids := make([]string, 8)
		for j := range ids {
			ids[j] = fmt.Sprintf("doc-%d-%d", i, j)
		}
		if err := putDocs(db, tt.body, ids...); err != nil {
			t.Fatal(err)
		}
		ff.mu.Lock()
		ff.synced = 0
		ff.mu.Unlock()
		if err := db.Commit(); err != nil {
			t.Fatal(err)
		}
		if ff.synced != tt.syncs {
			t.Errorf("%s: %d fdatasyncs, want %d", tt.name, ff.synced, tt.syncs)
		}
		h, pos, _, err := findHeader(db.st.f, db.st.end)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.dataStart == pos; got != tt.emptySeal {
			t.Errorf("%s: header at %d seals [%d, %d), want an empty region: %v", tt.name, pos, h.dataStart, pos, tt.emptySeal)
		}
	}
	want := mustDump(t, db)
	db.Close()
	again, err := eng.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := mustDump(t, again); got != want {
		t.Fatal("reopened state differs")
	}
}

// TestReadAfterRollback reads state a group wrote before its commit, then
// fails the commit: a body pointer or attachment taken from that state
// fails with ErrRolledBack (it names bytes the rollback cut off), never
// with another document's bytes, and the doc infos read now are the
// committed ones.
func TestReadAfterRollback(t *testing.T) {
	ff := newFaults()
	_, db, _ := testDB(t, faultOptions(ff))
	if err := putDocs(db, jsonBody, "a"); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	committed := mustDump(t, db)
	if err := putDocs(db, bigBody, "a", "b"); err != nil {
		t.Fatal(err)
	}
	shown, err := db.OpenDocs([]string{"b"})
	if err != nil || shown[0] == nil {
		t.Fatalf("the uncommitted doc is not shown: %v", err)
	}
	ptr := shown[0].RevTree[0].Root.Value.Ptr
	att, _, err := db.WriteAttachment(bytes.NewReader(noiseBody("att")))
	if err != nil {
		t.Fatal(err)
	}
	open, err := db.OpenAttachment(att)
	if err != nil {
		t.Fatalf("the uncommitted attachment is not shown: %v", err)
	}
	defer open.Close()
	ff.syncs = 0
	if err := db.Commit(); err == nil {
		t.Fatal("Commit succeeded with a failing fsync")
	}
	if _, err := db.ReadDocBody(ptr); !errors.Is(err, engines.ErrRolledBack) {
		t.Errorf("reading a body the failed commit discarded: %v, want ErrRolledBack", err)
	}
	if _, err := io.ReadAll(open); !errors.Is(err, engines.ErrRolledBack) {
		t.Errorf("reading an attachment the failed commit discarded, opened before: %v, want ErrRolledBack", err)
	}
	if _, err := db.OpenAttachment(att); !errors.Is(err, engines.ErrRolledBack) {
		t.Errorf("opening an attachment the failed commit discarded: %v, want ErrRolledBack", err)
	}
	if dis, err := db.OpenDocs([]string{"a", "b"}); err != nil || dis[0] == nil || dis[1] != nil {
		t.Errorf("OpenDocs after the failed commit: %v, %v; want a as committed and no b", dis, err)
	}
	if got := mustDump(t, db); got != committed {
		t.Errorf("after the failed commit the database reads\n%s\nwant the committed state\n%s", got, committed)
	}
}

// TestReadersDuringFailedCommits runs readers on the state groups write
// before their commit, round after round, while those commits fail under
// them: a point read of doc infos must never fail (it reads the committed
// state again on its own), a body read or a fold may fail only with
// ErrRolledBack, a body read never answers another document's bytes, and
// after each failure the database reads as committed. Without the
// rollback counting, a reader holding a pointer into the discarded state
// gets ErrCorrupt within a few rounds.
func TestReadersDuringFailedCommits(t *testing.T) {
	ff := newFaults()
	opts := faultOptions(ff)
	// Small flushes, so a group's bytes are in the file, in a flight and in
	// the buffer when the rollback cuts them off.
	opts.FlushBytes = 8 << 10
	eng, first, path := testDB(t, opts)
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = fmt.Sprintf("doc-%02d", i)
	}
	if err := putDocs(first, jsonBody, ids...); err != nil {
		t.Fatal(err)
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	committed := mustDump(t, first)
	first.Close()

	const rounds = 40
	rolledBack := 0
	for round := range rounds {
		dbi, err := eng.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		db := dbi.(*DB)
		uncommitted := func(id string) []byte {
			return fmt.Appendf(nil, `{"_id":%q,"round":%d,"pad":"%s"}`, id, round, strings.Repeat("p", 1500))
		}
		var (
			stop     = make(chan struct{})
			wg       sync.WaitGroup
			mu       sync.Mutex
			errs     []error
			seen     = make(chan struct{}, 1) // a reader read an uncommitted body
			nRolled  int
			readFail = func(what string, err error) {
				mu.Lock()
				defer mu.Unlock()
				if errors.Is(err, engines.ErrRolledBack) {
					nRolled++
					return
				}
				errs = append(errs, fmt.Errorf("round %d: %s: %w", round, what, err))
			}
		)
		reader := func(read func() bool) {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if !read() {
						return
					}
				}
			})
		}
		reader(func() bool {
			dis, err := db.OpenDocs(ids)
			if err != nil {
				readFail("OpenDocs", err)
				return false
			}
			for i, di := range dis {
				if di == nil {
					readFail("OpenDocs", fmt.Errorf("%s missing", ids[i]))
					return false
				}
				leaf := di.RevTree[0].Root
				for len(leaf.Children) > 0 {
					leaf = leaf.Children[0]
				}
				b, err := db.ReadDocBody(leaf.Value.Ptr)
				if err != nil {
					readFail("ReadDocBody "+di.ID, err)
					return errors.Is(err, engines.ErrRolledBack)
				}
				if !bytes.HasPrefix(b, fmt.Appendf(nil, `{"_id":%q,`, di.ID)) {
					readFail("ReadDocBody", fmt.Errorf("%s reads %.40q", di.ID, b))
					return false
				}
				if bytes.Equal(b, uncommitted(di.ID)) {
					select {
					case seen <- struct{}{}:
					default:
					}
				}
			}
			return true
		})
		reader(func() bool {
			if _, err := db.CountChangesSince(0); err != nil {
				readFail("CountChangesSince", err)
				return false
			}
			err := db.FoldChanges(0, func(di *engines.DocInfo) error { return nil })
			if err != nil {
				readFail("FoldChanges", err)
			}
			return err == nil || errors.Is(err, engines.ErrRolledBack)
		})

		if err := putDocs(db, uncommitted, ids...); err != nil {
			t.Fatal(err)
		}
		select {
		case <-seen:
		case <-time.After(10 * time.Second):
			t.Fatal("the readers never read the uncommitted state")
		}
		ff.mu.Lock()
		ff.syncs = 0
		ff.mu.Unlock()
		if err := db.Commit(); err == nil {
			t.Fatal("Commit succeeded with a failing fsync")
		}
		close(stop)
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
		rolledBack += nRolled
		if got := mustDump(t, db); got != committed {
			t.Fatalf("round %d: after the failed commit the database reads\n%s\nwant the committed state\n%s", round, got, committed)
		}
		db.Close()
		if t.Failed() {
			return
		}
	}
	t.Logf("%d reads answered ErrRolledBack in %d rounds", rolledBack, rounds)
}
