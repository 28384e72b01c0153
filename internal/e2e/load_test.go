package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore/jsondoc"
)

// Load test shape: 64 workers split evenly into writers and readers over
// one database per engine, and one `ls _changes` loop per database.
const (
	loadWorkers      = 64
	loadDocsPerDB    = 64
	loadWarmup       = time.Second
	loadMaxFDGrowth  = 10
	loadMaxGoroutine = 50
	loadHeapSlack    = 32 << 20
	loadRSSSlack     = 64 << 20
)

// resources is what the load test watches in the serving process (this
// one, since the mount is in process).
type resources struct {
	fds, goroutines int
	heap, rss       uint64
}

func (r resources) String() string {
	return fmt.Sprintf("%d fds, %d goroutines, heap %.1f MB, rss %.1f MB",
		r.fds, r.goroutines, float64(r.heap)/(1<<20), float64(r.rss)/(1<<20))
}

func measure(t *testing.T) resources {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var rss uint64
	if data, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, res uint64
		if _, err := fmt.Sscan(string(data), &size, &res); err == nil {
			rss = res * uint64(os.Getpagesize())
		}
	}
	return resources{fds: len(fds), goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc, rss: rss}
}

// loadCounts counts operations across workers.
type loadCounts struct {
	saves, renames, reads, lists atomic.Int64
	// short counts reads of a document being rewritten in place that came
	// out empty or as a prefix of one revision, zeros counts those of them
	// followed by zero bytes (docs/semantics.md §3).
	short, zeros atomic.Int64
}

// loadErrors keeps the first few errors of a run.
type loadErrors struct {
	mu   sync.Mutex
	n    int
	errs []error
}

func (e *loadErrors) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.errs) < 10 {
		e.errs = append(e.errs, err)
	}
}

// TestLoad runs 64 concurrent writers and readers plus repeated listings of
// _changes through an in-process mount for COUCHFS_LOAD_SECONDS (default 5)
// and requires no errors, and file descriptors, goroutines and heap of the
// serving process to stay flat between the end of a warm-up and the end of
// the run (fds +10, goroutines +50, heap ×2 + 32 MB, RSS ×2 + 64 MB). The
// mount is served by this process, so /proc/self is the mount process.
//
// Half of the documents are saved like editors save (a scratch file renamed
// onto the document), half in place (open with O_TRUNC, write, close).
// Readers read a document in several read() calls, and what one descriptor
// returns must be exactly one revision's rendering (docs/semantics.md §3,
// "A descriptor reads one revision"). Only a document rewritten in place
// may also read empty, or as a prefix of one revision, possibly followed by
// zero bytes, as §3 allows for a read that overlaps an in-place rewrite.
// Bytes of two revisions fail the test, and so does any of this on a
// document saved by rename.
func TestLoad(t *testing.T) {
	m := mountInProcess(t)
	seconds := envInt(t, "COUCHFS_LOAD_SECONDS", 5)
	var dbDirs []string
	for _, ext := range []string{".couch", ".pebble"} {
		dbDir := mkdirDB(t, m.mnt, "load"+strings.TrimPrefix(ext, "."), ext)
		for i := range loadDocsPerDB {
			if err := saveDoc(dbDir, loadDocID(i), loadBody(i, 0)); err != nil {
				t.Fatal(err)
			}
		}
		dbDirs = append(dbDirs, dbDir)
	}

	var counts loadCounts
	var errs loadErrors
	runLoad(dbDirs, loadWarmup, &counts, &errs)
	start := measure(t)
	counts = loadCounts{}
	began := time.Now()
	runLoad(dbDirs, time.Duration(seconds)*time.Second, &counts, &errs)
	elapsed := time.Since(began)
	end := measure(t)

	if errs.n > 0 {
		t.Errorf("%d errors under load; first: %v", errs.n, errors.Join(errs.errs...))
	}
	t.Logf("%v: %d saves (%.0f/s; %d by rename), %d reads (%.0f/s; %d empty or short, %d of them with zero bytes, all of documents rewritten in place), %d listings of _changes",
		elapsed.Round(time.Millisecond), counts.saves.Load(), float64(counts.saves.Load())/elapsed.Seconds(), counts.renames.Load(),
		counts.reads.Load(), float64(counts.reads.Load())/elapsed.Seconds(), counts.short.Load(), counts.zeros.Load(), counts.lists.Load())
	t.Logf("after warm-up: %v; at the end: %v", start, end)
	if counts.saves.Load() == 0 || counts.renames.Load() == 0 || counts.reads.Load() == 0 || counts.lists.Load() == 0 {
		t.Errorf("some workers made no progress: %d saves (%d by rename), %d reads, %d listings",
			counts.saves.Load(), counts.renames.Load(), counts.reads.Load(), counts.lists.Load())
	}
	if end.fds > start.fds+loadMaxFDGrowth {
		t.Errorf("file descriptors grew from %d to %d", start.fds, end.fds)
	}
	if end.goroutines > start.goroutines+loadMaxGoroutine {
		t.Errorf("goroutines grew from %d to %d", start.goroutines, end.goroutines)
	}
	if end.heap > 2*start.heap+loadHeapSlack {
		t.Errorf("heap grew from %d to %d bytes", start.heap, end.heap)
	}
	if end.rss > 2*start.rss+loadRSSSlack {
		t.Errorf("resident set grew from %d to %d bytes", start.rss, end.rss)
	}
}

