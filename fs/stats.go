package fs

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

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
	out := ""
	for _, op := range slices.Sorted(maps.Keys(s)) {
		if out != "" {
			out += " "
		}
		out += op + "=" + strconv.FormatUint(s[op], 10)
	}
	return "{" + out + "}"
}

// OpTiming is how many requests of one opcode a mount served and the time
// its handlers spent on them, from the file system's receiving a request to
// its answer (not counting go-fuse's reading it from and writing the reply
// to the kernel, nor the wait for a thread to serve it).
type OpTiming struct {
	Requests uint64
	Total    time.Duration
}

// Mean is the average handler time of one request; 0 if none.
func (t OpTiming) Mean() time.Duration {
	if t.Requests == 0 {
		return 0
	}
	return t.Total / time.Duration(t.Requests)
}

// Timings holds the OpTiming of every opcode a mount served, by opcode name
// like Stats. It is a snapshot; Sub two of them to time one workload.
type Timings map[string]OpTiming

// Sub returns the timings in t minus those in before, omitting opcodes
// with no request in between.
func (t Timings) Sub(before Timings) Timings {
	d := Timings{}
	for op, x := range t {
		b := before[op]
		if x.Requests != b.Requests {
			d[op] = OpTiming{Requests: x.Requests - b.Requests, Total: x.Total - b.Total}
		}
	}
	return d
}

// String lists, in opcode order, each opcode's request count and mean
// handler time: "{FLUSH=100×212µs OPEN=100×9µs}".
func (t Timings) String() string {
	out := ""
	for _, op := range slices.Sorted(maps.Keys(t)) {
		if out != "" {
			out += " "
		}
		out += fmt.Sprintf("%s=%d×%v", op, t[op].Requests, t[op].Mean().Round(100*time.Nanosecond))
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

// countingFS wraps the go-fuse node bridge to count every request by opcode
// and time its handler (from the bridge's call to its return: the file
// system's own work, without go-fuse's read of the request and write of the
// reply), and answers the extended-attribute requests itself with ENOSYS:
// couchfs has no extended attributes, and ENOSYS (unlike ENODATA) makes the
// kernel stop asking — without it every write costs a GETXATTR of
// "security.capability". It also makes askEveryTime timeouts exact
// (timeouts.go). Its methods run on go-fuse's request goroutines.
type countingFS struct {
	fuse.RawFileSystem
	ops [opCount]opCounter
}

// opCounter is one opcode's request count and the time its handlers took.
type opCounter struct {
	n  atomic.Uint64
	ns atomic.Uint64
}

func (c *countingFS) stats() Stats {
	s := Stats{}
	for i := range c.ops {
		if n := c.ops[i].n.Load(); n != 0 {
			s[opNames[i]] = n
		}
	}
	return s
}

func (c *countingFS) timings() Timings {
	t := Timings{}
	for i := range c.ops {
		if n := c.ops[i].n.Load(); n != 0 {
			t[opNames[i]] = OpTiming{Requests: n, Total: time.Duration(c.ops[i].ns.Load())}
		}
	}
	return t
}

// begin counts a request of opcode op as it arrives (so a count read while
// it is served includes it) and returns its start for end.
func (c *countingFS) begin(op int) time.Time {
	c.ops[op].n.Add(1)
	return time.Now()
}

// end adds the time since start to opcode op's handler time.
func (c *countingFS) end(op int, start time.Time) {
	c.ops[op].ns.Add(uint64(time.Since(start)))
}

func (c *countingFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	defer c.end(opLookup, c.begin(opLookup))
	st := c.RawFileSystem.Lookup(cancel, h, name, out)
	exactEntry(out)
	return st
}

func (c *countingFS) Forget(nodeid, nlookup uint64) {
	defer c.end(opForget, c.begin(opForget))
	c.RawFileSystem.Forget(nodeid, nlookup)
}

func (c *countingFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	defer c.end(opGetattr, c.begin(opGetattr))
	st := c.RawFileSystem.GetAttr(cancel, in, out)
	exactAttr(out)
	return st
}

func (c *countingFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	defer c.end(opSetattr, c.begin(opSetattr))
	st := c.RawFileSystem.SetAttr(cancel, in, out)
	exactAttr(out)
	return st
}

func (c *countingFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	defer c.end(opMknod, c.begin(opMknod))
	return c.RawFileSystem.Mknod(cancel, in, name, out)
}

func (c *countingFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	defer c.end(opMkdir, c.begin(opMkdir))
	st := c.RawFileSystem.Mkdir(cancel, in, name, out)
	exactEntry(out)
	return st
}

func (c *countingFS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	defer c.end(opUnlink, c.begin(opUnlink))
	return c.RawFileSystem.Unlink(cancel, h, name)
}

func (c *countingFS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	defer c.end(opRmdir, c.begin(opRmdir))
	return c.RawFileSystem.Rmdir(cancel, h, name)
}

func (c *countingFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	defer c.end(opRename, c.begin(opRename))
	return c.RawFileSystem.Rename(cancel, in, oldName, newName)
}

func (c *countingFS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	defer c.end(opLink, c.begin(opLink))
	return c.RawFileSystem.Link(cancel, in, name, out)
}

func (c *countingFS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	defer c.end(opSymlink, c.begin(opSymlink))
	return c.RawFileSystem.Symlink(cancel, h, target, name, out)
}

func (c *countingFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	defer c.end(opReadlink, c.begin(opReadlink))
	return c.RawFileSystem.Readlink(cancel, h)
}

func (c *countingFS) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	defer c.end(opAccess, c.begin(opAccess))
	return c.RawFileSystem.Access(cancel, in)
}

func (c *countingFS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	defer c.end(opGetxattr, c.begin(opGetxattr))
	return 0, fuse.ENOSYS
}

func (c *countingFS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	defer c.end(opListxattr, c.begin(opListxattr))
	return 0, fuse.ENOSYS
}

func (c *countingFS) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	defer c.end(opSetxattr, c.begin(opSetxattr))
	return fuse.ENOSYS
}

