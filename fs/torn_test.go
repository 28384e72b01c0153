package fs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	couchfs "github.com/couchfs/couchfs/fs"
)

// Torn-read stress shape: a few seconds of in-place rewrites of documents
// whose renderings change length by whole pages, against readers that read
// each file from open to EOF.
const (
	tornRun     = 2 * time.Second
	tornDocs    = 2
	tornReaders = 4
)

// tornBody is version k of a document: its length cycles through sizes from
// under one page to two pages, and its padding byte names the version, so
// bytes of two versions can never form one rendering.
func tornBody(k int) []byte {
	pad := strings.Repeat(string(rune('a'+k%26)), 100+(k%5)*1500)
	return fmt.Appendf(nil, `{"k":%d,"pad":%q}`, k, pad)
}

// TestConcurrentRewriteReads: while writers rewrite documents in place
// (open O_TRUNC, write, close) as fast as they can, readers reading the
// same files from open to EOF — in one go (os.ReadFile) or in small
// pieces — only ever get a prefix of one revision's rendering (possibly
// empty: the writer's truncation shrinks the file under them) or a whole
// revision; never bytes of two revisions, never bytes that are in no
// revision (docs/semantics.md §3).
func TestConcurrentRewriteReads(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	files := make([]string, tornDocs)
	for i := range files {
		files[i] = e.p("db", fmt.Sprintf("torn%d.json", i))
		if err := writeFile(files[i], tornBody(0)); err != nil {
			t.Fatal(err)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var saves, reads, whole, short atomic.Int64
	errs := make(chan error, 2*tornReaders+tornDocs)
	for i, file := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 1; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := writeFile(file, tornBody(k*tornDocs+i)); err != nil {
					errs <- fmt.Errorf("save %d of %s: %w", k, file, err)
					return
				}
				saves.Add(1)
			}
		}()
	}
	type sample struct {
		r    int
		file string
		data []byte
	}
	samples := make(chan sample, 1024)
	for r := 0; r < tornReaders; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				file := files[(n+r)%len(files)]
				var data []byte
				var err error
				if r%2 == 0 {
					data, err = os.ReadFile(file)
				} else {
					data, err = readInPieces(file, 700)
				}
				if err != nil {
					errs <- fmt.Errorf("read %s: %w", file, err)
					return
				}
				reads.Add(1)
				samples <- sample{r, file, data}
			}
		}()
	}
	// Check reads as they come: a read is a prefix of the rendering of the
	// revision it names, which is read back from the database by rev.
	checked := make(chan error, 1)
	go func() {
		db := e.db("db")
		var first error
		var bad int
		for s := range samples {
			if first != nil {
				bad++
				continue
			}
			id := strings.TrimSuffix(s.file[strings.LastIndexByte(s.file, '/')+1:], ".json")
			rev, ok := renderedRev(s.data)
			if !ok {
				// Too short to name its revision: a prefix of the header
				// every rendering of the document starts with.
				if head := fmt.Sprintf("{\n  \"_id\": %q,\n  \"_rev\": \"", id); !strings.HasPrefix(head, string(s.data)) {
					first = fmt.Errorf("%s: %d bytes name no revision: %.120q", id, len(s.data), s.data)
				}
				continue
			}
			doc, err := db.GetRev(id, rev)
			if err != nil {
				first = fmt.Errorf("%s: read names revision %s: %w: %.120q", id, rev, err, s.data)
				continue
			}
			want := doc.JSON()
			switch {
			case bytes.Equal(s.data, want):
				whole.Add(1)
			case bytes.HasPrefix(want, s.data):
				short.Add(1)
			default:
				i := 0
				for i < len(s.data) && i < len(want) && s.data[i] == want[i] {
					i++
				}
				first = fmt.Errorf("reader %d %s: read %d bytes of revision %s (%d bytes) that differ from it at byte %d: got %.60q…, want %.60q…",
					s.r, id, len(s.data), rev, len(want), i, s.data[i:], want[min(i, len(want)):])
			}
		}
		if first != nil {
			first = fmt.Errorf("%w (and %d more reads unchecked)", first, bad)
		}
		checked <- first
	}()

	time.Sleep(tornRun)
	close(stop)
	wg.Wait()
	close(samples)
	if err := <-checked; err != nil {
		t.Error(err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d saves, %d reads: %d whole revisions, %d prefixes", saves.Load(), reads.Load(), whole.Load(), short.Load())
	if saves.Load() == 0 || whole.Load() == 0 {
		t.Errorf("no progress: %d saves, %d whole reads", saves.Load(), whole.Load())
	}
}

// readInPieces reads file from open to EOF in reads of n bytes.
func readInPieces(file string, n int) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []byte
	buf := make([]byte, n)
	for {
		m, err := f.Read(buf)
		out = append(out, buf[:m]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// renderedRev returns the revision a document rendering names in its
// "_rev" member, if enough of it was read.
func renderedRev(data []byte) (string, bool) {
	_, after, ok := bytes.Cut(data, []byte(`"_rev": "`))
	if !ok {
		return "", false
	}
	rev, _, ok := bytes.Cut(after, []byte(`"`))
	return string(rev), ok
}
