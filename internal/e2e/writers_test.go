package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
)

// crashWriter saves and deletes the documents it owns through the mount with
// plain syscalls and records every outcome in their histories. One goroutine
// runs it; the test reads its fields after that goroutine has finished.
type crashWriter struct {
	dbDir  string
	docs   []*docHistory
	rng    *rand.Rand
	killed *atomic.Bool // set just before the mount is killed

	savesAcked, deletesAcked, unacked int
	// preKill holds errors returned while the mount was alive: every one is
	// a bug, because the writer owns its documents and cannot conflict.
	preKill []error
}

// run issues operations until stop is closed or an operation fails (after a
// kill every later operation fails, and the model needs at most the first).
func (w *crashWriter) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		h := w.docs[w.rng.IntN(len(w.docs))]
		cur := h.base
		if n := len(h.ops); n > 0 {
			cur = h.ops[n-1].after
		}
		var err error
		if cur.Exists && w.rng.IntN(5) == 0 {
			h.ops = append(h.ops, opRecord{after: docState{}})
			err = unlinkDoc(w.dbDir, h.id)
			if err == nil {
				w.deletesAcked++
			}
		} else {
			v := h.next
			h.next++
			h.ops = append(h.ops, opRecord{after: docState{Exists: true, V: v}})
			err = saveDoc(w.dbDir, h.id, docBody(h.id, v))
			if err == nil {
				w.savesAcked++
			}
		}
		if err == nil {
			h.ops[len(h.ops)-1].acked = true
			continue
		}
		w.unacked++
		if !w.killed.Load() {
			w.preKill = append(w.preKill, err)
		}
		return
	}
}

// saveDoc writes a whole document the way `cat > doc.json` does: open with
// O_TRUNC, one write, close. Success of all three is the acknowledgement
// that the save is durable (design.md §5). A failure is a *saveError
// naming the step.
func saveDoc(dbDir, id string, body []byte) error {
	f, err := os.OpenFile(docPath(dbDir, id), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return &saveError{id: id, step: "open", err: err}
	}
	_, werr := f.Write(body)
	cerr := f.Close()
	if werr != nil {
		return &saveError{id: id, step: "write", err: werr}
	}
	if cerr != nil {
		return &saveError{id: id, step: "close", err: cerr}
	}
	return nil
}

// saveError is a failed saveDoc: the system call that failed and its error.
type saveError struct {
	id, step string // step is "open", "write" or "close"
	err      error
}

// Error names the document; the step is in err (an *os.PathError).
func (e *saveError) Error() string { return fmt.Sprintf("save %s: %v", e.id, e.err) }
func (e *saveError) Unwrap() error { return e.err }

// saveStep returns the step at which saveDoc failed ("" for another error).
func saveStep(err error) string {
	var se *saveError
	if errors.As(err, &se) {
		return se.step
	}
	return ""
}

// unlinkDoc deletes a document with unlink(2) alone: os.Remove would retry
// with rmdir and could replace the unlink's errno.
func unlinkDoc(dbDir, id string) error {
	if err := syscall.Unlink(docPath(dbDir, id)); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return nil
}

// docPath is the file of a document whose id needs no escaping.
func docPath(dbDir, id string) string { return filepath.Join(dbDir, id+".json") }

// runWriters starts one goroutine per writer and returns a function that
// stops them and waits for them.
func runWriters(ws []*crashWriter) (stop func()) {
	ch := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ch)
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() { close(ch) })
		wg.Wait()
	}
}

// readDocState reads a document through the mount.
func readDocState(dbDir, id string) (docState, error) {
	data, err := os.ReadFile(docPath(dbDir, id))
	if errors.Is(err, os.ErrNotExist) {
		return docState{}, nil
	}
	if err != nil {
		return docState{}, err
	}
	v, err := parseDoc(id, data, true)
	if err != nil {
		return docState{}, err
	}
	return docState{Exists: true, V: v}, nil
}
