package mountcmd

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/couchfs/couchfs/dbcore"
	couchfs "github.com/couchfs/couchfs/fs"
)

func mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "mount the databases of a data directory at MOUNTPOINT",
		ArgsUsage: "MOUNTPOINT",
		Description: "Mounts every database of the data directory at MOUNTPOINT, an existing\n" +
			"directory, and serves it in the foreground, logging to stderr, until it is\n" +
			"unmounted (umount MOUNTPOINT, couchfs unmount MOUNTPOINT) or the process gets\n" +
			"SIGINT or SIGTERM. Before exiting it finishes pending saves and closes every\n" +
			"database; then it exits 0.\n\n" +
			"mkdir MOUNTPOINT/NAME creates a database with the default engine,\n" +
			"mkdir MOUNTPOINT/NAME.pebble one on Pebble. As root the mount is made with\n" +
			"mount(2); other users need fusermount3 (package fuse3).\n\n" +
			"If a previous couchfs died without unmounting, MOUNTPOINT reports\n" +
			"\"transport endpoint is not connected\"; if it was killed while stuck in the\n" +
			"kernel, the mount does not answer at all and every program using it waits.\n" +
			"--recover handles both: it aborts the dead mount's FUSE connection (through\n" +
			"/sys/fs/fuse/connections, which releases the waiting programs), detaches\n" +
			"it, and mounts again. couchfs unmount --force does the same without mounting.",
		Flags: []cli.Flag{
			dataDirFlag(),
			engineFlag("store databases created without an extension (mkdir MOUNTPOINT/db) with engine `NAME`: couch or pebble"),
			boolFlag("read-only", "refuse every write (EROFS)"),
			boolFlag("allow-other", "let other users use the mount (needs user_allow_other in /etc/fuse.conf unless root)"),
			boolFlag("debug", "also log every save and every FUSE request"),
			boolFlag("daemon", "run in the background, logging to DIR/couchfs.log; return once the mount is ready"),
			boolFlag("recover", "abort and detach a dead or hung mount left at MOUNTPOINT by a crash, then mount"),
		},
		Action: mountAction,
	}
}

func mountAction(c *cli.Context) error {
	mp, err := oneArg(c, "MOUNTPOINT")
	if err != nil {
		return err
	}
	if c.Bool("daemon") && !isDaemonChild() {
		return daemonize(c, mp)
	}
	log := logger(c)
	recovered, err := checkMountpoint(log, mp, c.Bool("recover"))
	if err != nil {
		return err
	}
	srv, dir, closeAll, err := openServer(c, c.String("engine"), c.Bool("read-only"))
	for deadline := time.Now().Add(lockWait); recovered && errors.Is(err, dbcore.ErrLocked) && time.Now().Before(deadline); {
		// The couchfs whose connection was just aborted is still exiting
		// and holds the data directory until it has.
		time.Sleep(50 * time.Millisecond)
		srv, dir, closeAll, err = openServer(c, c.String("engine"), c.Bool("read-only"))
	}
	if err != nil {
		return err
	}
	h, err := couchfs.Mount(mp, srv, couchfs.Options{
		ReadOnly:   c.Bool("read-only"),
		AllowOther: c.Bool("allow-other"),
		Debug:      c.Bool("debug"),
		Logger:     log,
		DataDir:    dir,
		// The server is this process's alone (the data directory is
		// locked) and only the mount writes to it.
		SoleWriter: true,
	})
	if err != nil {
		if cerr := closeAll(); cerr != nil {
			log.Error("closing databases", "err", cerr)
		}
		return err
	}
	// After Mount, which sized go-fuse's readers by the default.
	couchfs.SetServeProcs()
	log.Info("serving", "data_dir", dir, "mountpoint", h.Mountpoint(), "pid", os.Getpid())
	signalReady()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	unmounted := make(chan struct{})
	go func() {
		h.Wait()
		close(unmounted)
	}()
	select {
	case <-unmounted:
		log.Info("unmounted", "mountpoint", h.Mountpoint())
	case s := <-sigs:
		log.Info("signal: unmounting", "signal", s.String(), "mountpoint", h.Mountpoint())
		if err := h.Unmount(); err != nil {
			log.Error("unmount", "err", err)
		}
	}
	// Where the requests' time went inside the file system, per opcode:
	// the first figures to look at when the mount is slow.
	log.Info("requests served", "handlers", h.Timings().String())
	if err := closeAll(); err != nil {
		return fmt.Errorf("closing databases: %w", err)
	}
	log.Info("databases closed; exiting")
	return nil
}

