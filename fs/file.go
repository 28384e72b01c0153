package fs

import (
	"container/list"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/couchfs/couchfs/dbcore"
)

// fileKind is what a fileNode currently is. A rename can turn a scratch
// file into a document (an editor's atomic save) and a document into a
// scratch file (an editor's backup-by-rename), so the kind is state.
type fileKind int

const (
	kindDoc     fileKind = iota // a stored document, or one created here and not yet saved
	kindScratch                 // an in-memory scratch file
	kindSymlink                 // an in-memory scratch symlink
)

// fileNode is a regular file or symlink in a document directory.
type fileNode struct {
	node
	ns *nsState

	// kmu serialises what the kernel is told about the file's size with
	// changes to its cached pages (pagecache.go). Taken before mu; never
	// by READ.
	kmu sync.Mutex

	mu   sync.Mutex
	kind fileKind
	name string // current name in its directory

	// kindDoc
	id          string // full document id
	pending     bool   // created in this mount, not saved yet
	pendingBase string // for a pending node: revision its first save updates ("" = create)
	rev         string // the revision this mount last served for the file
	size        int64  // rendered size of rev
	stamp       uint64 // mount clock stamp of the information rev and size come from
	mtime       time.Time
	// staleGen counts events after which the kernel may cache attributes
	// that differ from what the node now reports; fixedGen is the last such
	// event the kernel was told about.
	staleGen uint64
	fixedGen uint64
	// pagesMaybe is false only while the kernel cannot hold pages of this
	// node: a document node no handle has read through the page cache or
	// written, and that was never a scratch file. The first page-cache open
	// of such a node need not drop pages, nor (if the kernel's attributes
	// are current) the attributes that dropping pages drops with them.
	pagesMaybe bool
	// cachedRev is the revision of document cachedID whose pages the kernel
	// may hold for the file ("" = none), cachedSize its rendered size;
	// cacheUsers counts the open handles that go through those pages (see
	// pagecache.go).
	cachedID   string
	cachedRev  string
	cachedSize int64
	cacheUsers int
	// cacheIdle is closed when cacheUsers drops to zero (nil while it is).
	cacheIdle chan struct{}
	// writers counts the open handles that may write (their drafts move
	// the kernel's size of the file as they are written).
	writers int
	// ownOps counts unlinks and renames of this node through this mount
	// that are in flight, or that removed it: the kernel updates its own
	// name cache for those, so the invalidator leaves the name alone.
	ownOps int
	// saving counts this node's saves in flight. The invalidator can read
	// a save's change before the save has recorded its revision here, and
	// would take it for a change made elsewhere: while a save is in flight
	// it only sets missed, and the save refreshes the kernel's attributes
	// when it ends (which a successful save does anyway).
	saving int
	missed bool
	// attrReplies counts the replies that handed the kernel this node's
	// attributes (attrLocked). A save need not refresh the kernel's
	// attributes when none went out since the writer's last write or
	// truncation: the kernel drops its cached size and times itself on
	// each of those, and nothing has given it others since.
	attrReplies atomic.Uint64
	// n's place in the mount's nodeBudget lookup order; guarded by its mu.
	budgetElem *list.Element

	// kindScratch and kindSymlink
	data     []byte
	mode     uint32
	target   string
	detached *detachInfo
}

// detachInfo marks a scratch file that took over a document's name by a
// rename: the document stays stored until the scratch file is removed
// without the document name having been saved again.
type detachInfo struct {
	id       string // full document id
	rev      string
	modified bool // the scratch copy changed since the rename
}

var (
	_ = (gofs.NodeGetattrer)((*fileNode)(nil))
	_ = (gofs.NodeSetattrer)((*fileNode)(nil))
	_ = (gofs.NodeOpener)((*fileNode)(nil))
	_ = (gofs.NodeReadlinker)((*fileNode)(nil))
	_ = (gofs.NodeOnForgetter)((*fileNode)(nil))
)

// OnForget records that the kernel forgot the node (nodeBudget).
func (n *fileNode) OnForget() { n.m.nodes.forget(n) }

func newDocNode(m *mount, ns *nsState, name, id string) *fileNode {
	return &fileNode{node: node{m: m}, ns: ns, kind: kindDoc, name: name, id: id, mtime: time.Now()}
}

