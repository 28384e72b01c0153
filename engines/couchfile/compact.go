package couchfile

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/couchfs/couchfs/engines"
)

// compaction copies the live state of a database into <path>.compact while
// the updater keeps writing, then swaps it in with a rename.
//
// A background goroutine copies a snapshot, building every tree bottom-up
// (so the copy is packed and written once), copying only leaf bodies and
// every attachment, and keeping only purge infos newer than
// PurgeSeq-PurgeInfosLimit. Meanwhile WriteDocInfos records which document
// and local doc IDs it changed; the goroutine then catches up in rounds,
// re-copying those IDs from a newer snapshot (plus newer purge infos and
// attachments, which have ascending keys), commits the copy, and closes
// Done. Finish, on the updater, does a last round with no writer racing it,
// commits, renames the copy over the database and switches readers to it.
type compaction struct {
	db       *DB
	path     string
	dst      *store
	done     chan struct{} // closed when the copy caught up, or failed
	exited   chan struct{} // closed when the goroutine returned
	err      error         // why the copy failed; read after done
	stop     atomic.Bool
	progress atomic.Uint64 // float64 bits

	mu struct {
		sync.Mutex
		docs   map[string]struct{} // doc IDs written since the last round
		locals map[string]struct{} // local doc IDs written since the last round
	}

	// The copy's state: owned by the goroutine until done, then by Finish.
	h            header // the copy's header: roots in dst, fields of the source
	security     []byte
	srcSecurity  uint64 // the source's securityPtr the copy holds
	copiedAttID  uint64 // attachments with IDs up to this are copied
	copiedPurges uint64 // purge infos with seqs up to this are copied
}

// catchUpRounds bounds the rounds the goroutine runs behind a busy
// updater; whatever is left after them is Finish's to copy.
const catchUpRounds = 8

// smallCatchUp is a round small enough to leave to Finish.
const smallCatchUp = 64

// StartCompaction starts copying the database to <path>.compact in the
// background. It fails with ErrCompactionRunning while one runs; a
// compaction that failed is cleaned up and replaced. Updater only.
func (db *DB) StartCompaction() (engines.Compaction, error) {
	if err := db.writable(); err != nil {
		return nil, err
	}
	if c := db.compaction; c != nil {
		select {
		case <-c.done:
			if c.err == nil {
				return nil, db.errorf("%w", engines.ErrCompactionRunning)
			}
			c.abort()
			db.compaction = nil
		default:
			return nil, db.errorf("%w", engines.ErrCompactionRunning)
		}
	}
	path := compactPath(db.path)
	f, err := db.opts.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, db.errorf("start compaction: %w", err)
	}
	src, err := db.acquire()
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	c := &compaction{db: db, path: path, dst: newStore(f, path, 0, db.snap.Load().h.generation+1, db.opts),
		done: make(chan struct{}), exited: make(chan struct{})}
	c.mu.docs, c.mu.locals = map[string]struct{}{}, map[string]struct{}{}
	db.compaction = c
	go c.run(src)
	return c, nil
}

// Done is closed when Finish may be called, or when the copy failed. Any
// goroutine.
func (c *compaction) Done() <-chan struct{} { return c.done }

// Err reports why the copy failed, after Done. Any goroutine.
func (c *compaction) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Progress is the fraction of the snapshot's documents copied. Any
// goroutine.
func (c *compaction) Progress() float64 { return math.Float64frombits(c.progress.Load()) }

func (c *compaction) setProgress(f float64) { c.progress.Store(math.Float64bits(f)) }

// touch records IDs a write changed. Updater only.
func (c *compaction) touch(docs []docWrite, locals []engines.LocalDoc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range docs {
		c.mu.docs[d.id] = struct{}{}
	}
	for _, ld := range locals {
		c.mu.locals[ld.ID] = struct{}{}
	}
}

// takeTouched returns the recorded IDs, sorted, and starts a new record.
func (c *compaction) takeTouched() (docs, locals []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.mu.docs {
		docs = append(docs, id)
	}
	for id := range c.mu.locals {
		locals = append(locals, id)
	}
	c.mu.docs, c.mu.locals = map[string]struct{}{}, map[string]struct{}{}
	slices.Sort(docs)
	slices.Sort(locals)
	return docs, locals
}

