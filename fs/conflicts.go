package fs

import (
	"context"
	"sort"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// conflictsDir is <id>.conflicts/: one read-only <rev>.json per conflicting
// (non-deleted, losing) leaf revision of a document. It exists only while
// the document has conflicts. Removing an entry deletes that leaf.
type conflictsDir struct {
	node
	db string
	id string // full document id
}

var (
	_ = (gofs.NodeGetattrer)((*conflictsDir)(nil))
	_ = (gofs.NodeLookuper)((*conflictsDir)(nil))
	_ = (gofs.NodeOpendirHandler)((*conflictsDir)(nil))
	_ = (gofs.NodeUnlinker)((*conflictsDir)(nil))
	_ = (gofs.NodeCreater)((*conflictsDir)(nil))
	_ = (gofs.NodeRenamer)((*conflictsDir)(nil))
)

// conflictsInode returns the conflicts directory of document id, or ENOENT
// when it has no conflicts.
func (d *dbDir) conflictsInode(ctx context.Context, name, id string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	db, err := d.m.openDB(d.db)
	if err != nil {
		return nil, toErrno(err)
	}
	doc, err := db.Get(id)
	db.Close()
	if err != nil {
		return nil, toErrno(err)
	}
	if len(doc.Conflicts) == 0 {
		return nil, syscall.ENOENT
	}
	ch, _ := newChild(ctx, &d.Inode, name, modeDir,
		func(c *conflictsDir) bool { return c.id == id },
		func() *conflictsDir { return &conflictsDir{node: node{m: d.m}, db: d.db, id: id} })
	d.m.fillAttr(&out.Attr, modeDir, 0, d.m.start)
	// Whether the directory exists changes with every write to the
	// document: let the kernel ask every time (conflicts are rare).
	out.SetEntryTimeout(askEveryTime)
	out.SetAttrTimeout(askEveryTime)
	return ch, 0
}

// Getattr reports a directory.
func (c *conflictsDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	c.m.fillAttr(&out.Attr, modeDir, 0, c.m.start)
	return 0
}

// Lookup finds a conflicting revision.
func (c *conflictsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	rev, ok := DecodeName(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	db, err := c.m.openDB(c.db)
	if err != nil {
		return nil, toErrno(err)
	}
	doc, err := db.GetRev(c.id, rev)
	db.Close()
	if err != nil {
		return nil, toErrno(err)
	}
	return roInode(ctx, c.m, &c.Inode, name, doc.JSON(), time.Now(), out), 0
}

// OpendirHandle lists the conflicting revisions.
func (c *conflictsDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return newDirHandle(c, func() pager {
		return lazyPage(func(ctx context.Context) ([]dirEnt, syscall.Errno) {
			db, err := c.m.openDB(c.db)
			if err != nil {
				return nil, toErrno(err)
			}
			doc, err := db.Get(c.id)
			db.Close()
			if err != nil {
				return nil, toErrno(err)
			}
			revs := append([]string(nil), doc.Conflicts...)
			sort.Strings(revs)
			ents := dotEntries()
			for _, r := range revs {
				ents = append(ents, dirEnt{name: RevName(r), mode: syscall.S_IFREG})
			}
			return ents, 0
		})
	}), 0, 0
}

// Unlink deletes the conflicting leaf revision (a tombstone on its branch).
func (c *conflictsDir) Unlink(ctx context.Context, name string) syscall.Errno {
	if c.m.opts.ReadOnly {
		return syscall.EROFS
	}
	rev, ok := DecodeName(name)
	if !ok {
		return syscall.ENOENT
	}
	db, err := c.m.openDB(c.db)
	if err != nil {
		return toErrno(err)
	}
	defer db.Close()
	if _, err := db.DeleteDoc(c.id, rev); err != nil {
		return toErrno(err)
	}
	c.m.noteChange(c.db)
	c.m.log.Info("conflict deleted", "db", c.db, "id", c.id, "rev", rev)
	return 0
}

// Create: conflicting revisions are made by replication, not here.
func (c *conflictsDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, nil, 0, errno
	}
	return nil, nil, 0, syscall.EACCES
}

// Rename: read-only entries.
func (c *conflictsDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := nameErrno(name, newName); errno != 0 {
		return errno
	}
	return syscall.EACCES
}

// rejectedDir is <db>/.rejected/: the exact bytes of every save the
// database refused during this mount, named <file>.<n>. Entries can be
// read and removed.
type rejectedDir struct {
	node
	db string
}

var (
	_ = (gofs.NodeGetattrer)((*rejectedDir)(nil))
	_ = (gofs.NodeLookuper)((*rejectedDir)(nil))
	_ = (gofs.NodeOpendirHandler)((*rejectedDir)(nil))
	_ = (gofs.NodeUnlinker)((*rejectedDir)(nil))
	_ = (gofs.NodeCreater)((*rejectedDir)(nil))
	_ = (gofs.NodeRenamer)((*rejectedDir)(nil))
)

// Getattr reports a directory.
func (r *rejectedDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	r.m.fillAttr(&out.Attr, modeDir, 0, r.m.start)
	return 0
}

// Lookup finds a rejected save.
func (r *rejectedDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	e := r.m.rejectedEntry(r.db, name)
	if e == nil {
		return nil, syscall.ENOENT
	}
	return roInode(ctx, r.m, &r.Inode, name, e.data, e.mtime, out), 0
}

// OpendirHandle lists the rejected saves.
func (r *rejectedDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return newDirHandle(r, func() pager {
		return lazyPage(func(ctx context.Context) ([]dirEnt, syscall.Errno) {
			ents := dotEntries()
			for _, n := range r.m.rejectedNames(r.db) {
				ents = append(ents, dirEnt{name: n, mode: syscall.S_IFREG})
			}
			return ents, 0
		})
	}), 0, 0
}

// Unlink forgets a rejected save.
func (r *rejectedDir) Unlink(ctx context.Context, name string) syscall.Errno {
	if !r.m.dropRejected(r.db, name) {
		return syscall.ENOENT
	}
	return 0
}

// Create: only the file system parks files here.
func (r *rejectedDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, nil, 0, errno
	}
	return nil, nil, 0, syscall.EACCES
}

// Rename: copy a rejected save out instead (cp), then fix and save it.
func (r *rejectedDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := nameErrno(name, newName); errno != 0 {
		return errno
	}
	return syscall.EACCES
}
