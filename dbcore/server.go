package dbcore

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/couchfs/couchfs/dbcore/jsondoc"
	"github.com/couchfs/couchfs/engines"
)

// Defaults of Options.
const (
	DefaultMaxDBsOpen      = 500
	DefaultMaxDocumentSize = jsondoc.DefaultMaxSize
)

// lockName is the file in the data directory that a Server holds an
// exclusive flock on, so two processes never write the same databases.
const lockName = ".couchfs.lock"

// Options configure a Server.
type Options struct {
	// Dir is the data directory; it must exist.
	Dir string
	// Engines is the explicit engine table. A database is the file or
	// directory <Dir>/<name><ext>, and the extension picks the engine.
	Engines []engines.Engine
	// DefaultEngine is the Name of the engine CreateDB uses when given
	// none. Required.
	DefaultEngine string
	// MaxDBsOpen bounds how many databases stay open; idle ones are
	// closed least recently used first. Default DefaultMaxDBsOpen.
	MaxDBsOpen int
	// MaxDocumentSize bounds a document's JSON in bytes. Default
	// DefaultMaxDocumentSize (8 MiB, CouchDB's max_document_size).
	MaxDocumentSize int
	// ReadOnly makes every write fail with ErrReadOnly.
	ReadOnly bool
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
}

// Server is a data directory of databases: CouchDB's couch_server. It keeps
// an LRU of open databases, each with its updater goroutine.
type Server struct {
	opts   Options
	log    *slog.Logger
	lock   *os.File
	byName map[string]engines.Engine

	mu     sync.Mutex
	closed bool
	open   map[string]*dbState
	lru    *list.List // of *dbState, most recently used at the front

	subMu sync.Mutex
	subs  map[*Subscription]struct{}

	// cachedRevs counts the revisions held by the doc-info caches of every
	// open database (see docCache).
	cachedRevs atomic.Int64
}

// NewServer opens the data directory opts.Dir. It takes an exclusive lock
// on the directory and fails with ErrLocked when another process holds it.
func NewServer(opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: no data directory", ErrInvalidArgument)
	}
	if len(opts.Engines) == 0 {
		return nil, fmt.Errorf("%w: no storage engines", ErrInvalidArgument)
	}
	if opts.MaxDBsOpen <= 0 {
		opts.MaxDBsOpen = DefaultMaxDBsOpen
	}
	if opts.MaxDocumentSize <= 0 {
		opts.MaxDocumentSize = DefaultMaxDocumentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		byName: make(map[string]engines.Engine),
		open:   make(map[string]*dbState),
		lru:    list.New(),
		subs:   make(map[*Subscription]struct{}),
	}
	for _, e := range opts.Engines {
		if _, dup := s.byName[e.Name()]; dup {
			return nil, fmt.Errorf("%w: engine %q listed twice", ErrInvalidArgument, e.Name())
		}
		s.byName[e.Name()] = e
	}
	if _, ok := s.byName[opts.DefaultEngine]; !ok {
		return nil, fmt.Errorf("%w: default engine %q is not in the engine table", ErrUnknownEngine, opts.DefaultEngine)
	}
	st, err := os.Stat(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: data directory %s is not a directory", ErrInvalidArgument, opts.Dir)
	}
	f, err := os.OpenFile(filepath.Join(opts.Dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, opts.Dir)
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	s.lock = f
	return s, nil
}

// Close waits for every queued write, closes every database and releases
// the data directory. Running compactions are cancelled (their files are
// removed); the data they were copying is untouched.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	states := make([]*dbState, 0, len(s.open))
	for _, st := range s.open {
		states = append(states, st)
	}
	s.open = nil
	s.lru.Init()
	s.mu.Unlock()

	var errs []error
	for _, st := range states {
		if err := st.shutdown(ErrClosed); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", st.name, err))
		}
	}
	s.subMu.Lock()
	for sub := range s.subs {
		sub.closeLocked()
	}
	s.subs = nil
	s.subMu.Unlock()
	if err := s.lock.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// path is where a database of this name lives for engine e.
func (s *Server) path(name string, e engines.Engine) string {
	return filepath.Join(s.opts.Dir, filepath.FromSlash(name)+e.Ext())
}

// find returns the one engine holding name: ErrDBNotFound when none does,
// ErrEngineConflict when several do.
func (s *Server) find(name string) (engines.Engine, error) {
	var found []engines.Engine
	for _, e := range s.opts.Engines {
		ok, err := e.Exists(s.path(name, e))
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", name, err)
		}
		if ok {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: %s", ErrDBNotFound, name)
	case 1:
		return found[0], nil
	default:
		names := make([]string, len(found))
		for i, e := range found {
			names[i] = e.Name()
		}
		return nil, fmt.Errorf("%w: %s exists as %s", ErrEngineConflict, name, strings.Join(names, " and "))
	}
}

// CreateDB creates an empty database with the named engine ("" for the
// default). It fails with ErrDBExists if the name exists under any engine
// (wrapping ErrEngineConflict too when that is another engine).
func (s *Server) CreateDB(name, engine string) error {
	if err := ValidateDBName(name); err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return fmt.Errorf("create database %s: %w", name, ErrReadOnly)
	}
	if engine == "" {
		engine = s.opts.DefaultEngine
	}
	e, ok := s.byName[engine]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownEngine, engine)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("create database %s: %w", name, ErrClosed)
	}
	if st := s.open[name]; st != nil {
		return s.existsErr(name, engine, st.engine.Name())
	}
	existing, err := s.find(name)
	if err == nil {
		return s.existsErr(name, engine, existing.Name())
	}
	if errors.Is(err, ErrEngineConflict) {
		// The name exists, twice over.
		return fmt.Errorf("%w: %w", ErrDBExists, err)
	}
	if !errors.Is(err, ErrDBNotFound) {
		return err
	}
	p := s.path(name, e)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	edb, err := e.Create(p)
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	s.addLocked(newDBState(s, name, e, p, edb))
	s.log.Info("created database", "db", name, "engine", e.Name())
	return nil
}

