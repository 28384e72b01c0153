package enginetest

import (
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// opKind is what one document operation of a batch does.
type opKind int

const (
	opPut         opKind = iota // new revision on the winner (creates or recreates)
	opDelete                    // tombstone on the winner
	opConflict                  // replicated sibling: a new "1-…" root branch
	opLocalPut                  // write a local doc with the next 0-N revision
	opLocalDelete               // remove a local doc
)

// op is one document operation. Body defaults to a small JSON object.
type op struct {
	kind opKind
	id   string
	body []byte
}

func put(id string, body string) op      { return op{kind: opPut, id: id, body: []byte(body)} }
func del(id string) op                   { return op{kind: opDelete, id: id} }
func conflict(id string, body string) op { return op{kind: opConflict, id: id, body: []byte(body)} }
func localPut(id, body string) op        { return op{kind: opLocalPut, id: id, body: []byte(body)} }
func localDel(id string) op              { return op{kind: opLocalDelete, id: id} }

// purgeReq is one purge request: remove these leaf revisions of id.
type purgeReq struct {
	uuid string
	id   string
	revs []engines.Rev
}

// writer plays dbcore's updater for the suite: it reads the current doc
// infos, merges operations into them by CouchDB's rules and hands the engine
// finished pairs. Only the goroutine that owns the DB calls it.
type writer struct {
	t       testing.TB
	db      func() engines.DB
	counter int               // makes every revision id unique and deterministic
	active  map[uint64]uint64 // body pointer → active size WriteDocBody reported
	commit  bool              // commit after each batch (the differential test turns it off)
}

func newWriter(t testing.TB, db func() engines.DB) *writer {
	return &writer{t: t, db: db, active: map[uint64]uint64{}, commit: true}
}

// pathNode is one revision on a root-to-leaf path.
type pathNode struct {
	pos   uint64
	id    string
	value *engines.RevValue
}

// leafPaths lists every root-to-leaf path of a tree, leaves in the tree's
// order.
func leafPaths(tree engines.RevTree) [][]pathNode {
	var out [][]pathNode
	type frame struct {
		n    *engines.RevNode
		path []pathNode
	}
	for _, b := range tree {
		stack := []frame{{b.Root, []pathNode{{b.Start, b.Root.ID, b.Root.Value}}}}
		for len(stack) > 0 {
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(f.n.Children) == 0 {
				out = append(out, f.path)
				continue
			}
			for i := len(f.n.Children) - 1; i >= 0; i-- {
				c := f.n.Children[i]
				p := append(slices.Clip(f.path), pathNode{f.path[len(f.path)-1].pos + 1, c.ID, c.Value})
				stack = append(stack, frame{c, p})
			}
		}
	}
	return out
}

type revKey struct {
	pos uint64
	id  string
}

// buildTree merges root-to-leaf paths into a sorted forest. A node keeps the
// first non-nil value any path gives it.
func buildTree(paths [][]pathNode) engines.RevTree {
	nodes := map[revKey]*engines.RevNode{}
	hasParent := map[revKey]bool{}
	linked := map[[2]revKey]bool{}
	var order []revKey
	for _, p := range paths {
		for i, pn := range p {
			k := revKey{pn.pos, pn.id}
			n := nodes[k]
			if n == nil {
				n = &engines.RevNode{ID: pn.id}
				nodes[k] = n
				order = append(order, k)
			}
			if n.Value == nil && pn.value != nil {
				v := *pn.value
				n.Value = &v
			}
			if i > 0 {
				pk := revKey{p[i-1].pos, p[i-1].id}
				if !linked[[2]revKey{pk, k}] {
					linked[[2]revKey{pk, k}] = true
					nodes[pk].Children = append(nodes[pk].Children, n)
					hasParent[k] = true
				}
			}
		}
	}
	var tree engines.RevTree
	for _, k := range order {
		n := nodes[k]
		slices.SortFunc(n.Children, func(a, b *engines.RevNode) int { return cmp.Compare(a.ID, b.ID) })
		if !hasParent[k] {
			tree = append(tree, engines.RevBranch{Start: k.pos, Root: n})
		}
	}
	slices.SortFunc(tree, func(a, b engines.RevBranch) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.Root.ID, b.Root.ID))
	})
	return tree
}

