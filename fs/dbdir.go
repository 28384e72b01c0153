package fs

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
)

// dbDir is a document directory: a database (<db>/) or one of its
// _design/ and _local/ subdirectories.
type dbDir struct {
	node
	ns *nsState
	db string
	// lastSeq is how far the invalidator has pushed this database's
	// changes to the kernel (database directories only).
	lastSeq atomic.Uint64
	// removing is set while, and after, an rmdir through this mount
	// deletes the database: the kernel drops the name itself.
	removing atomic.Bool
}

var (
	_ = (gofs.NodeGetattrer)((*dbDir)(nil))
	_ = (gofs.NodeLookuper)((*dbDir)(nil))
	_ = (gofs.NodeOpendirHandler)((*dbDir)(nil))
	_ = (gofs.NodeCreater)((*dbDir)(nil))
	_ = (gofs.NodeUnlinker)((*dbDir)(nil))
	_ = (gofs.NodeRmdirer)((*dbDir)(nil))
	_ = (gofs.NodeMkdirer)((*dbDir)(nil))
	_ = (gofs.NodeRenamer)((*dbDir)(nil))
	_ = (gofs.NodeSymlinker)((*dbDir)(nil))
	_ = (gofs.NodeMknoder)((*dbDir)(nil))
	_ = (gofs.NodeLinker)((*dbDir)(nil))
)

func newDBDir(m *mount, db string, ns namespace, seq uint64) *dbDir {
	d := &dbDir{node: node{m: m}, ns: m.space(db, ns), db: db}
	d.lastSeq.Store(seq)
	return d
}

// The fixed entries of a database directory, in listing order.
const (
	nameRejected  = ".rejected"
	nameChanges   = "_changes"
	nameCompact   = "_compact"
	nameDesign    = "_design"
	nameInfo      = "_info"
	nameLocal     = "_local"
	namePurge     = "_purge"
	nameRevsLimit = "_revs_limit"
	nameSecurity  = "_security"
)

var fixedNames = []string{nameRejected, nameChanges, nameCompact, nameDesign, nameInfo, nameLocal, namePurge, nameRevsLimit, nameSecurity}

// isFixed reports whether name is a fixed entry of this directory.
func (d *dbDir) isFixed(name string) bool {
	if d.ns.ns != nsDocs {
		return false
	}
	for _, f := range fixedNames {
		if f == name {
			return true
		}
	}
	return false
}

// docID returns the full document id a file name stands for in this
// directory. In a database directory ids starting with '_' are reserved
// (only _design/ and _local/ exist, as subdirectories).
func (d *dbDir) docID(name string) (string, bool) {
	id, ok := DecodeName(name)
	if !ok {
		return "", false
	}
	if d.ns.ns == nsDocs && strings.HasPrefix(id, "_") {
		return "", false
	}
	return d.ns.fullID(id), true
}

// Getattr reports a directory.
func (d *dbDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.m.fillAttr(&out.Attr, modeDir, 0, d.m.start)
	return 0
}

// Lookup finds a fixed entry, a name that exists only in this mount, a
// document, or a document's conflicts directory.
func (d *dbDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	if d.isFixed(name) {
		return d.fixedInode(ctx, name, out)
	}
	d.ns.mu.Lock()
	fn := d.ns.files[name]
	d.ns.mu.Unlock()
	if fn != nil {
		ino := fn.EmbeddedInode()
		if ino.Forgotten() {
			fn = d.revive(name, fn)
			ino = d.NewPersistentInode(ctx, fn, gofs.StableAttr{Mode: fn.stableMode()})
		}
		fn.mu.Lock()
		fn.attrLocked(&out.Attr, 0)
		fn.mu.Unlock()
		return ino, 0
	}
	if id, ok := d.docID(name); ok {
		if d.isDetached(id) {
			return nil, syscall.ENOENT
		}
		stamp := d.m.now()
		db, err := d.m.openDB(d.db)
		if err != nil {
			return nil, toErrno(err)
		}
		doc, err := db.Get(id)
		db.Close()
		if err != nil {
			return nil, toErrno(err)
		}
		return d.docInode(ctx, name, id, doc.Rev, doc.Size(), stamp, out), 0
	}
	if d.ns.ns != nsLocal {
		if id, ok := DecodeConflictsName(name); ok {
			return d.conflictsInode(ctx, name, d.ns.fullID(id), out)
		}
	}
	return nil, syscall.ENOENT
}

