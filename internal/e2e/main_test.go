package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// couchfsBin is the couchfs binary TestMain built for this test binary, or
// "" with buildErr saying why not.
var (
	couchfsBin string
	buildErr   error
)

// TestMain builds the couchfs binary once per test binary, so every child
// process test shares one build. It builds only when FUSE is usable: without
// it every test that would run the binary skips (or fails under
// COUCHFS_REQUIRE_FUSE=1) before asking for it.
func TestMain(m *testing.M) {
	code := func() int {
		if fuseAvailable() == nil {
			dir, err := os.MkdirTemp("", "couchfs-e2e-bin-")
			if err != nil {
				buildErr = err
			} else {
				defer os.RemoveAll(dir)
				couchfsBin, buildErr = buildCouchfs(dir)
			}
		}
		code := m.Run()
		if mountedFusectl.Load() {
			if err := syscall.Unmount(fusectlDir, 0); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: unmounting the fusectl this test mounted: %v\n", err)
			}
		}
		return code
	}()
	os.Exit(code)
}

func buildCouchfs(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(dir, "couchfs")
	// Cold caches on a 2-core CI machine compile pebble and go-fuse; the
	// test binary itself already needed most of them, so this is generous.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/couchfs/couchfs")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build couchfs: %w\n%s", err, out)
	}
	return bin, nil
}

// needBinary returns the built couchfs binary after requireFUSE.
func needBinary(t testing.TB) string {
	t.Helper()
	requireFUSE(t)
	if buildErr != nil {
		t.Fatalf("couchfs binary unavailable: %v", buildErr)
	}
	if couchfsBin == "" {
		t.Fatal("couchfs binary was not built although FUSE is usable")
	}
	return couchfsBin
}
