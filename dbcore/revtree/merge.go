package revtree

import (
	"cmp"
	"slices"

	"github.com/couchfs/couchfs/engines"
)

// MergeResult says what Merge added to a tree, couch_key_tree:merge's second
// return value.
type MergeResult int

const (
	// InternalNode means the path was already in the tree: no new leaf and
	// no new branch. The tree may still have changed: ancestors above a
	// stemmed root, or a value for a revision whose value was nil.
	InternalNode MergeResult = iota
	// NewLeaf means the path extended an existing leaf (or the forest was
	// empty). An interactive update must produce this, else it conflicts.
	NewLeaf
	// NewBranch means the path forked from an interior revision or started
	// a new root: a conflict now exists.
	NewBranch
)

// String returns the couch_key_tree name of r.
func (r MergeResult) String() string {
	switch r {
	case InternalNode:
		return "internal_node"
	case NewLeaf:
		return "new_leaf"
	case NewBranch:
		return "new_branch"
	}
	return "merge_result(?)"
}

// Merge inserts the path p into t with couch_key_tree:merge semantics and
// returns the new forest and what the insertion added.
//
// p is normally linear (each node has at most one child), as PathFromRevs
// builds it; a branching p is merged one root-to-leaf path at a time and the
// result is NewBranch if any path gave NewBranch, else NewLeaf if any gave
// NewLeaf, else InternalNode. p may start at any position: a path that
// starts above a tree's (stemmed) root grows the tree upwards, one that
// starts below descends into it. Where p and t share a revision, t's value
// is kept unless it is nil. A path that joins several trees of the forest
// (a replicated history bridging stemmed branches) fuses them, so the result
// never lists a revision twice and does not depend on the order in which
// paths were merged.
//
// The result shares unchanged nodes with t and may adopt p's nodes; when
// nothing changed it is t itself. An empty p (nil Root) returns t,
// InternalNode.
func Merge(t engines.RevTree, p engines.RevBranch) (engines.RevTree, MergeResult) {
	if p.Root == nil {
		return t, InternalNode
	}
	if !isLinear(p.Root) {
		res := InternalNode
		for _, lp := range leafPaths(p) {
			var r MergeResult
			t, r = Merge(t, lp)
			res = max(res, r)
		}
		return t, res
	}
	path := make([]*engines.RevNode, 0, 4)
	for n := p.Root; n != nil; {
		path = append(path, n)
		if len(n.Children) == 0 {
			break
		}
		n = n.Children[0]
	}
	return mergePath(t, p.Start, path, true)
}

// isLinear reports whether no node below n has more than one child.
func isLinear(n *engines.RevNode) bool {
	for ; n != nil; n = n.Children[0] {
		switch len(n.Children) {
		case 0:
			return true
		case 1:
		default:
			return false
		}
	}
	return true
}

// leafPaths returns every root-to-leaf path of b as a fresh linear branch
// carrying b's values.
func leafPaths(b engines.RevBranch) []engines.RevBranch {
	var out []engines.RevBranch
	var stack []*engines.RevNode
	var walk func(n *engines.RevNode)
	walk = func(n *engines.RevNode) {
		stack = append(stack, n)
		if len(n.Children) == 0 {
			out = append(out, chain(b.Start, stack))
		}
		for _, c := range n.Children {
			walk(c)
		}
		stack = stack[:len(stack)-1]
	}
	walk(b.Root)
	return out
}

// chain copies the ids and values of nodes (root first) into a new linear
// branch starting at start.
func chain(start uint64, nodes []*engines.RevNode) engines.RevBranch {
	var a arena
	a.reserve(len(nodes), len(nodes))
	var next *engines.RevNode
	for i := len(nodes) - 1; i >= 0; i-- {
		n := a.node(engines.RevNode{ID: nodes[i].ID, Value: nodes[i].Value})
		if next != nil {
			n.Children = a.children(1)
			n.Children[0] = next
		}
		next = n
	}
	return engines.RevBranch{Start: start, Root: next}
}

// mergePath merges the linear path (root first, starting at start) into t.
// fuse enables joining the trees the path bridges; the recursive calls that
// perform the fusing pass false, since the invariant guarantees no cascade.
func mergePath(t engines.RevTree, start uint64, path []*engines.RevNode, fuse bool) (engines.RevTree, MergeResult) {
	for i, br := range t {
		nb, res, ok := mergeBranch(br, start, path)
		if !ok {
			continue
		}
		if nb.Root == br.Root && nb.Start == br.Start {
			return t, res
		}
		out := make(engines.RevTree, len(t))
		copy(out, t)
		out[i] = nb
		if fuse && len(t) > 1 {
			out = fuseOverlaps(out, i, start, path)
		}
		sortBranches(out)
		return out, res
	}
	res := NewBranch
	if len(t) == 0 {
		res = NewLeaf
	}
	out := make(engines.RevTree, len(t), len(t)+1)
	copy(out, t)
	out = append(out, engines.RevBranch{Start: start, Root: path[0]})
	sortBranches(out)
	return out, res
}

