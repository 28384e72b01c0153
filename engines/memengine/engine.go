package memengine

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/couchfs/couchfs/engines"
)

// Engine is the in-memory engine. The zero value is ready to use, and every
// Engine shares the one process-wide registry of databases. Safe for
// concurrent use.
type Engine struct{}

// New returns the in-memory engine.
func New() *Engine { return &Engine{} }

var _ engines.Engine = (*Engine)(nil)

// store is a database's durable part: what a crash would leave.
type store struct {
	mu        sync.Mutex
	committed *state
}

// registry maps a database path to its store.
var registry = struct {
	sync.Mutex
	stores map[string]*store
}{stores: map[string]*store{}}

// Name returns "mem".
func (*Engine) Name() string { return "mem" }

// Ext returns ".mem".
func (*Engine) Ext() string { return ".mem" }

// Exists reports whether the registry holds a database at path. The engine
// leaves no compaction leftovers, so there is nothing else to find.
func (*Engine) Exists(path string) (bool, error) {
	registry.Lock()
	defer registry.Unlock()
	_, ok := registry.stores[path]
	return ok, nil
}

// Create registers a new empty database at path and opens it.
func (*Engine) Create(path string) (engines.DB, error) {
	uuid, err := newUUID()
	if err != nil {
		return nil, err
	}
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.stores[path]; ok {
		return nil, fmt.Errorf("memengine: create %s: %w", path, engines.ErrExists)
	}
	st := &store{committed: newState(uuid)}
	registry.stores[path] = st
	return openStore(path, st), nil
}

// Open opens the database registered at path with its committed state.
func (*Engine) Open(path string) (engines.DB, error) {
	registry.Lock()
	st, ok := registry.stores[path]
	registry.Unlock()
	if !ok {
		return nil, fmt.Errorf("memengine: open %s: %w", path, engines.ErrNotFound)
	}
	return openStore(path, st), nil
}

// Delete removes the database at path from the registry.
func (*Engine) Delete(path string) error {
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.stores[path]; !ok {
		return fmt.Errorf("memengine: delete %s: %w", path, engines.ErrNotFound)
	}
	delete(registry.stores, path)
	return nil
}

func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("memengine: uuid: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