func newScratchNode(m *mount, ns *nsState, name string, mode uint32) *fileNode {
	return &fileNode{node: node{m: m}, ns: ns, kind: kindScratch, name: name, mode: mode & 0o7777, mtime: time.Now(), pagesMaybe: true}
}

// served records that the database holds rev, of rendered size size, as
// read at mount clock stamp; the caller holds n.mu and then answers the
// kernel from the node (n.rev, n.size), not from what it read. Information
// stamped before what the node holds may predate a change the node already
// knows of (a listing read before a save, a Getattr racing a close): it is
// ignored and served reports false, so a node never goes back to an older
// revision or size. A new revision gets a new mtime, so tools comparing size
// and mtime notice even a same-size edit.
func (n *fileNode) served(rev string, size int, stamp uint64) bool {
	if stamp < n.stamp {
		return false
	}
	n.stamp = stamp
	if rev != n.rev {
		n.rev = rev
		n.mtime = time.Now()
		// The kernel may still cache the old revision's attributes and
		// pages, unless it was never told any.
		if n.attrReplies.Load() > 0 || n.pagesMaybe {
			n.staleGen++
		}
	}
	n.size = int64(size)
	return true
}

// attrLocked fills a, for a reply to the kernel, from the node's current
// state; the caller holds n.mu.
func (n *fileNode) attrLocked(a *fuse.Attr, size int64) {
	n.attrReplies.Add(1)
	switch n.kind {
	case kindScratch:
		n.m.fillAttr(a, syscall.S_IFREG|n.mode, int64(len(n.data)), n.mtime)
	case kindSymlink:
		n.m.fillAttr(a, modeLink, int64(len(n.target)), n.mtime)
	default:
		n.m.fillAttr(a, modeFile, size, n.mtime)
	}
}

// Getattr reports the file's attributes. For a document this reads the
// current winning revision, so a change made elsewhere shows up here; the
// size reported is that of the revision whose pages the kernel holds
// (pagecache.go). A draft's size is never reported, not even to its writer:
// the kernel keeps one size per inode, which every reader's page-cache
// reads are cut to, and go-fuse hands Getattr any open handle of the node
// when the kernel names none.
func (n *fileNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.mu.Lock()
	kind, pending, id := n.kind, n.pending, n.id
	if kind != kindDoc || pending {
		n.attrLocked(&out.Attr, 0)
		n.mu.Unlock()
		return 0
	}
	n.mu.Unlock()
	if _, _, errno := n.fetch(id); errno != 0 {
		return errno
	}
	if n.docAttr(&out.Attr) {
		out.SetTimeout(askEveryTime)
	}
	return 0
}

// fetchTries bounds how often fetch rereads a document a concurrent save
// keeps overtaking.
const fetchTries = 3

// fetch reads the winning revision of document id and records it in the
// node. current is false when even the last read predated a change the node
// had already recorded (a save racing the read, fetchTries times over): the
// node then keeps the newer state and doc is older than it.
func (n *fileNode) fetch(id string) (doc *dbcore.Doc, current bool, errno syscall.Errno) {
	for try := 0; try < fetchTries; try++ {
		stamp := n.m.now()
		doc, errno = n.get(id)
		if errno != 0 {
			return nil, false, errno
		}
		n.mu.Lock()
		if n.kind != kindDoc || n.id != id {
			// Renamed meanwhile: the read says nothing about the node.
			n.mu.Unlock()
			return doc, false, 0
		}
		current = n.served(doc.Rev, doc.Size(), stamp)
		n.mu.Unlock()
		if current {
			return doc, true, 0
		}
	}
	return doc, false, 0
}

// get reads the winning revision of document id.
func (n *fileNode) get(id string) (*dbcore.Doc, syscall.Errno) {
	db, err := n.m.openDB(n.ns.db)
	if err != nil {
		return nil, toErrno(err)
	}
	defer db.Close()
	doc, err := db.Get(id)
	if err != nil {
		return nil, toErrno(err)
	}
	return doc, 0
}

