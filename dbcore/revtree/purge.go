package revtree

import "github.com/couchfs/couchfs/engines"

// RemoveLeaves removes the given leaves from t, couch_key_tree:remove_leafs
// (purge): each listed leaf goes, and with it every ancestor no surviving
// leaf still descends from. Revs that are not leaves of t (interior or
// unknown) are ignored. It returns the new tree (t itself when nothing was
// removed, nil when no leaf is left) and the revs actually removed, in their
// order in revs, each once.
func RemoveLeaves(t engines.RevTree, revs []engines.Rev) (engines.RevTree, []engines.Rev) {
	var removed []engines.Rev
	want := make(map[engines.Rev]bool, len(revs))
	for _, r := range revs {
		if _, dup := want[r]; dup {
			continue
		}
		if IsLeaf(t, r) {
			want[r] = true
			removed = append(removed, r)
		} else {
			want[r] = false
		}
	}
	if len(removed) == 0 {
		return t, nil
	}
	var out engines.RevTree
	for _, br := range t {
		if n := prune(br.Root, br.Start, want); n != nil {
			out = append(out, engines.RevBranch{Start: br.Start, Root: n})
		}
	}
	return out, removed
}

// prune returns n without the wanted leaves: n itself when nothing below it
// goes, nil when no leaf below it survives.
func prune(n *engines.RevNode, pos uint64, want map[engines.Rev]bool) *engines.RevNode {
	if len(n.Children) == 0 {
		if want[engines.Rev{Pos: pos, ID: n.ID}] {
			return nil
		}
		return n
	}
	var kids []*engines.RevNode
	changed := false
	for i, c := range n.Children {
		nc := prune(c, pos+1, want)
		if nc != c && !changed {
			changed = true
			kids = append(kids, n.Children[:i]...)
		}
		if changed && nc != nil {
			kids = append(kids, nc)
		}
	}
	if !changed {
		return n
	}
	if len(kids) == 0 {
		return nil
	}
	return &engines.RevNode{ID: n.ID, Value: n.Value, Children: kids}
}