// revive replaces a mount-only file whose inode the kernel has forgotten (a
// document renamed to a scratch name is not a persistent inode) by a fresh
// node with the same state.
func (d *dbDir) revive(name string, old *fileNode) *fileNode {
	old.mu.Lock()
	fn := &fileNode{node: node{m: d.m}, ns: d.ns, kind: old.kind, name: old.name, id: old.id,
		pending: old.pending, pendingBase: old.pendingBase, rev: old.rev, size: old.size, stamp: old.stamp, mtime: old.mtime,
		data: old.data, mode: old.mode, target: old.target, detached: old.detached}
	old.mu.Unlock()
	d.ns.mu.Lock()
	if d.ns.files[name] == old {
		d.ns.files[name] = fn
	}
	for id, h := range d.ns.detached {
		if h == old {
			d.ns.detached[id] = fn
		}
	}
	d.ns.mu.Unlock()
	return fn
}

// stableMode is the file type of the node for go-fuse.
func (n *fileNode) stableMode() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.kind == kindSymlink {
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

func (d *dbDir) isDetached(id string) bool {
	d.ns.mu.Lock()
	defer d.ns.mu.Unlock()
	return d.ns.detached[id] != nil
}

// docInode returns the inode of document id (a stored one) called name,
// whose revision rev of rendered size size was read at mount clock stamp.
// The kernel is told the node's state, which is newer when a save overtook
// the read.
func (d *dbDir) docInode(ctx context.Context, name, id, rev string, size int, stamp uint64, out *fuse.EntryOut) *gofs.Inode {
	ch, fn := newChild(ctx, &d.Inode, name, modeFile,
		func(fn *fileNode) bool {
			fn.mu.Lock()
			defer fn.mu.Unlock()
			return fn.kind == kindDoc && fn.id == id && !fn.pending
		},
		func() *fileNode { return newDocNode(d.m, d.ns, name, id) })
	for _, old := range d.m.nodes.touch(fn) {
		d.m.inv.queueEntry(old)
	}
	fn.mu.Lock()
	fn.served(rev, size, stamp)
	fn.mu.Unlock()
	if fn.docAttr(&out.Attr) {
		out.SetAttrTimeout(askEveryTime)
	}
	return ch
}

// OpendirHandle lists the directory: fixed entries, documents in id order,
// then names that exist only in this mount.
func (d *dbDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return newDirHandle(d, func() pager {
		return chainPagers(onePage(d.fixedEntries()), d.docPager(), lazyPage(d.mountOnlyEntries))
	}), 0, 0
}

func (d *dbDir) fixedEntries() []dirEnt {
	ents := dotEntries()
	if d.ns.ns != nsDocs {
		return ents
	}
	for _, f := range fixedNames {
		mode := uint32(syscall.S_IFREG)
		switch f {
		case nameRejected, nameChanges, nameDesign, nameLocal:
			mode = syscall.S_IFDIR
		}
		ents = append(ents, dirEnt{name: f, mode: mode})
	}
	return ents
}

func (d *dbDir) mountOnlyEntries(ctx context.Context) ([]dirEnt, syscall.Errno) {
	d.ns.mu.Lock()
	names := make([]string, 0, len(d.ns.files))
	for n := range d.ns.files {
		names = append(names, n)
	}
	modes := make(map[string]uint32, len(names))
	for n, fn := range d.ns.files {
		modes[n] = syscall.S_IFREG
		if fn.kind == kindSymlink {
			modes[n] = syscall.S_IFLNK
		}
	}
	d.ns.mu.Unlock()
	sort.Strings(names)
	ents := make([]dirEnt, 0, len(names))
	for _, n := range names {
		ents = append(ents, dirEnt{name: n, mode: modes[n]})
	}
	return ents, 0
}

// pageSize is how many documents one listing batch reads.
const pageSize = 1024

// errPageFull ends a fold once a batch is full.
var errPageFull = errors.New("page full")

// docPager lists the directory's documents a page at a time, each database
// call resuming after the last id listed.
func (d *dbDir) docPager() pager {
	cursor, started, done := "", false, false
	return func(ctx context.Context) (*dirBatch, syscall.Errno) {
		if done {
			return nil, 0
		}
		opts := engines.FoldOptions{}
		if d.ns.ns == nsDesign {
			opts = engines.FoldOptions{Start: "_design/", HasStart: true, End: "_design0", HasEnd: true, EndExclusive: true}
		}
		if started {
			opts.Start, opts.HasStart = cursor, true
		}
		stamp := d.m.now()
		rows := make([]dbcore.DocRow, 0, pageSize)
		collect := func(r dbcore.DocRow) error {
			if started && r.ID == cursor {
				return nil
			}
			rows = append(rows, r)
			if len(rows) >= pageSize {
				return errPageFull
			}
			return nil
		}
		db, err := d.m.openDB(d.db)
		if err != nil {
			return nil, toErrno(err)
		}
		if d.ns.ns == nsLocal {
			err = db.LocalDocs(opts, collect)
		} else {
			err = db.AllDocs(opts, collect)
		}
		db.Close()
		if err != nil && !errors.Is(err, errPageFull) {
			return nil, toErrno(err)
		}
		if len(rows) < pageSize {
			done = true
		}
		if len(rows) > 0 {
			cursor, started = rows[len(rows)-1].ID, true
		}
		return d.rowBatch(rows, stamp), 0
	}
}

// rowBatch turns listed documents, read at mount clock stamp, into
// directory entries whose names share one string. The kernel asks for an
// entry's attributes (ls -l, READDIRPLUS) some time after the batch was
// read; if the database changed since, the row may be out of date and the
// entry is looked up afresh.
func (d *dbDir) rowBatch(rows []dbcore.DocRow, stamp uint64) *dirBatch {
	prefix := d.ns.ns.prefix()
	buf := make([]byte, 0, len(rows)*32)
	ends := make([]int, 0, len(rows))
	kept := rows[:0]
	d.ns.mu.Lock()
	for _, r := range rows {
		if r.Deleted {
			continue
		}
		rel, ok := strings.CutPrefix(r.ID, prefix)
		if !ok && d.ns.ns == nsLocal {
			// A local-docs fold may name them without the prefix.
			rel, r.ID, ok = r.ID, prefix+r.ID, true
		}
		if !ok || (d.ns.ns == nsDocs && strings.HasPrefix(rel, "_")) {
			continue
		}
		if len(d.ns.detached) > 0 && d.ns.detached[r.ID] != nil {
			continue
		}
		start := len(buf)
		buf = appendName(buf, rel)
		if len(buf)-start > maxNameLen || d.ns.files[string(buf[start:])] != nil {
			// Too long a name to show (reachable through dbcore only),
			// or a name this mount shows as its own file.
			buf = buf[:start]
			continue
		}
		kept = append(kept, r)
		ends = append(ends, len(buf))
	}
	d.ns.mu.Unlock()
	ents := fileEnts(buf, ends)
	return &dirBatch{ents: ents, lookup: func(ctx context.Context, i int, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
		// A name of its own: the inode may outlive the batch, which
		// should not keep the other names alive.
		name := strings.Clone(ents[i].name)
		if d.ns.changedSince(stamp) {
			return d.Lookup(ctx, name, out)
		}
		r := &kept[i]
		return d.docInode(ctx, name, r.ID, r.Rev, r.Size, stamp, out), 0
	}}
}

// Create makes a new file: a document that exists only in this mount until
// its first save, or a scratch file.
func (d *dbDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, nil, 0, errno
	}
	if d.m.opts.ReadOnly {
		return nil, nil, 0, syscall.EROFS
	}
	if d.isFixed(name) {
		return nil, nil, 0, syscall.EEXIST
	}
	var fn *fileNode
	if id, ok := d.docID(name); ok {
		if err := dbcore.ValidateDocID(id); err != nil {
			return nil, nil, 0, toErrno(err)
		}
		fn = newDocNode(d.m, d.ns, name, id)
		fn.pending = true
		d.ns.mu.Lock()
		if holder := d.ns.detached[id]; holder != nil {
			holder.mu.Lock()
			if holder.detached != nil {
				fn.pendingBase = holder.detached.rev
			}
			holder.mu.Unlock()
		}
		d.ns.mu.Unlock()
	} else if isScratchName(name) {
		fn = newScratchNode(d.m, d.ns, name, mode)
	} else {
		return nil, nil, 0, syscall.EPERM
	}
	d.ns.mu.Lock()
	if old := d.ns.files[name]; old != nil {
		d.ns.mu.Unlock()
		return nil, nil, 0, syscall.EEXIST
	}
	d.ns.files[name] = fn
	d.ns.mu.Unlock()
	ch := d.NewPersistentInode(ctx, fn, gofs.StableAttr{Mode: syscall.S_IFREG})
	fh, fl, errno := fn.Open(ctx, flags&^syscall.O_TRUNC)
	if errno != 0 {
		d.ns.mu.Lock()
		delete(d.ns.files, name)
		d.ns.mu.Unlock()
		ch.ForgetPersistent()
		return nil, nil, 0, errno
	}
	fn.mu.Lock()
	fn.attrLocked(&out.Attr, 0)
	fn.mu.Unlock()
	return ch, fh, fl, 0
}

