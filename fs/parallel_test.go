package fs_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	couchfs "github.com/couchfs/couchfs/fs"
)

// TestParallel runs writers, readers and listings at once: every save lands
// as exactly one revision; a read that starts after a save returned shows
// that revision whole, even while ls -l and other saves race it; a document
// nobody rewrites reads whole throughout.
func TestParallel(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	const writers, saves = 8, 15
	for w := 0; w < writers; w++ {
		if err := writeFile(e.p("db", fmt.Sprintf("w%d.json", w)), []byte(`{"i":-1}`)); err != nil {
			t.Fatal(err)
		}
	}
	still := e.p("db", "still.json")
	if err := writeFile(still, []byte(`{"still":true}`)); err != nil {
		t.Fatal(err)
	}
	stillDoc := string(e.get("db", "still").JSON())

	var wg sync.WaitGroup
	errs := make(chan error, writers*saves*2)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			file := e.p("db", fmt.Sprintf("w%d.json", w))
			for i := 0; i < saves; i++ {
				if err := writeFile(file, []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))); err != nil {
					errs <- fmt.Errorf("writer %d save %d: %w", w, i, err)
					return
				}
				got, err := os.ReadFile(file)
				var doc map[string]any
				if err != nil || json.Unmarshal(got, &doc) != nil || doc["i"] != float64(i) ||
					!strings.HasPrefix(fmt.Sprint(doc["_rev"]), fmt.Sprintf("%d-", i+2)) {
					errs <- fmt.Errorf("writer %d read after save %d: %q %v", w, i, got, err)
					return
				}
			}
		}(w)
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	var listed, reads int
	bg.Add(2)
	go func() {
		// Listings with attributes (ls -l: READDIRPLUS) race the saves;
		// none may hand the kernel a size older than a finished save.
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ents, err := os.ReadDir(e.p("db"))
			if err != nil {
				errs <- err
			}
			for _, ent := range ents {
				ent.Info()
			}
			if _, err := os.ReadDir(e.p("db", "_changes")); err != nil {
				errs <- err
			}
			listed++
		}
	}()
	go func() {
		// Another reader: the untouched document always reads whole; the
		// ones being rewritten always read without error (a read that
		// overlaps a rewrite of the same file may see it cut: the kernel
		// keeps one size per file, see docs/semantics.md §3).
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if got, err := os.ReadFile(still); err != nil || string(got) != stillDoc {
				errs <- fmt.Errorf("reader: still.json = %q %v", got, err)
				return
			}
			if _, err := os.ReadFile(e.p("db", fmt.Sprintf("w%d.json", i%writers))); err != nil {
				errs <- fmt.Errorf("reader: w%d.json: %v", i%writers, err)
				return
			}
			reads++
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	t.Logf("%d listings and %d reads during the saves", listed, reads)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := 0; w < writers; w++ {
		doc := e.get("db", fmt.Sprintf("w%d", w))
		if revPos(t, doc.Rev) != saves+1 || body(t, doc)["i"] != float64(saves-1) {
			t.Errorf("w%d = %s %s, want rev %d", w, doc.Rev, doc.Body, saves+1)
		}
	}
}

// TestUnmountSavesOpenDrafts: a file still open for writing at unmount is
// saved, and the unmount completes once it is closed.
func TestUnmountSavesOpenDrafts(t *testing.T) {
	e := mountT(t, couchfs.Options{})
	e.mkdb("db")
	sh(t, `echo '{"v":1}' > `+e.p("db", "doc.json"))
	f, err := os.OpenFile(e.p("db", "doc.json"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		f.Close()
	}()
	if err := e.h.Unmount(); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if got := body(t, e.get("db", "doc"))["v"]; got != 2.0 {
		t.Errorf("v = %v after unmount, want the open draft saved", got)
	}
}
