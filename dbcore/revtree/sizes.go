package revtree

import "github.com/couchfs/couchfs/engines"

// Sizes returns a document's contribution to its database's sizes, as
// CouchDB counts them: only leaf bodies, deleted or not (what compaction
// keeps). external is the sum of the leaves' Value.Size, their JSON
// lengths. A RevValue carries no engine-specific stored size, so active is
// computed from the same values and equals external; an engine that
// compresses may report its own active size instead.
func Sizes(t engines.RevTree) (active, external uint64) {
	if l, ok := LinearLeaf(t); ok {
		if l.Value != nil {
			external = l.Value.Size
		}
		return external, external
	}
	for _, l := range collect(t, false) {
		if l.Value != nil {
			external += l.Value.Size
		}
	}
	return external, external
}
