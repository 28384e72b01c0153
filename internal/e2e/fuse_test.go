package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cmdTimeout bounds every external command a test runs, so a hung umount or
// a wedged mount fails the test with a message instead of eating the CI
// budget.
const cmdTimeout = 30 * time.Second

// requireFUSE skips the test when /dev/fuse is missing, or fails it when
// COUCHFS_REQUIRE_FUSE=1 (CI), so a runner without FUSE can never turn the
// whole reliability suite into silent skips.
func requireFUSE(t testing.TB) {
	t.Helper()
	if err := fuseAvailable(); err != nil {
		if os.Getenv("COUCHFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("COUCHFS_REQUIRE_FUSE=1 but FUSE is unusable: %v", err)
		}
		t.Skipf("FUSE is unusable: %v", err)
	}
}

func fuseAvailable() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// run runs an external command with cmdTimeout and returns its combined
// output, wrapping a failure with that output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// mountType returns the file system type mounted exactly at dir according to
// /proc/self/mountinfo ("" if nothing is). For several stacked mounts it
// returns the topmost.
func mountType(dir string) (string, error) {
	dir = filepath.Clean(dir)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	typ := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		for i := 5; i < len(fields)-1; i++ {
			if fields[i] == "-" {
				typ = fields[i+1]
				break
			}
		}
	}
	return typ, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space…) the kernel
// uses in /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountDevice returns the device number ("major:minor") of the file
// system mounted exactly at dir, "" if nothing is (the topmost of stacked
// mounts).
func mountDevice(dir string) (string, error) {
	dir = filepath.Clean(dir)
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	dev := ""
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 5 && unescapeMountinfo(fields[4]) == dir {
			dev = fields[2]
		}
	}
	return dev, nil
}

// fusectlDir is where the kernel's fusectl file system exposes one
// directory per FUSE connection, named by the mount's device number.
const fusectlDir = "/sys/fs/fuse/connections"

// mountedFusectl records that abortFUSE mounted fusectl, so that TestMain
// unmounts it again.
var mountedFusectl atomic.Bool

// abortFUSE aborts the FUSE connection of device dev ("0:N"), as
// `echo 1 > /sys/fs/fuse/connections/N/abort` does: every request waiting
// on it fails at once with ECONNABORTED. It is the only way to free a
// killed server one of whose threads is stuck in the kernel (see
// childMount.crash). fusectl is mounted first if it is not (root only).
//
// It runs no external command: this process may hold descriptors on the
// wedged mount, and a child inherits them; when exec closes the child's
// copies the kernel sends FLUSH for each, which waits on the wedged server
// forever, and so would the fork.
func abortFUSE(dev string) error {
	major, minor, ok := strings.Cut(dev, ":")
	if !ok || major != "0" {
		return fmt.Errorf("abort FUSE connection: unexpected device %q", dev)
	}
	conn := filepath.Join(fusectlDir, minor)
	if _, err := os.Stat(conn); errors.Is(err, os.ErrNotExist) {
		if typ, _ := mountType(fusectlDir); typ != "fusectl" {
			if err := syscall.Mount("fusectl", fusectlDir, "fusectl", 0, ""); err != nil {
				return fmt.Errorf("abort FUSE connection %s: fusectl is not mounted and cannot be: %w", dev, err)
			}
			mountedFusectl.Store(true)
		}
	}
	if err := os.WriteFile(filepath.Join(conn, "abort"), []byte("1"), 0); err != nil {
		return fmt.Errorf("abort FUSE connection %s: %w", dev, err)
	}
	return nil
}

func isFUSEMount(dir string) (bool, error) {
	typ, err := mountType(dir)
	return strings.HasPrefix(typ, "fuse"), err
}

// lazyUnmount detaches whatever is mounted at dir, also when its daemon is
// dead ("transport endpoint is not connected"). It tries umount2(MNT_DETACH)
// (root; no child process, see abortFUSE), then umount -l and fusermount3
// -u -z, and succeeds when nothing is mounted there afterwards.
func lazyUnmount(ctx context.Context, dir string) error {
	var errs []error
	if typ, err := mountType(dir); err == nil && typ != "" {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("umount2 %s: %w", dir, err))
		}
	}
	for _, c := range [][]string{{"umount", "-l", dir}, {"fusermount3", "-u", "-z", dir}, {"fusermount", "-u", "-z", dir}} {
		typ, err := mountType(dir)
		if err != nil {
			return err
		}
		if typ == "" {
			return nil
		}
		if _, err := exec.LookPath(c[0]); err != nil {
			continue
		}
		if _, err := run(ctx, c[0], c[1:]...); err != nil {
			errs = append(errs, err)
		}
	}
	typ, err := mountType(dir)
	if err != nil {
		return err
	}
	if typ != "" {
		return fmt.Errorf("%s still mounted (%s): %w", dir, typ, errors.Join(errs...))
	}
	return nil
}

// waitFor polls cond every few milliseconds until it reports true, returns
// an error, or timeout passes.
func waitFor(timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: timed out after %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
