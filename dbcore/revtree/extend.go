package revtree

import "github.com/couchfs/couchfs/engines"

// AppendLeaf is the usual edit of the usual history: when t is one branch
// without forks whose leaf is leaf, it returns t with a new revision id,
// carrying v, as the only child of that leaf: what Merge returns for the
// path from leaf to the new revision (NewLeaf), made in one copy of the
// branch instead of a search and a copy. ok is false, and t is returned,
// when t is not such a tree or leaf is not its leaf; Merge then applies.
// Like Merge it does not stem.
func AppendLeaf(t engines.RevTree, leaf engines.Rev, id string, v *engines.RevValue) (engines.RevTree, bool) {
	if len(t) != 1 || leaf.Pos < t[0].Start {
		return t, false
	}
	depth := leaf.Pos - t[0].Start + 1
	if depth > 1<<20 {
		return t, false // an absurd position from a replicated history
	}
	n := int(depth)
	nodes := make([]engines.RevNode, n+1)
	kids := make([]*engines.RevNode, n)
	src := t[0].Root
	for i := range n {
		last := i == n-1
		if last != (len(src.Children) == 0) || !last && len(src.Children) != 1 {
			return t, false // a fork, or a branch shorter or longer than leaf says
		}
		nodes[i] = engines.RevNode{ID: src.ID, Value: src.Value, Children: kids[i : i+1 : i+1]}
		kids[i] = &nodes[i+1]
		if !last {
			src = src.Children[0]
		}
	}
	if src.ID != leaf.ID {
		return t, false
	}
	nodes[n] = engines.RevNode{ID: id, Value: v}
	return engines.RevTree{{Start: t[0].Start, Root: &nodes[0]}}, true
}
