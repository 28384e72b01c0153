package bench

import (
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// countingRawFS wraps a go-fuse RawFileSystem and counts every request by
// opcode name, as couchfs's own mount does (fs.Handle.Stats), so the FUSE
// floor's request counts are taken the same way as the mount's. Its methods
// run on go-fuse's request goroutines; snapshot may be called from any.
type countingRawFS struct {
	fuse.RawFileSystem
	mu     sync.Mutex
	counts map[string]uint64
}

func newCountingRawFS(inner fuse.RawFileSystem) *countingRawFS {
	return &countingRawFS{RawFileSystem: inner, counts: map[string]uint64{}}
}

func (c *countingRawFS) count(op string) {
	c.mu.Lock()
	c.counts[op]++
	c.mu.Unlock()
}

// snapshot returns a copy of the counts so far.
func (c *countingRawFS) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

func (c *countingRawFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	c.count("LOOKUP")
	return c.RawFileSystem.Lookup(cancel, h, name, out)
}

func (c *countingRawFS) Forget(nodeid, nlookup uint64) {
	c.count("FORGET")
	c.RawFileSystem.Forget(nodeid, nlookup)
}

func (c *countingRawFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	c.count("GETATTR")
	return c.RawFileSystem.GetAttr(cancel, in, out)
}

func (c *countingRawFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	c.count("SETATTR")
	return c.RawFileSystem.SetAttr(cancel, in, out)
}

func (c *countingRawFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	c.count("MKNOD")
	return c.RawFileSystem.Mknod(cancel, in, name, out)
}

func (c *countingRawFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	c.count("MKDIR")
	return c.RawFileSystem.Mkdir(cancel, in, name, out)
}

func (c *countingRawFS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	c.count("UNLINK")
	return c.RawFileSystem.Unlink(cancel, h, name)
}

func (c *countingRawFS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	c.count("RMDIR")
	return c.RawFileSystem.Rmdir(cancel, h, name)
}

func (c *countingRawFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	c.count("RENAME")
	return c.RawFileSystem.Rename(cancel, in, oldName, newName)
}

func (c *countingRawFS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	c.count("LINK")
	return c.RawFileSystem.Link(cancel, in, name, out)
}

func (c *countingRawFS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	c.count("SYMLINK")
	return c.RawFileSystem.Symlink(cancel, h, target, name, out)
}

func (c *countingRawFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	c.count("READLINK")
	return c.RawFileSystem.Readlink(cancel, h)
}

func (c *countingRawFS) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	c.count("ACCESS")
	return c.RawFileSystem.Access(cancel, in)
}

func (c *countingRawFS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	c.count("GETXATTR")
	return c.RawFileSystem.GetXAttr(cancel, h, attr, dest)
}

func (c *countingRawFS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	c.count("LISTXATTR")
	return c.RawFileSystem.ListXAttr(cancel, h, dest)
}

func (c *countingRawFS) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	c.count("SETXATTR")
	return c.RawFileSystem.SetXAttr(cancel, in, attr, data)
}

func (c *countingRawFS) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	c.count("REMOVEXATTR")
	return c.RawFileSystem.RemoveXAttr(cancel, h, attr)
}

func (c *countingRawFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	c.count("CREATE")
	return c.RawFileSystem.Create(cancel, in, name, out)
}

func (c *countingRawFS) Tmpfile(cancel <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	c.count("TMPFILE")
	return c.RawFileSystem.Tmpfile(cancel, in, out)
}

func (c *countingRawFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	c.count("OPEN")
	return c.RawFileSystem.Open(cancel, in, out)
}

func (c *countingRawFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	c.count("READ")
	return c.RawFileSystem.Read(cancel, in, buf)
}

func (c *countingRawFS) Lseek(cancel <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	c.count("LSEEK")
	return c.RawFileSystem.Lseek(cancel, in, out)
}

func (c *countingRawFS) GetLk(cancel <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	c.count("GETLK")
	return c.RawFileSystem.GetLk(cancel, in, out)
}

func (c *countingRawFS) SetLk(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	c.count("SETLK")
	return c.RawFileSystem.SetLk(cancel, in)
}

func (c *countingRawFS) SetLkw(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	c.count("SETLKW")
	return c.RawFileSystem.SetLkw(cancel, in)
}

func (c *countingRawFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	c.count("RELEASE")
	c.RawFileSystem.Release(cancel, in)
}

func (c *countingRawFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	c.count("WRITE")
	return c.RawFileSystem.Write(cancel, in, data)
}

func (c *countingRawFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	c.count("WRITE")
	return c.RawFileSystem.Writev(cancel, in, data)
}

func (c *countingRawFS) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	c.count("COPY_FILE_RANGE")
	return c.RawFileSystem.CopyFileRange(cancel, in)
}

func (c *countingRawFS) Ioctl(cancel <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	c.count("IOCTL")
	return c.RawFileSystem.Ioctl(cancel, in, inbuf, out, outbuf)
}

func (c *countingRawFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	c.count("FLUSH")
	return c.RawFileSystem.Flush(cancel, in)
}

func (c *countingRawFS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	c.count("FSYNC")
	return c.RawFileSystem.Fsync(cancel, in)
}

func (c *countingRawFS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	c.count("FALLOCATE")
	return c.RawFileSystem.Fallocate(cancel, in)
}

func (c *countingRawFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	c.count("OPENDIR")
	return c.RawFileSystem.OpenDir(cancel, in, out)
}

func (c *countingRawFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	c.count("READDIR")
	return c.RawFileSystem.ReadDir(cancel, in, out)
}

func (c *countingRawFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	c.count("READDIRPLUS")
	return c.RawFileSystem.ReadDirPlus(cancel, in, out)
}

func (c *countingRawFS) ReleaseDir(in *fuse.ReleaseIn) {
	c.count("RELEASEDIR")
	c.RawFileSystem.ReleaseDir(in)
}

func (c *countingRawFS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	c.count("FSYNCDIR")
	return c.RawFileSystem.FsyncDir(cancel, in)
}

func (c *countingRawFS) StatFs(cancel <-chan struct{}, in *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	c.count("STATFS")
	return c.RawFileSystem.StatFs(cancel, in, out)
}

func (c *countingRawFS) Statx(cancel <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	c.count("STATX")
	return c.RawFileSystem.Statx(cancel, in, out)
}