// Setattr changes the size (truncate) of a draft or scratch file; mode,
// owner and times are accepted and, for documents, ignored, because tools
// such as sed -i, cp -p and vim set them as a matter of course.
func (n *fileNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	size, hasSize := in.GetSize()
	if n.m.opts.ReadOnly {
		return syscall.EROFS
	}
	if hasSize {
		if errno := n.truncate(ctx, f, int64(size)); errno != 0 {
			return errno
		}
	}
	n.mu.Lock()
	if n.kind == kindScratch {
		if mode, ok := in.GetMode(); ok {
			n.mode = mode & 0o7777
		}
		if mt, ok := in.GetMTime(); ok {
			n.mtime = mt
		}
	}
	n.mu.Unlock()
	return n.m.setattrReply(&n.Inode, out, n.Getattr(ctx, f, out))
}

// truncate resizes the file. A document's draft only changes with an open
// handle (ftruncate, O_TRUNC); truncate(2) by path has no draft to change,
// so it is saved at once.
func (n *fileNode) truncate(ctx context.Context, f gofs.FileHandle, size int64) syscall.Errno {
	if size > int64(n.m.opts.MaxFileSize) {
		return syscall.EFBIG
	}
	n.mu.Lock()
	if n.kind == kindScratch {
		n.data = resize(n.data, int(size))
		n.mtime = time.Now()
		if n.detached != nil {
			n.detached.modified = true
		}
		n.mu.Unlock()
		return 0
	}
	if n.kind != kindDoc {
		n.mu.Unlock()
		return syscall.EINVAL
	}
	pending, id, rev := n.pending, n.id, n.rev
	n.mu.Unlock()
	if h, ok := f.(*docHandle); ok && h.writable {
		h.truncate(int(size))
		return 0
	}
	var data []byte
	if !pending {
		doc, errno := n.get(id)
		if errno != 0 {
			return errno
		}
		data, rev = doc.JSON(), doc.Rev
	}
	_, errno := n.save(resize(data, int(size)), rev, callerPid(ctx), attrMark{})
	return errno
}

// resize returns b cut or zero-extended to size.
func resize(b []byte, size int) []byte {
	if size <= len(b) {
		return b[:size]
	}
	return append(b, make([]byte, size-len(b))...)
}

// Readlink returns a scratch symlink's target.
func (n *fileNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.kind != kindSymlink {
		return nil, syscall.EINVAL
	}
	return []byte(n.target), 0
}

// Open opens the file. Reading a document shows its winning revision at
// open, through the kernel's page cache, which stays valid across opens
// while the revision is unchanged; writing builds a private draft saved on
// close.
func (n *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	writable := writeFlags(flags)
	if writable && n.m.opts.ReadOnly {
		return nil, 0, syscall.EROFS
	}
	trunc := writable && flags&syscall.O_TRUNC != 0
	h := &docHandle{n: n, writable: writable, appendMode: flags&syscall.O_APPEND != 0}

	n.mu.Lock()
	switch n.kind {
	case kindSymlink:
		n.mu.Unlock()
		return nil, 0, syscall.ELOOP
	case kindScratch:
		if trunc {
			n.data = n.data[:0]
			n.mtime = time.Now()
			if n.detached != nil {
				n.detached.modified = true
			}
		}
		// Scratch files are read and written through the page cache.
		n.addCacheUserLocked()
		h.cacheUser = true
		n.mu.Unlock()
		return h, 0, 0
	}
	n.mu.Unlock()
	if writable {
		// Counted before anything else, so that no new descriptor starts
		// reading the page cache this writer is about to disturb.
		n.beginWriter(ctx)
		h.writer = true
		n.m.trackOpen(h)
	}
	undo := func() {
		if h.writer {
			n.m.untrackOpen(h)
			n.closeWriter(false)
		}
	}

	n.mu.Lock()
	if n.kind != kindDoc {
		// Renamed to a scratch name while the writer waited.
		n.mu.Unlock()
		undo()
		return n.Open(ctx, flags)
	}
	id, pending := n.id, n.pending
	if pending || trunc {
		h.base = n.rev
		if pending {
			h.base = ""
		}
		h.hasDraft = true
		h.dirty = trunc && !pending
		// The kernel sets its size of the file to 0 when it gets this
		// OPEN's reply (ATOMIC_O_TRUNC).
		if trunc {
			h.moved, h.mark = true, attrMark{replies: n.attrReplies.Load(), ok: true}
		}
		n.mu.Unlock()
		return h, n.openFlags(h, false), 0
	}
	n.mu.Unlock()

	doc, current, errno := n.fetch(id)
	if errno != 0 {
		if errno == syscall.ENOENT {
			n.m.inv.queueEntry(n)
		}
		undo()
		return nil, 0, errno
	}
	h.snap, h.base = doc.JSON(), doc.Rev
	if writable || n.ns.ns == nsLocal {
		return h, n.openFlags(h, false), 0
	}
	cacheable := n.openCached(id, doc.Rev, h.snap, current)
	h.pageSnap, h.cacheUser = cacheable, cacheable
	return h, n.openFlags(h, cacheable), 0
}

