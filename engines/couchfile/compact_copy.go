package couchfile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/couchfs/couchfs/engines"
)

// copyAll copies snapshot src into the empty copy.
func (c *compaction) copyAll(src *snapshot) error {
	c.h = header{uuid: src.h.uuid, generation: src.h.generation + 1}
	if err := c.dst.commit(&c.h); err != nil { // offset 0 holds a header, never a node
		return err
	}
	minSeq := minPurgeSeq(&src.h)
	steps := []func() error{
		func() error { return c.copyDocs(src) },
		func() error { return c.copyVerbatim(src, treeSeq, bounds{}) },
		func() error { return c.copyVerbatim(src, treeLocal, bounds{}) },
		func() error {
			return c.copyVerbatim(src, treePurgeSeq, bounds{lo: seqKey(minSeq), hasLo: true, loOpen: true})
		},
		func() error { return c.copyPurgeUUIDs(src, minSeq) },
		func() error { return c.copyAtts(src, bounds{}) },
		func() error { return c.copySecurity(src) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	c.copiedAttID, c.copiedPurges = src.h.nextAttID, src.h.purgeSeq
	c.setFields(src)
	c.setProgress(1)
	return nil
}

// minPurgeSeq is the purge seq at and below which compaction drops purge
// infos.
func minPurgeSeq(h *header) uint64 {
	if h.purgeSeq > h.purgeInfosLimit {
		return h.purgeSeq - h.purgeInfosLimit
	}
	return 0
}

// setFields copies the source's header fields into the copy's header.
func (c *compaction) setFields(src *snapshot) {
	roots, secPtr, gen := c.h.roots, c.h.securityPtr, c.h.generation
	c.h = src.h
	c.h.roots, c.h.securityPtr, c.h.generation = roots, secPtr, gen
	c.h.compactedSeq = src.h.updateSeq
}

func (c *compaction) dstTree(kind int) tree { return tree{s: c.dst, kind: kind} }

// copyDocs copies the id tree, each doc info with its leaf bodies only.
func (c *compaction) copyDocs(src *snapshot) error {
	b := newBuilder(c.dstTree(treeID))
	total := max(src.h.roots[treeID].red.count, 1)
	var n uint64
	err := src.tree(treeID).fold(src.h.roots[treeID], bounds{}, false, func(k, v string) error {
		if err := c.cancelled(); err != nil {
			return err
		}
		di, err := decodeIDValue(k, v)
		if err != nil {
			return err
		}
		if err := c.copyDoc(src.st, di, nil); err != nil {
			return err
		}
		n++
		if n%256 == 0 {
			c.setProgress(float64(n) / float64(total))
		}
		return b.add(k, string(appendIDValue(nil, di)))
	})
	if err != nil {
		return err
	}
	c.h.roots[treeID], err = b.finish()
	return err
}

type revKey struct {
	pos uint64
	id  string
}

// copyDoc rewrites di for the copy: interior revisions lose their values
// and leaf bodies are copied, or taken from reuse (the copy's leaves of
// the same document) when the copy already holds that revision's body.
func (c *compaction) copyDoc(src *store, di *engines.DocInfo, reuse map[revKey]engines.RevValue) error {
	type item struct {
		n   *engines.RevNode
		pos uint64
	}
	var stack []item
	for _, br := range di.RevTree {
		stack = append(stack, item{br.Root, br.Start})
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if len(it.n.Children) > 0 {
			it.n.Value = nil
			for _, ch := range it.n.Children {
				stack = append(stack, item{ch, it.pos + 1})
			}
			continue
		}
		v := it.n.Value
		if v == nil {
			continue
		}
		if old, ok := reuse[revKey{it.pos, it.n.ID}]; ok && old.Seq == v.Seq && old.Size == v.Size && old.Deleted == v.Deleted {
			v.Ptr = old.Ptr
			continue
		}
		off, err := src.bodyOffset(v.Ptr)
		if err != nil {
			return fmt.Errorf("doc %q: %w", di.ID, err)
		}
		p, _, err := src.readPayload(off, 2*blockSize)
		if err != nil {
			return fmt.Errorf("doc %q body: %w", di.ID, err)
		}
		if len(p) == 0 || p[0]>>4 != kindBody {
			return corruptf("doc %q: pointer %d is not a body", di.ID, v.Ptr)
		}
		if off, _, err = c.dst.appendPayload(p); err != nil {
			return err
		}
		v.Ptr = c.dst.bodyPtr(off)
	}
	return nil
}

// leafValues indexes the leaf values of di by revision.
func leafValues(di *engines.DocInfo) map[revKey]engines.RevValue {
	m := map[revKey]engines.RevValue{}
	type item struct {
		n   *engines.RevNode
		pos uint64
	}
	var stack []item
	for _, br := range di.RevTree {
		stack = append(stack, item{br.Root, br.Start})
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if len(it.n.Children) == 0 && it.n.Value != nil {
			m[revKey{it.pos, it.n.ID}] = *it.n.Value
		}
		for _, ch := range it.n.Children {
			stack = append(stack, item{ch, it.pos + 1})
		}
	}
	return m
}

// copyVerbatim copies the entries of a tree within b unchanged.
func (c *compaction) copyVerbatim(src *snapshot, kind int, b bounds) error {
	bl := newBuilder(c.dstTree(kind))
	err := src.tree(kind).fold(src.h.roots[kind], b, false, func(k, v string) error {
		if err := c.cancelled(); err != nil {
			return err
		}
		return bl.add(k, v)
	})
	if err != nil {
		return err
	}
	c.h.roots[kind], err = bl.finish()
	return err
}

// copyPurgeUUIDs copies the UUID index of the purge infos above minSeq.
func (c *compaction) copyPurgeUUIDs(src *snapshot, minSeq uint64) error {
	bl := newBuilder(c.dstTree(treePurgeUUID))
	err := src.tree(treePurgeUUID).fold(src.h.roots[treePurgeUUID], bounds{}, false, func(k, v string) error {
		if len(k) < 8 {
			return corruptf("purge uuid key of %d bytes", len(k))
		}
		if seq, _ := keySeq(k[len(k)-8:]); seq > minSeq {
			return bl.add(k, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.h.roots[treePurgeUUID], err = bl.finish()
	return err
}

// copyAtts copies every attachment within b, keeping its ID. The engine
// cannot tell which attachments documents still use, so it keeps them all.
func (c *compaction) copyAtts(src *snapshot, b bounds) error {
	bl := newBuilder(c.dstTree(treeAtt))
	err := src.tree(treeAtt).fold(src.h.roots[treeAtt], b, false, func(k, v string) error {
		loc, err := c.copyAtt(src.st, v)
		if err != nil {
			return err
		}
		return bl.add(k, string(appendAttLoc(nil, loc)))
	})
	if err != nil {
		return err
	}
	c.h.roots[treeAtt], err = bl.finish()
	return err
}

func (c *compaction) copyAtt(src *store, v string) (attLoc, error) {
	loc, err := decodeAttLoc(v)
	if err != nil {
		return attLoc{}, err
	}
	out := loc
	pos := int64(loc.offset)
	for i := uint64(0); i < loc.chunks; i++ {
		p, _, err := src.readPayload(uint64(pos), attChunk+64)
		if err != nil {
			return attLoc{}, err
		}
		if len(p) == 0 || p[0]>>4 != kindAtt {
			return attLoc{}, corruptf("attachment chunk at %d", pos)
		}
		ptr, _, err := c.dst.appendPayload(p)
		if err != nil {
			return attLoc{}, err
		}
		if i == 0 {
			out.offset = ptr
		}
		pos += rawSpan(pos, chunkHeaderLen+int64(len(p)))
	}
	return out, nil
}

func (c *compaction) copySecurity(src *snapshot) error {
	c.srcSecurity, c.security = src.h.securityPtr, src.security
	c.h.securityPtr = 0
	if src.h.securityPtr == 0 {
		return nil
	}
	ptr, _, err := c.dst.appendData(kindSecurity, src.security, true)
	c.h.securityPtr = ptr
	return err
}

// catchUp copies into the copy what changed in s for the given document
// and local doc IDs, and the purge infos and attachments newer than those
// copied.
func (c *compaction) catchUp(s *snapshot, docs, locals []string) error {
	if err := c.catchUpDocs(s, docs); err != nil {
		return err
	}
	if err := c.catchUpLocals(s, locals); err != nil {
		return err
	}
	if err := c.catchUpPurges(s); err != nil {
		return err
	}
	if s.h.nextAttID > c.copiedAttID {
		if err := c.catchUpAtts(s); err != nil {
			return err
		}
	}
	if s.h.securityPtr != c.srcSecurity {
		if err := c.copySecurity(s); err != nil {
			return err
		}
	}
	c.setFields(s)
	return nil
}

func (c *compaction) catchUpDocs(s *snapshot, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	srcVals, inSrc, err := s.tree(treeID).lookup(s.h.roots[treeID], ids)
	if err != nil {
		return err
	}
	dstVals, inDst, err := c.dstTree(treeID).lookup(c.h.roots[treeID], ids)
	if err != nil {
		return err
	}
	idActs := make([]action, 0, len(ids))
	var seqActs []action
	for i, id := range ids {
		var reuse map[revKey]engines.RevValue
		if inDst[i] {
			old, err := decodeIDValue(id, dstVals[i])
			if err != nil {
				return err
			}
			reuse = leafValues(old)
			seqActs = append(seqActs, action{key: seqKey(old.UpdateSeq), remove: true})
		}
		if !inSrc[i] {
			if inDst[i] {
				idActs = append(idActs, action{key: id, remove: true})
			}
			continue
		}
		di, err := decodeIDValue(id, srcVals[i])
		if err != nil {
			return err
		}
		if err := c.copyDoc(s.st, di, reuse); err != nil {
			return err
		}
		idActs = append(idActs, action{key: id, val: string(appendIDValue(nil, di))})
		seqActs = append(seqActs, action{key: seqKey(di.UpdateSeq), val: id})
	}
	if c.h.roots[treeID], err = c.dstTree(treeID).modify(c.h.roots[treeID], idActs); err != nil {
		return err
	}
	c.h.roots[treeSeq], err = c.dstTree(treeSeq).modify(c.h.roots[treeSeq], normalize(seqActs))
	return err
}

func (c *compaction) catchUpLocals(s *snapshot, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	vals, found, err := s.tree(treeLocal).lookup(s.h.roots[treeLocal], ids)
	if err != nil {
		return err
	}
	acts := make([]action, len(ids))
	for i, id := range ids {
		acts[i] = action{key: id, val: vals[i], remove: !found[i]}
	}
	c.h.roots[treeLocal], err = c.dstTree(treeLocal).modify(c.h.roots[treeLocal], acts)
	return err
}

func (c *compaction) catchUpPurges(s *snapshot) error {
	if s.h.purgeSeq <= c.copiedPurges {
		return nil
	}
	var bySeq, byUUID []action
	b := bounds{lo: seqKey(c.copiedPurges), hasLo: true, loOpen: true}
	err := s.tree(treePurgeSeq).fold(s.h.roots[treePurgeSeq], b, false, func(k, v string) error {
		pi, err := decodePurge(k, v)
		if err != nil {
			return err
		}
		bySeq = append(bySeq, action{key: k, val: v})
		byUUID = append(byUUID, action{key: purgeUUIDKey(pi.UUID, pi.Seq)})
		return nil
	})
	if err != nil {
		return err
	}
	if err := c.modifyPurges(bySeq, byUUID); err != nil {
		return err
	}
	c.copiedPurges = s.h.purgeSeq
	return nil
}

func (c *compaction) modifyPurges(bySeq, byUUID []action) error {
	slices.SortFunc(byUUID, func(a, b action) int { return strings.Compare(a.key, b.key) })
	var err error
	if c.h.roots[treePurgeSeq], err = c.dstTree(treePurgeSeq).modify(c.h.roots[treePurgeSeq], bySeq); err != nil {
		return err
	}
	c.h.roots[treePurgeUUID], err = c.dstTree(treePurgeUUID).modify(c.h.roots[treePurgeUUID], byUUID)
	return err
}

// trimPurges drops the copy's purge infos at or below minSeq.
func (c *compaction) trimPurges(minSeq uint64) error {
	var bySeq, byUUID []action
	b := bounds{hi: seqKey(minSeq), hasHi: true}
	err := c.dstTree(treePurgeSeq).fold(c.h.roots[treePurgeSeq], b, false, func(k, v string) error {
		pi, err := decodePurge(k, v)
		if err != nil {
			return err
		}
		bySeq = append(bySeq, action{key: k, remove: true})
		byUUID = append(byUUID, action{key: purgeUUIDKey(pi.UUID, pi.Seq), remove: true})
		return nil
	})
	if err != nil || len(bySeq) == 0 {
		return err
	}
	return c.modifyPurges(bySeq, byUUID)
}

func (c *compaction) catchUpAtts(s *snapshot) error {
	var acts []action
	b := bounds{lo: seqKey(c.copiedAttID), hasLo: true, loOpen: true}
	err := s.tree(treeAtt).fold(s.h.roots[treeAtt], b, false, func(k, v string) error {
		loc, err := c.copyAtt(s.st, v)
		if err != nil {
			return err
		}
		acts = append(acts, action{key: k, val: string(appendAttLoc(nil, loc))})
		return nil
	})
	if err != nil {
		return err
	}
	if c.h.roots[treeAtt], err = c.dstTree(treeAtt).modify(c.h.roots[treeAtt], acts); err != nil {
		return err
	}
	c.copiedAttID = s.h.nextAttID
	return nil
}

// commit makes the copy durable under its own header.
func (c *compaction) commit() error {
	h := c.h
	return c.dst.commit(&h)
}
