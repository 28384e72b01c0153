package dbcore_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/couchfs/couchfs/engines"
)

// countingEngine wraps an engine to observe what dbcore does with it: how
// many databases are open, which were closed, how many commits were made.
// commitDelay stands in for a slow fsync, so that writers pile up behind a
// commit the way they do on a real disk.
type countingEngine struct {
	engines.Engine
	commitDelay time.Duration
	// beforeCommit, if set before the engine is used, runs at the start
	// of every Commit (on the updater goroutine).
	beforeCommit func()
	// rolledBackFolds is how many FoldLocalDocs calls still fail with
	// engines.ErrRolledBack, as a couchfile fold that met a failed commit's
	// discarded writes does.
	rolledBackFolds atomic.Int64

	open    atomic.Int64 // engine handles open now
	commits atomic.Int64

	mu     sync.Mutex
	closes map[string]int // path → engine handles closed
}

func newCountingEngine(inner engines.Engine) *countingEngine {
	return &countingEngine{Engine: inner, closes: map[string]int{}}
}

func (e *countingEngine) Create(path string) (engines.DB, error) {
	db, err := e.Engine.Create(path)
	if err != nil {
		return nil, err
	}
	return e.wrap(path, db), nil
}

func (e *countingEngine) Open(path string) (engines.DB, error) {
	db, err := e.Engine.Open(path)
	if err != nil {
		return nil, err
	}
	return e.wrap(path, db), nil
}

func (e *countingEngine) wrap(path string, db engines.DB) engines.DB {
	e.open.Add(1)
	return &countingDB{DB: db, e: e, path: path}
}

// closed returns how many engine handles on path were closed so far.
func (e *countingEngine) closed(path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closes[path]
}

// countingDB is an engine handle of a countingEngine. It deliberately does
// not forward Compacter: tests using it do not compact.
type countingDB struct {
	engines.DB
	e      *countingEngine
	path   string
	isShut atomic.Bool
}

func (d *countingDB) Commit() error {
	if d.e.beforeCommit != nil {
		d.e.beforeCommit()
	}
	if d.e.commitDelay > 0 {
		time.Sleep(d.e.commitDelay)
	}
	d.e.commits.Add(1)
	return d.DB.Commit()
}

func (d *countingDB) FoldLocalDocs(opts engines.FoldOptions, fn func(*engines.LocalDoc) error) error {
	if d.e.rolledBackFolds.Add(-1) >= 0 {
		return engines.ErrRolledBack
	}
	return d.DB.FoldLocalDocs(opts, fn)
}

func (d *countingDB) Close() error {
	if d.isShut.CompareAndSwap(false, true) {
		d.e.open.Add(-1)
		d.e.mu.Lock()
		d.e.closes[d.path]++
		d.e.mu.Unlock()
	}
	return d.DB.Close()
}

// gatedEngine wraps an engine so that the test decides when a compaction
// may finish: its Done closes only once the engine's copy has caught up
// and the gate is closed. Writes made before that are certainly made
// during the compaction.
type gatedEngine struct {
	engines.Engine
	gate chan struct{}
}

func newGatedEngine(inner engines.Engine) *gatedEngine {
	return &gatedEngine{Engine: inner, gate: make(chan struct{})}
}

func (e *gatedEngine) Create(path string) (engines.DB, error) {
	db, err := e.Engine.Create(path)
	if err != nil {
		return nil, err
	}
	return &gatedDB{DB: db, gate: e.gate}, nil
}

func (e *gatedEngine) Open(path string) (engines.DB, error) {
	db, err := e.Engine.Open(path)
	if err != nil {
		return nil, err
	}
	return &gatedDB{DB: db, gate: e.gate}, nil
}

type gatedDB struct {
	engines.DB
	gate <-chan struct{}
}

func (d *gatedDB) StartCompaction() (engines.Compaction, error) {
	c, err := d.DB.(engines.Compacter).StartCompaction()
	if err != nil {
		return nil, err
	}
	g := &gatedCompaction{Compaction: c, done: make(chan struct{})}
	go func() {
		<-c.Done()
		<-d.gate
		close(g.done)
	}()
	return g, nil
}

type gatedCompaction struct {
	engines.Compaction
	done chan struct{}
}

func (c *gatedCompaction) Done() <-chan struct{} { return c.done }

// checkingEngine runs the engine's own consistency check (engines.Checker)
// on every database handle just before dbcore closes it, so every test
// also verifies that what dbcore wrote is a consistent database: doc infos,
// changes index, counters and sizes agree, every leaf has a body.
type checkingEngine struct {
	engines.Engine
	t testing.TB
}

func (e *checkingEngine) Create(path string) (engines.DB, error) {
	db, err := e.Engine.Create(path)
	if err != nil {
		return nil, err
	}
	return &checkedDB{DB: db, t: e.t}, nil
}

func (e *checkingEngine) Open(path string) (engines.DB, error) {
	db, err := e.Engine.Open(path)
	if err != nil {
		return nil, err
	}
	return &checkedDB{DB: db, t: e.t}, nil
}

type checkedDB struct {
	engines.DB
	t testing.TB
}

func (d *checkedDB) Close() error {
	if c, ok := d.DB.(engines.Checker); ok {
		if err := c.Check(); err != nil {
			d.t.Errorf("engine check before close: %v", err)
		}
	}
	return d.DB.Close()
}

// StartCompaction forwards to the engine: every engine of the table can
// compact.
func (d *checkedDB) StartCompaction() (engines.Compaction, error) {
	c, ok := d.DB.(engines.Compacter)
	if !ok {
		return nil, errors.New("engine cannot compact")
	}
	return c.StartCompaction()
}