// openFlags chooses the FOPEN_ flags for a new handle. Handles that may
// write bypass the page cache (DIRECT_IO): each has a private draft, which
// the one page cache of the inode cannot represent. So does a read-only
// handle that does not read the cached revision (cacheable false): its
// bytes must not reach the page cache other readers share. Every document
// handle keeps the page cache (KEEP_CACHE): without it the kernel would
// drop the pages other descriptors are reading.
func (n *fileNode) openFlags(h *docHandle, cacheable bool) uint32 {
	if h.writable {
		return fuse.FOPEN_DIRECT_IO | fuse.FOPEN_KEEP_CACHE
	}
	// Nothing to save: spare the kernel a FLUSH per close.
	fl := uint32(fuse.FOPEN_NOFLUSH | fuse.FOPEN_KEEP_CACHE)
	if n.ns.ns == nsLocal || !cacheable {
		// Local documents are not in the changes feed that drives
		// invalidation, so their reads always come here.
		return fl | fuse.FOPEN_DIRECT_IO
	}
	return fl
}

// attrMark is the node's attrReplies when a writer last changed the
// kernel's size of the file (its O_TRUNC, a write(), an ftruncate()). The
// zero value marks nothing: the save always refreshes.
type attrMark struct {
	replies uint64
	ok      bool
}

// save stores data as the document's new revision: the one save path for
// close, fsync, truncate(2) and rename onto a document. base is the
// revision the data was made from; mark is the writer's attrMark. On
// failure the bytes are parked in .rejected/ and logged; the document is
// unchanged.
func (n *fileNode) save(data []byte, base string, pid uint32, mark attrMark) (string, syscall.Errno) {
	n.mu.Lock()
	if n.kind != kindDoc {
		n.mu.Unlock()
		return "", syscall.EINVAL
	}
	id, name, pending := n.id, n.name, n.pending
	if pending {
		base = n.pendingBase
	}
	n.saving++
	n.mu.Unlock()

	body, base, eff, note := n.ns.prepare(id, data, base, pending && base == "", pid)
	rev, err := n.store(id, body, base)
	file := n.ns.ns.prefix() + name
	if err != nil {
		n.mu.Lock()
		n.saving--
		missed := n.missed
		n.missed = false
		var gen uint64
		if missed {
			n.staleGen++
			gen = n.staleGen
		}
		n.mu.Unlock()
		if missed {
			// A change made elsewhere while this save was in flight.
			n.refreshAttrs(gen)
		}
		n.m.park(n.ns.db, file, data, err)
		errno := toErrno(err)
		if pending && (errno == syscall.EIO || errno == syscall.ENOSPC) {
			// A storage failure leaves the create's outcome unknown: the
			// engine may hold it once reopened. Stop answering for the name
			// from this mount, so the next lookup asks dbcore.
			n.ns.mu.Lock()
			if n.ns.files[name] == n {
				delete(n.ns.files, name)
				n.ForgetPersistent()
			}
			n.ns.mu.Unlock()
			n.m.inv.queueEntry(n)
		}
		return "", errno
	}
	if note != "" {
		n.m.log.Info(note, "db", n.ns.db, "file", file)
	}
	stamp := n.ns.noteChange(n.m)
	n.mu.Lock()
	n.saving--
	// Before close() or fsync() returns, the kernel must drop attributes a
	// GETATTR, LOOKUP or READDIRPLUS gave it after the writer's last write
	// (the stored revision's, until this save), and any change the
	// invalidator saw meanwhile. With neither, what the kernel holds is the
	// state its own write or truncation left: attributes it asks for
	// again, which now describe this save. That spares a notification,
	// one write to the device, per save.
	refresh := n.missed || !mark.ok || n.attrReplies.Load() != mark.replies
	n.missed = false
	n.pending, n.pendingBase = false, ""
	gone := rev.Doc == nil // "_deleted": true was written
	if gone {
		n.served(rev.Rev, 0, stamp)
	} else {
		n.served(rev.Doc.Rev, rev.Doc.Size(), stamp)
	}
	var gen uint64
	if refresh {
		n.staleGen++
		gen = n.staleGen
	}
	n.mu.Unlock()
	n.ns.saved(n, name, id, pid, eff, rev.Rev)
	if refresh {
		n.refreshAttrs(gen)
	}
	if gone {
		n.m.inv.queueEntry(n)
	}
	if n.m.log.Enabled(context.Background(), slog.LevelDebug) {
		// Checked first: building the arguments costs allocations on
		// every save even when debug logging is off.
		n.m.log.Debug("saved", "db", n.ns.db, "id", id, "base", eff, "rev", rev.Rev, "bytes", len(data))
	}
	return rev.Rev, 0
}