func loadDocID(i int) string { return fmt.Sprintf("doc%03d", i) }

// savedByRename reports whether document i is saved through a scratch
// file and rename (odd i) rather than rewritten in place.
func savedByRename(i int) bool { return i%2 == 1 }

// loadBody is version n of document i, about 1 KB.
func loadBody(i, n int) []byte {
	return fmt.Appendf(nil, `{"i":%d,"n":%d,"pad":%q}`, i, n, strings.Repeat("p", 900+n%64))
}

// runLoad runs the workers for d and waits for all of them. Each writer
// owns a fixed set of documents so no two writers conflict; readers read
// any document and check it is one revision of it (readLoadDoc).
func runLoad(dbDirs []string, d time.Duration, counts *loadCounts, errs *loadErrors) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	writers := loadWorkers / 2
	for w := range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			buf := make([]byte, 64<<10)
			dbDir := dbDirs[w%len(dbDirs)]
			for n := 1; time.Now().Before(deadline); n++ {
				if w < writers {
					i := w/len(dbDirs) + writers/len(dbDirs)*rng.IntN(loadDocsPerDB/(writers/len(dbDirs)))
					if err := saveLoadDoc(dbDir, i, n); err != nil {
						errs.add(err)
						return
					}
					counts.saves.Add(1)
					if savedByRename(i) {
						counts.renames.Add(1)
					}
					continue
				}
				r, err := readLoadDoc(dbDir, rng.IntN(loadDocsPerDB), buf)
				if err != nil {
					errs.add(err)
					return
				}
				counts.reads.Add(1)
				if r != readWhole {
					counts.short.Add(1)
				}
				if r == readPrefixZeros {
					counts.zeros.Add(1)
				}
			}
		}()
	}
	for _, dbDir := range dbDirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := listChanges(dbDir); err != nil {
					errs.add(err)
					return
				}
				counts.lists.Add(1)
			}
		}()
	}
	wg.Wait()
}

// saveLoadDoc saves version n of document i: through a scratch file
// renamed onto the document (how editors, sed -i and os.replace save), or
// in place (open with O_TRUNC, write, close).
func saveLoadDoc(dbDir string, i, n int) error {
	id := loadDocID(i)
	if !savedByRename(i) {
		return saveDoc(dbDir, id, loadBody(i, n))
	}
	tmp := docPath(dbDir, id) + ".tmp"
	if err := os.WriteFile(tmp, loadBody(i, n), 0o644); err != nil {
		return fmt.Errorf("save %s: scratch file: %w", id, err)
	}
	if err := os.Rename(tmp, docPath(dbDir, id)); err != nil {
		return fmt.Errorf("save %s: rename: %w", id, err)
	}
	return nil
}

// loadRead is what one descriptor read of a document.
type loadRead int

const (
	readWhole       loadRead = iota // exactly one revision's rendering
	readPrefix                      // empty, or a strict prefix of one
	readPrefixZeros                 // such a prefix followed by zero bytes
)

// loadReadChunk is the size of each read() of a reader: several per
// document, so that a descriptor showing different revisions to
// successive reads would be caught.
const loadReadChunk = 400

// readLoadDoc reads document i through one descriptor, in read() calls of
// loadReadChunk bytes, into buf, and checks it with checkLoadRead.
func readLoadDoc(dbDir string, i int, buf []byte) (loadRead, error) {
	id := loadDocID(i)
	f, err := os.Open(docPath(dbDir, id))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:min(n+loadReadChunk, len(buf))])
		n += m
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", id, err)
		}
	}
	if n == len(buf) {
		return 0, fmt.Errorf("read %s: %d bytes or more, far more than any revision", id, n)
	}
	return checkLoadRead(i, buf[:n])
}

// checkLoadRead checks what one descriptor of document i returned:
// exactly one revision's rendering, or, for a document rewritten in place
// only, nothing or a strict prefix of one revision's rendering, possibly
// followed by zero bytes (docs/semantics.md §3).
func checkLoadRead(i int, data []byte) (loadRead, error) {
	id := loadDocID(i)
	text := bytes.TrimRight(data, "\x00")
	want := loadRendering(id, i, text)
	switch {
	case bytes.Equal(data, want):
		return readWhole, nil
	case len(text) < len(want) && bytes.HasPrefix(want, text):
		r := readPrefix
		if len(text) < len(data) {
			r = readPrefixZeros
		}
		if savedByRename(i) {
			return r, fmt.Errorf("read %s: %d bytes, %d of them a prefix of the %d-byte revision %q: a document saved by rename must read whole: %q",
				id, len(data), len(text), len(want), loadRev(text), data)
		}
		return r, nil
	}
	return 0, fmt.Errorf("read %s: %d bytes are not one revision (they differ from revision %q, %d bytes, at byte %d): head %.80q, tail %q",
		id, len(data), loadRev(data), len(want), commonPrefix(data, want), data, data[max(0, len(data)-80):])
}

