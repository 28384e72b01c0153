package fs

import "testing"

// TestServedNeverRegresses: information read before a change the node
// already knows of (an older stamp) never replaces it. A new revision marks
// the kernel's cached attributes and pages stale once the kernel has been
// told the node's attributes (the first revision of a new node is told in
// the same reply, so nothing is stale).
func TestServedNeverRegresses(t *testing.T) {
	steps := []struct {
		rev      string
		size     int
		stamp    uint64
		accepted bool
		wantRev  string
		wantSize int64
	}{
		{"1-a", 60, 1, true, "1-a", 60},
		{"2-b", 62, 5, true, "2-b", 62},  // a save, stamped after it committed
		{"1-a", 60, 3, false, "2-b", 62}, // a listing read before that save
		{"2-b", 62, 5, true, "2-b", 62},  // a read at the same stamp is as new
		{"3-c", 64, 7, true, "3-c", 64},
	}
	n := &fileNode{kind: kindDoc}
	for i, s := range steps {
		prevRev, prevGen := n.rev, n.staleGen
		if got := n.served(s.rev, s.size, s.stamp); got != s.accepted {
			t.Errorf("step %d: served(%s, %d) = %v, want %v", i, s.rev, s.stamp, got, s.accepted)
		}
		if n.rev != s.wantRev || n.size != s.wantSize {
			t.Errorf("step %d: node at %s/%d, want %s/%d", i, n.rev, n.size, s.wantRev, s.wantSize)
		}
		told := i > 0 // the reply of step 0 told the kernel
		if changed := n.rev != prevRev; (changed && told) != (n.staleGen != prevGen) {
			t.Errorf("step %d: revision changed %v after the kernel was told %v, kernel cache marked stale %v", i, changed, told, n.staleGen != prevGen)
		}
		n.attrReplies.Add(1) // the reply that tells the kernel (attrLocked)
	}
}
