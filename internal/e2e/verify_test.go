package e2e

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
)

// storedCounts is what checkStored found in a database.
type storedCounts struct {
	Live, Deleted, UpdateSeq uint64
}

// checkStored opens database name in dataDir with its engine directly, below
// dbcore: the engine's own Check must pass, and DocCount, DelDocCount,
// CountChangesSince(0) and UpdateSeq must agree with folds over the doc and
// changes indexes. The mount must not be running (it holds the database).
func checkStored(dataDir, name string, eng engines.Engine) (storedCounts, error) {
	path := filepath.Join(dataDir, name+eng.Ext())
	db, err := eng.Open(path)
	if err != nil {
		return storedCounts{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	checker, ok := db.(engines.Checker)
	if !ok {
		return storedCounts{}, fmt.Errorf("engine %s does not implement engines.Checker", eng.Name())
	}
	if err := checker.Check(); err != nil {
		return storedCounts{}, fmt.Errorf("%s: Check: %w", path, err)
	}
	var c storedCounts
	var maxSeq uint64
	err = db.FoldDocs(engines.FoldOptions{}, func(di *engines.DocInfo) error {
		if di.Deleted {
			c.Deleted++
		} else {
			c.Live++
		}
		maxSeq = max(maxSeq, di.UpdateSeq)
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("%s: FoldDocs: %w", path, err)
	}
	var changes, lastSeq uint64
	err = db.FoldChanges(0, func(di *engines.DocInfo) error {
		if di.UpdateSeq <= lastSeq {
			return fmt.Errorf("changes out of order: seq %d after %d", di.UpdateSeq, lastSeq)
		}
		lastSeq = di.UpdateSeq
		changes++
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("%s: FoldChanges: %w", path, err)
	}
	counted, err := db.CountChangesSince(0)
	if err != nil {
		return c, fmt.Errorf("%s: CountChangesSince: %w", path, err)
	}
	c.UpdateSeq = db.UpdateSeq()
	var errs []error
	if db.DocCount() != c.Live {
		errs = append(errs, fmt.Errorf("DocCount %d, fold found %d live docs", db.DocCount(), c.Live))
	}
	if db.DelDocCount() != c.Deleted {
		errs = append(errs, fmt.Errorf("DelDocCount %d, fold found %d deleted docs", db.DelDocCount(), c.Deleted))
	}
	if changes != c.Live+c.Deleted || counted != changes {
		errs = append(errs, fmt.Errorf("FoldChanges visited %d, CountChangesSince(0) = %d, FoldDocs %d", changes, counted, c.Live+c.Deleted))
	}
	if c.UpdateSeq < maxSeq {
		errs = append(errs, fmt.Errorf("UpdateSeq %d below a stored doc's seq %d", c.UpdateSeq, maxSeq))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("%s (engine %s): %w", path, eng.Name(), err)
	}
	return c, nil
}

// readStored opens dataDir with a read-only dbcore server and returns the
// state of every live document of database name (ErrNotFound = absent). A
// document whose body is not a version the test wrote is an error.
func readStored(dataDir, name string) (map[string]docState, error) {
	srv, err := dbcore.NewServer(dbcore.Options{
		Dir:           dataDir,
		Engines:       testEngines(),
		DefaultEngine: "couch",
		ReadOnly:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("read-only server on %s: %w", dataDir, err)
	}
	defer srv.Close()
	db, err := srv.OpenDB(name)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var ids []string
	err = db.AllDocs(engines.FoldOptions{}, func(r dbcore.DocRow) error {
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("AllDocs: %w", err)
	}
	states := make(map[string]docState, len(ids))
	for _, id := range ids {
		doc, err := db.Get(id)
		if err != nil {
			return nil, fmt.Errorf("Get(%q) of a doc AllDocs listed: %w", id, err)
		}
		v, err := parseDoc(id, doc.Body, false)
		if err != nil {
			return nil, err
		}
		states[id] = docState{Exists: true, V: v}
	}
	return states, nil
}

// verifyRecovered compares stored states with the model: every document
// must be in an allowed state (nothing acknowledged lost, nothing
// resurrected) and no document may exist that no writer created. It settles
// the model to what it found and returns how many documents hold the
// content of an in-flight, unacknowledged operation.
func verifyRecovered(t *testing.T, stored map[string]docState, docs []*docHistory) (lost, inFlight int) {
	t.Helper()
	known := make(map[string]bool, len(docs))
	for _, h := range docs {
		known[h.id] = true
		got := stored[h.id]
		fl, err := h.check(got)
		if err != nil {
			t.Error(err)
			lost++
		}
		if fl {
			inFlight++
		}
		h.settle(got)
	}
	for id := range stored {
		if !known[id] {
			t.Errorf("doc %q exists but no writer created it", id)
		}
	}
	return lost, inFlight
}
