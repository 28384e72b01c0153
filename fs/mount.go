package fs

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/couchfs/couchfs/dbcore"
)

// Options configures a mount. The zero value is a read-write mount visible
// to the mounting user only, with 1 s kernel caches.
type Options struct {
	// ReadOnly mounts with the kernel's "ro" option: every write fails with
	// EROFS.
	ReadOnly bool
	// AllowOther lets other users use the mount (FUSE allow_other; needs
	// user_allow_other in /etc/fuse.conf unless root). The kernel then checks
	// permissions itself (default_permissions), because every user acts with
	// the mount's access to the data.
	AllowOther bool
	// Debug logs every FUSE request and reply at debug level.
	Debug bool
	// Logger receives commits, rejected saves and diagnostics. Default
	// slog.Default().
	Logger *slog.Logger
	// EntryTimeout and AttrTimeout are how long the kernel may trust a
	// name lookup or a file's attributes without asking again; 0 means 1 s.
	// Changes made through any path are pushed to the kernel as they
	// commit, so these only bound staleness when a notification is lost.
	EntryTimeout time.Duration
	AttrTimeout  time.Duration
	// MaxFileSize bounds a document file being written; a write() past it
	// fails with EFBIG. 0 means 8 MiB, CouchDB's max_document_size.
	MaxFileSize int
	// DataDir, if set, is the directory whose file system statfs(2)
	// reports (free space for df and editors).
	DataDir string
	// SoleWriter promises that every change to srv's databases is made
	// through this mount, as under couchfs mount, whose server is the only
	// one the data directory's lock admits and serves nothing else. The
	// mount then does not read the databases' changes feeds to find changes
	// made elsewhere: with frequent saves that reading costs about a tenth
	// of the mount's CPU, all of it on changes the mount made itself. Leave
	// it false when anything else writes to srv (a program using dbcore,
	// replication): the kernel would see its changes only when its caches
	// time out (EntryTimeout, AttrTimeout).
	SoleWriter bool
	// MaxDocNodes bounds the documents whose names the kernel may keep
	// cached, and so this mount's memory for them (see nodeBudget); past
	// it the least recently looked up are dropped from the kernel's cache.
	// 0 means 32,768 (about 26 MB).
	MaxDocNodes int
}

// Handle is a live mount. Its methods may be called from any goroutine.
type Handle struct {
	mountpoint string
	server     *fuse.Server
	raw        *countingFS
	m          *mount
	done       chan struct{}
}

// Mount mounts srv's databases at mountpoint (an existing directory) and
// serves them until the file system is unmounted, by Handle.Unmount or from
// outside (umount, fusermount3 -u). It returns once the kernel has the
// mount. As root it mounts directly with mount(2); otherwise it uses
// fusermount3. The caller keeps ownership of srv and closes it after Wait
// returns.
func Mount(mountpoint string, srv *dbcore.Server, opts Options) (*Handle, error) {
	abs, err := filepath.Abs(mountpoint)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.EntryTimeout <= 0 {
		opts.EntryTimeout = time.Second
	}
	if opts.AttrTimeout <= 0 {
		opts.AttrTimeout = time.Second
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = 8 << 20
	}
	m := newMount(srv, opts)
	root := &rootNode{node: node{m: m}}

	entry, attr := opts.EntryTimeout, opts.AttrTimeout
	fo := &gofs.Options{
		EntryTimeout: &entry,
		AttrTimeout:  &attr,
		UID:          m.uid,
		GID:          m.gid,
		Logger:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	mo := &fo.MountOptions
	mo.FsName = "couchfs"
	mo.Name = "couchfs"
	mo.AllowOther = opts.AllowOther
	mo.DirectMount = os.Geteuid() == 0
	mo.Debug = opts.Debug
	mo.Logger = log.New(slogWriter{opts.Logger}, "", 0)
	// Saves are whole documents: bigger writes mean fewer round trips.
	// Stay one page under 1 MiB (go-fuse's splice pipe limit).
	mo.MaxWrite = 1<<20 - 4096
	// ATOMIC_O_TRUNC folds `> file`'s truncate into OPEN (one request
	// fewer per save); READDIRPLUS_AUTO lets plain `ls` skip per-entry
	// attributes while `ls -l` still gets them in bulk.
	mo.ExtraCapabilities = fuse.CAP_ATOMIC_O_TRUNC | fuse.CAP_READDIRPLUS_AUTO
	// The file system decides when cached pages are stale (a new
	// revision), and says so; the kernel's own guess from a changed mtime
	// would throw away the pages Open just stored.
	mo.ExplicitDataCacheControl = true
	if opts.ReadOnly {
		mo.Options = append(mo.Options, "ro")
	}
	if opts.AllowOther {
		mo.Options = append(mo.Options, "default_permissions")
	}

	raw := &countingFS{RawFileSystem: gofs.NewNodeFS(root, fo)}
	server, err := fuse.NewServer(raw, abs, mo)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", abs, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		_ = server.Unmount()
		return nil, fmt.Errorf("mount %s: %w", abs, err)
	}
	// Teach the kernel now that there are no extended attributes (the
	// answer is ENOSYS, after which it never asks again), rather than on
	// the first write or truncate, where it would cost an application a
	// round trip.
	_, _ = unix.Getxattr(abs, "security.capability", nil)
	h := &Handle{mountpoint: abs, server: server, raw: raw, m: m, done: make(chan struct{})}
	m.inv.start(root)
	go func() {
		server.Wait()
		m.inv.stop()
		close(h.done)
	}()
	opts.Logger.Info("mounted", "mountpoint", abs, "read_only", opts.ReadOnly)
	return h, nil
}

