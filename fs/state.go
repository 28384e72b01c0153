package fs

import (
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/couchfs/couchfs/dbcore"
)

// mount is the state one mounted file system shares between its nodes. What
// must outlive the kernel's interest in an inode lives here, not in nodes:
// scratch files, rejected saves, the last _purge result.
type mount struct {
	srv   *dbcore.Server
	opts  Options
	log   *slog.Logger
	uid   uint32
	gid   uint32
	start time.Time
	inv   *invalidator
	nodes *nodeBudget // the document nodes the kernel holds

	// clock orders what the mount learns about documents. A read of the
	// database is stamped with the clock as it was before the read began; a
	// change is stamped with a new tick after it committed. Information
	// stamped earlier than what a node already holds may predate that
	// change, so it never replaces it (see fileNode.served).
	clock atomic.Uint64

	mu       sync.Mutex
	spaces   map[nsKey]*nsState
	changed  map[string]*atomic.Uint64 // by database: stamp of its last known change
	rejected map[string]*rejectedList  // by database
	purged   map[string][]byte         // last _purge result, by database
	open     map[*docHandle]struct{}   // handles that may hold a draft
}

func newMount(srv *dbcore.Server, opts Options) *mount {
	m := &mount{
		srv:      srv,
		opts:     opts,
		log:      opts.Logger,
		uid:      uint32(os.Getuid()),
		gid:      uint32(os.Getgid()),
		start:    time.Now(),
		spaces:   map[nsKey]*nsState{},
		rejected: map[string]*rejectedList{},
		purged:   map[string][]byte{},
		open:     map[*docHandle]struct{}{},
		changed:  map[string]*atomic.Uint64{},
	}
	m.inv = newInvalidator(m)
	m.nodes = newNodeBudget(opts.MaxDocNodes)
	return m
}

// now is the stamp of a database read about to begin. Any goroutine.
func (m *mount) now() uint64 { return m.clock.Load() }

// noteChange records that database db changed (a save, move or delete
// through the mount just committed, or the invalidator saw changes made
// elsewhere) and returns the change's stamp. Any goroutine.
func (m *mount) noteChange(db string) uint64 { return m.bump(m.changedClock(db)) }

// bump ticks the clock and raises a database's change stamp c to the tick.
func (m *mount) bump(c *atomic.Uint64) uint64 {
	stamp := m.clock.Add(1)
	for {
		old := c.Load()
		if old >= stamp || c.CompareAndSwap(old, stamp) {
			return stamp
		}
	}
}

func (m *mount) changedClock(db string) *atomic.Uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changedClockLocked(db)
}

func (m *mount) changedClockLocked(db string) *atomic.Uint64 {
	c := m.changed[db]
	if c == nil {
		c = &atomic.Uint64{}
		m.changed[db] = c
	}
	return c
}

// namespace is one of the three document directories of a database.
type namespace int

const (
	nsDocs   namespace = iota // <db>/: ordinary documents
	nsDesign                  // <db>/_design/
	nsLocal                   // <db>/_local/
)

// prefix is what a document id in the namespace starts with.
func (ns namespace) prefix() string {
	switch ns {
	case nsDesign:
		return "_design/"
	case nsLocal:
		return "_local/"
	}
	return ""
}

type nsKey struct {
	db string
	ns namespace
}

// nsState is the mount-lifetime state of one document directory.
type nsState struct {
	db string
	ns namespace

	mu sync.Mutex
	// files holds the names that exist only in this mount: scratch files,
	// scratch symlinks and documents created but not yet saved.
	files map[string]*fileNode
	// detached maps a document id to the scratch node that holds its
	// content after the document file was renamed to a scratch name (an
	// editor's backup-by-rename): the document stays stored until that
	// scratch copy is removed without the name being saved again.
	detached map[string]*fileNode
	// changed is the stamp of the database's last known change (shared by
	// the database's three document directories).
	changed *atomic.Uint64
	// own records, per document id, the revisions this mount's saves
	// replaced, so that a later save by the same process carrying one of
	// those revisions in "_rev" (an editor's second :w) is based on the
	// revision the process itself made.
	own map[string]*ownChain
}

// ownChain is the run of revisions one process made of one document.
type ownChain struct {
	pid   uint32
	head  string
	prior []string
}

// maxOwnPrior bounds the history kept per document.
const maxOwnPrior = 32

// maxOwnDocs bounds how many documents keep a history.
const maxOwnDocs = 4096

func (s *nsState) fullID(id string) string { return s.ns.prefix() + id }

// changedSince reports whether the database changed after stamp, so that
// what a read stamped stamp returned may be out of date. Any goroutine.
func (s *nsState) changedSince(stamp uint64) bool { return s.changed.Load() > stamp }

// noteChange is mount.noteChange for this directory's database, without
// the lookup. Any goroutine.
func (s *nsState) noteChange(m *mount) uint64 { return m.bump(s.changed) }

