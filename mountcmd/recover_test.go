package mountcmd

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waiter is a program blocked on a mount whose couchfs does not answer.
type waiter struct {
	cmd  *exec.Cmd
	done chan error
}

// startWaiter runs stat on a name under dir (the kernel has to ask couchfs
// about it) and checks that it blocks.
func startWaiter(t *testing.T, dir string) *waiter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	t.Cleanup(cancel)
	w := &waiter{cmd: exec.CommandContext(ctx, "stat", dir+"/db/missing.json"), done: make(chan error, 1)}
	w.cmd.Dir = os.TempDir()
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	select {
	case err := <-w.done:
		t.Fatalf("stat on a hung mount returned at once: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	return w
}

// released waits for the waiter to be released, with an error.
func (w *waiter) released(t *testing.T) {
	t.Helper()
	select {
	case err := <-w.done:
		if err == nil {
			t.Error("stat on an aborted mount succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the program waiting on the hung mount was not released")
	}
}

// TestRecoverHungMount: a couchfs that no longer answers — stopped here with
// SIGSTOP, as a couchfs killed while stuck in the kernel stays — leaves
// every program using the mount waiting, and unmount cannot free it.
// unmount --force aborts its FUSE connection, which releases them, and
// detaches it; mount --recover does the same and mounts again, without
// losing anything saved.
func TestRecoverHungMount(t *testing.T) {
	requireFUSE(t)
	// Someone else (a test, the admin) may have fusectl mounted already;
	// only a mount this test's commands made must be gone at the end.
	_, fusectlBefore, _ := findMount(fusectlDir)
	bin := couchfsBinary(t)
	data, mnt := t.TempDir(), t.TempDir()
	s := startMount(t, bin, data, mnt)
	sh(t, "mkdir "+mnt+"/db && echo '{\"a\":1}' > "+mnt+"/db/doc.json")

	// unmount --force.
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	w := startWaiter(t, mnt)
	if r := run(t, bin, "unmount", mnt); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("unmount of a hung mount: exit %d, %q; want 1 and a hint at --force", r.code, r.stderr)
	}
	r := run(t, bin, "unmount", "--force", mnt)
	if r.err != nil || !strings.Contains(r.stdout, "did not answer") {
		t.Fatalf("unmount --force: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	w.released(t)
	if isMounted(t, mnt) {
		t.Fatal("still mounted after unmount --force")
	}
	s.cmd.Process.Kill()
	s.wait(t)

	// mount --recover.
	s = startMount(t, bin, data, mnt)
	if out := sh(t, "cat "+mnt+"/db/doc.json"); !strings.Contains(out, `"a": 1`) {
		t.Fatalf("after unmount --force and mount: %s", out)
	}
	sh(t, "echo '{\"a\":2}' > "+mnt+"/db/doc.json")
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	w = startWaiter(t, mnt)
	r = run(t, bin, "mount", "--data-dir", data, mnt)
	if r.code != 1 || !strings.Contains(r.stderr, "does not answer") || !strings.Contains(r.stderr, "--recover") {
		t.Fatalf("mount over a hung mount: exit %d, %q; want 1, naming --recover", r.code, r.stderr)
	}
	// The stopped couchfs holds the data directory until it exits, which
	// a couchfs stuck in the kernel does once its connection is aborted.
	old := s
	go func() {
		<-w.done
		old.cmd.Process.Kill()
	}()
	s = startMount(t, bin, data, mnt, "--recover")
	if !s.logged("recovering the mount left by a previous couchfs") {
		t.Errorf("--recover did not say what it did:\n%s", s.stderr)
	}
	old.wait(t)
	if out := sh(t, "cat "+mnt+"/db/doc.json"); !strings.Contains(out, `"a": 2`) {
		t.Fatalf("after --recover: %s", out)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, s.stderr)
	}

	// A couchfs that died (SIGKILL): plain unmount detaches it.
	s = startMount(t, bin, data, mnt)
	s.cmd.Process.Kill()
	s.wait(t)
	if r := run(t, bin, "unmount", mnt); r.err != nil {
		t.Fatalf("unmount of a dead mount: %v %s", r.err, r.stderr)
	}
	if isMounted(t, mnt) {
		t.Fatal("dead mount still mounted after unmount")
	}
	if _, mounted, _ := findMount(fusectlDir); mounted && !fusectlBefore {
		t.Error("fusectl left mounted")
	}
}
