package couchfile

import (
	"fmt"
	"io"
)

// maxTreeHeight bounds the walk of a corrupt tree; a real one of 4 KiB
// nodes is a handful of levels high.
const maxTreeHeight = 64

// Check walks every tree of the current snapshot and verifies the chunk
// checksums of every node, body, attachment chunk and the security object,
// key order within and across nodes, that each interior key is its child's
// last key, the reductions and subtree sizes, and that the indexes agree:
// one changes entry per document at its UpdateSeq, purge infos indexed by
// both sequence and UUID. It returns an error wrapping ErrCorrupt at the
// first inconsistency. Any goroutine.
func (db *DB) Check() error {
	s, err := db.acquire()
	if err != nil {
		return err
	}
	defer s.st.release()
	if err := s.check(); err != nil {
		return db.errorf("check: %w", err)
	}
	return nil
}

func (s *snapshot) check() error {
	for kind := range numTrees {
		if err := s.checkTree(kind); err != nil {
			return fmt.Errorf("%s tree: %w", treeNames[kind], err)
		}
	}
	checks := []func() error{s.checkDocs, s.checkChanges, s.checkLocals, s.checkPurges, s.checkAtts}
	for _, c := range checks {
		if err := c(); err != nil {
			return err
		}
	}
	if s.h.securityPtr != 0 {
		if _, err := s.st.readChunk(s.h.securityPtr, kindSecurity, blockSize); err != nil {
			return fmt.Errorf("security object: %w", err)
		}
	}
	return nil
}

// treeWalk is the state of one tree's structural check.
type treeWalk struct {
	t       tree
	last    string
	any     bool
	entries uint64
}

func (s *snapshot) checkTree(kind int) error {
	root := s.h.roots[kind]
	if root.ptr == 0 {
		if root != (ref{}) {
			return corruptf("empty root with reduction %+v", root)
		}
		return nil
	}
	w := &treeWalk{t: s.tree(kind)}
	_, red, size, err := w.walk(root.ptr, 0)
	if err != nil {
		return err
	}
	if red != root.red || size != root.size {
		return corruptf("root says %+v/%d, tree holds %+v/%d", root.red, root.size, red, size)
	}
	return nil
}

// walk checks the subtree at ptr and returns its last key, reduction and
// size.
func (w *treeWalk) walk(ptr uint64, depth int) (string, reduction, uint64, error) {
	if depth > maxTreeHeight {
		return "", reduction{}, 0, corruptf("tree deeper than %d", maxTreeHeight)
	}
	n, err := w.t.s.readNode(ptr)
	if err != nil {
		return "", reduction{}, 0, err
	}
	_, size, err := w.t.s.readPayload(ptr, blockSize)
	if err != nil {
		return "", reduction{}, 0, err
	}
	var red reduction
	for i, k := range n.keys {
		if n.leaf {
			if w.any && k <= w.last {
				return "", reduction{}, 0, corruptf("node %d: key %q after %q", ptr, k, w.last)
			}
			w.last, w.any = k, true
			r, err := reduceValue(w.t.kind, n.vals[i])
			if err != nil {
				return "", reduction{}, 0, fmt.Errorf("node %d key %q: %w", ptr, k, err)
			}
			red = red.add(r)
			continue
		}
		kid := n.kids[i]
		last, kred, ksize, err := w.walk(kid.ptr, depth+1)
		if err != nil {
			return "", reduction{}, 0, err
		}
		if last != k {
			return "", reduction{}, 0, corruptf("node %d: entry key %q, child's last key %q", ptr, k, last)
		}
		if kred != kid.red || ksize != kid.size {
			return "", reduction{}, 0, corruptf("node %d: child %d says %+v/%d, holds %+v/%d", ptr, kid.ptr, kid.red, kid.size, kred, ksize)
		}
		red = red.add(kred)
		size += ksize
	}
	return n.keys[len(n.keys)-1], red, size, nil
}

