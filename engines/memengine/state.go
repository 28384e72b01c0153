package memengine

import (
	"bytes"
	"fmt"

	"github.com/couchfs/couchfs/engines"
)

// state is one version of a database: the working copy of an open DB or the
// committed copy in the registry. Every value reachable from it (doc infos,
// local docs, bodies, attachments) is immutable once stored, so two states
// may share them.
type state struct {
	uuid            string
	updateSeq       uint64
	purgeSeq        uint64
	revsLimit       uint64
	purgeInfosLimit uint64
	security        []byte

	docs   map[string]*engines.DocInfo
	seqs   map[uint64]string // UpdateSeq → doc ID: the changes index
	locals map[string]*engines.LocalDoc
	purges map[uint64]*engines.PurgeInfo
	bodies map[uint64][]byte
	atts   map[uint64][]byte

	nextPtr  uint64
	docCount uint64
	delCount uint64
	active   uint64
	external uint64
	stored   uint64 // bytes of bodies and attachments: the "file" size
}

const (
	defaultRevsLimit       = 1000
	defaultPurgeInfosLimit = 1000
)

func newState(uuid string) *state {
	return &state{
		uuid:            uuid,
		revsLimit:       defaultRevsLimit,
		purgeInfosLimit: defaultPurgeInfosLimit,
		security:        []byte("{}"),
		docs:            map[string]*engines.DocInfo{},
		seqs:            map[uint64]string{},
		locals:          map[string]*engines.LocalDoc{},
		purges:          map[uint64]*engines.PurgeInfo{},
		bodies:          map[uint64][]byte{},
		atts:            map[uint64][]byte{},
		nextPtr:         1,
	}
}

// clone copies the indexes; the values they point to are shared because they
// are immutable.
func (s *state) clone() *state {
	c := *s
	c.docs = make(map[string]*engines.DocInfo, len(s.docs))
	for k, v := range s.docs {
		c.docs[k] = v
	}
	c.seqs = make(map[uint64]string, len(s.seqs))
	for k, v := range s.seqs {
		c.seqs[k] = v
	}
	c.locals = make(map[string]*engines.LocalDoc, len(s.locals))
	for k, v := range s.locals {
		c.locals[k] = v
	}
	c.purges = make(map[uint64]*engines.PurgeInfo, len(s.purges))
	for k, v := range s.purges {
		c.purges[k] = v
	}
	c.bodies = make(map[uint64][]byte, len(s.bodies))
	for k, v := range s.bodies {
		c.bodies[k] = v
	}
	c.atts = make(map[uint64][]byte, len(s.atts))
	for k, v := range s.atts {
		c.atts[k] = v
	}
	return &c
}

func (s *state) putBody(ptr uint64, b []byte) {
	s.bodies[ptr] = b
	s.stored += uint64(len(b))
	s.nextPtr = max(s.nextPtr, ptr+1)
}

func (s *state) putAttachment(ptr uint64, b []byte) {
	s.atts[ptr] = b
	s.stored += uint64(len(b))
	s.nextPtr = max(s.nextPtr, ptr+1)
}

// write is one validated WriteDocInfos call, deep-copied so the caller may
// reuse its arguments. It is applied to the working state at once and
// replayed onto the committed state by Commit.
type write struct {
	pairs  []engines.DocInfoPair
	locals []engines.LocalDoc
	purges []engines.PurgeInfo
}

