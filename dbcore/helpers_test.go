package dbcore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/dbcore/revtree"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/couchfile"
	"github.com/couchfs/couchfs/engines/memengine"
	"github.com/couchfs/couchfs/engines/pebble"
)

// engineCase is one storage engine every dbcore test runs on.
type engineCase struct {
	name string // the engine's Name()
	new  func() engines.Engine
	// onDisk: the engine keeps files in the data directory, so AllDBs
	// finds its databases after a restart (memengine's live in a
	// process-wide registry instead).
	onDisk bool
}

// engineCases is the engine table; adding an engine is one line.
var engineCases = []engineCase{
	{"mem", func() engines.Engine { return memengine.New() }, false},
	{"pebble", func() engines.Engine { return pebble.New(pebble.Options{}) }, true},
	{"couch", func() engines.Engine { return couchfile.New(couchfile.Options{}) }, true},
}

// forEachEngine runs fn as a parallel subtest per engine.
func forEachEngine(t *testing.T, fn func(t *testing.T, ec engineCase)) {
	t.Helper()
	for _, ec := range engineCases {
		t.Run(ec.name, func(t *testing.T) {
			t.Parallel()
			fn(t, ec)
		})
	}
}

// otherEngine returns an engine case other than ec.
func otherEngine(ec engineCase) engineCase {
	for _, o := range engineCases {
		if o.name != ec.name {
			return o
		}
	}
	panic("only one engine in the table")
}

// checked returns ec's engine, checking its databases when they are closed.
func checked(t testing.TB, ec engineCase) engines.Engine {
	return &checkingEngine{Engine: ec.new(), t: t}
}

// allEngines returns one instance of every engine of the table, each
// checking its databases' consistency when they are closed.
func allEngines(t testing.TB) []engines.Engine {
	out := make([]engines.Engine, len(engineCases))
	for i, ec := range engineCases {
		out[i] = checked(t, ec)
	}
	return out
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// serverOptions are the options of a test server on dir whose default
// engine is ec's, with every engine of the table configured.
func serverOptions(t testing.TB, dir string, ec engineCase) dbcore.Options {
	return dbcore.Options{Dir: dir, Engines: allEngines(t), DefaultEngine: ec.name, Logger: quietLogger}
}

// startServer opens a server and closes it when the test ends.
func startServer(t testing.TB, opts dbcore.Options) *dbcore.Server {
	t.Helper()
	s, err := dbcore.NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Server.Close: %v", err)
		}
	})
	return s
}

// newServer starts a server on a fresh directory with ec as default engine.
func newServer(t testing.TB, ec engineCase) *dbcore.Server {
	t.Helper()
	return startServer(t, serverOptions(t, t.TempDir(), ec))
}

// openDB opens a handle that is closed when the test ends.
func openDB(t testing.TB, s *dbcore.Server, name string) *dbcore.DB {
	t.Helper()
	db, err := s.OpenDB(name)
	if err != nil {
		t.Fatalf("OpenDB(%q): %v", name, err)
	}
	t.Cleanup(db.Close)
	return db
}

// createDB creates a database with the default engine and opens it.
func createDB(t testing.TB, s *dbcore.Server, name string) *dbcore.DB {
	t.Helper()
	if err := s.CreateDB(name, ""); err != nil {
		t.Fatalf("CreateDB(%q): %v", name, err)
	}
	return openDB(t, s, name)
}

// newDB is a fresh database "db" on a fresh server.
func newDB(t testing.TB, ec engineCase) *dbcore.DB {
	t.Helper()
	return createDB(t, newServer(t, ec), "db")
}

// update writes one document interactively and returns its new revision.
func update(t testing.TB, db *dbcore.DB, id, rev, body string) string {
	t.Helper()
	rev, err := tryUpdate(db, &dbcore.Doc{ID: id, Rev: rev, Body: []byte(body)}, dbcore.UpdateOptions{})
	if err != nil {
		t.Fatalf("update %s: %v", id, err)
	}
	return rev
}

// tryUpdate writes one document and returns its result's revision and
// error, or the call's error.
func tryUpdate(db *dbcore.DB, d *dbcore.Doc, opts dbcore.UpdateOptions) (string, error) {
	res, err := db.UpdateDocs([]*dbcore.Doc{d}, opts)
	if err != nil {
		return "", err
	}
	if len(res) != 1 {
		return "", errors.New("UpdateDocs returned no result")
	}
	return res[0].Rev, res[0].Err
}

// replicate stores rev with its history (newest first) as a replicated edit.
func replicate(t testing.TB, db *dbcore.DB, id, rev string, history []string, deleted bool, body string) {
	t.Helper()
	got, err := tryUpdate(db, &dbcore.Doc{ID: id, Rev: rev, Revisions: history, Deleted: deleted, Body: []byte(body)}, dbcore.UpdateOptions{Replicated: true})
	if err != nil || got != rev {
		t.Fatalf("replicate %s %s = %q, %v", id, rev, got, err)
	}
}

// mustGet returns the winner of id.
func mustGet(t testing.TB, db *dbcore.DB, id string) *dbcore.Doc {
	t.Helper()
	d, err := db.Get(id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return d
}

// wantErr fails unless errors.Is(err, want) (or err is nil for want nil).
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// revPos is N of a revision "N-id".
func revPos(t testing.TB, rev string) uint64 {
	t.Helper()
	r, err := revtree.ParseRev(rev)
	if err != nil {
		t.Fatalf("ParseRev(%q): %v", rev, err)
	}
	return r.Pos
}

// hexRev is a 32-hex-digit revision id made of one repeated digit, for
// replicated edits.
func hexRev(digit string) string {
	return strings.Repeat(digit, 32)
}

// rev formats "pos-id".
func rev(pos uint64, id string) string { return revtree.FormatRev(engines.Rev{Pos: pos, ID: id}) }

// changes returns the whole feed since since.
func changes(t testing.TB, db *dbcore.DB, since uint64, limit int) []dbcore.Change {
	t.Helper()
	var out []dbcore.Change
	if err := db.Changes(since, limit, func(c dbcore.Change) error {
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatalf("Changes(%d, %d): %v", since, limit, err)
	}
	return out
}

// allDocs returns every AllDocs row.
func allDocs(t testing.TB, db *dbcore.DB) []dbcore.DocRow {
	t.Helper()
	var out []dbcore.DocRow
	if err := db.AllDocs(engines.FoldOptions{}, func(r dbcore.DocRow) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("AllDocs: %v", err)
	}
	return out
}

// localDocs returns every LocalDocs row.
func localDocs(t testing.TB, db *dbcore.DB) []dbcore.DocRow {
	t.Helper()
	var out []dbcore.DocRow
	if err := db.LocalDocs(engines.FoldOptions{}, func(r dbcore.DocRow) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("LocalDocs: %v", err)
	}
	return out
}

// mustInfo returns the database info.
func mustInfo(t testing.TB, db *dbcore.DB) dbcore.Info {
	t.Helper()
	info, err := db.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	return info
}

// testContext is cancelled shortly before the test's deadline, so a wait
// that never ends fails the test with a message instead of a panic.
func testContext(t testing.TB, limit time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	if tt, ok := t.(*testing.T); ok {
		if dl, ok := tt.Deadline(); ok {
			var cancelDL context.CancelFunc
			ctx, cancelDL = context.WithDeadline(ctx, dl.Add(-2*time.Second))
			t.Cleanup(cancelDL)
		}
	}
	return ctx
}
