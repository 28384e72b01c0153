package revtree

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// history is a random "true" revision history: every revision has a unique
// id and a fixed parent, as hashed revision ids guarantee.
type history struct {
	ids    []string
	parent []int // -1 for a first revision
	pos    []uint64
}

func randomHistory(r *rand.Rand) history {
	var h history
	n := 2 + r.IntN(30)
	for k := range n {
		p := -1
		if k > 0 && r.IntN(8) != 0 {
			p = r.IntN(k)
			if r.IntN(2) == 0 {
				p = k - 1 // favour long chains
			}
		}
		pos := uint64(1)
		if p >= 0 {
			pos = h.pos[p] + 1
		}
		h.ids = append(h.ids, fmt.Sprintf("%04x", r.IntN(1<<16))+fmt.Sprint(k))
		h.parent = append(h.parent, p)
		h.pos = append(h.pos, pos)
	}
	return h
}

// value is the fixed value of revision k; paths carry it or nil.
func (h history) value(k int) *engines.RevValue {
	return &engines.RevValue{Deleted: k%3 == 0, Ptr: uint64(k), Seq: uint64(k), Size: uint64(10 * k)}
}

// randomPaths returns paths ending at random revisions, each truncated to a
// random length as stemming and replication produce them.
func randomPaths(r *rand.Rand, h history) []engines.RevBranch {
	var out []engines.RevBranch
	for range 1 + r.IntN(12) {
		k := r.IntN(len(h.ids))
		var chain []int
		for j := k; j >= 0; j = h.parent[j] {
			chain = append(chain, j)
		}
		chain = chain[:1+r.IntN(len(chain))]
		ids := make([]string, len(chain))
		for i, j := range chain {
			ids[i] = h.ids[j]
		}
		b := PathFromRevs(h.pos[k], ids, h.value(k))
		// Some ancestors carry their value too.
		n := b.Root
		for i := len(chain) - 1; i > 0; i-- {
			if r.IntN(2) == 0 {
				n.Value = h.value(chain[i])
			}
			n = n.Children[0]
		}
		out = append(out, b)
	}
	return out
}

func mergeAll(t *testing.T, paths []engines.RevBranch, order []int) engines.RevTree {
	t.Helper()
	var tree engines.RevTree
	for _, i := range order {
		old, before := tree, dump(tree)
		pathBefore := dump(engines.RevTree{paths[i]})
		tree, _ = Merge(tree, paths[i])
		if err := checkInvariants(tree); err != nil {
			t.Fatalf("after merging %s: %v\n%s", pathBefore, err, dump(tree))
		}
		if dump(old) != before || dump(engines.RevTree{paths[i]}) != pathBefore {
			t.Fatalf("merging %s modified an input", pathBefore)
		}
		// Where the tree is one branch, AppendLeaf extends its leaf as
		// Merge does.
		if l, ok := LinearLeaf(tree); ok {
			v := &engines.RevValue{Seq: 1}
			fast, ok := AppendLeaf(tree, l.Rev, "appended", v)
			slow, res := Merge(tree, PathFromRevs(l.Rev.Pos+1, []string{"appended", l.Rev.ID}, v))
			if !ok || res != NewLeaf || !Equal(fast, slow) {
				t.Fatalf("AppendLeaf on %s: ok %v, Merge %v\n%s\n%s", dump(tree), ok, res, dump(fast), dump(slow))
			}
		}
	}
	return tree
}

