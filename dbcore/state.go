package dbcore

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/couchfs/couchfs/engines"
)

// dbState is one open database: its engine handle, its updater goroutine
// and what readers wait on. Handles (*DB) share it.
type dbState struct {
	srv    *Server
	name   string
	engine engines.Engine
	path   string

	elem *list.Element // in srv.lru; guarded by srv.mu
	refs int           // open handles; guarded by srv.mu

	// The engine handle is reached through enter/leave so that shutdown
	// can wait for in-flight reads before closing it, while reads that
	// start after shutdown began fail at once instead of blocking.
	gmu     sync.Mutex
	gcond   *sync.Cond
	edb     engines.DB // nil once detached
	gone    error      // why edb is nil
	readers int

	// Requests to the updater. sendMu orders sends against close(reqs).
	sendMu   sync.Mutex
	stopping bool
	reqs     chan request
	done     chan struct{} // closed when the updater has exited

	// The running compaction, owned by the updater; compacting and
	// compactCh are what other goroutines see of it.
	compaction engines.Compaction
	compacting atomic.Bool
	cmu        sync.Mutex
	compactCh  chan struct{} // closed when the running compaction ends

	// Recovery after a failed commit, owned by the updater: the reopen in
	// flight, whether the last one failed, and the failure that started it.
	reopening  chan reopenResult
	needReopen bool
	cause      error
	lastReopen time.Time
	kick       chan struct{} // a reader found the database unavailable

	// changed is closed (and replaced) after every commit: WaitForChange.
	chmu    sync.Mutex
	changed chan struct{}
}

// maxGroup bounds how many queued requests one updater pass takes, so a
// flood of writers cannot make one commit arbitrarily large.
const maxGroup = 1024

func newDBState(s *Server, name string, e engines.Engine, path string, edb engines.DB) *dbState {
	st := &dbState{
		srv:     s,
		name:    name,
		engine:  e,
		path:    path,
		edb:     edb,
		reqs:    make(chan request, maxGroup),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
	}
	st.gcond = sync.NewCond(&st.gmu)
	go st.run()
	return st
}

// enter returns the engine handle for one read; the caller must call leave.
func (st *dbState) enter() (engines.DB, error) {
	st.gmu.Lock()
	defer st.gmu.Unlock()
	if st.edb == nil {
		// A database waiting to be reopened after a storage failure is
		// reopened on behalf of readers too: through the filesystem every
		// save reads first, so waiting for a write would wait forever.
		select {
		case st.kick <- struct{}{}:
		default:
		}
		return nil, st.gone
	}
	st.readers++
	return st.edb, nil
}

func (st *dbState) leave() {
	st.gmu.Lock()
	st.readers--
	if st.readers == 0 {
		st.gcond.Broadcast()
	}
	st.gmu.Unlock()
}

// detach takes the engine handle away from readers and returns it: reads
// that start later fail with gone. It does not wait for the reads in
// flight (a read's callback may be waiting for the updater); call drain
// before closing the handle.
func (st *dbState) detach(gone error) engines.DB {
	st.gmu.Lock()
	defer st.gmu.Unlock()
	edb := st.edb
	st.edb, st.gone = nil, gone
	return edb
}

// drain waits until no read is using a detached handle.
func (st *dbState) drain() {
	st.gmu.Lock()
	defer st.gmu.Unlock()
	for st.readers > 0 {
		st.gcond.Wait()
	}
}

func (st *dbState) attach(edb engines.DB) {
	st.gmu.Lock()
	st.edb, st.gone = edb, nil
	st.gmu.Unlock()
}

// send queues a request for the updater.
func (st *dbState) send(r request) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if st.stopping {
		return fmt.Errorf("database %s: %w", st.name, ErrDBNotFound)
	}
	st.reqs <- r
	return nil
}

// shutdown stops the updater after it has served every queued request,
// cancels a running compaction and closes the engine. Later calls on
// handles fail with gone. Idempotent.
func (st *dbState) shutdown(gone error) error {
	st.sendMu.Lock()
	if !st.stopping {
		st.stopping = true
		close(st.reqs)
	}
	st.sendMu.Unlock()
	<-st.done
	edb := st.detach(fmt.Errorf("database %s: %w", st.name, gone))
	st.drain()
	if edb == nil {
		return nil
	}
	return edb.Close()
}

// idle reports whether the LRU may close the database. srv.mu is held.
func (st *dbState) idle() bool {
	return st.refs == 0 && !st.compacting.Load() && len(st.reqs) == 0
}

// checkEmpty fails with ErrNotEmpty if the database holds live documents or
// local documents.
func (st *dbState) checkEmpty() error {
	edb, err := st.enter()
	if err != nil {
		return err
	}
	defer st.leave()
	if n := edb.DocCount(); n > 0 {
		return fmt.Errorf("%w: %s holds %d documents", ErrNotEmpty, st.name, n)
	}
	hasLocal := false
	err = edb.FoldLocalDocs(engines.FoldOptions{}, func(*engines.LocalDoc) error {
		hasLocal = true
		return engines.ErrStopFold
	})
	if err != nil {
		return fmt.Errorf("database %s: %w", st.name, err)
	}
	if hasLocal {
		return fmt.Errorf("%w: %s holds local documents", ErrNotEmpty, st.name)
	}
	return nil
}

