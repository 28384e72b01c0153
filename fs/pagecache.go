package fs

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// The kernel keeps one size and one set of cached pages per inode, shared by
// every descriptor that reads through the page cache, and cuts those reads
// to that size. A reader must only ever get bytes of one revision, so the
// file system keeps one revision in the page cache at a time,
// fileNode.cachedRev of document cachedID (rendered size cachedSize), and
// never changes it while a descriptor may read it:
//
//   - cacheUsers counts the open handles that go through the page cache
//     (KEEP_CACHE readers; scratch handles, which have no DIRECT_IO). While
//     it is not zero the cached revision stays as it is: a read-only open of
//     that same revision joins it; an open of any other revision reads a
//     private snapshot (DIRECT_IO), as does every handle that may write;
//   - READ on a page-cache handle returns that handle's own snapshot, which
//     is cachedRev's rendering;
//   - only an open that finds cacheUsers at zero (and no writer) moves the
//     page cache to the revision it opened: it drops the kernel's pages and
//     attributes and stores the new rendering (openCached);
//   - every size reported (GETATTR, LOOKUP, READDIRPLUS) is cachedSize while
//     cacheUsers is not zero, else the node's current revision's size;
//   - a handle that may write waits at open, up to writerWait, for the
//     page-cache readers to close (beginWriter): its truncation and writes
//     move the kernel's size of the file while it works (O_TRUNC sets it to
//     0, a write past the end extends it), which the file system cannot
//     prevent.
//
// So a descriptor reads, from open to EOF, one revision's rendering. Only a
// page-cache reader still open when a writer stops waiting for it can stop
// short (a prefix, possibly empty); in the narrowest of races — a write
// landing while its READ is in flight — the kernel may also hand it the
// zero bytes it pads the last page with.
//
// Notifications and a killed process: the kernel handles a notification in
// the thread that writes it, and a thread that waits there forever keeps a
// killed couchfs from exiting, so its connection is never aborted and every
// program using the mount waits with it (docs/semantics.md §15). Dropping
// or storing pages waits for pages a READ in flight holds locked; a READ
// comes only from an open page-cache handle (the kernel sends RELEASE after
// its last READ completes), so with cacheUsers at zero, the only time
// openCached sends them, nothing can be in flight. Attribute-only
// invalidations wait for nothing. Entry invalidations wait for the
// directory's lock, which the kernel holds while a request in that
// directory waits for this process: they are sent only for changes the
// kernel did not make itself, and only by the invalidator goroutine, never
// while serving a request (invalidate.go).
//
// kmu orders the attributes a reply carries with these notifications: a
// reply computed before a notification answers a request the kernel sent
// before it, and the kernel ignores attributes of such a request once the
// notification has arrived; a reply computed after it describes the new
// state.

// openCached decides, for a read-only open of document id whose snapshot is
// revision rev rendered as data, whether the handle reads through the page
// cache (and then counts it in cacheUsers), and if so makes the kernel's
// pages rev's. current reports whether rev was the node's revision when the
// snapshot was read.
func (n *fileNode) openCached(id, rev string, data []byte, current bool) bool {
	n.kmu.Lock()
	defer n.kmu.Unlock()
	n.mu.Lock()
	// A save may have overtaken the read while this open waited for kmu.
	usable := current && n.kind == kindDoc && n.id == id && n.rev == rev && n.writers == 0
	switch {
	case !usable:
		n.mu.Unlock()
		return false
	case n.cacheUsers > 0:
		// Other descriptors read the cached revision: join them only if it
		// is this one.
		join := n.cachedID == id && n.cachedRev == rev
		if join {
			n.addCacheUserLocked()
		}
		n.mu.Unlock()
		return join
	case n.cachedID == id && n.cachedRev == rev && n.fixedGen == n.staleGen:
		n.addCacheUserLocked()
		n.mu.Unlock()
		return true
	}
	// A node the kernel holds no pages of, with attributes it was told
	// that are current and of this rendering's size, needs no
	// invalidation: it would only make the reader's fstat ask again.
	fresh := !n.pagesMaybe && n.fixedGen == n.staleGen && n.size == int64(len(data))
	n.pagesMaybe = true
	n.addCacheUserLocked()
	n.fixedGen = n.staleGen
	n.cachedID, n.cachedRev, n.cachedSize = id, rev, int64(len(data))
	n.mu.Unlock()
	// No page-cache handle is open, so no READ holds a page lock: these
	// notifications cannot wait for this process.
	if !fresh {
		if errno := n.NotifyContent(0, 0); errno != 0 && errno != syscall.ENOENT {
			n.m.log.Debug("page cache invalidation refused", "db", n.ns.db, "id", id, "errno", errno.Error())
		}
	}
	// Storing the rendering spares the reader its READ requests — and the
	// GETATTR the kernel sends on the next open after a READ to refresh
	// atime. If the kernel refuses, READs fill the pages with the same bytes.
	if len(data) <= maxPush {
		_ = n.WriteCache(0, data)
	}
	return true
}