func checkMergeProperties(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed>>32|1))
	h := randomHistory(r)
	paths := randomPaths(r, h)
	order := make([]int, len(paths))
	for i := range order {
		order[i] = i
	}
	base := mergeAll(t, paths, order)
	baseDump := dump(base)

	// Every revision of every path is in the tree, once.
	revs := map[engines.Rev]bool{}
	for _, p := range paths {
		for n, pos := p.Root, p.Start; n != nil; pos++ {
			revs[engines.Rev{Pos: pos, ID: n.ID}] = true
			if !Contains(base, engines.Rev{Pos: pos, ID: n.ID}) {
				t.Fatalf("seed %d: %d-%s lost\n%s", seed, pos, n.ID, baseDump)
			}
			if len(n.Children) == 0 {
				break
			}
			n = n.Children[0]
		}
	}
	if c := countNodes(base); c != len(revs) {
		t.Fatalf("seed %d: tree has %d nodes, paths %d revisions\n%s", seed, c, len(revs), baseDump)
	}

	// Idempotent: every path is already there.
	for _, p := range paths {
		again, res := Merge(base, p)
		if res != InternalNode || !sameTree(again, base) {
			t.Fatalf("seed %d: re-merging %s gave %v\n%s", seed, dump(engines.RevTree{p}), res, dump(again))
		}
	}

	// Order-independent, so the winner is the same on every replica.
	w, _ := Winner(base)
	for range 3 {
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		other := mergeAll(t, paths, order)
		if !Equal(base, other) {
			t.Fatalf("seed %d: order %v gives\n%s\nwant\n%s", seed, order, dump(other), baseDump)
		}
		if w2, _ := Winner(other); w2.Rev != w.Rev {
			t.Fatalf("seed %d: winner %v vs %v", seed, w2.Rev, w.Rev)
		}
	}

	// Stem keeps every leaf and the newest limit revisions of its path,
	// keeps nothing farther than limit-1 from every leaf, and is idempotent;
	// the input is never modified.
	leaves := LeafRevs(base)
	full := Leaves(base)
	for limit := uint64(1); limit <= 6; limit++ {
		s := Stem(base, limit)
		if dump(base) != baseDump {
			t.Fatalf("seed %d: Stem modified its input", seed)
		}
		if err := checkInvariants(s); err != nil {
			t.Fatalf("seed %d: stem %d: %v\n%s", seed, limit, err, dump(s))
		}
		sl := Leaves(s)
		if len(sl) != len(leaves) {
			t.Fatalf("seed %d: stem %d: %d leaves, want %d", seed, limit, len(sl), len(leaves))
		}
		for i, l := range sl {
			keep := min(uint64(len(full[i].Path)), limit)
			if l.Rev != full[i].Rev || uint64(len(l.Path)) < keep {
				t.Fatalf("seed %d: stem %d: leaf %v path %v, was %v", seed, limit, l.Rev, l.Path, full[i].Path)
			}
			for j := range keep {
				if l.Path[j] != full[i].Path[j] {
					t.Fatalf("seed %d: stem %d: leaf %v path %v, was %v", seed, limit, l.Rev, l.Path, full[i].Path)
				}
			}
		}
		if d := maxLeafDistance(s); d >= limit {
			t.Fatalf("seed %d: stem %d kept a revision %d from its nearest leaf\n%s", seed, limit, d, dump(s))
		}
		if s2 := Stem(s, limit); !sameTree(s2, s) {
			t.Fatalf("seed %d: stem %d not idempotent", seed, limit)
		}
	}

	// RemoveLeaves of a subset leaves exactly the other leaves.
	var drop []engines.Rev
	keep := map[engines.Rev]bool{}
	for _, l := range leaves {
		if r.IntN(2) == 0 {
			drop = append(drop, l.Rev)
		} else {
			keep[l.Rev] = true
		}
	}
	pruned, removed := RemoveLeaves(base, drop)
	if dump(base) != baseDump {
		t.Fatalf("seed %d: RemoveLeaves modified its input", seed)
	}
	if len(removed) != len(drop) {
		t.Fatalf("seed %d: removed %v, want %v", seed, removed, drop)
	}
	if err := checkInvariants(pruned); err != nil {
		t.Fatalf("seed %d: remove: %v", seed, err)
	}
	pl := LeafRevs(pruned)
	if len(pl) != len(keep) {
		t.Fatalf("seed %d: %d leaves after purge, want %d", seed, len(pl), len(keep))
	}
	for _, l := range pl {
		if !keep[l.Rev] {
			t.Fatalf("seed %d: leaf %v survived", seed, l.Rev)
		}
	}
}

// maxLeafDistance returns the largest distance from a revision to the
// nearest leaf below it.
func maxLeafDistance(t engines.RevTree) uint64 {
	var worst uint64
	var walk func(n *engines.RevNode) uint64
	walk = func(n *engines.RevNode) uint64 {
		if len(n.Children) == 0 {
			return 0
		}
		d := ^uint64(0)
		for _, c := range n.Children {
			d = min(d, walk(c)+1)
		}
		worst = max(worst, d)
		return d
	}
	for _, br := range t {
		walk(br.Root)
	}
	return worst
}

func countNodes(t engines.RevTree) int {
	var count func(n *engines.RevNode) int
	count = func(n *engines.RevNode) int {
		c := 1
		for _, k := range n.Children {
			c += count(k)
		}
		return c
	}
	total := 0
	for _, br := range t {
		total += count(br.Root)
	}
	return total
}

func TestMergeProperties(t *testing.T) {
	for seed := range uint64(400) {
		checkMergeProperties(t, seed)
	}
}

func FuzzMerge(f *testing.F) {
	for _, s := range []uint64{0, 1, 42, 1 << 40, 0xdeadbeef} {
		f.Add(binary.LittleEndian.AppendUint64(nil, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var buf [8]byte
		copy(buf[:], data)
		checkMergeProperties(t, binary.LittleEndian.Uint64(buf[:]))
	})
}
