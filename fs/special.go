package fs

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/couchfs/couchfs/dbcore"
)

// fixedInode returns the inode of a fixed entry of a database directory.
func (d *dbDir) fixedInode(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	switch name {
	case nameDesign, nameLocal:
		ns := nsDesign
		if name == nameLocal {
			ns = nsLocal
		}
		ch, _ := newChild(ctx, &d.Inode, name, modeDir,
			func(c *dbDir) bool { return c.ns.ns == ns },
			func() *dbDir { return newDBDir(d.m, d.db, ns, 0) })
		d.m.fillAttr(&out.Attr, modeDir, 0, d.m.start)
		return ch, 0
	case nameChanges:
		ch, _ := newChild(ctx, &d.Inode, name, modeRODir,
			func(*changesDir) bool { return true },
			func() *changesDir { return &changesDir{node: node{m: d.m}, db: d.db} })
		d.m.fillAttr(&out.Attr, modeRODir, 0, d.m.start)
		return ch, 0
	case nameRejected:
		ch, _ := newChild(ctx, &d.Inode, name, modeDir,
			func(*rejectedDir) bool { return true },
			func() *rejectedDir { return &rejectedDir{node: node{m: d.m}, db: d.db} })
		d.m.fillAttr(&out.Attr, modeDir, 0, d.m.start)
		return ch, 0
	}
	ch, f := newChild(ctx, &d.Inode, name, modeFile,
		func(*specialFile) bool { return true },
		func() *specialFile { return &specialFile{node: node{m: d.m}, db: d.db, name: name} })
	var a fuse.AttrOut
	if errno := f.Getattr(ctx, nil, &a); errno != 0 {
		return nil, errno
	}
	out.Attr = a.Attr
	out.SetAttrTimeout(askEveryTime)
	return ch, 0
}

// specialFile is one of a database's settings and actions: _security and
// _revs_limit (read-write), _info (read-only), _compact and _purge (write to
// act; _purge then reads back the last result).
type specialFile struct {
	node
	db   string
	name string
}

var (
	_ = (gofs.NodeGetattrer)((*specialFile)(nil))
	_ = (gofs.NodeSetattrer)((*specialFile)(nil))
	_ = (gofs.NodeOpener)((*specialFile)(nil))
)

func (f *specialFile) mode() uint32 {
	if f.name == nameInfo {
		return modeRO
	}
	return modeFile
}

// content renders the file now.
func (f *specialFile) content() ([]byte, syscall.Errno) {
	switch f.name {
	case nameCompact:
		return nil, 0
	case namePurge:
		return f.m.purgedResult(f.db), 0
	}
	db, err := f.m.openDB(f.db)
	if err != nil {
		return nil, toErrno(err)
	}
	defer db.Close()
	switch f.name {
	case nameSecurity:
		return withNewline(db.Security()), 0
	case nameRevsLimit:
		return []byte(strconv.FormatUint(db.RevsLimit(), 10) + "\n"), 0
	default:
		info, err := db.Info()
		if err != nil {
			return nil, toErrno(err)
		}
		return info.JSON(), 0
	}
}

func withNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b
	}
	return append(append([]byte(nil), b...), '\n')
}

// apply performs what writing data to the file means.
func (f *specialFile) apply(data []byte) syscall.Errno {
	db, err := f.m.openDB(f.db)
	if err != nil {
		return toErrno(err)
	}
	defer db.Close()
	switch f.name {
	case nameSecurity:
		err = db.SetSecurity(data)
	case nameRevsLimit:
		var n uint64
		if n, err = dbcore.ParseRevsLimit(data); err == nil {
			err = db.SetRevsLimit(n)
		}
	case nameCompact:
		err = db.Compact()
	case namePurge:
		var res []byte
		if res, err = db.PurgeJSON(data); err == nil {
			f.m.setPurged(f.db, withNewline(res))
		}
	default:
		return syscall.EACCES
	}
	if err != nil {
		f.m.park(f.db, f.name, data, err)
		return toErrno(err)
	}
	if f.name == namePurge {
		f.m.noteChange(f.db)
		// A purge leaves no change row: the invalidator looks at each
		// purged document itself, since the kernel may still hold its name.
		var req map[string]json.RawMessage
		if json.Unmarshal(data, &req) == nil {
			for id := range req {
				f.m.inv.queueCheck(f.db, id)
			}
		}
	}
	f.m.log.Info("database setting written", "db", f.db, "file", f.name, "bytes", len(data))
	return 0
}

