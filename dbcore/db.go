package dbcore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/couchfs/couchfs/dbcore/revtree"
	"github.com/couchfs/couchfs/engines"
)

// DB is a handle on an open database. Handles are cheap; many may be open on
// one database, each used by any number of goroutines. Close releases it.
type DB struct {
	st     *dbState
	closed atomic.Bool
}

// Close releases the handle; the server may then close the database when it
// needs room. Closing twice is harmless.
func (db *DB) Close() {
	if db.closed.CompareAndSwap(false, true) {
		db.st.srv.release(db.st)
	}
}

// Name returns the database name.
func (db *DB) Name() string { return db.st.name }

// UpdateSeq returns the current update sequence (0 if the database is gone).
func (db *DB) UpdateSeq() uint64 {
	edb, err := db.st.enter()
	if err != nil {
		return 0
	}
	defer db.st.leave()
	return edb.UpdateSeq()
}

// Info returns the database's counts, sequences and sizes.
func (db *DB) Info() (Info, error) {
	edb, err := db.st.enter()
	if err != nil {
		return Info{}, err
	}
	defer db.st.leave()
	si := edb.SizeInfo()
	return Info{
		DBName:         db.st.name,
		Engine:         db.st.engine.Name(),
		DocCount:       edb.DocCount(),
		DocDelCount:    edb.DelDocCount(),
		UpdateSeq:      edb.UpdateSeq(),
		PurgeSeq:       edb.PurgeSeq(),
		CompactRunning: db.st.compacting.Load(),
		Sizes:          Sizes{File: si.File, External: si.External, Active: si.Active},
		RevsLimit:      edb.RevsLimit(),
		UUID:           edb.UUID(),
	}, nil
}

// CommitStats counts, since the database was opened, the commits of
// document updates and the update requests they answered: how many
// writers share each fdatasync (group commit).
type CommitStats struct {
	Commits  uint64
	Requests uint64
}

// CommitStats returns the database's commit counts. Any goroutine.
func (db *DB) CommitStats() CommitStats {
	return CommitStats{Commits: db.st.commits.Load(), Requests: db.st.committedReqs.Load()}
}

// Get returns the winning revision of a document, with its conflicts. It
// fails with ErrNotFound if the document does not exist or its winner is
// deleted. "_local/…" ids read local documents.
func (db *DB) Get(id string) (*Doc, error) {
	return readAgain(func() (*Doc, error) { return db.get(id) })
}

// readAgainTries bounds how often a read that met a rolled-back write is
// read again; each rollback is a failed commit, so more than one in a row
// under one read means the storage is failing over and over.
const readAgainTries = 3

// readAgain runs a read again when the engine says it met writes a failed
// commit discarded (engines.ErrRolledBack): a doc info and then a body
// (the body pointer came from that discarded state, and reading the doc
// info again reads the committed one), or a fold that stops at its first
// row.
func readAgain[T any](read func() (T, error)) (T, error) {
	for i := 1; ; i++ {
		d, err := read()
		if i == readAgainTries || !errors.Is(err, engines.ErrRolledBack) {
			return d, err
		}
	}
}

func (db *DB) get(id string) (*Doc, error) {
	edb, err := db.st.enter()
	if err != nil {
		return nil, err
	}
	defer db.st.leave()
	if isLocal(id) {
		lds, err := edb.OpenLocalDocs([]string{id})
		if err != nil {
			return nil, storageErr(db.st.name, "read", err)
		}
		if lds[0] == nil || lds[0].Deleted {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return &Doc{ID: id, Rev: localRev(lds[0].Rev), Body: lds[0].Body}, nil
	}
	di, err := db.openDoc(edb, id)
	if err != nil {
		return nil, err
	}
	if di.Deleted {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return db.winnerDoc(edb, di)
}

// winnerDoc reads the winning revision's body of a doc info.
func (db *DB) winnerDoc(edb engines.DB, di *engines.DocInfo) (*Doc, error) {
	w, ok := revtree.WinningLeaf(di.RevTree)
	if !ok || w.Value == nil {
		return nil, fmt.Errorf("%w: %s: winning revision has no body", engines.ErrCorrupt, di.ID)
	}
	body, err := edb.ReadDocBody(w.Value.Ptr)
	if err != nil {
		return nil, storageErr(db.st.name, "read "+di.ID, err)
	}
	d := &Doc{ID: di.ID, Rev: revtree.FormatRev(w.Rev), Deleted: w.Value.Deleted, Body: body}
	for _, c := range revtree.Conflicts(di.RevTree) {
		d.Conflicts = append(d.Conflicts, revtree.FormatRev(c))
	}
	return d, nil
}

// GetRev returns one revision of a document, deleted or not, as long as its
// body is still stored (leaves always are; older revisions until
// compaction).
func (db *DB) GetRev(id, rev string) (*Doc, error) {
	return readAgain(func() (*Doc, error) { return db.getRev(id, rev) })
}

func (db *DB) getRev(id, rev string) (*Doc, error) {
	if isLocal(id) {
		d, err := db.get(id) // GetRev already reads again
		if err != nil {
			return nil, err
		}
		if d.Rev != rev {
			return nil, fmt.Errorf("%w: %s revision %s", ErrNotFound, id, rev)
		}
		return d, nil
	}
	r, err := revtree.ParseRev(rev)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDoc, err)
	}
	edb, err := db.st.enter()
	if err != nil {
		return nil, err
	}
	defer db.st.leave()
	di, err := db.openDoc(edb, id)
	if err != nil {
		return nil, err
	}
	node, _, ok := revtree.Find(di.RevTree, r)
	if !ok || node.Value == nil {
		return nil, fmt.Errorf("%w: %s revision %s", ErrNotFound, id, rev)
	}
	body, err := edb.ReadDocBody(node.Value.Ptr)
	if err != nil {
		return nil, storageErr(db.st.name, "read "+id, err)
	}
	return &Doc{ID: id, Rev: rev, Deleted: node.Value.Deleted, Body: body}, nil
}

