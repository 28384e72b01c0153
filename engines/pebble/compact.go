package pebble

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/couchfs/couchfs/engines"
)

// Compaction copies the live state into the next generation: the latest doc
// infos with only their leaf bodies (interior revisions lose their values),
// the changes index, purge infos newer than PurgeSeq-PurgeInfosLimit, and at
// Finish the local docs and the state record. Body pointers are kept, so
// doc infos need no rewriting beyond dropping interior values.
//
// The copy reads Pebble snapshots of the live generation while the updater
// keeps writing. Afterwards it catches up by folding the changes since the
// sequence it copied and replaying the purges since the purge sequence it
// copied, until it has caught up or gave up after maxCatchUpRounds; Finish,
// on the updater, does the last round with writes stopped.

const (
	maxCatchUpRounds = 4
	copyBatchBytes   = 1 << 20
)

var errCompactionCancelled = errors.New("compaction cancelled")

type compaction struct {
	d      *db
	gen    uint64
	dir    string
	target *pebble.DB
	src    *handle // the live generation, referenced until the compaction ends

	done   chan struct{}
	err    error // set before done is closed
	stop   atomic.Bool
	total  atomic.Uint64
	copied atomic.Uint64

	// The source position the target reflects: owned by the copier until
	// done, then by Finish.
	copiedSeq, copiedPurgeSeq uint64
}

var _ engines.Compaction = (*compaction)(nil)

// StartCompaction implements engines.Compacter. Updater only.
func (d *db) StartCompaction() (engines.Compaction, error) {
	if err := d.writable(); err != nil {
		return nil, err
	}
	if d.compaction != nil {
		return nil, fmt.Errorf("pebble: %s: %w", d.path, engines.ErrCompactionRunning)
	}
	gen := d.gen + 1
	dir := genDir(d.fs, d.path, gen)
	if err := d.fs.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("pebble: %s: compaction: %w", d.path, err)
	}
	target, err := d.eng.openPebble(dir, true)
	if err != nil {
		return nil, fmt.Errorf("pebble: %s: compaction: %w", d.path, err)
	}
	src, err := d.acquire()
	if err != nil {
		_ = target.Close()
		_ = d.fs.RemoveAll(dir)
		return nil, err
	}
	c := &compaction{d: d, gen: gen, dir: dir, target: target, src: src, done: make(chan struct{})}
	d.compaction = c
	go c.run()
	return c, nil
}

// Done implements engines.Compaction.
func (c *compaction) Done() <-chan struct{} { return c.done }

// Err implements engines.Compaction; valid after Done.
func (c *compaction) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Progress implements engines.Compaction: the fraction of documents copied.
// Any goroutine.
func (c *compaction) Progress() float64 {
	select {
	case <-c.done:
		if c.err == nil {
			return 1
		}
	default:
	}
	total := c.total.Load()
	if total == 0 {
		return 0
	}
	return math.Min(0.99, float64(c.copied.Load())/float64(total))
}

func (c *compaction) run() {
	defer close(c.done)
	if err := c.copyAndCatchUp(); err != nil {
		c.err = fmt.Errorf("pebble: %s: compaction: %w", c.d.path, err)
	}
}

func (c *compaction) copyAndCatchUp() error {
	snap := c.src.pdb.NewSnapshot()
	st, err := loadState(snap)
	if err == nil {
		c.total.Store(st.DocCount + st.DelDocCount)
		err = c.copyAll(snap, st)
	}
	_ = snap.Close()
	if err != nil {
		return err
	}
	for range maxCatchUpRounds {
		snap := c.src.pdb.NewSnapshot()
		st, err := loadState(snap)
		caughtUp := err == nil && st.UpdateSeq == c.copiedSeq && st.PurgeSeq == c.copiedPurgeSeq
		if err == nil && !caughtUp {
			err = c.catchUp(snap, st)
		}
		_ = snap.Close()
		if err != nil || caughtUp {
			return err
		}
	}
	return nil
}

// copyAll copies the doc infos, their leaf bodies and the retained purge
// infos of snap into the empty target.
func (c *compaction) copyAll(snap *pebble.Snapshot, st *state) error {
	w := c.newWriter()
	defer w.close()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefixStart(prefixDoc), UpperBound: prefixEnd(prefixDoc)})
	if err != nil {
		return err
	}
	err = iterate(it, false, func(k, v []byte) error {
		if c.stop.Load() {
			return errCompactionCancelled
		}
		di, err := engines.DecodeDocInfo(v)
		if err != nil {
			return fmt.Errorf("doc %q: %w", k[1:], err)
		}
		if err := c.putDoc(w, snap, di, nil); err != nil {
			return err
		}
		c.copied.Add(1)
		return nil
	})
	_ = it.Close()
	if err != nil {
		return err
	}
	if _, err := c.foldPurges(w, snap, purgeCutoff(st)); err != nil {
		return err
	}
	w.set(stateKey, st.encode())
	if err := w.flush(pebble.NoSync); err != nil {
		return err
	}
	c.copiedSeq, c.copiedPurgeSeq = st.UpdateSeq, st.PurgeSeq
	return nil
}

