package revtree

import (
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

func TestParseRev(t *testing.T) {
	tests := []struct {
		in   string
		want engines.Rev
		ok   bool
	}{
		{"1-abc", engines.Rev{Pos: 1, ID: "abc"}, true},
		{"0-1", engines.Rev{Pos: 0, ID: "1"}, true},
		{"12-967a00dff5e02add41819138abb3284d", engines.Rev{Pos: 12, ID: "967a00dff5e02add41819138abb3284d"}, true},
		{"3-a-b", engines.Rev{Pos: 3, ID: "a-b"}, true},
		{"007-x", engines.Rev{Pos: 7, ID: "x"}, true},
		{"18446744073709551615-x", engines.Rev{Pos: 1<<64 - 1, ID: "x"}, true},
		{"18446744073709551616-x", engines.Rev{}, false},
		{"", engines.Rev{}, false},
		{"1", engines.Rev{}, false},
		{"1-", engines.Rev{}, false},
		{"-abc", engines.Rev{}, false},
		{"+1-abc", engines.Rev{}, false},
		{"-1-abc", engines.Rev{}, false},
		{"1x-abc", engines.Rev{}, false},
		{" 1-abc", engines.Rev{}, false},
		{"abc", engines.Rev{}, false},
	}
	for _, tt := range tests {
		got, err := ParseRev(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("ParseRev(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, ErrBadRev) {
			t.Errorf("ParseRev(%q) = %v, %v; want ErrBadRev", tt.in, got, err)
		}
	}
}

func TestFormatRev(t *testing.T) {
	for _, s := range []string{"1-abc", "0-1", "18446744073709551615-x", "3-a-b"} {
		r, err := ParseRev(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatRev(r); got != s {
			t.Errorf("FormatRev(ParseRev(%q)) = %q", s, got)
		}
	}
}

func TestNewRevID(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	body := []byte(`{"a":1}`)
	parent := engines.Rev{Pos: 1, ID: "abc"}
	base := NewRevID(false, parent, body)
	if !hex32.MatchString(base) {
		t.Fatalf("NewRevID = %q, want 32 lowercase hex digits", base)
	}
	if again := NewRevID(false, parent, body); again != base {
		t.Errorf("not deterministic: %q vs %q", again, base)
	}
	// Golden value: the encoding is a compatibility contract between
	// replicas, so changing it must be deliberate.
	if base != "87d0ab8bab743cfabccf12c6837fe77c" {
		t.Errorf("NewRevID changed: %q", base)
	}
	others := map[string]string{
		"deleted":     NewRevID(true, parent, body),
		"parent pos":  NewRevID(false, engines.Rev{Pos: 2, ID: "abc"}, body),
		"parent id":   NewRevID(false, engines.Rev{Pos: 1, ID: "abd"}, body),
		"body":        NewRevID(false, parent, []byte(`{"a":2}`)),
		"first rev":   NewRevID(false, engines.Rev{}, body),
		"id and body": NewRevID(false, engines.Rev{Pos: 1, ID: "ab"}, []byte(`c{"a":1}`)),
	}
	seen := map[string]string{base: "base"}
	for name, id := range others {
		if prev, dup := seen[id]; dup {
			t.Errorf("%s gives the same id as %s", name, prev)
		}
		seen[id] = name
	}
}

func TestPathFromRevs(t *testing.T) {
	leaf := &engines.RevValue{Seq: 7}
	tests := []struct {
		start uint64
		ids   []string
		want  string
	}{
		{1, []string{"a"}, "1-a =7\n"},
		{3, []string{"c", "b", "a"}, "1-a\n  2-b\n    3-c =7\n"},
		{9, []string{"c", "b"}, "8-b\n  9-c =7\n"},
		// Positions below 1 are dropped.
		{2, []string{"c", "b", "a"}, "1-b\n  2-c =7\n"},
		{0, []string{"a"}, "(empty)\n"},
		{5, nil, "(empty)\n"},
	}
	for _, tt := range tests {
		b := PathFromRevs(tt.start, tt.ids, leaf)
		var got string
		if b.Root == nil {
			got = dump(nil)
		} else {
			got = dump(engines.RevTree{b})
		}
		if got != tt.want {
			t.Errorf("PathFromRevs(%d, %v) =\n%swant\n%s", tt.start, tt.ids, got, tt.want)
		}
	}
	if tr, res := Merge(nil, engines.RevBranch{}); tr != nil || res != InternalNode {
		t.Errorf("Merge of an empty path = %v, %v", tr, res)
	}
}

func TestMergeBranchingPath(t *testing.T) {
	tree, _ := parseTree("1-a =1\n  2-b =2\n")
	p, _ := parseTree("1-a\n  2-b =2\n    3-c =3\n  2-x =4\n")
	got, res := Merge(tree, p[0])
	if res != NewBranch {
		t.Errorf("result %v, want new_branch", res)
	}
	want := "1-a =1\n  2-b =2\n    3-c =3\n  2-x =4\n"
	if dump(got) != want {
		t.Errorf("got\n%swant\n%s", dump(got), want)
	}
	if dump(tree) != "1-a =1\n  2-b =2\n" {
		t.Errorf("input modified:\n%s", dump(tree))
	}
}

func TestEqual(t *testing.T) {
	a, _ := parseTree("1-a =1\n  2-b =2\n  2-c =3\n")
	b, _ := parseTree("1-a =1\n  2-b =2\n  2-c =3\n")
	c, _ := parseTree("1-a =1\n  2-b =2\n  2-c =4\n")
	d, _ := parseTree("1-a\n  2-b =2\n  2-c =3\n")
	e, _ := parseTree("1-a =1\n  2-b =2\n")
	tests := []struct {
		x, y engines.RevTree
		want bool
	}{
		{a, a, true}, {a, b, true}, {a, c, false}, {a, d, false}, {a, e, false}, {nil, nil, true}, {a, nil, false},
	}
	for i, tt := range tests {
		if got := Equal(tt.x, tt.y); got != tt.want {
			t.Errorf("case %d: Equal = %v", i, got)
		}
	}
}

func TestUpdateDoesNotCopyUnchangedNodes(t *testing.T) {
	tree := linearTree(50)
	w, _ := Winner(tree)
	next, res := Merge(tree, PathFromRevs(w.Rev.Pos+1, []string{"new", w.Rev.ID}, &engines.RevValue{Seq: 51}))
	if res != NewLeaf {
		t.Fatalf("result %v", res)
	}
	stemmed := Stem(next, 50)
	if stemmed[0].Start != 2 {
		t.Fatalf("stemmed start %d", stemmed[0].Start)
	}
	// Merge copied the ancestors of the old leaf; stemming cut the root and
	// reused the copies as they were.
	if stemmed[0].Root != next[0].Root.Children[0] {
		t.Error("Stem copied a node it did not change")
	}
}

// linearTree returns a history of n revisions, 1-r1 … n-rn.
func linearTree(n int) engines.RevTree {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = NewRevID(false, engines.Rev{Pos: uint64(n - i)}, nil)
	}
	b := PathFromRevs(uint64(n), ids, &engines.RevValue{Seq: uint64(n), Size: 100})
	return engines.RevTree{b}
}

// benchmarkUpdate measures one interactive update of a linear document with
// n revisions and revs_limit n: merge [parent, new], stem, find the winner.
func benchmarkUpdate(b *testing.B, n int) {
	tree := linearTree(n)
	w, _ := Winner(tree)
	path := PathFromRevs(uint64(n)+1, []string{"new", w.Rev.ID}, &engines.RevValue{Seq: uint64(n) + 1, Size: 100})
	b.ReportAllocs()
	for b.Loop() {
		next, res := Merge(tree, path)
		if res != NewLeaf {
			b.Fatal(res)
		}
		next = Stem(next, uint64(n))
		if len(LeafRevs(next)) != 1 {
			b.Fatal("leaves")
		}
	}
}

func BenchmarkUpdateLinear10(b *testing.B)   { benchmarkUpdate(b, 10) }
func BenchmarkUpdateLinear1000(b *testing.B) { benchmarkUpdate(b, 1000) }

func TestHugePositions(t *testing.T) {
	tree := linearTree(3)
	huge := engines.Rev{Pos: 1<<64 - 1, ID: "x"}
	if _, _, ok := Find(tree, huge); ok {
		t.Error("found a revision at an absurd position")
	}
	if IsLeaf(tree, huge) || len(FindMissing(tree, []engines.Rev{huge})) != 1 {
		t.Error("absurd position reported present")
	}
	got, res := Merge(tree, PathFromRevs(1<<64-1, []string{"x", "y"}, &engines.RevValue{}))
	if res != NewBranch || len(got) != 2 {
		t.Errorf("merge at an absurd position: %v, %d branches", res, len(got))
	}
}

// TestAppendLeaf checks AppendLeaf against Merge on the trees it takes and
// its refusal of the others.
func TestAppendLeaf(t *testing.T) {
	v := &engines.RevValue{Ptr: 7, Seq: 9, Size: 11}
	forked := pathTree(3, 3)
	forked[0].Root = &engines.RevNode{ID: forked[0].Root.ID, Children: []*engines.RevNode{forked[0].Root.Children[0], {ID: "zz"}}}
	tests := []struct {
		name string
		tree engines.RevTree
		leaf engines.Rev
		ok   bool
	}{
		{"one revision", pathTree(1, 1), engines.Rev{Pos: 1, ID: "r1"}, true},
		{"long history", pathTree(50, 50), engines.Rev{Pos: 50, ID: "r50"}, true},
		{"stemmed history", pathTree(40, 10), engines.Rev{Pos: 40, ID: "r40"}, true},
		{"not the leaf", pathTree(5, 5), engines.Rev{Pos: 4, ID: "r4"}, false},
		{"wrong id", pathTree(5, 5), engines.Rev{Pos: 5, ID: "r4"}, false},
		{"beyond the leaf", pathTree(5, 5), engines.Rev{Pos: 6, ID: "r6"}, false},
		{"above the root", pathTree(40, 10), engines.Rev{Pos: 3, ID: "r3"}, false},
		{"forked", forked, engines.Rev{Pos: 3, ID: "r3"}, false},
		{"two branches", append(pathTree(2, 2), pathTree(9, 2)...), engines.Rev{Pos: 2, ID: "r2"}, false},
		{"empty", nil, engines.Rev{Pos: 1, ID: "r1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := dump(tt.tree)
			got, ok := AppendLeaf(tt.tree, tt.leaf, "new", v)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if dump(tt.tree) != before {
				t.Fatal("the input tree changed")
			}
			if !ok {
				return
			}
			want, res := Merge(tt.tree, PathFromRevs(tt.leaf.Pos+1, []string{"new", tt.leaf.ID}, v))
			if res != NewLeaf || !Equal(got, want) {
				t.Fatalf("AppendLeaf gave\n%s\nMerge gives (%v)\n%s", dump(got), res, dump(want))
			}
			if n := FindNode(got, engines.Rev{Pos: tt.leaf.Pos + 1, ID: "new"}); n == nil || n.Value != v {
				t.Fatal("the new leaf does not carry its value")
			}
			if err := checkInvariants(got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// pathTree is a linear tree of n revisions ending at position end.
func pathTree(end uint64, n int) engines.RevTree {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("r%d", end-uint64(i))
	}
	return engines.RevTree{PathFromRevs(end, ids, &engines.RevValue{Size: 1})}
}
