package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/couchfs/couchfs/dbcore"
)

// Rename within one document directory. What it means depends on what the
// two names are (docs/semantics.md, "Rename"):
//
//	scratch  → scratch   move in memory
//	scratch  → document  save the scratch bytes as the document (one update:
//	                     editors' and sed -i's and os.replace's atomic save)
//	document → document  move the document (create the new id, delete the old)
//	document → scratch   detach: the scratch name takes the content, the
//	                     document name disappears, and the document stays
//	                     stored until the scratch copy is removed without the
//	                     name being saved again (backup-by-rename)
//
// Renames between directories are EXDEV, so mv falls back to copy+unlink.
func (d *dbDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := nameErrno(name, newName); errno != 0 {
		return errno
	}
	if d.m.opts.ReadOnly {
		return syscall.EROFS
	}
	if flags&gofs.RENAME_EXCHANGE != 0 {
		return syscall.EINVAL
	}
	nd, ok := newParent.(*dbDir)
	if !ok || nd != d {
		return syscall.EXDEV
	}
	if d.isFixed(name) || d.isFixed(newName) {
		return syscall.EPERM
	}
	noReplace := flags&renameNoReplace != 0
	dstID, dstIsDoc := d.docID(newName)
	if !dstIsDoc && !isScratchName(newName) {
		return syscall.EPERM
	}
	if name == newName {
		return 0
	}

	d.ns.mu.Lock()
	src := d.ns.files[name]
	d.ns.mu.Unlock()
	if src != nil {
		src.mu.Lock()
		kind := src.kind
		src.mu.Unlock()
		switch {
		case !dstIsDoc:
			return d.moveMountOnly(src, name, newName, noReplace)
		case kind == kindSymlink:
			return syscall.EPERM
		case kind == kindDoc:
			return d.movePending(src, name, newName, dstID, noReplace)
		default:
			return d.saveScratchAs(ctx, src, name, newName, dstID, noReplace)
		}
	}
	srcID, ok := d.docID(name)
	if !ok || d.isDetached(srcID) {
		return syscall.ENOENT
	}
	if dstIsDoc {
		return d.moveDoc(ctx, srcID, name, newName, dstID, noReplace)
	}
	return d.detach(ctx, srcID, name, newName, noReplace)
}

// docChild returns the stored-document node the kernel knows under name.
func (d *dbDir) docChild(name string) *fileNode {
	ch := d.GetChild(name)
	if ch == nil {
		return nil
	}
	fn, ok := ch.Operations().(*fileNode)
	if !ok {
		return nil
	}
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if fn.kind != kindDoc || fn.pending {
		return nil
	}
	return fn
}

// target describes what a rename's destination document name holds.
type target struct {
	pending *fileNode // a not-yet-saved document created in this mount
	live    bool      // a stored document the kernel knows of
	rev     string    // its revision (or the detached revision)
}

func (d *dbDir) target(name, id string) target {
	var t target
	d.ns.mu.Lock()
	if p := d.ns.files[name]; p != nil {
		t.pending = p
		p.mu.Lock()
		t.rev = p.pendingBase
		p.mu.Unlock()
	}
	holder := d.ns.detached[id]
	d.ns.mu.Unlock()
	if t.pending != nil {
		return t
	}
	if fn := d.docChild(name); fn != nil {
		fn.mu.Lock()
		t.live, t.rev = true, fn.rev
		fn.mu.Unlock()
		return t
	}
	if holder != nil {
		holder.mu.Lock()
		if holder.detached != nil {
			t.live, t.rev = true, holder.detached.rev
		}
		holder.mu.Unlock()
	}
	return t
}

// dropReplaced removes a mount-only file a rename replaced; if it was the
// last copy of a renamed-away document, that document is deleted.
func (d *dbDir) dropReplaced(fn *fileNode) {
	d.ns.mu.Lock()
	var orphan *detachInfo
	fn.mu.Lock()
	if fn.detached != nil && d.ns.detached[fn.detached.id] == fn {
		orphan = fn.detached
		delete(d.ns.detached, orphan.id)
	}
	fn.detached = nil
	fn.mu.Unlock()
	d.ns.mu.Unlock()
	fn.ForgetPersistent()
	if orphan != nil {
		if errno := d.deleteDoc(orphan.id, orphan.rev); errno != 0 {
			d.m.log.Warn("delete of replaced document failed", "db", d.db, "id", orphan.id, "errno", errno.Error())
		}
	}
}

