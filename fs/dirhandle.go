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
}

// dirBatch is a run of entries read with one database call. A listing of
// 100,000 documents is a hundred batches, and ls is within a small factor
// of a native directory only if an entry costs a few allocations at most:
// so an entry is a name and a mode, and what READDIRPLUS needs to make its
// inode stays in the batch's own rows, reached by index.
type dirBatch struct {
	ents []dirEnt
	// lookup, if set, makes the inode of ents[i] from what the listing
	// already read, so READDIRPLUS (ls -l) costs no database call per
	// entry. It runs on go-fuse's goroutine serving the request, without
	// the handle's lock.
	lookup func(ctx context.Context, i int, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno)
}

// fileEnts makes the entries of regular files whose names are buf cut at
// ends (names[i] = buf[ends[i-1]:ends[i]]): one string holds every name of
// a batch, one allocation instead of one per entry.
func fileEnts(buf []byte, ends []int) []dirEnt {
	names := string(buf)
	ents := make([]dirEnt, len(ends))
	start := 0
	for i, end := range ends {
		ents[i] = dirEnt{name: names[start:end], mode: syscall.S_IFREG}
		start = end
	}
	return ents
}

// pager returns a directory's entries a batch at a time, nil at the end.
// Each batch is read with its own database call from where the last one
// ended (a cursor, never a count of entries to skip), so a listing never
// holds the database between kernel requests and costs O(n) in all.
type pager func(ctx context.Context) (*dirBatch, syscall.Errno)

// dirHandle is an open directory: a position in a deterministic stream of
// entries. go-fuse serialises calls on one handle; mu guards against
// Lookup, which READDIRPLUS calls between entries.
type dirHandle struct {
	newPager func() pager
	dir      gofs.NodeLookuper

	mu    sync.Mutex
	p     pager
	batch *dirBatch
	i     int // index in batch.ents of the next entry
	off   uint64
	done  bool
	// de is the entry Readdirent returns: go-fuse copies it before asking
	// for the next one, so one per handle saves an allocation per entry.
	de fuse.DirEntry
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

// Readdirent returns the next entry, or nil at the end. The entry is valid
// until the next call on the handle (go-fuse copies it at once).
func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next(ctx)
}

func (h *dirHandle) next(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	for h.batch == nil || h.i >= len(h.batch.ents) {
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
	}
	e := &h.batch.ents[h.i]
	h.i++
	h.off++
	h.de = fuse.DirEntry{Name: e.name, Mode: e.mode, Off: h.off}
	return &h.de, 0
}

// Seekdir restarts the listing and skips to entry off (offsets are entry
// counts), which serves rewinddir and a kernel re-reading a page.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.p = h.newPager()
	h.batch, h.i, h.off, h.done = nil, 0, 0, false
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

// Lookup serves READDIRPLUS from the batch being listed when it can:
// go-fuse looks up each entry right after Readdirent returned it, so the
// entry is almost always the last one returned; an interrupted request
// replays earlier ones, found by a scan of the batch.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	h.mu.Lock()
	b, j := h.batch, -1
	if b != nil && b.lookup != nil {
		if k := h.i - 1; k >= 0 && k < len(b.ents) && b.ents[k].name == name {
			j = k
		} else {
			for k := range b.ents {
				if b.ents[k].name == name {
					j = k
					break
				}
			}
		}
	}
	h.mu.Unlock()
	if j >= 0 {
		return b.lookup(ctx, j, out)
	}
	return h.dir.Lookup(ctx, name, out)
}

// onePage turns a fixed list into a pager.
func onePage(list []dirEnt) pager {
	sent := false
	return func(context.Context) (*dirBatch, syscall.Errno) {
		if sent {
			return nil, 0
		}
		sent = true
		return &dirBatch{ents: list}, 0
	}
}

// lazyPage turns a function computing the whole listing into a pager that
// calls it on first use.
func lazyPage(f func(ctx context.Context) ([]dirEnt, syscall.Errno)) pager {
	sent := false
	return func(ctx context.Context) (*dirBatch, syscall.Errno) {
		if sent {
			return nil, 0
		}
		sent = true
		ents, errno := f(ctx)
		if errno != 0 {
			return nil, errno
		}
		return &dirBatch{ents: ents}, 0
	}
}

// chainPagers lists the pagers' entries one pager after another.
func chainPagers(ps ...pager) pager {
	return func(ctx context.Context) (*dirBatch, syscall.Errno) {
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
