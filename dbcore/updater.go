package dbcore

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/couchfs/couchfs/dbcore/jsondoc"
	"github.com/couchfs/couchfs/dbcore/revtree"
	"github.com/couchfs/couchfs/engines"
)

// request is something the updater does. Every request carries a reply
// channel with room for one answer, so the updater never blocks on a writer.
type request interface{ fail(error) }

// updateReq is an update_docs call: documents already validated and parsed
// by the caller.
type updateReq struct {
	docs         []*prepared
	replicated   bool
	allOrNothing bool
	reply        chan updateReply
}

type updateReply struct {
	results []UpdateResult
	infos   []*engines.DocInfo // each document's doc info after the commit; nil for local docs and failures
	shapes  []treeShape        // the shape of each of those doc infos' trees, as far as known
	err     error
}

func (r *updateReq) fail(err error) { r.reply <- updateReply{err: err} }

// funcReq runs fn in the updater: setters, purge, compaction start.
type funcReq struct {
	fn    func(edb engines.DB) error
	reply chan error
}

func (r *funcReq) fail(err error) { r.reply <- err }

// errAllOrNothing is the result of the documents of a failed all-or-nothing
// update that were fine themselves.
var errAllOrNothing = fmt.Errorf("%w: another document of the same all-or-nothing update failed", ErrConflict)

// prepared is one document of an update, checked and parsed on the
// caller's goroutine so that the updater only merges.
type prepared struct {
	id      string
	local   bool
	deleted bool
	body    []byte // compact JSON object
	enc     []byte // body as the engine stores it (engines.BodyEncoder), or nil
	err     error  // refused before reaching the updater

	// Interactive edits: the parent revision, and the new revision's id
	// and rendered size as they are when the parent is the one given.
	base    engines.Rev
	hasBase bool
	newID   string
	newRev  string // "N-newID"
	size    uint64

	// Replicated edits: the revision and its ancestors, newest first.
	rev  engines.Rev
	revs []string

	// Local documents: the integer N of the given "0-N".
	localRev uint64
}

// run is the updater goroutine: it owns every write to the database.
func (st *dbState) run() {
	defer close(st.done)
	defer st.cancelCompaction()
	// A reopen still running at shutdown gets a bounded wait, so that its
	// handle is closed with the database rather than leaked.
	defer st.awaitReopen(10 * time.Second)
	cache := newDocCache(st.srv)
	defer cache.reset()
	for {
		var compactDone <-chan struct{}
		if st.compaction != nil {
			compactDone = st.compaction.Done()
		}
		select {
		case r, ok := <-st.reqs:
			if !ok {
				return
			}
			var rest []request
			open := true
			if u, ok := r.(*updateReq); ok {
				rest, open = st.gatherUpdates(u, cache)
			} else {
				rest, open = st.take([]request{r}, maxGroup)
			}
			st.serve(rest, cache)
			if !open {
				return
			}
		case <-compactDone:
			// The compacted copy stores the same revisions at other places.
			cache.reset()
			st.finishCompaction()
		case r := <-st.reopening:
			cache.reset()
			st.reopened(r)
		case <-st.kick:
			st.kicked()
		}
	}
}

// gatherYields and gatherTime bound how long gatherUpdates waits for one
// group.
const (
	gatherYields = 8
	gatherTime   = 500 * time.Microsecond
)