func (c *countingFS) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	defer c.end(opRemovexattr, c.begin(opRemovexattr))
	return fuse.ENOSYS
}

func (c *countingFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	defer c.end(opCreate, c.begin(opCreate))
	st := c.RawFileSystem.Create(cancel, in, name, out)
	exactEntry(&out.EntryOut)
	return st
}

func (c *countingFS) Tmpfile(cancel <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	defer c.end(opTmpfile, c.begin(opTmpfile))
	return c.RawFileSystem.Tmpfile(cancel, in, out)
}

func (c *countingFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	defer c.end(opOpen, c.begin(opOpen))
	return c.RawFileSystem.Open(cancel, in, out)
}

func (c *countingFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	defer c.end(opRead, c.begin(opRead))
	return c.RawFileSystem.Read(cancel, in, buf)
}

func (c *countingFS) Lseek(cancel <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	defer c.end(opLseek, c.begin(opLseek))
	return c.RawFileSystem.Lseek(cancel, in, out)
}

func (c *countingFS) GetLk(cancel <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	defer c.end(opGetlk, c.begin(opGetlk))
	return c.RawFileSystem.GetLk(cancel, in, out)
}

func (c *countingFS) SetLk(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	defer c.end(opSetlk, c.begin(opSetlk))
	return c.RawFileSystem.SetLk(cancel, in)
}

func (c *countingFS) SetLkw(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	defer c.end(opSetlkw, c.begin(opSetlkw))
	return c.RawFileSystem.SetLkw(cancel, in)
}

func (c *countingFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	defer c.end(opRelease, c.begin(opRelease))
	c.RawFileSystem.Release(cancel, in)
}

func (c *countingFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	defer c.end(opWrite, c.begin(opWrite))
	return c.RawFileSystem.Write(cancel, in, data)
}

func (c *countingFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	defer c.end(opWrite, c.begin(opWrite))
	return c.RawFileSystem.Writev(cancel, in, data)
}

func (c *countingFS) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	defer c.end(opCopyFileRange, c.begin(opCopyFileRange))
	return c.RawFileSystem.CopyFileRange(cancel, in)
}

func (c *countingFS) Ioctl(cancel <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	defer c.end(opIoctl, c.begin(opIoctl))
	return c.RawFileSystem.Ioctl(cancel, in, inbuf, out, outbuf)
}

func (c *countingFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	defer c.end(opFlush, c.begin(opFlush))
	return c.RawFileSystem.Flush(cancel, in)
}

func (c *countingFS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	defer c.end(opFsync, c.begin(opFsync))
	return c.RawFileSystem.Fsync(cancel, in)
}

func (c *countingFS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	defer c.end(opFallocate, c.begin(opFallocate))
	return c.RawFileSystem.Fallocate(cancel, in)
}

func (c *countingFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	defer c.end(opOpendir, c.begin(opOpendir))
	return c.RawFileSystem.OpenDir(cancel, in, out)
}

func (c *countingFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	defer c.end(opReaddir, c.begin(opReaddir))
	return c.RawFileSystem.ReadDir(cancel, in, out)
}

func (c *countingFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	defer c.end(opReaddirplus, c.begin(opReaddirplus))
	return c.RawFileSystem.ReadDirPlus(cancel, in, out)
}

func (c *countingFS) ReleaseDir(in *fuse.ReleaseIn) {
	defer c.end(opReleasedir, c.begin(opReleasedir))
	c.RawFileSystem.ReleaseDir(in)
}

func (c *countingFS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	defer c.end(opFsyncdir, c.begin(opFsyncdir))
	return c.RawFileSystem.FsyncDir(cancel, in)
}

func (c *countingFS) StatFs(cancel <-chan struct{}, in *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	defer c.end(opStatfs, c.begin(opStatfs))
	return c.RawFileSystem.StatFs(cancel, in, out)
}

func (c *countingFS) Statx(cancel <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	defer c.end(opStatx, c.begin(opStatx))
	return c.RawFileSystem.Statx(cancel, in, out)
}
