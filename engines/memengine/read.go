package memengine

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/couchfs/couchfs/engines"
)

// OpenDocs returns copies of the doc infos for ids, nil where missing. Any
// goroutine.
func (db *DB) OpenDocs(ids []string) ([]*engines.DocInfo, error) {
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return nil, fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	found := make([]*engines.DocInfo, len(ids))
	for i, id := range ids {
		found[i] = db.working.docs[id]
	}
	db.mu.RUnlock()
	out := make([]*engines.DocInfo, len(ids))
	for i, di := range found {
		if di != nil {
			out[i] = cloneDocInfo(di)
		}
	}
	return out, nil
}

// OpenLocalDocs returns copies of the local docs for ids, nil where missing.
// Any goroutine.
func (db *DB) OpenLocalDocs(ids []string) ([]*engines.LocalDoc, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	out := make([]*engines.LocalDoc, len(ids))
	for i, id := range ids {
		if ld := db.working.locals[id]; ld != nil {
			out[i] = cloneLocalDoc(ld)
		}
	}
	return out, nil
}

// ReadDocBody returns a copy of the body stored at ptr; a pointer to nothing
// is an error wrapping ErrCorrupt. Any goroutine.
func (db *DB) ReadDocBody(ptr uint64) ([]byte, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	b, ok := db.working.bodies[ptr]
	if !ok {
		return nil, fmt.Errorf("memengine: %s: no body at %d: %w", db.path, ptr, engines.ErrCorrupt)
	}
	return append([]byte(nil), b...), nil
}

// FoldDocs visits doc infos in ID order within opts. It collects the
// matching entries under the read lock and calls fn without it, so fn may
// call back into the DB. Any goroutine.
func (db *DB) FoldDocs(opts engines.FoldOptions, fn func(*engines.DocInfo) error) error {
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	var hits []*engines.DocInfo
	for id, di := range db.working.docs {
		if inRange(id, opts) {
			hits = append(hits, di)
		}
	}
	db.mu.RUnlock()
	sortByKey(hits, func(di *engines.DocInfo) string { return di.ID }, opts.Reverse)
	for _, di := range hits {
		if err := fn(cloneDocInfo(di)); err != nil {
			return stopped(err)
		}
	}
	return nil
}

// FoldLocalDocs visits local docs in ID order within opts. Any goroutine.
func (db *DB) FoldLocalDocs(opts engines.FoldOptions, fn func(*engines.LocalDoc) error) error {
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	var hits []*engines.LocalDoc
	for id, ld := range db.working.locals {
		if inRange(id, opts) {
			hits = append(hits, ld)
		}
	}
	db.mu.RUnlock()
	sortByKey(hits, func(ld *engines.LocalDoc) string { return ld.ID }, opts.Reverse)
	for _, ld := range hits {
		if err := fn(cloneLocalDoc(ld)); err != nil {
			return stopped(err)
		}
	}
	return nil
}

// FoldChanges visits documents with UpdateSeq > since in ascending UpdateSeq
// order. Any goroutine.
func (db *DB) FoldChanges(since uint64, fn func(*engines.DocInfo) error) error {
	hits, err := db.changes(since)
	if err != nil {
		return err
	}
	for _, di := range hits {
		if err := fn(cloneDocInfo(di)); err != nil {
			return stopped(err)
		}
	}
	return nil
}

// CountChangesSince counts what FoldChanges(since) would visit. Any
// goroutine.
func (db *DB) CountChangesSince(since uint64) (uint64, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return 0, fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	var n uint64
	for seq := range db.working.seqs {
		if seq > since {
			n++
		}
	}
	return n, nil
}

func (db *DB) changes(since uint64) ([]*engines.DocInfo, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	var hits []*engines.DocInfo
	for seq, id := range db.working.seqs {
		if seq > since {
			hits = append(hits, db.working.docs[id])
		}
	}
	slices.SortFunc(hits, func(a, b *engines.DocInfo) int { return cmp.Compare(a.UpdateSeq, b.UpdateSeq) })
	return hits, nil
}

// FoldPurgeInfos visits purge infos with Seq > since in ascending Seq order.
// Any goroutine.
func (db *DB) FoldPurgeInfos(since uint64, fn func(engines.PurgeInfo) error) error {
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return fmt.Errorf("memengine: %s: %w", db.path, engines.ErrClosed)
	}
	var hits []*engines.PurgeInfo
	for seq, pi := range db.working.purges {
		if seq > since {
			hits = append(hits, pi)
		}
	}
	db.mu.RUnlock()
	slices.SortFunc(hits, func(a, b *engines.PurgeInfo) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, pi := range hits {
		c := *pi
		c.Revs = append([]engines.Rev(nil), pi.Revs...)
		if err := fn(c); err != nil {
			return stopped(err)
		}
	}
	return nil
}

// inRange reports whether key lies within opts: Start is the first key and
// End the last in fold order, so their roles swap when Reverse.
func inRange(key string, o engines.FoldOptions) bool {
	if o.Reverse {
		if o.HasStart && key > o.Start {
			return false
		}
		if o.HasEnd && (key < o.End || (o.EndExclusive && key == o.End)) {
			return false
		}
		return true
	}
	if o.HasStart && key < o.Start {
		return false
	}
	if o.HasEnd && (key > o.End || (o.EndExclusive && key == o.End)) {
		return false
	}
	return true
}

func sortByKey[T any](s []T, key func(T) string, reverse bool) {
	slices.SortFunc(s, func(a, b T) int {
		if reverse {
			return cmp.Compare(key(b), key(a))
		}
		return cmp.Compare(key(a), key(b))
	})
}

// stopped turns the callback's ErrStopFold into a clean end of the fold.
func stopped(err error) error {
	if errors.Is(err, engines.ErrStopFold) {
		return nil
	}
	return err
}

func cloneLocalDoc(ld *engines.LocalDoc) *engines.LocalDoc {
	c := *ld
	c.Body = append([]byte(nil), ld.Body...)
	return &c
}

// cloneDocInfo deep-copies a stored doc info without recursion, so that
// deep linear histories cannot exhaust the stack.
func cloneDocInfo(di *engines.DocInfo) *engines.DocInfo {
	c := *di
	c.RevTree = make(engines.RevTree, len(di.RevTree))
	type pair struct{ from, to *engines.RevNode }
	var stack []pair
	for i, b := range di.RevTree {
		root := &engines.RevNode{}
		c.RevTree[i] = engines.RevBranch{Start: b.Start, Root: root}
		stack = append(stack, pair{b.Root, root})
	}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p.to.ID = p.from.ID
		if p.from.Value != nil {
			v := *p.from.Value
			p.to.Value = &v
		}
		if len(p.from.Children) > 0 {
			p.to.Children = make([]*engines.RevNode, len(p.from.Children))
			for i, ch := range p.from.Children {
				p.to.Children[i] = &engines.RevNode{}
				stack = append(stack, pair{ch, p.to.Children[i]})
			}
		}
	}
	return &c
}
