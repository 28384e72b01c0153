package couchfile

import (
	"cmp"
	"slices"

	"github.com/couchfs/couchfs/engines"
)

// WriteDocBody appends body as a chunk, snappy-compressed when that saves
// space, and returns its pointer (offset and file generation) and its
// stored (logical chunk) size. Updater only.
func (db *DB) WriteDocBody(body []byte) (uint64, uint64, error) {
	if err := db.writable(); err != nil {
		return 0, 0, err
	}
	if db.st.end >= offsetMask {
		return 0, 0, db.errorf("file reached %d bytes: %w", db.st.end, engines.ErrReadOnly)
	}
	off, size, err := db.st.appendData(kindBody, body, true)
	if err != nil {
		return 0, 0, db.fail(err)
	}
	return db.st.bodyPtr(off), size, nil
}

var _ engines.BodyEncoder = (*DB)(nil)

// EncodeDocBody implements engines.BodyEncoder: the body chunk's payload,
// snappy-compressed when that saves space. Any goroutine.
func (db *DB) EncodeDocBody(body []byte) []byte {
	return encodePayload(nil, kindBody, body, true, false)
}

// WriteEncodedDocBody implements engines.BodyEncoder: WriteDocBody for a
// payload EncodeDocBody returned. Updater only.
func (db *DB) WriteEncodedDocBody(enc []byte) (uint64, uint64, error) {
	if err := db.writable(); err != nil {
		return 0, 0, err
	}
	if len(enc) == 0 || enc[0]>>4 != kindBody || enc[0]&0x0f&^encSnappy != 0 {
		return 0, 0, db.errorf("encoded body: not a body payload: %w", engines.ErrInvalidWrite)
	}
	if db.st.end >= offsetMask {
		return 0, 0, db.errorf("file reached %d bytes: %w", db.st.end, engines.ErrReadOnly)
	}
	off, size, err := db.st.appendPayload(enc)
	if err != nil {
		return 0, 0, db.fail(err)
	}
	return db.st.bodyPtr(off), size, nil
}

// SetUpdateSeq raises UpdateSeq to seq as part of the next Commit.
// Updater only.
func (db *DB) SetUpdateSeq(seq uint64) error {
	if err := db.writable(); err != nil {
		return err
	}
	if seq > db.snap.Load().h.updateSeq {
		s := db.next()
		s.h.updateSeq = seq
		db.publish(s)
	}
	return nil
}

// deepTreeBytes is the encoded size below which a doc info cannot exceed
// the codec's rev-tree depth bound (1<<16 nodes of at least 3 bytes).
const deepTreeBytes = 1 << 17

// maxKeptArena bounds the encoding buffer a database keeps between writes:
// a bulk load's is dropped rather than held while the database idles.
const maxKeptArena = 256 << 10

// docWrite is one validated pair of a WriteDocInfos call.
type docWrite struct {
	id     string
	oldSeq uint64 // 0 when there is no Old
	newSeq uint64 // 0 when New is nil
	val    string // the new id-tree value
}

// WriteDocInfos validates the whole write, then applies it to the trees
// and publishes the result as one new snapshot, so readers see all of it
// or none; it becomes durable with the next Commit. A contract violation
// returns ErrInvalidWrite with nothing applied. Updater only.
func (db *DB) WriteDocInfos(pairs []engines.DocInfoPair, locals []engines.LocalDoc, purges []engines.PurgeInfo) error {
	if err := db.writable(); err != nil {
		return err
	}
	s := db.next()
	docs, err := db.validateDocs(s, pairs)
	if err != nil {
		return err
	}
	if err := db.validateRest(s, locals, purges); err != nil {
		return err
	}
	if err := s.applyDocs(docs); err != nil {
		return db.fail(err)
	}
	if err := s.applyLocals(locals); err != nil {
		return db.fail(err)
	}
	if err := s.applyPurges(purges); err != nil {
		return db.fail(err)
	}
	db.publish(s)
	db.lastWritten.Record(pairs)
	// Record what changed only after publishing: a compaction catching up
	// takes the record first and reads the snapshot second, so it can see
	// a change twice but never miss one.
	if c := db.compaction; c != nil {
		c.touch(docs, locals)
	}
	return nil
}