// Symlink makes a scratch symlink (emacs lock files); documents cannot be
// symlinks.
func (d *dbDir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	if d.m.opts.ReadOnly {
		return nil, syscall.EROFS
	}
	if d.isFixed(name) || !isScratchName(name) {
		return nil, syscall.EPERM
	}
	fn := newScratchNode(d.m, d.ns, name, 0o777)
	fn.kind, fn.target = kindSymlink, target
	d.ns.mu.Lock()
	if d.ns.files[name] != nil {
		d.ns.mu.Unlock()
		return nil, syscall.EEXIST
	}
	d.ns.files[name] = fn
	d.ns.mu.Unlock()
	fn.mu.Lock()
	fn.attrLocked(&out.Attr, 0)
	fn.mu.Unlock()
	return d.NewPersistentInode(ctx, fn, gofs.StableAttr{Mode: syscall.S_IFLNK}), 0
}

// Unlink removes a mount-only name, or deletes a document (a tombstone
// revision on top of the current winner).
func (d *dbDir) Unlink(ctx context.Context, name string) syscall.Errno {
	if d.m.opts.ReadOnly {
		return syscall.EROFS
	}
	if d.isFixed(name) {
		return syscall.EPERM
	}
	d.ns.mu.Lock()
	fn := d.ns.files[name]
	if fn != nil {
		delete(d.ns.files, name)
	}
	var orphan *detachInfo
	if fn != nil {
		fn.mu.Lock()
		if fn.detached != nil && d.ns.detached[fn.detached.id] == fn {
			orphan = fn.detached
			delete(d.ns.detached, orphan.id)
		}
		fn.detached = nil
		fn.mu.Unlock()
	}
	d.ns.mu.Unlock()
	if fn != nil {
		fn.ForgetPersistent()
		if orphan != nil {
			// The document was renamed away and its name never saved again:
			// removing the last copy deletes it.
			return d.deleteDoc(orphan.id, orphan.rev)
		}
		return 0
	}
	id, ok := d.docID(name)
	if !ok || d.isDetached(id) {
		return syscall.ENOENT
	}
	// The kernel drops the name itself when the unlink succeeds: the
	// invalidator must not (ownOps stays raised on the dead node).
	fn = d.docChild(name)
	fn.beginOwn()
	errno := d.deleteDoc(id, "")
	if errno != 0 {
		fn.endOwn()
	}
	return errno
}

