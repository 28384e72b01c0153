package revtree

import "github.com/couchfs/couchfs/engines"

// arena hands out RevNodes and child slices from a few large allocations, so
// copying a long chain of ancestors (a 1,000-revision document) costs two
// allocations instead of two per node.
type arena struct {
	nodes []engines.RevNode
	ptrs  []*engines.RevNode
}

// reserve makes room for n nodes and k child pointers in one allocation each.
func (a *arena) reserve(n, k int) {
	if cap(a.nodes)-len(a.nodes) < n {
		a.nodes = make([]engines.RevNode, 0, max(n, 8))
	}
	if cap(a.ptrs)-len(a.ptrs) < k {
		a.ptrs = make([]*engines.RevNode, 0, max(k, 8))
	}
}

// node returns a copy of n owned by the result tree.
func (a *arena) node(n engines.RevNode) *engines.RevNode {
	if len(a.nodes) == cap(a.nodes) {
		a.nodes = make([]engines.RevNode, 0, 16)
	}
	a.nodes = append(a.nodes, n)
	return &a.nodes[len(a.nodes)-1]
}

// children returns a slice of length n whose capacity is exactly n, so an
// append by a later user can never write into a neighbour's children.
func (a *arena) children(n int) []*engines.RevNode {
	if n == 0 {
		return nil
	}
	if cap(a.ptrs)-len(a.ptrs) < n {
		a.ptrs = make([]*engines.RevNode, 0, max(n, 32))
	}
	l := len(a.ptrs)
	a.ptrs = a.ptrs[:l+n]
	return a.ptrs[l : l+n : l+n]
}