// gatherUpdates serves u and the update requests that queue behind it as
// one group, merging each as it arrives. Writers answered by the last
// commit are runnable but may not have queued their next request yet;
// taking the group at once would leave them to the next one, so that N
// concurrent writers settle into two halves taking turns, each half paying
// a commit. Yielding while the queue grows lets one commit serve nearly all
// of them (16 writers: 14 documents per commit instead of 8), and merging
// what has come in the meantime keeps the updater busy while the others
// prepare theirs. It stops at the first yield that brings no request, so a
// single writer costs one yield that returns at once. It returns the
// requests it took but did not serve (one that is not an update ends the
// group), and whether the queue is still open.
func (st *dbState) gatherUpdates(u *updateReq, cache *docCache) ([]request, bool) {
	ups := []*updateReq{u}
	g, err := st.beginGroup(cache, len(u.docs))
	var replies []updateReply
	if err == nil {
		replies, err = g.merge(ups, cache, replies)
	}
	var rest []request
	open := true
	start := time.Now()
	for y := 0; err == nil && y < gatherYields && len(ups) < maxGroup && time.Since(start) <= gatherTime; y++ {
		runtime.Gosched()
		var taken []request
		taken, open = st.take(nil, maxGroup-len(ups))
		var batch []*updateReq
		for len(taken) > 0 {
			u, ok := taken[0].(*updateReq)
			if !ok {
				break
			}
			batch, taken = append(batch, u), taken[1:]
		}
		rest = taken
		ups = append(ups, batch...)
		if len(batch) > 0 {
			replies, err = g.merge(batch, cache, replies)
		}
		if len(batch) == 0 || len(rest) > 0 || !open {
			break
		}
	}
	st.finishGroup(g, ups, replies, err, cache)
	return rest, open
}

// take appends to got what is queued, without waiting, until got holds
// max requests, and reports whether the queue is still open.
func (st *dbState) take(got []request, max int) ([]request, bool) {
	for len(got) < max {
		select {
		case r, ok := <-st.reqs:
			if !ok {
				return got, false
			}
			got = append(got, r)
		default:
			return got, true
		}
	}
	return got, true
}

// serve handles queued requests in order; consecutive updates share one
// commit.
func (st *dbState) serve(group []request, cache *docCache) {
	for i := 0; i < len(group); {
		if _, ok := group[i].(*updateReq); !ok {
			// Such a request may write doc infos itself (purge) or fail a
			// commit and reopen the database: the cache cannot follow.
			cache.reset()
			st.serveFunc(group[i].(*funcReq))
			i++
			continue
		}
		j := i
		var ups []*updateReq
		for ; j < len(group); j++ {
			u, ok := group[j].(*updateReq)
			if !ok {
				break
			}
			ups = append(ups, u)
		}
		st.serveUpdates(ups, cache)
		i = j
	}
}

func (st *dbState) serveFunc(r *funcReq) {
	edb, err := st.writer()
	if err != nil {
		r.reply <- err
		return
	}
	err = r.fn(edb)
	r.reply <- err
}

// docWork is one document while a group is merged.
type docWork struct {
	old     *engines.DocInfo
	tree    engines.RevTree
	shape   treeShape // of tree
	pending []pendingBody
	changed bool
	final   finalDoc // once written
}

// treeShape is what the updater knows of a revision tree without walking
// it again: whether it is one branch without forks, the shape of nearly
// every document's history, and if so its leaf. The zero value knows
// nothing. Walking a long history costs a cache miss per revision, and a
// save would otherwise walk it several times.
type treeShape struct {
	known  bool
	linear bool
	leaf   revtree.Leaf // if linear
}

// linearLeaf returns the leaf of w's tree if the tree is linear, walking
// it only when its shape is not known yet.
func (w *docWork) linearLeaf() (revtree.Leaf, bool) {
	if !w.shape.known {
		l, ok := revtree.LinearLeaf(w.tree)
		w.shape = treeShape{known: true, linear: ok, leaf: l}
	}
	return w.shape.leaf, w.shape.linear
}

// newTree is a new document's revision tree, allocated at once.
type newTree struct {
	branch [1]engines.RevBranch
	node   engines.RevNode
	value  engines.RevValue
}

// pendingBody is a revision added in this group whose body is not written
// yet: its value is completed (Ptr, Seq) just before WriteDocInfos.
type pendingBody struct {
	rev   engines.Rev
	value *engines.RevValue
	body  []byte
	enc   []byte // body encoded by the engine, or nil
}

type localWork struct {
	cur     *engines.LocalDoc
	changed bool
}

