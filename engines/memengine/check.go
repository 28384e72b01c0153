package memengine

import (
	"fmt"

	"github.com/couchfs/couchfs/engines"
)

// Check verifies that the indexes and counters of the working state agree:
// the changes index has exactly one entry per document at its UpdateSeq, the
// counts and size sums match the documents, every leaf has a body, and the
// purge index is keyed by sequence. Any goroutine.
func (db *DB) Check() error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	return db.working.check()
}

func (s *state) check() error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("memengine: "+format+": %w", append(args, engines.ErrCorrupt)...)
	}
	if len(s.seqs) != len(s.docs) {
		return corrupt("%d changes entries for %d docs", len(s.seqs), len(s.docs))
	}
	var live, deleted, active, external uint64
	for id, di := range s.docs {
		if di.ID != id {
			return corrupt("doc %q stored under %q", di.ID, id)
		}
		if s.seqs[di.UpdateSeq] != id {
			return corrupt("doc %q: changes entry at %d is %q", id, di.UpdateSeq, s.seqs[di.UpdateSeq])
		}
		if di.UpdateSeq > s.updateSeq {
			return corrupt("doc %q: UpdateSeq %d above the database's %d", id, di.UpdateSeq, s.updateSeq)
		}
		if len(di.RevTree) == 0 {
			return corrupt("doc %q: empty rev tree", id)
		}
		var err error
		forEachNode(di, func(n *engines.RevNode) {
			if err != nil || len(n.Children) > 0 {
				return
			}
			if n.Value == nil {
				err = corrupt("doc %q: leaf %q has no value", id, n.ID)
			} else if _, ok := s.bodies[n.Value.Ptr]; !ok {
				err = corrupt("doc %q: leaf %q points to missing body %d", id, n.ID, n.Value.Ptr)
			}
		})
		if err != nil {
			return err
		}
		if di.Deleted {
			deleted++
		} else {
			live++
		}
		active += di.ActiveSize
		external += di.ExternalSize
	}
	if live != s.docCount || deleted != s.delCount {
		return corrupt("counts %d/%d, docs say %d/%d", s.docCount, s.delCount, live, deleted)
	}
	if active != s.active || external != s.external {
		return corrupt("sizes %d/%d, docs say %d/%d", s.active, s.external, active, external)
	}
	var stored uint64
	for ptr, b := range s.bodies {
		if ptr >= s.nextPtr {
			return corrupt("body %d at or above the next pointer %d", ptr, s.nextPtr)
		}
		stored += uint64(len(b))
	}
	for ptr, b := range s.atts {
		if ptr >= s.nextPtr {
			return corrupt("attachment %d at or above the next pointer %d", ptr, s.nextPtr)
		}
		stored += uint64(len(b))
	}
	if stored != s.stored {
		return corrupt("stored bytes %d, bodies and attachments hold %d", s.stored, stored)
	}
	for seq, pi := range s.purges {
		if pi.Seq != seq || seq > s.purgeSeq {
			return corrupt("purge info %d stored at %d (purge seq %d)", pi.Seq, seq, s.purgeSeq)
		}
	}
	for id, ld := range s.locals {
		if ld.ID != id || ld.Deleted {
			return corrupt("local doc %q stored under %q (deleted %v)", ld.ID, id, ld.Deleted)
		}
	}
	return nil
}
