package pebble_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// model is a tiny updater for the engine tests: documents with a linear
// history of up to three revisions, local documents, and the view a correct
// engine must show.
type model struct {
	seq    uint64
	pseq   uint64
	docs   map[string]*engines.DocInfo
	locals map[string]string
	bodies map[uint64]string
}

func newModel() *model {
	return &model{docs: map[string]*engines.DocInfo{}, locals: map[string]string{}, bodies: map[uint64]string{}}
}

func (m *model) clone() *model {
	c := &model{seq: m.seq, pseq: m.pseq, docs: maps.Clone(m.docs), locals: maps.Clone(m.locals), bodies: maps.Clone(m.bodies)}
	return c
}

// put writes a new revision of id (a tombstone if deleted) and returns the
// pair for WriteDocInfos; the model is updated as if the write succeeded.
func (m *model) put(t testing.TB, db engines.DB, id string, deleted bool) engines.DocInfoPair {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"seq":%d}`, id, m.seq+1)
	if deleted {
		body = `{}`
	}
	ptr, active, err := db.WriteDocBody([]byte(body))
	if err != nil {
		t.Fatalf("WriteDocBody: %v", err)
	}
	m.seq++
	m.bodies[ptr] = body
	old := m.docs[id]
	leaf := &engines.RevNode{ID: fmt.Sprintf("r%d", m.seq), Value: &engines.RevValue{Deleted: deleted, Ptr: ptr, Seq: m.seq, Size: uint64(len(body))}}
	nu := &engines.DocInfo{ID: id, UpdateSeq: m.seq, Deleted: deleted, ActiveSize: active, ExternalSize: uint64(len(body))}
	if old == nil {
		nu.RevTree = engines.RevTree{{Start: 1, Root: leaf}}
	} else {
		// Keep at most three revisions: the old leaf's parent (if any)
		// becomes the root.
		br := old.RevTree[0]
		chain := []*engines.RevNode{}
		for n := br.Root; n != nil; {
			chain = append(chain, &engines.RevNode{ID: n.ID, Value: n.Value})
			if len(n.Children) == 0 {
				break
			}
			n = n.Children[0]
		}
		start := br.Start
		if len(chain) == 3 {
			chain, start = chain[1:], start+1
		}
		chain = append(chain, leaf)
		for i := len(chain) - 2; i >= 0; i-- {
			chain[i].Children = []*engines.RevNode{chain[i+1]}
		}
		nu.RevTree = engines.RevTree{{Start: start, Root: chain[0]}}
	}
	m.docs[id] = nu
	return engines.DocInfoPair{Old: old, New: nu}
}

func (m *model) local(id string, deleted bool) engines.LocalDoc {
	body := fmt.Sprintf(`{"l":%d}`, m.seq)
	if deleted {
		delete(m.locals, id)
		return engines.LocalDoc{ID: id, Deleted: true}
	}
	m.locals[id] = body
	return engines.LocalDoc{ID: id, Rev: 1, Body: []byte(body)}
}

// randomBatch writes up to n random changes over a small ID space.
func (m *model) randomBatch(t testing.TB, db engines.DB, r *rand.Rand, n int) {
	t.Helper()
	var pairs []engines.DocInfoPair
	var locals []engines.LocalDoc
	var purges []engines.PurgeInfo
	seen := map[string]bool{}
	for range 1 + r.IntN(n) {
		if r.IntN(12) == 0 {
			id := fmt.Sprintf("doc-%03d", r.IntN(40))
			old := m.docs[id]
			if seen[id] || old == nil {
				continue
			}
			seen[id] = true
			m.pseq++
			purges = append(purges, engines.PurgeInfo{Seq: m.pseq, UUID: fmt.Sprintf("u%d", m.pseq), ID: id,
				Revs: []engines.Rev{{Pos: 1, ID: "x"}}})
			delete(m.docs, id)
			pairs = append(pairs, engines.DocInfoPair{Old: old})
			continue
		}
		if r.IntN(5) == 0 {
			locals = append(locals, m.local(fmt.Sprintf("_local/%d", r.IntN(4)), r.IntN(3) == 0))
			continue
		}
		id := fmt.Sprintf("doc-%03d", r.IntN(40))
		if seen[id] {
			continue
		}
		seen[id] = true
		pairs = append(pairs, m.put(t, db, id, m.docs[id] != nil && r.IntN(4) == 0))
	}
	if err := db.WriteDocInfos(pairs, locals, purges); err != nil {
		t.Fatalf("WriteDocInfos: %v", err)
	}
}

// view is what a database shows: every doc info encoded, local bodies, the
// changes feed and the counters.
type view struct {
	UpdateSeq, PurgeSeq, DocCount, DelDocCount uint64
	Docs                                       map[string]string
	Locals                                     map[string]string
	Changes                                    []string
}

func (m *model) view() view {
	v := view{UpdateSeq: m.seq, PurgeSeq: m.pseq, Docs: map[string]string{}, Locals: maps.Clone(m.locals)}
	type change struct {
		seq uint64
		id  string
	}
	var cs []change
	for id, di := range m.docs {
		v.Docs[id] = string(engines.AppendDocInfo(nil, di))
		if di.Deleted {
			v.DelDocCount++
		} else {
			v.DocCount++
		}
		cs = append(cs, change{di.UpdateSeq, id})
	}
	slices.SortFunc(cs, func(a, b change) int { return int(a.seq) - int(b.seq) })
	for _, c := range cs {
		v.Changes = append(v.Changes, fmt.Sprintf("%s@%d", c.id, c.seq))
	}
	return v
}

func capture(t testing.TB, db engines.DB) view {
	t.Helper()
	v := view{UpdateSeq: db.UpdateSeq(), PurgeSeq: db.PurgeSeq(), DocCount: db.DocCount(), DelDocCount: db.DelDocCount(),
		Docs: map[string]string{}, Locals: map[string]string{}}
	err := db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
		v.Docs[di.ID] = string(engines.AppendDocInfo(nil, di))
		return nil
	})
	if err != nil {
		t.Fatalf("FoldDocs: %v", err)
	}
	err = db.FoldLocalDocs(engines.FoldOptions{}, func(ld *engines.LocalDoc) error {
		v.Locals[ld.ID] = string(ld.Body)
		return nil
	})
	if err != nil {
		t.Fatalf("FoldLocalDocs: %v", err)
	}
	err = db.FoldChanges(0, func(di *engines.DocInfo) error {
		v.Changes = append(v.Changes, fmt.Sprintf("%s@%d", di.ID, di.UpdateSeq))
		return nil
	})
	if err != nil {
		t.Fatalf("FoldChanges: %v", err)
	}
	return v
}

func (v view) String() string {
	return fmt.Sprintf("seq %d purge seq %d docs %d del %d, %d doc infos, %d locals, changes %v",
		v.UpdateSeq, v.PurgeSeq, v.DocCount, v.DelDocCount, len(v.Docs), len(v.Locals), v.Changes)
}

func equalViews(a, b view) bool {
	return a.UpdateSeq == b.UpdateSeq && a.PurgeSeq == b.PurgeSeq && a.DocCount == b.DocCount && a.DelDocCount == b.DelDocCount &&
		maps.Equal(a.Docs, b.Docs) && maps.Equal(a.Locals, b.Locals) && slices.Equal(a.Changes, b.Changes)
}

func check(t testing.TB, db engines.DB) {
	t.Helper()
	if err := db.(engines.Checker).Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
