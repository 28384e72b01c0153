package couchfile

import (
	"errors"
	"slices"

	"github.com/couchfs/couchfs/engines"
)

// OpenDocs returns the doc infos for ids in input order, nil where a
// document does not exist. Any goroutine.
func (db *DB) OpenDocs(ids []string) ([]*engines.DocInfo, error) {
	return readAgain(db, func() ([]*engines.DocInfo, error) { return db.openDocs(ids) })
}

func (db *DB) openDocs(ids []string) ([]*engines.DocInfo, error) {
	s, err := db.acquire()
	if err != nil {
		return nil, err
	}
	defer s.st.release()
	keys, vals, found, err := s.lookupSorted(treeID, ids)
	if err != nil {
		return nil, db.errorf("%w", err)
	}
	out := make([]*engines.DocInfo, len(ids))
	for i, id := range ids {
		j, _ := slices.BinarySearch(keys, id)
		if !found[j] {
			continue
		}
		if out[i], err = decodeIDValue(id, vals[j]); err != nil {
			return nil, db.errorf("%w", err)
		}
	}
	return out, nil
}

// OpenLocalDocs returns the local docs for ids in input order, nil where
// missing. Any goroutine.
func (db *DB) OpenLocalDocs(ids []string) ([]*engines.LocalDoc, error) {
	return readAgain(db, func() ([]*engines.LocalDoc, error) { return db.openLocalDocs(ids) })
}

func (db *DB) openLocalDocs(ids []string) ([]*engines.LocalDoc, error) {
	s, err := db.acquire()
	if err != nil {
		return nil, err
	}
	defer s.st.release()
	keys, vals, found, err := s.lookupSorted(treeLocal, ids)
	if err != nil {
		return nil, db.errorf("%w", err)
	}
	out := make([]*engines.LocalDoc, len(ids))
	for i, id := range ids {
		j, _ := slices.BinarySearch(keys, id)
		if !found[j] {
			continue
		}
		if out[i], err = decodeLocal(id, vals[j]); err != nil {
			return nil, db.errorf("%w", err)
		}
	}
	return out, nil
}

func decodeLocal(key, v string) (*engines.LocalDoc, error) {
	ld, err := engines.DecodeLocalDoc([]byte(v))
	if err != nil {
		return nil, err
	}
	if ld.ID != key {
		return nil, corruptf("local doc %q stored under %q", ld.ID, key)
	}
	return ld, nil
}

// lookupSorted looks up the distinct keys of ids in one tree, returning the
// sorted keys with their values.
func (s *snapshot) lookupSorted(kind int, ids []string) ([]string, []string, []bool, error) {
	keys := slices.Clone(ids)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	vals, found, err := s.tree(kind).lookup(s.h.roots[kind], keys)
	return keys, vals, found, err
}

func (s *snapshot) tree(kind int) tree { return tree{s: s.st, kind: kind} }

// ReadDocBody returns the body stored at ptr; the caller owns it. A
// pointer from before a compaction swap is read from the replaced file for
// a grace period, then fails with ErrCorrupt: never is it taken for an
// offset in the new file. A pointer from writes a failed commit discarded
// fails with ErrRolledBack: the handle never reads past its own end, which
// the rollback cut back, so such a pointer never names bytes appended
// later. Any goroutine.
func (db *DB) ReadDocBody(ptr uint64) (body []byte, err error) {
	r0 := db.rollbacks.Load()
	defer func() { err = db.rolledBack(r0, err) }()
	s, err := db.acquire()
	if err != nil {
		return nil, err
	}
	defer s.st.release()
	st := s.st
	if gen := ptrGen(ptr); gen != st.gen {
		if old := db.retiredStore(gen); old != nil {
			defer old.release()
			st = old
		}
	}
	off, err := st.bodyOffset(ptr)
	if err != nil {
		return nil, db.errorf("body: %w", err)
	}
	b, err := st.readChunk(off, kindBody, 2*blockSize)
	if err != nil {
		// A handle that rolled back refuses writes: its end stays where the
		// rollback cut the file, so a pointer past it was read from the
		// discarded state, however long ago the read that found it began.
		// Checked after the failure, not before: the count changes before
		// the end moves back, and a read that began in between fails on
		// the cut without the deferred check seeing the count change.
		if st == s.st && db.rollbacks.Load() != 0 && int64(off) >= st.size.Load() {
			return nil, db.errorf("body at %d, past the end %d a failed commit cut the file back to: %w: %w", off, st.size.Load(), engines.ErrRolledBack, err)
		}
		return nil, db.errorf("body: %w", err)
	}
	return b, nil
}

// stopped turns the callback's ErrStopFold into a clean end of a fold.
func stopped(err error) error {
	if errors.Is(err, engines.ErrStopFold) {
		return nil
	}
	return err
}

// foldBounds turns fold options into key bounds: Start is the first key in
// fold order and End the last, so they swap ends when Reverse.
func foldBounds(o engines.FoldOptions) bounds {
	if o.Reverse {
		return bounds{hi: o.Start, hasHi: o.HasStart, lo: o.End, hasLo: o.HasEnd, loOpen: o.EndExclusive}
	}
	return bounds{lo: o.Start, hasLo: o.HasStart, hi: o.End, hasHi: o.HasEnd, hiOpen: o.EndExclusive}
}

// FoldDocs visits doc infos in ID order within opts. fn may keep its
// argument. Any goroutine.
func (db *DB) FoldDocs(opts engines.FoldOptions, fn func(*engines.DocInfo) error) error {
	r0 := db.rollbacks.Load()
	s, err := db.acquire()
	if err != nil {
		return err
	}
	defer s.st.release()
	var cbErr error
	err = s.tree(treeID).fold(s.h.roots[treeID], foldBounds(opts), opts.Reverse, func(k, v string) error {
		di, err := decodeIDValue(k, v)
		if err != nil {
			return err
		}
		cbErr = fn(di)
		return cbErr
	})
	return db.foldResult(r0, err, cbErr)
}