func (c *compaction) run(src *snapshot) {
	defer close(c.exited)
	err := c.copyAll(src)
	src.st.release()
	if hook := c.db.opts.afterCopy; hook != nil && err == nil {
		hook()
	}
	for round := 0; err == nil && round < catchUpRounds; round++ {
		if err = c.cancelled(); err != nil {
			break
		}
		var n int
		if n, err = c.catchUpNow(); n < smallCatchUp {
			break
		}
	}
	if err == nil {
		err = c.commit()
	}
	if err != nil {
		err = fmt.Errorf("couchfile: %s: compaction: %w", c.db.path, err)
	}
	c.err = err
	close(c.done)
}

var errCancelled = fmt.Errorf("compaction cancelled: %w", engines.ErrClosed)

func (c *compaction) cancelled() error {
	if c.stop.Load() {
		return errCancelled
	}
	return nil
}

// catchUpNow runs one round against the newest snapshot from the
// goroutine and returns how many IDs it copied.
func (c *compaction) catchUpNow() (int, error) {
	docs, locals := c.takeTouched() // before the snapshot: see touch's caller
	s, err := c.db.acquire()
	if err != nil {
		return 0, err
	}
	defer s.st.release()
	return len(docs) + len(locals), c.catchUp(s, docs, locals)
}

// Finish copies what changed since the copy caught up, trims purge infos
// to the limit, commits the copy, renames it over the database and moves
// readers to it; a reader already in flight finishes on the old file.
// Writes made before Finish are all kept (uncommitted ones become durable
// with the copy). If it fails before the rename the database is unchanged.
// Updater only.
func (c *compaction) Finish() error {
	db := c.db
	if db.compaction != c {
		return db.errorf("compaction already finished or cancelled: %w", engines.ErrInvalidWrite)
	}
	if err := db.writable(); err != nil {
		return err
	}
	<-c.done
	if c.err != nil {
		c.abort()
		db.compaction = nil
		return c.err
	}
	if err := c.finalRound(); err != nil {
		c.abort()
		db.compaction = nil
		return db.errorf("finish compaction: %w", err)
	}
	db.compaction = nil
	if err := os.Rename(c.path, db.path); err != nil {
		c.discard()
		return db.errorf("finish compaction: %w", err)
	}
	s := &snapshot{st: c.dst, h: c.h, security: c.security}
	old := db.st
	_ = old.land() // uncommitted bytes of the old file, copied already; it must not close under the write
	// The copy was written without a zero tail; its next commit starts one.
	c.dst.live = true
	db.st, db.committed = c.dst, s
	db.lastWritten.Reset() // the copies point at moved bodies
	db.retire(old)
	db.publish(s)
	old.release()
	// The swap has happened either way; a failed directory sync only
	// leaves it to the next crash whether the old or the new file (both
	// complete and holding every committed write) is found.
	if err := syncDir(filepath.Dir(db.path)); err != nil {
		return db.errorf("finish compaction: sync directory: %w", err)
	}
	return nil
}

// finalRound catches up with the live state on the updater and commits.
func (c *compaction) finalRound() error {
	s := c.db.snap.Load()
	docs, locals := c.takeTouched()
	if err := c.catchUp(s, docs, locals); err != nil {
		return err
	}
	if err := c.trimPurges(minPurgeSeq(&s.h)); err != nil {
		return err
	}
	return c.commit()
}

// Cancel stops the compaction and removes its file. Updater only.
func (c *compaction) Cancel() error {
	if c.db.compaction == c {
		c.db.compaction = nil
	}
	c.abort()
	return nil
}

// abort stops the goroutine and removes the copy. Updater only.
func (c *compaction) abort() {
	c.stop.Store(true)
	<-c.exited
	c.discard()
}

func (c *compaction) discard() {
	_ = c.dst.land()
	if c.dst.refs.Load() > 0 {
		c.dst.release()
	}
	os.Remove(c.path)
}
