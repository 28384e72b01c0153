package fs

import (
	"context"
	"errors"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/couchfs/couchfs/dbcore"
)

// changesDir is <db>/_changes/: one read-only entry per document, its
// latest change row, named <seq>-<id>.json so that ls lists them in
// update-seq order.
type changesDir struct {
	node
	db string
}

var (
	_ = (gofs.NodeGetattrer)((*changesDir)(nil))
	_ = (gofs.NodeLookuper)((*changesDir)(nil))
	_ = (gofs.NodeOpendirHandler)((*changesDir)(nil))
	_ = (gofs.NodeCreater)((*changesDir)(nil))
	_ = (gofs.NodeUnlinker)((*changesDir)(nil))
	_ = (gofs.NodeRenamer)((*changesDir)(nil))
)

// Getattr reports a read-only directory.
func (c *changesDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	c.m.fillAttr(&out.Attr, modeRODir, 0, c.m.start)
	return 0
}

// Lookup finds the entry of a document whose latest change is at the seq
// the name gives; an entry superseded by a newer change no longer exists.
func (c *changesDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, errno
	}
	seq, id, ok := ParseChangeName(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	db, err := c.m.openDB(c.db)
	if err != nil {
		return nil, toErrno(err)
	}
	ch, err := db.LastChange(id)
	db.Close()
	if err != nil {
		return nil, toErrno(err)
	}
	if ch.Seq != seq {
		return nil, syscall.ENOENT
	}
	return roInode(ctx, c.m, &c.Inode, name, ch.JSON(), c.m.start, out), 0
}

// OpendirHandle lists the changes feed a page at a time.
func (c *changesDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return newDirHandle(c, func() pager {
		return chainPagers(onePage(dotEntries()), c.pager())
	}), 0, 0
}

// pager lists the feed from the start, pageSize changes per database call,
// each call resuming after the last seq listed.
func (c *changesDir) pager() pager {
	var since uint64
	done := false
	return func(ctx context.Context) (*dirBatch, syscall.Errno) {
		if done {
			return nil, 0
		}
		db, err := c.m.openDB(c.db)
		if err != nil {
			return nil, toErrno(err)
		}
		rows := make([]dbcore.Change, 0, pageSize)
		err = db.Changes(since, pageSize, func(ch dbcore.Change) error {
			rows = append(rows, ch)
			if len(rows) >= pageSize {
				return errPageFull
			}
			return nil
		})
		db.Close()
		if err != nil && !errors.Is(err, errPageFull) {
			return nil, toErrno(err)
		}
		if len(rows) < pageSize {
			done = true
		}
		if len(rows) > 0 {
			since = rows[len(rows)-1].Seq
		}
		return c.batch(rows), 0
	}
}

// batch turns change rows into entries. The names share one string, and a
// row's JSON is rendered only when READDIRPLUS asks for its inode: plain ls
// needs neither.
func (c *changesDir) batch(rows []dbcore.Change) *dirBatch {
	buf := make([]byte, 0, len(rows)*48)
	ends := make([]int, 0, len(rows))
	kept := rows[:0]
	for _, ch := range rows {
		start := len(buf)
		buf = appendChangeName(buf, ch.Seq, ch.ID)
		if len(buf)-start > maxNameLen {
			// Too long a name to show: the document's own file may
			// still fit (docs/semantics.md, "Names").
			buf = buf[:start]
			continue
		}
		kept = append(kept, ch)
		ends = append(ends, len(buf))
	}
	ents := fileEnts(buf, ends)
	return &dirBatch{ents: ents, lookup: func(ctx context.Context, i int, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
		// A name of its own: the inode may outlive the batch, which
		// should not keep the other names alive.
		name := strings.Clone(ents[i].name)
		return roInode(ctx, c.m, &c.Inode, name, kept[i].JSON(), c.m.start, out), 0
	}}
}

// Create: the feed is read-only.
func (c *changesDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if errno := nameErrno(name); errno != 0 {
		return nil, nil, 0, errno
	}
	return nil, nil, 0, syscall.EACCES
}

// Unlink: the feed is read-only.
func (c *changesDir) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EACCES }

// Rename: the feed is read-only.
func (c *changesDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := nameErrno(name, newName); errno != 0 {
		return errno
	}
	return syscall.EACCES
}
