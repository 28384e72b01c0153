package couchfile

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/enginetest"
	"github.com/golang/snappy"
)

// TestCompactedSize checks the space goal: after n documents are each
// written and then updated 10 times, one revision per update as dbcore
// makes them, and the database is compacted, the file is at most 1.5 times
// the snappy-compressed live bodies. A plain run uses sizeTestDocs
// documents (over a hundred id-tree nodes); the goal's 100,000 take
// about 20 seconds and run when asked:
//
//	COUCHFILE_SIZE_DOCS=100000 go test -run TestCompactedSize -v ./engines/couchfile/
func TestCompactedSize(t *testing.T) {
	n := sizeTestDocs
	if v := os.Getenv("COUCHFILE_SIZE_DOCS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("COUCHFILE_SIZE_DOCS=%q is not a positive count", v)
		}
	}
	const updates, batch = 10, 1000
	path := filepath.Join(t.TempDir(), "size.couch")
	dbi, err := New(Options{}).Create(path)
	if err != nil {
		t.Fatal(err)
	}
	db := dbi.(*DB)
	defer db.Close()
	start := time.Now()
	var live int64
	for round := 0; round <= updates; round++ {
		for first := 0; first < n; first += batch {
			ids := make([]string, 0, batch)
			for i := first; i < min(first+batch, n); i++ {
				ids = append(ids, fmt.Sprintf("doc-%08d", i))
			}
			olds, err := db.OpenDocs(ids)
			if err != nil {
				t.Fatal(err)
			}
			seq := db.UpdateSeq()
			pairs := make([]engines.DocInfoPair, len(ids))
			for j, id := range ids {
				body := enginetest.DocBody(first + j + round*n)
				ptr, active, err := db.WriteDocBody(body)
				if err != nil {
					t.Fatal(err)
				}
				seq++
				di := &engines.DocInfo{ID: id, UpdateSeq: seq, ActiveSize: active, ExternalSize: uint64(len(body))}
				leaf := &engines.RevNode{ID: revID(id, round), Value: &engines.RevValue{Ptr: ptr, Seq: seq, Size: uint64(len(body))}}
				if olds[j] == nil {
					di.RevTree = engines.RevTree{{Start: 1, Root: leaf}}
				} else {
					c, err := engines.DecodeDocInfo(engines.AppendDocInfo(nil, olds[j]))
					if err != nil {
						t.Fatal(err)
					}
					di.RevTree = c.RevTree
					n := di.RevTree[0].Root
					for len(n.Children) > 0 {
						n = n.Children[0]
					}
					n.Children = []*engines.RevNode{leaf}
				}
				pairs[j] = engines.DocInfoPair{Old: olds[j], New: di}
				if round == updates {
					live += int64(len(snappy.Encode(nil, body)))
				}
			}
			if err := db.WriteDocInfos(pairs, nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := db.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	loaded := time.Since(start)
	before := db.SizeInfo()
	c, err := db.StartCompaction()
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	compacted := time.Since(start) - loaded
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ratio := float64(fi.Size()) / float64(live)
	t.Logf("%d docs × %d updates: loaded in %v, compacted in %v", n, updates, loaded.Round(time.Millisecond), compacted.Round(time.Millisecond))
	t.Logf("file before compaction %d bytes; after %d bytes; snappy-compressed live bodies %d bytes; ratio %.3f (goal <= 1.5)",
		before.File, fi.Size(), live, ratio)
	t.Logf("size info after: %+v; trees: id %d, seq %d", db.SizeInfo(), db.snap.Load().h.roots[treeID].size, db.snap.Load().h.roots[treeSeq].size)
	if ratio > 1.5 {
		t.Errorf("compacted file is %.3f× the compressed live bodies, goal 1.5", ratio)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}

// sizeTestDocs is the document count of a plain run of TestCompactedSize.
const sizeTestDocs = 2000

// revID makes a 32-hex revision ID as CouchDB's MD5-based ones look.
func revID(id string, round int) string {
	h := md5.Sum(fmt.Appendf(nil, "%s/%d", id, round))
	return hex.EncodeToString(h[:])
}
