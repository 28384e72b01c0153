package pebble

import (
	"fmt"
	"slices"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

func node(id string, children ...*engines.RevNode) *engines.RevNode {
	n := &engines.RevNode{ID: id, Children: children}
	if len(children) == 0 {
		n.Value = &engines.RevValue{Ptr: uint64(len(id)), Seq: 7, Size: 2}
	}
	return n
}

// TestChangesInfo: a changes entry keeps every leaf at its position, with
// its value, in the tree's order, and the document's other fields.
func TestChangesInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree engines.RevTree
		want []string
	}{
		{"one revision", engines.RevTree{{Start: 1, Root: node("a")}}, []string{"1-a"}},
		{"linear", engines.RevTree{{Start: 1, Root: node("a", node("b", node("c")))}}, []string{"3-c"}},
		{"stemmed linear", engines.RevTree{{Start: 8, Root: node("h", node("i"))}}, []string{"9-i"}},
		{"fork", engines.RevTree{{Start: 1, Root: node("a", node("b", node("c"), node("d", node("e"))))}}, []string{"3-c", "4-e"}},
		{"fork at the root", engines.RevTree{{Start: 2, Root: node("b", node("c"), node("cc"))}}, []string{"3-c", "3-cc"}},
		{"two branches", engines.RevTree{{Start: 1, Root: node("a", node("b"))}, {Start: 5, Root: node("x", node("y", node("z")))}}, []string{"2-b", "7-z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			di := &engines.DocInfo{ID: "doc", UpdateSeq: 7, Deleted: true, ActiveSize: 3, ExternalSize: 4, RevTree: tc.tree}
			ce := changesInfo(di)
			var got []string
			for _, b := range ce.RevTree {
				if len(b.Root.Children) != 0 {
					t.Fatalf("branch %d-%s has children", b.Start, b.Root.ID)
				}
				if b.Root.Value == nil || b.Root.Value.Ptr != uint64(len(b.Root.ID)) {
					t.Errorf("leaf %d-%s lost its value: %+v", b.Start, b.Root.ID, b.Root.Value)
				}
				got = append(got, fmt.Sprintf("%d-%s", b.Start, b.Root.ID))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("leaves %v, want %v", got, tc.want)
			}
			if ce.ID != di.ID || ce.UpdateSeq != di.UpdateSeq || !ce.Deleted || ce.ActiveSize != 3 || ce.ExternalSize != 4 {
				t.Errorf("fields changed: %+v", ce)
			}
			if tc.name == "one revision" && ce != di {
				t.Errorf("a one-revision doc info was copied")
			}
			if len(di.RevTree) != len(tc.tree) {
				t.Errorf("the document's own tree was modified")
			}
		})
	}
}

// TestChangesEntriesHoldingWholeDocInfos: a database written before changes
// entries held only the leaves has whole doc infos there; it checks clean,
// reads, and takes updates.
func TestChangesEntriesHoldingWholeDocInfos(t *testing.T) {
	path := t.TempDir() + "/w.pebble"
	edb, err := New(Options{}).Create(path)
	if err != nil {
		t.Fatal(err)
	}
	d := edb.(*db)
	ptr, _, err := d.WriteDocBody([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	leaf := node("c")
	leaf.Value.Ptr, leaf.Value.Seq = ptr, 1
	di := &engines.DocInfo{ID: "doc", UpdateSeq: 1, ExternalSize: 2, RevTree: engines.RevTree{{Start: 1, Root: node("a", node("b", leaf))}}}
	if err := d.WriteDocInfos([]engines.DocInfoPair{{New: di}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	b := d.cur.Load().pdb.NewBatch()
	_ = b.Set(seqKey(1), engines.AppendDocInfo(nil, di), nil)
	if err := commitBatch(b, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Check(); err != nil {
		t.Fatalf("Check with a whole doc info in the changes entry: %v", err)
	}
	var depth []int
	err = d.FoldChanges(0, func(ch *engines.DocInfo) error {
		depth = append(depth, len(ch.RevTree[0].Root.Children))
		return nil
	})
	if err != nil || !slices.Equal(depth, []int{1}) {
		t.Fatalf("FoldChanges: %v, %v", depth, err)
	}
	ptr, _, err = d.WriteDocBody([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	next := node("d")
	next.Value.Ptr, next.Value.Seq = ptr, 2
	nu := &engines.DocInfo{ID: "doc", UpdateSeq: 2, ExternalSize: 2, RevTree: engines.RevTree{{Start: 1, Root: node("a", node("b", node("c", next)))}}}
	if err := d.WriteDocInfos([]engines.DocInfoPair{{Old: di, New: nu}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := d.Check(); err != nil {
		t.Fatalf("Check after an update: %v", err)
	}
	depth = depth[:0]
	err = d.FoldChanges(0, func(ch *engines.DocInfo) error {
		depth = append(depth, int(ch.RevTree[0].Start))
		return nil
	})
	if err != nil || !slices.Equal(depth, []int{4}) {
		t.Fatalf("FoldChanges after the update: leaf positions %v, %v", depth, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