// leaves returns the leaf revisions sorted winner first: CouchDB orders them
// by (not deleted, pos, rev id) descending.
func leaves(tree engines.RevTree) []pathNode {
	var out []pathNode
	for _, p := range leafPaths(tree) {
		out = append(out, p[len(p)-1])
	}
	slices.SortFunc(out, func(a, b pathNode) int {
		return cmp.Or(
			cmp.Compare(boolInt(!b.value.Deleted), boolInt(!a.value.Deleted)),
			cmp.Compare(b.pos, a.pos),
			cmp.Compare(b.id, a.id))
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// winnerPath returns the root-to-leaf path ending at the winning leaf.
func winnerPath(tree engines.RevTree) []pathNode {
	w := leaves(tree)[0]
	for _, p := range leafPaths(tree) {
		l := p[len(p)-1]
		if l.pos == w.pos && l.id == w.id {
			return p
		}
	}
	return nil
}

// stem keeps at most limit revisions on every path, the newest.
func stem(tree engines.RevTree, limit uint64) engines.RevTree {
	paths := leafPaths(tree)
	cut := false
	for i, p := range paths {
		if uint64(len(p)) > limit {
			paths[i] = p[uint64(len(p))-limit:]
			cut = true
		}
	}
	if !cut {
		return tree
	}
	return buildTree(paths)
}

// finish fills the derived fields of di from its tree: Deleted from the
// winner, sizes from the leaves.
func (w *writer) finish(di *engines.DocInfo) {
	ls := leaves(di.RevTree)
	di.Deleted = ls[0].value.Deleted
	di.ActiveSize, di.ExternalSize = 0, 0
	for _, l := range ls {
		if a, ok := w.active[l.value.Ptr]; ok {
			di.ActiveSize += a
		} else {
			di.ActiveSize += l.value.Size
		}
		di.ExternalSize += l.value.Size
	}
}

func (w *writer) newRevID(docID string, parent string, deleted bool, body []byte) string {
	w.counter++
	h := md5.Sum(fmt.Appendf(nil, "%s\x00%s\x00%v\x00%d\x00%s", docID, parent, deleted, w.counter, body))
	return hex.EncodeToString(h[:])
}

func (w *writer) writeBody(body []byte) (ptr uint64) {
	w.t.Helper()
	ptr, active, err := w.db().WriteDocBody(body)
	if err != nil {
		w.t.Fatalf("WriteDocBody: %v", err)
	}
	w.active[ptr] = active
	return ptr
}

// apply runs one batch: document operations are grouped by ID, each changed
// document gets the next update sequence in ID order, and everything goes
// to the engine in one WriteDocInfos (and one Commit unless w.commit is
// off). It returns the new revision of each document operation, in order
// (the zero Rev for local ops).
func (w *writer) apply(ops ...op) []engines.Rev {
	w.t.Helper()
	db := w.db()
	revs := make([]engines.Rev, len(ops))
	var ids []string
	byID := map[string][]int{}
	var localIDs []string
	for i, o := range ops {
		if o.kind == opLocalPut || o.kind == opLocalDelete {
			localIDs = append(localIDs, o.id)
			continue
		}
		if _, ok := byID[o.id]; !ok {
			ids = append(ids, o.id)
		}
		byID[o.id] = append(byID[o.id], i)
	}
	slices.Sort(ids)
	olds, err := db.OpenDocs(ids)
	if err != nil {
		w.t.Fatalf("OpenDocs: %v", err)
	}
	var pairs []engines.DocInfoPair
	seq := db.UpdateSeq()
	for j, id := range ids {
		seq++
		var tree engines.RevTree
		if olds[j] != nil {
			tree = cloneTree(olds[j].RevTree)
		}
		for _, i := range byID[id] {
			tree, revs[i] = w.merge(tree, id, ops[i], seq)
		}
		tree = stem(tree, db.RevsLimit())
		di := &engines.DocInfo{ID: id, UpdateSeq: seq, RevTree: tree}
		w.finish(di)
		pairs = append(pairs, engines.DocInfoPair{Old: olds[j], New: di})
	}
	var locals []engines.LocalDoc
	if len(localIDs) > 0 {
		cur, err := db.OpenLocalDocs(localIDs)
		if err != nil {
			w.t.Fatalf("OpenLocalDocs: %v", err)
		}
		next := map[string]uint64{}
		for i, id := range localIDs {
			if cur[i] != nil {
				next[id] = cur[i].Rev
			}
		}
		for _, o := range ops {
			switch o.kind {
			case opLocalPut:
				next[o.id]++
				locals = append(locals, engines.LocalDoc{ID: o.id, Rev: next[o.id], Body: bodyOr(o.body, `{}`)})
			case opLocalDelete:
				next[o.id] = 0
				locals = append(locals, engines.LocalDoc{ID: o.id, Deleted: true})
			}
		}
	}
	w.write(pairs, locals, nil)
	return revs
}

func bodyOr(b []byte, def string) []byte {
	if b == nil {
		return []byte(def)
	}
	return b
}

// merge adds one operation's revision to tree.
func (w *writer) merge(tree engines.RevTree, id string, o op, seq uint64) (engines.RevTree, engines.Rev) {
	deleted := o.kind == opDelete
	body := bodyOr(o.body, `{}`)
	if o.kind == opPut && o.body == nil {
		body = fmt.Appendf(nil, `{"n":%d}`, w.counter)
	}
	val := &engines.RevValue{Deleted: deleted, Seq: seq, Size: uint64(len(body))}
	if o.kind == opConflict || len(tree) == 0 {
		rid := w.newRevID(id, "", deleted, body)
		val.Ptr = w.writeBody(body)
		paths := append(leafPaths(tree), []pathNode{{1, rid, val}})
		return buildTree(paths), engines.Rev{Pos: 1, ID: rid}
	}
	path := winnerPath(tree)
	leaf := path[len(path)-1]
	rid := w.newRevID(id, fmt.Sprintf("%d-%s", leaf.pos, leaf.id), deleted, body)
	val.Ptr = w.writeBody(body)
	paths := append(leafPaths(tree), append(slices.Clip(path), pathNode{leaf.pos + 1, rid, val}))
	return buildTree(paths), engines.Rev{Pos: leaf.pos + 1, ID: rid}
}

// replicate writes one document whose history is the linear path revs
// (oldest first, all bodies kept), as a replicated write would, and returns
// the leaf revision. It is how cases build deep trees with one commit.
func (w *writer) replicate(id string, depth int) engines.Rev {
	w.t.Helper()
	db := w.db()
	olds, err := db.OpenDocs([]string{id})
	if err != nil {
		w.t.Fatalf("OpenDocs: %v", err)
	}
	seq := db.UpdateSeq() + 1
	var path []pathNode
	parent := ""
	for i := 1; i <= depth; i++ {
		body := fmt.Appendf(nil, `{"depth":%d}`, i)
		rid := w.newRevID(id, parent, false, body)
		path = append(path, pathNode{uint64(i), rid, &engines.RevValue{Ptr: w.writeBody(body), Seq: seq, Size: uint64(len(body))}})
		parent = rid
	}
	var paths [][]pathNode
	if olds[0] != nil {
		paths = leafPaths(olds[0].RevTree)
	}
	di := &engines.DocInfo{ID: id, UpdateSeq: seq, RevTree: stem(buildTree(append(paths, path)), db.RevsLimit())}
	w.finish(di)
	w.write([]engines.DocInfoPair{{Old: olds[0], New: di}}, nil, nil)
	return engines.Rev{Pos: uint64(depth), ID: path[depth-1].id}
}

// purge applies purge requests in order, CouchDB style: only leaves are
// removed; a document that keeps leaves has every remaining leaf moved to a
// new update sequence; one losing all disappears; every request gets a purge
// info; and if no document got a new sequence the update sequence still goes
// up by one. It returns the revisions each request removed.
func (w *writer) purge(reqs ...purgeReq) [][]engines.Rev {
	w.t.Helper()
	db := w.db()
	removed := make([][]engines.Rev, len(reqs))
	trees := map[string]*engines.DocInfo{}
	olds := map[string]*engines.DocInfo{}
	var order []string
	for _, r := range reqs {
		if _, ok := olds[r.id]; ok {
			continue
		}
		found, err := db.OpenDocs([]string{r.id})
		if err != nil {
			w.t.Fatalf("OpenDocs: %v", err)
		}
		olds[r.id] = found[0]
		if found[0] != nil {
			trees[r.id] = &engines.DocInfo{ID: r.id, RevTree: cloneTree(found[0].RevTree), UpdateSeq: found[0].UpdateSeq}
			order = append(order, r.id)
		}
	}
	purgeSeq := db.PurgeSeq()
	var infos []engines.PurgeInfo
	for i, r := range reqs {
		purgeSeq++
		infos = append(infos, engines.PurgeInfo{Seq: purgeSeq, UUID: r.uuid, ID: r.id, Revs: r.revs})
		di := trees[r.id]
		if di == nil {
			continue
		}
		var keep [][]pathNode
		for _, p := range leafPaths(di.RevTree) {
			l := p[len(p)-1]
			if slices.Contains(r.revs, engines.Rev{Pos: l.pos, ID: l.id}) {
				removed[i] = append(removed[i], engines.Rev{Pos: l.pos, ID: l.id})
			} else {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			trees[r.id] = nil
		} else {
			di.RevTree = buildTree(keep)
		}
	}
	seq := db.UpdateSeq()
	bumped := false
	var pairs []engines.DocInfoPair
	for _, id := range order {
		old, di := olds[id], trees[id]
		if di == nil {
			pairs = append(pairs, engines.DocInfoPair{Old: old})
			continue
		}
		if sameTree(old.RevTree, di.RevTree) {
			continue
		}
		var paths [][]pathNode
		for _, p := range leafPaths(di.RevTree) {
			seq++
			l := p[len(p)-1]
			v := *l.value
			v.Seq = seq
			p = slices.Clone(p)
			p[len(p)-1].value = &v
			paths = append(paths, p)
		}
		di.RevTree = buildTree(paths)
		di.UpdateSeq = seq
		bumped = true
		w.finish(di)
		pairs = append(pairs, engines.DocInfoPair{Old: old, New: di})
	}
	if len(reqs) > 0 && !bumped {
		if err := db.SetUpdateSeq(seq + 1); err != nil {
			w.t.Fatalf("SetUpdateSeq: %v", err)
		}
	}
	w.write(pairs, nil, infos)
	return removed
}

func (w *writer) write(pairs []engines.DocInfoPair, locals []engines.LocalDoc, purges []engines.PurgeInfo) {
	w.t.Helper()
	db := w.db()
	if err := db.WriteDocInfos(pairs, locals, purges); err != nil {
		w.t.Fatalf("WriteDocInfos: %v", err)
	}
	if w.commit {
		if err := db.Commit(); err != nil {
			w.t.Fatalf("Commit: %v", err)
		}
	}
}

func sameTree(a, b engines.RevTree) bool {
	return string(engines.AppendDocInfo(nil, &engines.DocInfo{RevTree: a})) ==
		string(engines.AppendDocInfo(nil, &engines.DocInfo{RevTree: b}))
}

// cloneTree deep-copies a tree so that merging never touches what an engine
// returned.
func cloneTree(t engines.RevTree) engines.RevTree {
	return buildTree(leafPaths(t))
}
