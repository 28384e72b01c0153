package mountcmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	couchfs "github.com/couchfs/couchfs/fs"
)

// Recovering a mount whose couchfs died or hangs.
//
// When couchfs exits, the kernel closes its /dev/fuse descriptor and aborts
// the FUSE connection: every access to the mount point then fails with
// ENOTCONN until it is detached (umount -l). But a killed couchfs can also
// hang without exiting: a thread stuck in the kernel keeps the descriptor
// open, so the connection stays up and every program using the mount waits
// forever for an answer; umount -l does not free them. The only way out is
// to abort the connection through the fusectl file system: writing 1 to
// /sys/fs/fuse/connections/<N>/abort, N being the minor number of the
// mount's device, fails every request in flight and lets the stuck process
// finish exiting.

// fusectlDir is where the fusectl file system lists FUSE connections.
const fusectlDir = "/sys/fs/fuse/connections"

// probeTimeout is how long a mount may take to answer a lookup before it
// counts as hung.
const probeTimeout = 2 * time.Second

// mountState is what a probe found at a mount point.
type mountState int

const (
	notMounted mountState = iota // no file system is mounted there
	answering                    // a mounted file system answered
	dead                         // a FUSE mount whose server is gone (ENOTCONN)
	hung                         // a FUSE mount whose server does not answer
)

func (s mountState) String() string {
	return [...]string{"not mounted", "answering", "dead", "hung"}[s]
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	dev    string // major:minor of the mounted device
	fstype string
}

// isFUSE reports whether the entry is a FUSE mount (fuse, fuse.<name>).
func (e mountEntry) isFUSE() bool { return e.fstype == "fuse" || strings.HasPrefix(e.fstype, "fuse.") }

// findMount returns the topmost mount at exactly dir (an absolute, clean
// path). It reads /proc/self/mountinfo and never touches dir itself, which
// would wait forever on a hung mount.
func findMount(dir string) (mountEntry, bool, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return mountEntry{}, false, fmt.Errorf("read mount table: %w", err)
	}
	var found mountEntry
	ok := false
	for _, line := range strings.Split(string(data), "\n") {
		// id parent major:minor root mountpoint options [optional…] - fstype source super
		fields := strings.Fields(line)
		if len(fields) < 7 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		for i := 6; i < len(fields)-1; i++ {
			if fields[i] == "-" {
				found, ok = mountEntry{dev: fields[2], fstype: fields[i+1]}, true
				break
			}
		}
	}
	return found, ok, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for a space, …) of
// /proc/self/mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// probeMount finds out whether the file system mounted at dir answers. It
// looks up a name no database can have, which the kernel never caches, so
// the lookup reaches the server; a lookup still waiting after probeTimeout
// means the server hangs (the goroutine doing it is released when the
// connection is aborted, or at exit).
func probeMount(dir string) (mountState, mountEntry, error) {
	ent, ok, err := findMount(dir)
	if err != nil || !ok {
		return notMounted, ent, err
	}
	if !ent.isFUSE() {
		return answering, ent, nil
	}
	done := make(chan error, 1)
	go func() {
		_, err := os.Lstat(filepath.Join(dir, ".couchfs-probe"))
		done <- err
	}()
	select {
	case err := <-done:
		if errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED) {
			return dead, ent, nil
		}
		return answering, ent, nil
	case <-time.After(probeTimeout):
		return hung, ent, nil
	}
}

// abortConnection aborts the FUSE connection of the mount whose device is
// dev ("0:N"), mounting fusectl for the purpose if it is not mounted (and
// unmounting it again). Writing the abort file needs to be root or the
// user who made the mount.
func abortConnection(dev string) error {
	major, minor, ok := strings.Cut(dev, ":")
	if !ok || major != "0" {
		return fmt.Errorf("abort FUSE connection: unexpected device %q of a FUSE mount", dev)
	}
	conn := filepath.Join(fusectlDir, minor)
	if _, err := os.Stat(conn); errors.Is(err, fs.ErrNotExist) {
		ent, mounted, err := findMount(fusectlDir)
		if err != nil {
			return err
		}
		if mounted && ent.fstype == "fusectl" {
			return fmt.Errorf("abort FUSE connection: %s does not exist (the connection is already gone)", conn)
		}
		if err := syscall.Mount("fusectl", fusectlDir, "fusectl", 0, ""); err != nil {
			return fmt.Errorf("abort FUSE connection: fusectl is not mounted on %s and cannot be (%w); as root run: mount -t fusectl none %s; echo 1 > %s/abort",
				fusectlDir, err, fusectlDir, conn)
		}
		defer func() {
			// Leave the system as found; a failure here only leaves fusectl
			// mounted, which is harmless.
			_ = syscall.Unmount(fusectlDir, 0)
		}()
	}
	if err := os.WriteFile(filepath.Join(conn, "abort"), []byte("1"), 0); err != nil {
		return fmt.Errorf("abort FUSE connection %s: %w (it needs root or the user who mounted it)", conn, err)
	}
	return nil
}

// recoverMount frees the mount point dir of the FUSE mount ent that a
// probe found dead or hung: it aborts the connection (which releases every
// program waiting on the mount and lets a stuck couchfs finish exiting),
// then detaches the mount lazily.
func recoverMount(dir string, state mountState, ent mountEntry) error {
	if err := abortConnection(ent.dev); err != nil && state == hung {
		return err
	}
	// (A dead server's connection is aborted already: detaching is all
	// that is left to do, so an abort failure does not matter then.)
	if err := couchfs.LazyUnmount(dir); err != nil {
		return err
	}
	if _, still, err := findMount(dir); err != nil || still {
		return fmt.Errorf("%s is still mounted after aborting its connection and detaching it (%v)", dir, err)
	}
	return nil
}
