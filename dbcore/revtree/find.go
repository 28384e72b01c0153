package revtree

import "github.com/couchfs/couchfs/engines"

// Find looks r up in t and returns its node and its path (r first, back to
// the root of its branch). ok is false when t does not hold r.
func Find(t engines.RevTree, r engines.Rev) (*engines.RevNode, []engines.Rev, bool) {
	for _, br := range t {
		if br.Start > r.Pos {
			continue
		}
		anc, ok := findChain(br.Root, br.Start, r.Pos, r.ID, make([]*engines.RevNode, 0, chainCap(r.Pos-br.Start)))
		if !ok {
			continue
		}
		path := make([]engines.Rev, len(anc))
		for i, n := range anc {
			path[len(anc)-1-i] = engines.Rev{Pos: br.Start + uint64(i), ID: n.ID}
		}
		return anc[len(anc)-1], path, true
	}
	return nil, nil, false
}

// FindNode is Find without the path: r's node in t, or nil when t does not
// hold r. It allocates nothing.
func FindNode(t engines.RevTree, r engines.Rev) *engines.RevNode {
	return findNode(t, r)
}

// findNode is Find without the path.
func findNode(t engines.RevTree, r engines.Rev) *engines.RevNode {
	for _, br := range t {
		if br.Start <= r.Pos {
			if n := lookup(br.Root, br.Start, r); n != nil {
				return n
			}
		}
	}
	return nil
}

func lookup(n *engines.RevNode, pos uint64, r engines.Rev) *engines.RevNode {
	for pos < r.Pos && len(n.Children) == 1 {
		n, pos = n.Children[0], pos+1
	}
	if pos == r.Pos {
		if n.ID == r.ID {
			return n
		}
		return nil
	}
	for _, c := range n.Children {
		if f := lookup(c, pos+1, r); f != nil {
			return f
		}
	}
	return nil
}

// Contains reports whether t holds r, as a leaf or not.
func Contains(t engines.RevTree, r engines.Rev) bool {
	return findNode(t, r) != nil
}

// IsLeaf reports whether r is a leaf of t: the only revisions an
// interactive update may extend and a purge may remove.
func IsLeaf(t engines.RevTree, r engines.Rev) bool {
	n := findNode(t, r)
	return n != nil && len(n.Children) == 0
}

// FindMissing returns the revs of revs that t does not hold, in their given
// order: _revs_diff (couch_key_tree:find_missing).
func FindMissing(t engines.RevTree, revs []engines.Rev) []engines.Rev {
	var out []engines.Rev
	for _, r := range revs {
		if findNode(t, r) == nil {
			out = append(out, r)
		}
	}
	return out
}
