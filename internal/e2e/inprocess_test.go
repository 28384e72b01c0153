package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
	"github.com/couchfs/couchfs/fs"
)

// inProcessMount is a couchfs mount served by this test process: faster to
// set up than the binary and lets the load test measure the serving
// process's own file descriptors, goroutines and heap.
type inProcessMount struct {
	dataDir, mnt string
	srv          *dbcore.Server
	stopOnce     sync.Once
	stopErr      error
	stopFn       func() error
}

// stop unmounts (lazily if the kernel still holds the mount) and closes
// the server; later calls return the first call's result. The test
// goroutine calls it, or the cleanup does.
func (m *inProcessMount) stop() error {
	m.stopOnce.Do(func() { m.stopErr = m.stopFn() })
	return m.stopErr
}

// mountInProcess serves a fresh data directory with the shipped engines
// (default couch) at a fresh mountpoint until the test ends.
func mountInProcess(t *testing.T) *inProcessMount {
	t.Helper()
	return mountEngines(t, testEngines())
}

// mountEngines serves a fresh data directory with the given engine table
// (default couch) at a fresh mountpoint until the test ends. Cleanup
// unmounts (lazily if the kernel still holds the mount) and closes the
// server.
func mountEngines(t *testing.T, engs []engines.Engine) *inProcessMount {
	t.Helper()
	requireFUSE(t)
	dataDir, mnt := t.TempDir(), t.TempDir()
	srv, err := dbcore.NewServer(dbcore.Options{
		Dir:           dataDir,
		Engines:       engs,
		DefaultEngine: "couch",
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := fs.Mount(mnt, srv, fs.Options{})
	if err != nil {
		srv.Close()
		t.Fatalf("mount: %v", err)
	}
	im := &inProcessMount{dataDir: dataDir, mnt: mnt, srv: srv}
	im.stopFn = func() error {
		var errs []error
		if err := m.Unmount(); err != nil {
			errs = append(errs, fmt.Errorf("unmount: %w", err))
		}
		if err := lazyUnmount(context.Background(), mnt); err != nil {
			errs = append(errs, err)
		}
		if err := srv.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close server: %w", err))
		}
		return errors.Join(errs...)
	}
	t.Cleanup(func() {
		if err := im.stop(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return im
}
