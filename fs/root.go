package fs

import (
	"context"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/couchfs/couchfs/dbcore"
)

// rootNode is the mount point: one directory per database.
type rootNode struct {
	node
}

var (
	_ = (gofs.NodeGetattrer)((*rootNode)(nil))
	_ = (gofs.NodeLookuper)((*rootNode)(nil))
	_ = (gofs.NodeOpendirHandler)((*rootNode)(nil))
	_ = (gofs.NodeMkdirer)((*rootNode)(nil))
	_ = (gofs.NodeRmdirer)((*rootNode)(nil))
	_ = (gofs.NodeUnlinker)((*rootNode)(nil))
	_ = (gofs.NodeRenamer)((*rootNode)(nil))
	_ = (gofs.NodeCreater)((*rootNode)(nil))
	_ = (gofs.NodeSymlinker)((*rootNode)(nil))
	_ = (gofs.NodeMknoder)((*rootNode)(nil))
	_ = (gofs.NodeLinker)((*rootNode)(nil))
)

// Getattr reports a plain directory.
func (r *rootNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	r.m.fillAttr(&out.Attr, modeDir, 0, r.m.start)
	return 0
}

// Lookup finds the database called name.
func (r *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	if dbcore.ValidateDBName(name) != nil {
		return nil, syscall.ENOENT
	}
	db, err := r.m.openDB(name)
	if err != nil {
		return nil, toErrno(err)
	}
	seq := db.UpdateSeq()
	db.Close()
	return r.dbInode(ctx, name, seq, out), 0
}

// dbInode returns the directory inode of database name.
func (r *rootNode) dbInode(ctx context.Context, name string, seq uint64, out *fuse.EntryOut) *gofs.Inode {
	ch, _ := newChild(ctx, &r.Inode, name, modeDir,
		func(d *dbDir) bool { return d.db == name && d.ns.ns == nsDocs },
		func() *dbDir { return newDBDir(r.m, name, nsDocs, seq) })
	r.m.fillAttr(&out.Attr, modeDir, 0, r.m.start)
	return ch
}

// OpendirHandle lists the databases.
func (r *rootNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return newDirHandle(r, func() pager {
		return lazyPage(func(ctx context.Context) ([]dirEnt, syscall.Errno) {
			names, err := r.m.srv.AllDBs()
			if err != nil {
				return nil, toErrno(err)
			}
			ents := dotEntries()
			for _, n := range names {
				ents = append(ents, dirEnt{name: n, mode: syscall.S_IFDIR})
			}
			return ents, 0
		})
	}), 0, 0
}

// Mkdir creates database name with the default engine, or NAME.EXT with the
// engine of extension EXT.
func (r *rootNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	if r.m.opts.ReadOnly {
		return nil, syscall.EROFS
	}
	db, engine := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		db, engine = name[:i], name[i+1:]
	}
	if err := r.m.srv.CreateDB(db, engine); err != nil {
		return nil, toErrno(err)
	}
	if engine == "" {
		engine, _ = r.m.srv.EngineOf(db)
	}
	r.m.log.Info("database created", "db", db, "engine", engine)
	ch := r.dbInode(ctx, db, 0, out)
	if db != name {
		// The kernel files the new directory under the name mkdir used,
		// NAME.EXT; the database is listed as NAME. Let that alias expire
		// at once rather than after the entry timeout.
		out.SetEntryTimeout(askEveryTime)
	}
	return ch, 0
}

// Rmdir deletes database name if it has no documents.
func (r *rootNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if r.m.opts.ReadOnly {
		return syscall.EROFS
	}
	// The kernel removes the name itself: the invalidator must not.
	var dir *dbDir
	if ch := r.GetChild(name); ch != nil {
		dir, _ = ch.Operations().(*dbDir)
	}
	if dir != nil {
		dir.removing.Store(true)
	}
	if err := r.m.srv.DeleteDB(name, true); err != nil {
		if dir != nil {
			dir.removing.Store(false)
		}
		return toErrno(err)
	}
	r.m.noteChange(name)
	r.m.forgetDB(name)
	r.m.log.Info("database deleted", "db", name)
	return 0
}

// Unlink: the root holds only database directories.
func (r *rootNode) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EPERM }

// Rename: databases cannot be renamed.
func (r *rootNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := nameErrno(name, newName); errno != 0 {
		return errno
	}
	return syscall.EPERM
}

// Create: the root holds only database directories.
func (r *rootNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, nil, 0, errno
	}
	return nil, nil, 0, syscall.EPERM
}

// Symlink: the root holds only database directories.
func (r *rootNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	return nil, syscall.EPERM
}

// Mknod: the root holds only database directories.
func (r *rootNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	return nil, syscall.EPERM
}

// Link: no hard links.
func (r *rootNode) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	return nil, syscall.EPERM
}
