package pebble

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/couchfs/couchfs/engines"
)

// WriteDocBody implements engines.DB. The body is kept in memory (readable
// at once) until the next WriteDocInfos or Commit stores it; its active size
// is its length. Updater only.
func (d *db) WriteDocBody(body []byte) (uint64, uint64, error) {
	if err := d.writable(); err != nil {
		return 0, 0, err
	}
	ptr := d.nextPtr
	d.nextPtr++
	d.pending.add(body)
	return ptr, uint64(len(body)), nil
}

// storePending adds the pending bodies to b, with their undo entries if
// undo is not nil.
func (d *db) storePending(b *pebble.Batch, undo *[]undoEntry) {
	d.pending.each(func(ptr uint64, body []byte) {
		k := bodyKey(ptr)
		_ = b.Set(k, body, nil)
		if undo != nil {
			*undo = append(*undo, undoEntry{key: k})
		}
	})
}

// dropPending forgets the pending bodies once a batch holding them is
// applied.
func (d *db) dropPending() { d.pending.reset(d.nextPtr) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("pebble: %s: %w", fmt.Sprintf(format, args...), engines.ErrInvalidWrite)
}

// WriteDocInfos implements engines.DB: the changes become one batch, visible
// to every read at once (see db) and durable with the next Commit. Updater
// only.
func (d *db) WriteDocInfos(pairs []engines.DocInfoPair, locals []engines.LocalDoc, purges []engines.PurgeInfo) error {
	if err := d.writable(); err != nil {
		return err
	}
	// The checks below read the stored state, which must include the
	// previous write.
	if err := d.applyDeferred(); err != nil {
		return err
	}
	pdb := d.cur.Load().pdb
	cur := d.st.Load()
	next := cur.clone()

	// Verify everything, and read what the undo log needs, before writing
	// anything.
	stored, order, err := d.verifyPairs(pdb, cur, pairs)
	if err != nil {
		return err
	}
	purgeSeqs := make(map[uint64]bool, len(purges))
	uuidPriors := make([]undoEntry, len(purges))
	for i, p := range purges {
		if purgeSeqs[p.Seq] {
			return invalid("purge seq %d twice in one write", p.Seq)
		}
		purgeSeqs[p.Seq] = true
		ok, err := has(pdb, purgeKey(p.Seq))
		if err != nil {
			return err
		}
		if ok {
			return invalid("purge seq %d already stored", p.Seq)
		}
		u := &uuidPriors[i]
		u.key = purgeUUIDKey(p.UUID)
		if u.value, u.present, err = getCopy(pdb, u.key); err != nil {
			return err
		}
	}
	localPriors := make([]undoEntry, len(locals))
	for i, l := range locals {
		u := &localPriors[i]
		u.key = localKey(l.ID)
		if u.value, u.present, err = getCopy(pdb, u.key); err != nil {
			return err
		}
	}

	// The batch lists keys in ascending order, prefix by prefix, which is
	// the order Pebble's memtable inserts fastest.
	b := pdb.NewBatchWithSize(d.pending.bytes() + 32*d.pending.count() + 256*len(pairs) + 64)
	undo := make([]undoEntry, 0, d.pending.count()+3*len(pairs)+len(locals)+2*len(purges))
	d.storePending(b, &undo)
	var buf []byte
	var newSeqs []int
	for _, i := range order {
		p := pairs[i]
		if p.Old != nil {
			if p.Old.Deleted {
				next.DelDocCount--
			} else {
				next.DocCount--
			}
			next.ActiveSize -= p.Old.ActiveSize
			next.ExternalSize -= p.Old.ExternalSize
		}
		k := docKey(pairID(p))
		undo = append(undo, undoEntry{key: k, value: stored[i], present: p.Old != nil})
		if p.New == nil {
			_ = b.Delete(k, nil)
			continue
		}
		buf = engines.AppendDocInfo(buf[:0], p.New)
		_ = b.Set(k, buf, nil)
		newSeqs = append(newSeqs, i)
		if p.New.Deleted {
			next.DelDocCount++
		} else {
			next.DocCount++
		}
		next.ActiveSize += p.New.ActiveSize
		next.ExternalSize += p.New.ExternalSize
		next.UpdateSeq = max(next.UpdateSeq, p.New.UpdateSeq)
	}
	for i, l := range locals {
		undo = append(undo, localPriors[i])
		if l.Deleted {
			_ = b.Delete(localPriors[i].key, nil)
		} else {
			_ = b.Set(localPriors[i].key, engines.AppendLocalDoc(nil, &l), nil)
		}
	}
	for _, p := range purges {
		k := purgeKey(p.Seq)
		_ = b.Set(k, engines.AppendPurgeInfo(nil, &p), nil)
		undo = append(undo, undoEntry{key: k})
		next.PurgeSeq = max(next.PurgeSeq, p.Seq)
	}
	// Old changes entries go before new ones, so a sequence freed by one
	// pair may be taken by another in the same batch.
	for i, p := range pairs {
		if p.Old != nil && (p.New == nil || p.New.UpdateSeq != p.Old.UpdateSeq) {
			k := seqKey(p.Old.UpdateSeq)
			_ = b.Delete(k, nil)
			undo = append(undo, undoEntry{key: k, value: stored[i], present: true})
		}
	}
	slices.SortFunc(newSeqs, func(a, c int) int { return cmp.Compare(pairs[a].New.UpdateSeq, pairs[c].New.UpdateSeq) })
	// A changes entry holds the whole doc info, so the changes feed is one
	// scan with no lookup per document.
	for _, i := range newSeqs {
		p := pairs[i]
		k := seqKey(p.New.UpdateSeq)
		buf = engines.AppendDocInfo(buf[:0], p.New)
		_ = b.Set(k, buf, nil)
		if p.Old != nil && p.Old.UpdateSeq == p.New.UpdateSeq {
			undo = append(undo, undoEntry{key: k, value: stored[i], present: true})
		} else {
			undo = append(undo, undoEntry{key: k})
		}
	}
	for i, p := range purges {
		_ = b.Set(uuidPriors[i].key, binary.BigEndian.AppendUint64(nil, p.Seq), nil)
		undo = append(undo, uuidPriors[i])
	}
	next.NextPtr = d.nextPtr
	_ = b.Set(stateKey, next.encode(), nil)
	d.deferred.Store(b)
	d.dropPending()
	d.st.Store(next)
	d.undo = append(d.undo, undo...)
	d.dirty = true
	d.lastInfosPtr = d.nextPtr
	return nil
}

