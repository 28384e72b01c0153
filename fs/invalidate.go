package fs

import (
	"strings"
	"sync"

	"github.com/couchfs/couchfs/dbcore"
)

// invalidator keeps the kernel's caches honest. One goroutine, holding no
// file system lock while it talks to the kernel (go-fuse's rule for
// notifications), does two jobs:
//
//   - for every database dbcore reports changed (through any path: this
//     mount, another program using dbcore, replication), it reads the
//     changes since the last seq it handled and tells the kernel to drop
//     what it caches for the documents that changed;
//   - it sends the notifications file system operations queue (after a
//     save through the mount the kernel holds the bytes the application
//     wrote, not the rendering).
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

// notice is one queued notification: the content (attributes and pages)
// of a file node whose kernel state went stale at gen, or the directory
// entry of a node that no longer exists.
type notice struct {
	n     *fileNode
	gen   uint64
	entry bool
}

func newInvalidator(m *mount) *invalidator {
	return &invalidator{m: m, wake: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{})}
}

func (v *invalidator) start(root *rootNode) {
	v.root = root
	v.sub = v.m.srv.Subscribe()
	go v.run()
}

// stop ends the goroutine; called once, after the file system is unmounted.
func (v *invalidator) stop() {
	close(v.quit)
	<-v.stopped
	v.sub.Close()
}

// queueContent asks for node n's kernel attributes and pages to be dropped
// unless an Open already did so for gen. Any goroutine.
func (v *invalidator) queueContent(n *fileNode, gen uint64) {
	v.push(notice{n: n, gen: gen})
}

// queueEntry asks for n's directory entry to be dropped. Any goroutine.
func (v *invalidator) queueEntry(n *fileNode) {
	v.push(notice{n: n, entry: true})
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

func (v *invalidator) run() {
	defer close(v.stopped)
	for {
		select {
		case <-v.quit:
			return
		case <-v.wake:
			v.drain()
		case <-v.sub.C():
			for _, db := range v.sub.Take() {
				v.refresh(db)
			}
			v.drain()
		}
	}
}

func (v *invalidator) drain() {
	v.mu.Lock()
	q := v.queue
	v.queue = nil
	v.mu.Unlock()
	for _, nt := range q {
		if nt.entry {
			if name, parent := nt.n.Parent(); parent != nil {
				parent.NotifyEntry(name)
			}
			continue
		}
		nt.n.refreshKernel(nt.gen)
	}
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
		// Deleted elsewhere: drop the kernel's entry for it.
		v.root.NotifyEntry(name)
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
	var design *dbDir
	if ch := dir.GetChild(nameDesign); ch != nil {
		design, _ = ch.Operations().(*dbDir)
	}
	for _, c := range changes {
		if c.Seq > since {
			since = c.Seq
		}
		d, rel := dir, c.ID
		if r, ok := strings.CutPrefix(c.ID, "_design/"); ok {
			if design == nil {
				continue
			}
			d, rel = design, r
		}
		v.invalidateDoc(d, EncodeName(rel), c)
	}
	dir.lastSeq.Store(since)
}

// invalidateDoc drops the kernel's cache of one changed document.
func (v *invalidator) invalidateDoc(d *dbDir, name string, c dbcore.Change) {
	if cname := strings.TrimSuffix(name, docSuffix) + conflictsSuffix; d.GetChild(cname) != nil {
		d.NotifyEntry(cname)
	}
	ch := d.GetChild(name)
	if ch == nil {
		return
	}
	fn, ok := ch.Operations().(*fileNode)
	if !ok {
		return
	}
	fn.mu.Lock()
	if fn.kind != kindDoc || fn.id != c.ID || fn.pending {
		fn.mu.Unlock()
		return
	}
	if c.Deleted {
		fn.mu.Unlock()
		d.NotifyEntry(name)
		return
	}
	if c.Rev == fn.rev {
		// This mount served (or saved) exactly this revision.
		fn.mu.Unlock()
		return
	}
	fn.staleGen++
	gen := fn.staleGen
	fn.mu.Unlock()
	v.queueContent(fn, gen)
}