// record notes that pid replaced base with rev.
func (s *nsState) record(id string, pid uint32, base, rev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.own[id]
	if c != nil && c.pid == pid && c.head == base && base != "" {
		c.prior = append(c.prior, base)
		if len(c.prior) > maxOwnPrior {
			c.prior = c.prior[len(c.prior)-maxOwnPrior:]
		}
		c.head = rev
		return
	}
	if len(s.own) >= maxOwnDocs {
		for k := range s.own {
			delete(s.own, k)
			break
		}
	}
	c = &ownChain{pid: pid, head: rev}
	if base != "" {
		c.prior = []string{base}
	}
	s.own[id] = c
}

// ownHead returns the revision to base a save on when pid writes a body
// whose "_rev" is rev: the head of pid's own run if rev is one it replaced.
func (s *nsState) ownHead(id string, pid uint32, rev string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.own[id]
	if c == nil || c.pid != pid || rev == c.head {
		return "", false
	}
	for _, p := range c.prior {
		if p == rev {
			return c.head, true
		}
	}
	return "", false
}

// space returns the state of one document directory, creating it.
func (m *mount) space(db string, ns namespace) *nsState {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := nsKey{db, ns}
	s := m.spaces[k]
	if s == nil {
		s = &nsState{db: db, ns: ns, files: map[string]*fileNode{}, detached: map[string]*fileNode{},
			own: map[string]*ownChain{}, changed: m.changedClockLocked(db)}
		m.spaces[k] = s
	}
	return s
}

// forgetDB drops every mount-lifetime trace of a deleted database but its
// change stamp, which a listing begun before the delete still compares with.
func (m *mount) forgetDB(db string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.spaces {
		if k.db == db {
			delete(m.spaces, k)
		}
	}
	delete(m.rejected, db)
	delete(m.purged, db)
}

// rejectedList holds the bytes of every save a database refused.
type rejectedList struct {
	next    int
	entries map[string]*rejectedEntry
}

type rejectedEntry struct {
	data  []byte
	mtime time.Time
}

// park keeps data, the bytes of a save of file (a name relative to the
// database directory) that failed with err, under <db>/.rejected/, and logs
// the rejection. It returns the name it was kept under.
func (m *mount) park(db, file string, data []byte, err error) string {
	m.mu.Lock()
	l := m.rejected[db]
	if l == nil {
		l = &rejectedList{entries: map[string]*rejectedEntry{}}
		m.rejected[db] = l
	}
	l.next++
	name := rejectedName(file, l.next)
	l.entries[name] = &rejectedEntry{data: append([]byte(nil), data...), mtime: time.Now()}
	m.mu.Unlock()
	m.log.Warn("save rejected", "db", db, "file", file, "errno", toErrno(err).Error(), "err", err,
		"bytes", len(data), "kept_as", db+"/.rejected/"+name)
	return name
}

// flatName turns a path relative to the database directory into one file
// name (a rejected design document "_design/x.json" becomes
// "_design%2Fx.json").
func flatName(file string) string {
	out := make([]byte, 0, len(file))
	for i := 0; i < len(file); i++ {
		if file[i] == '/' {
			out = append(out, "%2F"...)
			continue
		}
		out = append(out, file[i])
	}
	return string(out)
}

// rejectedName is the name the n-th rejected save of file is kept under in
// .rejected/: file flattened, a dot and n, with the file part cut (at a
// UTF-8 character boundary) so that the name fits maxNameLen.
func rejectedName(file string, n int) string {
	flat, suffix := flatName(file), "."+strconv.Itoa(n)
	if room := maxNameLen - len(suffix); len(flat) > room {
		cut := room
		for cut > 0 && !utf8.RuneStart(flat[cut]) {
			cut--
		}
		flat = flat[:cut]
	}
	return flat + suffix
}

// rejectedNames lists a database's rejected saves in name order.
func (m *mount) rejectedNames(db string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.rejected[db]
	if l == nil {
		return nil
	}
	names := make([]string, 0, len(l.entries))
	for n := range l.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (m *mount) rejectedEntry(db, name string) *rejectedEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.rejected[db]; l != nil {
		return l.entries[name]
	}
	return nil
}

func (m *mount) dropRejected(db, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.rejected[db]
	if l == nil || l.entries[name] == nil {
		return false
	}
	delete(l.entries, name)
	return true
}

func (m *mount) setPurged(db string, result []byte) {
	m.mu.Lock()
	m.purged[db] = result
	m.mu.Unlock()
}

func (m *mount) purgedResult(db string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.purged[db]
}

func (m *mount) trackOpen(h *docHandle) {
	m.mu.Lock()
	m.open[h] = struct{}{}
	m.mu.Unlock()
}

func (m *mount) untrackOpen(h *docHandle) {
	m.mu.Lock()
	delete(m.open, h)
	m.mu.Unlock()
}

// commitOpenDrafts saves the draft of every handle still open with unsaved
// changes, as its close would. Used at unmount.
func (m *mount) commitOpenDrafts() {
	m.mu.Lock()
	hs := make([]*docHandle, 0, len(m.open))
	for h := range m.open {
		hs = append(hs, h)
	}
	m.mu.Unlock()
	for _, h := range hs {
		h.commitIfDirty("unmount")
	}
}