// applyDeferred applies the batch of the last WriteDocInfos if no one has
// yet. Any goroutine: every read calls it first, which is what makes a write
// visible at once although the common path — WriteDocInfos then Commit —
// reaches Pebble as one synced batch.
func (d *db) applyDeferred() error {
	if d.deferred.Load() == nil {
		return nil
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	b := d.deferred.Swap(nil)
	if b == nil {
		return nil
	}
	defer b.Close()
	if err := commitBatch(b, pebble.NoSync); err != nil {
		return d.fail(fmt.Errorf("write doc infos: %w", err))
	}
	return nil
}

func pairID(p engines.DocInfoPair) string {
	if p.New != nil {
		return p.New.ID
	}
	return p.Old.ID
}

// verifyPairs checks the pairs against the stored doc infos and the changes
// index. It returns the stored encoding of each pair's document (nil for a
// new one) and the pair indexes in document ID order.
func (d *db) verifyPairs(pdb *pebble.DB, cur *state, pairs []engines.DocInfoPair) ([][]byte, []int, error) {
	ids := make(map[string]bool, len(pairs))
	freed := make(map[uint64]bool)
	for _, p := range pairs {
		switch {
		case p.Old == nil && p.New == nil:
			return nil, nil, invalid("pair with neither old nor new doc info")
		case p.Old != nil && p.New != nil && p.Old.ID != p.New.ID:
			return nil, nil, invalid("pair changes doc id %q to %q", p.Old.ID, p.New.ID)
		case p.New != nil && len(p.New.RevTree) == 0:
			return nil, nil, invalid("doc %q: empty revision tree", p.New.ID)
		}
		id := pairID(p)
		if ids[id] {
			return nil, nil, invalid("doc %q twice in one write", id)
		}
		ids[id] = true
		if p.Old != nil && (p.New == nil || p.New.UpdateSeq != p.Old.UpdateSeq) {
			freed[p.Old.UpdateSeq] = true
		}
	}
	// Looking the documents up in key order through one iterator lets
	// Pebble reuse its position and skip files by bloom filter.
	order := make([]int, len(pairs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(pairID(pairs[a]), pairID(pairs[b])) })
	pr, err := newProber(pdb, prefixDoc)
	if err != nil {
		return nil, nil, err
	}
	defer pr.close()
	// Documents after the last stored ID, as in an append-mostly load, are
	// new without a lookup.
	last, err := pr.last()
	if err != nil {
		return nil, nil, err
	}
	stored := make([][]byte, len(pairs))
	taken := make(map[uint64]bool, len(pairs))
	var buf []byte
	for _, i := range order {
		p := pairs[i]
		id := pairID(p)
		k := docKey(id)
		var v []byte
		ok := false
		if last != nil && bytes.Compare(k, last) <= 0 {
			if v, ok, err = pr.get(k); err != nil {
				return nil, nil, err
			}
			v = append([]byte(nil), v...)
		}
		if p.Old == nil {
			if ok {
				return nil, nil, invalid("doc %q: stored, but the write says it is new", id)
			}
		} else {
			buf = engines.AppendDocInfo(buf[:0], p.Old)
			if !ok || !bytes.Equal(v, buf) {
				return nil, nil, invalid("doc %q: old doc info does not match the stored one", id)
			}
		}
		stored[i] = v
		if p.New == nil || (p.Old != nil && p.New.UpdateSeq == p.Old.UpdateSeq) {
			continue
		}
		s := p.New.UpdateSeq
		if taken[s] {
			return nil, nil, invalid("update seq %d given to two docs", s)
		}
		taken[s] = true
		// Sequences above UpdateSeq are free by construction.
		if s <= cur.UpdateSeq && !freed[s] {
			used, err := has(pdb, seqKey(s))
			if err != nil {
				return nil, nil, err
			}
			if used {
				return nil, nil, invalid("doc %q: update seq %d belongs to another doc", id, s)
			}
		}
	}
	return stored, order, nil
}

// SetUpdateSeq implements engines.DB: the raised sequence is reported at once
// and stored by the next Commit or setter. Updater only.
func (d *db) SetUpdateSeq(seq uint64) error {
	if err := d.writable(); err != nil {
		return err
	}
	cur := d.st.Load()
	if seq <= cur.UpdateSeq {
		return nil
	}
	next := cur.clone()
	next.UpdateSeq = seq
	d.st.Store(next)
	d.dirty = true
	return nil
}

// Commit implements engines.DB: one synced batch holding the pending bodies
// and the state record; Pebble's WAL sync also makes every batch applied
// before it durable. Updater only.
func (d *db) Commit() error {
	if err := d.writable(); err != nil {
		return err
	}
	if !d.dirty && d.pending.count() == 0 {
		return nil
	}
	return d.sync(d.st.Load())
}

// sync durably writes the pending bodies and next as the state record, then
// publishes next.
func (d *db) sync(next *state) error {
	next = next.clone()
	next.NextPtr = d.nextPtr
	// Readers wait on applyMu while a deferred batch is being synced, so
	// none reads past a write that WriteDocInfos already returned.
	d.applyMu.Lock()
	b := d.deferred.Swap(nil)
	if b == nil {
		b = d.cur.Load().pdb.NewBatchWithSize(d.pending.bytes() + 32*d.pending.count() + 256)
	}
	d.storePending(b, nil)
	_ = b.Set(stateKey, next.encode(), nil)
	err := commitBatch(b, pebble.Sync)
	d.applyMu.Unlock()
	_ = b.Close()
	if err != nil {
		return d.fail(fmt.Errorf("commit: %w", err))
	}
	d.dropPending()
	d.st.Store(next)
	d.committed = next
	d.undo = d.undo[:0]
	d.dirty = false
	return nil
}

// getCopy reads k, copying the value out of Pebble's buffer.
func getCopy(r pebble.Reader, k []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pebble: get: %w", wrapReadErr(err))
	}
	v = append([]byte(nil), v...)
	return v, true, closer.Close()
}