// Getattr renders the file to report its exact size.
func (f *specialFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := fh.(*specialHandle); ok {
		h.mu.Lock()
		if h.hasDraft {
			f.m.fillAttr(&out.Attr, f.mode(), int64(len(h.draft)), f.m.start)
			h.mu.Unlock()
			return 0
		}
		h.mu.Unlock()
	}
	b, errno := f.content()
	if errno != 0 {
		return errno
	}
	f.m.fillAttr(&out.Attr, f.mode(), int64(len(b)), f.m.start)
	// The content changes with every write to the database, which no
	// notification covers: let the kernel ask every time.
	out.SetTimeout(askEveryTime)
	return 0
}

// Setattr truncates an open draft; other changes are ignored.
func (f *specialFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		h, isH := fh.(*specialHandle)
		if !isH || f.name == nameInfo {
			return syscall.EACCES
		}
		h.mu.Lock()
		h.draft = resize(h.draft, int(size))
		h.hasDraft, h.dirty = true, true
		h.mu.Unlock()
	}
	return f.m.setattrReply(&f.Inode, out, f.Getattr(ctx, fh, out))
}

// Open snapshots the content. Reads bypass the page cache (DIRECT_IO):
// these files change with every write to the database.
func (f *specialFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	writable := writeFlags(flags)
	if writable && f.m.opts.ReadOnly {
		return nil, 0, syscall.EROFS
	}
	if writable && f.name == nameInfo {
		return nil, 0, syscall.EACCES
	}
	h := &specialHandle{f: f, writable: writable}
	if writable && flags&syscall.O_TRUNC != 0 {
		h.hasDraft, h.dirty = true, true
	} else {
		b, errno := f.content()
		if errno != 0 {
			return nil, 0, errno
		}
		h.snap = b
	}
	fl := uint32(fuse.FOPEN_DIRECT_IO)
	if !writable {
		fl |= fuse.FOPEN_NOFLUSH
	}
	return h, fl, 0
}

// specialHandle is an open special file; like a document handle, writes go
// to a draft applied on close after a write, on fsync, or at release.
type specialHandle struct {
	f        *specialFile
	writable bool

	mu       sync.Mutex
	snap     []byte
	draft    []byte
	hasDraft bool
	wrote    bool
	dirty    bool
}

var (
	_ = (gofs.FileReader)((*specialHandle)(nil))
	_ = (gofs.FileWriter)((*specialHandle)(nil))
	_ = (gofs.FileFlusher)((*specialHandle)(nil))
	_ = (gofs.FileFsyncer)((*specialHandle)(nil))
	_ = (gofs.FileReleaser)((*specialHandle)(nil))
)

// Read serves the draft if written, else the snapshot.
func (h *specialHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hasDraft {
		return fuse.ReadResultData(copyRange(h.draft, dest, off)), 0
	}
	return fuse.ReadResultData(copyRange(h.snap, dest, off)), 0
}

// Write writes into the draft.
func (h *specialHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !h.writable {
		return 0, syscall.EBADF
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if off+int64(len(data)) > int64(h.f.m.opts.MaxFileSize) {
		return 0, syscall.EFBIG
	}
	if !h.hasDraft {
		h.draft = append([]byte(nil), h.snap...)
		h.hasDraft = true
	}
	h.draft = writeAt(h.draft, data, off)
	h.wrote, h.dirty = true, true
	return uint32(len(data)), 0
}

// Flush applies the draft if written since the last apply.
func (h *specialHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	wrote := h.wrote
	h.mu.Unlock()
	if !wrote {
		return 0
	}
	return h.apply()
}

// Fsync applies an unapplied draft.
func (h *specialHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	h.mu.Lock()
	dirty := h.dirty
	h.mu.Unlock()
	if !dirty {
		return 0
	}
	return h.apply()
}

// Release applies a draft still unapplied (its error is only logged).
func (h *specialHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	dirty := h.dirty
	h.mu.Unlock()
	if dirty {
		h.apply()
	}
	return 0
}

func (h *specialHandle) apply() syscall.Errno {
	h.mu.Lock()
	data := append([]byte(nil), h.draft...)
	h.wrote, h.dirty = false, false
	h.mu.Unlock()
	return h.f.apply(data)
}