// loadRendering is the rendering of the revision of document i whose
// beginning data shows: its _rev and "n" as far as data shows them
// (placeholders where it ends first, which agree with data up to its end),
// rendered as the file system renders (docs/semantics.md §3).
func loadRendering(id string, i int, data []byte) []byte {
	rev := loadRev(data)
	if rev == "" {
		rev = "x" // Render leaves out an empty _rev; data ends before it.
	}
	n := 0
	if v, ok := fieldAfter(data, `"n": `, ','); ok {
		n, _ = strconv.Atoi(v)
	}
	return jsondoc.Render(id, rev, false, loadBody(i, n))
}

// loadRev returns the _rev data shows, or as much of it as data holds.
func loadRev(data []byte) string {
	v, _ := fieldAfter(data, `"_rev": "`, '"')
	return v
}

// fieldAfter returns the bytes after the first key in data up to end (not
// included), or up to the end of data; ok is false if key is not there.
func fieldAfter(data []byte, key string, end byte) (string, bool) {
	k := bytes.Index(data, []byte(key))
	if k < 0 {
		return "", false
	}
	v := data[k+len(key):]
	if e := bytes.IndexByte(v, end); e >= 0 {
		v = v[:e]
	}
	return string(v), true
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// listChanges lists _changes like `ls` and checks the listing is sorted,
// which design.md promises means update-seq order, and names documents.
func listChanges(dbDir string) error {
	ents, err := os.ReadDir(filepath.Join(dbDir, "_changes"))
	if err != nil {
		return err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
		if !strings.HasSuffix(e.Name(), ".json") {
			return fmt.Errorf("_changes entry %q is not <seq>-<id>.json", e.Name())
		}
	}
	if len(names) < loadDocsPerDB || !sort.StringsAreSorted(names) {
		return fmt.Errorf("_changes of %s: %d entries, sorted %v", dbDir, len(names), sort.StringsAreSorted(names))
	}
	return nil
}

// TestLoadReadCheck pins down what TestLoad's readers accept, so that a
// torn read cannot pass unnoticed: one whole revision always; an empty
// read or a strict prefix only for a document rewritten in place; never
// bytes of two revisions or anything else.
func TestLoadReadCheck(t *testing.T) {
	whole := func(i, n int, rev string) []byte { return jsondoc.Render(loadDocID(i), rev, false, loadBody(i, n)) }
	const revA, revB = "7-0123456789abcdef0123456789abcdef", "8-fedcba9876543210fedcba9876543210"
	inPlace, renamed := 4, 5
	older, newer := whole(inPlace, 70, revA), whole(inPlace, 9, revB) // 900+70%64 = 906 pad bytes vs 909
	longer, shorter := whole(inPlace, 63, revA), whole(inPlace, 64, revB)
	zeros := func(b []byte, n int) []byte { return append(slices.Clone(b), make([]byte, n)...) }
	for _, c := range []struct {
		name    string
		i       int
		data    []byte
		want    loadRead
		wantErr bool
	}{
		{"whole, in place", inPlace, older, readWhole, false},
		{"whole, renamed", renamed, whole(renamed, 3, revA), readWhole, false},
		{"empty, in place", inPlace, nil, readPrefix, false},
		{"empty, renamed", renamed, nil, 0, true},
		{"prefix, in place", inPlace, older[:700], readPrefix, false},
		{"prefix ending inside the _rev", inPlace, older[:30], readPrefix, false},
		{"prefix ending inside n", inPlace, older[:bytes.Index(older, []byte(`"n": 7`))+6], readPrefix, false},
		{"prefix and zeros, in place", inPlace, zeros(older[:700], 300), readPrefixZeros, false},
		{"zeros only, in place", inPlace, zeros(nil, 1000), readPrefixZeros, false},
		{"prefix, renamed", renamed, whole(renamed, 3, revA)[:700], 0, true},
		{"prefix and zeros, renamed", renamed, zeros(whole(renamed, 3, revA)[:700], 300), 0, true},
		{"whole and zeros", inPlace, zeros(older, 10), 0, true},
		{"new revision and the tail of a longer one", inPlace, append(slices.Clone(shorter), longer[len(shorter):]...), 0, true},
		{"head of one revision, rest of another", inPlace, append(slices.Clone(newer[:500]), older[500:]...), 0, true},
		{"whole and garbage", inPlace, append(slices.Clone(older), '\n'), 0, true},
		{"another document", inPlace, whole(inPlace+2, 70, revA), 0, true},
		{"not JSON", inPlace, []byte("hello"), 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := checkLoadRead(c.i, c.data)
			if (err != nil) != c.wantErr || (err == nil && got != c.want) {
				t.Errorf("checkLoadRead = %v, %v; want %v, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
}