func has(r pebble.Reader, k []byte) (bool, error) {
	_, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pebble: get: %w", wrapReadErr(err))
	}
	return true, closer.Close()
}

// prober looks up keys under one prefix through a single iterator that uses
// bloom filters on every level; Get skips them on the last level, where most
// data of a small database lives.
type prober struct {
	it *pebble.Iterator
}

func newProber(r pebble.Reader, prefix byte) (*prober, error) {
	it, err := r.NewIter(&pebble.IterOptions{
		LowerBound: prefixStart(prefix), UpperBound: prefixEnd(prefix), UseL6Filters: true,
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: %w", wrapReadErr(err))
	}
	return &prober{it: it}, nil
}

// get returns the value stored at k (a slice valid until the next call), or
// false when there is none.
func (p *prober) get(k []byte) ([]byte, bool, error) {
	if !p.it.SeekPrefixGE(k) {
		if err := p.it.Error(); err != nil {
			return nil, false, fmt.Errorf("pebble: %w", wrapReadErr(err))
		}
		return nil, false, nil
	}
	if !bytes.Equal(p.it.Key(), k) {
		return nil, false, nil
	}
	v, err := p.it.ValueAndErr()
	if err != nil {
		return nil, false, fmt.Errorf("pebble: %w", wrapReadErr(err))
	}
	return v, true, nil
}

// last returns a copy of the greatest key under the prefix, nil if none.
func (p *prober) last() ([]byte, error) {
	if !p.it.Last() {
		if err := p.it.Error(); err != nil {
			return nil, fmt.Errorf("pebble: %w", wrapReadErr(err))
		}
		return nil, nil
	}
	return append([]byte(nil), p.it.Key()...), nil
}

func (p *prober) close() { _ = p.it.Close() }