// serveUpdates merges a group of update requests and commits them once.
func (st *dbState) serveUpdates(ups []*updateReq, cache *docCache) {
	// Sized for every document at once: growing the map was a quarter of
	// loading a 1,000-document batch.
	g, err := st.beginGroup(cache, countDocs(ups))
	var replies []updateReply
	if err == nil {
		replies, err = g.merge(ups, cache, nil)
	}
	st.finishGroup(g, ups, replies, err, cache)
}

// countDocs counts the documents of ups.
func countDocs(ups []*updateReq) int {
	n := 0
	for _, u := range ups {
		n += len(u.docs)
	}
	return n
}

// beginGroup starts a group of about docs documents on the writable
// handle.
func (st *dbState) beginGroup(cache *docCache, docs int) (*group, error) {
	edb, err := st.writer()
	if err != nil {
		cache.reset()
		return nil, err
	}
	cache.bind(edb)
	return &group{st: st, edb: edb, revsLimit: edb.RevsLimit(), docs: make(map[string]*docWork, docs), locals: map[string]*localWork{}}, nil
}

// merge loads the documents of ups and merges the requests in order,
// appending their replies to replies. An error fails the whole group.
func (g *group) merge(ups []*updateReq, cache *docCache, replies []updateReply) ([]updateReply, error) {
	if err := g.load(ups, cache); err != nil {
		return replies, err
	}
	for _, u := range ups {
		replies = append(replies, g.apply(u))
	}
	return replies, nil
}

// finishGroup writes and commits a merged group and answers its writers,
// or fails every one of them with err.
func (st *dbState) finishGroup(g *group, ups []*updateReq, replies []updateReply, err error, cache *docCache) {
	written := false
	if err == nil {
		written, err = g.write()
	}
	if err == nil && written {
		err = g.edb.Commit()
		if err != nil {
			err = storageErr(st.name, "commit", err)
			st.recover(err)
		}
	}
	if err != nil {
		// The engine may now hold something else than the cache says.
		cache.reset()
		for _, u := range ups {
			u.fail(err)
		}
		return
	}
	if written {
		st.commits.Add(1)
		st.committedReqs.Add(uint64(len(ups)))
		st.committed()
	}
	for i, u := range ups {
		for j, p := range u.docs {
			if replies[i].results[j].Err == nil && !p.local {
				f := g.docs[p.id].final
				replies[i].infos[j], replies[i].shapes[j] = f.di, f.shape
			}
		}
		u.reply <- replies[i]
	}
	// The cache is the updater's alone, so filling it can wait until the
	// writers are answered: a bulk load's caller prepares its next batch
	// meanwhile (1,000 new doc infos take ~0.4 ms to insert).
	for _, f := range g.final {
		cache.put(f.di, f.revs, f.shape)
	}
}

// group is the state of one updater pass.
type group struct {
	st        *dbState
	edb       engines.DB
	revsLimit uint64
	docs      map[string]*docWork
	locals    map[string]*localWork
	// final points at docWork.final of every document written, in ID
	// order. Not a map: a fresh 1,000-entry map per group cost a bulk load
	// ~0.4 us per document to allocate and clear.
	final []*finalDoc
}

// finalDoc is a document's doc info as the group writes it, with its
// tree's shape and revision count (-1 when not counted).
type finalDoc struct {
	di    *engines.DocInfo
	shape treeShape
	revs  int
}