// committed wakes WaitForChange callers and subscribers after a commit.
func (st *dbState) committed() {
	st.chmu.Lock()
	close(st.changed)
	st.changed = make(chan struct{})
	st.chmu.Unlock()
	st.srv.notify(st.name)
}

func (st *dbState) changedCh() <-chan struct{} {
	st.chmu.Lock()
	defer st.chmu.Unlock()
	return st.changed
}

// reopenWait bounds how long the updater waits for a reopen before it
// answers the writers of a failed commit. Some engines retry a failing
// disk inside Open (Pebble flushes its log there), so a reopen may take
// until the disk recovers; the updater must not hang its writers meanwhile.
const reopenWait = 2 * time.Second

// readerRetry is how often readers alone may make the updater retry a
// failed reopen; a failing disk must not be hammered by every stat.
const readerRetry = 500 * time.Millisecond

// kicked retries a failed reopen for a reader that found the database
// unavailable, at most every readerRetry, without waiting for the result.
// Updater only.
func (st *dbState) kicked() {
	if st.needReopen && st.reopening == nil && time.Since(st.lastReopen) >= readerRetry {
		st.startReopen(nil)
	}
}

// reopenResult is what a background reopen produced.
type reopenResult struct {
	edb engines.DB
	err error
}

// recover replaces the engine handle after a failed commit: the engine may
// hold writes that are visible but not durable, so the handle is closed
// and the database reopened from what is on disk. Reads fail meanwhile
// rather than see the failed writes. Updater only.
func (st *dbState) recover(cause error) {
	st.srv.log.Error("storage failure; reopening database", "db", st.name, "err", cause)
	st.cancelCompaction()
	st.cause = cause
	old := st.detach(fmt.Errorf("%w: database %s is being reopened (%v)", ErrUnavailable, st.name, cause))
	st.startReopen(old)
	st.awaitReopen(reopenWait)
}

// startReopen closes old (if any) and opens the database again on a
// goroutine of its own; the updater picks the result up from st.reopening.
// Updater only.
func (st *dbState) startReopen(old engines.DB) {
	st.lastReopen = time.Now()
	ch := make(chan reopenResult, 1)
	st.reopening = ch
	go func() {
		st.drain()
		if old != nil {
			if err := old.Close(); err != nil {
				st.srv.log.Warn("closing failed database", "db", st.name, "err", err)
			}
		}
		edb, err := st.engine.Open(st.path)
		ch <- reopenResult{edb, err}
	}()
}

// awaitReopen waits up to d for a running reopen to finish and applies its
// result. Updater only.
func (st *dbState) awaitReopen(d time.Duration) {
	if st.reopening == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-st.reopening:
		st.reopened(r)
	case <-t.C:
		st.srv.log.Warn("database still reopening after a storage failure", "db", st.name, "waited", d)
	}
}

// reopened applies the result of a reopen. After a failed reopen the
// database reports the failure on every call, and the next write retries,
// so it comes back once the disk does. Updater only.
func (st *dbState) reopened(r reopenResult) {
	st.reopening = nil
	if r.err != nil {
		st.needReopen = true
		st.srv.log.Error("reopen failed", "db", st.name, "err", r.err)
		st.gmu.Lock()
		st.gone = fmt.Errorf("%w: database %s (%v); reopening failed, the next access retries: %v", ErrUnavailable, st.name, st.cause, r.err)
		st.gmu.Unlock()
		return
	}
	st.needReopen = false
	st.attach(r.edb)
	st.srv.log.Info("database reopened after a storage failure", "db", st.name)
}

// writer returns the engine handle for the updater, or why there is none.
// Updater only: only the updater attaches and detaches while it runs.
func (st *dbState) writer() (engines.DB, error) {
	if st.needReopen && st.reopening == nil {
		st.startReopen(nil)
	}
	st.awaitReopen(reopenWait) // a reopen in flight may be about to succeed
	st.gmu.Lock()
	defer st.gmu.Unlock()
	if st.edb == nil {
		return nil, st.gone
	}
	if st.srv.opts.ReadOnly {
		return nil, fmt.Errorf("database %s: %w", st.name, ErrReadOnly)
	}
	return st.edb, nil
}

// storageErr wraps an engine error, mapping the engine's read-only state to
// dbcore's.
func storageErr(db, op string, err error) error {
	if errors.Is(err, engines.ErrReadOnly) {
		return fmt.Errorf("%s %s: %w: %w", op, db, ErrReadOnly, err)
	}
	return fmt.Errorf("%s %s: %w", op, db, err)
}
