package dbcore

import (
	"context"
	"fmt"

	"github.com/couchfs/couchfs/engines"
)

// Compact starts compacting the database in the background: the engine
// copies the live state aside while writes continue, then swaps it in.
// It returns once the compaction has started; starting one while another
// runs is a no-op. WaitCompaction waits for the end.
func (db *DB) Compact() error {
	st := db.st
	return st.call(func(edb engines.DB) error {
		if st.compaction != nil {
			return nil
		}
		c, ok := edb.(engines.Compacter)
		if !ok {
			return fmt.Errorf("%w: the %s engine of %s cannot compact", ErrInvalidArgument, st.engine.Name(), st.name)
		}
		comp, err := c.StartCompaction()
		if err != nil {
			return storageErr(st.name, "compact", err)
		}
		st.compaction = comp
		st.compacting.Store(true)
		st.cmu.Lock()
		st.compactCh = make(chan struct{})
		st.cmu.Unlock()
		st.srv.log.Info("compaction started", "db", st.name, "file_size", edb.SizeInfo().File)
		return nil
	})
}

// WaitCompaction returns when no compaction of the database is running, or
// with ctx's error.
func (db *DB) WaitCompaction(ctx context.Context) error {
	st := db.st
	st.cmu.Lock()
	ch := st.compactCh
	st.cmu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-st.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finishCompaction swaps in a compaction whose copy has caught up, or logs
// why it failed. Updater only.
func (st *dbState) finishCompaction() {
	c := st.compaction
	defer st.endCompaction()
	if err := c.Err(); err != nil {
		st.srv.log.Error("compaction failed", "db", st.name, "err", err)
		return
	}
	if err := c.Finish(); err != nil {
		st.srv.log.Error("compaction failed", "db", st.name, "err", err)
		return
	}
	edb, err := st.writer()
	if err == nil {
		st.srv.log.Info("compaction finished", "db", st.name, "file_size", edb.SizeInfo().File)
	}
	st.committed()
}

// cancelCompaction stops a running compaction, removing its files. Updater
// only.
func (st *dbState) cancelCompaction() {
	if st.compaction == nil {
		return
	}
	if err := st.compaction.Cancel(); err != nil {
		st.srv.log.Warn("cancelling compaction", "db", st.name, "err", err)
	}
	st.endCompaction()
}

func (st *dbState) endCompaction() {
	st.compaction = nil
	st.compacting.Store(false)
	st.cmu.Lock()
	if st.compactCh != nil {
		close(st.compactCh)
		st.compactCh = nil
	}
	st.cmu.Unlock()
}
