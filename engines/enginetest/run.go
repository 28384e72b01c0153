package enginetest

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/couchfs/couchfs/engines"
)

// testCase is one conformance case. It starts with e.db freshly created and
// must leave everything committed: the harness then checks, closes, reopens
// and compares. A case that ends with no open database sets e.db to nil.
type testCase struct {
	name string
	fn   func(e *env)
}

// group is a named list of cases, one couch_pse_tests module or a
// couchfs-specific topic.
type group struct {
	name  string
	cases func(e *env) []testCase // e is a probe: cases may depend on capabilities
}

// Run runs the whole conformance suite against the engine newEngine returns.
// newEngine is called once per case, from that case's goroutine; cases run in
// parallel, each on its own database path.
func Run(t *testing.T, newEngine func(t *testing.T) engines.Engine) {
	probe := probeCaps(t, newEngine)
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases(probe) {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					e := newEnv(t, newEngine(t))
					c.fn(e)
					e.finish()
				})
			}
		})
	}
}

var groups = []group{
	{"open_close_delete", lifecycleCases},
	{"get_set_props", propsCases},
	{"read_write_docs", readWriteCases},
	{"fold_docs", foldDocsCases},
	{"fold_changes", foldChangesCases},
	{"purge_docs", purgeDocsCases},
	{"purge_seqs", purgeSeqsCases},
	{"fold_purge_infos", foldPurgeInfosCases},
	{"copy_purge_infos", copyPurgeInfosCases},
	{"compaction", compactionCases},
	{"attachments", attachmentCases},
	{"checker", checkerCases},
	{"concurrency", concurrencyCases},
	{"differential", differentialCases},
}

// caps records which optional interfaces the engine's databases implement,
// found once by creating a probe database.
type caps struct {
	compacter, streamer, checker bool
}

// env is one case's world: the engine, the database path, the open database
// and the suite's updater.
type env struct {
	t    *testing.T
	eng  engines.Engine
	path string
	db   engines.DB
	w    *writer
	caps caps
}

func probeCaps(t *testing.T, newEngine func(t *testing.T) engines.Engine) *env {
	t.Helper()
	eng := newEngine(t)
	path := filepath.Join(t.TempDir(), "probe"+eng.Ext())
	db, err := eng.Create(path)
	if err != nil {
		t.Fatalf("probe Create: %v", err)
	}
	var c caps
	_, c.compacter = db.(engines.Compacter)
	_, c.streamer = db.(engines.AttachmentStreamer)
	_, c.checker = db.(engines.Checker)
	if err := db.Close(); err != nil {
		t.Fatalf("probe Close: %v", err)
	}
	if err := eng.Delete(path); err != nil {
		t.Fatalf("probe Delete: %v", err)
	}
	return &env{t: t, eng: eng, caps: c}
}

func newEnv(t *testing.T, eng engines.Engine) *env {
	t.Helper()
	e := &env{t: t, eng: eng, path: filepath.Join(t.TempDir(), "db"+eng.Ext())}
	e.db = e.create(e.path)
	e.w = newWriter(t, func() engines.DB { return e.db })
	_, e.caps.compacter = e.db.(engines.Compacter)
	_, e.caps.streamer = e.db.(engines.AttachmentStreamer)
	_, e.caps.checker = e.db.(engines.Checker)
	t.Cleanup(func() {
		if e.db != nil {
			// The case failed half-way; release what it held.
			_ = e.db.Close()
			e.db = nil
		}
	})
	return e
}

func (e *env) create(path string) engines.DB {
	e.t.Helper()
	db, err := e.eng.Create(path)
	if err != nil {
		e.t.Fatalf("Create %s: %v", path, err)
	}
	return db
}

func (e *env) open(path string) engines.DB {
	e.t.Helper()
	db, err := e.eng.Open(path)
	if err != nil {
		e.t.Fatalf("Open %s: %v", path, err)
	}
	return db
}

func (e *env) close() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.db = nil
}

