package revtree

import "github.com/couchfs/couchfs/engines"

// Stem drops old history: couch_key_tree:stem as CouchDB runs it after
// every update (revs_limit) and at compaction. A revision survives when some
// leaf below it (or itself) is fewer than limit steps away, so the newest
// limit revisions of every leaf's path always survive. A path keeps more
// than limit revisions only where it passes a fork that is near another,
// shorter branch's leaf: CouchDB cuts at the same places. Revisions whose
// parent is cut become roots of their own branches at their own positions,
// so one tree can become several. Values are kept.
//
// It returns t itself when nothing is cut, and limit 0 means no limit
// (CouchDB's revs_limit is always at least 1). Kept subtrees are shared
// with t: stemming a long linear history after an update allocates only the
// new forest slice.
func Stem(t engines.RevTree, limit uint64) engines.RevTree {
	if limit == 0 || len(t) == 0 {
		return t
	}
	s := stemmer{limit: limit}
	changed := false
	for _, br := range t {
		_, kept := s.node(br.Root, br.Start)
		if kept != br.Root {
			changed = true
		}
		if kept != nil {
			s.out = append(s.out, engines.RevBranch{Start: br.Start, Root: kept})
		}
	}
	if !changed && len(s.out) == len(t) {
		return t
	}
	sortBranches(s.out)
	return dedupe(s.out)
}

type stemmer struct {
	limit uint64
	out   engines.RevTree // surviving branches, in any order
}

// node returns the distance from n to its nearest leaf and n's surviving
// version: n itself when nothing below it changed, a copy when children
// were cut, nil when n itself is cut (its surviving descendants then went
// to s.out as roots).
func (s *stemmer) node(n *engines.RevNode, pos uint64) (uint64, *engines.RevNode) {
	switch len(n.Children) {
	case 0:
		return 0, n // a leaf is always within any limit >= 1
	case 1:
		// The common linear case, without allocating.
		d, kc := s.node(n.Children[0], pos+1)
		d++
		if d >= s.limit {
			if kc != nil {
				s.out = append(s.out, engines.RevBranch{Start: pos + 1, Root: kc})
			}
			return d, nil
		}
		if kc == n.Children[0] {
			return d, n
		}
		// A surviving node's only child survives too (it is nearer a leaf).
		return d, &engines.RevNode{ID: n.ID, Value: n.Value, Children: []*engines.RevNode{kc}}
	}
	dist := ^uint64(0)
	results := make([]*engines.RevNode, len(n.Children))
	same := true
	for i, c := range n.Children {
		d, kc := s.node(c, pos+1)
		dist = min(dist, d+1)
		results[i] = kc
		same = same && kc == c
	}
	if dist >= s.limit {
		// n is cut: its surviving children become roots.
		for _, kc := range results {
			if kc != nil {
				s.out = append(s.out, engines.RevBranch{Start: pos + 1, Root: kc})
			}
		}
		return dist, nil
	}
	if same {
		return dist, n
	}
	// Children that were cut left their surviving descendants in s.out.
	kept := results[:0]
	for _, kc := range results {
		if kc != nil {
			kept = append(kept, kc)
		}
	}
	return dist, &engines.RevNode{ID: n.ID, Value: n.Value, Children: kept}
}

// dedupe fuses branches with the same root revision, which only a forest
// that already listed a revision twice can produce. t is sorted.
func dedupe(t engines.RevTree) engines.RevTree {
	for i := 1; i < len(t); i++ {
		if t[i].Start == t[i-1].Start && t[i].Root.ID == t[i-1].Root.ID {
			return refuse(t)
		}
	}
	return t
}

// refuse rebuilds a forest by merging all its leaf paths (couch_key_tree's
// repair_tree).
func refuse(t engines.RevTree) engines.RevTree {
	var acc engines.RevTree
	for _, br := range t {
		for _, lp := range leafPaths(br) {
			acc, _ = Merge(acc, lp)
		}
	}
	return acc
}
