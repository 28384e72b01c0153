package dbcore

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/couchfs/couchfs/dbcore/jsondoc"
	"github.com/couchfs/couchfs/dbcore/revtree"
	"github.com/couchfs/couchfs/engines"
)

// UpdateOptions modify UpdateDocs.
type UpdateOptions struct {
	// Replicated stores revisions as given with their history
	// (new_edits=false): no new revision ids, no conflict check.
	Replicated bool
	// AllOrNothing applies every document of the call or none: if one
	// fails, the others fail too and nothing of the call is written.
	AllOrNothing bool
}

// UpdateResult is the outcome for one document of UpdateDocs.
type UpdateResult struct {
	ID  string
	Rev string // the new revision (interactive) or the stored one (replicated)
	Err error  // ErrConflict, ErrInvalidDoc, ErrTooLarge, ErrNotFound, …
}

// UpdateDocs writes documents: CouchDB's _bulk_docs. In an interactive
// update each Doc's Rev is the revision it edits ("" to create) and a new
// revision is made; Deleted with a Rev deletes. It returns once the group
// commit holding these documents is durable. Per-document failures are in
// the results, in input order; the error return is for failures of the
// whole call (storage, a closed or deleted database, read-only).
func (db *DB) UpdateDocs(docs []*Doc, opts UpdateOptions) ([]UpdateResult, error) {
	rep, err := db.update(db.prepareAll(docs, opts.Replicated), opts)
	if err != nil {
		return nil, err
	}
	return rep.results, nil
}

func (db *DB) update(ps []*prepared, opts UpdateOptions) (updateReply, error) {
	if db.st.srv.opts.ReadOnly {
		return updateReply{}, fmt.Errorf("update %s: %w", db.st.name, ErrReadOnly)
	}
	r := &updateReq{docs: ps, replicated: opts.Replicated, allOrNothing: opts.AllOrNothing, reply: make(chan updateReply, 1)}
	if err := db.st.send(r); err != nil {
		return updateReply{}, err
	}
	rep := <-r.reply
	return rep, rep.err
}

// parallelPrepare is the batch size from which UpdateDocs spreads parsing,
// hashing and sizing over every CPU: a bulk load would otherwise be bound
// by one core doing that work while the updater waits.
const parallelPrepare = 256

// prepareAll prepares docs, in parallel for large batches.
func (db *DB) prepareAll(docs []*Doc, replicated bool) []*prepared {
	ps := make([]*prepared, len(docs))
	workers := min(runtime.GOMAXPROCS(0), len(docs)/(parallelPrepare/2))
	if len(docs) < parallelPrepare || workers < 2 {
		for i, d := range docs {
			ps[i] = db.prepare(d, replicated)
		}
		return ps
	}
	chunk := (len(docs) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < len(docs); lo += chunk {
		hi := min(lo+chunk, len(docs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				ps[i] = db.prepare(docs[i], replicated)
			}
		}()
	}
	wg.Wait()
	return ps
}

// prepare validates and parses a Doc on the caller's goroutine.
func (db *DB) prepare(d *Doc, replicated bool) *prepared {
	p := &prepared{id: d.ID, deleted: d.Deleted, local: isLocal(d.ID)}
	if err := ValidateDocID(d.ID); err != nil {
		p.err = err
		return p
	}
	body := d.Body
	if len(body) == 0 {
		body = emptyBody
	}
	parsed, err := db.parse(d.ID, body)
	if err != nil {
		p.err = err
		return p
	}
	if parsed.HasID || parsed.HasRev || parsed.HasRevisions || parsed.Deleted {
		p.err = fmt.Errorf("%w: %s: Doc.Body must not hold _id, _rev, _deleted or _revisions", ErrInvalidDoc, d.ID)
		return p
	}
	p.body = parsed.Body
	if p.err = db.prepareRev(p, d.Rev, d.Revisions, replicated); p.err == nil {
		db.encodeBody(p)
	}
	return p
}

// encodeBody encodes p's body for the engine on the writer's goroutine, so
// that the updater, which writes the bodies of a group one by one, does not
// (engines.BodyEncoder: couchfile's compression was a third of the
// updater's time in a bulk load).
func (db *DB) encodeBody(p *prepared) {
	if db.st.encoder != nil && !p.local {
		p.enc = db.st.encoder.EncodeDocBody(p.body)
	}
}

// parse checks a document's JSON against the size and syntax rules.
func (db *DB) parse(id string, data []byte) (*jsondoc.Parsed, error) {
	max := db.st.srv.opts.MaxDocumentSize
	if len(data) > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrTooLarge, id, len(data), max)
	}
	parsed, err := jsondoc.Parse(data, jsondoc.Limits{MaxSize: max})
	if err != nil {
		if errors.Is(err, jsondoc.ErrTooLarge) {
			return nil, fmt.Errorf("%w: %s: %w", ErrTooLarge, id, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidDoc, id, err)
	}
	return parsed, nil
}

