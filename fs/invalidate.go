package fs

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/couchfs/couchfs/dbcore"
)

// invalidator keeps the kernel's caches honest. It is the only goroutine
// that tells the kernel to drop attributes or names (pagecache.go explains
// the one page notification an open sends itself). It never runs on behalf
// of a FUSE request and holds no file system lock while it sends a name
// notification, which may wait for the kernel (go-fuse's rule), so such a
// wait never holds up an answer the kernel waits for; attribute refreshes
// hold only the node's kmu and wait for nothing. It does three jobs:
//
//   - for every database dbcore reports changed, it reads the changes since
//     the last seq it handled (at most every refreshGap) and, for the
//     changes this mount did not make itself, drops the kernel's attributes
//     of changed documents and the names of deleted ones. Changes the
//     kernel made itself — an unlink, a rename — are not notified: the
//     kernel updated its own caches when it performed them. A mount that is
//     its server's sole writer (Options.SoleWriter) skips this job;
//   - it sends the attribute refreshes file system operations queue (after
//     a rename onto a document, or when the last page-cache reader of a
//     file closes); a save and a writer's release send theirs themselves
//     (pagecache.go, refreshAttrs);
//   - it drops the names of documents that vanished without the kernel's
//     doing: a save of "_deleted": true, a purge, a delete elsewhere found by
//     an open.
type invalidator struct {
	m   *mount
	sub *dbcore.Subscription

	mu      sync.Mutex
	queue   []notice
	wake    chan struct{}
	quit    chan struct{}
	stopped chan struct{}
	root    *rootNode
}

// notice is one queued notification: the attributes of a file node whose
// kernel state went stale at gen, the directory entry of a node that no
// longer exists, or (n nil) a check of document id of database db, which a
// purge may have removed.
type notice struct {
	n     *fileNode
	gen   uint64
	entry bool
	db    string
	id    string
}

func newInvalidator(m *mount) *invalidator {
	return &invalidator{m: m, wake: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{})}
}

func (v *invalidator) start(root *rootNode) {
	v.root = root
	if !v.m.opts.SoleWriter {
		v.sub = v.m.srv.Subscribe()
	}
	go v.run()
}

// stop ends the goroutine; called once, after the file system is unmounted.
func (v *invalidator) stop() {
	close(v.quit)
	<-v.stopped
	if v.sub != nil {
		v.sub.Close()
	}
}

// queueAttrs asks for node n's kernel attributes to be dropped unless that
// was done since generation gen. Any goroutine.
func (v *invalidator) queueAttrs(n *fileNode, gen uint64) {
	v.push(notice{n: n, gen: gen})
}

// queueEntry asks for n's directory entry to be dropped: the document
// vanished and the kernel does not know. Any goroutine.
func (v *invalidator) queueEntry(n *fileNode) {
	v.push(notice{n: n, entry: true})
}

// queueCheck asks for document id of database db to be compared with what
// the kernel was told about it (after a purge, which leaves no change row).
// Any goroutine.
func (v *invalidator) queueCheck(db, id string) {
	v.push(notice{db: db, id: id})
}

