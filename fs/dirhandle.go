package fs

import (
	"context"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirEnt is one directory entry as a listing produces it.
type dirEnt struct {
	name string
	mode uint32
	// lookup, if set, makes the child's inode from what the listing already
	// read, so READDIRPLUS (ls -l) costs no database call per entry.
	lookup func(ctx context.Context, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno)
}

// pager returns a directory's entries a batch at a time, nil at the end.
// Each batch is read with its own database call, so a listing never holds
// the database between kernel requests.
type pager func(ctx context.Context) ([]dirEnt, syscall.Errno)

// dirHandle is an open directory: a position in a deterministic stream of
// entries. go-fuse serialises calls on one handle.
type dirHandle struct {
	newPager func() pager
	dir      gofs.NodeLookuper

	mu     sync.Mutex
	p      pager
	batch  []dirEnt
	i      int
	off    uint64
	done   bool
	recent map[string]int
}

var (
	_ = (gofs.FileReaddirenter)((*dirHandle)(nil))
	_ = (gofs.FileSeekdirer)((*dirHandle)(nil))
	_ = (gofs.FileLookuper)((*dirHandle)(nil))
)

func newDirHandle(dir gofs.NodeLookuper, newPager func() pager) *dirHandle {
	return &dirHandle{newPager: newPager, dir: dir, p: newPager()}
}

// dotEntries starts every listing, as on any Unix file system.
func dotEntries() []dirEnt {
	return []dirEnt{{name: ".", mode: syscall.S_IFDIR}, {name: "..", mode: syscall.S_IFDIR}}
}

// Readdirent returns the next entry, or nil at the end.
func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next(ctx)
}

func (h *dirHandle) next(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	for h.i >= len(h.batch) {
		if h.done {
			return nil, 0
		}
		b, errno := h.p(ctx)
		if errno != 0 {
			return nil, errno
		}
		if b == nil {
			h.done = true
			h.batch, h.i = nil, 0
			return nil, 0
		}
		h.batch, h.i = b, 0
		h.recent = make(map[string]int, len(b))
		for j, e := range b {
			h.recent[e.name] = j
		}
	}
	e := h.batch[h.i]
	h.i++
	h.off++
	return &fuse.DirEntry{Name: e.name, Mode: e.mode, Off: h.off}, 0
}

// Seekdir restarts the listing and skips to entry off (offsets are entry
// counts), which serves rewinddir and a kernel re-reading a page.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.p = h.newPager()
	h.batch, h.i, h.off, h.done, h.recent = nil, 0, 0, false, nil
	for h.off < off {
		e, errno := h.next(ctx)
		if errno != 0 {
			return errno
		}
		if e == nil {
			break
		}
	}
	return 0
}

// Lookup serves READDIRPLUS from the batch just listed when it can.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	h.mu.Lock()
	var lookup func(context.Context, *fuse.EntryOut) (*gofs.Inode, syscall.Errno)
	if j, ok := h.recent[name]; ok && j < len(h.batch) {
		lookup = h.batch[j].lookup
	}
	h.mu.Unlock()
	if lookup != nil {
		return lookup(ctx, out)
	}
	return h.dir.Lookup(ctx, name, out)
}

// onePage turns a fixed list into a pager.
func onePage(list []dirEnt) pager {
	sent := false
	return func(context.Context) ([]dirEnt, syscall.Errno) {
		if sent {
			return nil, 0
		}
		sent = true
		return list, 0
	}
}

// lazyPage turns a function computing the whole listing into a pager that
// calls it on first use.
func lazyPage(f func(ctx context.Context) ([]dirEnt, syscall.Errno)) pager {
	sent := false
	return func(ctx context.Context) ([]dirEnt, syscall.Errno) {
		if sent {
			return nil, 0
		}
		sent = true
		return f(ctx)
	}
}

// chainPagers lists the pagers' entries one pager after another.
func chainPagers(ps ...pager) pager {
	return func(ctx context.Context) ([]dirEnt, syscall.Errno) {
		for len(ps) > 0 {
			b, errno := ps[0](ctx)
			if errno != 0 {
				return nil, errno
			}
			if b != nil {
				return b, 0
			}
			ps = ps[1:]
		}
		return nil, 0
	}
}
