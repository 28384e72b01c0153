package fs

import (
	"context"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// docHandle is one open file of a fileNode. For a document it holds the
// snapshot read at open and, once written or truncated, a private draft
// that is saved as one update on close (flush) after a write, on fsync, and
// on release if still unsaved. For a scratch file it reads and writes the
// node's bytes directly. go-fuse may call its methods concurrently.
type docHandle struct {
	n          *fileNode
	writable   bool
	appendMode bool
	// writer is set when the handle counts in its node's writers (a
	// writable handle on a document, not on a scratch file).
	writer bool
	// cacheUser is set when the handle counts in its node's cacheUsers: it
	// reads (or, on a scratch file, writes) through the page cache.
	cacheUser bool
	// pageSnap is set when the handle reads a document through the page
	// cache: its READs fill pages every such reader shares, so they return
	// snap, the cached revision's rendering (see pagecache.go).
	pageSnap bool

	mu       sync.Mutex
	snap     []byte // rendering at open (documents)
	base     string // revision the draft is based on
	draft    []byte
	hasDraft bool
	wrote    bool   // a write() reached the draft since the last save
	dirty    bool   // the draft differs from what was last saved
	gen      uint64 // bumped by every change to the draft
	// moved is set while the kernel's size of the file may be one this
	// handle's O_TRUNC, write() or ftruncate() gave it rather than a stored
	// revision's: from such a change until a save that leaves the kernel
	// the stored size (see fileNode.save). mark is the node's attrMark at
	// the last such change.
	moved bool
	mark  attrMark
}

var (
	_ = (gofs.FileReader)((*docHandle)(nil))
	_ = (gofs.FileWriter)((*docHandle)(nil))
	_ = (gofs.FileFlusher)((*docHandle)(nil))
	_ = (gofs.FileFsyncer)((*docHandle)(nil))
	_ = (gofs.FileReleaser)((*docHandle)(nil))
)

// isScratch reports whether the handle's node is currently a scratch file.
func (h *docHandle) isScratch() bool {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	return h.n.kind != kindDoc
}

// Read returns bytes of the draft if there is one, else of the snapshot
// taken at open (or of the scratch file).
func (h *docHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.pageSnap {
		// The page cache holds this revision for as long as the handle is
		// open, whatever the node became meanwhile.
		return fuse.ReadResultData(copyRange(h.snap, dest, off)), 0
	}
	if h.isScratch() {
		h.n.mu.Lock()
		defer h.n.mu.Unlock()
		return fuse.ReadResultData(copyRange(h.n.data, dest, off)), 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hasDraft {
		return fuse.ReadResultData(copyRange(h.draft, dest, off)), 0
	}
	return fuse.ReadResultData(copyRange(h.snap, dest, off)), 0
}

// copyRange copies src[off:] into dest and returns the filled part.
func copyRange(src, dest []byte, off int64) []byte {
	if off >= int64(len(src)) {
		return dest[:0]
	}
	return dest[:copy(dest, src[off:])]
}

// Write writes into the draft (or scratch file) at off, at the end for
// O_APPEND handles whatever offset the kernel computed from its cached
// size.
func (h *docHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !h.writable {
		return 0, syscall.EBADF
	}
	max := int64(h.n.m.opts.MaxFileSize)
	if h.isScratch() {
		n := h.n
		n.mu.Lock()
		defer n.mu.Unlock()
		if h.appendMode {
			off = int64(len(n.data))
		}
		if off+int64(len(data)) > max {
			return 0, syscall.EFBIG
		}
		n.data = writeAt(n.data, data, off)
		n.mtime = time.Now()
		if n.detached != nil {
			n.detached.modified = true
		}
		return uint32(len(data)), 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ensureDraftLocked()
	if h.appendMode {
		off = int64(len(h.draft))
	}
	if off+int64(len(data)) > max {
		return 0, syscall.EFBIG
	}
	h.draft = writeAt(h.draft, data, off)
	h.wrote, h.dirty = true, true
	h.changedKernelSize()
	h.gen++
	return uint32(len(data)), 0
}

// writeAt writes data into b at off, zero-filling a hole.
func writeAt(b, data []byte, off int64) []byte {
	end := int(off) + len(data)
	if end > len(b) {
		b = resize(b, end)
	}
	copy(b[off:], data)
	return b
}

// ensureDraftLocked starts the draft from the snapshot.
func (h *docHandle) ensureDraftLocked() {
	if !h.hasDraft {
		h.draft = append([]byte(nil), h.snap...)
		h.hasDraft = true
	}
}

// truncate resizes the draft (ftruncate, O_TRUNC).
func (h *docHandle) truncate(size int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ensureDraftLocked()
	h.draft = resize(h.draft, size)
	h.dirty = true
	h.changedKernelSize()
	h.gen++
}

// changedKernelSize records a change of the draft that the kernel also
// makes to its size of the file (a write, a truncation); the caller holds
// h.mu. The kernel applies it after this request's reply, so an attribute
// reply counted before the mark answers a request the kernel sent before
// the change, whose attributes it then ignores.
func (h *docHandle) changedKernelSize() {
	h.moved = true
	h.mark = attrMark{replies: h.n.attrReplies.Load(), ok: true}
}

// Flush runs on every close(2) of a descriptor of this handle. It saves
// the draft if a write() reached it since the last save, and returns only
// when that save is durable; its errno is what close(2) returns. A flush
// with no write (the shell's `> file` closes a duplicate descriptor before
// the command writes) saves nothing.
func (h *docHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	wrote := h.wrote
	h.mu.Unlock()
	if !wrote || h.isScratch() {
		return 0
	}
	return h.commit(callerPid(ctx))
}

// Fsync saves the draft if it has unsaved changes, durably.
func (h *docHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	h.mu.Lock()
	dirty := h.dirty
	h.mu.Unlock()
	if !dirty || h.isScratch() {
		return 0
	}
	return h.commit(callerPid(ctx))
}

// Release is the last close of the handle. The kernel ignores its result,
// so a draft still unsaved here (a truncate with no write, as in
// `: > file`) is saved, and a failure is only logged and parked.
func (h *docHandle) Release(ctx context.Context) syscall.Errno {
	if h.writer {
		h.commitIfDirty("release")
		h.n.m.untrackOpen(h)
		h.mu.Lock()
		moved := h.moved
		h.mu.Unlock()
		h.n.closeWriter(moved)
	}
	if h.cacheUser {
		h.n.closeCached()
	}
	return 0
}

// commitIfDirty saves an unsaved draft outside any application call.
func (h *docHandle) commitIfDirty(reason string) {
	h.mu.Lock()
	dirty := h.dirty
	h.mu.Unlock()
	if !dirty || h.isScratch() {
		return
	}
	if errno := h.commit(0); errno != 0 {
		h.n.m.log.Warn("unsaved draft rejected", "reason", reason, "db", h.n.ns.db, "file", h.n.name, "errno", errno.Error())
	}
}

// commit saves the draft as one update based on the handle's base revision.
func (h *docHandle) commit(pid uint32) syscall.Errno {
	h.mu.Lock()
	data := append([]byte(nil), h.draft...)
	base, gen, mark := h.base, h.gen, h.mark
	h.mu.Unlock()
	rev, errno := h.n.save(data, base, pid, mark)
	h.mu.Lock()
	defer h.mu.Unlock()
	if errno != 0 {
		// The draft stays as written; a later close does not repeat the
		// failed save unless the application writes again.
		if h.gen == gen {
			h.wrote, h.dirty = false, false
		}
		return errno
	}
	h.base = rev
	if h.gen == gen {
		// The save left the kernel no size from this handle's changes
		// (see fileNode.save).
		h.wrote, h.dirty, h.moved = false, false, false
	}
	return 0
}