// prepareRev fills in the revision fields of p from the given rev.
func (db *DB) prepareRev(p *prepared, rev string, history []string, replicated bool) error {
	if p.local {
		if rev == "" {
			return nil
		}
		n, ok := strings.CutPrefix(rev, "0-")
		v, err := strconv.ParseUint(n, 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("%w: %s: invalid local revision %q (want 0-N)", ErrInvalidDoc, p.id, rev)
		}
		p.localRev = v
		return nil
	}
	if replicated {
		r, err := revtree.ParseRev(rev)
		if err != nil || r.Pos == 0 {
			return fmt.Errorf("%w: %s: a replicated revision needs a valid _rev, got %q", ErrInvalidDoc, p.id, rev)
		}
		ids := history
		if len(ids) == 0 {
			ids = []string{r.ID}
		}
		if ids[0] != r.ID || uint64(len(ids)) > r.Pos {
			return fmt.Errorf("%w: %s: _revisions does not match _rev %s", ErrInvalidDoc, p.id, rev)
		}
		for _, id := range ids {
			if id == "" {
				return fmt.Errorf("%w: %s: empty revision id in _revisions", ErrInvalidDoc, p.id)
			}
		}
		p.rev, p.revs = r, ids
		p.size = uint64(jsondoc.RenderedSize(p.id, rev, p.deleted, p.body))
		return nil
	}
	if rev != "" {
		r, err := revtree.ParseRev(rev)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidDoc, p.id, err)
		}
		p.base, p.hasBase = r, true
	}
	p.newID = revtree.NewRevID(p.deleted, p.base, p.body)
	p.newRev = revtree.FormatRev(engines.Rev{Pos: p.base.Pos + 1, ID: p.newID})
	p.size = uint64(jsondoc.RenderedSize(p.id, p.newRev, p.deleted, p.body))
	return nil
}

// SaveResult is what a save made: the new revision and the document as Get
// now returns it (nil when the save deleted the document).
type SaveResult struct {
	Rev string
	Doc *Doc
}

