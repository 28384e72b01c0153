package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/couchfs/couchfs/dbcore"
)

// node is embedded by every inode type: the go-fuse inode plus the mount.
type node struct {
	gofs.Inode
	m *mount
}

var _ = (gofs.NodeStatfser)((*node)(nil))

// Statfs reports the file system holding the data directory (or generous
// constants without one), so df and editors see free space.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	out.Bsize = 4096
	out.Frsize = 4096
	out.NameLen = maxNameLen
	if n.m.opts.DataDir != "" {
		var st syscall.Statfs_t
		if err := syscall.Statfs(n.m.opts.DataDir, &st); err == nil {
			out.Bsize = uint32(st.Bsize)
			out.Frsize = uint32(st.Frsize)
			out.Blocks = st.Blocks
			out.Bfree = st.Bfree
			out.Bavail = st.Bavail
			out.Files = st.Files
			out.Ffree = st.Ffree
			return 0
		}
	}
	out.Blocks = 1 << 32
	out.Bfree = 1 << 31
	out.Bavail = 1 << 31
	out.Files = 1 << 32
	out.Ffree = 1 << 31
	return 0
}

// Modes of the entries (see docs/semantics.md, "Attributes").
const (
	modeDir   = syscall.S_IFDIR | 0o755
	modeRODir = syscall.S_IFDIR | 0o555
	modeFile  = syscall.S_IFREG | 0o644
	modeRO    = syscall.S_IFREG | 0o444
	modeLink  = syscall.S_IFLNK | 0o777
)

// fillAttr sets the attributes every node reports the same way.
func (m *mount) fillAttr(a *fuse.Attr, mode uint32, size int64, mtime time.Time) {
	if m.opts.ReadOnly && mode&syscall.S_IFMT != syscall.S_IFLNK {
		mode &^= 0o222
	}
	a.Mode = mode
	a.Size = uint64(size)
	a.Nlink = 1
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		a.Nlink = 2
	}
	a.Uid = m.uid
	a.Gid = m.gid
	a.SetTimes(&mtime, &mtime, &mtime)
}

// setattrReply completes the reply to a SETATTR, which go-fuse sends as the
// node filled it: without the inode number the kernel would set the file's
// st_ino to 0 (vim then refuses to save: "E949: File changed while
// writing"), and without a timeout the attributes would not be cached.
func (m *mount) setattrReply(ino *gofs.Inode, out *fuse.AttrOut, errno syscall.Errno) syscall.Errno {
	if errno != 0 {
		return errno
	}
	out.Ino = ino.StableAttr().Ino
	if out.Timeout() == 0 {
		out.SetTimeout(m.opts.AttrTimeout)
	}
	return 0
}

// openDB opens a handle on database db for one operation; the caller closes
// it.
func (m *mount) openDB(db string) (*dbcore.DB, error) { return m.srv.OpenDB(db) }

// newChild returns the inode for a child of parent called name: the one the
// tree already holds if it is still the same kind of object (keep returns
// true for it), else a new one made by make.
func newChild[T gofs.InodeEmbedder](ctx context.Context, parent *gofs.Inode, name string, mode uint32, keep func(T) bool, make func() T) (*gofs.Inode, T) {
	if ch := parent.GetChild(name); ch != nil && !ch.Forgotten() {
		if t, ok := ch.Operations().(T); ok && keep(t) {
			return ch, t
		}
	}
	t := make()
	return parent.NewInode(ctx, t, gofs.StableAttr{Mode: mode & syscall.S_IFMT}), t
}

// writeFlags reports whether open flags ask for write access.
func writeFlags(flags uint32) bool {
	return flags&syscall.O_ACCMODE != syscall.O_RDONLY
}