// load reads the current doc info of every document the group touches:
// from the cache, else from the engine (and then into the cache).
func (g *group) load(ups []*updateReq, cache *docCache) error {
	var ids, lids []string
	// The group's docWorks come from one slice, not one allocation each:
	// they live as long as the group. It has room for every document, so
	// appending never moves the ones g.docs points to.
	works := make([]docWork, 0, countDocs(ups))
	for _, u := range ups {
		for _, p := range u.docs {
			if p.err != nil {
				continue
			}
			if p.local {
				if _, ok := g.locals[p.id]; !ok {
					g.locals[p.id] = &localWork{}
					lids = append(lids, p.id)
				}
			} else if _, ok := g.docs[p.id]; !ok {
				works = append(works, docWork{})
				w := &works[len(works)-1]
				g.docs[p.id] = w
				if e, ok := cache.get(p.id); ok {
					w.old, w.tree, w.shape = e.di, e.di.RevTree, e.shape
				} else {
					ids = append(ids, p.id)
				}
			}
		}
	}
	if len(ids) > 0 {
		infos, err := g.edb.OpenDocs(ids)
		if err != nil {
			return storageErr(g.st.name, "read", err)
		}
		for i, id := range ids {
			w := g.docs[id]
			w.old = infos[i]
			if infos[i] != nil {
				w.tree = infos[i].RevTree
				cache.put(infos[i], -1, treeShape{})
			}
		}
	}
	if len(lids) > 0 {
		lds, err := g.edb.OpenLocalDocs(lids)
		if err != nil {
			return storageErr(g.st.name, "read", err)
		}
		for i, id := range lids {
			if lds[i] != nil && !lds[i].Deleted {
				g.locals[id].cur = lds[i]
			}
		}
	}
	return nil
}

// apply merges one request's documents into the group's working state. An
// all-or-nothing request that fails anywhere leaves no trace.
func (g *group) apply(u *updateReq) updateReply {
	rep := updateReply{results: make([]UpdateResult, len(u.docs)), infos: make([]*engines.DocInfo, len(u.docs)), shapes: make([]treeShape, len(u.docs))}
	var saved map[string]docWork
	var savedLocal map[string]localWork
	if u.allOrNothing {
		saved, savedLocal = map[string]docWork{}, map[string]localWork{}
		for _, p := range u.docs {
			if w := g.docs[p.id]; w != nil && !p.local {
				c := *w
				c.pending = slices.Clone(w.pending)
				saved[p.id] = c
			}
			if w := g.locals[p.id]; w != nil && p.local {
				savedLocal[p.id] = *w
			}
		}
	}
	failed := false
	for i, p := range u.docs {
		res := &rep.results[i]
		res.ID = p.id
		switch {
		case p.err != nil:
			res.Err = p.err
		case p.local:
			res.Rev, res.Err = g.applyLocal(p)
		case u.replicated:
			res.Rev, res.Err = g.applyReplicated(p)
		default:
			res.Rev, res.Err = g.applyInteractive(p)
		}
		if res.Err != nil {
			failed = true
		}
	}
	if u.allOrNothing && failed {
		for id, w := range saved {
			*g.docs[id] = w
		}
		for id, w := range savedLocal {
			*g.locals[id] = w
		}
		for i := range rep.results {
			if rep.results[i].Err == nil {
				rep.results[i].Rev = ""
				rep.results[i].Err = fmt.Errorf("%s not saved: %w", u.docs[i].id, errAllOrNothing)
			}
		}
	}
	return rep
}