// store is the dbcore call of a save.
func (n *fileNode) store(id string, body []byte, base string) (dbcore.SaveResult, error) {
	db, err := n.m.openDB(n.ns.db)
	if err != nil {
		return dbcore.SaveResult{}, err
	}
	defer db.Close()
	return db.SaveJSON(id, body, base)
}

// prepare applies the file system's save rules to what an application wrote
// (docs/semantics.md, "Saving"): on create a foreign "_id" and any "_rev"
// are dropped, so cp and mv across databases make copies; on update a
// "_rev" that names a revision the same process replaced itself is based on
// that process's latest revision instead, so an editor's second save works.
// It returns the body, the base revision, the revision the save is
// effectively based on, and a note to log when it changed something.
func (s *nsState) prepare(id string, data []byte, base string, create bool, pid uint32) (body []byte, newBase, eff, note string) {
	// Most saves hold none of the members looked at: pass them on unsplit.
	looked := []string{"_rev"}
	if create {
		looked = append(looked, "_id")
	}
	if !mayHaveMember(data, looked...) {
		return data, base, base, ""
	}
	ms, ok := splitObject(data)
	if !ok {
		return data, base, base, ""
	}
	if create {
		var dropped bool
		if v, has := stringMember(ms, "_id"); has && v != id {
			ms, _ = withoutMembers(ms, "_id")
			note = "new document: foreign _id dropped"
			dropped = true
		}
		if kept, removed := withoutMembers(ms, "_rev"); removed {
			ms, dropped = kept, true
		}
		if dropped {
			return joinObject(ms), "", "", note
		}
		return data, "", "", ""
	}
	r, has := stringMember(ms, "_rev")
	if !has {
		return data, base, base, ""
	}
	if head, ok := s.ownHead(id, pid, r); ok {
		ms, _ = withoutMembers(ms, "_rev")
		return joinObject(ms), head, head, "save based on this process's own newer revision"
	}
	return data, base, r, ""
}

// saved updates the directory state after node n saved document id as rev.
func (s *nsState) saved(n *fileNode, name, id string, pid uint32, base, rev string) {
	s.mu.Lock()
	if s.files[name] == n {
		delete(s.files, name)
		n.ForgetPersistent()
	}
	if holder := s.detached[id]; holder != nil {
		delete(s.detached, id)
		holder.mu.Lock()
		holder.detached = nil
		holder.mu.Unlock()
	}
	s.mu.Unlock()
	s.record(id, pid, base, rev)
}

// beginOwn marks the start of an unlink or rename of n through this mount
// (see ownOps). n may be nil (the kernel holds no node for the name).
func (n *fileNode) beginOwn() {
	if n == nil {
		return
	}
	n.mu.Lock()
	n.ownOps++
	n.mu.Unlock()
}

// endOwn ends what beginOwn began, for an operation that failed or that
// left the node in place under a name the kernel knows.
func (n *fileNode) endOwn() {
	if n == nil {
		return
	}
	n.mu.Lock()
	n.ownOps--
	n.mu.Unlock()
}

// callerPid is the process that made the request.
func callerPid(ctx context.Context) uint32 {
	if c, ok := ctx.(*fuse.Context); ok {
		return c.Caller.Pid
	}
	return 0
}
