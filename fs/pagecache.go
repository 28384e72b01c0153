package fs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/couchfs/couchfs/dbcore"
)

// The kernel keeps one size and one set of cached pages per inode, shared by
// every reader, and cuts every read through the page cache to that size. So
// the two must always describe the same revision: pages of revision 1 read
// with revision 2's size come out padded with zeros or cut short. The file
// system keeps them together by accounting for one revision per document
// file, fileNode.cachedRev (of rendered size cachedSize):
//
//   - every size it reports (GETATTR, LOOKUP, READDIRPLUS) is cachedSize;
//   - every page it supplies (READ on a page-cache handle, pushes) holds
//     cachedRev's bytes, whichever revision the reading handle opened;
//   - it moves to a newer revision only under fileNode.kmu, by first
//     setting cachedRev, then dropping the kernel's attributes and pages,
//     then pushing the new pages (recacheLocked).
//
// kmu orders the attributes a reply carries with those notifications: a
// reply computed before a notification answers a request the kernel sent
// before it, and the kernel ignores attributes of such a request once the
// notification has arrived; a reply computed after it describes the new
// revision. READ never takes kmu: dropping pages waits for reads in flight.
//
// A handle that may write, or that opened while a writer had the file open,
// bypasses the page cache (DIRECT_IO) and reads its own snapshot: a writer's
// O_TRUNC and writes move the kernel's size as they happen.

// cacheOpen decides, for a read-only open of document id whose snapshot is
// revision rev rendered as data, whether the handle reads through the page
// cache, and if so makes the kernel's pages and size rev's. current reports
// whether rev was the node's revision when the snapshot was read.
func (n *fileNode) cacheOpen(id, rev string, data []byte, current bool) bool {
	n.kmu.Lock()
	defer n.kmu.Unlock()
	n.mu.Lock()
	// A save may have overtaken the read while this open waited for kmu.
	cacheable := current && n.kind == kindDoc && n.id == id && n.rev == rev && n.writers == 0
	if !cacheable {
		n.mu.Unlock()
		return false
	}
	stale := n.staleGen != n.fixedGen || n.cachedRev != rev
	if !stale {
		n.mu.Unlock()
		return true
	}
	n.fixedGen = n.staleGen
	n.recacheLocked(rev, data)
	return true
}

// recacheLocked makes revision rev, rendered as data, the one the kernel
// caches: it is accounted for first, then the kernel's attributes and pages
// are dropped, then data is pushed, so that reading costs no READ request —
// and no GETATTR on the next open either, which the kernel otherwise sends
// after every READ to refresh atime. If the kernel refuses the push, READs
// fill the pages with the same bytes. The caller holds kmu and n.mu;
// recacheLocked releases n.mu.
func (n *fileNode) recacheLocked(rev string, data []byte) {
	n.cachedRev, n.cachedSize = rev, int64(len(data))
	n.mu.Unlock()
	n.NotifyContent(0, 0)
	if len(data) <= maxPush {
		_ = n.WriteCache(0, data)
	}
}

// docAttr fills a with the attributes of stored document n for the kernel:
// the size is that of the revision whose pages the kernel may hold. While
// the node knows of a newer revision, interim is true: the caller marks the
// reply as not to be cached, and the kernel is queued to move to the newer
// revision. The caller holds neither lock.
func (n *fileNode) docAttr(a *fuse.Attr) (interim bool) {
	n.kmu.Lock()
	defer n.kmu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.kind != kindDoc || n.cachedRev == "" {
		n.attrLocked(a, n.size)
		return false
	}
	n.attrLocked(a, n.cachedSize)
	if n.cachedRev == n.rev {
		return false
	}
	if n.fixedGen == n.staleGen {
		n.staleGen++
	}
	n.m.inv.queueContent(n, n.staleGen)
	return true
}

// pageBytes returns what a READ through the page cache must return for a
// handle that opened revision rev as snap: cachedRev's bytes, which are
// snap itself unless the document changed since the open. The caller holds
// no lock of n.
func (n *fileNode) pageBytes(rev string, snap []byte) []byte {
	n.mu.Lock()
	cached, id := n.cachedRev, n.id
	n.mu.Unlock()
	if cached == rev || cached == "" {
		return snap
	}
	db, err := n.m.openDB(n.ns.db)
	if err != nil {
		return snap
	}
	defer db.Close()
	doc, err := db.GetRev(id, cached)
	if err != nil {
		// Compacted away meanwhile: the kernel is about to drop these
		// pages (a newer revision is queued), so the snapshot serves.
		return snap
	}
	return doc.JSON()
}

// refreshKernel brings the kernel up to date with the node, if that is still
// due for staleness generation gen: its attributes are dropped and, if it
// caches the document's pages, they are replaced by the current revision's.
// The invalidator goroutine calls it; the caller holds no lock of n.
func (n *fileNode) refreshKernel(gen uint64) {
	n.kmu.Lock()
	defer n.kmu.Unlock()
	n.mu.Lock()
	due := n.fixedGen < gen
	cached := n.kind == kindDoc && !n.pending && n.cachedRev != "" && n.writers == 0
	id := n.id
	n.mu.Unlock()
	if !due {
		return
	}
	if !cached {
		n.mu.Lock()
		n.fixedGen = gen
		n.mu.Unlock()
		n.NotifyContent(0, 0)
		return
	}
	var doc *dbcore.Doc
	stamp := n.m.now()
	if db, err := n.m.openDB(n.ns.db); err == nil {
		doc, err = db.Get(id)
		db.Close()
		if err != nil {
			doc = nil
		}
	}
	n.mu.Lock()
	n.fixedGen = gen
	if doc == nil || n.kind != kindDoc || n.id != id || !n.served(doc.Rev, doc.Size(), stamp) {
		// Gone, renamed or overtaken: the kernel drops what it has and
		// refills it from the revision the node knows.
		n.cachedRev, n.cachedSize = n.rev, n.size
		n.mu.Unlock()
		if errno := n.NotifyContent(0, 0); errno != 0 && errno != syscall.ENOENT {
			n.m.log.Debug("invalidation refused", "db", n.ns.db, "id", id, "errno", errno.Error())
		}
		return
	}
	n.recacheLocked(doc.Rev, doc.JSON())
}