// moveMountOnly renames a mount-only file to a scratch name.
func (d *dbDir) moveMountOnly(src *fileNode, name, newName string, noReplace bool) syscall.Errno {
	d.ns.mu.Lock()
	replaced := d.ns.files[newName]
	if replaced != nil && noReplace {
		d.ns.mu.Unlock()
		return syscall.EEXIST
	}
	delete(d.ns.files, name)
	d.ns.files[newName] = src
	d.ns.mu.Unlock()
	src.mu.Lock()
	src.name = newName
	if src.kind == kindDoc {
		// A document never saved becomes an (empty) scratch file.
		src.kind, src.id, src.pending, src.mode = kindScratch, "", false, 0o644
		src.pagesMaybe = true
	}
	src.mu.Unlock()
	if replaced != nil && replaced != src {
		d.dropReplaced(replaced)
	}
	return 0
}

// movePending renames a not-yet-saved document to another document name.
func (d *dbDir) movePending(src *fileNode, name, newName, dstID string, noReplace bool) syscall.Errno {
	t := d.target(newName, dstID)
	if noReplace && (t.live || t.pending != nil) {
		return syscall.EEXIST
	}
	if err := dbcore.ValidateDocID(dstID); err != nil {
		return toErrno(err)
	}
	d.ns.mu.Lock()
	delete(d.ns.files, name)
	d.ns.files[newName] = src
	d.ns.mu.Unlock()
	src.mu.Lock()
	src.name, src.id, src.pendingBase = newName, dstID, t.rev
	src.mu.Unlock()
	if t.pending != nil && t.pending != src {
		t.pending.ForgetPersistent()
	}
	return 0
}

// saveScratchAs saves a scratch file's bytes as document dstID, the atomic
// save of editors, sed -i and os.replace. On failure nothing changes: the
// scratch file stays, the bytes are parked, the errno is rename's.
func (d *dbDir) saveScratchAs(ctx context.Context, src *fileNode, name, newName, dstID string, noReplace bool) syscall.Errno {
	t := d.target(newName, dstID)
	if noReplace && (t.live || t.pending != nil) {
		return syscall.EEXIST
	}
	src.mu.Lock()
	data := append([]byte(nil), src.data...)
	var det detachInfo
	hasDet := src.detached != nil
	if hasDet {
		det = *src.detached
	}
	src.mu.Unlock()

	// A stored document the rename replaces leaves the kernel's name cache
	// by the kernel's own doing (ownOps stays raised on it once replaced).
	replaced := d.docChild(newName)
	var rev string
	size, gone := len(data), false
	if hasDet && det.id == dstID && !det.modified {
		// The untouched copy goes back under its own name: nothing to store.
		rev = det.rev
	} else {
		pid := callerPid(ctx)
		body, base, eff, note := d.ns.prepare(dstID, data, t.rev, !t.live && t.rev == "", pid)
		db, err := d.m.openDB(d.db)
		if err != nil {
			return toErrno(err)
		}
		replaced.beginOwn()
		res, err := db.SaveJSON(dstID, body, base)
		db.Close()
		if err != nil {
			replaced.endOwn()
			d.m.park(d.db, d.ns.ns.prefix()+newName, data, err)
			return toErrno(err)
		}
		if note != "" {
			d.m.log.Info(note, "db", d.db, "file", d.ns.ns.prefix()+newName)
		}
		rev, size = res.Rev, 0
		if res.Doc != nil {
			rev, size = res.Doc.Rev, res.Doc.Size()
		} else {
			gone = true
		}
		d.ns.record(dstID, pid, eff, rev)
		d.m.log.Debug("saved by rename", "db", d.db, "id", dstID, "from", name, "base", eff, "rev", rev)
	}

	d.ns.mu.Lock()
	delete(d.ns.files, name)
	if t.pending != nil {
		delete(d.ns.files, newName)
	}
	if holder := d.ns.detached[dstID]; holder != nil {
		delete(d.ns.detached, dstID)
		if holder != src {
			holder.mu.Lock()
			holder.detached = nil
			holder.mu.Unlock()
		}
	}
	var orphan *detachInfo
	if hasDet && det.id != dstID && d.ns.detached[det.id] == src {
		delete(d.ns.detached, det.id)
		orphan = &det
	}
	d.ns.mu.Unlock()
	if t.pending != nil {
		t.pending.ForgetPersistent()
	}

	stamp := d.ns.noteChange(d.m)
	src.mu.Lock()
	src.kind, src.id, src.name, src.pending, src.pendingBase = kindDoc, dstID, newName, false, ""
	src.data, src.detached = nil, nil
	src.served(rev, size, stamp)
	src.staleGen++
	gen := src.staleGen
	src.mu.Unlock()
	src.ForgetPersistent()
	d.m.inv.queueAttrs(src, gen)
	if gone {
		d.m.inv.queueEntry(src)
	}
	if orphan != nil {
		// The scratch file held another document renamed away: its content
		// now lives under dstID, so the old document goes (a move).
		if errno := d.deleteDoc(orphan.id, orphan.rev); errno != 0 {
			d.m.log.Warn("delete of moved document failed", "db", d.db, "id", orphan.id, "errno", errno.Error())
		}
	}
	return 0
}