// lockWait bounds how long a recovering mount waits for the couchfs it
// recovered from to exit and release the data directory.
const lockWait = 10 * time.Second

// checkMountpoint verifies MOUNTPOINT is a usable directory. A FUSE mount
// left there by a couchfs that died (ENOTCONN) or hangs is recovered with
// recover (recovered is then true), else reported with the way out. It
// never stats a mount before knowing it answers: that would wait forever
// on a hung one.
func checkMountpoint(log *slog.Logger, mp string, recover bool) (recovered bool, err error) {
	abs, err := filepath.Abs(mp)
	if err != nil {
		return false, fmt.Errorf("mountpoint: %w", err)
	}
	state, ent, err := probeMount(abs)
	if err != nil {
		return false, fmt.Errorf("mountpoint: %w", err)
	}
	switch {
	case state == dead && !recover:
		return false, fmt.Errorf("%s is a stale mount (transport endpoint is not connected): "+
			"a previous couchfs exited without unmounting it. Run again with --recover "+
			"to detach it and mount, or run `couchfs unmount --force %s` first", mp, mp)
	case state == hung && !recover:
		return false, fmt.Errorf("%s does not answer: the couchfs serving it hangs or was killed while "+
			"stuck in the kernel, and programs using the mount wait for it. Run again with --recover "+
			"to abort its FUSE connection, detach it and mount, or run `couchfs unmount --force %s` first", mp, mp)
	case state == dead || state == hung:
		log.Warn("recovering the mount left by a previous couchfs", "mountpoint", abs, "state", state.String(), "device", ent.dev)
		if err := recoverMount(abs, state, ent); err != nil {
			return false, fmt.Errorf("--recover: %w", err)
		}
		recovered = true
	}
	st, err := os.Stat(mp)
	if err != nil {
		return recovered, fmt.Errorf("mountpoint: %w", err)
	}
	if !st.IsDir() {
		return recovered, fmt.Errorf("mountpoint %s is not a directory", mp)
	}
	return recovered, nil
}

func unmountCommand() *cli.Command {
	return &cli.Command{
		Name:      "unmount",
		Usage:     "unmount a couchfs mount",
		ArgsUsage: "MOUNTPOINT",
		Description: "Unmounts MOUNTPOINT, like umount MOUNTPOINT (or fusermount3 -u for other\n" +
			"users than root). The couchfs process serving it then finishes pending\n" +
			"saves, closes every database and exits. If files are still open the\n" +
			"unmount fails with \"busy\"; --lazy detaches it now and lets it finish when\n" +
			"the last file is closed.\n\n" +
			"If the couchfs serving MOUNTPOINT died or hangs (programs using the mount\n" +
			"wait forever, and umount -l does not release them), --force aborts the\n" +
			"mount's FUSE connection through /sys/fs/fuse/connections, which fails\n" +
			"every request in flight, then detaches it. Saves in flight may or may not\n" +
			"have been stored; nothing acknowledged is lost.",
		Flags: []cli.Flag{
			boolFlag("lazy", "detach now even if files are open (umount -l)"),
			boolFlag("force", "abort the FUSE connection of a dead or hung couchfs, then detach"),
		},
		Action: func(c *cli.Context) error {
			mp, err := oneArg(c, "MOUNTPOINT")
			if err != nil {
				return err
			}
			switch {
			case c.Bool("force"):
				return forceUnmount(c, mp)
			case c.Bool("lazy"):
				return couchfs.LazyUnmount(mp)
			}
			return unmount(mp)
		},
	}
}