// deleteDoc writes a tombstone for id on top of rev ("" = current winner).
func (d *dbDir) deleteDoc(id, rev string) syscall.Errno {
	db, err := d.m.openDB(d.db)
	if err != nil {
		return toErrno(err)
	}
	defer db.Close()
	trev, err := db.DeleteDoc(id, rev)
	if err != nil {
		return toErrno(err)
	}
	d.ns.noteChange(d.m)
	d.m.log.Debug("deleted", "db", d.db, "id", id, "rev", trev)
	return 0
}

// Rmdir removes a conflicts directory whose conflicts are all resolved
// (`rm -r x.conflicts` deletes them first); fixed directories stay.
func (d *dbDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	if d.m.opts.ReadOnly {
		return syscall.EROFS
	}
	id, ok := DecodeConflictsName(name)
	if !ok || d.ns.ns == nsLocal {
		return syscall.EPERM
	}
	db, err := d.m.openDB(d.db)
	if err != nil {
		return toErrno(err)
	}
	defer db.Close()
	doc, err := db.Get(d.ns.fullID(id))
	if err != nil {
		return toErrno(err)
	}
	if len(doc.Conflicts) > 0 {
		return syscall.ENOTEMPTY
	}
	return 0
}

// Mkdir: a database holds no directories of its own.
func (d *dbDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	return nil, syscall.EPERM
}

// Mknod: only regular files and scratch symlinks.
func (d *dbDir) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	return nil, syscall.EPERM
}

// Link: no hard links.
func (d *dbDir) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	return nil, syscall.EPERM
}
