package mountcmd

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// readyFDEnv names the environment variable through which a --daemon
// parent tells its child which descriptor to report readiness on.
const readyFDEnv = "COUCHFS_READY_FD"

// readyTimeout bounds how long the parent waits for the child's mount.
const readyTimeout = 60 * time.Second

func isDaemonChild() bool { return os.Getenv(readyFDEnv) != "" }

// daemonize re-executes couchfs without --daemon in a new session, its
// stderr appended to DIR/couchfs.log, and returns once the child reports
// that the mount is ready (or that it failed) through a pipe.
func daemonize(c *cli.Context, mp string) error {
	dir, err := dataDir(c)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--daemon: %w", err)
	}
	logPath := filepath.Join(dir, "couchfs.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("--daemon: %w", err)
	}
	defer logFile.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("--daemon: %w", err)
	}
	defer r.Close()
	args := make([]string, 0, len(os.Args))
	for _, a := range os.Args[1:] {
		if a != "--daemon" && a != "-daemon" {
			args = append(args, a)
		}
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("--daemon: %w", err)
	}
	w.Close()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		if s == "ready" {
			pid := cmd.Process.Pid // Release sets it to -1
			_ = cmd.Process.Release()
			fmt.Fprintf(c.App.Writer, "couchfs: mounted %s (pid %d, log %s)\n", mp, pid, logPath)
			return nil
		}
		_ = cmd.Wait()
		return fmt.Errorf("mount failed; see %s", logPath)
	case <-time.After(readyTimeout):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("mount not ready after %v; see %s", readyTimeout, logPath)
	}
}

// signalReady tells a --daemon parent that the mount is ready.
func signalReady() {
	v := os.Getenv(readyFDEnv)
	if v == "" {
		return
	}
	os.Unsetenv(readyFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "ready")
	fmt.Fprintln(f, "ready")
	f.Close()
}