// mergeBranch tries to merge path into one branch: couch_key_tree:merge_at.
// ok is false when the path shares no revision with the branch.
func mergeBranch(br engines.RevBranch, start uint64, path []*engines.RevNode) (engines.RevBranch, MergeResult, bool) {
	if br.Start <= start {
		// The tree starts higher: find the path's first revision in it.
		anc := make([]*engines.RevNode, 0, chainCap(start-br.Start))
		anc, found := findChain(br.Root, br.Start, start, path[0].ID, anc)
		if !found {
			return br, InternalNode, false
		}
		target := anc[len(anc)-1]
		nt, res := extend(target, path)
		if nt == target {
			return br, res, true
		}
		return engines.RevBranch{Start: br.Start, Root: rebuild(anc, nt)}, res, true
	}
	// The path starts higher: drop its head down to the tree's root.
	off := br.Start - start
	if off >= uint64(len(path)) || path[off].ID != br.Root.ID {
		return br, InternalNode, false
	}
	root, res := extend(br.Root, path[off:])
	// The dropped head becomes the new top of the tree.
	var a arena
	a.reserve(int(off), int(off))
	for i := int(off) - 1; i >= 0; i-- {
		n := a.node(engines.RevNode{ID: path[i].ID, Value: path[i].Value})
		n.Children = a.children(1)
		n.Children[0] = root
		root = n
	}
	return engines.RevBranch{Start: start, Root: root}, res, true
}

// chainCap sizes the ancestor slice for a search depth positions deep; the
// tree bounds the real depth, and a position from a replicated document can
// be absurd, so the guess is capped.
func chainCap(depth uint64) int {
	return int(min(depth+1, 1024))
}

// findChain appends to anc the nodes from n down to the node with id at
// position target (n sits at pos), depth first as merge_at searches. A
// linear run of the history, which is most of a long one, is followed
// without recursion.
func findChain(n *engines.RevNode, pos, target uint64, id string, anc []*engines.RevNode) ([]*engines.RevNode, bool) {
	mark := len(anc)
	for pos < target && len(n.Children) == 1 {
		anc = append(anc, n)
		n, pos = n.Children[0], pos+1
	}
	anc = append(anc, n)
	if pos == target {
		if n.ID == id {
			return anc, true
		}
		return anc[:mark], false
	}
	for _, c := range n.Children {
		var ok bool
		if anc, ok = findChain(c, pos+1, target, id, anc); ok {
			return anc, true
		}
	}
	return anc[:mark], false
}

// rebuild copies the ancestors anc[:len-1] so that anc[len-1] is replaced by
// repl, and returns the new root.
func rebuild(anc []*engines.RevNode, repl *engines.RevNode) *engines.RevNode {
	if len(anc) == 1 {
		return repl
	}
	k := 0
	for _, n := range anc[:len(anc)-1] {
		k += len(n.Children)
	}
	var a arena
	a.reserve(len(anc)-1, k)
	for i := len(anc) - 2; i >= 0; i-- {
		old := anc[i]
		n := a.node(*old)
		n.Children = a.children(len(old.Children))
		copy(n.Children, old.Children)
		for j, c := range n.Children {
			if c == anc[i+1] {
				n.Children[j] = repl
				break
			}
		}
		repl = n
	}
	return repl
}

// extend merges path into n, whose id equals path[0]'s: merge_extend. It
// returns n itself when nothing changed.
func extend(n *engines.RevNode, path []*engines.RevNode) (*engines.RevNode, MergeResult) {
	val := n.Value
	if val == nil {
		val = path[0].Value
	}
	kids, res := n.Children, InternalNode
	if len(path) > 1 {
		kids, res = extendChildren(n.Children, path[1:])
	}
	if val == n.Value && sameSlice(kids, n.Children) {
		return n, res
	}
	return &engines.RevNode{ID: n.ID, Value: val, Children: kids}, res
}

// extendChildren merges path into the sibling list kids.
func extendChildren(kids []*engines.RevNode, path []*engines.RevNode) ([]*engines.RevNode, MergeResult) {
	if len(kids) == 0 {
		return []*engines.RevNode{path[0]}, NewLeaf
	}
	i, found := slices.BinarySearchFunc(kids, path[0].ID, func(c *engines.RevNode, id string) int {
		return cmp.Compare(c.ID, id)
	})
	if !found {
		out := make([]*engines.RevNode, 0, len(kids)+1)
		out = append(out, kids[:i]...)
		out = append(out, path[0])
		out = append(out, kids[i:]...)
		return out, NewBranch
	}
	nc, res := extend(kids[i], path)
	if nc == kids[i] {
		return kids, res
	}
	out := slices.Clone(kids)
	out[i] = nc
	return out, res
}

func sameSlice(a, b []*engines.RevNode) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// fuseOverlaps folds into t[i] every other tree the just-merged path shares
// a revision with. Since a revision determines its ancestors, the path
// shares a revision with tree j exactly when it contains j's root or j
// contains the path's first revision.
func fuseOverlaps(t engines.RevTree, i int, start uint64, path []*engines.RevNode) engines.RevTree {
	var joined []engines.RevBranch
	keep := t[:0:0]
	for j, br := range t {
		if j == i {
			continue
		}
		overlap := false
		if br.Start >= start && br.Start-start < uint64(len(path)) {
			overlap = path[br.Start-start].ID == br.Root.ID
		} else if br.Start < start {
			_, overlap = findChain(br.Root, br.Start, start, path[0].ID, nil)
		}
		if overlap {
			joined = append(joined, br)
		} else {
			keep = append(keep, br)
		}
	}
	if len(joined) == 0 {
		return t
	}
	acc := engines.RevTree{t[i]}
	for _, br := range joined {
		for _, lp := range leafPaths(br) {
			var nodes []*engines.RevNode
			for n := lp.Root; n != nil; {
				nodes = append(nodes, n)
				if len(n.Children) == 0 {
					break
				}
				n = n.Children[0]
			}
			acc, _ = mergePath(acc, lp.Start, nodes, false)
		}
	}
	return append(keep, acc...)
}

// sortBranches restores the (Start, Root.ID) order of a forest.
func sortBranches(t engines.RevTree) {
	slices.SortFunc(t, func(a, b engines.RevBranch) int {
		if c := cmp.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.Root.ID, b.Root.ID)
	})
}