// reopen closes and opens the database, as a restart would.
func (e *env) reopen() {
	e.t.Helper()
	e.close()
	e.db = e.open(e.path)
}

// check runs the engine's Checker, if it has one.
func (e *env) check() {
	e.t.Helper()
	if c, ok := e.db.(engines.Checker); ok {
		if err := c.Check(); err != nil {
			e.t.Fatalf("Check: %v", err)
		}
	}
}

// finish is the harness's epilogue for every case: check, capture the
// observable state, reopen, and require the same state.
func (e *env) finish() {
	e.t.Helper()
	if e.db == nil || e.t.Failed() {
		return
	}
	e.check()
	before := capture(e.t, e.db, exact)
	e.reopen()
	e.check()
	after := capture(e.t, e.db, exact)
	diffSnapshots(e.t, "after reopen", before, after)
	e.close()
}

func (e *env) commit() {
	e.t.Helper()
	if err := e.db.Commit(); err != nil {
		e.t.Fatalf("Commit: %v", err)
	}
}

func (e *env) openDoc(id string) *engines.DocInfo {
	e.t.Helper()
	dis, err := e.db.OpenDocs([]string{id})
	if err != nil {
		e.t.Fatalf("OpenDocs(%q): %v", id, err)
	}
	if len(dis) != 1 {
		e.t.Fatalf("OpenDocs(%q) returned %d results", id, len(dis))
	}
	return dis[0]
}

func (e *env) openLocal(id string) *engines.LocalDoc {
	e.t.Helper()
	lds, err := e.db.OpenLocalDocs([]string{id})
	if err != nil {
		e.t.Fatalf("OpenLocalDocs(%q): %v", id, err)
	}
	if len(lds) != 1 {
		e.t.Fatalf("OpenLocalDocs(%q) returned %d results", id, len(lds))
	}
	return lds[0]
}

// winnerBody reads the body of a document's winning revision.
func (e *env) winnerBody(id string) string {
	e.t.Helper()
	di := e.openDoc(id)
	if di == nil {
		e.t.Fatalf("doc %q not found", id)
	}
	w := leaves(di.RevTree)[0]
	b, err := e.db.ReadDocBody(w.value.Ptr)
	if err != nil {
		e.t.Fatalf("ReadDocBody(%d) for %q: %v", w.value.Ptr, id, err)
	}
	return string(b)
}

// counts asserts the document counters and sequences.
func (e *env) counts(docs, deleted, updateSeq, purgeSeq uint64) {
	e.t.Helper()
	got := [4]uint64{e.db.DocCount(), e.db.DelDocCount(), e.db.UpdateSeq(), e.db.PurgeSeq()}
	want := [4]uint64{docs, deleted, updateSeq, purgeSeq}
	if got != want {
		e.t.Fatalf("DocCount, DelDocCount, UpdateSeq, PurgeSeq = %v, want %v", got, want)
	}
}

// changes returns "id@seq" for FoldChanges(since).
func (e *env) changes(since uint64) []string {
	e.t.Helper()
	var out []string
	err := e.db.FoldChanges(since, func(di *engines.DocInfo) error {
		out = append(out, changeKey(di))
		return nil
	})
	if err != nil {
		e.t.Fatalf("FoldChanges(%d): %v", since, err)
	}
	return out
}

func (e *env) purgeInfos(since uint64) []engines.PurgeInfo {
	e.t.Helper()
	var out []engines.PurgeInfo
	err := e.db.FoldPurgeInfos(since, func(pi engines.PurgeInfo) error {
		out = append(out, pi)
		return nil
	})
	if err != nil {
		e.t.Fatalf("FoldPurgeInfos(%d): %v", since, err)
	}
	return out
}

func (e *env) wantErr(what string, err, target error) {
	e.t.Helper()
	if !errors.Is(err, target) {
		e.t.Fatalf("%s: error %v, want one wrapping %v", what, err, target)
	}
}
