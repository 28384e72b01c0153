package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// roFile is a read-only file whose bytes never change under its name: a
// _changes entry (a seq names one change), a conflicting revision, a
// rejected save.
type roFile struct {
	node
	data  []byte
	mtime time.Time
}

var (
	_ = (gofs.NodeGetattrer)((*roFile)(nil))
	_ = (gofs.NodeSetattrer)((*roFile)(nil))
	_ = (gofs.NodeOpener)((*roFile)(nil))
	_ = (gofs.NodeReader)((*roFile)(nil))
)

// roInode returns the inode of an immutable file called name under parent.
func roInode(ctx context.Context, m *mount, parent *gofs.Inode, name string, data []byte, mtime time.Time, out *fuse.EntryOut) *gofs.Inode {
	ch, f := newChild(ctx, parent, name, modeRO,
		func(f *roFile) bool { return string(f.data) == string(data) },
		func() *roFile { return &roFile{node: node{m: m}, data: data, mtime: mtime} })
	m.fillAttr(&out.Attr, modeRO, int64(len(f.data)), f.mtime)
	return ch
}

// Getattr reports the fixed size.
func (f *roFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.m.fillAttr(&out.Attr, modeRO, int64(len(f.data)), f.mtime)
	return 0
}

// Setattr refuses to change the content; times and modes are ignored.
func (f *roFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, ok := in.GetSize(); ok {
		return syscall.EACCES
	}
	return f.m.setattrReply(&f.Inode, out, f.Getattr(ctx, fh, out))
}

// Open refuses writing; the content can stay in the page cache for good.
func (f *roFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if writeFlags(flags) {
		return nil, 0, syscall.EACCES
	}
	return nil, fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH, 0
}

// Read returns the fixed bytes.
func (f *roFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultData(copyRange(f.data, dest, off)), 0
}
