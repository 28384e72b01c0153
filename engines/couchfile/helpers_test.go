package couchfile

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// testDB creates a database in a temporary directory.
func testDB(t *testing.T, opts Options) (*Engine, *DB, string) {
	t.Helper()
	eng := New(opts)
	path := filepath.Join(t.TempDir(), "db.couch")
	db, err := eng.Create(path)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return eng, db.(*DB), path
}

// putDocs writes one new revision of each id (creating the doc if needed)
// with body, in one WriteDocInfos, without committing.
func putDocs(db engines.DB, body func(id string) []byte, ids ...string) error {
	olds, err := db.OpenDocs(ids)
	if err != nil {
		return err
	}
	seq := db.UpdateSeq()
	pairs := make([]engines.DocInfoPair, len(ids))
	for i, id := range ids {
		b := body(id)
		ptr, active, err := db.WriteDocBody(b)
		if err != nil {
			return err
		}
		seq++
		di := &engines.DocInfo{ID: id, UpdateSeq: seq, ActiveSize: active, ExternalSize: uint64(len(b))}
		h := md5.Sum(fmt.Appendf(nil, "%s/%d", id, seq))
		leaf := &engines.RevNode{ID: hex.EncodeToString(h[:]), Value: &engines.RevValue{Ptr: ptr, Seq: seq, Size: uint64(len(b))}}
		if olds[i] == nil {
			di.RevTree = engines.RevTree{{Start: 1, Root: leaf}}
		} else {
			c, err := engines.DecodeDocInfo(engines.AppendDocInfo(nil, olds[i]))
			if err != nil {
				return err
			}
			n := c.RevTree[0].Root
			for len(n.Children) > 0 {
				n = n.Children[0]
			}
			n.Children = []*engines.RevNode{leaf}
			di.RevTree = c.RevTree
		}
		pairs[i] = engines.DocInfoPair{Old: olds[i], New: di}
	}
	return db.WriteDocInfos(pairs, nil, nil)
}

func jsonBody(id string) []byte {
	return fmt.Appendf(nil, `{"_id":%q,"v":"%s"}`, id, strings.Repeat(id, 3))
}

// dump renders everything a database answers as one string: getters, every
// doc info with the bodies of its valued revisions, the changes feed, local
// docs, purge infos and attachments 1..nextAttID. Equal dumps mean equal
// observable states. Any error is returned (an engine may answer
// corruption with ErrCorrupt, never with different data).
func dump(db engines.DB) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "seq=%d purge=%d docs=%d del=%d revs=%d plimit=%d sec=%s uuid=%s\n",
		db.UpdateSeq(), db.PurgeSeq(), db.DocCount(), db.DelDocCount(), db.RevsLimit(), db.PurgeInfosLimit(), db.Security(), db.UUID())
	err := db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
		fmt.Fprintf(&b, "doc %x\n", engines.AppendDocInfo(nil, di))
		var stack []*engines.RevNode
		for _, br := range di.RevTree {
			stack = append(stack, br.Root)
		}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			stack = append(stack, n.Children...)
			if n.Value != nil {
				body, err := db.ReadDocBody(n.Value.Ptr)
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "  body %s %s\n", n.ID, body)
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	err = db.FoldChanges(0, func(di *engines.DocInfo) error {
		fmt.Fprintf(&b, "change %d %s\n", di.UpdateSeq, di.ID)
		return nil
	})
	if err != nil {
		return "", err
	}
	err = db.FoldLocalDocs(engines.FoldOptions{}, func(ld *engines.LocalDoc) error {
		fmt.Fprintf(&b, "local %s %d %s\n", ld.ID, ld.Rev, ld.Body)
		return nil
	})
	if err != nil {
		return "", err
	}
	err = db.FoldPurgeInfos(0, func(pi engines.PurgeInfo) error {
		fmt.Fprintf(&b, "purge %d %s %s %v\n", pi.Seq, pi.UUID, pi.ID, pi.Revs)
		return nil
	})
	if err != nil {
		return "", err
	}
	if d, ok := db.(*DB); ok {
		for id := uint64(1); id <= d.snap.Load().h.nextAttID; id++ {
			r, err := d.OpenAttachment(id)
			if err != nil {
				return "", err
			}
			data, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "att %d %x\n", id, md5.Sum(data))
		}
	}
	return b.String(), nil
}

func mustDump(t *testing.T, db engines.DB) string {
	t.Helper()
	s, err := dump(db)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return s
}

func wantCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, engines.ErrCorrupt) {
		t.Fatalf("%s: error %v, want one wrapping ErrCorrupt", what, err)
	}
}

// bigBody is a body that spans several blocks and compresses.
func bigBody(id string) []byte {
	return bytes.Repeat(fmt.Appendf(nil, `{"%s":"%s"}`, id, id), 600)
}