func (v *invalidator) push(nt notice) {
	v.mu.Lock()
	v.queue = append(v.queue, nt)
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// refreshGap is the least time between two reads of the databases' changes.
// Every commit wakes the invalidator, and a read of the changes costs about
// as much CPU as the file system's share of a save, so commits that come
// closer together than this are read as one: a change made elsewhere
// reaches the kernel's caches at most this much later.
const refreshGap = 2 * time.Millisecond

func (v *invalidator) run() {
	defer close(v.stopped)
	// due fires when changes reported within refreshGap of the last read
	// are to be read; nil while none wait.
	var due <-chan time.Time
	var last time.Time
	var changed <-chan struct{} // nil, never ready, for a sole writer
	if v.sub != nil {
		changed = v.sub.C()
	}
	for {
		select {
		case <-v.quit:
			return
		case <-v.wake:
			v.drain()
		case _, ok := <-changed:
			if !ok {
				// The server closed: nothing more to follow.
				changed = nil
				continue
			}
			if wait := refreshGap - time.Since(last); wait > 0 {
				if due == nil {
					due = time.After(wait)
				}
				continue
			}
			last = v.refreshAll()
		case <-due:
			due = nil
			last = v.refreshAll()
		}
	}
}

// refreshAll pushes the changes of every database reported changed since
// the last call, then the queued notifications, and returns when it began.
func (v *invalidator) refreshAll() time.Time {
	start := time.Now()
	if v.sub == nil {
		return start
	}
	for _, db := range v.sub.Take() {
		v.refresh(db)
	}
	v.drain()
	return start
}

func (v *invalidator) drain() {
	v.mu.Lock()
	q := v.queue
	v.queue = nil
	v.mu.Unlock()
	for _, nt := range q {
		switch {
		case nt.n == nil:
			v.check(nt.db, nt.id)
		case nt.entry:
			v.dropEntry(nt.n)
		default:
			nt.n.refreshAttrs(nt.gen)
		}
	}
}

// dropEntry drops the kernel's name of node n, unless the kernel itself
// removed it (an unlink or rename through this mount).
func (v *invalidator) dropEntry(n *fileNode) {
	n.mu.Lock()
	own := n.ownOps > 0
	n.mu.Unlock()
	if own {
		return
	}
	if name, parent := n.Parent(); parent != nil {
		parent.NotifyEntry(name)
	}
}

// docDir returns the directory node of database db holding document id and
// the document's file name there, or nil if the kernel has not looked that
// directory up (then it caches nothing below it).
func (v *invalidator) docDir(db, id string) (*dbDir, string) {
	ch := v.root.GetChild(db)
	if ch == nil {
		return nil, ""
	}
	dir, ok := ch.Operations().(*dbDir)
	if !ok {
		return nil, ""
	}
	rel := id
	if r, ok := strings.CutPrefix(id, "_design/"); ok {
		ch := dir.GetChild(nameDesign)
		if ch == nil {
			return nil, ""
		}
		if dir, ok = ch.Operations().(*dbDir); !ok {
			return nil, ""
		}
		rel = r
	}
	name, err := docFileName(rel)
	if err != nil {
		return nil, ""
	}
	return dir, name
}

// refresh pushes the changes of database db since the last refresh to the
// kernel, for the documents it has inodes of.
func (v *invalidator) refresh(name string) {
	ch := v.root.GetChild(name)
	if ch == nil {
		return
	}
	dir, ok := ch.Operations().(*dbDir)
	if !ok {
		return
	}
	db, err := v.m.openDB(name)
	if err != nil {
		// Deleted elsewhere: drop the kernel's entry for it (an rmdir
		// through the mount already did).
		if !dir.removing.Load() {
			v.root.NotifyEntry(name)
		}
		return
	}
	defer db.Close()
	since := dir.lastSeq.Load()
	var changes []dbcore.Change
	err = db.Changes(since, 0, func(c dbcore.Change) error {
		changes = append(changes, c)
		return nil
	})
	if err != nil {
		v.m.log.Warn("invalidation: reading changes failed", "db", name, "err", err)
		return
	}
	if len(changes) > 0 {
		// Listings read before these changes must not be trusted for them.
		v.m.noteChange(name)
	}
	for _, c := range changes {
		if c.Seq > since {
			since = c.Seq
		}
		if d, file := v.docDir(name, c.ID); d != nil {
			v.invalidateDoc(d, file, c.ID, c.Rev, c.Deleted)
		}
	}
	dir.lastSeq.Store(since)
}

// check compares document id of database db with the node the kernel knows
// it by, after a purge.
func (v *invalidator) check(dbName, id string) {
	d, file := v.docDir(dbName, id)
	if d == nil {
		return
	}
	db, err := v.m.openDB(dbName)
	if err != nil {
		return
	}
	doc, err := db.Get(id)
	db.Close()
	switch {
	case errors.Is(err, dbcore.ErrNotFound):
		v.invalidateDoc(d, file, id, "", true)
	case err == nil:
		v.invalidateDoc(d, file, id, doc.Rev, false)
	}
}

// invalidateDoc brings the kernel's cache of document id, called name in
// directory d, up to date with a change to revision rev (deleted: the
// document is gone). A change this mount made itself needs nothing: the
// node already serves that revision, or the kernel itself performed the
// unlink or rename. The conflicts directory next to it needs nothing
// either: the kernel never caches its name (conflicts.go).
func (v *invalidator) invalidateDoc(d *dbDir, name, id, rev string, deleted bool) {
	ch := d.GetChild(name)
	if ch == nil {
		return
	}
	fn, ok := ch.Operations().(*fileNode)
	if !ok {
		return
	}
	fn.mu.Lock()
	if fn.kind != kindDoc || fn.id != id || fn.pending || fn.ownOps > 0 || rev == fn.rev {
		fn.mu.Unlock()
		return
	}
	if fn.saving > 0 && !deleted {
		// Most likely that save's own change, read before the save recorded
		// it; the save refreshes the attributes when it ends either way.
		fn.missed = true
		fn.mu.Unlock()
		return
	}
	if deleted {
		fn.mu.Unlock()
		d.NotifyEntry(name)
		return
	}
	fn.staleGen++
	gen := fn.staleGen
	fn.mu.Unlock()
	fn.refreshAttrs(gen)
}
