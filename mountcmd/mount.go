package mountcmd

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

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
			"\"transport endpoint is not connected\"; --recover unmounts it lazily first.",
		Flags: []cli.Flag{
			dataDirFlag(),
			engineFlag("store databases created without an extension (mkdir MOUNTPOINT/db) with engine `NAME`: couch or pebble"),
			boolFlag("read-only", "refuse every write (EROFS)"),
			boolFlag("allow-other", "let other users use the mount (needs user_allow_other in /etc/fuse.conf unless root)"),
			boolFlag("debug", "also log every save and every FUSE request"),
			boolFlag("daemon", "run in the background, logging to DIR/couchfs.log; return once the mount is ready"),
			boolFlag("recover", "lazily unmount a stale mount left at MOUNTPOINT by a crash, then mount"),
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
	if err := checkMountpoint(mp, c.Bool("recover")); err != nil {
		return err
	}
	srv, dir, closeAll, err := openServer(c, c.String("engine"), c.Bool("read-only"))
	if err != nil {
		return err
	}
	h, err := couchfs.Mount(mp, srv, couchfs.Options{
		ReadOnly:   c.Bool("read-only"),
		AllowOther: c.Bool("allow-other"),
		Debug:      c.Bool("debug"),
		Logger:     log,
		DataDir:    dir,
	})
	if err != nil {
		if cerr := closeAll(); cerr != nil {
			log.Error("closing databases", "err", cerr)
		}
		return err
	}
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
	if err := closeAll(); err != nil {
		return fmt.Errorf("closing databases: %w", err)
	}
	log.Info("databases closed; exiting")
	return nil
}

// checkMountpoint verifies MOUNTPOINT is a usable directory. A stale mount
// (its server died: ENOTCONN) is unmounted lazily with recover, else
// reported with the way out.
func checkMountpoint(mp string, recover bool) error {
	st, err := os.Stat(mp)
	if errors.Is(err, syscall.ENOTCONN) {
		if !recover {
			return fmt.Errorf("%s is a stale mount (transport endpoint is not connected): "+
				"a previous couchfs exited without unmounting it. Run again with --recover "+
				"to unmount it lazily and mount, or run `umount -l %s` yourself", mp, mp)
		}
		if err := couchfs.LazyUnmount(mp); err != nil {
			return fmt.Errorf("--recover: %w", err)
		}
		st, err = os.Stat(mp)
	}
	if err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("mountpoint %s is not a directory", mp)
	}
	return nil
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
			"the last file is closed.",
		Flags: []cli.Flag{
			boolFlag("lazy", "detach now even if files are open (umount -l)"),
		},
		Action: func(c *cli.Context) error {
			mp, err := oneArg(c, "MOUNTPOINT")
			if err != nil {
				return err
			}
			if c.Bool("lazy") {
				return couchfs.LazyUnmount(mp)
			}
			return unmount(mp)
		},
	}
}