// SaveJSON is the filesystem's save of a whole file: data is the document's
// JSON object. An "_id" in data must equal id. The revision edited is
// "_rev" in data if present, else baseRev; with neither the save creates
// the document (ErrConflict if it exists). "_deleted": true deletes it.
// Local ids ("_local/…") follow local-document rules. Durable on return.
// The returned Doc's Body may share data's memory.
func (db *DB) SaveJSON(id string, data []byte, baseRev string) (SaveResult, error) {
	if err := ValidateDocID(id); err != nil {
		return SaveResult{}, err
	}
	parsed, err := db.parse(id, data)
	if err != nil {
		return SaveResult{}, err
	}
	if parsed.HasID && parsed.ID != id {
		return SaveResult{}, fmt.Errorf("%w: _id %q does not match the document id %q", ErrInvalidDoc, parsed.ID, id)
	}
	rev := baseRev
	if parsed.HasRev {
		rev = parsed.Rev
	}
	p := &prepared{id: id, local: isLocal(id), deleted: parsed.Deleted, body: parsed.Body}
	if err := db.prepareRev(p, rev, nil, false); err != nil {
		return SaveResult{}, err
	}
	db.encodeBody(p)
	rep, err := db.update([]*prepared{p}, UpdateOptions{})
	if err != nil {
		return SaveResult{}, err
	}
	res := rep.results[0]
	if res.Err != nil {
		return SaveResult{}, res.Err
	}
	out := SaveResult{Rev: res.Rev}
	switch {
	case p.deleted:
	case p.local:
		out.Doc = &Doc{ID: id, Rev: res.Rev, Body: p.body}
	default:
		out.Doc, err = db.docAfterSave(rep.infos[0], rep.shapes[0], res.Rev, p.body)
		if err != nil {
			return SaveResult{}, err
		}
	}
	return out, nil
}

// docAfterSave is what Get returns after a save, built from the doc info the
// updater wrote without reading the body back when the save won. shape is
// what the updater knew of the tree.
func (db *DB) docAfterSave(di *engines.DocInfo, shape treeShape, rev string, body []byte) (*Doc, error) {
	if r, err := revtree.ParseRev(rev); err == nil && shape.known && shape.linear && !shape.leaf.Deleted() && r == shape.leaf.Rev {
		// The saved revision is the only leaf: the winner, no conflicts.
		return &Doc{ID: di.ID, Rev: rev, Body: body}, nil
	}
	w, linear := revtree.LinearLeaf(di.RevTree)
	ok := linear
	if !linear {
		w, ok = revtree.WinningLeaf(di.RevTree)
	}
	if !ok || w.Deleted() {
		return nil, nil
	}
	if revtree.FormatRev(w.Rev) != rev {
		d, err := db.Get(di.ID)
		if isNotFound(err) {
			return nil, nil
		}
		return d, err
	}
	d := &Doc{ID: di.ID, Rev: rev, Body: body}
	if linear {
		return d, nil
	}
	for _, c := range revtree.Conflicts(di.RevTree) {
		d.Conflicts = append(d.Conflicts, revtree.FormatRev(c))
	}
	return d, nil
}

// DeleteDoc deletes a document: a tombstone revision on rev, or on the
// current winner when rev is "". It returns the tombstone's revision ("0-0"
// for a local document). Durable on return.
func (db *DB) DeleteDoc(id, rev string) (string, error) {
	if rev == "" && !isLocal(id) {
		d, err := db.Get(id)
		if err != nil {
			return "", err
		}
		rev = d.Rev
	}
	res, err := db.UpdateDocs([]*Doc{{ID: id, Rev: rev, Deleted: true}}, UpdateOptions{})
	if err != nil {
		return "", err
	}
	return res[0].Rev, res[0].Err
}

// MoveDoc renames a document: it creates `to` with the body of from's
// winner and deletes `from`, both in one all-or-nothing update. It fails
// with ErrConflict if `to` exists and is not deleted. It returns to's new
// revision.
func (db *DB) MoveDoc(from, to string) (string, error) {
	if err := ValidateDocID(to); err != nil {
		return "", err
	}
	src, err := db.Get(from)
	if err != nil {
		return "", err
	}
	if from == to {
		return src.Rev, nil
	}
	res, err := db.UpdateDocs([]*Doc{
		{ID: to, Body: src.Body},
		{ID: from, Rev: src.Rev, Deleted: true},
	}, UpdateOptions{AllOrNothing: true})
	if err != nil {
		return "", err
	}
	for _, r := range res {
		if r.Err != nil && !errors.Is(r.Err, errAllOrNothing) {
			return "", r.Err
		}
	}
	return res[0].Rev, nil
}