// validateDocs checks every pair against s and encodes the new values.
func (db *DB) validateDocs(s *snapshot, pairs []engines.DocInfoPair) ([]docWrite, error) {
	invalid := func(format string, args ...any) error {
		return db.errorf(format+": %w", append(args, engines.ErrInvalidWrite)...)
	}
	docs := make([]docWrite, len(pairs))
	olds := make([]*engines.DocInfo, len(pairs))
	// Encode every new value into one reused buffer and cut a string per
	// value from it. One string per value, not substrings of one per
	// write: a node cached for one document must not keep a whole bulk
	// write's values alive.
	arena := db.arena[:0]
	defer func() {
		if cap(arena) <= maxKeptArena {
			db.arena = arena[:0]
		}
	}()
	ends := make([]int, len(pairs))
	for i, p := range pairs {
		switch {
		case p.Old == nil && p.New == nil:
			return nil, invalid("pair %d has neither Old nor New", i)
		case p.Old != nil && p.New != nil && p.Old.ID != p.New.ID:
			return nil, invalid("pair %d: Old %q and New %q differ in ID", i, p.Old.ID, p.New.ID)
		case p.Old != nil:
			docs[i].id = p.Old.ID
		default:
			docs[i].id = p.New.ID
		}
		olds[i] = p.Old
		if di := p.New; di != nil {
			if err := checkNewDocInfo(di); err != nil {
				return nil, invalid("doc %q: %v", di.ID, err)
			}
			docs[i].newSeq = di.UpdateSeq
			start := len(arena)
			arena = appendIDValue(arena, di)
			if len(arena)-start > deepTreeBytes {
				// Only a huge encoding can hold a tree deeper than the
				// codec decodes; prove it reads back before storing it.
				if _, err := decodeIDValue(di.ID, string(arena[start:])); err != nil {
					return nil, invalid("doc %q cannot be stored: %v", di.ID, err)
				}
			}
		}
		ends[i] = len(arena)
	}
	start := 0
	for i := range docs {
		if docs[i].newSeq != 0 {
			docs[i].val = string(arena[start:ends[i]])
		}
		start = ends[i]
	}
	order := make([]int, len(docs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(docs[a].id, docs[b].id) })
	sorted := make([]docWrite, len(docs))
	ids := make([]string, len(docs))
	for i, j := range order {
		sorted[i], ids[i] = docs[j], docs[j].id
		if i > 0 && ids[i] == ids[i-1] {
			return nil, invalid("doc %q twice in one write", ids[i])
		}
	}
	stored, found, err := s.tree(treeID).lookup(s.h.roots[treeID], ids)
	if err != nil {
		return nil, db.errorf("%w", err)
	}
	freed := map[uint64]bool{}
	var enc []byte // Old's encoding, one buffer for every pair
	for i, j := range order {
		old := olds[j]
		if old == nil {
			if found[i] {
				return nil, invalid("doc %q exists but Old is nil", ids[i])
			}
			continue
		}
		if !found[i] {
			return nil, invalid("doc %q: Old given for a missing doc", ids[i])
		}
		iv, err := splitIDValue(stored[i])
		if err != nil {
			return nil, db.errorf("doc %q: %w", ids[i], err)
		}
		// An Old this database stored itself is what it stored.
		if !db.lastWritten.Matches(old) {
			enc = engines.AppendDocInfo(enc[:0], old)
			if iv.docInfo != string(enc) {
				return nil, invalid("doc %q: Old does not match the stored doc info", ids[i])
			}
		}
		sorted[i].oldSeq = old.UpdateSeq
		freed[old.UpdateSeq] = true
	}
	if err := db.checkSeqs(s, sorted, freed); err != nil {
		return nil, err
	}
	return sorted, nil
}

// checkNewDocInfo rejects a doc info the engine could not store and read
// back.
func checkNewDocInfo(di *engines.DocInfo) error {
	if len(di.RevTree) == 0 {
		return errString("empty rev tree")
	}
	for _, b := range di.RevTree {
		if b.Root == nil {
			return errString("nil branch root")
		}
	}
	if di.UpdateSeq == 0 {
		return errString("UpdateSeq 0")
	}
	return nil
}

// errString is a constant error for messages that get wrapped again.
type errString string

func (e errString) Error() string { return string(e) }

// checkSeqs rejects a write that would leave two documents at one update
// sequence: each new sequence must be unused or freed by this write.
func (db *DB) checkSeqs(s *snapshot, docs []docWrite, freed map[uint64]bool) error {
	seqs := make([]uint64, 0, len(docs))
	for _, d := range docs {
		if d.newSeq != 0 {
			seqs = append(seqs, d.newSeq)
		}
	}
	slices.Sort(seqs)
	keys := make([]string, 0, len(seqs))
	for i, seq := range seqs {
		if i > 0 && seq == seqs[i-1] {
			return db.errorf("UpdateSeq %d twice in one write: %w", seq, engines.ErrInvalidWrite)
		}
		if !freed[seq] {
			keys = append(keys, seqKey(seq))
		}
	}
	_, found, err := s.tree(treeSeq).lookup(s.h.roots[treeSeq], keys)
	if err != nil {
		return db.errorf("%w", err)
	}
	for i, k := range keys {
		if found[i] {
			seq, _ := keySeq(k)
			return db.errorf("UpdateSeq %d already used: %w", seq, engines.ErrInvalidWrite)
		}
	}
	return nil
}