// purgeCutoff is the highest purge sequence a compaction may drop.
func purgeCutoff(st *state) uint64 {
	if st.PurgeSeq > st.PurgeInfosLimit {
		return st.PurgeSeq - st.PurgeInfosLimit
	}
	return 0
}

// foldPurges copies the purge infos of snap with Seq > since and returns the
// IDs they name.
func (c *compaction) foldPurges(w *writer, snap *pebble.Snapshot, since uint64) (map[string]bool, error) {
	ids := make(map[string]bool)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: purgeKey(since + 1), UpperBound: prefixEnd(prefixPurge)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	err = iterate(it, false, func(k, v []byte) error {
		pi, err := engines.DecodePurgeInfo(v)
		if err != nil {
			return fmt.Errorf("purge info %x: %w", k[1:], err)
		}
		w.set(k, v)
		w.set(purgeUUIDKey(pi.UUID), k[1:])
		ids[pi.ID] = true
		return nil
	})
	return ids, err
}

// catchUp brings the target from (copiedSeq, copiedPurgeSeq) to snap.
func (c *compaction) catchUp(snap *pebble.Snapshot, st *state) error {
	w := c.newWriter()
	defer w.close()
	purged, err := c.foldPurges(w, snap, c.copiedPurgeSeq)
	if err != nil {
		return err
	}
	// A document purged entirely has no changes entry left to find it by.
	for id := range purged {
		live, err := has(snap, docKey(id))
		if err != nil {
			return err
		}
		if !live {
			if err := c.removeDoc(w, id); err != nil {
				return err
			}
		}
	}
	err = foldChanges(snap, c.copiedSeq, func(ch *engines.DocInfo) error {
		if c.stop.Load() {
			return errCompactionCancelled
		}
		// A changes entry holds only the leaves.
		v, ok, err := getCopy(snap, docKey(ch.ID))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("changes entry %d names doc %q, which is not stored: %w", ch.UpdateSeq, ch.ID, engines.ErrCorrupt)
		}
		di, err := engines.DecodeDocInfo(v)
		if err != nil {
			return fmt.Errorf("doc %q: %w", ch.ID, err)
		}
		old, err := c.targetDoc(di.ID)
		if err != nil {
			return err
		}
		return c.putDoc(w, snap, di, old)
	})
	if err != nil {
		return err
	}
	w.set(stateKey, st.encode())
	if err := w.flush(pebble.NoSync); err != nil {
		return err
	}
	c.copiedSeq, c.copiedPurgeSeq = st.UpdateSeq, st.PurgeSeq
	return nil
}

func (c *compaction) targetDoc(id string) (*engines.DocInfo, error) {
	v, ok, err := getCopy(c.target, docKey(id))
	if err != nil || !ok {
		return nil, err
	}
	return engines.DecodeDocInfo(v)
}

// putDoc writes di (without interior values) to the target, replacing old,
// the target's current version of the document if any: only the bodies that
// old lacks are copied from snap, and old's bodies that di no longer has as
// leaves are deleted.
func (c *compaction) putDoc(w *writer, snap *pebble.Snapshot, di, old *engines.DocInfo) error {
	leaves := stripInterior(di)
	var oldLeaves []uint64
	if old != nil {
		oldLeaves = stripInterior(old)
		w.del(seqKey(old.UpdateSeq))
		for _, p := range oldLeaves {
			if !slices.Contains(leaves, p) {
				w.del(bodyKey(p))
			}
		}
	}
	enc := engines.AppendDocInfo(nil, di)
	w.set(docKey(di.ID), enc)
	w.set(seqKey(di.UpdateSeq), changesEntry(di, enc))
	for _, p := range leaves {
		if slices.Contains(oldLeaves, p) {
			continue
		}
		body, ok, err := getCopy(snap, bodyKey(p))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("doc %q: no body at pointer %d: %w", di.ID, p, engines.ErrCorrupt)
		}
		w.set(bodyKey(p), body)
	}
	return w.err
}

// removeDoc deletes a document and its bodies from the target.
func (c *compaction) removeDoc(w *writer, id string) error {
	old, err := c.targetDoc(id)
	if err != nil || old == nil {
		return err
	}
	w.del(docKey(id))
	w.del(seqKey(old.UpdateSeq))
	for _, p := range stripInterior(old) {
		w.del(bodyKey(p))
	}
	return w.err
}

// stripInterior drops the values of interior revisions and returns the body
// pointers of the leaves.
func stripInterior(di *engines.DocInfo) []uint64 {
	var ptrs []uint64
	stack := make([]*engines.RevNode, 0, 8)
	for _, b := range di.RevTree {
		stack = append(stack, b.Root)
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if len(n.Children) > 0 {
			n.Value = nil
			stack = append(stack, n.Children...)
		} else if n.Value != nil {
			ptrs = append(ptrs, n.Value.Ptr)
		}
	}
	return ptrs
}