// applyInteractive is an edit made by a user: it must extend a current
// leaf, following couch_db_updater's rules (reference §3.3).
func (g *group) applyInteractive(p *prepared) (string, error) {
	w := g.docs[p.id]
	rev := engines.Rev{Pos: p.base.Pos + 1, ID: p.newID}
	size := p.size
	var path engines.RevBranch
	// Most histories are one branch: its leaf is the winner, and extending
	// it keeps the history one branch.
	winner, linear := w.linearLeaf()
	exists := linear
	if !linear {
		winner, exists = revtree.WinningLeaf(w.tree)
	}
	switch {
	case !exists:
		if p.hasBase {
			return "", fmt.Errorf("%w: %s does not exist, so it cannot be updated from revision %s", ErrConflict, p.id, revtree.FormatRev(p.base))
		}
		if p.deleted {
			return "", fmt.Errorf("%w: %s", ErrNotFound, p.id)
		}
	case winner.Deleted():
		if p.hasBase {
			return "", fmt.Errorf("%w: %s was deleted; save it without a _rev to recreate it", ErrConflict, p.id)
		}
		if p.deleted {
			return "", fmt.Errorf("%w: %s is already deleted", ErrConflict, p.id)
		}
		// Recreating a deleted document extends the winning tombstone, so
		// its history stays one branch (couch_db_updater's re-parenting).
		parent := winner.Rev
		rev = engines.Rev{Pos: parent.Pos + 1, ID: revtree.NewRevID(false, parent, p.body)}
		size = uint64(jsondoc.RenderedSize(p.id, revtree.FormatRev(rev), false, p.body))
		if !linear {
			path = revtree.PathFromRevs(rev.Pos, []string{rev.ID, parent.ID}, nil)
		}
	default:
		if !p.hasBase {
			return "", fmt.Errorf("%w: %s exists; give its current _rev (%s) to update it", ErrConflict, p.id, revtree.FormatRev(winner.Rev))
		}
		// The winner is a leaf: the usual edit needs no search.
		if p.base != winner.Rev && !revtree.IsLeaf(w.tree, p.base) {
			return "", fmt.Errorf("%w: %s: revision %s is not current (current: %s)", ErrConflict, p.id, revtree.FormatRev(p.base), revtree.FormatRev(winner.Rev))
		}
		if !linear {
			path = revtree.PathFromRevs(rev.Pos, []string{rev.ID, p.base.ID}, nil)
		}
	}
	var v *engines.RevValue
	var tree engines.RevTree
	extended := false // tree is one branch ending in rev
	if !exists {
		// A new document: its tree is the revision alone, with nothing to
		// merge or stem (the usual case of a bulk load), made in one
		// allocation.
		nt := &newTree{value: engines.RevValue{Deleted: p.deleted, Size: size}}
		v = &nt.value
		nt.node = engines.RevNode{ID: rev.ID, Value: v}
		nt.branch[0] = engines.RevBranch{Start: 1, Root: &nt.node}
		tree = nt.branch[:]
		extended = true
	} else {
		v = &engines.RevValue{Deleted: p.deleted, Size: size}
		if linear {
			// The edit extends the only leaf (an update names a leaf, a
			// recreation extends the winner).
			tree, extended = revtree.AppendLeaf(w.tree, winner.Rev, rev.ID, v)
			if !extended {
				path = revtree.PathFromRevs(rev.Pos, []string{rev.ID, winner.Rev.ID}, nil)
			}
		}
	}
	if !extended {
		setLeafValue(path, v)
		var res revtree.MergeResult
		tree, res = revtree.Merge(w.tree, path)
		if res != revtree.NewLeaf {
			return "", fmt.Errorf("%w: %s: revision %s already exists", ErrConflict, p.id, revtree.FormatRev(rev))
		}
	}
	// A linear history no longer than revs_limit has nothing to stem, and
	// stemming a longer one keeps it linear with the same leaf.
	if !extended || g.revsLimit > 0 && rev.Pos-tree[0].Start >= g.revsLimit {
		tree = revtree.Stem(tree, g.revsLimit)
	}
	w.tree = tree
	w.shape = treeShape{}
	if extended {
		w.shape = treeShape{known: true, linear: true, leaf: revtree.Leaf{Rev: rev, Value: v}}
	}
	w.pending = append(w.pending, pendingBody{rev: rev, value: v, body: p.body, enc: p.enc})
	w.changed = true
	if rev == (engines.Rev{Pos: p.base.Pos + 1, ID: p.newID}) {
		return p.newRev, nil
	}
	return revtree.FormatRev(rev), nil
}

// writeBody writes a pending body, encoded ahead if the writer's engine
// encodes bodies (engines.BodyEncoder) and the writer did.
func (g *group) writeBody(pb pendingBody) (uint64, error) {
	if be, ok := g.edb.(engines.BodyEncoder); ok && pb.enc != nil {
		ptr, _, err := be.WriteEncodedDocBody(pb.enc)
		return ptr, err
	}
	ptr, _, err := g.edb.WriteDocBody(pb.body)
	return ptr, err
}

// setLeafValue puts v on the last node of a linear path built by
// PathFromRevs with a nil leaf value.
func setLeafValue(b engines.RevBranch, v *engines.RevValue) {
	n := b.Root
	for len(n.Children) > 0 {
		n = n.Children[0]
	}
	n.Value = v
}

