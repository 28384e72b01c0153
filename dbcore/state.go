package dbcore

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
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
	//
	// After a storage failure edb may be a read-only stand-in
	// (engines.ReadOnlyOpener) that serves readers while the database is
	// reopened: writer never hands it to the updater. While the reopen
	// goroutine runs, it alone changes edb (see reopen).
	// encoder is the first handle's body encoder, if its engine has one.
	// EncodeDocBody depends only on the engine, so writers use it without
	// entering, whatever handle is current (engines.BodyEncoder).
	encoder engines.BodyEncoder

	gmu      sync.Mutex
	gcond    *sync.Cond
	edb      engines.DB    // what readers use; nil while there is none
	standIn  bool          // edb is a read-only stand-in
	gone     error         // why edb is nil or a stand-in
	swapping chan struct{} // non-nil while the reopen goroutine replaces edb; closed when done
	final    bool          // shut down: nothing is attached any more
	readers  int

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

	// Commits of update groups and the update requests they answered
	// (CommitStats), counted by the updater.
	commits       atomic.Uint64
	committedReqs atomic.Uint64

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
	st.encoder, _ = edb.(engines.BodyEncoder)
	go st.run()
	return st
}

// enter returns the engine handle for one read; the caller must call leave.
// While the reopen goroutine is replacing the handle it waits for the next
// one (at most reopenWait) rather than fail: the swap takes as long as the
// reads in flight and the opening of a read-only stand-in.
func (st *dbState) enter() (engines.DB, error) {
	st.gmu.Lock()
	defer st.gmu.Unlock()
	// One swap may follow another (the stand-in attached, then replaced by
	// the reopened handle) before this goroutine gets the lock back.
	var timeout <-chan time.Time
	for st.edb == nil && st.swapping != nil && !st.final {
		if timeout == nil {
			t := time.NewTimer(reopenWait)
			defer t.Stop()
			timeout = t.C
		}
		ch := st.swapping
		st.gmu.Unlock()
		expired := false
		select {
		case <-ch:
		case <-timeout:
			expired = true
		}
		st.gmu.Lock()
		if expired {
			break
		}
	}
	if st.edb == nil || st.standIn {
		// A database waiting to be reopened after a storage failure is
		// reopened on behalf of readers too: through the filesystem every
		// save reads first, so waiting for a write would wait forever.
		select {
		case st.kick <- struct{}{}:
		default:
		}
	}
	if st.edb == nil {
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
// that start later fail with gone, or, with swap, wait for the reopen
// goroutine to attach a stand-in. It does not wait for the reads in
// flight (a read's callback may be waiting for the updater); call drain
// before closing the handle.
func (st *dbState) detach(gone error, swap bool) engines.DB {
	st.gmu.Lock()
	defer st.gmu.Unlock()
	edb := st.edb
	st.edb, st.standIn, st.gone = nil, false, gone
	if swap && st.swapping == nil {
		st.swapping = make(chan struct{})
	}
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

// swapped ends a swap: readers waiting in enter go on. gmu is held.
func (st *dbState) swapped() {
	if st.swapping != nil {
		close(st.swapping)
		st.swapping = nil
	}
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
	st.gmu.Lock()
	st.final = true // a reopen goroutine still running closes what it opens
	st.gmu.Unlock()
	edb := st.detach(fmt.Errorf("database %s: %w", st.name, gone), false)
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
	hasLocal, err := readAgain(func() (bool, error) {
		found := false
		err := edb.FoldLocalDocs(engines.FoldOptions{}, func(*engines.LocalDoc) error {
			found = true
			return engines.ErrStopFold
		})
		return found, err
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

// reopenResult is what a background reopen produced; on success the reopen
// goroutine has attached the new handle already.
type reopenResult struct {
	err error
}

// recover replaces the engine handle after a failed commit: the engine may
// hold writes that are visible but not durable, so the handle is closed
// and the database reopened from what is on disk. Meanwhile readers are
// served by a read-only stand-in where the engine can open one
// (engines.ReadOnlyOpener): it shows what is on disk, as the reopen will,
// and needs no write, so it opens even while the disk refuses every write
// and the reopen cannot finish. Without one, reads fail until the reopen
// is done. Writers fail until then either way. Updater only.
func (st *dbState) recover(cause error) {
	st.srv.log.Error("storage failure; reopening database", "db", st.name, "err", cause)
	st.cancelCompaction()
	st.cause = cause
	old := st.detach(fmt.Errorf("%w: database %s is being reopened (%v)", ErrUnavailable, st.name, cause), true)
	st.startReopen(old)
	st.awaitReopen(reopenWait)
}

// startReopen starts the reopen goroutine, which closes old (if any) and
// opens the database again; the updater picks the result up from
// st.reopening. Updater only.
func (st *dbState) startReopen(old engines.DB) {
	st.lastReopen = time.Now()
	ch := make(chan reopenResult, 1)
	st.reopening = ch
	go st.reopen(old, ch)
}

// reopen is the reopen goroutine. It closes the failed handle once its
// reads are done, attaches a read-only stand-in if there is no handle,
// opens the database read-write and swaps it in: the stand-in is taken
// away, its reads drained and it is closed before the new handle is
// attached, readers waiting in enter meanwhile. At most one runs (while
// st.reopening is set), and the updater does not change the handle while
// it does; it sends its result last. After shutdown (final) it closes
// whatever it opens.
func (st *dbState) reopen(old engines.DB, result chan<- reopenResult) {
	if old != nil {
		st.drain()
		if err := old.Close(); err != nil {
			st.srv.log.Warn("closing failed database", "db", st.name, "err", err)
		}
	}
	st.attachStandIn()
	edb, err := st.engine.Open(st.path)
	if err == nil {
		st.swapIn(edb)
	}
	result <- reopenResult{err}
}

// attachStandIn gives readers a read-only handle when they have none and
// the engine can open one, and ends the swap recover began. Reopen
// goroutine only.
func (st *dbState) attachStandIn() {
	ro, ok := st.engine.(engines.ReadOnlyOpener)
	st.gmu.Lock()
	need := ok && st.edb == nil && !st.final
	if need && st.swapping == nil {
		st.swapping = make(chan struct{})
	}
	st.gmu.Unlock()
	var sdb engines.DB
	if need {
		var err error
		if sdb, err = ro.OpenReadOnly(st.path); err != nil {
			st.srv.log.Warn("opening read-only for readers", "db", st.name, "err", err)
			sdb = nil
		}
	}
	st.gmu.Lock()
	if sdb != nil && !st.final {
		st.edb, st.standIn = sdb, true // gone stays: it is what writers are told
		sdb = nil
	}
	st.swapped()
	st.gmu.Unlock()
	if sdb != nil {
		st.closeStandIn(sdb)
	}
}

// swapIn attaches the reopened read-write handle in place of the stand-in,
// if any. Reopen goroutine only.
func (st *dbState) swapIn(edb engines.DB) {
	st.gmu.Lock()
	standIn := st.edb
	if standIn != nil {
		st.edb = nil
		if st.swapping == nil {
			st.swapping = make(chan struct{})
		}
		st.gmu.Unlock()
		// Its reads see what edb holds too, but closing it under them
		// would fail them.
		st.drain()
		st.closeStandIn(standIn)
		st.gmu.Lock()
	}
	if st.final {
		st.swapped()
		st.gmu.Unlock()
		if err := edb.Close(); err != nil {
			st.srv.log.Warn("closing database reopened after shutdown", "db", st.name, "err", err)
		}
		return
	}
	st.edb, st.standIn, st.gone = edb, false, nil
	st.swapped()
	st.gmu.Unlock()
}

func (st *dbState) closeStandIn(sdb engines.DB) {
	if err := sdb.Close(); err != nil {
		st.srv.log.Warn("closing read-only database", "db", st.name, "err", err)
	}
}

// awaitReopen waits up to d for a running reopen to finish and applies its
// result. Updater only.
func (st *dbState) awaitReopen(d time.Duration) {
	if st.reopening == nil {
		return
	}
	if d <= 0 {
		select {
		case r := <-st.reopening:
			st.reopened(r)
		default:
		}
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
// database reports the failure to writers (readers keep the stand-in, if
// any), and the next write retries, so it comes back once the disk does.
// Updater only.
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
	st.srv.log.Info("database reopened after a storage failure", "db", st.name)
}

// writer returns the engine handle for the updater, or why there is none.
// Updater only. A read-only stand-in is not a handle for the updater: the
// database still needs its reopen, and its writers are told so with
// ErrUnavailable, never the stand-in's ErrReadOnly.
func (st *dbState) writer() (engines.DB, error) {
	if st.needReopen && st.reopening == nil {
		st.startReopen(nil)
	}
	// A reopen in flight may be about to succeed: wait for it, but only
	// until it has run for reopenWait. One that takes longer is waiting
	// for the disk (Pebble retries its flush inside Open), and writers are
	// answered at once meanwhile rather than each after reopenWait.
	st.awaitReopen(reopenWait - time.Since(st.lastReopen))
	st.gmu.Lock()
	defer st.gmu.Unlock()
	if st.edb == nil || st.standIn {
		return nil, st.writeErr()
	}
	if st.srv.opts.ReadOnly {
		return nil, fmt.Errorf("database %s: %w", st.name, ErrReadOnly)
	}
	return st.edb, nil
}

// writeErr is what a writer is told while the database has no writable
// handle: gone, wrapping also the errno of the storage failure, so that a
// save on a full disk keeps failing with ENOSPC rather than EIO. Readers
// get gone alone: they did not meet the failure. gmu is held.
func (st *dbState) writeErr() error {
	var errno syscall.Errno
	if errors.As(st.cause, &errno) {
		return fmt.Errorf("%w (%w)", st.gone, errno)
	}
	return st.gone
}

// setterFailed handles the failure of a setter, which commits like Commit:
// the engine now refuses writes until reopened, so the database is
// recovered as after a failed commit. Updater only.
func (st *dbState) setterFailed(op string, err error) error {
	err = storageErr(st.name, op, err)
	st.recover(err)
	return err
}

// storageErr wraps an engine error, mapping the engine's read-only state to
// dbcore's. Anything else stays a storage error matching the engine's
// sentinel: engines.ErrRolledBack, which reaches a caller only from a fold
// that had already passed it rows (or a read that met three rollbacks in
// a row), is EIO through the filesystem, and reading again works.
func storageErr(db, op string, err error) error {
	if errors.Is(err, engines.ErrReadOnly) {
		return fmt.Errorf("%s %s: %w: %w", op, db, ErrReadOnly, err)
	}
	return fmt.Errorf("%s %s: %w", op, db, err)
}