// moveDoc renames a stored document to another document name: the new id
// gets the body, the old id a tombstone, in one batch.
func (d *dbDir) moveDoc(ctx context.Context, srcID, name, newName, dstID string, noReplace bool) syscall.Errno {
	t := d.target(newName, dstID)
	if noReplace && (t.live || t.pending != nil) {
		return syscall.EEXIST
	}
	db, err := d.m.openDB(d.db)
	if err != nil {
		return toErrno(err)
	}
	// The kernel moves the names itself: the source node keeps ownOps
	// raised until it carries the new id, a replaced node for good.
	src, replaced := d.docChild(name), d.docChild(newName)
	src.beginOwn()
	replaced.beginOwn()
	var rev string
	if t.live {
		rev, err = overwriteDoc(db, srcID, dstID, t.rev)
	} else {
		rev, err = db.MoveDoc(srcID, dstID)
	}
	if err != nil {
		db.Close()
		src.endOwn()
		replaced.endOwn()
		return toErrno(err)
	}
	stamp := d.ns.noteChange(d.m)
	// The new name renders with another _id: its size is the moved
	// document's, read back (moves are rare; this read is cheap).
	size := -1
	if doc, gerr := db.Get(dstID); gerr == nil {
		rev, size = doc.Rev, doc.Size()
	}
	db.Close()
	d.ns.mu.Lock()
	if t.pending != nil {
		delete(d.ns.files, newName)
	}
	if holder := d.ns.detached[dstID]; holder != nil {
		delete(d.ns.detached, dstID)
		holder.mu.Lock()
		holder.detached = nil
		holder.mu.Unlock()
	}
	d.ns.mu.Unlock()
	if t.pending != nil {
		t.pending.ForgetPersistent()
	}
	if fn := src; fn != nil {
		fn.mu.Lock()
		fn.id, fn.name = dstID, newName
		if size >= 0 {
			fn.served(rev, size, stamp)
		}
		fn.staleGen++
		gen := fn.staleGen
		fn.ownOps--
		fn.mu.Unlock()
		d.m.inv.queueAttrs(fn, gen)
		if size < 0 {
			// Deleted again before the read back.
			d.m.inv.queueEntry(fn)
		}
	}
	d.m.log.Debug("moved", "db", d.db, "from", srcID, "to", dstID, "rev", rev)
	return 0
}

// overwriteDoc is a move onto an existing document: one batch that updates
// dst (on dstRev) with src's body and deletes src.
func overwriteDoc(db *dbcore.DB, srcID, dstID, dstRev string) (string, error) {
	src, err := db.Get(srcID)
	if err != nil {
		return "", err
	}
	res, err := db.UpdateDocs([]*dbcore.Doc{
		{ID: dstID, Rev: dstRev, Body: src.Body},
		{ID: srcID, Rev: src.Rev, Deleted: true, Body: []byte("{}")},
	}, dbcore.UpdateOptions{})
	if err != nil {
		return "", err
	}
	for _, r := range res {
		if r.Err != nil {
			return "", r.Err
		}
	}
	return res[0].Rev, nil
}

// detach renames a stored document to a scratch name (backup-by-rename).
func (d *dbDir) detach(ctx context.Context, srcID, name, newName string, noReplace bool) syscall.Errno {
	d.ns.mu.Lock()
	replaced := d.ns.files[newName]
	d.ns.mu.Unlock()
	if replaced != nil && noReplace {
		return syscall.EEXIST
	}
	db, err := d.m.openDB(d.db)
	if err != nil {
		return toErrno(err)
	}
	doc, err := db.Get(srcID)
	db.Close()
	if err != nil {
		return toErrno(err)
	}
	fn := d.docChild(name)
	if fn == nil {
		return syscall.ENOENT
	}
	fn.mu.Lock()
	fn.kind, fn.name, fn.id = kindScratch, newName, ""
	fn.data, fn.mode = doc.JSON(), 0o644
	fn.pagesMaybe = true
	fn.detached = &detachInfo{id: srcID, rev: doc.Rev}
	if fn.cacheUsers == 0 {
		// Scratch writes go through the page cache: if the node becomes
		// a document again, its next open stores the rendering afresh.
		fn.cachedRev = ""
	}
	fn.mu.Unlock()
	d.ns.mu.Lock()
	d.ns.files[newName] = fn
	d.ns.detached[srcID] = fn
	d.ns.mu.Unlock()
	if replaced != nil {
		d.dropReplaced(replaced)
	}
	d.m.log.Debug("detached", "db", d.db, "id", srcID, "rev", doc.Rev, "as", newName)
	return 0
}

// renameNoReplace is renameat2's RENAME_NOREPLACE (mv -n).
const renameNoReplace = 0x1
