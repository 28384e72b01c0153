package memengine

import (
	"fmt"

	"github.com/couchfs/couchfs/engines"
)

// compaction is a running compaction of an in-memory database. There is no
// file to copy, so the copy phase is over as soon as it starts; Finish does
// the work a file engine's copy does (drop interior bodies, trim purge
// infos) on the live state, which by construction includes every write made
// during the compaction.
type compaction struct {
	db   *DB
	done chan struct{}
}

// StartCompaction begins a compaction. It fails with ErrCompactionRunning if
// one is running. Updater only.
func (db *DB) StartCompaction() (engines.Compaction, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	if db.compaction != nil {
		return nil, fmt.Errorf("memengine: %s: %w", db.path, engines.ErrCompactionRunning)
	}
	c := &compaction{db: db, done: make(chan struct{})}
	close(c.done)
	db.compaction = c
	return c, nil
}

// Done is closed from the start: there is nothing to copy. Any goroutine.
func (c *compaction) Done() <-chan struct{} { return c.done }

// Err is always nil: an in-memory copy cannot fail. Any goroutine.
func (c *compaction) Err() error { return nil }

// Progress is 1: the copy phase is complete. Any goroutine.
func (c *compaction) Progress() float64 { return 1 }

// Finish compacts the working state and makes it the committed one, so the
// compaction is durable at once. Updater only.
func (c *compaction) Finish() error {
	db := c.db
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	if db.compaction != c {
		return fmt.Errorf("memengine: %s: compaction already finished or cancelled: %w", db.path, engines.ErrInvalidWrite)
	}
	db.compaction = nil
	// Everything written so far goes into the compacted database, as a
	// file engine's catch-up copy would take it; the result is durable.
	db.working.compact()
	db.pending = nil
	db.store.mu.Lock()
	defer db.store.mu.Unlock()
	db.store.committed = db.working.clone()
	return nil
}

// Cancel abandons the compaction; nothing changes. Updater only.
func (c *compaction) Cancel() error {
	db := c.db
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.compaction == c {
		db.compaction = nil
	}
	return nil
}

// compact drops the values of interior revisions and every body no leaf
// points to, and trims purge infos to the newest PurgeInfosLimit.
func (s *state) compact() {
	live := map[uint64]bool{}
	for id, di := range s.docs {
		if hasInteriorValue(di) {
			c := cloneDocInfo(di)
			dropInteriorValues(c)
			s.docs[id] = c
			di = c
		}
		forEachNode(di, func(n *engines.RevNode) {
			if n.Value != nil {
				live[n.Value.Ptr] = true
			}
		})
	}
	for ptr, b := range s.bodies {
		if !live[ptr] {
			delete(s.bodies, ptr)
			s.stored -= uint64(len(b))
		}
	}
	if s.purgeSeq > s.purgeInfosLimit {
		cut := s.purgeSeq - s.purgeInfosLimit
		for seq := range s.purges {
			if seq <= cut {
				delete(s.purges, seq)
			}
		}
	}
}

func hasInteriorValue(di *engines.DocInfo) bool {
	found := false
	forEachNode(di, func(n *engines.RevNode) {
		if len(n.Children) > 0 && n.Value != nil {
			found = true
		}
	})
	return found
}

func dropInteriorValues(di *engines.DocInfo) {
	forEachNode(di, func(n *engines.RevNode) {
		if len(n.Children) > 0 {
			n.Value = nil
		}
	})
}

// forEachNode visits every node of di's rev tree without recursion.
func forEachNode(di *engines.DocInfo, fn func(*engines.RevNode)) {
	var stack []*engines.RevNode
	for _, b := range di.RevTree {
		stack = append(stack, b.Root)
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		fn(n)
		stack = append(stack, n.Children...)
	}
}
