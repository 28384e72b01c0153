package fs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/engines/couchfile"
	"github.com/couchfs/couchfs/engines/memengine"
	pebbleengine "github.com/couchfs/couchfs/engines/pebble"
	couchfs "github.com/couchfs/couchfs/fs"
)

// cmdTimeout bounds every external program a test runs.
const cmdTimeout = 30 * time.Second

// requireFUSE skips the test without /dev/fuse, or fails it when
// COUCHFS_REQUIRE_FUSE=1 (CI), so a broken runner cannot pass by skipping.
func requireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("COUCHFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("COUCHFS_REQUIRE_FUSE=1 but /dev/fuse is unusable: %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
}

// env is one mounted file system over its own data directory.
type env struct {
	t    testing.TB
	data string
	mnt  string
	srv  *dbcore.Server
	h    *couchfs.Handle
	log  *syncBuffer
	done func() // unmounts and closes the server, once

	engines []engines.Engine // the server's engine table; testEngines() if nil
}

// testEngines is the engine table of the tests: both on-disk engines (the
// default, couch, and pebble) and the in-memory one.
func testEngines() []engines.Engine {
	return []engines.Engine{couchfile.New(couchfile.Options{}), pebbleengine.New(pebbleengine.Options{}), memengine.New()}
}

// newServer opens a dbcore server over dir.
func newServer(t testing.TB, dir string, log *slog.Logger) *dbcore.Server {
	t.Helper()
	srv, err := dbcore.NewServer(dbcore.Options{Dir: dir, Engines: testEngines(), DefaultEngine: "couch", Logger: log})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	return srv
}

// mountT mounts a fresh data directory and unmounts it when the test ends.
func mountT(t testing.TB, opts couchfs.Options) *env {
	t.Helper()
	requireFUSE(t)
	e := &env{t: t, data: t.TempDir(), log: &syncBuffer{}}
	e.mount(opts)
	return e
}

// mount (re)mounts e.data at a new mount point.
func (e *env) mount(opts couchfs.Options) {
	t := e.t
	t.Helper()
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if e.engines != nil {
		srv, err := dbcore.NewServer(dbcore.Options{Dir: e.data, Engines: e.engines, DefaultEngine: "couch", Logger: logger})
		if err != nil {
			t.Fatalf("NewServer: %v", err)
		}
		e.srv = srv
	} else {
		e.srv = newServer(t, e.data, logger)
	}
	e.mnt = t.TempDir()
	opts.Logger = logger
	opts.DataDir = e.data
	h, err := couchfs.Mount(e.mnt, e.srv, opts)
	if err != nil {
		e.srv.Close()
		t.Fatalf("Mount: %v", err)
	}
	e.h = h
	srv, mnt := e.srv, e.mnt
	var once sync.Once
	e.done = func() {
		once.Do(func() {
			if err := h.Unmount(); err != nil {
				t.Errorf("Unmount: %v", err)
				_ = couchfs.LazyUnmount(mnt)
			}
			if err := srv.Close(); err != nil {
				t.Errorf("server Close: %v", err)
			}
		})
	}
	t.Cleanup(e.done)
}

// unmount unmounts and closes the server now.
func (e *env) unmount() {
	e.t.Helper()
	e.done()
}

// p joins a path inside the mount.
func (e *env) p(parts ...string) string { return filepath.Join(append([]string{e.mnt}, parts...)...) }

// db opens a database directly through dbcore.
func (e *env) db(name string) *dbcore.DB {
	e.t.Helper()
	db, err := e.srv.OpenDB(name)
	if err != nil {
		e.t.Fatalf("OpenDB %s: %v", name, err)
	}
	e.t.Cleanup(db.Close)
	return db
}

// mkdb creates a database through the mount.
func (e *env) mkdb(name string) {
	e.t.Helper()
	if err := os.Mkdir(e.p(name), 0o755); err != nil {
		e.t.Fatalf("mkdir %s: %v", name, err)
	}
}

// get reads a document directly; it fails the test if it is missing.
func (e *env) get(db, id string) *dbcore.Doc {
	e.t.Helper()
	doc, err := e.db(db).Get(id)
	if err != nil {
		e.t.Fatalf("Get %s/%s: %v", db, id, err)
	}
	return doc
}

// body decodes a document's body into a map.
func body(t testing.TB, doc *dbcore.Doc) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc.Body, &m); err != nil {
		t.Fatalf("body of %s: %v", doc.ID, err)
	}
	return m
}

// revPos is N of revision "N-hex".
func revPos(t testing.TB, rev string) int {
	t.Helper()
	n := 0
	for _, c := range rev {
		if c == '-' {
			return n
		}
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	t.Fatalf("malformed rev %q", rev)
	return 0
}

// result is what a program run produced.
type result struct {
	stdout, stderr string
	err            error
}

// run runs a program with the test's timeout, with its working directory
// outside the mount (a cwd inside it would make the kernel ask the mount).
func run(t testing.TB, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "LC_ALL=C", "HOME="+os.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v", name, strings.Join(args, " "), cmdTimeout)
	}
	return result{stdout.String(), stderr.String(), err}
}

// must runs a program that has to succeed and returns its stdout.
func must(t testing.TB, name string, args ...string) string {
	t.Helper()
	r := run(t, name, args...)
	if r.err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// sh runs a shell script that has to succeed.
func sh(t testing.TB, script string) string {
	t.Helper()
	return must(t, "sh", "-c", script)
}

// need skips the test when a program is missing, or fails it under
// COUCHFS_REQUIRE_FUSE=1 (CI installs every program the tests use).
func need(t testing.TB, prog string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		if os.Getenv("COUCHFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("%s is not installed (scripts/install-test-deps.sh installs it)", prog)
		}
		t.Skipf("%s is not installed", prog)
	}
}

// writeFile writes data to path with one open/write/close and returns the
// error of whichever step failed (close is where a save reports).
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// errnoOf extracts the errno of a failed file operation.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// readDirNames lists a directory through the mount.
func readDirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir %s: %v", dir, err)
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names
}

// syncBuffer is a log sink the mount's goroutines may write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// load saves documents from through to-1 into db through dbcore, in
// batches of 1000: doc(i) is document i.
func load(t testing.TB, db *dbcore.DB, from, to int, doc func(i int) *dbcore.Doc) {
	t.Helper()
	for start := from; start < to; start += 1000 {
		docs := make([]*dbcore.Doc, 0, 1000)
		for i := start; i < min(start+1000, to); i++ {
			docs = append(docs, doc(i))
		}
		res, err := db.UpdateDocs(docs, dbcore.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("%s: %v", r.ID, r.Err)
			}
		}
	}
}