// checkDocs decodes every doc info and reads every leaf body.
func (s *snapshot) checkDocs() error {
	return s.tree(treeID).fold(s.h.roots[treeID], bounds{}, false, func(k, v string) error {
		di, err := decodeIDValue(k, v)
		if err != nil {
			return err
		}
		if di.UpdateSeq == 0 || di.UpdateSeq > s.h.updateSeq {
			return corruptf("doc %q: UpdateSeq %d, database at %d", k, di.UpdateSeq, s.h.updateSeq)
		}
		if len(di.RevTree) == 0 {
			return corruptf("doc %q: empty rev tree", k)
		}
		for rev, v := range leafValues(di) {
			off, err := s.st.bodyOffset(v.Ptr)
			if err == nil {
				_, err = s.st.readChunk(off, kindBody, 2*blockSize)
			}
			if err != nil {
				return fmt.Errorf("doc %q leaf %d-%s: %w", k, rev.pos, rev.id, err)
			}
		}
		return nil
	})
}

// checkChanges checks that the seq tree has one entry per document, at
// the document's UpdateSeq.
func (s *snapshot) checkChanges() error {
	if a, b := s.h.roots[treeSeq].red.count, s.h.roots[treeID].red.count; a != b {
		return corruptf("%d changes entries for %d docs", a, b)
	}
	var seqs []uint64
	var ids []string
	flush := func() error {
		_, err := s.resolveChanges(seqs, ids)
		seqs, ids = seqs[:0], ids[:0]
		return err
	}
	err := s.tree(treeSeq).fold(s.h.roots[treeSeq], bounds{}, false, func(k, v string) error {
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
	if err == nil {
		err = flush()
	}
	return err
}

func (s *snapshot) checkLocals() error {
	return s.tree(treeLocal).fold(s.h.roots[treeLocal], bounds{}, false, func(k, v string) error {
		_, err := decodeLocal(k, v)
		return err
	})
}

// checkPurges checks that both purge indexes hold the same infos.
func (s *snapshot) checkPurges() error {
	if a, b := s.h.roots[treePurgeSeq].red.count, s.h.roots[treePurgeUUID].red.count; a != b {
		return corruptf("%d purge infos by seq, %d by uuid", a, b)
	}
	err := s.tree(treePurgeSeq).fold(s.h.roots[treePurgeSeq], bounds{}, false, func(k, v string) error {
		pi, err := decodePurge(k, v)
		if err != nil {
			return err
		}
		if pi.Seq > s.h.purgeSeq {
			return corruptf("purge info %d above purge seq %d", pi.Seq, s.h.purgeSeq)
		}
		_, ok, err := s.tree(treePurgeUUID).get(s.h.roots[treePurgeUUID], purgeUUIDKey(pi.UUID, pi.Seq))
		if err == nil && !ok {
			err = corruptf("purge info %d missing from the uuid index", pi.Seq)
		}
		return err
	})
	return err
}

// checkAtts reads every attachment through.
func (s *snapshot) checkAtts() error {
	return s.tree(treeAtt).fold(s.h.roots[treeAtt], bounds{}, false, func(k, v string) error {
		id, err := keySeq(k)
		if err != nil {
			return err
		}
		if id == 0 || id > s.h.nextAttID {
			return corruptf("attachment %d beyond the next ID %d", id, s.h.nextAttID)
		}
		loc, err := decodeAttLoc(v)
		if err != nil {
			return err
		}
		pos, stored := int64(loc.offset), uint64(0)
		for range loc.chunks {
			_, size, err := s.st.readPayload(uint64(pos), attChunk+64)
			if err != nil {
				return fmt.Errorf("attachment %d: %w", id, err)
			}
			pos += rawSpan(pos, int64(size))
			stored += size
		}
		r := &attReader{st: s.st, loc: loc, pos: int64(loc.offset)}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return fmt.Errorf("attachment %d: %w", id, err)
		}
		if stored != loc.stored {
			return corruptf("attachment %d: %d bytes stored, location says %d", id, stored, loc.stored)
		}
		return nil
	})
}
