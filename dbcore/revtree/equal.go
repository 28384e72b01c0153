package revtree

import "github.com/couchfs/couchfs/engines"

// Equal reports whether a and b hold the same revisions in the same shape
// with equal values (compared by content). Trees returned unchanged by
// Merge, Stem or RemoveLeaves are recognised without a walk.
func Equal(a, b engines.RevTree) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) > 0 && &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i].Start != b[i].Start || !equalNode(a[i].Root, b[i].Root) {
			return false
		}
	}
	return true
}

func equalNode(a, b *engines.RevNode) bool {
	for {
		if a == b {
			return true
		}
		if a == nil || b == nil || a.ID != b.ID || !equalValue(a.Value, b.Value) || len(a.Children) != len(b.Children) {
			return false
		}
		if len(a.Children) != 1 {
			break
		}
		a, b = a.Children[0], b.Children[0]
	}
	for i := range a.Children {
		if !equalNode(a.Children[i], b.Children[i]) {
			return false
		}
	}
	return true
}

func equalValue(a, b *engines.RevValue) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