// validate checks w against s without changing anything: every Old must be
// what is stored, every New must be storable, and no two documents may end up
// at the same UpdateSeq.
func (s *state) validate(w *write) error {
	seen := make(map[string]bool, len(w.pairs))
	freed := map[uint64]bool{}
	for i, p := range w.pairs {
		var id string
		switch {
		case p.Old == nil && p.New == nil:
			return fmt.Errorf("memengine: pair %d has neither Old nor New: %w", i, engines.ErrInvalidWrite)
		case p.Old != nil:
			id = p.Old.ID
			if p.New != nil && p.New.ID != id {
				return fmt.Errorf("memengine: pair %d: Old %q and New %q differ in ID: %w", i, id, p.New.ID, engines.ErrInvalidWrite)
			}
		default:
			id = p.New.ID
		}
		if seen[id] {
			return fmt.Errorf("memengine: doc %q twice in one write: %w", id, engines.ErrInvalidWrite)
		}
		seen[id] = true
		stored := s.docs[id]
		if p.Old == nil {
			if stored != nil {
				return fmt.Errorf("memengine: doc %q exists but Old is nil: %w", id, engines.ErrInvalidWrite)
			}
		} else if stored == nil || !sameDocInfo(stored, p.Old) {
			return fmt.Errorf("memengine: doc %q: Old does not match the stored doc info: %w", id, engines.ErrInvalidWrite)
		}
		if stored != nil {
			freed[stored.UpdateSeq] = true
		}
		if p.New != nil {
			if len(p.New.RevTree) == 0 {
				return fmt.Errorf("memengine: doc %q: empty rev tree: %w", id, engines.ErrInvalidWrite)
			}
			for _, b := range p.New.RevTree {
				if b.Root == nil {
					return fmt.Errorf("memengine: doc %q: nil branch root: %w", id, engines.ErrInvalidWrite)
				}
			}
			if p.New.UpdateSeq == 0 {
				return fmt.Errorf("memengine: doc %q: UpdateSeq 0: %w", id, engines.ErrInvalidWrite)
			}
		}
	}
	taken := map[uint64]bool{}
	for _, p := range w.pairs {
		if p.New == nil {
			continue
		}
		seq := p.New.UpdateSeq
		if other, ok := s.seqs[seq]; (ok && !freed[seq] && other != p.New.ID) || taken[seq] {
			return fmt.Errorf("memengine: doc %q: UpdateSeq %d already used: %w", p.New.ID, seq, engines.ErrInvalidWrite)
		}
		taken[seq] = true
	}
	for _, ld := range w.locals {
		if ld.ID == "" {
			return fmt.Errorf("memengine: local doc without ID: %w", engines.ErrInvalidWrite)
		}
	}
	last := s.purgeSeq
	for _, pi := range w.purges {
		if pi.Seq <= last {
			return fmt.Errorf("memengine: purge seq %d not above %d: %w", pi.Seq, last, engines.ErrInvalidWrite)
		}
		last = pi.Seq
	}
	return nil
}

// apply changes s by a write that validate accepted against an equal state.
func (s *state) apply(w *write) {
	for _, p := range w.pairs {
		id := ""
		if p.Old != nil {
			id = p.Old.ID
		} else {
			id = p.New.ID
		}
		if old := s.docs[id]; old != nil {
			s.unindex(old)
		}
	}
	for _, p := range w.pairs {
		if p.New != nil {
			s.index(p.New)
		}
	}
	for i := range w.locals {
		ld := &w.locals[i]
		if ld.Deleted {
			delete(s.locals, ld.ID)
		} else {
			s.locals[ld.ID] = ld
		}
	}
	for i := range w.purges {
		pi := &w.purges[i]
		s.purges[pi.Seq] = pi
		s.purgeSeq = max(s.purgeSeq, pi.Seq)
	}
}

func (s *state) unindex(di *engines.DocInfo) {
	delete(s.docs, di.ID)
	if s.seqs[di.UpdateSeq] == di.ID {
		delete(s.seqs, di.UpdateSeq)
	}
	if di.Deleted {
		s.delCount--
	} else {
		s.docCount--
	}
	s.active -= di.ActiveSize
	s.external -= di.ExternalSize
}

func (s *state) index(di *engines.DocInfo) {
	s.docs[di.ID] = di
	s.seqs[di.UpdateSeq] = di.ID
	if di.Deleted {
		s.delCount++
	} else {
		s.docCount++
	}
	s.active += di.ActiveSize
	s.external += di.ExternalSize
	s.updateSeq = max(s.updateSeq, di.UpdateSeq)
}

// sameDocInfo compares through the shared codec, which makes nil and empty
// slices equal, as they are to every engine that serializes.
func sameDocInfo(a, b *engines.DocInfo) bool {
	return bytes.Equal(engines.AppendDocInfo(nil, a), engines.AppendDocInfo(nil, b))
}

// copyDocInfo deep-copies di through the codec so that stored values share
// nothing with the caller's. It fails only for trees beyond the codec's depth
// bound, which no engine can store.
func copyDocInfo(di *engines.DocInfo) (*engines.DocInfo, error) {
	if di == nil {
		return nil, nil
	}
	c, err := engines.DecodeDocInfo(engines.AppendDocInfo(nil, di))
	if err != nil {
		return nil, fmt.Errorf("memengine: doc %q cannot be stored: %v: %w", di.ID, err, engines.ErrInvalidWrite)
	}
	return c, nil
}