func (s *Server) existsErr(name, want, have string) error {
	if want != have {
		return fmt.Errorf("%w: %w: %s is a %s database", ErrDBExists, ErrEngineConflict, name, have)
	}
	return fmt.Errorf("%w: %s", ErrDBExists, name)
}

// DeleteDB deletes a database and its files. With onlyIfEmpty it refuses,
// with ErrNotEmpty, a database holding live documents or local documents.
// Handles still open on it fail with ErrDBNotFound afterwards.
func (s *Server) DeleteDB(name string, onlyIfEmpty bool) error {
	if err := ValidateDBName(name); err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return fmt.Errorf("delete database %s: %w", name, ErrReadOnly)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("delete database %s: %w", name, ErrClosed)
	}
	st := s.open[name]
	if st == nil {
		var err error
		if st, err = s.openLocked(name); err != nil {
			return err
		}
	}
	if onlyIfEmpty {
		if err := st.checkEmpty(); err != nil {
			return err
		}
	}
	s.removeLocked(st)
	if err := st.shutdown(ErrDBNotFound); err != nil {
		s.log.Warn("closing database before delete", "db", name, "err", err)
	}
	if err := st.engine.Delete(st.path); err != nil {
		return fmt.Errorf("delete database %s: %w", name, err)
	}
	s.log.Info("deleted database", "db", name)
	s.notify(name)
	return nil
}

// AllDBs returns the names of every database in the data directory, and of
// every open one, sorted.
func (s *Server) AllDBs() ([]string, error) {
	var names []string
	root := s.opts.Dir
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // a directory removed while walking
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		for _, e := range s.opts.Engines {
			if base, ok := strings.CutSuffix(rel, e.Ext()); ok && ValidateDBName(base) == nil {
				names = append(names, base)
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	// Engines that keep nothing on disk (memengine) are found while open.
	s.mu.Lock()
	for name := range s.open {
		names = append(names, name)
	}
	s.mu.Unlock()
	sort.Strings(names)
	out := names[:0]
	for i, n := range names {
		if i == 0 || n != names[i-1] {
			out = append(out, n)
		}
	}
	return out, nil
}

// Exists reports whether a database of that name exists.
func (s *Server) Exists(name string) (bool, error) {
	if err := ValidateDBName(name); err != nil {
		return false, err
	}
	s.mu.Lock()
	st := s.open[name]
	s.mu.Unlock()
	if st != nil {
		return true, nil
	}
	_, err := s.find(name)
	if errors.Is(err, ErrDBNotFound) {
		return false, nil
	}
	return err == nil, err
}

// EngineOf returns the Name of the engine holding the database.
func (s *Server) EngineOf(name string) (string, error) {
	if err := ValidateDBName(name); err != nil {
		return "", err
	}
	s.mu.Lock()
	st := s.open[name]
	s.mu.Unlock()
	if st != nil {
		return st.engine.Name(), nil
	}
	e, err := s.find(name)
	if err != nil {
		return "", err
	}
	return e.Name(), nil
}

// OpenDB returns a handle on the database, opening it if needed. The caller
// must Close the handle; while any handle is open the database stays open.
// Opening an already open database costs a map lookup.
func (s *Server) OpenDB(name string) (*DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("open database %s: %w", name, ErrClosed)
	}
	st := s.open[name]
	if st == nil {
		if err := ValidateDBName(name); err != nil {
			return nil, err
		}
		var err error
		if st, err = s.openLocked(name); err != nil {
			return nil, err
		}
	} else {
		s.lru.MoveToFront(st.elem)
	}
	st.refs++
	return &DB{st: st}, nil
}

// openLocked opens a database that is not open. s.mu is held.
func (s *Server) openLocked(name string) (*dbState, error) {
	e, err := s.find(name)
	if err != nil {
		return nil, err
	}
	p := s.path(name, e)
	edb, err := e.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", name, err)
	}
	st := newDBState(s, name, e, p, edb)
	s.addLocked(st)
	return st, nil
}

// addLocked registers a newly opened database and closes idle ones beyond
// MaxDBsOpen, least recently used first. A database in use (open handles, a
// running compaction) is never closed; if all are in use the limit is
// exceeded rather than failing the open, and that is logged.
func (s *Server) addLocked(st *dbState) {
	s.open[st.name] = st
	st.elem = s.lru.PushFront(st)
	for el := s.lru.Back(); len(s.open) > s.opts.MaxDBsOpen && el != nil; {
		prev := el.Prev()
		victim := el.Value.(*dbState)
		if victim != st && victim.idle() {
			s.removeLocked(victim)
			if err := victim.shutdown(ErrClosed); err != nil {
				s.log.Error("closing idle database", "db", victim.name, "err", err)
			}
		}
		el = prev
	}
	if len(s.open) > s.opts.MaxDBsOpen {
		s.log.Warn("more databases in use than max_dbs_open", "open", len(s.open), "max_dbs_open", s.opts.MaxDBsOpen)
	}
}

func (s *Server) removeLocked(st *dbState) {
	delete(s.open, st.name)
	s.lru.Remove(st.elem)
}

// release drops a handle's reference.
func (s *Server) release(st *dbState) {
	s.mu.Lock()
	st.refs--
	s.mu.Unlock()
}
