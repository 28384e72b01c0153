package fs

import (
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Stats counts the FUSE requests a mount has served, by opcode name
// ("LOOKUP", "OPEN", "READ", …). It is a snapshot; take two and Sub them to
// count the requests one operation cost.
type Stats map[string]uint64

// Sub returns the counts in s minus those in before, omitting zeros.
func (s Stats) Sub(before Stats) Stats {
	d := Stats{}
	for op, n := range s {
		if m := n - before[op]; m != 0 {
			d[op] = m
		}
	}
	return d
}

// Total returns the number of requests in s other than FORGET, which the
// kernel sends whenever it drops an inode from its cache rather than as
// part of any one operation.
func (s Stats) Total() uint64 {
	var t uint64
	for op, n := range s {
		if op != "FORGET" {
			t += n
		}
	}
	return t
}

// String lists the counts in opcode order, for test failure messages.
func (s Stats) String() string {
	ops := make([]string, 0, len(s))
	for op := range s {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	out := ""
	for _, op := range ops {
		if out != "" {
			out += " "
		}
		out += op + "=" + strconv.FormatUint(s[op], 10)
	}
	return "{" + out + "}"
}

// The opcodes the counting wrapper distinguishes.
const (
	opLookup = iota
	opForget
	opGetattr
	opSetattr
	opMknod
	opMkdir
	opUnlink
	opRmdir
	opRename
	opLink
	opSymlink
	opReadlink
	opAccess
	opGetxattr
	opListxattr
	opSetxattr
	opRemovexattr
	opCreate
	opTmpfile
	opOpen
	opRead
	opLseek
	opGetlk
	opSetlk
	opSetlkw
	opRelease
	opWrite
	opCopyFileRange
	opIoctl
	opFlush
	opFsync
	opFallocate
	opOpendir
	opReaddir
	opReaddirplus
	opReleasedir
	opFsyncdir
	opStatfs
	opStatx
	opCount
)

var opNames = [opCount]string{
	opLookup: "LOOKUP", opForget: "FORGET", opGetattr: "GETATTR", opSetattr: "SETATTR",
	opMknod: "MKNOD", opMkdir: "MKDIR", opUnlink: "UNLINK", opRmdir: "RMDIR",
	opRename: "RENAME", opLink: "LINK", opSymlink: "SYMLINK", opReadlink: "READLINK",
	opAccess: "ACCESS", opGetxattr: "GETXATTR", opListxattr: "LISTXATTR",
	opSetxattr: "SETXATTR", opRemovexattr: "REMOVEXATTR", opCreate: "CREATE",
	opTmpfile: "TMPFILE", opOpen: "OPEN", opRead: "READ", opLseek: "LSEEK",
	opGetlk: "GETLK", opSetlk: "SETLK", opSetlkw: "SETLKW", opRelease: "RELEASE",
	opWrite: "WRITE", opCopyFileRange: "COPY_FILE_RANGE", opIoctl: "IOCTL",
	opFlush: "FLUSH", opFsync: "FSYNC", opFallocate: "FALLOCATE", opOpendir: "OPENDIR",
	opReaddir: "READDIR", opReaddirplus: "READDIRPLUS", opReleasedir: "RELEASEDIR",
	opFsyncdir: "FSYNCDIR", opStatfs: "STATFS", opStatx: "STATX",
}

// countingFS wraps the go-fuse node bridge to count every request by opcode,
// and answers the extended-attribute requests itself with ENOSYS: couchfs
// has no extended attributes, and ENOSYS (unlike ENODATA) makes the kernel
// stop asking — without it every write costs a GETXATTR of
// "security.capability". It also makes askEveryTime timeouts exact
// (timeouts.go). Its methods run on go-fuse's request goroutines.
type countingFS struct {
	fuse.RawFileSystem
	counts [opCount]atomic.Uint64
}

func (c *countingFS) stats() Stats {
	s := Stats{}
	for i := range c.counts {
		if n := c.counts[i].Load(); n != 0 {
			s[opNames[i]] = n
		}
	}
	return s
}

func (c *countingFS) count(op int) { c.counts[op].Add(1) }

func (c *countingFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	c.count(opLookup)
	st := c.RawFileSystem.Lookup(cancel, h, name, out)
	exactEntry(out)
	return st
}

func (c *countingFS) Forget(nodeid, nlookup uint64) {
	c.count(opForget)
	c.RawFileSystem.Forget(nodeid, nlookup)
}

func (c *countingFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	c.count(opGetattr)
	st := c.RawFileSystem.GetAttr(cancel, in, out)
	exactAttr(out)
	return st
}

func (c *countingFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	c.count(opSetattr)
	st := c.RawFileSystem.SetAttr(cancel, in, out)
	exactAttr(out)
	return st
}

func (c *countingFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	c.count(opMknod)
	return c.RawFileSystem.Mknod(cancel, in, name, out)
}

func (c *countingFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	c.count(opMkdir)
	st := c.RawFileSystem.Mkdir(cancel, in, name, out)
	exactEntry(out)
	return st
}

func (c *countingFS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	c.count(opUnlink)
	return c.RawFileSystem.Unlink(cancel, h, name)
}

func (c *countingFS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	c.count(opRmdir)
	return c.RawFileSystem.Rmdir(cancel, h, name)
}

func (c *countingFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	c.count(opRename)
	return c.RawFileSystem.Rename(cancel, in, oldName, newName)
}

func (c *countingFS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	c.count(opLink)
	return c.RawFileSystem.Link(cancel, in, name, out)
}

func (c *countingFS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	c.count(opSymlink)
	return c.RawFileSystem.Symlink(cancel, h, target, name, out)
}

func (c *countingFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	c.count(opReadlink)
	return c.RawFileSystem.Readlink(cancel, h)
}

func (c *countingFS) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	c.count(opAccess)
	return c.RawFileSystem.Access(cancel, in)
}

func (c *countingFS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	c.count(opGetxattr)
	return 0, fuse.ENOSYS
}

func (c *countingFS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	c.count(opListxattr)
	return 0, fuse.ENOSYS
}

func (c *countingFS) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	c.count(opSetxattr)
	return fuse.ENOSYS
}