// applyReplicated merges a revision with its history as given
// (new_edits=false): no conflict check, and a revision already present is a
// silent no-op that takes no new sequence.
func (g *group) applyReplicated(p *prepared) (string, error) {
	w := g.docs[p.id]
	v := &engines.RevValue{Deleted: p.deleted, Size: p.size}
	path := revtree.PathFromRevs(p.rev.Pos, p.revs, v)
	tree, _ := revtree.Merge(w.tree, path)
	if revtree.Equal(tree, w.tree) {
		return revtree.FormatRev(p.rev), nil
	}
	w.tree = revtree.Stem(tree, g.revsLimit)
	w.shape = treeShape{}
	w.pending = append(w.pending, pendingBody{rev: p.rev, value: v, body: p.body, enc: p.enc})
	w.changed = true
	return revtree.FormatRev(p.rev), nil
}

// applyLocal writes or deletes a local document: rev "0-N", no conflict
// check (CouchDB dropped it for local docs), no sequence.
func (g *group) applyLocal(p *prepared) (string, error) {
	w := g.locals[p.id]
	if p.deleted {
		if w.cur == nil {
			return "", fmt.Errorf("%w: %s", ErrNotFound, p.id)
		}
		w.cur, w.changed = nil, true
		return "0-0", nil
	}
	w.cur = &engines.LocalDoc{ID: p.id, Rev: p.localRev + 1, Body: p.body}
	w.changed = true
	return "0-" + strconv.FormatUint(w.cur.Rev, 10), nil
}

// write assigns update sequences in document-id order, stores the new
// bodies and the doc infos. It reports whether there was anything to write.
func (g *group) write() (bool, error) {
	var ids []string
	for id, w := range g.docs {
		if w.changed {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	g.final = make([]*finalDoc, 0, len(ids))
	seq := g.edb.UpdateSeq()
	pairs := make([]engines.DocInfoPair, 0, len(ids))
	for _, id := range ids {
		w := g.docs[id]
		seq++
		// A linear history's leaf is its winner, its sizes and, usually,
		// the revision just added.
		winner, linear := w.linearLeaf()
		var active, external uint64
		if linear {
			if winner.Value != nil {
				external = winner.Value.Size
			}
			active = external
		} else {
			winner, _ = revtree.WinningLeaf(w.tree)
			active, external = revtree.Sizes(w.tree)
		}
		for _, pb := range w.pending {
			var value *engines.RevValue
			if linear && pb.rev == winner.Rev {
				value = winner.Value
			} else if node := revtree.FindNode(w.tree, pb.rev); node != nil {
				value = node.Value
			}
			if value != pb.value {
				continue // stemmed away, or an existing value was kept
			}
			ptr, err := g.writeBody(pb)
			if err != nil {
				return false, storageErr(g.st.name, "write", err)
			}
			pb.value.Ptr, pb.value.Seq = ptr, seq
		}
		di := &engines.DocInfo{
			ID:           id,
			UpdateSeq:    seq,
			Deleted:      winner.Deleted(),
			RevTree:      w.tree,
			ActiveSize:   active,
			ExternalSize: external,
		}
		revs := -1
		if linear {
			revs = int(winner.Rev.Pos - w.tree[0].Start + 1)
		}
		w.final = finalDoc{di: di, shape: w.shape, revs: revs}
		g.final = append(g.final, &w.final)
		pairs = append(pairs, engines.DocInfoPair{Old: w.old, New: di})
	}
	var locals []engines.LocalDoc
	for id, w := range g.locals {
		if !w.changed {
			continue
		}
		if w.cur == nil {
			locals = append(locals, engines.LocalDoc{ID: id, Deleted: true})
		} else {
			locals = append(locals, *w.cur)
		}
	}
	if len(pairs) == 0 && len(locals) == 0 {
		return false, nil
	}
	slices.SortFunc(locals, func(a, b engines.LocalDoc) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	if err := g.edb.WriteDocInfos(pairs, locals, nil); err != nil {
		return false, storageErr(g.st.name, "write", err)
	}
	return true, nil
}