// maxPush bounds the documents an open stores into the page cache itself.
const maxPush = 1 << 20

// addCacheUserLocked counts one more handle in cacheUsers; the caller holds
// n.mu.
func (n *fileNode) addCacheUserLocked() {
	if n.cacheUsers == 0 {
		n.cacheIdle = make(chan struct{})
	}
	n.cacheUsers++
}

// writerWait bounds how long a handle that may write waits at open for the
// descriptors reading the page cache to close.
const writerWait = 100 * time.Millisecond

// beginWriter counts a handle that may write in writers, so that no new
// descriptor reads the page cache, and waits for the descriptors that do
// to close: the writer's truncation and writes move the kernel's size of
// the file, under which a page-cache reader would stop short (or, racing
// a write, read the zero bytes past its revision's end on the last page).
// Readers normally hold a file for far less than writerWait; one that
// stays open longer (less, tail -f) only delays the writer by that much,
// and then reads what a reader overlapping an in-place rewrite may read.
// The caller holds no lock of n; the kernel holds none either while it
// waits for an OPEN.
func (n *fileNode) beginWriter(ctx context.Context) {
	n.mu.Lock()
	n.writers++
	n.pagesMaybe = true
	idle := n.cacheIdle
	n.mu.Unlock()
	if idle == nil {
		return
	}
	t := time.NewTimer(writerWait)
	defer t.Stop()
	select {
	case <-idle:
	case <-ctx.Done():
	case <-t.C:
		n.m.log.Debug("writer proceeds while the file is open for reading", "db", n.ns.db, "file", n.name)
	}
}

// closeCached is the release of a handle counted in cacheUsers. When the
// last one goes, the size reported becomes the current revision's: the
// kernel's attributes are refreshed if that differs from what it was told.
func (n *fileNode) closeCached() {
	n.kmu.Lock()
	n.mu.Lock()
	n.cacheUsers--
	if n.cacheUsers == 0 {
		close(n.cacheIdle)
		n.cacheIdle = nil
	}
	due := n.cacheUsers == 0 && n.kind == kindDoc &&
		(n.fixedGen != n.staleGen || n.cachedRev != n.rev || n.cachedID != n.id)
	var gen uint64
	if due {
		if n.fixedGen == n.staleGen {
			n.staleGen++
		}
		gen = n.staleGen
	}
	n.mu.Unlock()
	n.kmu.Unlock()
	if due {
		n.m.inv.queueAttrs(n, gen)
	}
}

// closeWriter is the release of a handle that could write. Its truncation
// and writes may have dropped pages, so unless other descriptors still read
// the page cache, the next open stores the rendering again. moved reports
// that they also left the kernel a size of the file no save has corrected
// (a refused save, a change after the last save): then the attributes are
// refreshed here. A handle whose draft was saved after its last change
// leaves the kernel nothing to correct, and sparing that notification
// spares a save a write to the device.
func (n *fileNode) closeWriter(moved bool) {
	n.kmu.Lock()
	n.mu.Lock()
	n.writers--
	if n.cacheUsers == 0 {
		n.cachedRev = ""
	}
	var gen uint64
	if moved {
		n.staleGen++
		gen = n.staleGen
	}
	n.mu.Unlock()
	n.kmu.Unlock()
	if moved {
		n.refreshAttrs(gen)
	}
}

// docAttr fills a with the attributes of stored document n for the kernel
// (see the top of this file for which size). While that size is not the
// current revision's, interim is true and the caller marks the reply as not
// to be cached. The caller holds neither lock.
func (n *fileNode) docAttr(a *fuse.Attr) (interim bool) {
	n.kmu.Lock()
	defer n.kmu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.kind != kindDoc || n.cacheUsers == 0 || n.cachedRev == "" {
		n.attrLocked(a, n.size)
		return false
	}
	n.attrLocked(a, n.cachedSize)
	return n.cachedRev != n.rev || n.cachedID != n.id
}

// refreshAttrs drops the kernel's cached attributes of n, if that is still
// due for staleness generation gen and no descriptor reads the page cache
// (closeCached asks again when the last one closes: until then the size
// reported stays the cached revision's). The invalidator goroutine calls it,
// and so do a save and a writer's release, in the request that made the
// attributes stale: an attribute invalidation waits for nothing, so sending
// it while serving a request is safe, and sending it there, before close()
// or fsync() returns, spares a handoff to the invalidator per save. The
// caller holds neither of n's locks.
func (n *fileNode) refreshAttrs(gen uint64) {
	n.kmu.Lock()
	defer n.kmu.Unlock()
	n.mu.Lock()
	if n.fixedGen >= gen || n.cacheUsers > 0 {
		n.mu.Unlock()
		return
	}
	n.fixedGen = n.staleGen
	id := n.id
	n.mu.Unlock()
	// A negative offset invalidates attributes only: no page is touched.
	if errno := n.NotifyContent(-1, 0); errno != 0 && errno != syscall.ENOENT {
		n.m.log.Debug("attribute invalidation refused", "db", n.ns.db, "id", id, "errno", errno.Error())
	}
}
