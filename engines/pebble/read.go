package pebble

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/couchfs/couchfs/engines"
)

// OpenDocs implements engines.DB; all ids are read from one view. Any
// goroutine.
func (d *db) OpenDocs(ids []string) ([]*engines.DocInfo, error) {
	out := make([]*engines.DocInfo, len(ids))
	err := d.lookup(prefixDoc, ids, func(i int, v []byte) error {
		di, err := engines.DecodeDocInfo(v)
		if err != nil {
			return fmt.Errorf("pebble: doc %q: %w", ids[i], err)
		}
		out[i] = di
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OpenLocalDocs implements engines.DB; all ids are read from one view. Any
// goroutine.
func (d *db) OpenLocalDocs(ids []string) ([]*engines.LocalDoc, error) {
	out := make([]*engines.LocalDoc, len(ids))
	err := d.lookup(prefixLocal, ids, func(i int, v []byte) error {
		ld, err := engines.DecodeLocalDoc(v)
		if err != nil {
			return fmt.Errorf("pebble: local doc %q: %w", ids[i], err)
		}
		out[i] = ld
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lookup calls found for each id stored under prefix, reading them all
// through one iterator so they come from one consistent state.
func (d *db) lookup(prefix byte, ids []string, found func(i int, v []byte) error) error {
	if len(ids) == 0 {
		return nil
	}
	h, err := d.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	pr, err := newProber(h.pdb, prefix)
	if err != nil {
		return err
	}
	defer pr.close()
	// Before a batch is loaded, its IDs are looked up (dbcore reads every
	// document it updates); in an append-mostly load they all sort after
	// the last stored one, and one seek to that key spares a seek per ID.
	var last []byte
	bounded := len(ids) > 1
	if bounded {
		if last, err = pr.last(); err != nil {
			return err
		}
	}
	var k []byte
	for i, id := range ids {
		k = appendStringKey(k[:0], prefix, id)
		if bounded && bytes.Compare(k, last) > 0 {
			continue
		}
		v, ok, err := pr.get(k)
		if err != nil {
			return err
		}
		if ok {
			if err := found(i, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReadDocBody implements engines.DB. Any goroutine.
func (d *db) ReadDocBody(ptr uint64) ([]byte, error) {
	if body, ok := d.pending.get(ptr); ok {
		return body, nil
	}
	h, err := d.acquire()
	if err != nil {
		return nil, err
	}
	defer h.release()
	body, ok, err := getCopy(h.pdb, bodyKey(ptr))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("pebble: %s: no body at pointer %d: %w", d.path, ptr, engines.ErrCorrupt)
	}
	return body, nil
}

// FoldDocs implements engines.DB. Any goroutine.
func (d *db) FoldDocs(opts engines.FoldOptions, fn func(*engines.DocInfo) error) error {
	return d.foldRange(prefixDoc, opts, func(k, v []byte) error {
		di, err := engines.DecodeDocInfo(v)
		if err != nil {
			return fmt.Errorf("pebble: doc %q: %w", k[1:], err)
		}
		return fn(di)
	})
}

// FoldLocalDocs implements engines.DB. Any goroutine.
func (d *db) FoldLocalDocs(opts engines.FoldOptions, fn func(*engines.LocalDoc) error) error {
	return d.foldRange(prefixLocal, opts, func(k, v []byte) error {
		ld, err := engines.DecodeLocalDoc(v)
		if err != nil {
			return fmt.Errorf("pebble: local doc %q: %w", k[1:], err)
		}
		return fn(ld)
	})
}

// foldRange iterates the keys under prefix that opts selects.
func (d *db) foldRange(prefix byte, opts engines.FoldOptions, fn func(k, v []byte) error) error {
	lower, upper := prefixStart(prefix), prefixEnd(prefix)
	if opts.Reverse {
		if opts.HasStart {
			upper = successor(stringKey(prefix, opts.Start))
		}
		if opts.HasEnd {
			lower = stringKey(prefix, opts.End)
			if opts.EndExclusive {
				lower = successor(lower)
			}
		}
	} else {
		if opts.HasStart {
			lower = stringKey(prefix, opts.Start)
		}
		if opts.HasEnd {
			upper = stringKey(prefix, opts.End)
			if !opts.EndExclusive {
				upper = successor(upper)
			}
		}
	}
	if bytes.Compare(lower, upper) >= 0 {
		return nil
	}
	h, err := d.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	it, err := h.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("pebble: %w", wrapReadErr(err))
	}
	defer it.Close()
	return iterate(it, opts.Reverse, fn)
}

// iterate visits it's entries in order (or reverse order), ending early on
// engines.ErrStopFold.
func iterate(it *pebble.Iterator, reverse bool, fn func(k, v []byte) error) error {
	first, step := it.First, it.Next
	if reverse {
		first, step = it.Last, it.Prev
	}
	for ok := first(); ok; ok = step() {
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("pebble: %w", wrapReadErr(err))
		}
		if err := fn(it.Key(), v); err != nil {
			if errors.Is(err, engines.ErrStopFold) {
				return nil
			}
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("pebble: %w", wrapReadErr(err))
	}
	return nil
}

// FoldChanges implements engines.DB: the changes index and the doc infos it
// names are read from one snapshot. Any goroutine.
func (d *db) FoldChanges(since uint64, fn func(*engines.DocInfo) error) error {
	if since == ^uint64(0) {
		return nil
	}
	h, err := d.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	snap := h.pdb.NewSnapshot()
	defer snap.Close()
	return foldChanges(snap, since, fn)
}

// foldChanges visits the doc infos with UpdateSeq > since in r.
func foldChanges(r pebble.Reader, since uint64, fn func(*engines.DocInfo) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: seqKey(since + 1), UpperBound: prefixEnd(prefixSeq)})
	if err != nil {
		return fmt.Errorf("pebble: %w", wrapReadErr(err))
	}
	defer it.Close()
	return iterate(it, false, func(k, v []byte) error {
		seq, _ := keyUint(k)
		di, err := engines.DecodeDocInfo(v)
		if err != nil {
			return fmt.Errorf("pebble: changes entry %d: %w", seq, err)
		}
		return fn(di)
	})
}

// FoldPurgeInfos implements engines.DB. Any goroutine.
func (d *db) FoldPurgeInfos(since uint64, fn func(engines.PurgeInfo) error) error {
	if since == ^uint64(0) {
		return nil
	}
	h, err := d.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	it, err := h.pdb.NewIter(&pebble.IterOptions{LowerBound: purgeKey(since + 1), UpperBound: prefixEnd(prefixPurge)})
	if err != nil {
		return fmt.Errorf("pebble: %w", wrapReadErr(err))
	}
	defer it.Close()
	return iterate(it, false, func(k, v []byte) error {
		pi, err := engines.DecodePurgeInfo(v)
		if err != nil {
			return fmt.Errorf("pebble: purge info %x: %w", k[1:], err)
		}
		return fn(*pi)
	})
}

// CountChangesSince implements engines.DB by counting the changes index.
// Any goroutine.
func (d *db) CountChangesSince(since uint64) (uint64, error) {
	if since == ^uint64(0) {
		return 0, nil
	}
	h, err := d.acquire()
	if err != nil {
		return 0, err
	}
	defer h.release()
	it, err := h.pdb.NewIter(&pebble.IterOptions{LowerBound: seqKey(since + 1), UpperBound: prefixEnd(prefixSeq)})
	if err != nil {
		return 0, fmt.Errorf("pebble: %w", wrapReadErr(err))
	}
	defer it.Close()
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		return 0, fmt.Errorf("pebble: %w", wrapReadErr(err))
	}
	return n, nil
}
