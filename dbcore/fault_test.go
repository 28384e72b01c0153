package dbcore_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
)

var errInjected = errors.New("injected storage failure")

// faultEngine fails the next failCommits commits (without committing) and
// the next failOpens opens, to exercise dbcore's recovery: after a failed
// commit the database is reopened from what is durable.
type faultEngine struct {
	engines.Engine
	failCommits atomic.Int32
	failOpens   atomic.Int32
}

func (e *faultEngine) Create(path string) (engines.DB, error) {
	db, err := e.Engine.Create(path)
	if err != nil {
		return nil, err
	}
	return &faultDB{DB: db, e: e}, nil
}

func (e *faultEngine) Open(path string) (engines.DB, error) {
	if e.failOpens.Add(-1) >= 0 {
		return nil, errInjected
	}
	db, err := e.Engine.Open(path)
	if err != nil {
		return nil, err
	}
	return &faultDB{DB: db, e: e}, nil
}

type faultDB struct {
	engines.DB
	e *faultEngine
}

func (d *faultDB) Commit() error {
	if d.e.failCommits.Add(-1) >= 0 {
		return errInjected
	}
	return d.DB.Commit()
}

func TestCommitFailure(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ec engineCase) {
		fe := &faultEngine{Engine: checked(t, ec)}
		opts := serverOptions(t, t.TempDir(), ec)
		opts.Engines = []engines.Engine{fe}
		s := startServer(t, opts)
		db := createDB(t, s, "db")
		ra := update(t, db, "a", "", `{"a":1}`)

		// A failed commit fails the whole call, and what it wrote is gone.
		fe.failCommits.Store(1)
		_, err := db.UpdateDocs([]*dbcore.Doc{{ID: "b"}, {ID: "a", Rev: ra, Body: []byte(`{"a":2}`)}}, dbcore.UpdateOptions{})
		wantErr(t, "UpdateDocs with a failing commit", err, errInjected)
		_, err = db.Get("b")
		wantErr(t, "Get of a doc whose commit failed", err, dbcore.ErrNotFound)
		if d := mustGet(t, db, "a"); d.Rev != ra {
			t.Errorf("a = %s after a failed update", d.Rev)
		}
		if n := db.UpdateSeq(); n != 1 {
			t.Errorf("update_seq %d after a failed commit", n)
		}
		// The database goes on.
		rb := update(t, db, "b", "", `{}`)
		if n := db.UpdateSeq(); n != 2 {
			t.Errorf("update_seq %d, want 2", n)
		}

		// A purge whose commit fails purges nothing.
		fe.failCommits.Store(1)
		_, err = db.Purge(map[string][]string{"a": {ra}})
		wantErr(t, "Purge with a failing commit", err, errInjected)
		if info := mustInfo(t, db); info.PurgeSeq != 0 || info.DocCount != 2 {
			t.Errorf("info after a failed purge: %+v", info)
		}
		if _, err := db.Purge(map[string][]string{"a": {ra}}); err != nil {
			t.Fatal(err)
		}

		// When reopening fails too, the database reports it on every read
		// instead of hanging, and the next write retries the reopen, so
		// the database comes back once the disk does.
		fe.failCommits.Store(1)
		fe.failOpens.Store(1)
		_, err = tryUpdate(db, &dbcore.Doc{ID: "c"}, dbcore.UpdateOptions{})
		wantErr(t, "UpdateDocs with a failing commit and reopen", err, errInjected)
		_, err = db.Get("b")
		wantErr(t, "Get of an unavailable database", err, dbcore.ErrUnavailable)
		rd := update(t, db, "d", "", `{}`)
		if d := mustGet(t, db, "d"); d.Rev != rd {
			t.Errorf("d = %s after the retried reopen", d.Rev)
		}
		_, err = db.Get("c")
		wantErr(t, "c after a failed commit", err, dbcore.ErrNotFound)
		db.Close()
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = startServer(t, opts)
		db = openDB(t, s, "db")
		if d := mustGet(t, db, "b"); d.Rev != rb {
			t.Errorf("b = %s after restart", d.Rev)
		}
		_, err = db.Get("a")
		wantErr(t, "purged a after restart", err, dbcore.ErrNotFound)
		_, err = db.Get("c")
		wantErr(t, "c after restart", err, dbcore.ErrNotFound)
	})
}
