package mountcmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cmdTimeout bounds every program a test runs; buildTimeout the one go
// build of the binary (a cold build cache is slow on a 2-core machine).
const (
	cmdTimeout   = 30 * time.Second
	buildTimeout = 5 * time.Minute
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// couchfsBinary builds the couchfs command once per test binary run.
func couchfsBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "couchfs-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "couchfs")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", binPath, "github.com/couchfs/couchfs").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out) + err.Error())
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// requireFUSE skips without /dev/fuse unless COUCHFS_REQUIRE_FUSE=1.
func requireFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("COUCHFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("COUCHFS_REQUIRE_FUSE=1 but /dev/fuse is unusable: %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
}

// result of a program run.
type result struct {
	stdout, stderr string
	code           int
	err            error
}

// run runs a program with the test timeout, cwd outside any mount.
func run(t *testing.T, name string, args ...string) result {
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
		t.Fatalf("%s %s: timed out", name, strings.Join(args, " "))
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code, err}
}

func sh(t *testing.T, script string) string {
	t.Helper()
	r := run(t, "sh", "-c", script)
	if r.err != nil {
		t.Fatalf("sh -c %q: %v\n%s%s", script, r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// isMounted reports whether mp is a mount point (per /proc/self/mountinfo).
func isMounted(t *testing.T, mp string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && fields[4] == mp {
			return true
		}
	}
	return false
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// server is a `couchfs mount` child process.
type server struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	log    *lockedBuffer
	done   chan struct{}
	err    error
}

// startMount runs `couchfs mount --data-dir data mnt` and waits until mounted.
func startMount(t *testing.T, bin, data, mnt string, extra ...string) *server {
	t.Helper()
	args := append([]string{"mount", "--data-dir", data}, extra...)
	args = append(args, mnt)
	s := &server{cmd: exec.Command(bin, args...), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	s.log = &lockedBuffer{b: s.stderr}
	s.cmd.Stderr = s.log
	s.cmd.Dir = os.TempDir()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
		if isMounted(t, mnt) {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	// "serving" is logged once the kernel has the mount: isMounted alone
	// would also accept a stale mount this command is about to replace.
	deadline := time.Now().Add(10 * time.Second)
	for !isMounted(t, mnt) || !s.logged("msg=serving") {
		select {
		case <-s.done:
			t.Fatalf("couchfs mount exited: %v\n%s", s.err, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not mounted after 10 s\n%s", s.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// logged reports whether the server's stderr holds text so far.
func (s *server) logged(text string) bool {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return strings.Contains(s.stderr.String(), text)
}

// wait waits for the server to exit and returns its exit code.
func (s *server) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(cmdTimeout):
		t.Fatalf("couchfs mount did not exit\n%s", s.stderr)
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	if s.err != nil {
		t.Fatalf("wait: %v", s.err)
	}
	return 0
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestTourBinary runs design.md §1 against the built binary.
func TestTourBinary(t *testing.T) {
	requireFUSE(t)
	bin := couchfsBinary(t)
	data, mnt := t.TempDir(), t.TempDir()
	s := startMount(t, bin, data, mnt)
	albums := mnt + "/albums"
	sh(t, "mkdir "+albums)
	sh(t, `echo '{"title":"Blue","year":1971}' > `+albums+`/blue.json`)
	if out := sh(t, "cat "+albums+"/blue.json"); !strings.Contains(out, `"_id": "blue"`) || !strings.Contains(out, `"_rev": "1-`) {
		t.Errorf("cat = %s", out)
	}
	if out := sh(t, "ls "+albums+"/_changes"); !strings.Contains(out, "-blue.json") {
		t.Errorf("ls _changes = %q", out)
	}
	if _, err := exec.LookPath("vim"); err == nil {
		if r := run(t, "vim", "-es", "-u", "NONE", "-i", "NONE", "-c", "%s/Blue/Red/", "-c", "wq", albums+"/blue.json"); r.err != nil {
			t.Fatalf("vim: %v %s", r.err, r.stderr)
		}
		if out := sh(t, "cat "+albums+"/blue.json"); !strings.Contains(out, `"_rev": "2-`) || !strings.Contains(out, "Red") {
			t.Errorf("after vim: %s", out)
		}
	} else if os.Getenv("COUCHFS_REQUIRE_FUSE") == "1" {
		t.Fatal("vim is not installed")
	}
	sh(t, "rm "+albums+"/blue.json")
	if out := sh(t, "ls "+albums); strings.Contains(out, "blue") {
		t.Errorf("ls after rm = %q", out)
	}
	if r := run(t, "umount", mnt); r.err != nil {
		t.Fatalf("umount: %v %s", r.err, r.stderr)
	}
	if code := s.wait(t); code != 0 {
		t.Fatalf("couchfs mount exited %d\n%s", code, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), "databases closed") {
		t.Errorf("no close message in the log:\n%s", s.stderr)
	}
	r := run(t, bin, "list-dbs", "--long", "--data-dir", data)
	if r.err != nil || r.stdout != "albums\tcouch\n" {
		t.Errorf("list-dbs = %q, %v %s", r.stdout, r.err, r.stderr)
	}
}

// TestSignalsAndRecover: SIGTERM unmounts and exits 0 with the data saved;
// after a crash the stale mount point is reported, and --recover mounts
// over it.
func TestSignalsAndRecover(t *testing.T) {
	requireFUSE(t)
	bin := couchfsBinary(t)
	data, mnt := t.TempDir(), t.TempDir()

	s := startMount(t, bin, data, mnt)
	sh(t, "mkdir "+mnt+"/db && echo '{\"a\":1}' > "+mnt+"/db/doc.json")
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, s.stderr)
	}
	if isMounted(t, mnt) {
		t.Fatal("still mounted after SIGTERM")
	}

	s = startMount(t, bin, data, mnt)
	if out := sh(t, "cat "+mnt+"/db/doc.json"); !strings.Contains(out, `"a": 1`) {
		t.Fatalf("after remount: %s", out)
	}
	s.cmd.Process.Kill()
	s.wait(t)
	if _, err := os.Stat(mnt); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("after a crash stat = %v, want ENOTCONN", err)
	}
	r := run(t, bin, "mount", "--data-dir", data, mnt)
	if r.code != 1 || !strings.Contains(r.stderr, "--recover") {
		t.Fatalf("mount over a stale mount: exit %d, %q", r.code, r.stderr)
	}
	s = startMount(t, bin, data, mnt, "--recover")
	if out := sh(t, "cat "+mnt+"/db/doc.json"); !strings.Contains(out, `"a": 1`) {
		t.Fatalf("after --recover: %s", out)
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGINT\n%s", code, s.stderr)
	}

	// The other mount flags, together.
	s = startMount(t, bin, data, mnt, "--read-only", "--allow-other", "--debug", "--engine", "pebble")
	if out := sh(t, "cat "+mnt+"/db/doc.json"); !strings.Contains(out, `"a": 1`) {
		t.Fatalf("read-only mount: %s", out)
	}
	if r := run(t, "sh", "-c", "echo '{}' > "+mnt+"/db/doc.json"); r.err == nil || !strings.Contains(r.stderr, "Read-only") {
		t.Errorf("write on a read-only mount: %v %q", r.err, r.stderr)
	}
	if r := run(t, "mkdir", mnt+"/new"); r.err == nil {
		t.Error("mkdir on a read-only mount succeeded")
	}
	if r := run(t, "umount", mnt); r.err != nil {
		t.Fatalf("umount: %v %s", r.err, r.stderr)
	}
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d after umount\n%s", code, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), "level=DEBUG") || !strings.Contains(s.stderr.String(), "OPEN") {
		t.Errorf("--debug logged no FUSE requests:\n%s", s.stderr)
	}
}

// TestDaemonAndCommands: --daemon returns once mounted; unmount stops it;
// create-db, list-dbs and version work on a data directory.
func TestDaemonAndCommands(t *testing.T) {
	requireFUSE(t)
	bin := couchfsBinary(t)
	data, mnt := t.TempDir(), t.TempDir()
	if r := run(t, bin, "create-db", "--data-dir", data, "--engine", "pebble", "photos"); r.err != nil {
		t.Fatalf("create-db: %v %s", r.err, r.stderr)
	}
	if r := run(t, bin, "create-db", "--data-dir", data, "photos"); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("create-db of an existing name: exit %d %q", r.code, r.stderr)
	}
	for _, name := range []string{"Photos", "9lives", "a.b", "_users"} {
		if r := run(t, bin, "create-db", "--data-dir", data, name); r.code != 1 || !strings.Contains(r.stderr, "invalid database name") {
			t.Errorf("create-db %s: exit %d %q", name, r.code, r.stderr)
		}
	}
	if r := run(t, bin, "version"); r.err != nil || !strings.HasPrefix(r.stdout, "couchfs ") || !strings.Contains(r.stdout, "engines: couch (default), pebble") {
		t.Errorf("version = %q %v", r.stdout, r.err)
	}
	r := run(t, bin, "mount", "--daemon", "--data-dir", data, mnt)
	t.Cleanup(func() {
		if isMounted(t, mnt) {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	if r.err != nil {
		t.Fatalf("mount --daemon: %v %s", r.err, r.stderr)
	}
	if !isMounted(t, mnt) {
		t.Fatal("--daemon returned before the mount was ready")
	}
	if out := sh(t, "ls "+mnt); strings.TrimSpace(out) != "photos" {
		t.Errorf("ls = %q", out)
	}
	sh(t, "echo '{}' > "+mnt+"/photos/p1.json")
	if r := run(t, bin, "list-dbs", "--data-dir", data); r.code != 1 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("list-dbs while mounted: exit %d %q", r.code, r.stderr)
	}
	if r := run(t, bin, "unmount", mnt); r.err != nil {
		t.Fatalf("unmount: %v %s", r.err, r.stderr)
	}
	// The daemon closes the data directory's lock when it exits.
	waitFor(t, "the daemon to release the data directory", func() bool {
		return run(t, bin, "list-dbs", "--data-dir", data).err == nil
	})
	if r := run(t, bin, "list-dbs", "-l", "--data-dir", data); r.stdout != "photos\tpebble\n" {
		t.Errorf("list-dbs = %q %s", r.stdout, r.stderr)
	}
	log, _ := os.ReadFile(filepath.Join(data, "couchfs.log"))
	if !strings.Contains(string(log), "databases closed") {
		t.Errorf("daemon log:\n%s", log)
	}
}
