package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// mountReadyTimeout bounds how long a child may take to mount. Mounting
// itself takes milliseconds; the slack is for a loaded 2-core machine.
const mountReadyTimeout = 20 * time.Second

// childMount is one `couchfs mount` child process. Only the test goroutine
// that started it calls its methods.
type childMount struct {
	t       testing.TB
	mnt     string
	logPath string
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

// startMount runs `couchfs mount --data-dir dataDir [args] mnt` and returns
// once mnt is a FUSE mount. The child's output is appended to logPath, which
// is printed when the test fails. A cleanup kills the child and detaches
// the mount if the test did not.
func startMount(t testing.TB, bin, dataDir, mnt, logPath string, args ...string) *childMount {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	logStart, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== %s mount %s\n", time.Now().Format(time.TimeOnly), mnt)

	ctx, cancel := context.WithTimeout(context.Background(), testBudget(t))
	argv := append([]string{"mount", "--data-dir", dataDir}, args...)
	argv = append(argv, mnt)
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	c := &childMount{t: t, mnt: mnt, logPath: logPath, cmd: cmd, cancel: cancel, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start couchfs: %v", err)
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		if c.running() {
			c.crash()
		}
		cancel()
		if err := lazyUnmount(context.Background(), mnt); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if t.Failed() {
			logTail(t, logPath, logStart)
		}
	})
	err = waitFor(mountReadyTimeout, "mount at "+mnt, func() (bool, error) {
		if !c.running() {
			return false, fmt.Errorf("couchfs exited before mounting: %v", c.waitErr)
		}
		return isFUSEMount(mnt)
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *childMount) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// crashGrace is how long a SIGKILLed couchfs may take to exit before it
// counts as wedged. Exiting takes milliseconds.
const crashGrace = time.Second

// crash sends SIGKILL and waits for the process to die. The dead mount
// stays attached (every access fails with ENOTCONN) until detach.
//
// A killed FUSE server can wedge: when SIGKILL lands while one of its
// threads is inside a kernel notification (go-fuse's NotifyEntry takes the
// parent directory's inode lock) and an application holds that lock while
// waiting for the server's reply (unlink, create), the thread can never
// finish, the process never exits, its /dev/fuse descriptor is never
// closed, and the kernel never aborts the connection: every client stays
// blocked. Only aborting the connection through fusectl frees it, which is
// what an operator has to do (docs/reliability.md); crash does the same and
// reports that it had to.
func (c *childMount) crash() (wedged bool) {
	c.t.Helper()
	dev, err := mountDevice(c.mnt)
	if err != nil || dev == "" {
		c.t.Fatalf("device of the mount at %s: %q, %v", c.mnt, dev, err)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Fatalf("SIGKILL couchfs: %v", err)
	}
	select {
	case <-c.done:
		c.cancel()
		return false
	case <-time.After(crashGrace):
	}
	if err := abortFUSE(dev); err != nil {
		c.t.Fatalf("couchfs did not exit within %v of SIGKILL and its connection cannot be aborted: %v", crashGrace, err)
	}
	c.wait(10 * time.Second)
	return true
}

// detach lazily unmounts the dead mount, as an operator recovering from a
// crash would. Callers first stop every goroutine using the mount, so none
// of them can fall through to the empty directory underneath.
func (c *childMount) detach() {
	c.t.Helper()
	if err := lazyUnmount(context.Background(), c.mnt); err != nil {
		c.t.Fatalf("detach dead mount: %v", err)
	}
}

// stop sends SIGTERM and requires a clean exit (status 0) with the mount
// gone: the documented way to unmount a foreground couchfs.
func (c *childMount) stop() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("SIGTERM couchfs: %v", err)
	}
	c.wait(30 * time.Second)
	if c.waitErr != nil {
		c.t.Fatalf("couchfs exited with %v after SIGTERM; want status 0", c.waitErr)
	}
	if mounted, err := isFUSEMount(c.mnt); err != nil || mounted {
		c.t.Fatalf("%s still mounted after couchfs exited (err %v)", c.mnt, err)
	}
}

func (c *childMount) wait(timeout time.Duration) {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		c.t.Fatalf("couchfs did not exit within %v", timeout)
	}
	c.cancel()
}

// testBudget is how long a child process may live: until shortly before the
// test's deadline, so a wedged child is killed while the test can still
// report it.
func testBudget(t testing.TB) time.Duration {
	if tt, ok := t.(*testing.T); ok {
		if d, ok := tt.Deadline(); ok {
			if left := time.Until(d) - 10*time.Second; left > 0 {
				return left
			}
			return time.Second
		}
	}
	return 5 * time.Minute
}

// logTail logs what one child wrote to the shared log file from offset
// start on (its last 8 KiB).
func logTail(t testing.TB, path string, start int64) {
	data, err := os.ReadFile(path)
	if err != nil || start > int64(len(data)) {
		return
	}
	data = data[start:]
	const max = 8 << 10
	if len(data) > max {
		data = data[len(data)-max:]
	}
	t.Logf("couchfs log (%s, from byte %d, tail):\n%s", path, start, data)
}