// Finish implements engines.Compaction. Updater only.
func (c *compaction) Finish() error {
	d := c.d
	if d.compaction != c {
		return fmt.Errorf("pebble: %s: finish: compaction is not running: %w", d.path, engines.ErrInvalidWrite)
	}
	<-c.done
	if c.err != nil {
		d.compaction = nil
		return errors.Join(c.err, c.abort())
	}
	if err := d.Commit(); err != nil {
		return err
	}
	if err := c.finalCopy(); err != nil {
		d.compaction = nil
		return errors.Join(fmt.Errorf("pebble: %s: compaction: %w", d.path, err), c.abort())
	}
	if err := writeGen(d.fs, d.path, c.gen); err != nil {
		// The switch may or may not have reached the disk, so both
		// generations stay for the next Open to choose from.
		d.compaction = nil
		c.src.release()
		return errors.Join(d.fail(fmt.Errorf("compaction switch: %w", err)), c.target.Close())
	}
	old := d.cur.Load()
	old.remove = true
	d.cur.Store(newHandle(c.target, c.dir, d.fs, &d.handles, &d.errs))
	d.lastWritten.Reset() // the copies point at moved bodies
	d.gen = c.gen
	d.compaction = nil
	c.src.release()
	old.release()
	return nil
}

// finalCopy brings the target level with the (now committed and quiet) live
// generation and makes it durable.
func (c *compaction) finalCopy() error {
	d := c.d
	snap := c.src.pdb.NewSnapshot()
	defer snap.Close()
	st, err := loadState(snap)
	if err != nil {
		return err
	}
	if err := c.catchUp(snap, st); err != nil {
		return err
	}
	w := c.newWriter()
	defer w.close()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefixStart(prefixLocal), UpperBound: prefixEnd(prefixLocal)})
	if err != nil {
		return err
	}
	err = iterate(it, false, func(k, v []byte) error {
		w.set(k, v)
		return w.err
	})
	_ = it.Close()
	if err != nil {
		return err
	}
	// Bodies written since the last WriteDocInfos may be named by the next
	// one.
	for p := d.lastInfosPtr; p < d.nextPtr; p++ {
		body, ok, err := getCopy(snap, bodyKey(p))
		if err != nil {
			return err
		}
		if ok {
			w.set(bodyKey(p), body)
		}
	}
	// Purges made during the copy may have pushed older infos past the
	// limit.
	if cut := purgeCutoff(st); cut > 0 {
		it, err := c.target.NewIter(&pebble.IterOptions{LowerBound: purgeKey(0), UpperBound: purgeKey(cut + 1)})
		if err != nil {
			return err
		}
		err = iterate(it, false, func(k, v []byte) error {
			pi, err := engines.DecodePurgeInfo(v)
			if err != nil {
				return err
			}
			w.del(append([]byte(nil), k...))
			uk := purgeUUIDKey(pi.UUID)
			s, ok, err := getCopy(c.target, uk)
			if err != nil {
				return err
			}
			if ok && bytes.Equal(s, k[1:]) {
				w.del(uk)
			}
			return w.err
		})
		_ = it.Close()
		if err != nil {
			return err
		}
	}
	w.set(stateKey, st.encode())
	return w.flush(pebble.Sync)
}

// Cancel implements engines.Compaction. Updater only.
func (c *compaction) Cancel() error {
	if c.d.compaction != c {
		return nil
	}
	return c.cancel()
}

func (c *compaction) cancel() error {
	c.stop.Store(true)
	<-c.done
	c.d.compaction = nil
	return c.abort()
}

// abort releases the source and removes the target.
func (c *compaction) abort() error {
	c.src.release()
	err := c.target.Close()
	if rerr := c.d.fs.RemoveAll(c.dir); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("pebble: %s: removing compaction target: %w", c.d.path, err)
	}
	return nil
}

// writer fills the target in batches of about copyBatchBytes; the first
// failure sticks in err.
type writer struct {
	db  *pebble.DB
	b   *pebble.Batch
	err error
}

func (c *compaction) newWriter() *writer {
	return &writer{db: c.target, b: c.target.NewBatch()}
}

func (w *writer) set(k, v []byte) {
	if w.err == nil {
		_ = w.b.Set(k, v, nil)
		w.maybeFlush()
	}
}

func (w *writer) del(k []byte) {
	if w.err == nil {
		_ = w.b.Delete(k, nil)
		w.maybeFlush()
	}
}

func (w *writer) maybeFlush() {
	if w.b.Len() >= copyBatchBytes {
		w.err = w.flush(pebble.NoSync)
	}
}

func (w *writer) flush(opts *pebble.WriteOptions) error {
	if w.err != nil {
		return w.err
	}
	if w.b.Empty() {
		return nil
	}
	err := commitBatch(w.b, opts)
	_ = w.b.Close()
	w.b = w.db.NewBatch()
	if err != nil {
		w.err = err
	}
	return err
}

func (w *writer) close() { _ = w.b.Close() }
