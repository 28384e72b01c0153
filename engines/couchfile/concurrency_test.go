package couchfile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/couchfs/couchfs/engines"
)

// TestReadersDuringWritesAndCompaction runs readers on every read path
// while the updater writes and compacts twice. Under -race it checks the
// snapshot, buffer and file-swap handoffs; without, that every read answers
// a consistent state: a document's body is the one its doc info names.
func TestReadersDuringWritesAndCompaction(t *testing.T) {
	_, db, _ := testDB(t, Options{FlushBytes: 16 << 10})
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprintf("doc-%03d", i)
	}
	if err := putDocs(db, jsonBody, ids...); err != nil {
		t.Fatal(err)
	}
	att, _, err := db.WriteAttachment(bytes.NewReader(bytes.Repeat([]byte("a"), 100000)))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	reader := func(fn func(int) error) {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	reader(func(i int) error {
		dis, err := db.OpenDocs([]string{ids[i%len(ids)]})
		if err != nil || dis[0] == nil {
			return fmt.Errorf("OpenDocs: %v %v", dis, err)
		}
		leaf := dis[0].RevTree[0].Root
		for len(leaf.Children) > 0 {
			leaf = leaf.Children[0]
		}
		b, err := db.ReadDocBody(leaf.Value.Ptr)
		if err != nil || !bytes.Equal(b, jsonBody(dis[0].ID)) {
			return fmt.Errorf("ReadDocBody of %s: %q %v", dis[0].ID, b, err)
		}
		return nil
	})
	reader(func(int) error {
		var last uint64
		return db.FoldChanges(0, func(di *engines.DocInfo) error {
			if di.UpdateSeq <= last {
				return fmt.Errorf("changes out of order: %d after %d", di.UpdateSeq, last)
			}
			last = di.UpdateSeq
			return nil
		})
	})
	reader(func(int) error {
		n := 0
		err := db.FoldDocs(engines.FoldOptions{}, func(*engines.DocInfo) error { n++; return nil })
		if err == nil && n < len(ids) {
			err = fmt.Errorf("FoldDocs saw %d docs", n)
		}
		return err
	})
	reader(func(int) error {
		r, err := db.OpenAttachment(att)
		if err != nil {
			return err
		}
		defer r.Close()
		n, err := io.Copy(io.Discard, r)
		if err == nil && n != 100000 {
			err = fmt.Errorf("attachment of %d bytes", n)
		}
		return err
	})
	reader(func(int) error { db.SizeInfo(); db.DocCount(); _, err := db.CountChangesSince(5); return err })

	for round := range 2 {
		c, err := db.StartCompaction()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			if err := putDocs(db, jsonBody, ids[i*7%len(ids)], ids[(i*13+100+round)%len(ids)]); err != nil {
				t.Fatal(err)
			}
			if err := db.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		<-c.Done()
		if err := c.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}