// foldResult returns the callback's error as is (nil for ErrStopFold) and
// wraps the engine's own, as ErrRolledBack too if a failed write was rolled
// back since the fold began (rollback count r0): the fold may have walked
// the discarded state. A fold ends at the first callback error, so a
// callback error is always the reason it ended.
func (db *DB) foldResult(r0 uint64, err, cbErr error) error {
	if cbErr != nil {
		return stopped(cbErr)
	}
	if err != nil {
		return db.rolledBack(r0, db.errorf("%w", err))
	}
	return nil
}

// FoldLocalDocs visits local docs in ID order within opts. fn may keep its
// argument. Any goroutine.
func (db *DB) FoldLocalDocs(opts engines.FoldOptions, fn func(*engines.LocalDoc) error) error {
	r0 := db.rollbacks.Load()
	s, err := db.acquire()
	if err != nil {
		return err
	}
	defer s.st.release()
	var cbErr error
	err = s.tree(treeLocal).fold(s.h.roots[treeLocal], foldBounds(opts), opts.Reverse, func(k, v string) error {
		ld, err := decodeLocal(k, v)
		if err != nil {
			return err
		}
		cbErr = fn(ld)
		return cbErr
	})
	return db.foldResult(r0, err, cbErr)
}

// changesBatch is how many changes entries FoldChanges resolves to doc
// infos with one batched lookup in the id tree.
const changesBatch = 256

// FoldChanges visits every document with UpdateSeq > since once, in
// ascending UpdateSeq order: the seq tree gives the IDs, the id tree of the
// same snapshot the doc infos. fn may keep its argument. Any goroutine.
func (db *DB) FoldChanges(since uint64, fn func(*engines.DocInfo) error) error {
	r0 := db.rollbacks.Load()
	s, err := db.acquire()
	if err != nil {
		return err
	}
	defer s.st.release()
	var seqs []uint64
	var ids []string
	var cbErr error
	flush := func() error {
		dis, err := s.resolveChanges(seqs, ids)
		if err != nil {
			return err
		}
		seqs, ids = seqs[:0], ids[:0]
		for _, di := range dis {
			if cbErr = fn(di); cbErr != nil {
				return cbErr
			}
		}
		return nil
	}
	b := bounds{lo: seqKey(since), hasLo: true, loOpen: true}
	err = s.tree(treeSeq).fold(s.h.roots[treeSeq], b, false, func(k, v string) error {
		seq, err := keySeq(k)
		if err != nil {
			return err
		}
		seqs, ids = append(seqs, seq), append(ids, v)
		if len(ids) == changesBatch {
			return flush()
		}
		return nil
	})
	if err == nil && len(ids) > 0 {
		err = flush()
	}
	return db.foldResult(r0, err, cbErr)
}

// resolveChanges looks up the doc infos of a run of changes entries and
// checks that each document is at the sequence that pointed to it.
func (s *snapshot) resolveChanges(seqs []uint64, ids []string) ([]*engines.DocInfo, error) {
	keys, vals, found, err := s.lookupSorted(treeID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*engines.DocInfo, len(ids))
	for i, id := range ids {
		j, _ := slices.BinarySearch(keys, id)
		if !found[j] {
			return nil, corruptf("changes entry %d names missing doc %q", seqs[i], id)
		}
		di, err := decodeIDValue(id, vals[j])
		if err != nil {
			return nil, err
		}
		if di.UpdateSeq != seqs[i] {
			return nil, corruptf("changes entry %d names doc %q at %d", seqs[i], id, di.UpdateSeq)
		}
		out[i] = di
	}
	return out, nil
}

// CountChangesSince counts the changes entries above since with the seq
// tree's reductions. Any goroutine.
func (db *DB) CountChangesSince(since uint64) (uint64, error) {
	return readAgain(db, func() (uint64, error) { return db.countChangesSince(since) })
}

func (db *DB) countChangesSince(since uint64) (uint64, error) {
	s, err := db.acquire()
	if err != nil {
		return 0, err
	}
	defer s.st.release()
	n, err := s.tree(treeSeq).countAbove(s.h.roots[treeSeq], seqKey(since))
	if err != nil {
		return 0, db.errorf("%w", err)
	}
	return n, nil
}

// FoldPurgeInfos visits purge infos with Seq > since in ascending Seq
// order. Any goroutine.
func (db *DB) FoldPurgeInfos(since uint64, fn func(engines.PurgeInfo) error) error {
	r0 := db.rollbacks.Load()
	s, err := db.acquire()
	if err != nil {
		return err
	}
	defer s.st.release()
	var cbErr error
	b := bounds{lo: seqKey(since), hasLo: true, loOpen: true}
	err = s.tree(treePurgeSeq).fold(s.h.roots[treePurgeSeq], b, false, func(k, v string) error {
		pi, err := decodePurge(k, v)
		if err != nil {
			return err
		}
		cbErr = fn(*pi)
		return cbErr
	})
	return db.foldResult(r0, err, cbErr)
}

func decodePurge(k, v string) (*engines.PurgeInfo, error) {
	seq, err := keySeq(k)
	if err != nil {
		return nil, err
	}
	pi, err := engines.DecodePurgeInfo([]byte(v))
	if err != nil {
		return nil, err
	}
	if pi.Seq != seq {
		return nil, corruptf("purge info %d stored at %d", pi.Seq, seq)
	}
	return pi, nil
}