// DocInfo returns a document's stored doc info, deleted or not; the caller
// must not modify it.
func (db *DB) DocInfo(id string) (*engines.DocInfo, error) {
	edb, err := db.st.enter()
	if err != nil {
		return nil, err
	}
	defer db.st.leave()
	return db.openDoc(edb, id)
}

// openDoc reads one document's doc info, deleted or not, failing with
// ErrNotFound when the engine has none.
func (db *DB) openDoc(edb engines.DB, id string) (*engines.DocInfo, error) {
	infos, err := edb.OpenDocs([]string{id})
	if err != nil {
		return nil, storageErr(db.st.name, "read", err)
	}
	if infos[0] == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return infos[0], nil
}

// Changes calls fn for each document changed after since, in update
// sequence order, at most limit times (limit <= 0: no limit). An error from
// fn stops the feed and is returned.
func (db *DB) Changes(since uint64, limit int, fn func(Change) error) error {
	edb, err := db.st.enter()
	if err != nil {
		return err
	}
	defer db.st.leave()
	n := 0
	var v visitor
	err = edb.FoldChanges(since, func(di *engines.DocInfo) error {
		if err := v.call(fn(changeOf(di))); err != nil {
			return err
		}
		n++
		if limit > 0 && n >= limit {
			return engines.ErrStopFold
		}
		return nil
	})
	return v.result(db.st.name, "changes", err)
}

func changeOf(di *engines.DocInfo) Change {
	c := Change{Seq: di.UpdateSeq, ID: di.ID, Deleted: di.Deleted}
	if w, ok := revtree.WinningLeaf(di.RevTree); ok {
		c.Rev = revtree.FormatRev(w.Rev)
	}
	return c
}

// LastChange returns the changes row of one document (deleted or not).
func (db *DB) LastChange(id string) (Change, error) {
	di, err := db.DocInfo(id)
	if err != nil {
		return Change{}, err
	}
	return changeOf(di), nil
}

// WaitForChange returns the update sequence once it is greater than since,
// waiting for a commit if needed, or fails with ctx's error.
func (db *DB) WaitForChange(ctx context.Context, since uint64) (uint64, error) {
	for {
		ch := db.st.changedCh()
		edb, err := db.st.enter()
		if err != nil {
			return 0, err
		}
		seq := edb.UpdateSeq()
		db.st.leave()
		if seq > since {
			return seq, nil
		}
		select {
		case <-ch:
		case <-db.st.done:
			return 0, fmt.Errorf("database %s: %w", db.st.name, ErrDBNotFound)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// AllDocs calls fn for every document whose winner is not deleted, in id
// order within opts (design documents included, local documents not). An
// error from fn stops the fold and is returned.
func (db *DB) AllDocs(opts engines.FoldOptions, fn func(DocRow) error) error {
	edb, err := db.st.enter()
	if err != nil {
		return err
	}
	defer db.st.leave()
	var v visitor
	err = edb.FoldDocs(opts, func(di *engines.DocInfo) error {
		if di.Deleted {
			return nil
		}
		w, _ := revtree.WinningLeaf(di.RevTree)
		row := DocRow{ID: di.ID, Rev: revtree.FormatRev(w.Rev), Seq: di.UpdateSeq}
		if w.Value != nil {
			row.Size = int(w.Value.Size)
		}
		return v.call(fn(row))
	})
	return v.result(db.st.name, "list", err)
}

// LocalDocs calls fn for every local document in id order within opts.
func (db *DB) LocalDocs(opts engines.FoldOptions, fn func(DocRow) error) error {
	edb, err := db.st.enter()
	if err != nil {
		return err
	}
	defer db.st.leave()
	var v visitor
	err = edb.FoldLocalDocs(opts, func(ld *engines.LocalDoc) error {
		if ld.Deleted {
			return nil
		}
		d := Doc{ID: ld.ID, Rev: localRev(ld.Rev), Body: ld.Body}
		return v.call(fn(DocRow{ID: ld.ID, Rev: d.Rev, Size: d.Size()}))
	})
	return v.result(db.st.name, "list", err)
}

// visitor carries a fold callback's error out of an engine fold: the
// caller's error stops the fold and is returned as it is, while an error of
// the engine itself is wrapped as a storage error.
type visitor struct{ err error }

// call stops the fold on err and remembers it.
func (v *visitor) call(err error) error {
	if err != nil {
		v.err = err
		return engines.ErrStopFold
	}
	return nil
}

// result is the fold's outcome given the engine's error.
func (v *visitor) result(db, op string, err error) error {
	if v.err != nil {
		return v.err
	}
	if err != nil {
		return storageErr(db, op, err)
	}
	return nil
}

func localRev(n uint64) string { return "0-" + strconv.FormatUint(n, 10) }

// isNotFound reports whether err means a missing document.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
