package pebble

import (
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// handle is one open generation. Readers hold a reference for the length of
// a call, so a compaction can switch generations without waiting for them:
// the old generation is closed and removed when its last reader returns.
type handle struct {
	pdb    *pebble.DB
	dir    string
	refs   atomic.Int64 // one for being current, one per call in progress
	remove bool         // set before retiring: delete dir once closed
	fs     vfs.FS
	wg     *sync.WaitGroup
	errs   *errList
}

func newHandle(pdb *pebble.DB, dir string, fs vfs.FS, wg *sync.WaitGroup, errs *errList) *handle {
	h := &handle{pdb: pdb, dir: dir, fs: fs, wg: wg, errs: errs}
	h.refs.Store(1)
	wg.Add(1)
	return h
}

// tryRef takes a reference unless the handle is already closing.
func (h *handle) tryRef() bool {
	for {
		n := h.refs.Load()
		if n <= 0 {
			return false
		}
		if h.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes the generation.
func (h *handle) release() {
	if h.refs.Add(-1) != 0 {
		return
	}
	defer h.wg.Done()
	if err := h.pdb.Close(); err != nil {
		h.errs.add(err)
	}
	if h.remove {
		if err := h.fs.RemoveAll(h.dir); err != nil {
			h.errs.add(err)
		}
	}
}

// errList collects errors of generations closed on a reader's goroutine, for
// Close to report.
type errList struct {
	mu   sync.Mutex
	errs []error
}

func (l *errList) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errList) take() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.errs
	l.errs = nil
	return e
}
