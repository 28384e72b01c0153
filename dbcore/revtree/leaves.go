package revtree

import (
	"cmp"
	"slices"

	"github.com/couchfs/couchfs/engines"
)

// Leaf is a leaf revision of a tree: its rev, its value (nil only in a
// malformed tree) and, from Leaves and Winner, its path: the leaf's rev first,
// back to its branch's root.
type Leaf struct {
	Rev   engines.Rev
	Value *engines.RevValue
	Path  []engines.Rev
}

// Deleted reports whether the leaf is a tombstone. A leaf without a value
// counts as live, as CouchDB treats a missing body.
func (l Leaf) Deleted() bool { return l.Value != nil && l.Value.Deleted }

// Leaves returns every leaf of t with its path, in CouchDB's winner order
// (couch_doc:to_doc_info_path): live leaves before deleted ones, then
// higher Pos first, then higher ID first (IDs compared as byte strings,
// which for 32-hex ids is CouchDB's raw-bytes order).
func Leaves(t engines.RevTree) []Leaf {
	return collect(t, true)
}

// LeafRevs is Leaves without the paths: one walk and one allocation, what
// an update needs to compute the winner, conflicts and sizes.
func LeafRevs(t engines.RevTree) []Leaf {
	return collect(t, false)
}

// Winner returns the winning leaf with its path; ok is false for an empty
// tree.
func Winner(t engines.RevTree) (Leaf, bool) {
	w, ok := WinningLeaf(t)
	if ok {
		_, w.Path, _ = Find(t, w.Rev)
	}
	return w, ok
}

// WinningLeaf is Winner without the path (Leaf.Path is nil): what a save,
// a read or a listing needs. It allocates nothing for the usual forest, one
// linear branch.
func WinningLeaf(t engines.RevTree) (Leaf, bool) {
	if l, ok := LinearLeaf(t); ok {
		return l, true
	}
	ls := collect(t, false)
	if len(ls) == 0 {
		return Leaf{}, false
	}
	return ls[0], true
}

// LinearLeaf returns the only leaf of t (without its path) when t is one
// branch that never forks, the shape of most documents' histories; ok is
// false otherwise. It walks the branch once and allocates nothing.
func LinearLeaf(t engines.RevTree) (Leaf, bool) {
	if len(t) != 1 {
		return Leaf{}, false
	}
	return branchLeaf(t[0])
}

// branchLeaf returns the only leaf of b when b does not fork.
func branchLeaf(b engines.RevBranch) (Leaf, bool) {
	n, pos := b.Root, b.Start
	for len(n.Children) == 1 {
		n, pos = n.Children[0], pos+1
	}
	if len(n.Children) != 0 {
		return Leaf{}, false
	}
	return Leaf{Rev: engines.Rev{Pos: pos, ID: n.ID}, Value: n.Value}, true
}

// Conflicts returns the live leaves other than the winner, in winner order:
// the document's _conflicts.
func Conflicts(t engines.RevTree) []engines.Rev {
	if _, linear := LinearLeaf(t); linear {
		return nil
	}
	var out []engines.Rev
	for i, l := range collect(t, false) {
		if i > 0 && !l.Deleted() {
			out = append(out, l.Rev)
		}
	}
	return out
}

// DeletedConflicts returns the deleted leaves other than the winner, in
// winner order: the document's _deleted_conflicts.
func DeletedConflicts(t engines.RevTree) []engines.Rev {
	var out []engines.Rev
	for i, l := range collect(t, false) {
		if i > 0 && l.Deleted() {
			out = append(out, l.Rev)
		}
	}
	return out
}

// CompareLeaves orders a before b (negative) when a wins over b.
func CompareLeaves(a, b Leaf) int {
	if ad, bd := a.Deleted(), b.Deleted(); ad != bd {
		if bd {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.Rev.Pos, a.Rev.Pos); c != 0 {
		return c
	}
	return cmp.Compare(b.Rev.ID, a.Rev.ID)
}

func collect(t engines.RevTree, paths bool) []Leaf {
	var out []Leaf
	var stack []engines.Rev
	var walk func(n *engines.RevNode, pos uint64)
	walk = func(n *engines.RevNode, pos uint64) {
		if paths {
			stack = append(stack, engines.Rev{Pos: pos, ID: n.ID})
		}
		if len(n.Children) == 0 {
			l := Leaf{Rev: engines.Rev{Pos: pos, ID: n.ID}, Value: n.Value}
			if paths {
				l.Path = make([]engines.Rev, len(stack))
				for i, r := range stack {
					l.Path[len(stack)-1-i] = r
				}
			}
			out = append(out, l)
		}
		for _, c := range n.Children {
			walk(c, pos+1)
		}
		if paths {
			stack = stack[:len(stack)-1]
		}
	}
	for _, br := range t {
		if len(t) == 1 && !paths {
			// The usual forest: skip the recursion while the branch is linear.
			if l, ok := branchLeaf(br); ok {
				return []Leaf{l}
			}
		}
		walk(br.Root, br.Start)
	}
	slices.SortFunc(out, CompareLeaves)
	return out
}
