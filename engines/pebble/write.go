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
// undo is not nil; keys holds the undo entries' keys.
func (d *db) storePending(b *pebble.Batch, undo *[]undoEntry, keys *keyArena) {
	var scratch [9]byte
	d.pending.each(func(ptr uint64, body []byte) {
		if undo == nil {
			_ = b.Set(appendUintKey(scratch[:0], prefixBody, ptr), body, nil)
			return
		}
		k := keys.uint(prefixBody, ptr)
		_ = b.Set(k, body, nil)
		*undo = append(*undo, undoEntry{key: k})
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
	// the order Pebble's memtable inserts fastest. Every key the undo log
	// keeps is cut from one arena, and each new doc info is encoded once
	// for its doc key and its changes entry.
	b := d.newBatch(pdb, d.pending.bytes()+32*d.pending.count()+256*len(pairs)+64)
	keys := newKeyArena(d.pending.count(), pairs)
	undo := slices.Grow(d.undo, d.pending.count()+3*len(pairs)+len(locals)+2*len(purges))
	d.storePending(b, &undo, &keys)
	// The batch copies what it is given, so one buffer serves every write:
	// grown afresh each time, it cost about 1 µs of CPU per document of a
	// bulk load (WriteDocInfos fell from 2 to 0.55 µs per document).
	enc := d.encBuf[:0]
	defer func() {
		if cap(enc) <= maxKeptArena {
			d.encBuf = enc[:0]
		}
	}()
	encAt := make([][2]int, len(pairs)) // pairs[i].New encoded is enc[encAt[i][0]:encAt[i][1]]
	chAt := make([][2]int, len(pairs))  // and its changes entry enc[chAt[i][0]:chAt[i][1]]
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
		k := keys.str(prefixDoc, pairID(p))
		undo = append(undo, undoEntry{key: k, value: stored[i], old: p.Old, present: p.Old != nil})
		if p.New == nil {
			_ = b.Delete(k, nil)
			continue
		}
		start := len(enc)
		enc = engines.AppendDocInfo(enc, p.New)
		encAt[i] = [2]int{start, len(enc)}
		_ = b.Set(k, enc[start:], nil)
		if ce := changesInfo(p.New); ce == p.New {
			chAt[i] = encAt[i]
		} else {
			start := len(enc)
			enc = engines.AppendDocInfo(enc, ce)
			chAt[i] = [2]int{start, len(enc)}
		}
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
	for _, p := range pairs {
		if p.Old != nil && (p.New == nil || p.New.UpdateSeq != p.Old.UpdateSeq) {
			k := keys.uint(prefixSeq, p.Old.UpdateSeq)
			_ = b.Delete(k, nil)
			undo = append(undo, undoEntry{key: k, old: p.Old, changes: true, present: true})
		}
	}
	// Pairs usually arrive in UpdateSeq order already.
	if !slices.IsSortedFunc(newSeqs, bySeq(pairs)) {
		slices.SortFunc(newSeqs, bySeq(pairs))
	}
	// A changes entry holds the doc info with the leaves of its tree, so
	// the changes feed is one scan with no lookup per document.
	for _, i := range newSeqs {
		p := pairs[i]
		k := keys.uint(prefixSeq, p.New.UpdateSeq)
		_ = b.Set(k, enc[chAt[i][0]:chAt[i][1]], nil)
		if p.Old != nil && p.Old.UpdateSeq == p.New.UpdateSeq {
			undo = append(undo, undoEntry{key: k, old: p.Old, changes: true, present: true})
		} else {
			undo = append(undo, undoEntry{key: k})
		}
	}
	for i, p := range purges {
		_ = b.Set(uuidPriors[i].key, binary.BigEndian.AppendUint64(nil, p.Seq), nil)
		undo = append(undo, uuidPriors[i])
	}
	next.NextPtr = d.nextPtr
	d.stateLog.put(b, next)
	d.lastWritten.Record(pairs)
	d.deferred.Store(&ownedBatch{b: b, pdb: pdb})
	d.dropPending()
	d.st.Store(next)
	d.undo = undo
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
	ob := d.deferred.Swap(nil)
	if ob == nil {
		return nil
	}
	if err := commitBatch(ob.b, pebble.NoSync); err != nil {
		_ = ob.b.Close()
		return d.fail(fmt.Errorf("write doc infos: %w", err))
	}
	d.recycle(ob)
	return nil
}

// ownedBatch is a batch with the generation it writes to.
type ownedBatch struct {
	b   *pebble.Batch
	pdb *pebble.DB
}

// newBatch returns an empty batch of pdb with room for about size bytes.
// It reuses the last committed batch's buffer: a bulk load's batches are
// megabytes each, and allocating and zeroing a new one per commit is a
// good part of the garbage a load makes. Updater only.
func (d *db) newBatch(pdb *pebble.DB, size int) *pebble.Batch {
	if ob := d.spare.Swap(nil); ob != nil {
		if ob.pdb == pdb {
			return ob.b
		}
		_ = ob.b.Close() // of a generation compaction replaced
	}
	return pdb.NewBatch(pebble.WithInitialSizeBytes(size), pebble.WithMaxRetainedSizeBytes(maxKeptArena))
}

// recycle keeps a committed batch for the next newBatch. Any goroutine:
// the updater after Commit, a reader after applying a deferred batch.
func (d *db) recycle(ob *ownedBatch) {
	ob.b.Reset()
	if old := d.spare.Swap(ob); old != nil {
		_ = old.b.Close()
	}
}

func bySeq(pairs []engines.DocInfoPair) func(a, c int) int {
	return func(a, c int) int { return cmp.Compare(pairs[a].New.UpdateSeq, pairs[c].New.UpdateSeq) }
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
	// No map of the batch's IDs or sequences: allocating them cost a bulk
	// load ~0.3 us per document, and sorting finds the duplicates.
	var freed map[uint64]bool // sequences the batch's old doc infos give up
	for _, p := range pairs {
		switch {
		case p.Old == nil && p.New == nil:
			return nil, nil, invalid("pair with neither old nor new doc info")
		case p.Old != nil && p.New != nil && p.Old.ID != p.New.ID:
			return nil, nil, invalid("pair changes doc id %q to %q", p.Old.ID, p.New.ID)
		case p.New != nil && len(p.New.RevTree) == 0:
			return nil, nil, invalid("doc %q: empty revision tree", p.New.ID)
		}
		if p.Old != nil && (p.New == nil || p.New.UpdateSeq != p.Old.UpdateSeq) {
			if freed == nil {
				freed = make(map[uint64]bool)
			}
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
	for k := 1; k < len(order); k++ {
		if id := pairID(pairs[order[k]]); id == pairID(pairs[order[k-1]]) {
			return nil, nil, invalid("doc %q twice in one write", id)
		}
	}
	if s, dup := repeatedSeq(pairs, order); dup {
		return nil, nil, invalid("update seq %d given to two docs", s)
	}
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
	// checkSeq refuses pairs[i].New's sequence if a doc outside the batch
	// has it.
	checkSeq := func(i int) error {
		p := pairs[i]
		if !takesSeq(p) {
			return nil
		}
		s := p.New.UpdateSeq
		// Sequences above UpdateSeq are free by construction.
		if s <= cur.UpdateSeq && !freed[s] {
			used, err := has(pdb, seqKey(s))
			if err != nil {
				return err
			}
			if used {
				return invalid("doc %q: update seq %d belongs to another doc", p.New.ID, s)
			}
		}
		return nil
	}
	var buf []byte
	for _, i := range order {
		p := pairs[i]
		id := pairID(p)
		k := docKey(id)
		if d.lastWritten.Matches(p.Old) {
			// What is stored is p.Old's encoding: the undo log encodes it
			// only if it is ever applied.
			stored[i] = nil
			if err := checkSeq(i); err != nil {
				return nil, nil, err
			}
			continue
		}
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
		if err := checkSeq(i); err != nil {
			return nil, nil, err
		}
	}
	return stored, order, nil
}

// takesSeq reports whether p gives its new doc info a sequence it did not
// have.
func takesSeq(p engines.DocInfoPair) bool {
	return p.New != nil && (p.Old == nil || p.New.UpdateSeq != p.Old.UpdateSeq)
}

// repeatedSeq returns a sequence that two pairs take, if any. order sorts
// pairs by ID; the updater numbers a batch in that order, so the check is
// one pass without allocating unless the sequences do not rise.
func repeatedSeq(pairs []engines.DocInfoPair, order []int) (uint64, bool) {
	var last uint64
	seen, rising := false, true
	for _, i := range order {
		if !takesSeq(pairs[i]) {
			continue
		}
		s := pairs[i].New.UpdateSeq
		if seen && s <= last {
			rising = false
			break
		}
		last, seen = s, true
	}
	if rising {
		return 0, false
	}
	var seqs []uint64
	for _, i := range order {
		if takesSeq(pairs[i]) {
			seqs = append(seqs, pairs[i].New.UpdateSeq)
		}
	}
	slices.Sort(seqs)
	for k := 1; k < len(seqs); k++ {
		if seqs[k] == seqs[k-1] {
			return seqs[k], true
		}
	}
	return 0, false
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
	ob := d.deferred.Swap(nil)
	if ob == nil {
		pdb := d.cur.Load().pdb
		ob = &ownedBatch{b: d.newBatch(pdb, d.pending.bytes()+32*d.pending.count()+256), pdb: pdb}
	}
	d.storePending(ob.b, nil, nil)
	d.stateLog.put(ob.b, next)
	err := commitBatch(ob.b, pebble.Sync)
	d.applyMu.Unlock()
	if err != nil {
		_ = ob.b.Close()
		return d.fail(fmt.Errorf("commit: %w", err))
	}
	d.recycle(ob)
	d.dropPending()
	d.st.Store(next)
	d.committed = next
	d.resetUndo()
	d.dirty = false
	return nil
}

// resetUndo empties the undo log once what it would undo is durable. It
// keeps the log's array for the next writes, without the keys and values
// it pointed to, unless a large load grew it. Updater only.
func (d *db) resetUndo() {
	if cap(d.undo) > maxKeptUndo {
		d.undo = nil
		return
	}
	clear(d.undo)
	d.undo = d.undo[:0]
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
