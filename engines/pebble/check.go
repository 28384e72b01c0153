package pebble

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/couchfs/couchfs/engines"
)

// Check implements engines.Checker on one snapshot: every record decodes and
// sits under its own key, the changes index and the doc infos name each
// other one to one, the counters and sizes of the state record match the
// doc infos, every revision value's body exists, and purge infos agree with
// their UUID index. Any goroutine.
func (d *db) Check() error {
	h, err := d.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	snap := h.pdb.NewSnapshot()
	defer snap.Close()
	if err := check(snap); err != nil {
		return fmt.Errorf("pebble: check %s: %w", d.path, err)
	}
	return nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), engines.ErrCorrupt)
}

func check(snap *pebble.Snapshot) error {
	st, err := loadState(snap)
	if err != nil {
		return err
	}
	var docs, dels, active, external, nseq uint64
	err = scan(snap, prefixDoc, func(k, v []byte) error {
		di, err := engines.DecodeDocInfo(v)
		if err != nil {
			return fmt.Errorf("doc %q: %w", k[1:], err)
		}
		if di.ID != string(k[1:]) {
			return corrupt("doc info %q stored under %q", di.ID, k[1:])
		}
		if len(di.RevTree) == 0 {
			return corrupt("doc %q: empty revision tree", di.ID)
		}
		if di.UpdateSeq > st.UpdateSeq {
			return corrupt("doc %q: update seq %d above the database's %d", di.ID, di.UpdateSeq, st.UpdateSeq)
		}
		entry, ok, err := getCopy(snap, seqKey(di.UpdateSeq))
		if err != nil {
			return err
		}
		// Databases written before changes entries held only the leaves
		// hold the whole doc info there.
		if !ok || (!bytes.Equal(entry, v) && !bytes.Equal(entry, changesEntry(di, v))) {
			return corrupt("doc %q: changes entry %d does not hold its doc info", di.ID, di.UpdateSeq)
		}
		if di.Deleted {
			dels++
		} else {
			docs++
		}
		active += di.ActiveSize
		external += di.ExternalSize
		return checkBodies(snap, di, st.NextPtr)
	})
	if err != nil {
		return err
	}
	err = scan(snap, prefixSeq, func(k, v []byte) error {
		seq, ok := keyUint(k)
		if !ok {
			return corrupt("malformed changes key %x", k)
		}
		di, err := engines.DecodeDocInfo(v)
		if err != nil {
			return corrupt("changes entry %d: %v", seq, err)
		}
		if di.UpdateSeq != seq {
			return corrupt("changes entry %d holds doc %q at seq %d", seq, di.ID, di.UpdateSeq)
		}
		nseq++
		return nil
	})
	if err != nil {
		return err
	}
	if nseq != docs+dels {
		return corrupt("%d changes entries for %d docs", nseq, docs+dels)
	}
	if docs != st.DocCount || dels != st.DelDocCount {
		return corrupt("counted %d docs and %d deleted, state says %d and %d", docs, dels, st.DocCount, st.DelDocCount)
	}
	if active != st.ActiveSize || external != st.ExternalSize {
		return corrupt("summed sizes active %d external %d, state says %d and %d", active, external, st.ActiveSize, st.ExternalSize)
	}
	if err := checkPurges(snap, st); err != nil {
		return err
	}
	return scan(snap, prefixLocal, func(k, v []byte) error {
		ld, err := engines.DecodeLocalDoc(v)
		if err != nil {
			return fmt.Errorf("local doc %q: %w", k[1:], err)
		}
		if ld.ID != string(k[1:]) {
			return corrupt("local doc %q stored under %q", ld.ID, k[1:])
		}
		return nil
	})
}

func checkBodies(snap *pebble.Snapshot, di *engines.DocInfo, nextPtr uint64) error {
	stack := make([]*engines.RevNode, 0, 8)
	for _, b := range di.RevTree {
		if b.Root == nil {
			return corrupt("doc %q: branch without a root", di.ID)
		}
		stack = append(stack, b.Root)
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		stack = append(stack, n.Children...)
		if n.Value == nil {
			continue
		}
		if n.Value.Ptr >= nextPtr {
			return corrupt("doc %q rev %s: body pointer %d not yet allocated", di.ID, n.ID, n.Value.Ptr)
		}
		ok, err := has(snap, bodyKey(n.Value.Ptr))
		if err != nil {
			return err
		}
		if !ok {
			return corrupt("doc %q rev %s: no body at pointer %d", di.ID, n.ID, n.Value.Ptr)
		}
	}
	return nil
}

func checkPurges(snap *pebble.Snapshot, st *state) error {
	var n uint64
	err := scan(snap, prefixPurge, func(k, v []byte) error {
		seq, ok := keyUint(k)
		if !ok {
			return corrupt("malformed purge key %x", k)
		}
		pi, err := engines.DecodePurgeInfo(v)
		if err != nil {
			return fmt.Errorf("purge info %d: %w", seq, err)
		}
		if pi.Seq != seq || seq > st.PurgeSeq {
			return corrupt("purge info %d stored under seq %d (purge seq %d)", pi.Seq, seq, st.PurgeSeq)
		}
		s, ok, err := getCopy(snap, purgeUUIDKey(pi.UUID))
		if err != nil {
			return err
		}
		// A UUID given to several requests indexes the latest of them.
		if !ok || len(s) != 8 || binary.BigEndian.Uint64(s) < seq {
			return corrupt("purge info %d: uuid %q not indexed", seq, pi.UUID)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	var u uint64
	err = scan(snap, prefixPurgeUUID, func(k, v []byte) error {
		if len(v) != 8 {
			return corrupt("purge uuid %q: malformed value", k[1:])
		}
		enc, ok, err := getCopy(snap, purgeKey(binary.BigEndian.Uint64(v)))
		if err != nil {
			return err
		}
		if !ok {
			return corrupt("purge uuid %q names missing purge info", k[1:])
		}
		pi, err := engines.DecodePurgeInfo(enc)
		if err != nil {
			return err
		}
		if !bytes.Equal([]byte(pi.UUID), k[1:]) {
			return corrupt("purge uuid %q names info of %q", k[1:], pi.UUID)
		}
		u++
		return nil
	})
	if err != nil {
		return err
	}
	if u > n {
		return corrupt("%d purge uuids for %d purge infos", u, n)
	}
	return nil
}

// scan visits every entry under prefix.
func scan(snap *pebble.Snapshot, prefix byte, fn func(k, v []byte) error) error {
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefixStart(prefix), UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	return iterate(it, false, fn)
}