// Mountpoint returns the absolute path the file system is mounted at.
func (h *Handle) Mountpoint() string { return h.mountpoint }

// Stats returns how many FUSE requests of each opcode the mount has served
// so far (a request is counted as it arrives).
func (h *Handle) Stats() Stats { return h.raw.stats() }

// Timings returns, per opcode, how many requests the mount has served so far
// and how long its handlers took: where a request's time goes inside the
// file system, next to the round trip the kernel sees.
func (h *Handle) Timings() Timings { return h.raw.timings() }

// Wait blocks until the file system is unmounted (by Unmount or from
// outside) and every request in flight has been answered, so every save
// that reported success is durable.
func (h *Handle) Wait() { <-h.done }

// unmountGrace bounds how long Unmount waits for applications that still
// hold files open after a lazy unmount.
const unmountGrace = 5 * time.Second

// Unmount saves every draft still open for writing (as close would; a
// failure is logged and the bytes parked in .rejected/), unmounts, and
// waits for requests in flight. If applications still hold files open it
// detaches the mount lazily and waits a few seconds for them.
func (h *Handle) Unmount() error {
	select {
	case <-h.done:
		return nil
	default:
	}
	h.m.commitOpenDrafts()
	err := h.server.Unmount()
	if err == nil {
		<-h.done
		return nil
	}
	h.m.log.Warn("unmount busy; detaching lazily", "mountpoint", h.mountpoint, "err", err)
	if lerr := LazyUnmount(h.mountpoint); lerr != nil {
		return fmt.Errorf("unmount %s: %w", h.mountpoint, errors.Join(err, lerr))
	}
	select {
	case <-h.done:
		return nil
	case <-time.After(unmountGrace):
		return fmt.Errorf("unmount %s: detached, but files are still open after %v", h.mountpoint, unmountGrace)
	}
}

// LazyUnmount detaches the file system at mountpoint now and lets the
// kernel finish it when the last open file closes (umount -l). It also
// clears a stale mount whose server died ("transport endpoint is not
// connected"). Root uses umount2(MNT_DETACH); other users fusermount3 -u -z.
func LazyUnmount(mountpoint string) error {
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(mountpoint, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("umount -l %s: %w", mountpoint, err)
		}
		return nil
	}
	out, err := exec.Command("fusermount3", "-u", "-z", mountpoint).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 -u -z %s: %w: %s", mountpoint, err, out)
	}
	return nil
}

// slogWriter turns go-fuse's debug log lines into slog debug records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	n := len(p)
	for n > 0 && p[n-1] == '\n' {
		n--
	}
	w.l.Debug("fuse", "msg", string(p[:n]))
	return len(p), nil
}
