package enginetest

import (
	"time"

	"github.com/couchfs/couchfs/engines"
)

// compactionTimeout bounds how long the suite waits for a compaction's copy.
const compactionTimeout = 30 * time.Second

// startAndWait starts a compaction and waits until its copy has caught up.
func startAndWait(e *env) engines.Compaction {
	e.t.Helper()
	c, err := e.db.(engines.Compacter).StartCompaction()
	if err != nil {
		e.t.Fatalf("StartCompaction: %v", err)
	}
	wait(e, c)
	return c
}

func wait(e *env, c engines.Compaction) {
	e.t.Helper()
	select {
	case <-c.Done():
	case <-time.After(compactionTimeout):
		e.t.Fatalf("compaction not done after %v (progress %.2f)", compactionTimeout, c.Progress())
	}
	if err := c.Err(); err != nil {
		e.t.Fatalf("compaction failed: %v", err)
	}
	if p := c.Progress(); p < 0 || p > 1 {
		e.t.Fatalf("Progress = %v, want within [0, 1]", p)
	}
}

// compact runs a whole compaction and checks that nothing observable
// changed but what compaction may drop.
func compact(e *env) {
	e.t.Helper()
	before := capture(e.t, e.db, compactedView)
	c := startAndWait(e)
	if err := c.Finish(); err != nil {
		e.t.Fatalf("Finish: %v", err)
	}
	e.check()
	after := capture(e.t, e.db, compactedView)
	diffSnapshots(e.t, "after compaction", compacted(e, before), after)
	requireNoInteriorValues(e)
}

// compacted returns what s should look like after a compaction: purge infos
// at or below PurgeSeq-PurgeInfosLimit trimmed. (Interior values are already
// left out of a compactedView snapshot.)
func compacted(e *env, s snapshot) snapshot {
	e.t.Helper()
	purgeSeq, limit := e.db.PurgeSeq(), e.db.PurgeInfosLimit()
	if purgeSeq <= limit {
		return s
	}
	cut := purgeSeq - limit
	out := s
	out.purges, out.purgeSeqs = nil, nil
	for i, seq := range s.purgeSeqs {
		if seq > cut {
			out.purges = append(out.purges, s.purges[i])
			out.purgeSeqs = append(out.purgeSeqs, seq)
		}
	}
	return out
}

// requireNoInteriorValues fails if any document still has a value on a
// revision that is not a leaf: compaction drops the bodies of those.
func requireNoInteriorValues(e *env) {
	e.t.Helper()
	err := e.db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
		for _, p := range leafPaths(di.RevTree) {
			for _, n := range p[:len(p)-1] {
				if n.value != nil {
					e.t.Errorf("after compaction doc %q keeps a value on interior revision %d-%s", di.ID, n.pos, n.id)
					return engines.ErrStopFold
				}
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("FoldDocs: %v", err)
	}
}