// validateRest checks the local docs and purge infos of a write.
func (db *DB) validateRest(s *snapshot, locals []engines.LocalDoc, purges []engines.PurgeInfo) error {
	for _, ld := range locals {
		if ld.ID == "" {
			return db.errorf("local doc without ID: %w", engines.ErrInvalidWrite)
		}
	}
	last := s.h.purgeSeq
	for _, pi := range purges {
		if pi.Seq <= last {
			return db.errorf("purge seq %d not above %d: %w", pi.Seq, last, engines.ErrInvalidWrite)
		}
		last = pi.Seq
	}
	return nil
}

// applyDocs updates the id and seq trees of s for validated docs, sorted
// by ID.
func (s *snapshot) applyDocs(docs []docWrite) error {
	if len(docs) == 0 {
		return nil
	}
	idActs := make([]action, len(docs))
	seqActs := make([]action, 0, 2*len(docs))
	for i, d := range docs {
		idActs[i] = action{key: d.id, val: d.val, remove: d.newSeq == 0}
		if d.oldSeq != 0 {
			seqActs = append(seqActs, action{key: seqKey(d.oldSeq), remove: true})
		}
		if d.newSeq != 0 {
			seqActs = append(seqActs, action{key: seqKey(d.newSeq), val: d.id})
			s.h.updateSeq = max(s.h.updateSeq, d.newSeq)
		}
	}
	var err error
	if s.h.roots[treeID], err = s.tree(treeID).modify(s.h.roots[treeID], idActs); err != nil {
		return err
	}
	s.h.roots[treeSeq], err = s.tree(treeSeq).modify(s.h.roots[treeSeq], normalize(seqActs))
	return err
}

// normalize sorts actions by key and keeps one per key: an insert wins
// over a removal of the same key (a sequence freed and reused in one
// write), and otherwise the last action given wins.
func normalize(acts []action) []action {
	byKey := func(a, b action) int { return cmp.Compare(a.key, b.key) }
	if !slices.IsSortedFunc(acts, byKey) {
		slices.SortStableFunc(acts, byKey)
	}
	out := acts[:0]
	for _, a := range acts {
		if n := len(out); n > 0 && out[n-1].key == a.key {
			if !a.remove || out[n-1].remove {
				out[n-1] = a
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// applyLocals writes or removes local docs; for an ID given twice the last
// write wins.
func (s *snapshot) applyLocals(locals []engines.LocalDoc) error {
	if len(locals) == 0 {
		return nil
	}
	acts := make([]action, len(locals))
	for i := range locals {
		ld := &locals[i]
		acts[i] = action{key: ld.ID, remove: ld.Deleted}
		if !ld.Deleted {
			acts[i].val = string(engines.AppendLocalDoc(nil, ld))
		}
	}
	slices.SortStableFunc(acts, func(a, b action) int { return cmp.Compare(a.key, b.key) })
	out := acts[:0]
	for _, a := range acts {
		if n := len(out); n > 0 && out[n-1].key == a.key {
			out[n-1] = a
			continue
		}
		out = append(out, a)
	}
	var err error
	s.h.roots[treeLocal], err = s.tree(treeLocal).modify(s.h.roots[treeLocal], out)
	return err
}

// applyPurges records purge infos by sequence and by UUID.
func (s *snapshot) applyPurges(purges []engines.PurgeInfo) error {
	if len(purges) == 0 {
		return nil
	}
	bySeq := make([]action, len(purges))
	byUUID := make([]action, len(purges))
	for i := range purges {
		pi := &purges[i]
		bySeq[i] = action{key: seqKey(pi.Seq), val: string(engines.AppendPurgeInfo(nil, pi))}
		byUUID[i] = action{key: purgeUUIDKey(pi.UUID, pi.Seq)}
		s.h.purgeSeq = max(s.h.purgeSeq, pi.Seq)
	}
	slices.SortFunc(byUUID, func(a, b action) int { return cmp.Compare(a.key, b.key) })
	var err error
	if s.h.roots[treePurgeSeq], err = s.tree(treePurgeSeq).modify(s.h.roots[treePurgeSeq], bySeq); err != nil {
		return err
	}
	s.h.roots[treePurgeUUID], err = s.tree(treePurgeUUID).modify(s.h.roots[treePurgeUUID], byUUID)
	return err
}