func (c *countingFS) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	c.count(opRemovexattr)
	return fuse.ENOSYS
}

func (c *countingFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	c.count(opCreate)
	st := c.RawFileSystem.Create(cancel, in, name, out)
	exactEntry(&out.EntryOut)
	return st
}

func (c *countingFS) Tmpfile(cancel <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	c.count(opTmpfile)
	return c.RawFileSystem.Tmpfile(cancel, in, out)
}

func (c *countingFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	c.count(opOpen)
	return c.RawFileSystem.Open(cancel, in, out)
}

func (c *countingFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	c.count(opRead)
	return c.RawFileSystem.Read(cancel, in, buf)
}

func (c *countingFS) Lseek(cancel <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	c.count(opLseek)
	return c.RawFileSystem.Lseek(cancel, in, out)
}

func (c *countingFS) GetLk(cancel <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	c.count(opGetlk)
	return c.RawFileSystem.GetLk(cancel, in, out)
}

func (c *countingFS) SetLk(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	c.count(opSetlk)
	return c.RawFileSystem.SetLk(cancel, in)
}

func (c *countingFS) SetLkw(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	c.count(opSetlkw)
	return c.RawFileSystem.SetLkw(cancel, in)
}

func (c *countingFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	c.count(opRelease)
	c.RawFileSystem.Release(cancel, in)
}

func (c *countingFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	c.count(opWrite)
	return c.RawFileSystem.Write(cancel, in, data)
}

func (c *countingFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	c.count(opWrite)
	return c.RawFileSystem.Writev(cancel, in, data)
}

func (c *countingFS) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	c.count(opCopyFileRange)
	return c.RawFileSystem.CopyFileRange(cancel, in)
}

func (c *countingFS) Ioctl(cancel <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	c.count(opIoctl)
	return c.RawFileSystem.Ioctl(cancel, in, inbuf, out, outbuf)
}

func (c *countingFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	c.count(opFlush)
	return c.RawFileSystem.Flush(cancel, in)
}

func (c *countingFS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	c.count(opFsync)
	return c.RawFileSystem.Fsync(cancel, in)
}

func (c *countingFS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	c.count(opFallocate)
	return c.RawFileSystem.Fallocate(cancel, in)
}

func (c *countingFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	c.count(opOpendir)
	return c.RawFileSystem.OpenDir(cancel, in, out)
}

func (c *countingFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	c.count(opReaddir)
	return c.RawFileSystem.ReadDir(cancel, in, out)
}

func (c *countingFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	c.count(opReaddirplus)
	return c.RawFileSystem.ReadDirPlus(cancel, in, out)
}

func (c *countingFS) ReleaseDir(in *fuse.ReleaseIn) {
	c.count(opReleasedir)
	c.RawFileSystem.ReleaseDir(in)
}

func (c *countingFS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	c.count(opFsyncdir)
	return c.RawFileSystem.FsyncDir(cancel, in)
}

func (c *countingFS) StatFs(cancel <-chan struct{}, in *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	c.count(opStatfs)
	return c.RawFileSystem.StatFs(cancel, in, out)
}

func (c *countingFS) Statx(cancel <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	c.count(opStatx)
	return c.RawFileSystem.Statx(cancel, in, out)
}
