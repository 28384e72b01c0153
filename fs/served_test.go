package fs

import "testing"

// TestServedNeverRegresses: information read before a change the node
// already knows of (an older stamp) never replaces it.
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
		if changed := n.rev != prevRev; changed != (n.staleGen != prevGen) {
			t.Errorf("step %d: revision changed %v, kernel cache marked stale %v", i, changed, n.staleGen != prevGen)
		}
	}
}
